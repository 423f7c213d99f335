"""One repetition of MASAN's 7:3 split, as the fold chapters run it.

The paper evaluates on "70 % of the data ... as the training set, and the
remaining 30 %" and reports mean ± std over "10 experiments" (Sec. 3.1, Table
2). This book reads that as ten independent stratified random 7:3 splits; in
the fold runner a "fold" ``k`` is repetition ``k`` (:func:`repeated_split`),
so ``--folds 0-9`` is the paper's protocol. Every chapter of the part runs the
same steps, written once here:

1. :func:`repeated_split`: repetition ``k`` of a stratified shuffle split
   (scikit-learn's :class:`~sklearn.model_selection.StratifiedShuffleSplit`),
   stratified on the finest labels available (NC / MCI / AD; ABIDE: site and
   diagnosis), refused when a class is absent from a side
   (:func:`check_split_classes`);
2. :func:`make_loader` over in-memory arrays;
3. :func:`fit_masan` (reconstruction pre-training, then Eq. 8) and
   :func:`fit_hfcn`, each followed by a BatchNorm recalibration on the
   training set, the last epoch kept (no validation set, as in the paper);
4. :func:`scores`: AD (positive-class) probabilities; the baselines that need
   no network (:func:`ceiling_scores`, :func:`pca_lr_scores`,
   :func:`connectome_scores`, :func:`site_scores`) on the same split;
5. :func:`record_repetition`: every method's metrics and scores on the same
   test subjects, the training curves and the training-set fit in one
   :func:`mmlib.runs.record_fold_result` call.

Hand-written glue around scikit-learn, nilearn and the shared layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mmlib.errors import DataError, ParameterError
from mmlib.eval.metrics import binary_metrics
from mmlib.papers.masan import training
from mmlib.runs import record_fold_result
from mmlib.train.loop import History

#: The paper's test share (Sec. 3.1) and number of repetitions (Table 2).
PAPER_TEST_FRACTION, PAPER_REPETITIONS = 0.3, 10


@dataclass(frozen=True)
class Split:
    """Repetition ``repetition``: positions of the training and test subjects in the task's arrays."""

    repetition: int
    train: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size), "test": int(self.test.size)}


def repeated_split(strata: Sequence, repetition: int, *, test_fraction: float = PAPER_TEST_FRACTION,
                   seed: int = 0) -> Split:
    """Repetition ``repetition`` of a stratified random split with ``test_fraction`` of the subjects tested.

    ``strata`` gives each subject's stratum (its class, or site and class).
    Repetition ``k`` is the ``k``-th split of one
    :class:`~sklearn.model_selection.StratifiedShuffleSplit` stream seeded with
    ``seed``, so it does not depend on how many repetitions are run.
    """
    strata = np.asarray([str(s) for s in strata])
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction={test_fraction} must lie in (0, 1)")
    if not isinstance(repetition, (int, np.integer)) or repetition < 0:
        raise ParameterError(f"repetition={repetition!r} must be a non-negative integer")
    values, counts = np.unique(strata, return_counts=True)
    if counts.min() < 2:
        raise DataError("split", f"stratum {str(values[counts.argmin()])!r} has {counts.min()} subject(s); "
                                 "each needs at least 2 to appear on both sides")
    splitter = StratifiedShuffleSplit(n_splits=repetition + 1, test_size=test_fraction, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(np.zeros(len(strata)), strata)):
        if k == repetition:
            return Split(int(repetition), np.sort(train), np.sort(test))
    raise AssertionError("unreachable")


def check_split_classes(labels: Sequence[int], split: Split) -> dict[str, dict[int, int]]:
    """Class counts per side; :class:`DataError` naming the repetition when a side lacks a class."""
    labels = np.asarray(labels)
    counts = {}
    for side, index in (("train", split.train), ("test", split.test)):
        values, numbers = np.unique(labels[index], return_counts=True)
        counts[side] = {int(v): int(n) for v, n in zip(values, numbers)}
        if len(values) < 2:
            raise DataError(f"repetition {split.repetition}", f"the {side} side holds class(es) {sorted(counts[side])} "
                                                             "only: accuracy, precision and recall need both")
    return counts


