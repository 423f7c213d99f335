"""Speed and memory of RMC, DA_RMC and the guidance model on this machine's CPU (issue 3, section 5).

Usage::

    .venv/bin/python benchmarks/guidance_speed.py           # full run (about 5 minutes on 2 idle cores)
    .venv/bin/python benchmarks/guidance_speed.py --quick   # smoke run (about a minute)

What it prints, for RMC, DA_RMC and the guidance model (paper Sec. III, Fig. 2):

* **Training volumes per second** at the CPU default of the reference runs
  (batches of 4 phantoms of 32 x 40 x 32, width 0.25) and at a mid size (one
  64 x 96 x 96 volume, width 0.25 and 1): one forward + backward + Adam step (lr 1e-5, weight decay
  1e-3, weighted cross-entropy), in fp32 and with bf16 autocast. RMC and DA_RMC
  train everything (stage 1 of Algorithm 1 for DA_RMC); the guidance model runs a
  stage-2 step (Algorithm 1 lines 11-22: primary frozen, L_total of Eq. 6).
* **Forward volumes per second** at the paper's size (1 x 1 x 150 x 240 x 240,
  width 1), forward only: a training step there is out of reach of a CPU.
* **Peak memory**: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of a fresh
  subprocess per configuration (tracemalloc does not see torch's allocations).
  It includes the Python + torch baseline, printed as well.
* **Achieved GFLOP/s**: FLOPs of one step counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device (shapes
  only, no compute), times volumes per second. This is compared with the dense
  ``torch.mm`` rate (fp32 and bf16, 2048 x 2048) measured at the start and end of
  the same run.
* **Dual attention memory** at the paper's size: the per-slice (``"hw"``)
  position maps the models use, measured inside the DA_RMC forward, and the
  estimate for the whole-volume ``"dhw"`` form, unchunked and chunked.

Other processes may share the CPU, so the load average (``os.getloadavg``) is
printed with the results. Timing never lives in tests (CONTRIBUTING.md).
"""

from __future__ import annotations

import os
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import DARMC, RMC
from mmlib.papers.guidance.training import guidance_losses, make_optimizer, prepare_stage2
from mmlib.train.classification import weighted_cross_entropy
from machine_rates import (GIB, add_share_of_matmul, closing_line, load_average, matmul_rates, matmul_summary,
                           max_rss_gib)
from worker_runs import benchmark_arguments, run_worker, seconds_per_step, serve_worker

REFERENCE_SIZE, REFERENCE_BATCH = (32, 40, 32), 4  # the glioma reference runs: phantom grid (D, H, W), batch 4
MID_SIZE = (64, 96, 96)
PAPER_SIZE = (150, 240, 240)
QUICK_SIZE = (16, 64, 64)
#: BraTS2018 class counts (LGG, HGG), paper Table II: the weights of Eq. 2.
COUNTS = (75, 210)
MODELS = {"RMC": RMC, "DA_RMC": DARMC, "guidance": GuidanceModel}


def build(model_name: str, width: float, size, batch: int = 1, device="cpu"):
    """Model, its input (a batch of volumes, or of the four modalities for the guidance model) and labels."""
    with torch.device(device):
        model = MODELS[model_name](width=width)
        shape = (batch, 1, *size)
        x = {m: torch.randn(shape) for m in model.modalities} if model_name == "guidance" else torch.randn(shape)
        y = torch.ones(batch, dtype=torch.long)
    return model, x, y


def step_fn(model_name: str, model: nn.Module, x, y, train: bool):
    """One training step (forward, backward, Adam) or one forward pass, as a closure."""
    criterion = weighted_cross_entropy(COUNTS).to(y.device)
    if not train:
        model.eval()

        def forward():
            with torch.inference_mode():
                model(x)

        return forward
    params = prepare_stage2(model) if model_name == "guidance" else list(model.parameters())
    model.train()
    optimizer = make_optimizer(params) if y.device.type != "meta" else None

    def train_step():
        if model_name == "guidance":
            loss = guidance_losses(model(x), y, criterion)["loss"]
        else:
            loss = criterion(model(x), y)
        loss.backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return train_step


def count_flops(model_name: str, width: float, size, train: bool, batch: int = 1) -> float:
    """FLOPs of one step, counted on the meta device (no memory, no compute)."""
    model, x, y = build(model_name, width, size, batch, device="meta")
    step = step_fn(model_name, model, x, y, train)
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def worker(cfg: dict) -> dict:
    """Run one configuration in this (fresh) process and return its measurements."""
    torch.manual_seed(0)
    baseline = max_rss_gib()
    model, x, y = build(cfg["model"], cfg["width"], cfg["size"], cfg["batch"])
    step = step_fn(cfg["model"], model, x, y, cfg["mode"] == "train")
    built = max_rss_gib()
    seconds = seconds_per_step(step, cfg["warmup"], cfg["steps"], cfg["precision"]) / cfg["batch"]
    return {"seconds_per_volume": seconds, "peak_gib": max_rss_gib(), "baseline_gib": baseline, "built_gib": built}


