"""The rows of DILRAN's Table 2 that need no training, scored on the test pairs of a split.

:func:`untrained_methods` lists them: the zero-learning baseline (Lahoud &
Susstrunk 2019) and the two classic anchors the paper does not report (pixel
average, Laplacian pyramid). :func:`score_untrained` scores each on the test
pairs of the training chapter's split (:func:`mmlib.papers.dilran.splits.split_pairs`)
with the metric suite of Tables 1-2 (:func:`mmlib.papers.dilran.protocol.score_pairs`)
and returns one fold record in the book's results format
(:func:`mmlib.runs.record_fold_result`). The command line writes it with
provenance (:func:`mmlib.runs.provenance.write_run`), so the Table 2 chapter reads it
with :func:`mmlib.runs.aggregate.read_run` instead of recomputing::

    python -m mmlib.papers.dilran.scoring --split paper --out results/dilran/untrained-paper
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mmlib.config import data_root
from mmlib.papers.dilran.baselines import ZeroLearningFusion, average_fusion, laplacian_fusion
from mmlib.papers.dilran.paper import PAPER_SEED
from mmlib.papers.dilran.protocol import PairSource, aanlib_source, mean_scores, score_pairs
from mmlib.papers.dilran.splits import split_pairs
from mmlib.runs import record_fold_result

#: A fusion method: two grey ``(H, W)`` float images in [0, 1] -> the fused image in [0, 1].
FuseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: The method whose scores are the record's top-level ``metrics`` (the paper's Table 2 row).
FINAL = "zero-learning"


def untrained_methods(vgg19_weights: str | None = None) -> dict[str, FuseFn]:
    """The Table 2 rows that need no training: zero-learning, pixel average, Laplacian pyramid (4 levels).

    Zero-learning uses ImageNet VGG19 weights from ``vgg19_weights`` when given, else a
    frozen random first layer (its ``weights_source`` says which; the Table 2 chapter states it).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the random-weights substitution is recorded instead
        zero = ZeroLearningFusion(vgg19_weights)
    return {FINAL: zero, "average": average_fusion, "laplacian": laplacian_fusion}


def score_untrained(data: PairSource, split: str, methods: dict[str, FuseFn], seed: int = PAPER_SEED) -> dict:
    """Score ``methods`` on the test pairs of ``split`` and return the fold record.

    ``metrics`` are :data:`FINAL`'s mean scores; ``extra["methods"]`` holds every method's
    mean and per-pair scores; ``data`` the SHA-256 of the test images read.
    """
    names = split_pairs(data.names, split, seed)["test"]
    results = {}
    for method, fuse in methods.items():
        per_pair = score_pairs(fuse, data.images, names)
        results[method] = {"metrics": mean_scores(per_pair), "per_case": per_pair}
        print(f"{method}: " + ", ".join(f"{k} {v:.3f}" for k, v in results[method]["metrics"].items()), flush=True)
    extra = {"final": FINAL, "split": split, "n_test_pairs": len(names),
             "zero_learning_weights": methods[FINAL].weights_source}
    return record_fold_result(results[FINAL]["metrics"], case_ids=names, methods=results, extra=extra,
                              data=data.data_read(names))


def main(argv: Sequence[str] | None = None) -> int:
    from mmlib.runs.provenance import write_run

    parser = argparse.ArgumentParser(prog="python -m mmlib.papers.dilran.scoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("paper", "series"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="run folder to write (replaced as a whole)")
    parser.add_argument("--data-root", default=None, help="folder holding harvard-aanlib/ (default: $MMLIB_DATA)")
    parser.add_argument("--vgg19-weights", default=None, help="torchvision vgg19-dcbb9e9d.pth for zero-learning")
    parser.add_argument("--seed", type=int, default=PAPER_SEED, help="seed of the split (default: the authors' 3407)")
    args = parser.parse_args(argv)
    started = time.time()
    data = aanlib_source(data_root(args.data_root) / "harvard-aanlib", "CT-MRI")
    record = score_untrained(data, args.split, untrained_methods(args.vgg19_weights), seed=args.seed)
    params = {"data_root": args.data_root, "seed": args.seed, "split": args.split,
              "vgg19_weights": args.vgg19_weights}
    command = "python -m mmlib.papers.dilran.scoring " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    dest = write_run(args.out, chapter="mmlib.papers.dilran.scoring", tag=args.out.name, params=params,
                     records={0: record}, command=command, wall_time_s=time.time() - started, device="cpu",
                     data=record["data"])
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
