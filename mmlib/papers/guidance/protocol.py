"""One cross-validation fold of the guidance paper's experiments, as the fold chapters run it.

Every fold chapter of the glioma part (uni-modal RMCs and their ensemble,
Tables III-VI; the guidance-aided model, Table VII; the fusion baselines,
Table VIII) runs the same pipeline, written once here:

1. :func:`fold_split`: the paper's patient-level stratified k-fold (Sec. IV-C,
   3 folds), with a validation set carved from the training patients for
   choosing the epoch, never the test fold;
2. :func:`volume_loader`: MONAI loaders over :class:`~mmlib.data.glioma_dataset.GliomaVolumes`;
3. :func:`train_classifier`: the weighted cross-entropy of Eqs. 1-2, Adam, the
   epoch with the lowest validation loss kept (:func:`mmlib.train.loop.fit`);
   for the guidance-aided model, :func:`run_stage1` and :func:`run_stage2`
   (Algorithm 1), stage 1 cached per fold and settings (:func:`stage_dir`);
4. :func:`test_scores`: positive-class (HGG) probabilities on the test fold;
5. :func:`record_methods`: every method's metrics and scores on the same test
   cases in one :func:`mmlib.runs.record_fold_result` call, with the data read.

Hand-written glue around MONAI, scikit-learn and the shared layers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from mmlib import atomic
from mmlib.data.fold_sides import SIDES, FoldSides, fold_sides
from mmlib.data.glioma_dataset import GliomaVolumes, make_loader
from mmlib.data.phantoms.glioma import EFFECT_SIZES
from mmlib.errors import ParameterError
from mmlib.eval.metrics import binary_metrics
from mmlib.papers.guidance.modality_fusion import (AGGClassifier, DecisionFusionRMC, FeatureFusionRMC, PixelFusionRMC,
                                                   tumour_roi_batch)
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import load_kinetics_weights
from mmlib.papers.guidance.training import make_optimizer, train_stage1, train_stage2
from mmlib.runs import record_fold_result
from mmlib.train.checkpoint import load_checkpoint
from mmlib.train.classification import LogitsFn, class_weights, validation_fn, weighted_cross_entropy
from mmlib.train.loop import History, fit, predict

#: How the glioma phantoms of this part are drawn (:func:`mmlib.data.glioma_dataset.glioma_cases`).
PHANTOM_GENERATOR = "mmlib.data.phantoms.glioma_phantoms (task='grade', difficulty=0.5)"


class FoldSplit(FoldSides):
    """One fold's cases (:class:`mmlib.data.fold_sides.FoldSides`), with the glioma grades."""

    def labels(self, side: str) -> list[int]:
        """The labels (1 = HGG) of one side."""
        return [int(self.by_id[i]["label"]) for i in self.ids(side)]

    def counts(self) -> pd.DataFrame:
        """Cases, HGG and LGG per side (one row per side)."""
        return pd.DataFrame({side: {"cases": len(self.sides[side]), "HGG": sum(self.labels(side)),
                                    "LGG": len(self.sides[side]) - sum(self.labels(side))} for side in SIDES}).T


def fold_split(cases: Sequence[dict], fold: int, n_folds: int, seed: int, val_fraction: float = 0.25) -> FoldSplit:
    """Fold ``fold`` of a patient-level stratified ``n_folds``-fold split, with a validation part.

    The sides and the errors are :func:`mmlib.data.fold_sides.fold_sides`'s (a
    side without both grades raises :class:`~mmlib.errors.ParameterError`). The
    same ``seed`` gives the same split in every chapter, so their test cases can
    be compared case by case.
    """
    return FoldSplit(fold, *fold_sides(cases, fold, n_folds, seed, val_fraction))


