"""BraTS multi-modal brain-tumour MRI in every public layout, behind one loader.

Layouts recognised by :func:`discover_brats` (``layout`` names in brackets):

- BraTS 2018 / 2019 training [``brats2018``]: ``HGG/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz``
  and ``LGG/...``; the grade is the folder (285 = 210 HGG + 75 LGG in 2018, 335 =
  259 + 76 in 2019: the data of the cross-modality guidance paper, its Table II).
- BraTS 2020 [``brats2020``]: one folder per case plus ``name_mapping.csv`` whose
  ``Grade`` (HGG / LGG) and ``BraTS_2020_subject_ID`` columns give the label (the
  BraTS2020 gliomas of the M3 paper, its Table 1).
- BraTS 2021 [``brats2021``]: ``<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz``, no grade.
- BraTS 2023 [``brats2023``]: ``<case>/<case>-{t1n,t1c,t2w,t2f,seg}.nii.gz``, no grade.
- A manifest CSV [``manifest``]: ``MANIFEST.csv`` with columns ``case_id, label, t1,
  t1ce, t2, flair`` and optional ``seg, task, seg_kind, origin``; paths are relative
  to the CSV's folder (the ``brats-samples`` folder of the shared data).

Modalities always get the canonical keys ``t1, t1ce, t2, flair`` (2023's ``t1n, t1c,
t2w, t2f`` map onto them in that order). Files may be ``.nii.gz`` or ``.nii``.
Segmentation masks are optional (validation sets have none).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmlib.data.io import check_label_map, load_case_volumes, read_csv
from mmlib.errors import DataError, ParameterError

#: Canonical modality keys, in the order used throughout the book.
MODALITIES = ("t1", "t1ce", "t2", "flair")
#: Labels a case may carry (``None`` = unknown).
LABELS = ("HGG", "LGG", "glioma", "metastasis")

_UNDERSCORE_NAMES = {"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair"}
_BRATS2023_NAMES = {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"}
_NAME_MAPPING_COLUMNS = ("Grade", "BraTS_2020_subject_ID")
_MANIFEST_COLUMNS = ("case_id", "label", *MODALITIES)


@dataclass
class BratsCase:
    """One BraTS case: where its modality files are, its label and its mask (if any)."""

    case_id: str
    label: str | None
    modalities: dict[str, Path]
    seg: Path | None
    layout: str
    task: str | None = None
    seg_kind: str | None = None


def discover_brats(root: str | os.PathLike, *, require_label: bool = False) -> list[BratsCase]:
    """Detect the layout of ``root`` and list its cases (see the module docstring).

    With ``require_label``, a case without a label (BraTS 2021 / 2023 layouts carry
    no grade) is an error rather than ``label=None``.

    Raises
    ------
    DataError
        Unknown layout; a missing modality file (naming file, case and modality);
        a label file naming a case with no folder / file, a case folder with no row
        in the label file, an empty or unknown label; a duplicated case.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "BraTS folder does not exist")
    if (root / "MANIFEST.csv").is_file():
        cases = _discover_manifest(root / "MANIFEST.csv")
    elif (root / "name_mapping.csv").is_file():
        cases = _discover_brats2020(root, root / "name_mapping.csv")
    elif (root / "HGG").is_dir() or (root / "LGG").is_dir():
        cases = [
            _case_from_folder(folder, "_", _UNDERSCORE_NAMES, grade, "brats2018")
            for grade in ("HGG", "LGG")
            for folder in _case_folders(root / grade)
        ]
    else:
        cases = _discover_flat(root)
    if not cases:
        raise DataError(root, "no BraTS case found")
    if require_label:
        for case in cases:
            if case.label is None:
                raise DataError(
                    case.modalities["t1"].parent,
                    f"case {case.case_id} has no label (layout {case.layout} carries no grade)",
                )
    return cases


def load_brats_case(case: BratsCase, modalities: Sequence[str] | None = None) -> dict:
    """Read a case's volumes: ``{"images": {mod: float32 array}, "seg": uint8 array | None, "affine": 4x4}``.

    ``modalities`` picks a subset (default: all four). All volumes, the mask
    included, must share one shape and affine (:func:`mmlib.data.io.load_case_volumes`);
    the mask must hold integer labels (BraTS: 0/1/2/4) and not be empty.
    """
    wanted = list(MODALITIES if modalities is None else modalities)
    unknown = [m for m in wanted if m not in case.modalities]
    if unknown:
        raise ParameterError(f"unknown modalities {unknown}; case {case.case_id} has {sorted(case.modalities)}")
    paths: dict[str, Path] = {m: case.modalities[m] for m in wanted}
    if case.seg is not None:
        paths["seg"] = case.seg
    volumes, affine = load_case_volumes(paths)
    seg = check_label_map(case.seg, volumes.pop("seg")) if case.seg is not None else None
    return {"images": volumes, "seg": seg, "affine": affine}