def configurations(quick: bool) -> list[dict]:
    """(model, width, size, mode, precision, warmup, steps) of every measured row."""
    rows = []
    sizes = [(QUICK_SIZE, 0.25, 1)] if quick else [(REFERENCE_SIZE, 0.25, REFERENCE_BATCH), (MID_SIZE, 0.25, 1),
                                                   (MID_SIZE, 1.0, 1)]
    for size, width, batch in sizes:
        for name in MODELS:
            for precision in ("fp32", "bf16"):
                # A width-1 step takes seconds here: first-call overhead is negligible, skip warm-up. Steps of
                # tens of milliseconds are noisy: average more of them.
                warmup, steps = (0, 1) if quick or width == 1 else (2, 10) if size == REFERENCE_SIZE else (1, 3)
                rows.append(dict(model=name, width=width, size=size, batch=batch, mode="train", precision=precision,
                                 warmup=warmup, steps=steps))
    if not quick:
        paper = [("RMC", "bf16"), ("DA_RMC", "bf16"), ("DA_RMC", "fp32"), ("guidance", "bf16")]
        rows += [dict(model=name, width=1.0, size=PAPER_SIZE, batch=1, mode="forward", precision=precision, warmup=0,
                      steps=1)
                 for name, precision in paper]
    return rows


def attention_estimates(size, chunks=(1024, 4096)) -> list[str]:
    """fp32 memory of one volume's position-attention maps at the block-5 grid of ``size`` (D, H/16, W/16)."""
    d, h, w = size[0], size[1] // 16, size[2] // 16
    n = d * h * w
    lines = [f"block-5 grid at {size[0]}x{size[1]}x{size[2]}: D={d}, H={h}, W={w}, positions N={n}",
             f"  'hw'  (used): D x (HW)^2 = {d * (h * w) ** 2 * 4 / 2**20:.1f} MiB per map, x2 with the softmax",
             f"  'dhw' unchunked: N^2 = {n * n * 4 / GIB:.2f} GiB per map, {2 * n * n * 4 / GIB:.2f} GiB with the softmax "
             f"(and as much again for its gradient in training)"]
    lines += [f"  'dhw' chunk_size={c}: {c} x N = {c * n * 4 / 2**20:.0f} MiB per chunk, "
              f"{2 * c * n * 4 / 2**20:.0f} MiB with the softmax (forward; training keeps every chunk: the full N^2)"
              for c in chunks]
    return lines


def main(argv=None) -> None:
    args = benchmark_arguments(argv, __doc__, "smoke run: small input, width 0.25, no paper-size rows", 400.0)
    if args.worker:
        serve_worker(args.worker, worker)
        return

    import pandas as pd

    started = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"load average at start {load_average()}")
    rates_start = matmul_rates()
    rows = []
    for cfg in configurations(args.quick):
        flops = count_flops(cfg["model"], cfg["width"], cfg["size"], cfg["mode"] == "train", cfg["batch"]) / cfg["batch"]
        res = run_worker(__file__, cfg, args.timeout)
        row = {"model": cfg["model"], "width": cfg["width"], "batch": cfg["batch"], "input": "x".join(map(str, cfg["size"])),
               "step": "fwd+bwd+Adam" if cfg["mode"] == "train" else "forward", "precision": cfg["precision"],
               "GFLOP/vol": flops / 1e9}
        if "error" in res:
            row["error"] = res["error"]
        else:
            row.update({"s/vol": res["seconds_per_volume"], "vol/s": 1 / res["seconds_per_volume"],
                        "GFLOP/s": flops / 1e9 / res["seconds_per_volume"],
                        "peak RSS GiB": res["peak_gib"], "torch baseline GiB": res["baseline_gib"]})
        rows.append(row)
        print(f"  done {row['model']:<8} w={cfg['width']:<4} {row['input']:<11} {row['step']:<12} "
              f"{cfg['precision']}: {res.get('seconds_per_volume', float('nan')):.2f} s/vol {res.get('error', '')}",
              flush=True)
    rates_end = matmul_rates()
    table = pd.DataFrame(rows)
    add_share_of_matmul(table, rates_start, rates_end)
    load_end = load_average()

    print()
    print(matmul_summary(rates_start, rates_end))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print()
    print("Dual attention memory (fp32, one volume):")
    for line in attention_estimates(PAPER_SIZE):
        print(line)
    da = table[(table["model"] == "DA_RMC") & (table["input"] == "x".join(map(str, PAPER_SIZE)))]
    for _, r in da.iterrows():
        if "peak RSS GiB" in r and pd.notna(r["peak RSS GiB"]):
            fits = "fits in" if r["peak RSS GiB"] < 24 else "does NOT fit in"
            print(f"  measured: DA_RMC ('hw') forward at the paper's size, {r['precision']}: peak RSS "
                  f"{r['peak RSS GiB']:.2f} GiB -> {fits} 24 GiB")
    print()
    print(closing_line(load_end, started))


if __name__ == "__main__":
    main()
