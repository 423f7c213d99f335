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

The training rows are measured twice: with glibc's default allocator settings, then after
:func:`mmlib.train.memory.retain_freed_memory` (what ``train_dilran`` does on the CPU; it cannot
be undone, so it comes second), each with the page faults per step. A second table splits the
bf16 training step into its parts (:func:`training_breakdown`) at the training size and at half
of it, with the per-pixel cost ratio of each part (1.00: the larger images cost exactly their
pixel count more), again under both allocator settings.

The pair is AANLIB CT-MRI ``2007`` when the data root has ``harvard-aanlib``, else a
256 x 256 fusion phantom. The model is untrained (seed 3407): speed does not depend on
the weights, only the SVD's convergence does slightly.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mmlib.config import data_root
from mmlib.data.aanlib import load_aanlib_pairs
from mmlib.data.phantoms.image_fusion import image_fusion_phantoms
from mmlib.errors import DataError
from mmlib.papers.dilran.paper import AUTHORS_COLUMNS
from mmlib.papers.dilran.image_metrics import fusion_metric_suite
from mmlib.papers.dilran.model import DILRAN
from mmlib.papers.dilran.fusion_rules import get_rule
from mmlib.papers.dilran.training import DilranLoss, bf16_inference_copy, sobel_gradients
from mmlib.train.memory import retain_freed_memory

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


def training_setup(size: int, seed: int):
    """DILRAN, DilranLoss (Eq. 2, VGG16-BN perceptual net without weights), Adam lr 1e-4 and a batch of
    4 random images, channels-last as :func:`mmlib.papers.dilran.training.train_dilran` runs them."""
    torch.manual_seed(seed)
    model = DILRAN().to(memory_format=torch.channels_last).train()
    loss = DilranLoss().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = torch.rand(4, 1, size, size).contiguous(memory_format=torch.channels_last)
    return model, loss, optimizer, batch


def minor_faults() -> int:
    """Minor page faults of this process so far (pages the kernel mapped in on first touch)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def training_rate(precision: str, size: int, steps: int, seed: int) -> tuple[float, int]:
    """Images per second of one training step (loss + backward + Adam, batch 4) and its page faults
    per step, the faults counted over the timed steps."""
    model, loss, optimizer, batch = training_setup(size, seed)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            value = loss(model(batch), batch)
        value.backward()
        optimizer.step()

    step()
    faults = minor_faults()
    ms = median_ms(step, steps)
    return 4 / (ms / 1000), (minor_faults() - faults) // (steps + 1)


def timed_parts(step, steps: int) -> dict[str, float]:
    """Median ms of each part of ``step(lap)`` over ``steps`` calls after a warm-up; ``step`` calls
    ``lap(name)`` at the end of each part."""
    laps: dict[str, list[float]] = {}
    for i in range(steps + 1):
        last = time.perf_counter()

        def lap(name):
            nonlocal last
            now = time.perf_counter()
            if i > 0:
                laps.setdefault(name, []).append(1000 * (now - last))
            last = now

        step(lap)
    return {name: statistics.median(times) for name, times in laps.items()}


def training_breakdown(size: int, steps: int, seed: int) -> dict[str, float]:
    """Median ms per bf16 training step (batch 4) of each part: DILRAN forward, the perceptual net's
    forward on the reconstruction and on the target, the rest of the loss, the backward through the
    perceptual net (input gradient only: it is frozen), through the pixel and gradient terms and
    through DILRAN, and Adam. The reconstruction is cut from the graph so that the loss's backward
    parts can be timed apart; the gradient reaching DILRAN is the same sum. Checks that the parts add
    up to the loss ``DilranLoss`` computes."""
    model, loss, optimizer, batch = training_setup(size, seed)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)

    def step(lap):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            recon = model(batch)
            lap("DILRAN forward")
            leaf = recon.detach().requires_grad_()
            recon_features = loss.perceptual(leaf)
            lap("VGG16-BN forward, reconstruction")
            target_features = loss.perceptual(batch)
            lap("VGG16-BN forward, target")
            perceptual = loss.lambda_perceptual * sum(map(F.mse_loss, recon_features, target_features))
            rest = F.mse_loss(leaf, batch) + loss.lambda_gradient * F.mse_loss(
                sobel_gradients(leaf), sobel_gradients(batch))
            lap("feature MSEs, pixel and gradient terms")
        (to_recon,) = torch.autograd.grad(perceptual, leaf)
        lap("backward through VGG16-BN")
        to_recon = to_recon + torch.autograd.grad(rest, leaf)[0]
        lap("backward of pixel and gradient terms")
        recon.backward(to_recon)
        lap("DILRAN backward")
        optimizer.step()
        lap("Adam step")
        with torch.no_grad(), autocast:
            expected = loss(leaf, batch)
        torch.testing.assert_close(perceptual + rest, expected, rtol=1e-3, atol=0)

    return timed_parts(step, steps)


def breakdown_rows(sizes: tuple[int, int], steps: int, seed: int) -> list[tuple[str, str, str, str]]:
    """Rows of the breakdown table: each part's ms per step at both sizes and its per-pixel cost ratio."""
    large, small = (training_breakdown(size, steps, seed) for size in sizes)
    pixels = (sizes[0] / sizes[1]) ** 2
    rows = [(name, f"{large[name]:.0f}", f"{small[name]:.0f}", f"{large[name] / (pixels * small[name]):.2f}")
            for name in large]
    total_large, total_small = sum(large.values()), sum(small.values())
    rows.append(("whole step", f"{total_large:.0f}", f"{total_small:.0f}", f"{total_large / (pixels * total_small):.2f}"))
    return rows


