"""One cross-validation fold of M3, as the fold chapter runs it (both tasks, every table).

M3 (Kong et al. 2024, Sec. 2.2-2.6) per fold and modality: train a segmentation
network on the training patients' lesion masks, extract mask-attention,
multi-scale features (Eq. 1) from every patient, then classify with PCA + SVM,
per modality and on the modalities' features concatenated. Written once here:

1. :func:`fold_split`: the paper's 5-fold cross-validation, patient-level and
   stratified, with a validation part carved from the training patients (it
   chooses the segmentation epoch; the classifiers use every training patient);
2. :func:`train_modality`: one :class:`~mmlib.papers.m3.medicalnet.MedicalNetSegmentation`
   per modality (:func:`mmlib.papers.m3.training.train_segmentation`), its
   checkpoints kept in a folder keyed by the training settings
   (:func:`network_dir`), so a rerun with other heads or pooling reuses it;
3. :func:`modality_features`: every feature variant of every patient
   (:mod:`mmlib.papers.m3.features`), cached beside the network per pooling;
4. :func:`classify`: the SVM on every variant, per modality and multimodal
   (Tables 3-6), and RF / GBM / MLP on M3's multimodal features (Table 7);
   :func:`ceiling_scores`: the phantom ceiling on the same folds;
   :func:`train_direct_cnn`: Table 7's Direct CNN;
5. :func:`record`: every method's test probabilities, the segmentation Dice and
   the training curves in one :func:`mmlib.runs.record_fold_result` call.

Methods are named ``"<variant>/<head>/<modality>"`` (:func:`method_name`), e.g.
``"m3/svm/multimodal"`` (the chapter's final model), ``"deep/svm/t1ce"``,
``"m3/rf/multimodal"``; plus ``"direct-cnn/multimodal"`` and ``"ceiling"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlib import atomic
from mmlib.config import data_root as resolve_data_root
from mmlib.config import shown_path
from mmlib.data.brats import discover_brats
from mmlib.data.io import sha256_file
from mmlib.data.fold_sides import SIDES, FoldSides, fold_sides
from mmlib.errors import DataError, ParameterError
from mmlib.eval.metrics import binary_metrics
from mmlib.papers.m3 import features as feats
from mmlib.papers.m3.cohorts import Cohort, Task
from mmlib.papers.m3.heads import HEADS, PCA_VARIANCE, concatenated, fit_predict
from mmlib.papers.m3.medicalnet import MedicalNetSegmentation, load_medicalnet_weights
from mmlib.papers.m3.training import (DirectCNN, dice_per_case, direct_cnn_logits, direct_cnn_step,
                                      train_segmentation)
from mmlib.papers.m3.volumes import M3Volumes, make_loader
from mmlib.runs import record_fold_result
from mmlib.train.checkpoint import load_checkpoint
from mmlib.train.classification import class_counts, class_weights, validation_fn
from mmlib.train.loop import History, fit, predict

#: The chapter's final model: M3's features of every modality, PCA + SVM.
PRIMARY = "m3/svm/multimodal"
MULTIMODAL = "multimodal"
DIRECT_CNN = "direct-cnn/multimodal"
CEILING = "ceiling"


def method_name(variant: str, head: str, modality: str) -> str:
    """``"<variant>/<head>/<modality>"``, e.g. ``"m3/svm/t1ce"``."""
    return f"{variant}/{head}/{modality}"


def parse_method(name: str) -> tuple[str, str, str]:
    """``(variant, head, modality)`` of a :func:`method_name` (``direct-cnn`` and ``ceiling`` included)."""
    if name == CEILING:
        return CEILING, "logistic", "parameters"
    if name == DIRECT_CNN:
        return "direct-cnn", "cnn", MULTIMODAL
    parts = name.split("/")
    if len(parts) != 3:
        raise ParameterError(f"{name!r} is not a method name '<variant>/<head>/<modality>'")
    return parts[0], parts[1], parts[2]


class FoldSplit(FoldSides):
    """One fold's cases (:class:`mmlib.data.fold_sides.FoldSides`; the classifier heads learn from its ``"fit"``
    side, every training-fold patient), with their labels as arrays."""

    def labels(self, side: str) -> np.ndarray:
        """The labels (0 or 1) of one side, as an int array."""
        return np.array([int(self.by_id[i]["label"]) for i in self.ids(side)], dtype=int)

    def counts(self, class_names: Sequence[str] = ("class 0", "class 1")) -> pd.DataFrame:
        """Cases per class and side (one row per side)."""
        return pd.DataFrame({side: {"cases": len(self.sides[side]), class_names[0]: int((self.labels(side) == 0).sum()),
                                    class_names[1]: int(self.labels(side).sum())} for side in SIDES}).T


def fold_split(cases: Sequence[dict], fold: int, n_folds: int, seed: int, val_fraction: float = 0.2) -> FoldSplit:
    """Fold ``fold`` of a patient-level stratified ``n_folds``-fold split (Sec. 2.6: 5 folds), with a validation part.

    The sides and the errors are :func:`mmlib.data.fold_sides.fold_sides`'s; the
    validation side only picks the segmentation epoch. The same ``seed`` gives the
    same folds in every run.
    """
    return FoldSplit(fold, *fold_sides(cases, fold, n_folds, seed, val_fraction))


def volume_loader(split: FoldSplit, side: str, task: Task, modalities: Sequence[str], *, batch_size: int, seed: int,
                  augment: str = "none", spatial_size: Sequence[int] | None = None, fit_mode: str = "crop",
                  shuffle: bool | None = None) -> torch.utils.data.DataLoader:
    """A loader over one side's volumes and lesion masks; only the ``"train"`` side is shuffled and augmented."""
    train = side == "train"
    volumes = M3Volumes(split.cases(side), modalities=modalities, foreground=task.foreground, train=train,
                        augment=augment, spatial_size=spatial_size, fit=fit_mode, seed=seed)
    return make_loader(volumes, batch_size=batch_size, shuffle=train if shuffle is None else shuffle, seed=seed)


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short hash of training settings: networks trained with equal settings share a folder."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def network_dir(root: str | os.PathLike, settings: Mapping[str, Any], fold: int, name: str) -> Path:
    """Where fold ``fold``'s network ``name`` (a modality, or ``"direct-cnn"``) keeps checkpoints and features.

    The folder is keyed by the settings (written beside the checkpoints), so
    runs with equal settings (same data, split, architecture and training)
    share one trained network per fold and modality.
    """
    folder = Path(root) / f"{name}-{settings_key(settings)}" / f"fold-{fold}"
    atomic.write_json(folder / "settings.json", json.loads(json.dumps({**settings, "fold": fold}, default=str)))
    return folder


