"""Table 2's untrained rows (mmlib.papers.dilran.scoring) and the Figs. 2-3 panel (mmlib.papers.dilran.figures)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mmlib.config import REPO_ROOT
from mmlib.errors import ParameterError
from mmlib.papers.dilran.figures import fusion_panel
from mmlib.papers.dilran.protocol import aanlib_source, phantom_source, score_pairs
from mmlib.papers.dilran.scoring import main, score_untrained, untrained_methods
from mmlib.papers.dilran.splits import split_pairs
from mmlib.runs.aggregate import read_run

COMMITTED = REPO_ROOT / "results" / "dilran"


def test_untrained_methods_fuse_within_the_sources_range():
    rng = np.random.default_rng(0)
    a, b = rng.random((32, 32)), rng.random((32, 32)) * 0.5
    for name, fuse in untrained_methods().items():
        fused = fuse(a, b)
        assert fused.shape == a.shape and fused.min() >= 0.0 and fused.max() <= 1.0, name
    np.testing.assert_allclose(untrained_methods()["average"](a, b), (a + b) / 2)


def test_score_untrained_gives_a_fold_record_of_the_committed_shape():
    data = phantom_source("CT-MRI", 32, seed=3407, reason="test")
    record = score_untrained(data, "series", untrained_methods())
    test = split_pairs(data.names, "series", 3407)["test"]
    assert record["predictions"] == {"case_id": test}
    assert record["metrics"] == record["extra"]["methods"]["zero-learning"]["metrics"]
    assert list(record["extra"]["methods"]["average"]["per_case"]) == test
    assert record["extra"]["zero_learning_weights"] == "random-init(seed=0)" and record["extra"]["n_test_pairs"] == 8
    committed = COMMITTED / "untrained-series" / "fold-0" / "metrics.json"
    if committed.is_file():
        committed = json.loads(committed.read_text())
        assert sorted(record) == sorted(committed) and sorted(record["extra"]) == sorted(committed["extra"])
        assert sorted(record["extra"]["methods"]) == sorted(committed["extra"]["methods"])


def test_score_pairs_on_real_pairs(real_data_root):
    data = aanlib_source(real_data_root("harvard-aanlib"), "CT-MRI")
    names = data.names[:2]
    scores = score_pairs(untrained_methods()["average"], data.images, names)
    assert list(scores) == names
    for metrics in scores.values():
        assert 5 < metrics["psnr"] < 40 and 0 < metrics["ssim"] <= 1 and 0 < metrics["fsim"] <= 1


@pytest.mark.slow
def test_the_command_line_reproduces_the_committed_untrained_run(real_data_root, tmp_path):
    """``python -m mmlib.papers.dilran.scoring --split paper``: the committed record, number for number (~20 s)."""
    real_data_root("harvard-aanlib")
    assert main(["--split", "paper", "--out", str(tmp_path / "untrained-paper")]) == 0
    new, old = read_run(tmp_path / "untrained-paper"), read_run(COMMITTED / "untrained-paper")
    assert new.records[0] == old.records[0]
    assert new.params == {"data_root": None, "seed": 3407, "split": "paper", "vgg19_weights": None}
    assert new.provenance["seed"] == 3407 and new.provenance["data"] == old.provenance["data"]


def test_fusion_panel_draws_one_titled_axis_per_image_with_an_inset():
    images = {"CT": np.zeros((20, 20)), "MR": np.ones((20, 20)), "fused": np.full((20, 20), 0.5)}
    fig = fusion_panel(images, zoom=(2, 3, 8))
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == list(images)
    assert all(len(ax.child_axes) == 1 for ax in titled)  # every panel has its inset
    with pytest.raises(ParameterError, match="does not fit"):
        fusion_panel(images, zoom=(15, 15, 8))
    with pytest.raises(ParameterError, match="one shape"):
        fusion_panel({"a": np.zeros((4, 4)), "b": np.zeros((5, 5))})