class ArrayDataset(torch.utils.data.Dataset):
    """``{name: array[i], "label": labels[i], "case_id": ids[i]}`` for ``i`` in ``indices`` (arrays stay in memory)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], labels: Sequence[int], ids: Sequence[str],
                 indices: Sequence[int]):
        self.arrays, self.labels, self.ids = dict(arrays), np.asarray(labels), list(ids)
        self.indices = np.asarray(indices, dtype=int)
        for name, array in self.arrays.items():
            if len(array) != len(self.labels):
                raise ParameterError(f"array {name!r} has {len(array)} rows for {len(self.labels)} labels")

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, k: int) -> dict:
        i = self.indices[k]
        return {**{name: torch.from_numpy(np.ascontiguousarray(a[i])) for name, a in self.arrays.items()},
                "label": int(self.labels[i]), "case_id": str(self.ids[i])}


def make_loader(arrays: Mapping[str, np.ndarray], labels: Sequence[int], ids: Sequence[str], indices: Sequence[int], *,
                batch_size: int, shuffle: bool = False, seed: int = 0) -> torch.utils.data.DataLoader:
    """A loader over :class:`ArrayDataset`; shuffled loaders draw from their own seeded generator."""
    if batch_size < 1:
        raise ParameterError(f"batch_size={batch_size} must be >= 1")
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return torch.utils.data.DataLoader(ArrayDataset(arrays, labels, ids, indices), batch_size=batch_size,
                                       shuffle=shuffle, generator=generator, drop_last=shuffle and len(indices) > batch_size)


def _fit_kwargs(device, precision: str, seed: int, path: Path | None) -> dict:
    return {"device": device, "precision": precision, "seed": seed, "checkpoint_path": path, "progress": False}


def fit_masan(model: torch.nn.Module, train_loader, eval_loader, *, counts: Sequence[int], pretrain_epochs: int,
              max_epochs: int, lr: float, weight_decay: float = 0.0, sparsity: float = 0.0,
              alpha: float = training.PAPER_ALPHA, beta: float = training.PAPER_BETA, device="cpu",
              precision: str = "fp32", seed: int = 0, checkpoint_dir: str | Path | None = None,
              name: str = "masan", recalibrate: bool = True) -> dict[str, History]:
    """Pre-training (``pretrain_epochs``, skipped at 0), then joint training on Eq. 8; BatchNorm recalibrated.

    ``eval_loader`` is the training set without shuffling (for the
    recalibration, :func:`~mmlib.papers.masan.training.recalibrate_batch_norm`;
    ``recalibrate=False`` keeps the running statistics of training). Checkpoints go to ``checkpoint_dir/<name>-pretrain`` and
    ``<name>-joint`` when given, so a killed run resumes.
    """
    histories = {}
    path = (lambda stage: None) if checkpoint_dir is None else \
        (lambda stage: training.checkpoint_path(checkpoint_dir, f"{name}-{stage}"))
    if pretrain_epochs > 0:
        histories["pretrain"] = training.pretrain_autoencoders(
            model, train_loader, max_epochs=pretrain_epochs, lr=lr, sparsity=sparsity,
            **_fit_kwargs(device, precision, seed, path("pretrain")))
    histories["joint"] = training.train_joint(
        model, train_loader, counts=counts, max_epochs=max_epochs, lr=lr, weight_decay=weight_decay, alpha=alpha,
        beta=beta, sparsity=sparsity, **_fit_kwargs(device, precision, seed, path("joint")))
    if recalibrate:
        training.recalibrate_batch_norm(model, eval_loader, device=device, precision=precision)
    return histories


def fit_hfcn(model: torch.nn.Module, train_loader, eval_loader, *, counts: Sequence[int], max_epochs: int, lr: float,
             weight_decay: float = 0.0, device="cpu", precision: str = "fp32", seed: int = 0,
             checkpoint_dir: str | Path | None = None, name: str = "hfcn", recalibrate: bool = True) -> dict[str, History]:
    """H-FCN trained on its three-level BCE; BatchNorm recalibrated on ``eval_loader`` (unless ``recalibrate=False``)."""
    path = None if checkpoint_dir is None else training.checkpoint_path(checkpoint_dir, name)
    history = training.train_hfcn(model, train_loader, counts=counts, max_epochs=max_epochs, lr=lr,
                                  weight_decay=weight_decay, **_fit_kwargs(device, precision, seed, path))
    if recalibrate:
        training.recalibrate_batch_norm(model, eval_loader, device=device, precision=precision)
    return {"train": history}


def scores(model: torch.nn.Module, loader, *, device="cpu", precision: str = "fp32", maps: bool = False) -> dict:
    """AD probabilities (``"score"``), labels and, with ``maps``, MASAN's spatial fusion weights, over ``loader``."""
    return training.probabilities(model, loader, device=device, precision=precision, maps=maps)


