"""Atomic writes leave the old file intact when writing fails."""

from __future__ import annotations

import json

import pytest

from mmlib import atomic


def test_write_json_round_trip(tmp_path):
    path = atomic.write_json(tmp_path / "sub" / "m.json", {"auc": 0.5})
    assert json.loads(path.read_text()) == {"auc": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "m.json"
    atomic.write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        atomic.write_json(path, {"v": float("nan")})  # NaN is refused
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_exception_inside_atomic_path_discards_the_temp_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_npz_round_trips_and_keeps_the_name(tmp_path):
    import numpy as np

    from mmlib.atomic import write_npz

    target = tmp_path / "maps.npz"
    write_npz(target, a=np.arange(3), meta=np.array("{}"))
    with np.load(target) as npz:
        assert npz["a"].tolist() == [0, 1, 2] and str(npz["meta"]) == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.npz"]  # no temporary file left, no extra suffix
