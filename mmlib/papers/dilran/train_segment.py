"""Train a DILRAN (or Table 2 baseline) model headless, as a segment the training chapter resumes.

``book/dilran/training.md`` trains a model, keeps the epoch with the lowest validation
loss, scores the test pairs and records the run. On a machine without the book's
notebook stack (a lent GPU, or a CPU box for a long unattended run) this module runs
the chapter's Steps 1-4 alone, with the same :mod:`mmlib.papers.dilran.protocol`
calls and, by default, the reference parameters of ``scripts/reference-dilran.sh``
(the paper's schedule: whole 256 x 256 images, batch 4, Adam lr 1e-4, lambda 0.2 / 0.2,
seed 3407). It writes ``checkpoint.pt`` and ``best.pt`` into ``--out``, resuming a
checkpoint already there, so a schedule can be trained in several segments::

    python -m mmlib.papers.dilran.train_segment --split paper --out runs/checkpoints/dilran-paper
    python -m mmlib.papers.dilran.train_segment --split paper --model msrpan --out runs/checkpoints/dilran-msrpan-paper

Each invocation writes ``segment-<first>-<last>.json`` beside the checkpoints: the
command, the git state, the parameters, the device, the wall time and the SHA-256 of
every image read (:func:`mmlib.runs.provenance.write_provenance`), also when it is
stopped early (SIGTERM or Ctrl-C: the epochs finished so far are kept). Run
``scripts/reference-dilran.sh`` afterwards: its chapter run finds the finished
checkpoint in the same folder, trains nothing more, scores and records the run, and
the script copies the segment records into the exported result.

Hand-written glue (argparse around the protocol functions).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mmlib.config import resolve_device, seed_everything
from mmlib.papers.dilran import protocol
from mmlib.papers.dilran.paper import PAPER_SCHEDULE
from mmlib.papers.dilran.splits import split_pairs
from mmlib.runs.provenance import git_state, write_provenance
from mmlib.train.checkpoint import load_checkpoint
from mmlib.train.precision import resolve_precision


def finished_epochs(checkpoint_dir: Path, model_name: str) -> int:
    """Epochs completed by the checkpoint in ``checkpoint_dir`` (0 when there is none)."""
    path = checkpoint_dir / "checkpoint.pt"
    if not path.is_file():
        return 0
    return int(load_checkpoint(path, model=protocol.MODELS[model_name]())["epoch"])


def device_name(device: torch.device) -> str:
    """``"cuda (<GPU name>)"`` or the device type, for the segment record."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _stop_on_sigterm() -> None:
    """Turn SIGTERM (``timeout``, a batch system) into SystemExit, so the segment record is still written."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def train_segment(*, split: str, out: Path, model_name: str = "dilran", max_epochs: int = PAPER_SCHEDULE["max_epochs"],
                  image_size: int = PAPER_SCHEDULE["image_size"], max_train_images: int | None = None, train_crop: int | None = None,
                  batch_size: int = PAPER_SCHEDULE["batch_size"], lr: float = PAPER_SCHEDULE["lr"],
                  lambda_perceptual: float = PAPER_SCHEDULE["lambda_perceptual"],
                  lambda_gradient: float = PAPER_SCHEDULE["lambda_gradient"], vgg_weights: str | None = None,
                  precision: str = "bf16", device: str = "auto", seed: int = PAPER_SCHEDULE["seed"],
                  data_root: str | None = None, dataset: str = "harvard-aanlib", pair: str = "CT-MRI",
                  command: str, git: dict[str, Any] | None = None, progress: bool = True) -> Path:
    """Train up to ``max_epochs`` in ``out`` (resuming) with the chapter's calls; return the segment record's path.

    The parameters are the training chapter's, under the same names. ``git`` is the
    state of the code that runs (default: :func:`git_state` here; pass it in where the
    code was copied without its ``.git``).
    """
    protocol.check_parameters(dataset=dataset, pair=pair, split=split, fold=0, n_folds=1, model_name=model_name,
                              eval_rules="own", image_size=image_size, max_train_images=max_train_images,
                              train_crop=train_crop, max_epochs=max_epochs, batch_size=batch_size)
    params = {"dataset": dataset, "pair": pair, "split": split, "model_name": model_name, "max_epochs": max_epochs,
              "image_size": image_size, "max_train_images": max_train_images, "train_crop": train_crop,
              "batch_size": batch_size, "lr": lr, "lambda_perceptual": lambda_perceptual,
              "lambda_gradient": lambda_gradient, "vgg_weights": vgg_weights, "precision": precision,
              "device": device, "seed": seed}
    git = git if git is not None else git_state()
    seed_everything(seed)
    run_device = resolve_device(device)
    precision = resolve_precision(precision, run_device)
    if run_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = protocol.load_pairs(data_root, dataset, pair, image_size, seed)
    parts = split_pairs(data.names, split, seed)
    train_loader, val_loader, _ = protocol.make_loaders(data, parts, max_train_images=max_train_images,
                                                        train_crop=train_crop, batch_size=batch_size, seed=seed)
    loss = protocol.make_loss(vgg_weights, lambda_perceptual, lambda_gradient)
    checkpoint_dir = protocol.checkpoint_folder(out)
    first = finished_epochs(checkpoint_dir, model_name) + 1
    start = time.time()
    _stop_on_sigterm()
    try:
        protocol.train_model(model_name, train_loader, val_loader, loss, max_epochs=max_epochs, lr=lr,
                             device=run_device, precision=precision, checkpoint_dir=checkpoint_dir, seed=seed,
                             progress=progress)
    finally:
        last = finished_epochs(checkpoint_dir, model_name)
        record_path = checkpoint_dir / f"segment-{first:03d}-{last:03d}.json"
        if last >= first:
            write_provenance(record_path, command=command, params=params, seed=seed,
                             data_files_or_checksums=data.data_read([*parts["train"], *parts["val"]]),
                             wall_time_s=time.time() - start, device=device_name(run_device), git_at_start=git)
            print(f"epochs {first}-{last} of {max_epochs} trained; segment record {record_path}")
    return record_path


def _optional_int(text: str) -> int | None:
    return None if text == "None" else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m mmlib.papers.dilran.train_segment",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", required=True, choices=("paper", "series"))
    parser.add_argument("--out", required=True, type=Path, help="checkpoint folder (resumed when it holds one)")
    parser.add_argument("--model", default="dilran", choices=tuple(protocol.MODELS))
    parser.add_argument("--epochs", type=int, default=PAPER_SCHEDULE["max_epochs"])
    parser.add_argument("--image-size", type=int, default=PAPER_SCHEDULE["image_size"])
    parser.add_argument("--max-train-images", type=_optional_int, default=None, help="an integer or None (all)")
    parser.add_argument("--train-crop", type=_optional_int, default=None, help="an integer or None (whole images)")
    parser.add_argument("--lambda-perceptual", type=float, default=PAPER_SCHEDULE["lambda_perceptual"])
    parser.add_argument("--lambda-gradient", type=float, default=PAPER_SCHEDULE["lambda_gradient"])
    parser.add_argument("--vgg-weights", default=None, help="torchvision's vgg16_bn-6c64b313.pth (default: random VGG)")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", default=None, help="default: $MMLIB_DATA")
    parser.add_argument("--dataset", default="harvard-aanlib", choices=("harvard-aanlib", "fusion-phantoms"))
    parser.add_argument("--git-state", default=None,
                        help="JSON of mmlib.runs.provenance.git_state() of the code (default: read here)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    train_segment(split=args.split, out=args.out, model_name=args.model, max_epochs=args.epochs,
                  image_size=args.image_size, max_train_images=args.max_train_images, train_crop=args.train_crop,
                  lambda_perceptual=args.lambda_perceptual, lambda_gradient=args.lambda_gradient,
                  vgg_weights=args.vgg_weights, precision=args.precision, device=args.device,
                  data_root=args.data_root, dataset=args.dataset,
                  git=json.loads(args.git_state) if args.git_state else None, progress=not args.no_progress,
                  command=shlex.join(["python", "-m", "mmlib.papers.dilran.train_segment", *argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
