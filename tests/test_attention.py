"""Dual attention: identity at init, shapes, row-stochastic maps, chunking exactness."""

from __future__ import annotations

import pytest
import torch

from mmlib.errors import ParameterError
from mmlib.nets.attention import DualAttention3d, PositionAttention3d, SliceAttention3d
from mmlib.papers.guidance.rmc import DARMC


@pytest.fixture
def x():
    torch.manual_seed(0)
    return torch.randn(2, 16, 5, 4, 6)


@pytest.mark.parametrize("axes", ["hw", "dhw"])
def test_zero_gamma_is_identity(x, axes):
    for module in (PositionAttention3d(16, spatial_axes=axes), SliceAttention3d(), DualAttention3d(16, spatial_axes=axes)):
        assert torch.equal(module(x), x)


def test_position_maps_shape_and_rows_sum_to_one(x):
    out, attn = PositionAttention3d(16, spatial_axes="hw")(x, return_attention=True)
    assert out.shape == x.shape and attn.shape == (2, 5, 24, 24)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 5, 24))
    _, attn = PositionAttention3d(16, spatial_axes="dhw")(x, return_attention=True)
    assert attn.shape == (2, 120, 120)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 120))
    assert (attn >= 0).all()


@pytest.mark.parametrize("mode", ["cam", "plain"])
def test_slice_maps_rows_sum_to_one(x, mode):
    _, attn = SliceAttention3d(mode)(x, return_attention=True)
    assert attn.shape == (2, 5, 5)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 5))


def test_cam_softmax_prefers_dissimilar_slices():
    # Slice 0 and 1 are identical, slice 2 is its negative: CAM (max - E) weights slice 2 most for slice 0.
    base = torch.randn(1, 3, 1, 2, 2)
    x = torch.cat([base, base, -base], dim=2)
    _, cam = SliceAttention3d("cam")(x, return_attention=True)
    _, plain = SliceAttention3d("plain")(x, return_attention=True)
    assert cam[0, 0].argmax() == 2 and plain[0, 0].argmax() in (0, 1)


def test_gamma_changes_output_and_gets_gradients(x):
    module = DualAttention3d(16)
    with torch.no_grad():
        module.position.gamma.fill_(0.5)
        module.slice.gamma.fill_(0.5)
    out = module(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    out.sum().backward()
    assert module.position.gamma.grad is not None and module.slice.gamma.grad is not None
    assert module.position.query.weight.grad.abs().sum() > 0


def test_dual_is_sum_of_branch_terms(x):
    module = DualAttention3d(16)
    with torch.no_grad():
        module.position.gamma.fill_(0.3)
        module.slice.gamma.fill_(0.7)
    expected = module.position(x) + module.slice(x) - x
    assert torch.allclose(module(x), expected, atol=1e-6)


@pytest.mark.parametrize("axes,chunk", [("hw", 3), ("dhw", 7)])
def test_chunked_equals_unchunked(x, axes, chunk):
    torch.manual_seed(1)
    full = PositionAttention3d(16, spatial_axes=axes)
    chunked = PositionAttention3d(16, spatial_axes=axes, chunk_size=chunk)
    chunked.load_state_dict(full.state_dict())
    with torch.no_grad():
        full.gamma.fill_(1.0)
        chunked.gamma.fill_(1.0)
    a, ma = full(x, return_attention=True)
    b, mb = chunked(x, return_attention=True)
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(ma, mb, atol=1e-6)


def test_darmc_returns_maps_and_logits():
    model = DARMC(width=0.125).eval()
    v = torch.randn(1, 1, 6, 32, 32)
    feats, maps = model.features(v, return_attention=True)
    assert feats.shape == (1, 64, 6, 2, 2)
    assert maps["position"].shape == (1, 6, 4, 4) and maps["slice"].shape == (1, 6, 6)
    assert model(v).shape == (1, 2)


def test_bad_options():
    with pytest.raises(ParameterError):
        PositionAttention3d(16, spatial_axes="d")
    with pytest.raises(ParameterError):
        SliceAttention3d("sigmoid")
    with pytest.raises(ParameterError):
        PositionAttention3d(16, chunk_size=0)


def test_bf16_autocast_forward_is_finite():
    model = DARMC(width=0.125).eval()
    with torch.no_grad():
        model.attention.position.gamma.fill_(0.5)
        model.attention.slice.gamma.fill_(0.5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 1, 4, 32, 32))
    assert out.shape == (1, 2) and torch.isfinite(out.float()).all()
