"""One DILRAN training run, as ``book/dilran/training.md`` runs it (paper Sec. 2.1, 2.3 and 3.1).

The chapter (and through it the fold runner and ``scripts/reference-dilran.sh``) calls:

1. :func:`check_parameters`: a bad parameter raises :class:`~mmlib.errors.ParameterError` naming it;
2. :func:`load_pairs`: the AANLIB pairs of the data root, or the image-fusion phantoms
   when they are absent, as a :class:`PairSource` that says which (``source``);
3. :func:`mmlib.papers.dilran.splits.split_pairs`: the authors' or the series split
   (:func:`split_table` compares both);
4. :func:`make_loaders`: single images (CT and MR mixed) for the autoencoder;
5. :func:`make_loss` and :func:`train_model`: the Eq. 2 loss, Adam, the epoch with the
   lowest validation loss kept (:func:`load_best`);
6. :func:`score_rules`: every asked fusion rule on every test pair, scored with the
   metric suite of Tables 1-2 (:func:`score_pairs`, also used for the untrained rows);
7. :func:`record_run`: one :func:`mmlib.runs.record_fold_result` call with every rule's
   per-pair scores, the training history, the files read and the checkpoint.

Hand-written glue around torch, MONAI and the shared layers.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from mmlib.config import data_root as resolve_data_root
from mmlib.config import shown_path
from mmlib.data.aanlib import PAIR_KINDS, FusionPair, load_aanlib_pairs, series_of
from mmlib.data.image_pairs import FusionImageDataset, RandomCrops, pair_tensors
from mmlib.data.phantoms.image_fusion import image_fusion_phantoms
from mmlib.errors import DataError, ParameterError
from mmlib.nets.perceptual import VGG16BNPerceptual
from mmlib.papers.dilran.baselines import MSDRA, MSRPAN
from mmlib.papers.dilran.image_metrics import METRIC_ORDER, fusion_metric_suite
from mmlib.papers.dilran.model import DILRAN
from mmlib.papers.dilran.paper import PAPER_SCHEDULE, RULE_ROWS
from mmlib.papers.dilran.splits import save_split_json, shared_series, split_pairs
from mmlib.papers.dilran.training import DilranLoss, fuse_pair, train_dilran
from mmlib.runs import record_fold_result
from mmlib.train.checkpoint import load_checkpoint
from mmlib.train.loop import History

#: The trainable models: DILRAN as in the authors' code, and the two learned baselines of Table 2.
MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "dilran": lambda: DILRAN(variant="code"), "msrpan": MSRPAN, "msdra": MSDRA,
}
#: ``eval_rules="table1"``: every rule of Table 1, plus the rows the paper does not have.
TABLE_1_RULES = tuple(RULE_ROWS)
#: The phantom stand-in: 6 "patient" series of 8 slices (named like the atlas files, ``"<series><slice>"``).
PHANTOM_SERIES, PHANTOM_SLICES = 6, 8
#: A grey image pair: ``(first, mr)`` float32 ``(H, W)`` arrays in [0, 1] (first = CT, or the PET's Y).
ImagePair = tuple[np.ndarray, np.ndarray]


def check_parameters(*, dataset: str, pair: str, split: str, fold: int, n_folds: int, model_name: str,
                     eval_rules: str, image_size: int, max_train_images: int | None, train_crop: int | None,
                     max_epochs: int, batch_size: int) -> None:
    """Refuse a bad parameter of the training chapter with a :class:`ParameterError` naming it."""
    choices = {"dataset": (dataset, ("harvard-aanlib", "fusion-phantoms")), "pair": (pair, tuple(PAIR_KINDS)),
               "split": (split, ("paper", "series")), "model_name": (model_name, tuple(MODELS)),
               "eval_rules": (eval_rules, ("own", "table1"))}
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ParameterError(f"{name}={value!r}: choose one of {list(allowed)}")
    if (fold, n_folds) != (0, 1):
        raise ParameterError(f"fold={fold}, n_folds={n_folds}: this chapter trains one fixed split (fold 0 of 1)")
    counts = {"image_size": (image_size, 16), "max_epochs": (max_epochs, 1), "batch_size": (batch_size, 1),
              "max_train_images": (max_train_images, 1), "train_crop": (train_crop, 8)}
    for name, (value, least) in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ParameterError(f"{name}={value!r}: must be an integer >= {least}"
                                 + (" or None" if name in ("max_train_images", "train_crop") else ""))
    if train_crop is not None and train_crop > image_size:
        raise ParameterError(f"train_crop={train_crop} exceeds image_size={image_size}")


@dataclass
class PairSource:
    """The image pairs of one run: real AANLIB pairs (``pairs``) or generated phantoms (``phantom``).

    ``source`` is the line the chapter prints ("REAL data: ..." or "SYNTHETIC data: ...");
    ``modalities`` the two images of a pair (``("CT", "MRI")``, or ``("PET", "MRI")``);
    ``image_size`` the side length the images are served at (``None``: as stored).
    """

    source: str
    modalities: tuple[str, str]
    image_size: int | None
    pairs: dict[str, FusionPair] | None = None
    phantom: dict[str, ImagePair] | None = None
    description: dict[str, Any] | None = None

    @property
    def names(self) -> list[str]:
        """Every pair name, in the source's order."""
        return list(self.pairs if self.pairs is not None else self.phantom)

    def single_images(self, names: Sequence[str]) -> Dataset:
        """The single images (CT or PET-Y, and MR) of the named pairs, each ``(1, H, W)`` in [0, 1]."""
        if self.pairs is not None:
            return FusionImageDataset(list(self.pairs.values()), names, modalities=self.modalities,
                                      size=self.image_size)
        return TensorDataset(torch.stack([torch.from_numpy(image)[None] for n in names for image in self.phantom[n]]))

    def images(self, name: str) -> ImagePair:
        """The two images of one pair as ``(H, W)`` float32 arrays in [0, 1], resized like the training images."""
        if self.pairs is not None:
            return tuple(t[0, 0].numpy() for t in pair_tensors(self.pairs[name], size=self.image_size))
        return self.phantom[name]

    def data_read(self, names: Sequence[str]) -> list[Path] | dict[str, Any]:
        """What a run on ``names`` reads, for :func:`mmlib.runs.record_fold_result`'s ``data``:
        the image files of those pairs, or the phantom generator and its settings."""
        if self.pairs is not None:
            return [self.pairs[n].paths[m] for n in names for m in self.modalities]
        return dict(self.description)


