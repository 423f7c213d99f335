"""M3's feature extractor (Eq. 1, mmlib.papers.m3.features) and its classifier heads (mmlib.papers.m3.heads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlib.errors import DataError, ParameterError
from mmlib.papers.m3 import features as feats
from mmlib.papers.m3.heads import HEADS, concatenated, fit_predict
from mmlib.papers.m3.medicalnet import MedicalNetSegmentation


def _outputs(probability: float | None = None, width: float = 0.125, seed: int = 0):
    torch.manual_seed(seed)
    net = MedicalNetSegmentation(width=width).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, 24, 24, 24))
    if probability is not None:  # logits whose softmax gives `probability` for the lesion everywhere
        p = torch.full_like(out["logits"][:, :1], probability)
        out["logits"] = torch.log(torch.cat([1 - p, p], dim=1).clamp_min(1e-12))
    return out


@pytest.mark.parametrize("pooling", feats.POOLINGS)
def test_every_variant_has_the_documented_length(pooling):
    out = feats.pooled_features(_outputs(), pooling)
    for name, value in out.items():
        assert value.shape == (2, feats.feature_length(name, 0.125, pooling)), name
    assert feats.feature_length("m3", 1.0, pooling) == 7168  # Sec. 2.5 at width 1, either reading
    assert feats.feature_length("deep", 1.0, "avg+max") == 4096


def test_a_zero_map_switches_the_masked_features_off_and_leaves_the_plain_ones():
    off, on = feats.pooled_features(_outputs(0.0)), feats.pooled_features(_outputs(1.0))
    assert torch.allclose(off["m3"], torch.zeros_like(off["m3"]), atol=1e-6)
    assert torch.allclose(off["mask"], torch.zeros_like(off["mask"]), atol=1e-6)
    assert torch.equal(off["deep"], on["deep"]) and torch.equal(off["multiscale"], on["multiscale"])
    # a map of ones is no mask at all: masked pooling = plain pooling
    assert torch.allclose(on["m3"], on["multiscale"], atol=1e-5)


def test_the_masked_plus_unmasked_reading():
    out = _outputs(0.5)
    f = feats.pooled_features(out, "masked+unmasked")
    c = out["layer4"].shape[1]
    plain = out["layer4"].float().mean(dim=(2, 3, 4))
    assert torch.allclose(f["mask"][:, :c], 0.5 * plain, atol=1e-5)  # the masked average
    assert torch.allclose(f["mask"][:, c:], plain, atol=1e-6)  # the unmasked average
    assert torch.allclose(f["deep"], plain, atol=1e-6)  # no mask: the unmasked half only


def test_the_map_is_resized_to_each_stage_by_area():
    stage = torch.ones(1, 3, 2, 2, 2)
    p = torch.zeros(1, 1, 4, 4, 4)
    p[..., :2, :2, :2] = 1.0  # one corner octant on the finer grid
    masked = feats.masked_stage(stage, p)
    assert masked.shape == stage.shape and masked[0, 0, 0, 0, 0] == 1 and masked.sum() == 3


def test_unknown_variants_and_poolings():
    with pytest.raises(ParameterError, match="pooling"):
        feats.pooled_features(_outputs(), "median")
    with pytest.raises(ParameterError, match="unknown feature variant"):
        feats.pooled_features(_outputs(), "avg+max", ("m4",))
    with pytest.raises(ParameterError, match="unknown feature variant"):
        feats.feature_length("m4")


def _separable(n=60, d=40, seed=0, shift=2.0):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    x = rng.normal(size=(n, d))
    x[:, :3] += shift * y[:, None]
    return x, y


@pytest.mark.parametrize("head", HEADS)
def test_each_head_learns_a_separable_problem_with_pca_chosen_in_the_training_rows(head):
    x, y = _separable()
    xt, yt = _separable(seed=1)
    scores, chosen = fit_predict(head, x, y, xt)
    assert scores.shape == (60,) and np.all((scores > 0) & (scores < 1))
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(yt, scores) > 0.9
    assert 1 <= chosen["pca_components"] <= 40 and chosen["pca_variance"] in (0.5, 0.7, 0.8, 0.9, 0.95)


def test_a_head_cannot_beat_chance_on_noise():
    x, y = _separable(shift=0.0)
    xt, yt = _separable(seed=1, shift=0.0)
    from sklearn.metrics import roc_auc_score
    assert abs(roc_auc_score(yt, fit_predict("svm", x, y, xt)[0]) - 0.5) < 0.25


def test_the_svm_score_is_its_decision_at_one_half():
    x, y = _separable(shift=1.0)
    xt, _ = _separable(seed=2, shift=1.0)
    scores, _ = fit_predict("svm", x, y, xt)
    assert 0 < (scores >= 0.5).mean() < 1  # both classes are called, unlike Platt probabilities on a weak model


def test_bad_features_and_folds_are_refused():
    x, y = _separable()
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        fit_predict("svm", bad, y, x, where="fold 3, m3/svm/t1ce")
    assert fit_predict("svm", bad, y, x, allow_missing=True)[0].shape == (60,)  # imputed inside the pipeline
    bad[0, 0] = np.inf
    with pytest.raises(DataError, match="infinite"):
        fit_predict("svm", bad, y, x, allow_missing=True)
    with pytest.raises(DataError, match=r"fold 3.*class counts \[60, 0\]"):
        fit_predict("svm", x, np.zeros(60, int), x, where="fold 3")
    with pytest.raises(ParameterError, match="head"):
        fit_predict("knn", x, y, x)
    with pytest.raises(ParameterError, match="equal columns"):
        fit_predict("svm", x, y, x[:, :5])


def test_multimodal_is_the_concatenation():
    a, b = np.ones((3, 2)), np.zeros((3, 4))
    assert concatenated({"t1ce": a, "t2": b}, ("t1ce", "t2")).shape == (3, 6)
    with pytest.raises(ParameterError, match="flair"):
        concatenated({"t1ce": a}, ("t1ce", "flair"))