@dataclass
class ModalityRun:
    """One modality's trained segmentation network and what it measured."""

    modality: str
    net: MedicalNetSegmentation
    history: History
    folder: Path
    reused: bool


def build_segmentation(width: float, seed: int, medicalnet_weights: str | None = None,
                       in_channels: int = 1) -> MedicalNetSegmentation:
    """A segmentation network initialised from ``seed``, or from MedicalNet's encoder weights (a local file)."""
    torch.manual_seed(seed)
    net = MedicalNetSegmentation(in_channels=in_channels, width=width)
    if medicalnet_weights is not None:
        load_medicalnet_weights(net, medicalnet_weights)
    return net


def train_modality(split: FoldSplit, task: Task, modality: str, *, root: str | os.PathLike, settings: Mapping[str, Any],
                   width: float, max_epochs: int, lr: float, weight_decay: float, batch_size: int, augment: str,
                   spatial_size, fit_mode: str, device, precision: str, seed: int,
                   medicalnet_weights: str | None = None) -> ModalityRun:
    """Train (or reload, when ``root`` holds it) modality ``modality``'s segmentation network on this fold.

    ``settings`` are everything the network depends on besides the fold and the
    modality (data, split seed, architecture, training); equal settings reuse the
    checkpoint (:func:`network_dir`). The best validation-loss epoch is loaded.
    """
    folder = network_dir(root, settings, split.fold, modality)
    reused = (folder / "last.pt").is_file()
    net = build_segmentation(width, seed, medicalnet_weights)
    loader = dict(batch_size=batch_size, seed=seed, spatial_size=spatial_size, fit_mode=fit_mode)
    history = train_segmentation(
        net, volume_loader(split, "train", task, (modality,), augment=augment, **loader),
        volume_loader(split, "validation", task, (modality,), **loader), modality, max_epochs=max_epochs, lr=lr,
        weight_decay=weight_decay, device=device, precision=precision, seed=seed, checkpoint_path=folder / "last.pt")
    return ModalityRun(modality, net, history, folder, reused)