def aanlib_source(root: str | Path, pair: str = "CT-MRI", image_size: int | None = None) -> PairSource:
    """The AANLIB pairs of ``pair`` under ``root`` (the ``harvard-aanlib`` folder), every file checked
    against its ``SHA256SUMS`` (:func:`mmlib.data.aanlib.load_aanlib_pairs`)."""
    pairs = {p.name: p for p in load_aanlib_pairs(root, pair)}
    return PairSource(f"REAL data: AANLIB {pair}, {len(pairs)} pairs", tuple(m for m, _ in PAIR_KINDS[pair]),
                      image_size, pairs=pairs)


def phantom_source(pair: str, image_size: int, seed: int, reason: str) -> PairSource:
    """:data:`PHANTOM_SERIES` x :data:`PHANTOM_SLICES` image-fusion phantoms at ``image_size``, named
    ``"<series><slice>"`` like the atlas files so both splits work; ``reason`` says why they stand in."""
    cohort = image_fusion_phantoms(n_series=PHANTOM_SERIES, slices_per_series=PHANTOM_SLICES, size=image_size,
                                   seed=seed)
    names = [f"{s + 1}{k:03d}" for s in range(PHANTOM_SERIES) for k in range(PHANTOM_SLICES)]
    phantom = {name: (cohort.images["ct"][i], cohort.images["mri"][i]) for i, name in enumerate(names)}
    description = {"generator": "mmlib.data.phantoms.image_fusion.image_fusion_phantoms", "n_series": PHANTOM_SERIES,
                   "slices_per_series": PHANTOM_SLICES, "size": image_size, "seed": seed}
    return PairSource(f"SYNTHETIC data: {len(names)} fusion-phantom pairs ({reason})",
                      tuple(m for m, _ in PAIR_KINDS[pair]), image_size, phantom=phantom, description=description)


def load_pairs(data_root: str | Path | None, dataset: str, pair: str, image_size: int, seed: int) -> PairSource:
    """The run's pairs, printing where they come from.

    ``dataset="harvard-aanlib"`` reads ``<data root>/harvard-aanlib/<pair>`` when it exists
    (a bad file there raises a :class:`DataError` naming it: no fallback); otherwise, or with
    ``dataset="fusion-phantoms"``, the phantoms of :func:`phantom_source` stand in.
    """
    root, reason = None, "dataset='fusion-phantoms' was asked for"
    if dataset == "harvard-aanlib":
        root = resolve_data_root(data_root) / "harvard-aanlib"  # a data root that does not exist is an error
        if not (root / pair).is_dir():  # the repository's data/ holds manifests only
            print(f"{shown_path(root / pair)}: no such folder")
            root = None
        reason = f"harvard-aanlib {pair} not found in the data root"
    if root is not None:
        print(f"reading {shown_path(root)} (every file checked against its SHA256SUMS)")
        data = aanlib_source(root, pair, image_size)
    else:
        data = phantom_source(pair, image_size, seed, reason)
    print(data.source)
    return data