def label_counts(cases: Sequence[BratsCase]) -> dict[str | None, int]:
    """Number of cases per label (for the data chapter's tables)."""
    return pd.Series([c.label for c in cases], dtype=object).value_counts(dropna=False).to_dict()


def _case_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _find_nifti(folder: Path, stem: str) -> Path | None:
    for extension in (".nii.gz", ".nii"):
        candidate = folder / f"{stem}{extension}"
        if candidate.is_file():
            return candidate
    return None


def _case_from_folder(folder: Path, sep: str, names: dict[str, str], label: str | None, layout: str) -> BratsCase:
    case_id = folder.name
    modalities = {}
    for modality, suffix in names.items():
        path = _find_nifti(folder, f"{case_id}{sep}{suffix}")
        if path is None:
            raise DataError(
                folder / f"{case_id}{sep}{suffix}.nii.gz",
                f"case {case_id}: modality {modality!r} file does not exist (nor .nii)",
            )
        modalities[modality] = path
    seg = _find_nifti(folder, f"{case_id}{sep}seg")
    return BratsCase(case_id, label, modalities, seg, layout)


def _discover_flat(root: Path) -> list[BratsCase]:
    folders = _case_folders(root)
    for folder in folders:
        if _find_nifti(folder, f"{folder.name}-t1n"):
            return [_case_from_folder(f, "-", _BRATS2023_NAMES, None, "brats2023") for f in folders]
        if _find_nifti(folder, f"{folder.name}_t1"):
            return [_case_from_folder(f, "_", _UNDERSCORE_NAMES, None, "brats2021") for f in folders]
    raise DataError(
        root,
        "no known BraTS layout: expected MANIFEST.csv, name_mapping.csv, HGG/ and LGG/ folders, "
        "or case folders holding <case>-t1n.nii.gz (2023) or <case>_t1.nii.gz (2021) files",
    )


def _read_label_csv(csv: Path, required: Sequence[str]) -> pd.DataFrame:
    table = read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(csv, f"missing column(s) {missing}; found {list(table.columns)}")
    table = table.apply(lambda column: column.str.strip())
    return table


def _check_label(csv: Path, case_id: str, label: str, allowed: Sequence[str]) -> str:
    if not case_id:
        raise DataError(csv, "a row has an empty case id")
    if not label:
        raise DataError(csv, f"case {case_id} has no label (empty cell)")
    if label not in allowed:
        raise DataError(csv, f"case {case_id} has label {label!r}, expected one of {list(allowed)}")
    return label


def _check_unique(csv: Path, ids: pd.Series) -> None:
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        raise DataError(csv, f"case(s) listed more than once: {duplicated}")


def _discover_brats2020(root: Path, csv: Path) -> list[BratsCase]:
    table = _read_label_csv(csv, _NAME_MAPPING_COLUMNS)
    ids = table["BraTS_2020_subject_ID"]
    _check_unique(csv, ids)
    grades = {cid: _check_label(csv, cid, grade, ("HGG", "LGG")) for cid, grade in zip(ids, table["Grade"])}
    folders = {f.name: f for f in _case_folders(root)}
    listed_only = sorted(set(grades) - set(folders))
    if listed_only:
        raise DataError(csv, f"case {listed_only[0]} is listed but has no folder {root / listed_only[0]} "
                             f"({len(listed_only)} such case(s))")
    unlisted = sorted(set(folders) - set(grades))
    if unlisted:
        raise DataError(csv, f"case folder {folders[unlisted[0]]} has no row in this file, so no label "
                             f"({len(unlisted)} such folder(s))")
    return [_case_from_folder(folders[cid], "_", _UNDERSCORE_NAMES, grades[cid], "brats2020") for cid in sorted(grades)]


def _discover_manifest(csv: Path) -> list[BratsCase]:
    table = _read_label_csv(csv, _MANIFEST_COLUMNS)
    _check_unique(csv, table["case_id"])
    cases = []
    for row in table.to_dict("records"):
        case_id = row["case_id"]
        label = _check_label(csv, case_id, row["label"], LABELS)
        modalities = {}
        for modality in MODALITIES:
            if not row[modality]:
                raise DataError(csv, f"case {case_id} has no {modality!r} path")
            modalities[modality] = _listed_file(csv, case_id, modality, row[modality])
        seg = _listed_file(csv, case_id, "seg", row["seg"]) if row.get("seg") else None
        cases.append(
            BratsCase(case_id, label, modalities, seg, "manifest", task=row.get("task") or None,
                      seg_kind=row.get("seg_kind") or None)
        )
    return cases


def _listed_file(csv: Path, case_id: str, modality: str, relative: str) -> Path:
    path = csv.parent / relative
    if not path.is_file():
        raise DataError(path, f"case {case_id}: modality {modality!r} file does not exist (listed in {csv})")
    return path

