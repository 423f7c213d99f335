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

import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmlib.papers.m3.features import pooled_features
from mmlib.papers.m3.medicalnet import PAPER_SPATIAL_SIZE, MedicalNetSegmentation
from mmlib.papers.m3.training import logits_at, seg_loss
from machine_rates import add_share_of_matmul, closing_line, load_average, matmul_rates, matmul_summary, max_rss_gib
from worker_runs import benchmark_arguments, run_worker, seconds_per_step, serve_worker

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
    seconds = seconds_per_step(step, cfg["warmup"], cfg["steps"], cfg["precision"]) / cfg["batch"]
    return {"seconds_per_volume": seconds, "peak_gib": max_rss_gib(), "baseline_gib": baseline}


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
    args = benchmark_arguments(argv, __doc__, "smoke run: small input, no paper-size rows", 900.0)
    if args.worker:
        serve_worker(args.worker, worker)
        return

    import pandas as pd

    torch.set_num_threads(1)
    started = time.perf_counter()
    print(f"torch {torch.__version__}, 1 thread per process, {os.cpu_count()} CPUs; "
          f"load average at start {load_average()}", flush=True)
    rates_start = matmul_rates()
    rows = []
    for cfg in configurations(args.quick):
        flops = count_flops(cfg["width"], cfg["size"], cfg["batch"], cfg["mode"]) / cfg["batch"]
        res = run_worker(__file__, cfg, args.timeout, one_thread=True)
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
    rates_end = matmul_rates()
    table = pd.DataFrame(rows)
    add_share_of_matmul(table, rates_start, rates_end)
    load_end = load_average()
    print()
    print(matmul_summary(rates_start, rates_end, ", one thread"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    train = table[(table["step"] == "fwd+bwd+Adam") & (table["precision"] == "bf16")]
    if not args.quick and "s/vol" in train and len(train):
        per_epoch = float(train["s/vol"].iloc[0])
        print(f"\nA 5-fold tumour reference table (3 modalities x 5 folds x 40 epochs x 64 training volumes) is "
              f"{3 * 5 * 40 * 64 * per_epoch / 60:.0f} min of bf16 training steps at this rate, on one idle core.")
    print()
    print(closing_line(load_end, started))


if __name__ == "__main__":
    main()