def volume_loader(split: FoldSplit, side: str, modalities: Sequence[str], *, batch_size: int, seed: int,
                  spatial_size: Sequence[int] | None = None, fit: str = "crop", augment: str = "paper",
                  with_seg: bool = False, evaluate: bool = False) -> torch.utils.data.DataLoader:
    """A loader over one side's volumes; the training side is shuffled and augmented (``augment``), the others
    are not. ``evaluate=True`` reads the training side as the test side is read (the fit check).
    ``fit`` and ``spatial_size`` are :class:`~mmlib.data.glioma_dataset.GliomaVolumes`' (``"lesion"``: a box
    around the tumour)."""
    train = side == "train" and not evaluate
    volumes = GliomaVolumes(split.cases(side), modalities=tuple(modalities), train=train, spatial_size=spatial_size,
                            fit=fit, augment=augment, with_seg=with_seg, seed=seed)
    return make_loader(volumes, batch_size=batch_size, shuffle=train, seed=seed)


def sample_volumes(cases: Sequence[dict], modalities: Sequence[str], grid: Sequence[int], fit: str,
                   seed: int) -> GliomaVolumes:
    """Real scans prepared like the volumes a model was trained on: the same lesion box (``fit="lesion"``,
    when every case has a mask), else the whole volume resized to the training ``grid``."""
    lesion = fit == "lesion" and all(case.get("seg") is not None for case in cases)
    return GliomaVolumes(cases, modalities=tuple(modalities), train=False, spatial_size=tuple(grid),
                         fit="lesion" if lesion else "resize", seed=seed)


def modality_logits(modality: str) -> LogitsFn:
    """``logits_fn`` of a one-modality network (an RMC on ``batch[modality]``)."""
    def logits(model: nn.Module, batch: Mapping[str, Any], device) -> torch.Tensor:
        return model(batch[modality].to(device))

    return logits


def modalities_logits(modalities: Sequence[str]) -> LogitsFn:
    """``logits_fn`` of a network that takes ``{modality: volume}`` (the fusion baselines)."""
    def logits(model: nn.Module, batch: Mapping[str, Any], device) -> torch.Tensor:
        return model({m: batch[m].to(device) for m in modalities})

    return logits


#: The Table VIII baselines :func:`build_baseline` knows, in the order the chapter trains them.
BASELINES = ("pixel", "feature", "decision", "agg")


def build_baseline(method: str, modalities: Sequence[str], *, width: float, decision_hidden: int,
                   agg_roi_size: Sequence[int], agg_channels: Sequence[int], kinetics_weights: str | None = None,
                   seed: int = 0) -> nn.Module:
    """One Table VIII baseline (Sec. IV-F), initialised from ``seed``; Kinetics weights into each of its RMCs.

    ``"pixel"``, ``"feature"``, ``"decision"``: fusion on the RMC backbone;
    ``"agg"``: the 3D CNN on tumour boxes (:class:`~mmlib.papers.guidance.modality_fusion.AGGClassifier`).
    """
    if method not in BASELINES:
        raise ParameterError(f"method={method!r} must be one of {list(BASELINES)}")
    torch.manual_seed(seed)  # the same initialisation stream for every method
    if method == "pixel":
        net = PixelFusionRMC(modalities, width=width, dropout=0.5)
        rmcs = [net.rmc]
    elif method == "feature":
        net = FeatureFusionRMC(modalities, width=width, dropout=0.5)
        rmcs = list(net.extractors.values())
    elif method == "decision":
        net = DecisionFusionRMC(modalities, width=width, dropout=0.5, hidden=decision_hidden)
        rmcs = list(net.classifiers.values())
    else:
        net = AGGClassifier(len(modalities), roi_size=tuple(agg_roi_size), channels=tuple(agg_channels), dropout=0.5)
        rmcs = []
    if kinetics_weights is not None:
        for rmc in rmcs:
            load_kinetics_weights(rmc, kinetics_weights)
    return net


