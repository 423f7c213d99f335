"""DILRAN speed on the CPU: fusion latency, training throughput, metric-suite time, achieved GFLOP/s.

Usage::

    MMLIB_DATA=../shared/data .venv/bin/python benchmarks/dilran_speed.py [--quick] [--runs N]

Prints one table (issue 4, "Speed"): the fusion of one 256 x 256 CT-MRI pair with the
default SFNN rule (phi = max, Eq. 1) in fp32 and with the whole network in bf16 (channels-last),
each the median of ``--runs`` timed runs after one warm-up, with the largest difference
of its output from a plain fp32 evaluation (``model.fuse`` under ``torch.no_grad``); the
training rate (DilranLoss of Eq. 2 + Adam, batch 4); the time of the full fusion metric
suite per pair; and the model's FLOPs (``torch.utils.flop_counter.FlopCounterMode``, the
convolutions; the SVDs are not counted) divided by the measured times, beside this
machine's dense fp32 and bf16 matmul rate measured in the same run. The targets: a fused
pair in 170 ms or less (5x the authors' ~860 ms fp32, NOTES.md) and the metric suite under
200 ms. The machine is often shared, so the load average is printed before and after.

The pair is AANLIB CT-MRI ``2007`` when the data root has ``harvard-aanlib``, else a
256 x 256 fusion phantom. The model is untrained (seed 3407): speed does not depend on
the weights, only the SVD's convergence does slightly.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmlib.config import data_root
from mmlib.data.aanlib import load_aanlib_pairs
from mmlib.data.phantoms.image_fusion import image_fusion_phantoms
from mmlib.errors import DataError
from mmlib.papers.dilran.paper import AUTHORS_COLUMNS
from mmlib.papers.dilran.image_metrics import fusion_metric_suite
from mmlib.papers.dilran.model import DILRAN
from mmlib.papers.dilran.fusion_rules import get_rule
from mmlib.papers.dilran.training import DilranLoss, bf16_inference_copy

#: Largest allowed |fast - plain fp32| of the unclamped fused image, relative to max |plain fp32|.
TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_ms(fn, runs: int) -> float:
    """Median wall time of ``fn()`` in ms over ``runs`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def matmul_gflops(dtype: torch.dtype, n: int, runs: int) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / median_ms(lambda: a @ b, runs) / 1e6


def benchmark_pair() -> tuple[str, np.ndarray, np.ndarray]:
    try:
        root = data_root() / "harvard-aanlib"
        pairs = {p.name: p for p in load_aanlib_pairs(root, "CT-MRI", verify=False)}
        images = pairs["2007"].load()
        return "AANLIB CT-MRI pair 2007", images["CT"], images["MRI"]
    except (DataError, KeyError):
        cohort = image_fusion_phantoms(n_series=1, slices_per_series=1, size=256, seed=0)
        return "fusion phantom (no harvard-aanlib in the data root)", cohort.images["ct"][0], cohort.images["mri"][0]


def prepared(model: DILRAN, x: torch.Tensor, precision: str) -> tuple[DILRAN, torch.Tensor]:
    """The model and input as the fast path runs them: channels-last, and all-bf16 for ``"bf16"``
    (:func:`mmlib.papers.dilran.training.bf16_inference_copy`, what ``fuse_pair(precision="bf16")`` uses)."""
    if precision == "bf16":
        return bf16_inference_copy(model), x.to(torch.bfloat16, memory_format=torch.channels_last)
    return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)


def fusion_runner(model: DILRAN, ct: torch.Tensor, mr: torch.Tensor, precision: str, rule: str | None = None):
    """A callable fusing the pair the fast way (see :func:`prepared`), in inference mode."""
    fast, pair = prepared(model, torch.cat([ct, mr]), precision)
    a, b = pair.chunk(2)

    def run():
        with torch.inference_mode():
            return fast.fuse(a, b, rule).float()

    return run


def stage_times(model: DILRAN, x: torch.Tensor, precision: str, runs: int) -> dict[str, float]:
    """Median ms of encode (both images), SFNN rule, decode, under ``precision``."""
    fast, x = prepared(model, x, precision)
    rule = get_rule(fast.default_rule)
    with torch.inference_mode():
        feats = fast.encode(x)
        f1, f2 = feats.chunk(2)
        fused = rule(f1, f2)
        return {
            "encode": median_ms(lambda: fast.encode(x), runs),
            "rule": median_ms(lambda: rule(f1, f2), runs),
            "decode": median_ms(lambda: fast.decode(fused), runs),
        }


def training_rate(precision: str, size: int, steps: int, seed: int) -> float:
    """Images per second of DilranLoss (Eq. 2, VGG16-BN perceptual net without weights) + Adam, batch 4,
    channels-last as :func:`mmlib.papers.dilran.training.train_dilran` runs it."""
    torch.manual_seed(seed)
    model = DILRAN().to(memory_format=torch.channels_last)
    loss = DilranLoss().to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = torch.rand(4, 1, size, size).contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            value = loss(model(batch), batch)
        value.backward()
        optimizer.step()

    return 4 / (median_ms(step, steps) / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few repeats, small matmul and training images")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per measurement (default 7, quick 2)")
    parser.add_argument("--seed", type=int, default=3407)
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 7)
    train_size, train_steps, mm_n = (64, 1, 1024) if args.quick else (256, 3, 2048)

    print(f"torch {torch.__version__} | CPU: {cpu_name()} | {os.cpu_count()} logical CPUs | "
          f"{torch.get_num_threads()} torch threads | load average at start {os.getloadavg()}")
    rates = {name: matmul_gflops(dt, mm_n, runs) for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}

    source, ct_np, mr_np = benchmark_pair()
    torch.manual_seed(args.seed)
    model = DILRAN().eval()
    ct, mr = torch.from_numpy(ct_np)[None, None], torch.from_numpy(mr_np)[None, None]
    with torch.no_grad():
        reference = model.fuse(ct, mr)  # the plain fp32 evaluation
    scale = float(reference.abs().max())
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            model.fuse(ct, mr)
    gflop = counter.get_total_flops() / 1e9

    rows = []
    for precision in ("fp32", "bf16"):
        run = fusion_runner(model, ct, mr, precision)
        diff = float((run() - reference).abs().max()) / scale
        ms = median_ms(run, runs)
        stages = stage_times(model, torch.cat([ct, mr]).contiguous(memory_format=torch.channels_last), precision, runs)
        conv_ms = stages["encode"] + stages["decode"]
        rows.append((f"fuse one 256x256 pair, {precision}", f"{ms:8.0f} ms",
                     f"rel. max |diff| {diff:.1e} (tol {TOLERANCE[precision]:.0e}) "
                     f"{'OK' if diff <= TOLERANCE[precision] else 'FAIL'}; target <= 170 ms"))
        rows.append((f"  encode / SFNN rule / decode, {precision}",
                     f"{stages['encode']:.0f} / {stages['rule']:.0f} / {stages['decode']:.0f} ms",
                     f"convs {gflop:.1f} GFLOP -> {gflop / conv_ms * 1000:.0f} GFLOP/s vs matmul {rates[precision]:.0f}"))
    avg_ms = median_ms(fusion_runner(model, ct, mr, "bf16", rule="avg"), runs)
    rows.append(("fuse one pair, bf16, feature average (no SVD)", f"{avg_ms:8.0f} ms",
                 "the network alone: what SFNN's 128 SVDs add on top is the rule time above"))
    fused = np.clip(fusion_runner(model, ct, mr, "fp32")()[0, 0].numpy(), 0, 1)
    metric_ms = median_ms(lambda: fusion_metric_suite(fused, ct_np, mr_np), runs)
    rows.append(("fusion metric suite (all 11 variants), per pair", f"{metric_ms:8.0f} ms", "target < 200 ms"))
    six = tuple(AUTHORS_COLUMNS.values())
    six_ms = median_ms(lambda: fusion_metric_suite(fused, ct_np, mr_np, variants=six), runs)
    rows.append(("  the paper's six metrics (authors' variants)", f"{six_ms:8.0f} ms", f"{', '.join(six)}"))
    for precision, size in (("fp32", train_size), ("bf16", train_size), ("bf16", train_size // 2)):
        ips = training_rate(precision, size, train_steps, args.seed)
        rows.append((f"training, batch 4 of {size}x{size}, {precision}", f"{ips:8.2f} img/s",
                     "Eq. 2 loss + Adam step, channels-last"))
    for name, rate in rates.items():
        rows.append((f"dense matmul {mm_n}x{mm_n}, {name}", f"{rate:8.0f} GFLOP/s", "this machine, this run"))

    width = max(len(r[0]) for r in rows)
    print(f"pair: {source}; model: DILRAN (code variant, untrained, seed {args.seed}); {runs} timed runs each")
    print(f"{'measurement':<{width}}  {'median':>16}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    print(f"load average at end {os.getloadavg()} (2-core machine: above 2 means other processes took CPU time)")


if __name__ == "__main__":
    main()
