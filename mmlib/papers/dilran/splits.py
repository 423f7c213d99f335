"""Train / validation / test splits of the AANLIB fusion pairs (DILRAN paper, Sec. 2.1).

The paper: "We randomly hold out 20 image pairs for testing and for the remaining
164 pairs, we use 80% of the data to train and 20% for validation."

Two splits, both over pair names (file stems such as ``"16013"``):

- :func:`paper_split`, the authors' per-slice split. It reproduces their draw exactly:
  the CT file names sorted as strings, then ``np.random.seed(3407);
  np.random.choice(184, 20, replace=False)`` picks the indices of the 20 test pairs.
  On the 184 real CT-MRI pairs this gives the test files listed in
  ``../shared/papers/NOTES.md`` (DILRAN, "Test split"), checked by
  ``tests/test_dilran_splits.py``. Slices of one patient series land in both
  train and test, so the test scores measure partly memorised anatomy.
- :func:`series_split`, a leak-free split by patient series
  (:func:`mmlib.data.aanlib.series_of`): every series lies in exactly one part.

Both return ``{"train": [...], "val": [...], "test": [...]}``; :func:`split_pairs` picks one by
name, as the training chapter and the scoring of the untrained Table 2 rows both do. Model selection uses
``val`` only (the authors selected checkpoints on test SSIM; NOTES.md). Group
splitting is scikit-learn's :class:`~sklearn.model_selection.GroupShuffleSplit`;
the legacy NumPy draw of :func:`paper_split` is kept because it is what the
authors ran.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from mmlib.atomic import write_json
from mmlib.data.aanlib import series_of
from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.paper import N_PAIRS, N_TEST_PAIRS, PAPER_SEED

#: The names of the three parts of a split, in order.
PARTS = ("train", "val", "test")


def _unique_names(names: Sequence[str]) -> list[str]:
    names = [str(n) for n in names]
    duplicates = sorted(n for n, k in Counter(names).items() if k > 1)
    if duplicates:
        raise DataError("pair names", f"duplicate names {duplicates[:10]}; every pair must appear once")
    return names


def _check_val_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ParameterError(f"val_fraction must be in [0, 1), got {val_fraction}")


def paper_split(
    names: Sequence[str], seed: int = PAPER_SEED, n_test: int = N_TEST_PAIRS, val_fraction: float = 0.2
) -> dict[str, list[str]]:
    """The DILRAN authors' per-slice split: ``n_test`` random test pairs, then train/val of the rest.

    Test: the names sorted as strings (the authors' ``sorted(os.listdir(...))``;
    sorting stems or ``.png`` names gives the same order), then
    ``np.random.RandomState(seed).choice(len(names), n_test, replace=False)``, the
    same stream as their ``np.random.seed(seed); np.random.choice(...)`` but without
    touching NumPy's global state.

    Validation: ``len(rest) - int((1 - val_fraction) * len(rest))`` of the remaining
    pairs, drawn with ``np.random.default_rng(seed)`` (164 -> 131 train, 33 val).
    The authors instead split the 2 x 164 single images with ``torch.random_split``,
    so the CT of a pair could be in train and its MR in val; here a pair's two images
    stay on one side. Each part is returned in sorted order.
    """
    names = sorted(_unique_names(names))
    _check_val_fraction(val_fraction)
    if not 0 < n_test < len(names):
        raise ParameterError(f"n_test must be in 1..{len(names) - 1} for {len(names)} pairs, got {n_test}")
    test_idx = np.random.RandomState(seed).choice(len(names), size=n_test, replace=False)
    test = sorted(names[i] for i in test_idx)
    rest = [n for n in names if n not in set(test)]
    n_val = len(rest) - int((1.0 - val_fraction) * len(rest))
    val_idx = set(np.random.default_rng(seed).permutation(len(rest))[:n_val].tolist())
    return {
        "train": [n for i, n in enumerate(rest) if i not in val_idx],
        "val": [n for i, n in enumerate(rest) if i in val_idx],
        "test": test,
    }


def series_split(
    names: Sequence[str], n_test_series: int = 1, seed: int = PAPER_SEED, val_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Leak-free split by patient series: no series is in two parts.

    ``n_test_series`` whole series form the test set. Each CT-MRI series of AANLIB
    holds 16 to 21 slices, so the default of one series gives about the 20 test pairs
    of the paper (10 % of the data). Of the remaining series, ``ceil(val_fraction * n)``
    (at least one when ``val_fraction > 0``) form the validation set. Both draws are
    :class:`~sklearn.model_selection.GroupShuffleSplit` with ``random_state=seed``.
    Each part keeps the order of ``names``.

    Raises
    ------
    ParameterError
        When there are too few series for a test, a validation and a training part.
    """
    names = _unique_names(names)
    _check_val_fraction(val_fraction)
    series = [series_of(n) for n in names]
    n_series = len(set(series))
    n_min = n_test_series + 1 + (val_fraction > 0)
    if n_test_series < 1 or n_series < n_min:
        raise ParameterError(
            f"series_split needs n_test_series >= 1 and at least {n_min} series; "
            f"got n_test_series={n_test_series} and {n_series} series"
        )
    outer = GroupShuffleSplit(n_splits=1, test_size=n_test_series, random_state=seed)
    rest_idx, test_idx = next(outer.split(names, groups=series))
    val_idx = np.array([], dtype=int)
    if val_fraction > 0:
        n_val = max(1, int(np.ceil(val_fraction * len({series[i] for i in rest_idx}))))
        inner = GroupShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        fit, val = next(inner.split(rest_idx, groups=[series[i] for i in rest_idx]))
        rest_idx, val_idx = rest_idx[fit], rest_idx[val]
    return {part: [names[i] for i in sorted(idx)] for part, idx in zip(PARTS, (rest_idx, val_idx, test_idx))}


