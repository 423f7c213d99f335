"""M3's two tasks as case lists: phantoms on a CPU, or a user's own NIfTI cohort from a CSV manifest.

M3 (Kong et al. 2024) has two tasks, each with its own modalities and lesion masks:

* ``"tumour"``, glioma (0) vs solitary metastasis (1) from T1ce, T2 and FLAIR
  (Sec. 2.1.1, Table 1: 132 metastases = 87 + 45, 412 gliomas = 43 + 369);
* ``"ht"``, haemorrhagic transformation after thrombolysis, no-HT (0) vs HT (1),
  from ADC, CBF, CBV, MTT and TTP (Sec. 2.1.2, Table 2: 11 HT, 60 no-HT).

:func:`m3_cases` returns a :class:`Cohort` for one of the datasets in
:data:`DATASETS`:

* ``"tumour-phantoms"``: :func:`mmlib.data.phantoms.glioma_phantoms` with
  ``task="glioma_vs_metastasis"`` and the metastasis share of Table 1
  (:data:`TABLE1_METASTASIS_SHARE`, 132 / 544); masks in BraTS labels (1 core, 2
  edema, 4 enhancing).
* ``"stroke-phantoms"``: :func:`mmlib.data.phantoms.stroke_phantoms` (HT share of
  Table 2; 71 cases by default, a larger cohort by ``n_cases``); masks 1 core, 2 penumbra.
* ``"manifest"``: a user's cohort, one CSV row per case (``manifest.csv`` with
  columns ``case_id``, ``label`` (0/1), one column per modality and ``mask``; paths
  relative to the CSV's folder); see :func:`manifest_cases`.

The segmentation target is the lesion's foreground (:data:`TASKS` ``foreground``),
the same for both classes (Sec. 2.2.3: no class label in segmentation training):
for the tumour task **the tumour** (BraTS labels 1 and 4, necrotic / non-enhancing
core and enhancing tumour; the edema, label 2, is left out: the paper's doctors
delineated "tumor regions", Sec. 2.1.3), for HT the ischaemic core and penumbra
(labels 1 and 2). Why the tumour and not the whole lesion: at the phantoms'
default difficulty the whole lesion (tumour + edema) has about the same extent in
both classes (gliomas: larger tumours, less edema; metastases: the reverse), so a
map of it carries little class information, while the tumour's own extent does
(:func:`mask_volume_aucs` measures it; a first reference run with the whole lesion
as target left M3 near chance, see the fold chapter).

**The ceiling** (phantoms only): ``Cohort.ceiling_features`` holds each case's
generating parameters (:data:`CEILING_PARAMETERS`), from which a logistic
regression gives the AUC a classifier can reach on the same folds
(:func:`mmlib.papers.m3.protocol.ceiling_scores`).

Bad input (a missing file, a row without a label, an unknown column): a
:class:`~mmlib.errors.DataError` naming the case; grids and masks are checked when
the volumes are built (:mod:`mmlib.papers.m3.volumes`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmlib.config import data_root as resolve_data_root
from mmlib.config import shown_path
from mmlib.data.io import read_csv
from mmlib.data.phantoms import glioma_phantoms, stroke_phantoms
from mmlib.errors import DataError, ParameterError


@dataclass(frozen=True)
class Task:
    """One of M3's tasks: its modalities, the mask labels that form the lesion, and the class names."""

    name: str
    modalities: tuple[str, ...]
    foreground: tuple[int, ...]
    class_names: tuple[str, str]


TASKS = {
    "tumour": Task("tumour", ("t1ce", "t2", "flair"), (1, 4), ("glioma", "metastasis")),
    "ht": Task("ht", ("adc", "cbf", "cbv", "mtt", "ttp"), (1, 2), ("no-HT", "HT")),
}
#: The datasets :func:`m3_cases` knows, and the task of each phantom set.
DATASETS = {"tumour-phantoms": "tumour", "stroke-phantoms": "ht", "manifest": None}
#: Each phantom set's default ``difficulty``: the ceiling AUC (logistic regression on the generating
#: parameters, 5-fold CV) is about 0.91 on a development draw (seed 1) at these values, well above
#: chance and below 1 (measured in the fold chapter on its own folds).
DIFFICULTY = {"tumour-phantoms": 0.6, "stroke-phantoms": 0.5}
#: Per task, the mask regions :func:`mask_volume_aucs` compares (name -> labels).
REGIONS = {"tumour": {"tumour (labels 1, 4)": (1, 4), "edema (label 2)": (2,), "whole lesion (1, 2, 4)": (1, 2, 4)},
           "ht": {"core (label 1)": (1,), "penumbra (label 2)": (2,), "core + penumbra (1, 2)": (1, 2)}}
