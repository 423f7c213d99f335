"""Speed and memory of MASAN and H-FCN on this machine's CPU, one thread (issue 14, section 5).

Usage::

    .venv/bin/python benchmarks/masan_speed.py           # full run (about 10 minutes on one thread)
    .venv/bin/python benchmarks/masan_speed.py --quick   # smoke run (about a minute)

What it prints (one compute thread throughout: the machine is shared, and the
reference runs use one thread per fold):

* **Training subjects per second** at the CPU default of the reference runs
  (batches of 8 phantoms: T1 32 x 40 x 32, a 48-volume fMRI window on 16 x 20 x
  16; MASAN at width 0.125, H-FCN on 8^3 patches at width 0.25): one joint step
  (Eq. 8, class-weighted) or one H-FCN step (three-level BCE), forward +
  backward + Adam, in fp32 and with bf16 autocast.
* **At the paper's size** (T1 240 x 256 x 176; fMRI 976 x 60 x 64 x 44; width
  1.0; H-FCN on 25^3 patches): forward only, one subject, fp32 and bf16, when
  it fits this machine's memory; a training step is out of reach of a CPU, so
  its memory is computed: the outputs of every layer of one forward pass (what
  the backward pass keeps, counted on torch's ``meta`` device) plus weights,
  gradients and Adam's two moments.
* **Peak memory**: ``ru_maxrss`` of a fresh subprocess per configuration
  (torch's allocations included), with the Python + torch baseline.
* **Batched vs loop**: the sPM's 64 sub-networks as one grouped computation
  against a Python loop over 64 one-patch modules (same weights), forward +
  backward, as a speed ratio.
* **Achieved GFLOP/s**: forward FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode``
  on the ``meta`` device (three times that for a training step: :func:`count_flops`
  says why), times subjects per second, against the dense
  ``torch.mm`` rate (fp32 and bf16, 2048 x 2048, one thread) measured at the
  start and end of the same run.

Other processes may share the CPU: the load average is printed with the
results. Timing never lives in tests (CONTRIBUTING.md).
"""

from __future__ import annotations

import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmlib.papers.masan.autoencoders import PatchAutoencoders, scaled_channels
from mmlib.papers.masan.hfcn import HFCN, hfcn_loss
from mmlib.papers.masan.inspection import activation_bytes
from mmlib.papers.masan.model import MASAN
from mmlib.papers.masan.paper import PAPER_FMRI_SHAPE, PAPER_T1_SHAPE, PAPER_TIMEPOINTS
from mmlib.papers.masan.patches import to_patches
from mmlib.papers.masan.training import masan_losses
from mmlib.train.classification import class_weights
from machine_rates import (GIB, add_share_of_matmul, closing_line, load_average, matmul_rates, matmul_summary,
                           max_rss_gib)
from worker_runs import benchmark_arguments, run_worker, seconds_per_step, serve_worker

CPU = {"t1": (32, 40, 32), "fmri": (16, 20, 16), "window": 48, "width": 0.125, "hfcn_patch": 8, "hfcn_width": 0.25,
       "batch": 8}
PAPER = {"t1": PAPER_T1_SHAPE, "fmri": PAPER_FMRI_SHAPE, "window": PAPER_TIMEPOINTS, "width": 1.0, "hfcn_patch": 25,
         "hfcn_width": 1.0, "batch": 1}
QUICK = {"t1": (16, 20, 16), "fmri": (8, 12, 8), "window": 16, "width": 0.125, "hfcn_patch": 8, "hfcn_width": 0.25,
         "batch": 4}
COUNTS = (134, 72)  # NC + MCI, AD: the weights of the class-weighted loss