def curves(histories: Mapping[str, History]) -> list[dict]:
    """Every epoch of every stage as JSON rows: ``stage``, ``epoch`` (running over stages), the loss terms, seconds."""
    rows, offset = [], 0
    for stage, history in histories.items():
        for record in history.epochs:
            rows.append({"stage": stage, "epoch": offset + int(record["epoch"]),
                         **{k: float(v) for k, v in record.items() if k.startswith("train_") or k == "seconds"}})
        offset += len(history.epochs)
    return rows


def _logistic(features: np.ndarray, labels: np.ndarray, split: Split, *, pca: int | None = None, C: float = 1.0):
    """Standardise, optional PCA, logistic regression: fitted on the training side; (train, test) AD probabilities."""
    steps = [StandardScaler()]
    if pca is not None:
        steps.append(PCA(n_components=min(pca, split.train.size - 1), random_state=0))
    model = make_pipeline(*steps, LogisticRegression(C=C, max_iter=5000, class_weight="balanced"))
    model.fit(features[split.train], labels[split.train])
    return model.predict_proba(features[split.train])[:, 1], model.predict_proba(features[split.test])[:, 1]


def ceiling_scores(parameters: np.ndarray, labels: Sequence[int], split: Split) -> tuple[np.ndarray, np.ndarray]:
    """The phantom ceiling: logistic regression on the generator's own per-subject parameters (same split).

    Class-balanced, as the networks' losses are. Returns (train, test) AD probabilities.
    """
    return _logistic(np.asarray(parameters, float), np.asarray(labels), split)


def pca_lr_scores(images: np.ndarray, labels: Sequence[int], split: Split, n_components: int = 20):
    """PCA + logistic regression on the pixels (the OASIS baseline); (train, test) probabilities."""
    return _logistic(np.asarray(images, float).reshape(len(images), -1), np.asarray(labels), split, pca=n_components)


def connectome_features(series: Sequence[np.ndarray], split: Split, kind: str) -> np.ndarray:
    """nilearn's :class:`~nilearn.connectome.ConnectivityMeasure` (``kind``), fitted on the training subjects only.

    Vectorised lower triangles without the diagonal; the tangent space's
    reference (the group mean) comes from the training side.
    """
    from nilearn.connectome import ConnectivityMeasure

    if kind not in ("correlation", "tangent", "partial correlation"):
        raise ParameterError(f"kind={kind!r} must be 'correlation', 'tangent' or 'partial correlation'")
    measure = ConnectivityMeasure(kind=kind, vectorize=True, discard_diagonal=True, standardize="zscore_sample")
    series = [np.asarray(s, float) for s in series]
    train = measure.fit_transform([series[i] for i in split.train])
    out = np.empty((len(series), train.shape[1]))
    out[split.train] = train
    out[split.test] = measure.transform([series[i] for i in split.test])
    return out


def connectome_scores(series: Sequence[np.ndarray], labels: Sequence[int], split: Split, kind: str, C: float = 0.05):
    """The field's connectome baseline: ConnectivityMeasure (``kind``) + logistic regression; (train, test) probabilities."""
    return _logistic(connectome_features(series, split, kind), np.asarray(labels), split, C=C)


def site_scores(sites: Sequence[str], labels: Sequence[int], split: Split):
    """Logistic regression on the acquisition site alone: how much the site says about the label (a confound check)."""
    onehot = OneHotEncoder(handle_unknown="ignore").fit_transform(np.asarray(sites).reshape(-1, 1)).toarray()
    labels = np.asarray(labels)
    model = LogisticRegression(class_weight="balanced").fit(onehot[split.train], labels[split.train])
    return model.predict_proba(onehot[split.train])[:, 1], model.predict_proba(onehot[split.test])[:, 1]


def method_metrics(y_true: Sequence[int], method_scores: Mapping[str, Sequence[float]], where: str) -> dict[str, dict]:
    """:func:`mmlib.eval.metrics.binary_metrics` (threshold 0.5, AD positive) of every method's scores."""
    return {m: binary_metrics(y_true, s, where=f"{where}, {m}") for m, s in method_scores.items()}