#: Table 1: 87 + 45 metastases against 43 + 369 gliomas.
TABLE1_METASTASIS_SHARE = 132 / 544
#: Each phantom generator's per-case parameters that the ceiling classifier reads (its module docstring).
CEILING_PARAMETERS = {
    "tumour": ("radius_mm", "irregularity", "enhancement", "necrosis", "edema_ratio", "heterogeneity", "n_lesions",
               "n_at_junction"),
    "ht": ("core_radius_mm", "cbf_core_fraction", "cbv_core_fraction", "adc_core_fraction", "mtt_delay_s",
           "ttp_delay_s", "penumbra_ratio", "cbf_penumbra_fraction", "cbv_penumbra_change", "irregularity",
           "input_scale"),
}
#: The generator each phantom dataset calls, for the provenance record.
GENERATORS = {
    "tumour-phantoms": "mmlib.data.phantoms.glioma_phantoms (task='glioma_vs_metastasis', class_ratio=132/544)",
    "stroke-phantoms": "mmlib.data.phantoms.stroke_phantoms",
}


@dataclass
class Cohort:
    """The cases of one dataset and what produced them.

    ``cases`` are dicts with ``case_id``, ``label`` (0/1), ``class_name``, ``group``
    (the patient, for patient-level folds), one key per modality (an ``(x, y, z)``
    RAS array for phantoms, a file path otherwise) and ``seg`` (the label map).
    ``ceiling_features`` (phantoms) is one row per case of generating parameters;
    ``data`` is what a fold record's ``data=`` takes (a description, or the files).
    """

    dataset: str
    task: Task
    cases: list[dict]
    data: Any
    ceiling_features: pd.DataFrame | None = None
    note: str = ""
    settings: dict = field(default_factory=dict)
    affine: np.ndarray | None = None  #: the phantoms' voxel -> MNI mm affine (None for files, which carry their own)

    @property
    def labels(self) -> np.ndarray:
        return np.array([c["label"] for c in self.cases], dtype=int)

    def counts(self) -> pd.Series:
        """Cases per class, by class name."""
        names = self.task.class_names
        return pd.Series({names[0]: int((self.labels == 0).sum()), names[1]: int((self.labels == 1).sum()),
                          "cases": len(self.cases)}, name=self.dataset)


def m3_cases(dataset: str, data_root: str | os.PathLike | None = None, *, manifest: str | None = None,
             task: str | None = None, modalities: Sequence[str] | None = None, n_cases: int = 100,
             shape: Sequence[int] = (40, 48, 40), difficulty: float | None = None, seed: int = 0) -> Cohort:
    """The cohort of ``dataset`` (module docstring).

    ``n_cases``, ``shape`` (RAS voxels), ``difficulty`` (None: :data:`DIFFICULTY`)
    and ``seed`` shape the phantoms only. ``manifest`` is the CSV of a user's cohort (``dataset="manifest"``),
    absolute or relative to the data root; ``task`` (``"tumour"`` or ``"ht"``) and
    ``modalities`` say which columns to read (default: the task's modalities).
    The data root is resolved even for phantoms, so a data root set to a missing
    folder stops the chapter instead of being ignored.
    """
    if dataset not in DATASETS:
        raise ParameterError(f"dataset={dataset!r} is not known; choose one of {list(DATASETS)}")
    root = resolve_data_root(data_root)
    task_name = DATASETS[dataset] or task
    if task_name not in TASKS:
        raise ParameterError(f"task={task!r} must be one of {list(TASKS)} for dataset={dataset!r}")
    spec = TASKS[task_name]
    if task is not None and task != task_name:
        raise ParameterError(f"dataset={dataset!r} is the {task_name!r} task, not task={task!r}")
    wanted = tuple(modalities) if modalities is not None else spec.modalities
    if dataset == "manifest":
        if not manifest:
            raise ParameterError("dataset='manifest' needs manifest=<path to the cohort's CSV>")
        path = Path(manifest) if Path(manifest).is_absolute() else root / manifest
        cases = [{**c, "class_name": spec.class_names[c["label"]]} for c in manifest_cases(path, wanted)]
        return Cohort(dataset, spec, cases, data=sorted({str(c[k]) for c in cases for k in (*wanted, "seg")}),
                      note=f"{len(cases)} cases from {shown_path(path)}", settings={"manifest": shown_path(path)})
    unknown = sorted(set(wanted) - set(spec.modalities))
    if unknown or not wanted:
        raise ParameterError(f"modalities={list(wanted)} must be a non-empty subset of {list(spec.modalities)}")
    shape = tuple(int(s) for s in shape)
    difficulty = DIFFICULTY[dataset] if difficulty is None else float(difficulty)
    if dataset == "tumour-phantoms":
        cohort = glioma_phantoms(n_cases=n_cases, shape=shape, task="glioma_vs_metastasis",
                                 class_ratio=TABLE1_METASTASIS_SHARE, difficulty=difficulty, seed=seed)
    else:
        cohort = stroke_phantoms(n_cases=n_cases, shape=shape, difficulty=difficulty, seed=seed)
    cases = [{"case_id": cid, "label": int(cohort.labels[i]), "class_name": cohort.class_names[int(cohort.labels[i])],
              "group": cohort.series[i], **{m: cohort.images[m][i] for m in wanted}, "seg": cohort.masks[i]}
             for i, cid in enumerate(cohort.case_ids)]
    ceiling = cohort.metadata.set_index("case_id")[list(CEILING_PARAMETERS[task_name])].astype(float)
    settings = {"n_cases": n_cases, "shape_xyz": list(shape), "difficulty": difficulty, "seed": seed}
    data = {"dataset": dataset, "generator": GENERATORS[dataset], **settings}
    return Cohort(dataset, spec, cases, data=data, ceiling_features=ceiling, settings=settings, affine=cohort.affine,
                  note=f"{len(cases)} synthetic {dataset} (seed {seed}, difficulty {difficulty}, grid {shape})")