def baseline_budget(method: str, *, max_epochs: int, precision: str, agg_epochs: int | None = None,
                    agg_precision: str | None = None) -> dict[str, object]:
    """The epochs and precision one Table VIII baseline trains with: the shared ones, or AGG's own.

    AGG may differ on both, for measured reasons (book/guidance/table-viii.md):
    with bf16 autocast on the CPU, oneDNN's backward of its strided 3D
    convolutions on the small tumour box is not deterministic, and now and then
    writes a non-finite gradient (the run stops with "training diverged"), so
    ``agg_precision="fp32"`` trains it in fp32; and it learns more slowly than
    the RMC-based fusions, so ``agg_epochs`` can give it a longer schedule,
    chosen on the development draw. ``None`` keeps the shared value.
    """
    if method not in BASELINES:
        raise ParameterError(f"method={method!r} must be one of {list(BASELINES)}")
    if method == "agg":
        return {"max_epochs": max_epochs if agg_epochs is None else int(agg_epochs),
                "precision": precision if agg_precision is None else agg_precision}
    return {"max_epochs": max_epochs, "precision": precision}


def baseline_logits(method: str, modalities: Sequence[str], agg_roi_size: Sequence[int], agg_margin: int) -> LogitsFn:
    """``logits_fn`` of a :func:`build_baseline` network: every modality, or AGG's tumour boxes cut around the mask."""
    if method != "agg":
        return modalities_logits(modalities)

    def logits(model, batch, device):
        return model(tumour_roi_batch(batch, modalities, tuple(agg_roi_size), margin=agg_margin).to(device))

    return logits


#: How the epoch a network keeps is chosen: the lowest validation loss, or the last of a fixed schedule.
EPOCH_CHOICES = ("val_loss", "last")


def _selection(epoch_choice: str) -> dict:
    """``fit``'s model-selection arguments for an :data:`EPOCH_CHOICES` entry."""
    if epoch_choice not in EPOCH_CHOICES:
        raise ParameterError(f"epoch_choice={epoch_choice!r} must be one of {list(EPOCH_CHOICES)}")
    return {"select_on": "loss", "select_mode": "min"} if epoch_choice == "val_loss" else {"select_on": None}


def _keep(history: History, module: nn.Module, device) -> None:
    """Load the chosen epoch's weights into ``module`` (with ``"last"`` it already holds them)."""
    if history.best_path is not None:
        load_checkpoint(history.best_path, model=module, map_location=device)


def train_classifier(net: nn.Module, train_loader, val_loader, *, logits_fn: LogitsFn, counts: Sequence[int],
                     max_epochs: int, lr: float, weight_decay: float, device, precision: str, seed: int,
                     checkpoint_path: str | Path, desc: str, epoch_choice: str = "val_loss") -> History:
    """Train ``net`` with the weighted cross-entropy (Eqs. 1-2) and Adam; keep the chosen epoch.

    ``counts`` are the training fold's class counts. After every epoch the
    validation loss (the same weighted loss) and AUC are logged
    (:func:`mmlib.train.classification.validation_fn`). ``epoch_choice="val_loss"``
    loads the weights of the epoch with the lowest validation loss (the paper's
    practice); ``"last"`` keeps the last epoch of the fixed schedule (with a dozen
    validation cases the lowest loss is mostly noise). One progress bar per network.
    """
    criterion = weighted_cross_entropy(counts).to(device)

    def loss_fn(model, batch, device):
        return criterion(logits_fn(model, batch, device), batch["label"].to(device))

    val_fn = validation_fn(val_loader, logits_fn, weight=criterion.weight, device=device, precision=precision)
    history = _fit_with_bar(lambda on_epoch_end: fit(
        net, train_loader, loss_fn=loss_fn, optimizer=make_optimizer(net.parameters(), lr, weight_decay),
        max_epochs=max_epochs, device=device, precision=precision, val_fn=val_fn, **_selection(epoch_choice),
        checkpoint_path=checkpoint_path, seed=seed, progress=False, on_epoch_end=on_epoch_end), max_epochs, desc)
    _keep(history, net, device)
    return history


def _fit_with_bar(train, max_epochs: int, desc: str) -> History:
    """Run ``train(on_epoch_end=...)`` under one progress bar over its epochs."""
    with tqdm(total=max_epochs, desc=desc, mininterval=5.0) as bar:
        return train(on_epoch_end=lambda record: bar.update(1))