def curves(history: History) -> dict[str, list[float]]:
    """Per-epoch training curves of a run, for the fold record (``train_*`` / ``val_*`` columns, seconds)."""
    frame = history.to_frame()
    keep = [c for c in frame.columns if c.startswith(("train_", "val_")) or c == "seconds"]
    return {c: [round(float(v), 6) for v in frame[c]] for c in keep}


def modality_dice(run: ModalityRun, split: FoldSplit, task: Task, *, batch_size: int, spatial_size, fit_mode: str,
                  device, precision: str, seed: int) -> dict[str, dict[str, float]]:
    """Hard Dice (p >= 0.5) of the lesion per case, on the training patients (fit) and the test fold."""
    loader = dict(batch_size=batch_size, seed=seed, spatial_size=spatial_size, fit_mode=fit_mode, shuffle=False)
    return {side: dice_per_case(run.net, volume_loader(split, side, task, (run.modality,), **loader), run.modality,
                                device=device, precision=precision) for side in ("train", "test")}


def modality_features(run: ModalityRun, split: FoldSplit, task: Task, *, pooling: str, batch_size: int,
                      spatial_size, fit_mode: str, device, precision: str, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Every variant's features of the training patients (``"fit"``) and the test fold, cached per pooling.

    Returns ``{"fit" | "test": {variant: (N, F), "case_id": (N,), "label": (N,)}}``,
    rows in :meth:`FoldSplit.ids` order. The cache (``features-<pooling>.npz``
    beside the checkpoint) is valid for the network it was extracted from.
    """
    cache = run.folder / f"features-{feats.check_pooling(pooling).replace('+', '-')}.npz"
    stamp = sha256_file(run.folder / "best.pt")
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["stamp"]) == stamp:
                return {side: {k[len(side) + 1:]: stored[k] for k in stored.files if k.startswith(side + ":")}
                        for side in ("fit", "test")}
    out = {}
    for side in ("fit", "test"):
        volumes = M3Volumes(split.cases(side), modalities=(run.modality,), foreground=task.foreground, train=False,
                            spatial_size=spatial_size, fit=fit_mode, with_seg=False, seed=seed)
        out[side] = feats.extract(run.net, make_loader(volumes, batch_size=batch_size), run.modality, device=device,
                                  pooling=pooling, precision=precision)
        out[side]["case_id"] = out[side]["case_id"].astype(str)
        if list(out[side]["case_id"]) != split.ids(side):
            raise DataError(f"fold {split.fold}", "feature rows are not in the split's case order")
    arrays = {f"{side}:{k}": v for side, values in out.items() for k, v in values.items()}
    with atomic.atomic_path(cache) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, stamp=stamp, **arrays)
    return out


def classify(features: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]], split: FoldSplit,
             modalities: Sequence[str], *, variants: Sequence[str] = tuple(feats.VARIANTS),
             swap_heads: Sequence[str] = HEADS[1:], seed: int = 0,
             pca_variance: Sequence[float] = PCA_VARIANCE) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Every classifier's test probabilities: ``({method: (N_test,)}, {method: what PCA chose})``.

    ``features`` is ``{modality: modality_features(...)}``. The SVM runs on every
    variant, per modality and on the concatenation of ``modalities``
    (Tables 3-6); the ``swap_heads`` (RF, GBM, MLP) on M3's multimodal features
    (Table 7). Heads are fitted on every training-fold patient.
    """
    y_fit = split.labels("fit")
    scores, chosen = {}, {}
    for variant in variants:
        per = {m: (features[m]["fit"][variant], features[m]["test"][variant]) for m in modalities}
        groups = {m: per[m] for m in modalities}
        if len(modalities) > 1:
            groups[MULTIMODAL] = (concatenated({m: per[m][0] for m in modalities}, modalities),
                                  concatenated({m: per[m][1] for m in modalities}, modalities))
        for group, (x_fit, x_test) in groups.items():
            heads = ["svm", *(swap_heads if variant == "m3" and group == MULTIMODAL else ())]
            for head in heads:
                name = method_name(variant, head, group)
                scores[name], chosen[name] = fit_predict(head, x_fit, y_fit, x_test, seed=seed,
                                                         pca_variance=pca_variance, where=f"fold {split.fold}, {name}")
    return scores, chosen


def ceiling_scores(cohort: Cohort, split: FoldSplit, C: float = 1.0) -> np.ndarray:
    """The phantom ceiling: logistic regression on the generator's per-case parameters, same folds.

    Fitted on every training-fold patient, scored on the test fold: the AUC a
    classifier reaches when it reads the parameters that made each phantom,
    i.e. how much signal there is to recover.
    """
    if cohort.ceiling_features is None:
        raise ParameterError(f"{cohort.dataset} has no generating parameters: the ceiling is for phantoms only")
    x = cohort.ceiling_features
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    model.fit(x.loc[split.ids("fit")].to_numpy(), split.labels("fit"))
    return model.predict_proba(x.loc[split.ids("test")].to_numpy())[:, 1]


def train_direct_cnn(split: FoldSplit, task: Task, modalities: Sequence[str], *, root: str | os.PathLike,
                     settings: Mapping[str, Any], width: float, max_epochs: int, lr: float, weight_decay: float,
                     batch_size: int, augment: str, spatial_size, fit_mode: str, device, precision: str,
                     seed: int) -> tuple[DirectCNN, History, Path]:
    """Table 7's Direct CNN on this fold: every modality stacked, segmentation + classification end to end.

    The epoch with the lowest validation classification loss (the training
    fold's class weights) is kept. Returns the network, its history and its folder.
    """
    folder = network_dir(root, settings, split.fold, "direct-cnn")
    torch.manual_seed(seed)
    net = DirectCNN(len(modalities), width=width)
    loader = dict(batch_size=batch_size, seed=seed, spatial_size=spatial_size, fit_mode=fit_mode)
    counts = class_counts(split.labels("train"))
    val_fn = validation_fn(volume_loader(split, "validation", task, modalities, **loader), direct_cnn_logits(modalities),
                           weight=class_weights(counts), device=device, precision=precision)
    history = fit(net, volume_loader(split, "train", task, modalities, augment=augment, **loader),
                  loss_fn=direct_cnn_step(modalities, counts),
                  optimizer=torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay),
                  max_epochs=max_epochs, device=device, precision=precision, val_fn=val_fn, select_on="loss",
                  select_mode="min", checkpoint_path=folder / "last.pt", seed=seed, progress=False)
    load_checkpoint(history.best_path, model=net, map_location=device)
    return net, history, folder


