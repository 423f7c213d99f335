"""Figure 5's feature maps (mmlib.papers.guidance.feature_maps)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from mmlib.errors import ParameterError
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import RMC
from mmlib.papers.guidance.feature_maps import COLUMNS, channel_mean_map, figure5, guidance_level_maps, rmc_high_level

matplotlib.use("Agg")
SIZE = (8, 32, 32)


def test_channel_mean_map_is_the_scaled_upsampled_channel_mean():
    feats = torch.zeros(1, 3, 2, 2, 2)
    feats[0, :, 1, 1, 1] = torch.tensor([3.0, 6.0, 9.0])  # one hot voxel, channel mean 6
    out = channel_mean_map(feats, (4, 4, 4))
    assert out.shape == (4, 4, 4) and out.min() == 0.0 and out.max() == 1.0
    assert np.unravel_index(out.argmax(), out.shape) == (3, 3, 3)  # the hot corner stays where it was
    assert not channel_mean_map(torch.ones(1, 2, 2, 2, 2), (4, 4, 4)).any()  # constant map -> zeros
    with pytest.raises(ParameterError, match="one case"):
        channel_mean_map(torch.zeros(2, 3, 2, 2, 2), (4, 4, 4))


def test_rmc_map_and_probability_match_the_forward_pass():
    torch.manual_seed(0)
    rmc = RMC(width=0.125).eval()
    x = torch.randn(1, 1, *SIZE)
    fmap, prob = rmc_high_level(rmc, x)
    assert fmap.shape == SIZE and 0.0 <= fmap.min() and fmap.max() <= 1.0
    assert prob == pytest.approx(float(torch.softmax(rmc(x).detach(), 1)[0, 1]), abs=1e-6)


def test_guidance_maps_cover_every_modality_and_the_fused_probability():
    torch.manual_seed(0)
    model = GuidanceModel("t1ce", ("flair", "t2"), width=0.125).eval()
    vols = {m: torch.randn(1, 1, *SIZE) for m in model.modalities}
    maps, prob = guidance_level_maps(model, vols)
    assert set(maps) == {"t1ce", "flair", "t2"}
    assert all(maps[m][k].shape == SIZE for m in maps for k in ("low", "high"))
    assert prob == pytest.approx(float(torch.softmax(model(vols)["fused"].detach(), 1)[0, 1]), abs=1e-6)
    # the primary's low level is its blocks 1-3: it ignores the secondary inputs
    other = {**vols, "flair": torch.randn(1, 1, *SIZE)}
    assert np.allclose(guidance_level_maps(model, other)[0]["t1ce"]["low"], maps["t1ce"]["low"])
    assert not np.allclose(guidance_level_maps(model, other)[0]["flair"]["low"], maps["flair"]["low"])


def test_figure5_grid():
    rng = np.random.default_rng(0)
    mods = ("t1ce", "flair")
    img = {m: rng.random(SIZE) for m in mods}
    tumour = np.zeros(SIZE)
    tumour[3:5, 10:20, 10:20] = 1
    fig = figure5(img, img, {m: {"low": img[m], "high": img[m]} for m in mods}, slice_index=4,
                  titles={"t1ce": "T1CE p=0.3"}, tumour=tumour)
    axes = np.array(fig.axes).reshape(len(mods), len(COLUMNS))
    assert [a.get_title() for a in axes[0]] == list(COLUMNS)
    assert axes[0, 0].get_ylabel() == "T1CE p=0.3" and axes[1, 0].get_ylabel() == "FLAIR"


def test_admonition_escapes_the_title_and_keeps_the_html_text(monkeypatch):
    import mmlib.viz.admonition as module

    shown = []
    monkeypatch.setattr(module, "display", shown.append)
    module.admonition("warning", "runs <missing>", "see <code>x</code>")
    assert shown[0].data == ('<div class="admonition warning"><p class="admonition-title">runs &lt;missing&gt;</p>'
                             "<p>see <code>x</code></p></div>")