def fused_logits(model: GuidanceModel, batch: Mapping[str, Any], device) -> torch.Tensor:
    """``logits_fn`` of the guidance-aided model's prediction, G(t_M)."""
    return model({m: batch[m].to(device) for m in model.modalities})["fused"]


def stage_dir(root: str | Path, stage: str, settings: Mapping[str, Any], fold: int) -> tuple[Path, bool]:
    """``(folder, reused)``: where a training stage of ``fold`` keeps its checkpoints, keyed by its settings.

    Runs with equal settings share the folder, so the 8 subsets of Table VII
    train stage 1 (which does not depend on the subset) once per fold; the
    settings are written beside the checkpoints. ``reused`` says whether a
    finished checkpoint was already there.
    """
    folder = Path(root) / f"{stage}-{settings_key(settings)}" / f"fold-{fold}"
    reused = (folder / "last.pt").is_file()
    atomic.write_json(folder / "settings.json", json.loads(json.dumps({**settings, "fold": fold}, default=str)))
    return folder, reused


def run_stage1(model: GuidanceModel, train_loader, val_loader, *, counts: Sequence[int], max_epochs: int, lr: float,
               weight_decay: float, device, precision: str, seed: int, checkpoint_path: str | Path,
               epoch_choice: str = "val_loss") -> History:
    """Algorithm 1 lines 1-6 (:func:`~mmlib.papers.guidance.training.train_stage1`), keeping the chosen epoch
    (:func:`train_classifier`'s ``epoch_choice``) in ``model.primary``."""
    val_fn = validation_fn(val_loader, modality_logits(model.primary_name), weight=class_weights(counts),
                           device=device, precision=precision)
    history = _fit_with_bar(lambda on_epoch_end: train_stage1(
        model, train_loader, counts=counts, max_epochs=max_epochs, lr=lr, weight_decay=weight_decay, device=device,
        precision=precision, val_fn=val_fn, **_selection(epoch_choice), checkpoint_path=checkpoint_path,
        seed=seed, progress=False, on_epoch_end=on_epoch_end), max_epochs, f"stage 1 ({model.primary_name})")
    _keep(history, model.primary, device)
    return history


def run_stage2(model: GuidanceModel, train_loader, val_loader, *, counts: Sequence[int], max_epochs: int,
               train_primary: bool, lr: float, weight_decay: float, device, precision: str, seed: int,
               checkpoint_path: str | Path, epoch_choice: str = "val_loss") -> History:
    """Algorithm 1 lines 7-22 (:func:`~mmlib.papers.guidance.training.train_stage2`), keeping the chosen epoch
    (the validation loss is G(t_M)'s) in ``model``."""
    val_fn = validation_fn(val_loader, fused_logits, weight=class_weights(counts), device=device, precision=precision)
    history = _fit_with_bar(lambda on_epoch_end: train_stage2(
        model, train_loader, counts=counts, max_epochs=max_epochs, train_primary=train_primary, lr=lr,
        weight_decay=weight_decay, device=device, precision=precision, val_fn=val_fn, **_selection(epoch_choice),
        checkpoint_path=checkpoint_path, seed=seed, progress=False, on_epoch_end=on_epoch_end),
        max_epochs, "stage 2 (" + "+".join(model.modalities) + ")")
    _keep(history, model, device)
    return history


def epochs_record(history: History | None) -> dict | None:
    """``{"best_epoch", "epochs"}`` of a training run for the fold record (``None`` for a stage that did not run)."""
    return None if history is None else {"best_epoch": history.best_epoch or len(history.epochs),
                                         "epochs": len(history.epochs)}


def training_summary(histories: Mapping[str, History]) -> pd.DataFrame:
    """The epoch kept (lowest validation loss, or the last), its validation loss (when chosen on it), the last
    training loss and the seconds spent, one row per network."""
    return pd.DataFrame.from_dict({name: {"kept epoch": h.best_epoch or len(h.epochs), "best val loss": h.best_value,
                                          "last train loss": h.epochs[-1]["train_loss"],
                                          "seconds": sum(e["seconds"] for e in h.epochs)}
                                   for name, h in histories.items()}, orient="index")  # keeps the epoch an int