#: Columns every manifest row needs besides its modalities.
MANIFEST_COLUMNS = ("case_id", "label", "mask")


def manifest_cases(path: str | os.PathLike, modalities: Sequence[str]) -> list[dict]:
    """A user's NIfTI cohort from a CSV: ``case_id, label, <one column per modality>, mask``.

    ``label`` is 0 or 1 (tumour: 0 glioma, 1 metastasis; HT: 0 no-HT, 1 HT); file
    paths are absolute or relative to the CSV's folder; an optional ``group``
    column names the patient (default: the case). This is how the chapters run on
    a real cohort at the paper's size (their "Full scale" boxes).

    Raises
    ------
    DataError
        No such CSV; a missing column; an empty, non-0/1 or duplicated row; a
        row pointing at a file that does not exist (naming the case, the column
        and the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "cohort manifest (CSV) does not exist")
    table = read_csv(path, what="the manifest CSV", dtype=str, keep_default_na=False)
    missing = [c for c in (*MANIFEST_COLUMNS, *modalities) if c not in table.columns]
    if missing:
        raise DataError(path, f"missing column(s) {missing}; the manifest needs {[*MANIFEST_COLUMNS[:2], *modalities, 'mask']}")
    if table.empty:
        raise DataError(path, "the manifest lists no case")
    duplicated = sorted(set(table["case_id"][table["case_id"].duplicated()]))
    if duplicated:
        raise DataError(path, f"case(s) listed more than once: {duplicated}")
    cases = []
    for _, row in table.iterrows():
        case_id = row["case_id"].strip()
        if not case_id:
            raise DataError(path, "a row has an empty case_id")
        if row["label"].strip() not in ("0", "1"):
            raise DataError(f"case {case_id} ({path.name})", f"label is {row['label']!r}, expected 0 or 1")
        case = {"case_id": case_id, "label": int(row["label"]), "group": row.get("group", "").strip() or case_id}
        for column, key in [*((m, m) for m in modalities), ("mask", "seg")]:
            value = row[column].strip()
            if not value:
                raise DataError(f"case {case_id} ({path.name})", f"no file given in column {column!r}")
            file = Path(value) if Path(value).is_absolute() else path.parent / value
            if not file.is_file():
                raise DataError(file, f"case {case_id}: the {column!r} file named in {path.name} does not exist")
            case[key] = str(file)
        cases.append(case)
    return cases


def mask_volume_aucs(cohort: Cohort) -> pd.DataFrame:
    """How well each mask region's volume alone separates the classes, over the whole cohort (phantoms).

    One row per region of :data:`REGIONS`: the AUC of its voxel count for class 1
    (below 0.5: class 1 has the smaller region) and the separation ``max(AUC,
    1 - AUC)``. It says which segmentation target lets the probability map itself
    carry class information. Reads the in-memory masks (phantoms only).
    """
    from sklearn.metrics import roc_auc_score

    if cohort.affine is None:
        raise ParameterError(f"{cohort.dataset}: mask volumes are measured on in-memory phantoms only")
    y = cohort.labels
    rows = {}
    for name, labels in REGIONS[cohort.task.name].items():
        volume = np.array([np.isin(c["seg"], labels).sum() for c in cohort.cases])
        auc = float(roc_auc_score(y, volume))
        rows[name] = {"AUC of its volume (class 1)": round(auc, 3), "separation": round(max(auc, 1 - auc), 3),
                      "segmentation target": tuple(labels) == tuple(cohort.task.foreground)}
    frame = pd.DataFrame(rows).T
    frame.index.name = "mask region"
    return frame
