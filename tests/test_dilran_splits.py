"""Splits of the AANLIB fusion pairs: the authors' per-slice draw and the leak-free series split."""

from __future__ import annotations

import json

import pytest

from mmlib.data.aanlib import load_aanlib_pairs, series_of
from mmlib.papers.dilran.splits import (
    load_split_json,
    paper_split,
    save_split_json,
    series_split,
    shared_series,
    split_pairs,
    count_test_pairs,
)
from mmlib.errors import DataError, ParameterError

#: Quoted from ../shared/papers/NOTES.md (DILRAN, "Test split"): the authors' seed-3407 test files.
NOTES_TEST_NAMES = [
    "16013", "2007", "2012", "2017", "28010", "32003", "34003", "34008", "34014", "37007",
    "37008", "37009", "37013", "37015", "37016", "37017", "37022", "41007", "41011", "41015",
]  # fmt: skip

#: Ten synthetic series of 18 slices, named as AANLIB names them.
SYNTHETIC = [f"{series}{slice_:03d}" for series in (2, 16, 20, 21, 28, 32, 33, 34, 37, 41) for slice_ in range(1, 19)]


def _ct_mri_names(real_data_root):
    return [p.name for p in load_aanlib_pairs(real_data_root("harvard-aanlib"), "CT-MRI", verify=False)]


def _assert_partition(split, names):
    parts = [set(split[k]) for k in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == len(names)
    assert set().union(*parts) == set(names)


def test_paper_split_reproduces_the_authors_test_files(real_data_root):
    names = _ct_mri_names(real_data_root)
    assert len(names) == 184
    split = paper_split(names)
    assert split["test"] == sorted(NOTES_TEST_NAMES)
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (131, 33, 20)
    _assert_partition(split, names)


def test_split_pairs_holds_out_the_papers_share_of_test_pairs(real_data_root):
    """Sec. 2.1: 20 of the 184 pairs; the one split of the training chapter and of the untrained rows."""
    names = _ct_mri_names(real_data_root)
    assert count_test_pairs(len(names)) == 20 and count_test_pairs(48) == 5
    assert split_pairs(names, "paper")["test"] == sorted(NOTES_TEST_NAMES)
    assert split_pairs(names, "series") == series_split(names)


def test_split_pairs_scales_the_test_share_and_refuses_an_unknown_split():
    four_series = SYNTHETIC[:72]
    split = split_pairs(four_series, "paper", seed=7)
    assert len(split["test"]) == 8  # 72 pairs: the share of 20 in 184 (7.8) rounded
    assert split == paper_split(four_series, seed=7, n_test=8)
    assert split_pairs(SYNTHETIC, "series", seed=7) == series_split(SYNTHETIC, seed=7)
    with pytest.raises(ParameterError, match="split='random'"):
        split_pairs(SYNTHETIC, "random")


def test_paper_split_leaks_series_between_train_and_test(real_data_root):
    """NOTES.md: the per-slice split puts slices of one series in train and in test."""
    split = paper_split(_ct_mri_names(real_data_root))
    test_series = {series_of(n) for n in split["test"]}
    assert shared_series(split) == sorted(test_series, key=int)
    assert len(shared_series(split)) == 7


def test_paper_split_ignores_input_order_and_depends_on_seed():
    a = paper_split(SYNTHETIC)
    assert paper_split(list(reversed(SYNTHETIC))) == a
    assert paper_split(SYNTHETIC, seed=1)["test"] != a["test"]
    _assert_partition(a, SYNTHETIC)


def test_series_split_is_leak_free_on_real_data(real_data_root):
    names = _ct_mri_names(real_data_root)
    split = series_split(names)
    _assert_partition(split, names)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert shared_series(split, a, b) == []
    test_series = {series_of(n) for n in split["test"]}
    assert len(test_series) == 1
    assert 16 <= len(split["test"]) <= 21  # one series: about the paper's 20 test pairs
    assert len({series_of(n) for n in split["val"]}) == 2  # ceil(0.2 * 9 remaining series)


def test_series_split_is_seeded_and_checks_its_parameters():
    split = series_split(SYNTHETIC, n_test_series=2, seed=0)
    assert split == series_split(SYNTHETIC, n_test_series=2, seed=0)
    assert len({series_of(n) for n in split["test"]}) == 2
    assert series_split(SYNTHETIC, val_fraction=0.0)["val"] == []
    with pytest.raises(ParameterError, match="series"):
        series_split(SYNTHETIC[:36], n_test_series=1)  # two series cannot give three parts
    with pytest.raises(ParameterError, match="val_fraction"):
        series_split(SYNTHETIC, val_fraction=1.0)


def test_duplicate_names_are_refused():
    with pytest.raises(DataError, match="duplicate"):
        paper_split(SYNTHETIC + SYNTHETIC[:1])


def test_split_json_round_trip_and_bad_files(tmp_path):
    split = series_split(SYNTHETIC)
    path = save_split_json(tmp_path / "split.json", split, {"function": "series_split", "seed": 3407})
    assert load_split_json(path) == (split, {"function": "series_split", "seed": 3407})

    overlap = tmp_path / "overlap.json"
    overlap.write_text(json.dumps({"split": {"train": ["2001"], "val": [], "test": ["2001"]}}))
    with pytest.raises(DataError, match="overlap.json.*both 'train' and 'test'"):
        load_split_json(overlap)
    with pytest.raises(DataError, match="does not exist"):
        load_split_json(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json.*not valid JSON"):
        load_split_json(tmp_path / "bad.json")
