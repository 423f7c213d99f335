"""Patient-level stratified k-fold splits (mmlib.data.splits)."""

import json

import numpy as np
import pytest

from mmlib.data.splits import load_fold, make_folds, save_folds_json
from mmlib.errors import DataError, ParameterError


def _slice_series(n_patients=30, slices_per_patient=4, seed=0):
    """Cases = slices of patients; about 1/3 of patients positive, label shared by a patient's slices."""
    rng = np.random.default_rng(seed)
    patient_label = (rng.random(n_patients) < 0.33).astype(int)
    patient_label[:3] = 1  # at least 3 positive patients
    cases = []
    for p in range(n_patients):
        for s in range(slices_per_patient):
            cases.append({"case_id": f"p{p:02d}_s{s}", "label": int(patient_label[p]), "group": f"p{p:02d}",
                          "image": f"images/p{p:02d}_{s}.png"})
    return cases


def test_no_patient_in_both_train_and_test():
    cases = _slice_series()
    group_of = {c["case_id"]: c["group"] for c in cases}
    folds = make_folds([c["case_id"] for c in cases], [c["label"] for c in cases],
                       [c["group"] for c in cases], n_folds=3, seed=1)
    assert [f["fold"] for f in folds] == [0, 1, 2]
    all_test = []
    for f in folds:
        train_groups = {group_of[c] for c in f["train"]}
        test_groups = {group_of[c] for c in f["test"]}
        assert not train_groups & test_groups
        assert set(f["train"]) | set(f["test"]) == set(group_of)
        all_test += f["test"]
    assert sorted(all_test) == sorted(group_of)  # every case is tested exactly once


def test_stratification_keeps_the_class_ratio():
    rng = np.random.default_rng(3)
    labels = (rng.random(300) < 0.25).astype(int)
    ids = [f"c{i}" for i in range(300)]
    overall = labels.mean()
    for f in make_folds(ids, labels, n_folds=5, seed=0):
        test_labels = [labels[int(c[1:])] for c in f["test"]]
        assert abs(np.mean(test_labels) - overall) < 0.03


def test_same_seed_same_folds_other_seed_other_folds():
    ids, labels = [f"c{i}" for i in range(40)], [i % 2 for i in range(40)]
    assert make_folds(ids, labels, seed=7) == make_folds(ids, labels, seed=7)
    assert make_folds(ids, labels, seed=7) != make_folds(ids, labels, seed=8)


def test_too_many_folds_names_the_numbers():
    cases = _slice_series(n_patients=10)
    # positives: count patients of class 1
    n_pos = len({c["group"] for c in cases if c["label"] == 1})
    with pytest.raises(ParameterError, match=rf"n_folds={n_pos + 1}.*{n_pos} patients of class 1"):
        make_folds([c["case_id"] for c in cases], [c["label"] for c in cases], [c["group"] for c in cases],
                   n_folds=n_pos + 1)


def test_duplicate_case_ids_are_a_data_error():
    with pytest.raises(DataError, match=r"duplicate case ids \['a'\]"):
        make_folds(["a", "b", "a", "c"], [0, 1, 0, 1], n_folds=2)


def test_json_round_trip_and_fold_key(tmp_path):
    cases = _slice_series()
    path = save_folds_json(tmp_path / "folds.json", cases, n_folds=3, seed=0)
    data = json.loads(path.read_text())
    assert data["n_folds"] == 3 and data["seed"] == 0
    assert [c["case_id"] for c in data["training"]] == [c["case_id"] for c in cases]
    assert all(c["image"] == o["image"] for c, o in zip(data["training"], cases))
    for k in range(3):
        train, test = load_fold(path, k)
        assert {c["fold"] for c in test} == {k} and k not in {c["fold"] for c in train}
        assert not {c["group"] for c in train} & {c["group"] for c in test}
        assert len(train) + len(test) == len(cases)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_the_json_reads_with_monai(tmp_path):
    from monai.data import load_decathlon_datalist

    cases = _slice_series(n_patients=9)
    path = save_folds_json(tmp_path / "folds.json", cases, n_folds=3)
    items = load_decathlon_datalist(path, is_segmentation=False)
    assert [i["case_id"] for i in items] == [c["case_id"] for c in cases]
    assert {i["fold"] for i in items} == {0, 1, 2}


def test_validation_split_is_patient_level(tmp_path):
    cases = _slice_series(n_patients=30)
    path = save_folds_json(tmp_path / "folds.json", cases, n_folds=3)
    train, val, test = load_fold(path, 1, val_fraction=0.2)
    groups = [{c["group"] for c in part} for part in (train, val, test)]
    assert not groups[0] & groups[1] and not groups[1] & groups[2] and not groups[0] & groups[2]
    assert 0.1 < len(val) / (len(train) + len(val)) < 0.35
    assert {c["label"] for c in val} == {0, 1}


def test_bad_fold_file_and_fold_index(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_fold(tmp_path / "missing.json", 0)
    broken = tmp_path / "broken.json"
    broken.write_text('{"n_folds": 3, "seed": 0, "training": [{"case_id": "a"')
    with pytest.raises(DataError, match="broken.json.*not valid JSON"):
        load_fold(broken, 0)
    path = save_folds_json(tmp_path / "folds.json", _slice_series(n_patients=9), n_folds=3)
    with pytest.raises(ParameterError, match="fold=3 is outside 0..2"):
        load_fold(path, 3)


def test_datalist_drops_in_memory_arrays_and_keeps_numpy_labels(tmp_path):
    import json

    import numpy as np

    from mmlib.data.splits import save_folds_json

    cases = [{"case_id": f"c{i}", "label": np.int64(i % 2), "t1": np.zeros((2, 2, 2))} for i in range(6)]
    path = save_folds_json(tmp_path / "folds.json", cases, n_folds=3, seed=0)
    training = json.loads(path.read_text())["training"]
    assert all("t1" not in c for c in training)
    assert sorted(c["label"] for c in training) == [0, 0, 0, 1, 1, 1]
