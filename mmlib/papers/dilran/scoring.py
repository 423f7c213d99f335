"""Score fusion methods on the test pairs of a split with the metric suite of DILRAN Tables 1-2.

:func:`score_pairs` fuses every named pair with one method and scores it with
:func:`mmlib.papers.dilran.image_metrics.fusion_metric_suite`. :func:`untrained_methods` lists
the rows of Table 2 that need no training here: the zero-learning baseline
(Lahoud & Susstrunk 2019) and the two classic anchors the issue asks for (pixel
average, Laplacian pyramid). The command line writes their scores for one split,
with provenance, so the Table 2 chapter reads them instead of recomputing::

    python -m mmlib.papers.dilran.scoring --split paper --out results/dilran/untrained-paper

The split is drawn exactly as the training chapter draws it
(:func:`mmlib.papers.dilran.splits.paper_split` / ``series_split``, seed 3407).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mmlib.atomic import write_json
from mmlib.config import data_root
from mmlib.data.aanlib import FusionPair, load_aanlib_pairs
from mmlib.data.image_pairs import pair_tensors
from mmlib.papers.dilran.splits import paper_split, series_split
from mmlib.errors import ParameterError
from mmlib.papers.dilran.image_metrics import fusion_metric_suite
from mmlib.papers.dilran.baselines import ZeroLearningFusion, average_fusion, laplacian_fusion

#: A fusion method: two grey ``(H, W)`` float images in [0, 1] -> the fused image in [0, 1].
FuseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def untrained_methods(vgg19_weights: str | None = None) -> dict[str, FuseFn]:
    """The Table 2 rows that need no training: zero-learning, pixel average, Laplacian pyramid (4 levels).

    Zero-learning uses ImageNet VGG19 weights from ``vgg19_weights`` when given, else a
    frozen random first layer (its ``weights_source`` says which; the Table 2 chapter states it).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the random-weights substitution is recorded instead
        zero = ZeroLearningFusion(vgg19_weights)
    methods: dict[str, FuseFn] = {"zero-learning": zero, "average": average_fusion, "laplacian": laplacian_fusion}
    return methods


def score_pairs(fuse: FuseFn, pairs: Mapping[str, FusionPair], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{pair name: metric suite}`` for the named pairs fused with ``fuse`` (CT first, MR second)."""
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # PSNR warns when a fused image equals a source
        for name in names:
            ct, mr = (t[0, 0].numpy() for t in pair_tensors(pairs[name]))
            scores[name] = fusion_metric_suite(fuse(ct, mr), ct, mr)
    return scores


#: The paper's Table 1-2 columns, read with the authors' conventions (NOTES.md, "Metrics in their code").
AUTHORS_COLUMNS = {"PSNR": "psnr", "SSIM": "ssim_gaussian", "MI": "mi_mean", "FMI-pixel": "fmi_edge",
                   "FSIM": "fsim_unit", "EN": "en_float_unique"}
#: The same columns read with the metrics' textbook definitions (scikit-image SSIM, Qu's MI,
#: FMI on pixels, FSIM on the [0, 255] scale of Zhang et al., 8-bit entropy).
STANDARD_COLUMNS = {"PSNR": "psnr", "SSIM": "ssim", "MI": "mi_qu", "FMI-pixel": "fmi_none",
                    "FSIM": "fsim", "EN": "en_256"}
CONVENTIONS = {"authors": AUTHORS_COLUMNS, "standard": STANDARD_COLUMNS}


def summary_frame(per_pair: Mapping[str, Mapping[str, Mapping[str, float]]], columns: Mapping[str, str]):
    """Mean and std over the test pairs, one row per method: ``{method: {pair: metric suite}}`` ->
    a frame with columns ``label`` and ``label + "_std"`` for each ``label -> metric`` of ``columns``
    (the flat layout :func:`mmlib.eval.tables.compare_frame` reads)."""
    import pandas as pd

    rows = {}
    for method, pairs in per_pair.items():
        frame = pd.DataFrame(pairs).T
        missing = sorted(set(columns.values()) - set(frame.columns))
        if missing:
            raise ParameterError(f"{method}: the scores lack metric(s) {missing}")
        row = {}
        for label, metric in columns.items():
            row[label] = frame[metric].mean()
            row[f"{label}_std"] = frame[metric].std(ddof=1) if len(frame) > 1 else float("nan")
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def split_test_pairs(names: Sequence[str], split: str, seed: int = 3407) -> list[str]:
    """The test pairs of ``split`` ("paper" or "series"), drawn as the training chapter draws them."""
    if split == "paper":
        return list(paper_split(names, seed=seed, n_test=20)["test"])
    if split == "series":
        return list(series_split(names, seed=seed)["test"])
    raise ParameterError(f"split={split!r}: choose 'paper' or 'series'")


def main(argv: Sequence[str] | None = None) -> int:
    from mmlib.runs.provenance import write_provenance

    parser = argparse.ArgumentParser(prog="python -m mmlib.papers.dilran.scoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("paper", "series"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for metrics.json and provenance.json")
    parser.add_argument("--data-root", default=None, help="folder holding harvard-aanlib/ (default: $MMLIB_DATA)")
    parser.add_argument("--vgg19-weights", default=None, help="torchvision vgg19-dcbb9e9d.pth for zero-learning")
    args = parser.parse_args(argv)
    started = time.time()
    root = data_root(args.data_root) / "harvard-aanlib"
    pairs = {p.name: p for p in load_aanlib_pairs(root, "CT-MRI")}
    names = split_test_pairs(list(pairs), args.split)
    methods = untrained_methods(args.vgg19_weights)
    results = {}
    for method, fuse in methods.items():
        per_pair = score_pairs(fuse, pairs, names)
        mean = {k: float(np.mean([s[k] for s in per_pair.values()])) for k in next(iter(per_pair.values()))}
        results[method] = {"mean": mean, "per_pair": per_pair}
        print(f"{method}: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "metrics.json", {
        "split": args.split, "n_test_pairs": len(names), "test_pairs": names,
        "zero_learning_weights": methods["zero-learning"].weights_source, "methods": results,
    })
    write_provenance(
        args.out / "provenance.json",
        command="python -m mmlib.papers.dilran.scoring " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        params=vars(args) | {"out": str(args.out)},
        seed=3407,
        data_files_or_checksums=[pairs[n].paths[m] for n in names for m in ("CT", "MRI")],
        wall_time_s=time.time() - started,
        device="cpu",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
