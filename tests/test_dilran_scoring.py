"""Table 2's untrained rows (mmlib.papers.dilran.scoring) and the Figs. 2-3 panel (mmlib.papers.dilran.figures)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mmlib.data.aanlib import load_aanlib_pairs
from mmlib.papers.dilran.splits import paper_split, series_split
from mmlib.errors import ParameterError
from mmlib.papers.dilran.scoring import score_pairs, split_test_pairs, untrained_methods
from mmlib.papers.dilran.figures import fusion_panel

NAMES = [f"{s}{k:03d}" for s in (2, 16, 28, 34, 37) for k in range(1, 12)]


def test_split_test_pairs_are_the_training_chapters_test_pairs():
    assert split_test_pairs(NAMES, "paper") == list(paper_split(NAMES, seed=3407, n_test=20)["test"])
    assert split_test_pairs(NAMES, "series") == list(series_split(NAMES, seed=3407)["test"])
    with pytest.raises(ParameterError, match="split"):
        split_test_pairs(NAMES, "random")


def test_untrained_methods_fuse_within_the_sources_range():
    rng = np.random.default_rng(0)
    a, b = rng.random((32, 32)), rng.random((32, 32)) * 0.5
    for name, fuse in untrained_methods().items():
        fused = fuse(a, b)
        assert fused.shape == a.shape and fused.min() >= 0.0 and fused.max() <= 1.0, name
    np.testing.assert_allclose(untrained_methods()["average"](a, b), (a + b) / 2)


def test_score_pairs_on_real_pairs(real_data_root):
    pairs = {p.name: p for p in load_aanlib_pairs(real_data_root("harvard-aanlib"), "CT-MRI", verify=False)}
    names = sorted(pairs)[:2]
    scores = score_pairs(untrained_methods()["average"], pairs, names)
    assert list(scores) == names
    for metrics in scores.values():
        assert 5 < metrics["psnr"] < 40 and 0 < metrics["ssim"] <= 1 and 0 < metrics["fsim"] <= 1


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


def test_summary_frame_gives_mean_and_sample_std_per_method():
    from mmlib.papers.dilran.scoring import AUTHORS_COLUMNS, summary_frame

    pairs = {"a": {"psnr": 10.0, "ssim": 0.5}, "b": {"psnr": 14.0, "ssim": 0.7}}
    frame = summary_frame({"m": pairs}, {"PSNR": "psnr", "SSIM": "ssim"})
    assert frame.loc["m", "PSNR"] == 12.0 and frame.loc["m", "PSNR_std"] == pytest.approx(np.sqrt(8.0))
    assert frame.loc["m", "SSIM"] == pytest.approx(0.6)
    with pytest.raises(ParameterError, match="lack"):
        summary_frame({"m": pairs}, AUTHORS_COLUMNS)