def metrics_frame(per_method: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Accuracy, precision and recall (Table 2's columns) and the AUC, one row per method."""
    return pd.DataFrame(per_method).T[["acc", "precision", "recall", "auc"]]


def fit_summary(train_metrics: Mapping[str, Mapping[str, float]], histories: Mapping[str, Mapping[str, History]]) -> pd.DataFrame:
    """Per method: epochs, seconds, last training loss, and accuracy / AUC on its own training subjects."""
    rows = {}
    for method, metrics in train_metrics.items():
        stages = histories.get(method, {})
        epochs = [e for h in stages.values() for e in h.epochs]
        rows[method] = {"epochs": len(epochs), "seconds": round(sum(e["seconds"] for e in epochs), 1),
                        "last train loss": epochs[-1]["train_loss"] if epochs else np.nan,
                        "train acc": metrics["acc"], "train AUC": metrics["auc"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def record_repetition(split: Split, y_test: Sequence[int], ids_test: Sequence[str], test_scores: Mapping[str, Sequence[float]],
                      *, final: str, train_metrics: Mapping[str, Mapping[str, float]] | None = None,
                      extra: Mapping[str, Any] | None = None, data: Any = None,
                      artifacts: Mapping[str, str | Path] | None = None) -> dict:
    """One repetition as the book's one results format: ``final``'s metrics on top, every method under ``methods``.

    ``extra`` gains the split sizes (``n_train``, ``n_test``: the corrected
    resampled t-test needs them) and each method's training-set metrics.
    """
    if final not in test_scores:
        raise ParameterError(f"final={final!r} is not among the methods {sorted(test_scores)}")
    per_method = method_metrics(y_test, test_scores, f"repetition {split.repetition}")
    extra = {**dict(extra or {}), "repetition": split.repetition, "n_train": split.sizes()["train"],
             "n_test": split.sizes()["test"], "train_metrics": dict(train_metrics or {})}
    return record_fold_result(per_method[final], y_true=np.asarray(y_test), y_score=np.asarray(test_scores[final]),
                              case_ids=list(ids_test),
                              methods={m: {"metrics": per_method[m], "y_score": np.asarray(s)} for m, s in test_scores.items()},
                              extra=extra, data=data, artifacts=artifacts)


#: The networks a paired fold chapter can train: MASAN with either fusion (Eq. 6 / Fig. 3) and H-FCN.
NETWORKS = ("masan", "masan-add", "hfcn")
#: How the recorded methods are named in the tables.
METHOD_ROWS = {"masan": "MASAN (attention fusion)", "masan-add": "MASAN, element-wise addition",
               "hfcn": "H-FCN", "ceiling": "ceiling: generator parameters", "ceiling-t1": "ceiling: T1 parameters only"}


def load_paired(dataset: str, *, data_root=None, manifest: str | None = None, n_cases: int, t1_shape, fmri_shape,
                n_timepoints: int, window: int, difficulty: float, grid=(4, 4, 4), phantom_seed: int = 0):
    """The paired cohort of a fold chapter: ``dataset="phantoms"`` or ``"manifest"`` (a user's CSV, ``manifest=``).

    A relative manifest path is read under ``data_root`` (:func:`mmlib.config.data_root`).
    For the manifest, ``t1_shape`` / ``fmri_shape`` resize the volumes (``None``: the files' own shapes).
    """
    from mmlib.config import data_root as resolve_root
    from mmlib.papers.masan.data import manifest_cohort, phantom_cohort

    if dataset == "phantoms":
        return phantom_cohort(n_cases=n_cases, t1_shape=t1_shape, fmri_shape=fmri_shape, n_timepoints=n_timepoints,
                              window=window, difficulty=difficulty, grid=grid, seed=phantom_seed)
    if dataset == "manifest":
        if not manifest:
            raise ParameterError("dataset='manifest' needs manifest=<CSV with subject, label, t1, fmri>")
        path = Path(manifest)
        path = path if path.is_absolute() else resolve_root(data_root) / path
        return manifest_cohort(path, window=window, grid=grid, t1_shape=t1_shape, fmri_shape=fmri_shape)
    raise ParameterError(f"dataset={dataset!r} must be 'phantoms' or 'manifest'")


def build_network(method: str, *, window: int, width: float, reading: str = "channels", hfcn_patch_size: int = 8,
                  hfcn_width: float = 0.25, grid=(4, 4, 4), classifier_norm: bool = True, seed: int = 0) -> torch.nn.Module:
    """One of :data:`NETWORKS`, initialised from ``seed`` (the same stream for every method).

    ``classifier_norm`` puts a BatchNorm in front of MASAN's MLP
    (:func:`~mmlib.papers.masan.model.mlp_classifier`).
    """
    from mmlib.papers.masan.autoencoders import scaled_channels
    from mmlib.papers.masan.hfcn import HFCN
    from mmlib.papers.masan.model import MASAN

    if method not in NETWORKS:
        raise ParameterError(f"method={method!r} must be one of {NETWORKS}")
    torch.manual_seed(seed)
    if method == "hfcn":
        return HFCN(grid, hfcn_patch_size, width=hfcn_width, dropout=0.0, batch_norm=True)
    return MASAN(grid, window, scaled_channels(width), fusion="add" if method == "masan-add" else "attention",
                 reading=reading, batch_norm=classifier_norm)


def fit_network(method: str, model: torch.nn.Module, train_loader, eval_loader, *, counts, pretrain_epochs: int,
                max_epochs: int, hfcn_epochs: int, lr: float, hfcn_lr: float, sparsity: float, device, precision: str,
                seed: int, checkpoint_dir=None, recalibrate: bool = True) -> dict[str, History]:
    """:func:`fit_masan` for the MASAN variants, :func:`fit_hfcn` for H-FCN (each with its epochs and lr)."""
    if method == "hfcn":
        return fit_hfcn(model, train_loader, eval_loader, counts=counts, max_epochs=hfcn_epochs, lr=hfcn_lr,
                        device=device, precision=precision, seed=seed, checkpoint_dir=checkpoint_dir, name=method,
                        recalibrate=recalibrate)
    return fit_masan(model, train_loader, eval_loader, counts=counts, pretrain_epochs=pretrain_epochs,
                     max_epochs=max_epochs, lr=lr, sparsity=sparsity, device=device, precision=precision, seed=seed,
                     checkpoint_dir=checkpoint_dir, name=method, recalibrate=recalibrate)


def fusion_weights(spatial: np.ndarray, labels: Sequence[int], grid: Sequence[int], t1_shape: Sequence[int] | None) -> dict:
    """Fig. 4's record: the mean spatial fusion weight per patch over all and over AD test subjects, and, on the
    phantoms (``t1_shape`` given), their share in the atrophied neighbourhoods
    (:func:`mmlib.papers.masan.inspection.weight_share`)."""
    from mmlib.papers.masan.inspection import weight_share

    spatial, labels = np.asarray(spatial, float), np.asarray(labels)
    record = {"grid": [int(g) for g in grid], "mean_all": spatial.mean(0).tolist(),
              "mean_ad": spatial[labels == 1].mean(0).tolist()}
    if t1_shape is not None:
        record["t1_shape"] = [int(s) for s in t1_shape]
        record["share_ad"] = weight_share(record["mean_ad"], grid, t1_shape)
        record["share_all"] = weight_share(record["mean_all"], grid, t1_shape)
    return record


#: Single-branch networks of the real-data chapters: MASAN's structural branch on OASIS slices (4x4 grid),
#: its functional branch on ABIDE region series, and the 2-D H-FCN.
BRANCHES = ("masan-slices", "masan-regions", "hfcn-slices")


def build_branch(kind: str, *, width: float, in_channels: int = 3, n_regions: int = 116, hfcn_patch_size: int = 16,
                 hfcn_width: float = 0.25, seed: int = 0) -> torch.nn.Module:
    """One of :data:`BRANCHES`, initialised from ``seed``."""
    from mmlib.papers.masan.autoencoders import scaled_channels
    from mmlib.papers.masan.hfcn import HFCN
    from mmlib.papers.masan.model import SingleBranchMASAN

    if kind not in BRANCHES:
        raise ParameterError(f"kind={kind!r} must be one of {BRANCHES}")
    torch.manual_seed(seed)
    if kind == "hfcn-slices":
        return HFCN((4, 4), hfcn_patch_size, in_channels=in_channels, width=hfcn_width, dropout=0.0, batch_norm=True)
    if kind == "masan-slices":
        return SingleBranchMASAN((4, 4), in_channels, scaled_channels(width))
    return SingleBranchMASAN((n_regions,), 1, scaled_channels(width))


def fit_branch(model: torch.nn.Module, train_loader, eval_loader, *, counts, pretrain_epochs: int, max_epochs: int,
               hfcn_epochs: int, lr: float, hfcn_lr: float, sparsity: float, device, precision: str, seed: int,
               checkpoint_dir=None, name: str = "branch") -> dict[str, History]:
    """:func:`fit_hfcn` for an H-FCN, else :func:`fit_masan` (a single-branch MASAN: ``alpha`` L_s + L_cls)."""
    from mmlib.papers.masan.hfcn import HFCN

    if isinstance(model, HFCN):
        return fit_hfcn(model, train_loader, eval_loader, counts=counts, max_epochs=hfcn_epochs, lr=hfcn_lr,
                        device=device, precision=precision, seed=seed, checkpoint_dir=checkpoint_dir, name=name)
    return fit_masan(model, train_loader, eval_loader, counts=counts, pretrain_epochs=pretrain_epochs,
                     max_epochs=max_epochs, lr=lr, sparsity=sparsity, device=device, precision=precision, seed=seed,
                     checkpoint_dir=checkpoint_dir, name=name)