def direct_cnn_scores(net: DirectCNN, split: FoldSplit, task: Task, modalities: Sequence[str], side: str, *,
                      batch_size: int, spatial_size, fit_mode: str, device, precision: str,
                      seed: int) -> dict[str, np.ndarray]:
    """The Direct CNN's class-1 probabilities on one side (``"fit"`` for its training fit, or ``"test"``)."""
    volumes = M3Volumes(split.cases(side), modalities=modalities, foreground=task.foreground, train=False,
                        spatial_size=spatial_size, fit=fit_mode, with_seg=False, seed=seed)
    logits = direct_cnn_logits(modalities)

    def forward(model, batch, device):
        return {"p": torch.softmax(logits(model, batch, device).float(), dim=1)[:, 1], "label": batch["label"],
                "case_id": np.array(batch["case_id"])}

    return predict(net, make_loader(volumes, batch_size=batch_size), device=device, precision=precision,
                   forward=forward)


def method_metrics(y_true: Sequence[int], scores: Mapping[str, Sequence[float]], fold: int) -> dict[str, dict]:
    """:func:`mmlib.eval.metrics.binary_metrics` (threshold 0.5) of every method's test probabilities."""
    return {m: binary_metrics(y_true, s, where=f"fold {fold}, {m}") for m, s in scores.items()}


def ordered(methods) -> list[str]:
    """Methods in the tables' order: M3's SVM rows, the ablations' SVM rows, the other heads, Direct CNN, ceiling."""
    variants = list(feats.VARIANTS)

    def key(name: str):
        variant, head, modality = parse_method(name)
        return (name == CEILING, name == DIRECT_CNN, head != "svm",
                variants.index(variant) if variant in variants else len(variants), modality == MULTIMODAL)

    return sorted(methods, key=key)


def metrics_frame(per_method: Mapping[str, Mapping[str, float]], methods: Sequence[str] | None = None) -> pd.DataFrame:
    """F1, ACC (the paper's Tables 3-7) and AUC (its Figures 4, 6, 7), one row per method."""
    frame = pd.DataFrame(per_method).T[["f1", "acc", "auc"]]
    return frame.loc[list(methods)] if methods is not None else frame