def test_scores(net: nn.Module, loader, probabilities: Callable[[nn.Module, Mapping[str, Any], Any], Mapping[str, torch.Tensor]],
                *, device, precision: str) -> dict[str, np.ndarray]:
    """Every HGG probability ``probabilities(net, batch, device)`` returns, plus ``label`` and ``case_id``, over ``loader``.

    ``probabilities`` gives ``{method: (B,) probabilities}`` for one batch, so
    one pass scores several heads or ensemble members on the same cases.
    """
    def forward(model, batch, device):
        return {**probabilities(model, batch, device), "label": batch["label"], "case_id": np.array(batch["case_id"])}

    return predict(net, loader, device=device, precision=precision, forward=forward)


def softmax_positive(logits_fn: LogitsFn, name: str):
    """``probabilities`` for :func:`test_scores`: ``{name: softmax(logits)[:, 1]}``."""
    def probabilities(model, batch, device):
        return {name: torch.softmax(logits_fn(model, batch, device).float(), dim=1)[:, 1]}

    return probabilities


def ensemble_probabilities(model, batch: Mapping[str, Any], device) -> dict[str, torch.Tensor]:
    """``probabilities`` for :func:`test_scores` of a :class:`~mmlib.papers.guidance.modality_fusion.ProbabilityEnsemble`.

    Each member's HGG probability (named by its modality) and the ensemble's
    (``"ensemble"``, the average; Tables III/IV, last row).
    """
    inputs = {m: batch[m].to(device) for m in model.modalities}
    members = {m: torch.softmax(model.members[m](inputs[m]).float(), dim=1)[:, 1] for m in model.modalities}
    return {**members, "ensemble": model(inputs)[:, 1].float()}


def method_metrics(y_true: Sequence[int], scores: Mapping[str, Sequence[float]], fold: int) -> dict[str, dict]:
    """:func:`mmlib.eval.metrics.binary_metrics` (threshold 0.5, the papers') of every method's scores."""
    return {m: binary_metrics(y_true, s, where=f"fold {fold}, {m}") for m, s in scores.items()}


