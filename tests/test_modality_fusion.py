"""Fusion baselines (Tables III/IV ensemble, Table VIII pixel/feature/decision fusion, AGG)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.modality_fusion import (
    AGGClassifier,
    DecisionFusionRMC,
    FeatureFusionRMC,
    PixelFusionRMC,
    ProbabilityEnsemble,
    crop_tumour_roi,
    tumour_roi_batch,
)
from mmlib.papers.guidance.rmc import RMC

MODS = ("t1ce", "flair", "t1", "t2")


def volumes(n: int = 2, mods=MODS) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {m: torch.randn(n, 1, 4, 16, 16, generator=g) for m in mods}


def test_ensemble_is_mean_of_member_probabilities():
    torch.manual_seed(0)
    members = {m: RMC(width=0.125).eval() for m in MODS}
    x = volumes()
    probs = ProbabilityEnsemble(members).eval()(x)
    expected = sum(torch.softmax(members[m](x[m]), 1) for m in MODS) / 4
    assert torch.allclose(probs, expected) and torch.allclose(probs.sum(1), torch.ones(2))


def test_pixel_fusion_stacks_channels_in_order():
    model = PixelFusionRMC(MODS, width=0.125).eval()
    assert model.rmc.stem[0].in_channels == 4
    x = volumes()
    out = model(x)
    assert out.shape == (2, 2)
    swapped = dict(x, t1ce=x["flair"], flair=x["t1ce"])
    assert not torch.allclose(model(swapped), out)


@pytest.mark.parametrize("cls", [FeatureFusionRMC, DecisionFusionRMC])
def test_per_modality_fusion_shapes_and_gradients(cls):
    model = cls(MODS, width=0.125)
    out = model(volumes())
    assert out.shape == (2, 2)
    out.sum().backward()
    branches = model.extractors if cls is FeatureFusionRMC else model.classifiers
    for m in MODS:
        assert branches[m].stem[0].weight.grad.abs().sum() > 0


def test_feature_fusion_head_sees_all_modalities():
    model = FeatureFusionRMC(("t1ce", "flair"), width=0.125)
    assert model.fc[1].in_features == 2 * 64


def test_decision_mlp_has_three_layers():
    model = DecisionFusionRMC(MODS, width=0.125, hidden=8)
    linears = [m for m in model.mlp if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(8, 8), (8, 8), (8, 2)]


def test_missing_modality_and_shape_mismatch():
    model = PixelFusionRMC(MODS, width=0.125)
    x = volumes()
    with pytest.raises(DataError, match="'t2'"):
        model({k: v for k, v in x.items() if k != "t2"})
    with pytest.raises(DataError, match="different shapes"):
        model(dict(x, t1=torch.randn(2, 1, 4, 16, 8)))
    with pytest.raises(ParameterError):
        PixelFusionRMC(("t1", "t1"))


def test_crop_tumour_roi_centres_on_mask():
    vol = np.zeros((20, 40, 40), dtype=np.float32)
    mask = np.zeros_like(vol, dtype=np.uint8)
    mask[8:12, 10:16, 20:30] = 2
    vol[8:12, 10:16, 20:30] = 5.0
    roi = crop_tumour_roi({"t1ce": vol, "flair": vol * 2}, mask, roi_size=(8, 16, 16), margin=1)
    assert roi.shape == (2, 8, 16, 16)
    # all tumour voxels (4*6*10 = 240) are inside the fixed-size ROI
    assert float((roi[0] == 5.0).sum()) == 240 and torch.equal(roi[1], 2 * roi[0])
    big = crop_tumour_roi({"t1ce": vol}, mask, roi_size=(2, 4, 4), margin=0)
    assert big.shape == (1, 2, 4, 4) and (big == 5.0).all()  # centre crop of a larger box


def test_crop_errors_name_the_case():
    vol = np.zeros((4, 8, 8), dtype=np.float32)
    with pytest.raises(DataError, match="case7.*empty"):
        crop_tumour_roi({"t1ce": vol}, np.zeros_like(vol), (4, 4, 4), case="case7")
    with pytest.raises(DataError, match="case7.*shape"):
        crop_tumour_roi({"t1ce": vol}, np.ones((4, 8, 9)), (4, 4, 4), case="case7")


def test_tumour_roi_batch_crops_each_case_around_its_own_mask():
    vols = torch.zeros(2, 1, 12, 20, 20)
    seg = torch.zeros(2, 1, 12, 20, 20, dtype=torch.uint8)
    seg[0, 0, 1:3, 2:4, 2:4] = 1
    vols[0, 0, 1:3, 2:4, 2:4] = 7.0
    seg[1, 0, 8:11, 15:18, 14:18] = 4
    vols[1, 0, 8:11, 15:18, 14:18] = 3.0
    batch = {"t1ce": vols, "flair": -vols, "seg": seg, "case_id": ["a", "b"]}
    rois = tumour_roi_batch(batch, ("flair", "t1ce"), roi_size=(4, 6, 6), margin=0)
    assert rois.shape == (2, 2, 4, 6, 6) and rois.dtype == torch.float32
    assert float((rois[0, 1] == 7.0).sum()) == 8 and float((rois[1, 1] == 3.0).sum()) == 36  # whole tumours
    assert torch.equal(rois[:, 0], -rois[:, 1])  # channel order follows `modalities`
    seg[1] = 0
    with pytest.raises(DataError, match="b.*empty"):
        tumour_roi_batch(batch, ("t1ce",), roi_size=(4, 6, 6))
    with pytest.raises(DataError, match="with_seg=True"):
        tumour_roi_batch({"t1ce": vols}, ("t1ce",), roi_size=(4, 6, 6))


def test_agg_classifier():
    model = AGGClassifier(2, roi_size=(8, 16, 16), channels=(4, 8))
    out = model(torch.randn(2, 2, 8, 16, 16))
    assert out.shape == (2, 2)
    out.sum().backward()
    with pytest.raises(DataError, match="AGG input"):
        model(torch.randn(2, 3, 8, 16, 16))


def test_agg_roi_on_real_brats_case(real_data_root):
    from mmlib.data.brats import discover_brats, load_brats_case

    case = next(c for c in discover_brats(real_data_root("brats-samples")) if c.case_id == "Brats18_2013_2_1")
    data = load_brats_case(case, ["t1ce", "flair"])
    roi = crop_tumour_roi(data["images"], data["seg"], roi_size=(64, 64, 64), margin=4, case=case.case_id)
    assert roi.shape == (2, 64, 64, 64)
    # the ROI holds brain signal, and more of it than a same-size box in a corner of the scan
    corner = data["images"]["t1ce"][:64, :64, :64]
    assert float((roi[0] != 0).float().mean()) > 0.5
    assert float((roi[0] != 0).float().mean()) > float((corner != 0).mean())