def count_test_pairs(n_pairs: int) -> int:
    """The paper's share of test pairs, 20 of 184 (Sec. 2.1), for ``n_pairs`` pairs: 20 for the
    184 AANLIB CT-MRI pairs, 5 for 48 phantom pairs."""
    return round(n_pairs * N_TEST_PAIRS / N_PAIRS)


def split_pairs(names: Sequence[str], split: str, seed: int = PAPER_SEED) -> dict[str, list[str]]:
    """The split named ``split`` of the pair ``names``: ``"paper"`` (:func:`paper_split` with the
    paper's share of test pairs, :func:`count_test_pairs`) or ``"series"`` (:func:`series_split`)."""
    if split == "paper":
        return paper_split(names, seed=seed, n_test=count_test_pairs(len(names)))
    if split == "series":
        return series_split(names, seed=seed)
    raise ParameterError(f"split={split!r}: choose 'paper' or 'series'")


def shared_series(split: dict[str, Sequence[str]], part_a: str = "train", part_b: str = "test") -> list[str]:
    """Sorted series that have slices in both ``part_a`` and ``part_b`` (empty for a leak-free split)."""
    return sorted({series_of(n) for n in split[part_a]} & {series_of(n) for n in split[part_b]}, key=int)


def _check_split(split, where) -> dict[str, list[str]]:
    if not isinstance(split, dict) or set(split) != set(PARTS):
        raise DataError(where, f"a split needs exactly the keys {list(PARTS)}")
    seen: dict[str, str] = {}
    for part in PARTS:
        if not isinstance(split[part], list) or not all(isinstance(n, str) for n in split[part]):
            raise DataError(where, f"split part {part!r} must be a list of name strings")
        for name in split[part]:
            if name in seen:
                raise DataError(where, f"pair {name!r} is in both {seen[name]!r} and {part!r}")
            seen[name] = part
    return {part: list(split[part]) for part in PARTS}


def save_split_json(path: str | os.PathLike, split: dict[str, Sequence[str]], meta: dict | None = None) -> Path:
    """Write ``{"split": {train, val, test}, "meta": meta}`` atomically; returns the path.

    ``meta`` records how the split was made (function, seed, data set), JSON-serialisable.
    """
    split = _check_split({k: list(v) for k, v in split.items()}, "split to save")
    return write_json(path, {"split": split, "meta": dict(meta or {})})


def load_split_json(path: str | os.PathLike) -> tuple[dict[str, list[str]], dict]:
    """Read a :func:`save_split_json` file: ``(split, meta)``.

    Raises
    ------
    DataError
        Missing file, invalid JSON, missing parts, or a name in two parts (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "split file does not exist; write it with save_split_json")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"split file is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "split" not in data:
        raise DataError(path, "split file lacks the key 'split'")
    return _check_split(data["split"], path), dict(data.get("meta") or {})