def metrics_frame(per_method: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """AUC, accuracy, sensitivity and specificity (the paper's columns), one row per method."""
    return pd.DataFrame(per_method).T[["auc", "acc", "sensitivity", "specificity"]]


def cases_data(dataset: str, cases: Sequence[dict], *, n_cases: int, shape: Sequence[int], seed: int,
               modalities: Sequence[str], design: str = "shared-lesion") -> dict | list[str]:
    """What a fold read, for provenance: the phantom generator's settings, or the files of every case used."""
    if dataset == "glioma-phantoms":
        generator = PHANTOM_GENERATOR if design == "shared-lesion" else \
            f"mmlib.data.phantoms.glioma_phantoms (task='grade', design={design!r}, effect sizes {EFFECT_SIZES})"
        return {"dataset": dataset, "generator": generator, "n_cases": n_cases, "shape_xyz": list(shape),
                "seed": seed}
    return sorted(str(c[key]) for c in cases for key in (*modalities, "seg") if c.get(key) is not None)


def record_methods(final: str, split: FoldSplit, scores: Mapping[str, np.ndarray], *, data, extra: Mapping[str, Any],
                   methods: Sequence[str] | None = None) -> dict:
    """One fold record: ``final``'s metrics and scores at the top, every method's under ``extra["methods"]``.

    ``scores`` is the output of :func:`test_scores` (one array per method plus
    ``label`` and ``case_id``); ``methods`` (default: every score but those two)
    are the ones recorded. The side sizes join ``extra``.
    """
    y_true, case_ids = scores["label"], scores["case_id"]
    methods = list(methods) if methods is not None else [k for k in scores if k not in ("label", "case_id")]
    if final not in methods:
        raise ParameterError(f"final={final!r} is not among the methods {methods}")
    per_method = method_metrics(y_true, {m: scores[m] for m in methods}, split.fold)
    return record_fold_result(
        per_method[final], y_true=y_true, y_score=scores[final], case_ids=case_ids,
        methods={m: {"metrics": per_method[m], "y_score": scores[m]} for m in methods},
        extra={**extra, "n_cases": {side: len(ids) for side, ids in split.sides.items()}}, data=data)


def history_record(history: History) -> list[dict]:
    """The training curves of one network for the fold record: per epoch, training loss and the validation metrics."""
    keep = ("epoch", "train_loss", "val_loss", "val_auc")
    return [{k: float(e[k]) for k in keep if k in e} for e in history.epochs]


def training_auc(net: nn.Module, loader, probabilities, name: str, *, device, precision: str) -> float:
    """The AUC of ``net`` on its own training cases, read without augmentation: whether it fits its training set."""
    scores = test_scores(net, loader, probabilities, device=device, precision=precision)
    return float(binary_metrics(scores["label"], scores[name], where="training set")["auc"])


def truth_features(cases: Sequence[dict], modalities: Sequence[str]) -> np.ndarray:
    """The generator's own per-case parameters a classifier of ``modalities`` could at best recover.

    ``design="factors"`` phantoms: each modality's grade factor ``z_<modality>``. The
    shared-lesion design: every numeric generating parameter (size, shape,
    necrosis, edema, enhancement ...), which all modalities see.
    """
    rows = [case.get("phantom") for case in cases]
    if any(row is None for row in rows):
        raise ParameterError("truth_features needs phantom cases (the generator's parameters); real data has none")
    if all(f"z_{m}" in rows[0] for m in modalities):
        return np.array([[row[f"z_{m}"] for m in modalities] for row in rows], dtype=float)
    skip = {"case_id", "label", "class_name"}
    names = [k for k, v in rows[0].items() if k not in skip and isinstance(v, (int, float, np.number))]
    return np.array([[row[k] for k in names] for row in rows], dtype=float)


def mask_intensity_features(cases: Sequence[dict], modalities: Sequence[str], lower: float = 0.5,
                            upper: float = 99.5) -> np.ndarray:
    """Per modality, the mean rescaled intensity inside each BraTS label (1 core, 2 edema, 4 enhancing rim).

    The rescale is the preprocessing's (0.5-99.5 percentiles of the volume to
    [0, 1]); a label a case lacks gives 0. A simple reader of what the images
    show inside the mask: the measured reference beside the CNNs.
    """
    rows = []
    for case in cases:
        mask = np.asarray(case["seg"])
        row = []
        for m in modalities:
            volume = np.asarray(case[m], dtype=np.float32)
            lo, hi = np.percentile(volume, [lower, upper])
            scaled = np.clip((volume - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
            row += [float(scaled[mask == k].mean()) if np.any(mask == k) else 0.0 for k in (1, 2, 4)]
        rows.append(row)
    return np.array(rows)


def ceiling_scores(split: FoldSplit, modalities: Sequence[str], seed: int = 0) -> dict[str, np.ndarray]:
    """Test-fold HGG probabilities of the two measured references, fitted on the training side only.

    ``"ceiling: generator truth"``: logistic regression on :func:`truth_features`
    (phantoms only); ``"reference: mask intensities"``: logistic regression on
    :func:`mask_intensity_features` (any data with masks). Standardised, class-balanced,
    scikit-learn. In the test side's order, so they join the fold record as methods.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit_predict(features):
        model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000,
                                                                   random_state=seed))
        model.fit(features(split.cases("train"), modalities), split.labels("train"))
        return model.predict_proba(features(split.cases("test"), modalities))[:, 1]

    out = {}
    if all(case.get("phantom") is not None for case in split.cases("test")):
        out["ceiling: generator truth"] = fit_predict(truth_features)
    if all(case.get("seg") is not None for case in split.cases("test")):
        out["reference: mask intensities"] = fit_predict(mask_intensity_features)
    return out


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short hash of training settings: checkpoints trained with equal settings share a folder."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