def training_gflop(size: int, seed: int) -> float:
    """FLOPs (GFLOP) per image of one training step: the forward and backward convolutions of DILRAN
    and the perceptual net (``FlopCounterMode``)."""
    model, loss, _, batch = training_setup(size, seed)
    with FlopCounterMode(display=False) as counter:
        loss(model(batch), batch).backward()
    return counter.get_total_flops() / 1e9 / len(batch)


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
    step_gflop = training_gflop(train_size, args.seed)
    sizes = (train_size, train_size // 2)
    breakdowns = {}
    for allocator in ("default malloc", "freed memory kept"):
        if allocator == "freed memory kept" and not retain_freed_memory():
            break
        for precision, size in (("fp32", train_size), ("bf16", train_size), ("bf16", train_size // 2)):
            ips, faults = training_rate(precision, size, train_steps, args.seed)
            note = f"{allocator}; {faults} page faults a step"
            if size == train_size:
                note += f"; {step_gflop:.0f} GFLOP/img -> {step_gflop * ips:.0f} GFLOP/s"
            rows.append((f"training, batch 4 of {size}x{size}, {precision}", f"{ips:8.2f} img/s", note))
        breakdowns[allocator] = breakdown_rows(sizes, train_steps, args.seed)
    for name, rate in rates.items():
        rows.append((f"dense matmul {mm_n}x{mm_n}, {name}", f"{rate:8.0f} GFLOP/s", "this machine, this run"))

    width = max(len(r[0]) for r in rows)
    print(f"pair: {source}; model: DILRAN (code variant, untrained, seed {args.seed}); {runs} timed runs each")
    print(f"{'measurement':<{width}}  {'median':>16}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    for allocator, table in breakdowns.items():
        print(f"\nbf16 training step, batch 4, {allocator}: median ms per step of each part "
              f"({train_steps} steps); per-pixel ratio = ms at {sizes[0]} / ({(sizes[0] // sizes[1]) ** 2} x ms at {sizes[1]})")
        part_width = max(len(r[0]) for r in table)
        print(f"{'part':<{part_width}}  {sizes[0]:>6}  {sizes[1]:>6}  per-pixel ratio")
        for name, large, small, ratio in table:
            print(f"{name:<{part_width}}  {large:>6}  {small:>6}  {ratio:>6}")
    print(f"load average at end {os.getloadavg()} (2-core machine: above 2 means other processes took CPU time)")


if __name__ == "__main__":
    main()
