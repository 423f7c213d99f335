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


def test_figure5_maps_rebuild_the_case_from_the_kept_weights_and_round_trip(tmp_path):
    from mmlib.data.glioma_dataset import GliomaVolumes, glioma_cases
    from mmlib.errors import DataError
    from mmlib.papers.guidance.feature_maps import figure5_maps, load_figure5_maps, save_figure5_maps
    from mmlib.runs.aggregate import read_run
    from mmlib.runs.provenance import write_run
    from mmlib.train.checkpoint import save_checkpoint

    mods = ("t1ce", "flair")
    params = {"n_cases": 12, "phantom_shape": [12, 16, 12], "width": 0.125, "seed": 0}
    record = {"metrics": {"auc": 0.5}, "predictions": {}, "extra": {}}
    write_run(tmp_path / "run", chapter="guidance/unimodal", tag="t", params=params, records={0: record},
              command="test", wall_time_s=0.0, device="cpu", data={"description": {}})
    torch.manual_seed(0)
    rmcs = {m: RMC(1, 2, width=0.125) for m in mods}
    for m, rmc in rmcs.items():
        save_checkpoint(tmp_path / "uni" / "fold-0" / m / "best.pt", model=rmc, optimizer=None, epoch=1, history=[])
    model = GuidanceModel("t1ce", ("flair",), width=0.125)
    save_checkpoint(tmp_path / "guide" / "stage2-abc" / "fold-0" / "best.pt", model=model, optimizer=None, epoch=1,
                    history=[])
    case = glioma_cases("glioma-phantoms", n_cases=12, shape=(12, 16, 12), seed=0)[3]
    arrays, meta = figure5_maps(read_run(tmp_path / "run"), 0, case["case_id"], mods, tmp_path / "uni",
                                tmp_path / "guide")
    assert {k: v.shape for k, v in arrays.items()} == {k: (12, 16, 12) for k in (
        "image_t1ce", "image_flair", "rmc_t1ce", "rmc_flair", "low_t1ce", "high_t1ce", "low_flair", "high_flair",
        "tumour")}
    item = GliomaVolumes([case], modalities=mods, train=False, seed=0)[0]
    assert np.array_equal(arrays["image_flair"], item["flair"][0].numpy())
    _, p_flair = rmc_high_level(rmcs["flair"], item["flair"][None])
    assert meta["rmc_probability"]["flair"] == pytest.approx(p_flair)
    save_figure5_maps(tmp_path / "maps.npz", arrays, meta)
    saved, again = load_figure5_maps(tmp_path / "maps.npz", 0, case["case_id"])
    assert np.allclose(saved["high_flair"], arrays["high_flair"], atol=1e-3) and again["case_id"] == case["case_id"]
    with pytest.raises(DataError, match="not fold 1"):
        load_figure5_maps(tmp_path / "maps.npz", 1, case["case_id"])
    with pytest.raises(DataError, match="not a case"):
        figure5_maps(read_run(tmp_path / "run"), 0, "nobody", mods, tmp_path / "uni", tmp_path / "guide")
