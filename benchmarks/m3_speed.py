"""Speed and memory of M3's segmentation network and feature extractor on this machine's CPU (issue 13, section 5).

Usage::

    .venv/bin/python benchmarks/m3_speed.py           # full run (several minutes on one thread)
    .venv/bin/python benchmarks/m3_speed.py --quick   # smoke run (about a minute)

What it prints, for MedicalNet's dilated ResNet-50 with its segmentation head
(:class:`mmlib.papers.m3.medicalnet.MedicalNetSegmentation`):

* **Training volumes per second** at the CPU default of the reference runs
  (batches of 4 phantoms of 40 x 48 x 40, width 0.25): one forward + backward +
  Adam step with MONAI's Dice + CE on the upsampled logits, as
  :func:`mmlib.papers.m3.training.segmentation_step` trains it; fp32 and with bf16
  autocast.
* **Feature-extraction volumes per second**: one eval-mode forward and every
  feature variant of Eq. 1 (:func:`mmlib.papers.m3.features.pooled_features`), at
  the CPU default and at the paper's 155 x 280 x 280 with width 1 (forward only:
  a training step there is out of reach of a CPU).
* **Peak memory**: ``ru_maxrss`` of a fresh subprocess per configuration
  (includes the Python + torch baseline, printed too).
* **Achieved GFLOP/s**: FLOPs of one step counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device, times
  volumes per second, against the dense ``torch.mm`` rate (fp32 and bf16,
  2048 x 2048) measured at the start and end of the same run.

Everything runs on **one thread** (``torch.set_num_threads(1)`` in every
process; the machine is shared), so the rates are per core. Other processes may
share the CPU: the load average is printed beside the results. Timing never
lives in tests (CONTRIBUTING.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmlib.papers.m3.features import pooled_features
from mmlib.papers.m3.medicalnet import PAPER_SPATIAL_SIZE, MedicalNetSegmentation
from mmlib.papers.m3.training import logits_at, seg_loss
from machine_rates import matmul_rate, max_rss_gib

REFERENCE_SIZE, REFERENCE_BATCH, REFERENCE_WIDTH = (40, 48, 40), 4, 0.25  # the reference runs' (D, H, W), batch, width
QUICK_SIZE = (32, 40, 32)


def build(width: float, size, batch: int, device="cpu"):
    with torch.device(device):
        net = MedicalNetSegmentation(width=width)
        x = torch.rand(batch, 1, *size)
        mask = (torch.rand(batch, 1, *size) > 0.97).to(torch.uint8)
    return net, x, mask


def step_fn(net, x, mask, mode: str):
    """A closure: one training step, or one feature extraction (eval forward + every variant)."""
    if mode == "extract":
        net.eval()

        def extract():
            with torch.inference_mode():
                pooled_features(net(x))

        return extract
    net.train()
    loss_fn = seg_loss()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3) if x.device.type != "meta" else None

    def train_step():
        logits = logits_at(net(x)["logits"], mask.shape[2:])
        loss = loss_fn(logits.float(), mask.float()) if x.device.type != "meta" else logits.float().mean()
        loss.backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return train_step


def count_flops(width: float, size, batch: int, mode: str) -> float:
    """FLOPs of one step on the meta device (shapes only; the Dice + CE loss is negligible and left out)."""
    net, x, mask = build(width, size, batch, device="meta")
    with FlopCounterMode(display=False) as counter:
        step_fn(net, x, mask, mode)()
    return float(counter.get_total_flops())




def worker(cfg: dict) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    baseline = max_rss_gib()
    net, x, mask = build(cfg["width"], cfg["size"], cfg["batch"])
    step = step_fn(net, x, mask, cfg["mode"])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg["precision"] == "bf16"):
        for _ in range(cfg["warmup"]):
            step()
        start = time.perf_counter()
        for _ in range(cfg["steps"]):
            step()
        seconds = (time.perf_counter() - start) / cfg["steps"] / cfg["batch"]
    return {"seconds_per_volume": seconds, "peak_gib": max_rss_gib(), "baseline_gib": baseline}


def run_config(cfg: dict, timeout: float) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def configurations(quick: bool) -> list[dict]:
    size = QUICK_SIZE if quick else REFERENCE_SIZE
    rows = [dict(width=REFERENCE_WIDTH, size=size, batch=REFERENCE_BATCH, mode=mode, precision=precision,
                 warmup=1 if quick else 2, steps=2 if quick else 8)
            for mode in ("train", "extract") for precision in ("fp32", "bf16")]
    if not quick:
        rows += [dict(width=1.0, size=PAPER_SPATIAL_SIZE, batch=1, mode="extract", precision=precision, warmup=0,
                      steps=1) for precision in ("bf16", "fp32")]
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small input, no paper-size rows")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per configuration")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    import pandas as pd

    torch.set_num_threads(1)
    started = time.perf_counter()
    load_start = os.getloadavg()
    print(f"torch {torch.__version__}, 1 thread per process, {os.cpu_count()} CPUs; "
          f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)
    peak = {"fp32": [matmul_rate(torch.float32)], "bf16": [matmul_rate(torch.bfloat16)]}
    rows = []
    for cfg in configurations(args.quick):
        flops = count_flops(cfg["width"], cfg["size"], cfg["batch"], cfg["mode"]) / cfg["batch"]
        res = run_config(cfg, args.timeout)
        row = {"width": cfg["width"], "batch": cfg["batch"], "input": "x".join(map(str, cfg["size"])),
               "step": "fwd+bwd+Adam" if cfg["mode"] == "train" else "features (fwd)", "precision": cfg["precision"],
               "GFLOP/vol": flops / 1e9}
        if "error" in res:
            row["error"] = res["error"]
        else:
            row.update({"s/vol": res["seconds_per_volume"], "vol/s": 1 / res["seconds_per_volume"],
                        "GFLOP/s": flops / 1e9 / res["seconds_per_volume"], "peak RSS GiB": res["peak_gib"],
                        "torch baseline GiB": res["baseline_gib"]})
        rows.append(row)
        print(f"  done w={cfg['width']:<4} {row['input']:<11} {row['step']:<14} {cfg['precision']}: "
              f"{res.get('seconds_per_volume', float('nan')):.3f} s/vol {res.get('error', '')}", flush=True)
    peak["fp32"].append(matmul_rate(torch.float32))
    peak["bf16"].append(matmul_rate(torch.bfloat16))
    rate = {k: sum(v) / len(v) for k, v in peak.items()}
    table = pd.DataFrame(rows)
    if "GFLOP/s" in table:
        table["% of mm"] = 100 * table["GFLOP/s"] / table["precision"].map(rate)
    load_end = os.getloadavg()
    print()
    print(f"dense torch.mm 2048x2048, one thread: fp32 {peak['fp32'][0]:.0f} -> {peak['fp32'][1]:.0f} GFLOP/s, "
          f"bf16 {peak['bf16'][0]:.0f} -> {peak['bf16'][1]:.0f} GFLOP/s (start -> end; the mean is the reference)")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    train = table[(table["step"] == "fwd+bwd+Adam") & (table["precision"] == "bf16")]
    if not args.quick and "s/vol" in train and len(train):
        per_epoch = float(train["s/vol"].iloc[0])
        print(f"\nA 5-fold tumour reference table (3 modalities x 5 folds x 40 epochs x 64 training volumes) is "
              f"{3 * 5 * 40 * 64 * per_epoch / 60:.0f} min of bf16 training steps at this rate, on one idle core.")
    print(f"\nload average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} "
          f"(other processes share the CPU: rates scale with the share this run got); "
          f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