def build(model: str, size: dict, device="cpu"):
    """The network and one batch (dict) at ``size``."""
    with torch.device(device):
        b = size["batch"]
        batch = {"t1": torch.randn(b, 1, *size["t1"]), "fmri": torch.randn(b, size["window"], *size["fmri"]),
                 "label": torch.tensor([0, 1] * (b // 2) + [1] * (b % 2))}
        batch["x"] = batch["t1"]
        if model == "MASAN":
            net = MASAN((4, 4, 4), size["window"], scaled_channels(size["width"]))
        else:
            net = HFCN((4, 4, 4), size["hfcn_patch"], width=size["hfcn_width"], dropout=0.0, batch_norm=True)
    return net, batch


def step_fn(model: str, net, batch, train: bool):
    """One training step (forward, backward, Adam) or one forward pass, as a closure."""
    weight = class_weights(COUNTS).to(batch["label"].device)
    if not train:
        net.eval()

        def forward():
            with torch.inference_mode():
                net(batch["t1"], batch["fmri"]) if model == "MASAN" else net(batch["x"])

        return forward
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3) if batch["label"].device.type != "meta" else None

    def train_step():
        if model == "MASAN":
            loss = masan_losses(net, batch, batch["label"].device, class_weight=weight, sparsity=1e-5)["loss"]
        else:
            loss = hfcn_loss(net(batch["x"]), batch["label"], weight)["loss"]
        loss.backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return train_step


def count_flops(model: str, size: dict, train: bool) -> float:
    """FLOPs of one step: the forward pass counted on the meta device, times 3 for a training step.

    torch 2.13's counter overcounts the backward pass of grouped convolutions
    (by ``groups / 2`` on a 64-group layer: 2.3 GFLOP counted where the forward
    is 35 MFLOP), so the backward is taken as the usual twice the forward.
    """
    net, batch = build(model, size, device="meta")
    with FlopCounterMode(display=False) as counter:
        step_fn(model, net, batch, train=False)()
    return float(counter.get_total_flops()) * (3 if train else 1)


def training_memory_gib(model: str, size: dict) -> float:
    """Computed memory of one training step: every layer's output (fp32) plus weights, gradients and Adam's moments."""
    net, batch = build(model, size, device="meta")
    inputs = [tuple(batch["t1"].shape), tuple(batch["fmri"].shape)] if model == "MASAN" else [tuple(batch["x"].shape)]
    params = sum(p.numel() for p in net.parameters())
    return (activation_bytes(net, *inputs) + 4 * 4 * params) / GIB


def batched_vs_loop(size: dict, width: float, repeats: int) -> dict:
    """Seconds of one forward + backward of the batched sPM and of a loop over its 64 one-patch modules."""
    torch.manual_seed(0)
    net = PatchAutoencoders((4, 4, 4), 1, scaled_channels(width))
    singles = torch.nn.ModuleList(net.single(j) for j in range(net.n))
    x = torch.randn(size["batch"], 1, *size["t1"])
    patches = to_patches(x, (4, 4, 4))

    def batched():
        net(x)["recon"].square().mean().backward()

    def loop():
        sum(m(patches[:, j:j + 1])["recon"].square().mean() for j, m in enumerate(singles)).backward()

    return {name: seconds_per_step(fn, 1, repeats, "fp32") for name, fn in (("batched", batched), ("loop", loop))}


def worker(cfg: dict) -> dict:
    """Run one configuration in this (fresh) process and return its measurements."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if cfg["mode"] == "loop":
        return batched_vs_loop(cfg["size"], cfg["width"], cfg["steps"])
    baseline = max_rss_gib()
    net, batch = build(cfg["model"], cfg["size"])
    step = step_fn(cfg["model"], net, batch, cfg["mode"] == "train")
    seconds = seconds_per_step(step, cfg["warmup"], cfg["steps"], cfg["precision"]) / cfg["size"]["batch"]
    return {"seconds_per_subject": seconds, "peak_gib": max_rss_gib(), "baseline_gib": baseline}


def configurations(quick: bool) -> list[dict]:
    """Every measured row: (label, model, size, mode, precision, warmup, steps)."""
    sizes = [("quick", QUICK)] if quick else [("CPU default", CPU)]
    rows = []
    for label, size in sizes:
        for model in ("MASAN", "HFCN"):
            for precision in ("fp32", "bf16"):
                rows.append(dict(label=label, model=model, size=size, mode="train", precision=precision,
                                 warmup=1, steps=2 if quick else 5))
    if not quick:
        for model in ("MASAN", "HFCN"):
            for precision in ("fp32", "bf16"):
                rows.append(dict(label="paper", model=model, size=PAPER, mode="forward", precision=precision,
                                 warmup=0, steps=1))
    return rows


def main(argv=None) -> None:
    args = benchmark_arguments(argv, __doc__, "smoke run: small inputs, no paper-size rows", 900.0)
    if args.worker:
        serve_worker(args.worker, worker)
        return

    import pandas as pd

    torch.set_num_threads(1)
    started = time.perf_counter()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    print(f"torch {torch.__version__}, 1 thread of {os.cpu_count()} CPUs, {memory_gib:.0f} GiB; "
          f"load average at start {load_average()}", flush=True)
    rates_start = matmul_rates()
    rows = []
    for cfg in configurations(args.quick):
        train = cfg["mode"] == "train"
        flops = count_flops(cfg["model"], cfg["size"], train) / cfg["size"]["batch"]
        row = {"size": cfg["label"], "model": cfg["model"], "batch": cfg["size"]["batch"],
               "step": "fwd+bwd+Adam" if train else "forward", "precision": cfg["precision"], "GFLOP/subj": flops / 1e9}
        res = run_worker(__file__, cfg, args.timeout, one_thread=True)
        if "error" in res:
            row["error"] = res["error"]
        else:
            row.update({"s/subj": res["seconds_per_subject"], "subj/s": 1 / res["seconds_per_subject"],
                        "GFLOP/s": flops / 1e9 / res["seconds_per_subject"], "peak RSS GiB": res["peak_gib"],
                        "baseline GiB": res["baseline_gib"]})
        rows.append(row)
        print(f"  done {cfg['label']:<11} {cfg['model']:<5} {row['step']:<12} {cfg['precision']}: "
              f"{res.get('seconds_per_subject', float('nan')):.3f} s/subject {res.get('error', '')}", flush=True)
    loops = []
    for label, size, width in ([("quick", QUICK, 0.125)] if args.quick else [("CPU default", CPU, 0.125),
                                                                            ("CPU default", CPU, 0.25)]):
        res = run_worker(__file__, {"mode": "loop", "size": size, "width": width, "steps": 2 if args.quick else 4},
                         args.timeout, one_thread=True)
        if "error" not in res:
            loops.append({"size": label, "sPM width": width, "batch": size["batch"], "batched s": res["batched"],
                          "loop of 64 s": res["loop"], "speed-up": res["loop"] / res["batched"]})
    rates_end = matmul_rates()
    table = pd.DataFrame(rows)
    add_share_of_matmul(table, rates_start, rates_end)
    memory = {f"{model} at {label}": training_memory_gib(model, size)
              for label, size in ([("quick", QUICK)] if args.quick else [("CPU default (batch 8)", CPU),
                                                                           ("paper size (batch 1)", PAPER)])
              for model in ("MASAN", "HFCN")}
    load_end = load_average()

    print()
    print(matmul_summary(rates_start, rates_end, ", one thread"))
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        print()
        print("sPM, 64 sub-networks: one grouped computation vs a loop over 64 modules (forward + backward):")
        print(pd.DataFrame(loops).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print()
    print("Computed training memory, fp32 (every layer's output of one forward + weights, gradients, Adam):")
    for name, gib in memory.items():
        print(f"  {name:<34} {gib:8.2f} GiB")
    print()
    print(closing_line(load_end, started))


if __name__ == "__main__":
    main()
