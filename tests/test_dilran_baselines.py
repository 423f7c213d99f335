"""Baselines of DILRAN Table 2 and the classic anchors (mmlib.papers.dilran.baselines)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.baselines import (
    MSDRA,
    MSRPAN,
    PyramidResidualAttention,
    ZeroLearningFusion,
    average_fusion,
    laplacian_fusion,
    laplacian_pyramid,
    reconstruct_laplacian,
)


def pair(size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((size, size)), rng.random((size, size))


@pytest.fixture(scope="module")
def zero_learning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ZeroLearningFusion()


def in_unit_range(img, shape):
    return img.shape == shape and img.min() >= 0 and img.max() <= 1


def test_average_is_the_pixel_mean():
    a, b = pair()
    np.testing.assert_allclose(average_fusion(a, b), (a + b) / 2)


@pytest.mark.parametrize("method", [average_fusion, laplacian_fusion])
def test_classic_rules_check_the_pair(method):
    a, b = pair()
    with pytest.raises(DataError, match="sizes differ"):
        method(a, b[:30])
    with pytest.raises(DataError, match="grey 2-D"):
        method(np.stack([a] * 3, -1), np.stack([b] * 3, -1))  # RGB where grey is expected


def test_laplacian_pyramid_rebuilds_the_image_exactly():
    a, _ = pair(40)
    pyr = laplacian_pyramid(a, 3)
    assert [p.shape for p in pyr] == [(40, 40), (20, 20), (10, 10), (5, 5)]
    np.testing.assert_allclose(reconstruct_laplacian(pyr), a, atol=1e-12)


def test_laplacian_fusion_keeps_the_stronger_detail():
    a, b = pair()
    np.testing.assert_allclose(laplacian_fusion(a, a), a, atol=1e-12)
    flat = np.full((32, 32), 0.5)
    edge = np.where(np.arange(32) < 16, 0.2, 0.8)[None, :].repeat(32, 0)
    fused = laplacian_fusion(flat, edge)
    assert in_unit_range(fused, (32, 32))
    # the edge of the second image survives (max-abs detail), the flat image only shifts the base
    assert fused[:, 17].mean() - fused[:, 14].mean() > 0.3
    with pytest.raises(ParameterError, match="levels"):
        laplacian_fusion(a, b, levels=6)


def test_zero_learning_weights_and_output(zero_learning):
    a, b = pair()
    np.testing.assert_allclose(zero_learning.weights(a, a), 0.5)
    np.testing.assert_allclose(zero_learning(a, a), a, atol=1e-12)
    w = zero_learning.weights(a, b)
    assert w.shape == (32, 32) and (w >= 0).all() and (w <= 1).all()
    fused = zero_learning(a, b)
    assert in_unit_range(fused, (32, 32))
    np.testing.assert_allclose(fused, w * a + (1 - w) * b)
    assert zero_learning.weights_source == "random-init(seed=0)"


def test_zero_learning_loads_a_torchvision_vgg19_file(zero_learning, tmp_path):
    sd = zero_learning.features.state_dict()
    assert sorted(sd) == ["features.0.bias", "features.0.weight"]
    assert sd["features.0.weight"].shape == (64, 3, 3, 3)
    torch.save({**sd, "features.2.weight": torch.zeros(64, 64, 3, 3)}, tmp_path / "vgg19-fake.pth")
    loaded = ZeroLearningFusion(tmp_path / "vgg19-fake.pth")
    assert loaded.weights_source == "imagenet:vgg19-fake.pth"
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(DataError, match=r"other\.pth"):
        ZeroLearningFusion(tmp_path / "other.pth")


@pytest.mark.parametrize("model_cls, rule", [(MSRPAN, "fer"), (MSDRA, "fl1n")])
def test_learned_baselines_shapes_gradient_and_fusion(model_cls, rule):
    torch.manual_seed(0)
    model = model_cls()
    assert model.default_rule == rule
    x = torch.rand(2, 1, 16, 16)
    out = model(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        fused = model.fuse(x[:1], x[1:])  # the model's own rule by default
        torch.testing.assert_close(fused, model.fuse(x[:1], x[1:], rule))
        assert fused.shape == (1, 1, 16, 16) and torch.isfinite(fused).all()
        torch.testing.assert_close(model.fuse(x[:1], x[:1], rule), model(x[:1]), atol=1e-5, rtol=1e-5)
    with pytest.raises(DataError):
        model.encode(torch.rand(1, 3, 16, 16))


def test_msrpan_shares_its_block_unless_asked_not_to():
    shared, separate = MSRPAN(), MSRPAN(shared_blocks=False)
    n_shared = sum(p.numel() for p in shared.parameters())
    n_separate = sum(p.numel() for p in separate.parameters())
    n_block = sum(p.numel() for p in PyramidResidualAttention().parameters())
    assert n_separate - n_shared == 2 * n_block


def test_baselines_on_a_real_harvard_pair(real_data_root, zero_learning):
    root = real_data_root("harvard-aanlib") / "CT-MRI"
    ct = np.asarray(Image.open(root / "CT" / "2004.png"), dtype=np.float64) / 255
    mr = np.asarray(Image.open(root / "MRI" / "2004.png"), dtype=np.float64) / 255
    for method in (average_fusion, laplacian_fusion, zero_learning):
        fused = method(ct, mr)
        assert in_unit_range(fused, (256, 256))
        # a fusion lies between its sources: closer to each than they are to one another
        gap = np.abs(ct - mr).mean()
        assert np.abs(fused - ct).mean() < gap and np.abs(fused - mr).mean() < gap