def dice_table(dice: Mapping[str, Mapping[str, Mapping[str, float]]]) -> pd.DataFrame:
    """Mean Dice on the training patients and the test fold, one row per modality."""
    return pd.DataFrame({m: {f"{side} Dice (mean)": float(np.mean(list(v.values()))) for side, v in sides.items()}
                         | {f"{side} cases": len(v) for side, v in sides.items()}
                         for m, sides in dice.items()}).T


def record(split: FoldSplit, scores: Mapping[str, np.ndarray], *, data, extra: Mapping[str, Any],
           final: str = PRIMARY) -> dict:
    """One fold record: ``final``'s metrics and probabilities at the top, every method under ``extra["methods"]``.

    ``scores`` maps methods to the test fold's class-1 probabilities, in
    :meth:`FoldSplit.ids` ``("test")`` order. The side sizes join ``extra``.
    """
    if final not in scores:
        raise ParameterError(f"final={final!r} is not among the methods {sorted(scores)}")
    y_true = split.labels("test")
    per_method = method_metrics(y_true, scores, split.fold)
    return record_fold_result(
        per_method[final], y_true=y_true, y_score=scores[final], case_ids=split.ids("test"),
        methods={m: {"metrics": per_method[m], "y_score": np.asarray(s, dtype=float)} for m, s in scores.items()},
        extra={**extra, "n_cases": {side: len(ids) for side, ids in split.sides.items()}}, data=data)


#: Labels of the brats-samples cases this part can run (the glioma-vs-metastasis task), as M3's classes.
SAMPLE_CLASSES = {"glioma": 0, "metastasis": 1}


def sample_cases(data_root: str | os.PathLike | None = None, dataset: str = "brats-samples") -> tuple[list[dict], str]:
    """The glioma and metastasis scans of the real BraTS sample folder (no masks), for a smoke run.

    Returns ``(cases, note)``; ``([], why)`` when the folder is absent (the
    repository's ``data/`` holds only its manifest). Modalities under the
    canonical keys ``t1ce``, ``t2``, ``flair``; ``label`` 0 glioma, 1 metastasis.
    """
    folder = resolve_data_root(data_root) / dataset
    if not (folder / "MANIFEST.csv").is_file():
        return [], f"no {dataset} scans under {shown_path(folder)}: the smoke run is skipped"
    cases = [{"case_id": c.case_id, "label": SAMPLE_CLASSES[c.label], "class_name": c.label,
              **{m: str(p) for m, p in c.modalities.items()}, "seg": None}
             for c in discover_brats(folder) if c.label in SAMPLE_CLASSES]
    names = ", ".join(f"{c['case_id']} ({c['class_name']})" for c in cases)
    return cases, f"{len(cases)} real scan(s) from {shown_path(folder)} without a lesion mask: {names}"


def model_grid(split: FoldSplit, modality: str, *, spatial_size=None, fit_mode: str = "crop") -> tuple[int, int, int]:
    """The ``(D, H, W)`` grid the fold's networks see: ``spatial_size``, or the first test case's own grid."""
    if spatial_size is not None:
        return tuple(int(s) for s in spatial_size)
    volumes = M3Volumes(split.cases("test")[:1], modalities=(modality,), foreground=(1,), train=False,
                        spatial_size=None, fit=fit_mode, with_seg=False)
    return tuple(int(s) for s in volumes[0][modality].shape[1:])


def sample_outputs(runs: Mapping[str, ModalityRun], cases: Sequence[dict], *, grid: Sequence[int], pooling: str,
                   device) -> dict[str, dict[str, np.ndarray]]:
    """Each modality's lesion probability map and M3 features of the sample scans, resized to ``grid``.

    Returns ``{modality: {"image": (N, D, H, W), "probability": (N, d, h, w), "m3": (N, F)}}``.
    """
    out = {}
    for modality, run in runs.items():
        volumes = M3Volumes(cases, modalities=(modality,), foreground=(1,), train=False, spatial_size=tuple(grid),
                            fit="resize", with_seg=False)

        def forward(model, batch, device, modality=modality):
            outputs = model(batch[modality].to(device))
            return {"image": batch[modality][:, 0], "probability": feats.lesion_probability(outputs["logits"])[:, 0],
                    "m3": feats.pooled_features(outputs, pooling, ("m3",))["m3"]}

        out[modality] = predict(run.net, make_loader(volumes), device=device, forward=forward)
    return out