def split_table(names: Sequence[str], split: str, seed: int) -> pd.DataFrame:
    """Pairs and series per part for both splits of ``names`` (one row per split, ``split`` marked),
    and the series that have slices in both train and test."""
    rows = {}
    for name in ("paper", "series"):
        parts = split_pairs(names, name, seed)
        row = {f"{part} pairs": len(parts[part]) for part in parts}
        row |= {f"{part} series": len({series_of(n) for n in parts[part]}) for part in parts}
        row["series in train and test"] = ", ".join(shared_series(parts)) or "none"
        rows[name + (" (this run)" if name == split else "")] = row
    return pd.DataFrame(rows).T


def make_loaders(data: PairSource, parts: Mapping[str, Sequence[str]], *, max_train_images: int | None,
                 train_crop: int | None, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader, int]:
    """``(train loader, validation loader, training images available)`` of single images.

    ``max_train_images`` keeps a seeded random subset of the training images; ``train_crop``
    cuts one random square per image and step (:class:`~mmlib.data.image_pairs.RandomCrops`).
    Validation always uses every image of its pairs, whole.
    """
    train_set, val_set = data.single_images(parts["train"]), data.single_images(parts["val"])
    n_available = len(train_set)
    if max_train_images is not None and max_train_images < n_available:
        keep = np.random.default_rng(seed).choice(n_available, size=max_train_images, replace=False)
        train_set = Subset(train_set, sorted(keep.tolist()))
    if train_crop is not None:
        train_set = RandomCrops(train_set, train_crop, seed=seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    return train_loader, DataLoader(val_set, batch_size=batch_size), n_available


def loader_table(data: PairSource, train_loader: DataLoader, val_loader: DataLoader, n_available: int,
                 n_test: int, train_crop: int | None) -> pd.DataFrame:
    """What the run trains and tests on, as one column named after the data (REAL or SYNTHETIC)."""
    size = data.image_size
    return pd.Series({
        "training images (used / available)": f"{len(train_loader.dataset)} / {n_available}",
        "validation images": len(val_loader.dataset),
        "test pairs": n_test,
        "image size": f"{size} x {size}",
        "training input": "whole images" if train_crop is None else f"random {train_crop} x {train_crop} crops",
        "batches per epoch": len(train_loader),
    }, name=data.source.split(":")[0]).to_frame()


def make_loss(vgg_weights: str | Path | None, lambda_perceptual: float, lambda_gradient: float) -> DilranLoss:
    """The Eq. 2 loss; its perceptual network is ImageNet VGG16-BN from ``vgg_weights`` (torchvision's
    ``vgg16_bn-6c64b313.pth``), or without it a fixed random VGG16-BN. Prints which."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the substitution is printed just below instead
        perceptual = VGG16BNPerceptual(weights_path=vgg_weights)
    if vgg_weights is None:
        print(f"perceptual network: VGG16-BN with a FIXED RANDOM initialisation ({perceptual.weights_source}), "
              "NOT the paper's ImageNet weights")
    else:
        print(f"perceptual network: VGG16-BN with ImageNet weights ({perceptual.weights_source})")
    return DilranLoss(lambda_perceptual=lambda_perceptual, lambda_gradient=lambda_gradient, perceptual=perceptual)


def checkpoint_folder(out_dir: str | Path | None) -> Path:
    """``out_dir`` (created; a run started again there resumes), or a new temporary folder when None."""
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="dilran-training-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("checkpoints in a temporary folder, removed at the end" if out_dir is None else f"checkpoints in {shown_path(folder)}")
    return folder


def train_model(model_name: str, train_loader: DataLoader, val_loader: DataLoader, loss: DilranLoss, *,
                max_epochs: int, lr: float, device, precision: str, checkpoint_dir: Path, seed: int,
                progress: bool = True) -> tuple[torch.nn.Module, History]:
    """Build ``MODELS[model_name]`` from ``seed`` and train it with :func:`train_dilran` (Sec. 2.3):
    Adam at ``lr``, the Eq. 2 loss on the validation images after every epoch, checkpoints in
    ``checkpoint_dir`` (resumed when present; ``best.pt`` is the lowest validation loss)."""
    torch.manual_seed(seed)
    model = MODELS[model_name]()
    history = train_dilran(model, train_loader, val_loader=val_loader, loss=loss, max_epochs=max_epochs, lr=lr,
                           device=device, precision=precision, checkpoint_path=Path(checkpoint_dir) / "checkpoint.pt",
                           resume=True, seed=seed, progress=progress)
    return model, history


def load_best(model: torch.nn.Module, history: History, device) -> torch.nn.Module:
    """Load the epoch chosen on the validation loss into ``model`` (eval mode, on ``device``); prints it."""
    load_checkpoint(history.best_path, model=model)
    print(f"selected epoch {history.best_epoch} of {len(history.epochs)}: validation loss "
          f"{history.best_value:.4f} ({history.best_path.name})")
    return model.to(device).eval()


def score_pairs(fuse: Callable[[np.ndarray, np.ndarray], np.ndarray], images: Callable[[str], ImagePair],
                names: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{pair: metric suite}``: each named pair (``images(name)``, CT first) fused with ``fuse`` and
    scored against both sources with the suite of Tables 1-2 (:func:`fusion_metric_suite`), every
    variant it knows (:data:`~mmlib.papers.dilran.image_metrics.METRIC_ORDER`, the optional ones of
    issue 12 included: runs committed before them lack those columns)."""
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # PSNR warns when a fused image equals a source
        for name in names:
            first, mr = images(name)
            scores[name] = fusion_metric_suite(fuse(first, mr), first, mr, variants=METRIC_ORDER)
    return scores


def mean_scores(per_pair: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean of every metric over the pairs (the number Tables 1-2 report per row)."""
    first = next(iter(per_pair.values()), None)
    if first is None:
        raise ParameterError("no pair was scored: nothing to average")
    return {metric: float(np.mean([scores[metric] for scores in per_pair.values()])) for metric in first}


def rules_to_score(model: torch.nn.Module, eval_rules: str) -> tuple[str, ...]:
    """``"own"``: the model's own rule (SFNN-max for DILRAN, FER for MSRPAN, FL1N for MSDRA);
    ``"table1"``: :data:`TABLE_1_RULES`."""
    if eval_rules not in ("own", "table1"):
        raise ParameterError(f"eval_rules={eval_rules!r}: choose 'own' or 'table1'")
    return (model.default_rule,) if eval_rules == "own" else TABLE_1_RULES


def score_rules(model: torch.nn.Module, data: PairSource, names: Sequence[str],
                rules: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``{rule: {pair: metric suite}}``: each test pair encoded, combined with each rule, decoded
    (plain float32, clipped to [0, 1]; paper Fig. 1a) and scored (:func:`score_pairs`)."""
    return {rule: score_pairs(lambda a, b: fuse_pair(model, a, b, rule=rule, precision="fp32")[0, 0].numpy(),
                              data.images, names)
            for rule in rules}


def schedule_departures(**params: Any) -> dict[str, tuple[Any, Any]]:
    """``{parameter: (this run's value, the paper's)}`` for every setting of :data:`PAPER_SCHEDULE`
    that this run changes; empty for the paper's schedule."""
    unknown = sorted(set(params) - set(PAPER_SCHEDULE))
    if unknown:
        raise ParameterError(f"{unknown} are not settings of the paper's schedule {sorted(PAPER_SCHEDULE)}")
    return {k: (v, PAPER_SCHEDULE[k]) for k, v in params.items() if v != PAPER_SCHEDULE[k]}


def record_run(*, per_rule: Mapping[str, Mapping[str, Mapping[str, float]]], own_rule: str, model_name: str,
               history: History, data: PairSource, parts: Mapping[str, Sequence[str]], split: str, seed: int,
               n_train_images: int, n_val_images: int, perceptual_weights: str, checkpoint_dir: Path) -> dict:
    """Write ``split.json`` beside the checkpoints and hand the run to :func:`record_fold_result`.

    ``metrics``: the mean scores of the model's own rule; ``methods``: every scored rule's mean
    and per-pair scores; ``extra``: the training history, the chosen epoch and what was
    trained on; ``data``: every image file of the split's pairs (or the phantom settings);
    artifacts ``best.pt`` and ``split.json``. Returns the record.
    """
    if own_rule not in per_rule:
        raise ParameterError(f"own_rule={own_rule!r} was not scored (scored: {sorted(per_rule)})")
    split_path = save_split_json(Path(checkpoint_dir) / "split.json", parts,
                                 meta={"split": split, "seed": seed, "data": data.source})
    per_pair = per_rule[own_rule]
    extra = {
        "source": data.source,
        "split": split,
        "n_train_images": n_train_images,
        "n_val_images": n_val_images,
        "n_test_pairs": len(per_pair),
        "epochs": len(history.epochs),
        "best_epoch": history.best_epoch,
        "best_val_loss": history.best_value,
        "history": [dict(epoch) for epoch in history.epochs],
        "model": model_name,
        "fusion_rule": own_rule,
        "perceptual_weights": perceptual_weights,
    }
    methods = {rule: {"metrics": mean_scores(scores), "per_case": scores} for rule, scores in per_rule.items()}
    return record_fold_result(mean_scores(per_pair), case_ids=list(per_pair), methods=methods, extra=extra,
                              data=data.data_read([n for part in parts.values() for n in part]),
                              artifacts={"best.pt": history.best_path, "split.json": split_path})
