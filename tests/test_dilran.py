"""DILRAN model (paper Sec. 2.2), perceptual network, loss (Eq. 2), fusion and training entry points."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.inspection import footprint, receptive_fields, repeated_block
from mmlib.papers.dilran.model import DILRAN, PyramidAttentionBlock, pool_gate
from mmlib.nets.perceptual import VGG16BNPerceptual
from mmlib.papers.dilran.training import DilranLoss, fuse_pair, sobel_gradients, train_dilran


@pytest.fixture(scope="module")
def vgg():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return VGG16BNPerceptual()


def images(n=1, size=32, seed=0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


# --- model ---------------------------------------------------------------------------------------


def _plain_encode(model: DILRAN, x: torch.Tensor) -> torch.Tensor:
    """The encoder written out as the module docstring states it, 64-channel shallow map and all."""
    shallow = model.shallow(x)
    if model.variant == "code":
        shallow = x + pool_gate(x) * shallow
    deep = model.block_norm(model.block(model.dilated(shallow)))
    if model.variant == "code":
        deep = shallow + pool_gate(shallow) * deep
    return deep


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_folded_stem_gives_the_plain_encoder_and_its_gradients(variant):
    torch.manual_seed(1)
    model = DILRAN(variant).double()
    for norm in (model.dilated.norm, model.block_norm):  # non-trivial running statistics for eval mode
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2.0)
    x = torch.rand(2, 1, 23, 30, dtype=torch.float64)  # odd sizes: the borders and the gate's ceil-mode pool
    with torch.no_grad():
        torch.testing.assert_close(model.eval().encode(x), _plain_encode(model, x), rtol=1e-10, atol=1e-10)
    model.train()
    params = [p for name, p in model.named_parameters() if not name.startswith("head.")]
    folded = torch.autograd.grad(model.encode(x).square().sum(), params)
    plain = torch.autograd.grad(_plain_encode(model, x).square().sum(), params)
    for a, b in zip(folded, plain):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_channels_last_model_keeps_its_layout_from_the_lifted_input_on(variant):
    torch.manual_seed(3)
    model = DILRAN(variant).eval()
    x = images(2, 24)
    with torch.no_grad():
        plain = model.encode(x)
        assert model.memory_format() == torch.contiguous_format and model.lifted_input(x)[0].is_contiguous()
        model.to(memory_format=torch.channels_last)
        lifted, _ = model.lifted_input(x)
        features = model.encode(x.contiguous(memory_format=torch.channels_last))
    assert model.memory_format() == torch.channels_last
    assert lifted.shape[1] > 1 and lifted.is_contiguous(memory_format=torch.channels_last)
    assert features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous()
    torch.testing.assert_close(features, plain, rtol=1e-5, atol=1e-5)


def _training_step(model, loss, x, precision):
    """Loss terms and parameter gradients of one DilranLoss step (autocast bf16 for ``"bf16"``)."""
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        terms = loss.terms(model(x), x)
    terms["loss"].backward()
    return {k: v.detach() for k, v in terms.items()}, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("precision, rtol", [("fp32", 1e-5), ("bf16", 1e-2)])
def test_channels_last_training_step_gives_the_plain_layouts_loss_and_gradients(vgg, precision, rtol):
    x = images(4, 32, 8)
    steps = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        torch.manual_seed(4)
        model = DILRAN().train().to(memory_format=memory_format)
        loss = DilranLoss(perceptual=copy.deepcopy(vgg)).to(memory_format=memory_format)
        steps.append(_training_step(model, loss, x.contiguous(memory_format=memory_format), precision))
    (plain_terms, plain_grads), (fast_terms, fast_grads) = steps
    for key, value in plain_terms.items():
        torch.testing.assert_close(fast_terms[key], value, rtol=rtol / 10, atol=0)
    # Biases just before a train-mode BatchNorm have zero gradient up to rounding, hence the atol.
    for fast, plain in zip(fast_grads, plain_grads):
        assert (fast - plain).norm() <= rtol * plain.norm() + 1e-5


def test_dilated_stem_factored_input_equals_its_expanded_input():
    torch.manual_seed(2)
    stem = DILRAN().dilated.double().eval()
    lifted, mix = torch.randn(1, 3, 20, 20, dtype=torch.float64), torch.randn(64, 3, dtype=torch.float64)
    expanded = F.conv2d(lifted, mix[..., None, None])
    with torch.no_grad():
        torch.testing.assert_close(stem(lifted, mix), stem(expanded), rtol=1e-10, atol=1e-10)


def test_forward_shape_on_a_full_size_image():
    torch.manual_seed(0)
    model = DILRAN().eval()
    x = images(1, 256)
    with torch.no_grad():
        features = model.encode(x)
        out = model.decode(features)
    assert features.shape == (1, 64, 256, 256)
    assert out.shape == (1, 1, 256, 256) and torch.isfinite(out).all()


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_gradient_reaches_every_parameter(variant):
    torch.manual_seed(0)
    model = DILRAN(variant).train()
    model(images(2, 24)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_variants_differ_and_unknown_variant_is_rejected():
    torch.manual_seed(0)
    code = DILRAN("code").eval()
    paper = DILRAN("paper").eval()
    paper.load_state_dict(code.state_dict(), strict=False)  # same weights where names match
    x = images(1, 16)
    with torch.no_grad():
        assert not torch.allclose(code.encode(x), paper.encode(x))
    # the code variant re-uses the dilated stem's BatchNorm after the block; the paper variant has its own
    assert code.block_norm is code.dilated.norm and paper.block_norm is not paper.dilated.norm
    with pytest.raises(ParameterError, match="variant"):
        DILRAN("v5")


def test_chain_once_equals_the_authors_repeated_evaluation():
    torch.manual_seed(1)
    block = PyramidAttentionBlock(8)
    x = torch.randn(2, 8, 16, 16)

    def repeated(x):  # the authors' form: C(x) three times, C(C(x)) twice
        c = block.conv
        prev = c(x) + c(c(x)) + c(c(c(x)))
        gate = F.relu(F.interpolate(F.avg_pool2d(x, 2, 2), scale_factor=2, mode="nearest"))
        return gate * prev + x

    with torch.no_grad():
        torch.testing.assert_close(block(x), repeated(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(repeated_block(block, x), repeated(x), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("dilation", [1, 2, 5])
def test_footprint_of_a_dilated_convolution_is_2d_plus_1(dilation):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3, padding=dilation, dilation=dilation)
    assert footprint(conv, 2) == 2 * dilation + 1
    assert footprint(torch.nn.Conv2d(2, 2, 1), 2) == 1
    assert footprint(lambda t: torch.zeros_like(t), 2) == 0  # an output that ignores its input
    with pytest.raises(ParameterError, match="larger size"):
        footprint(conv, 2, size=2 * dilation + 1)
    with pytest.raises(ParameterError, match="odd"):
        footprint(conv, 2, size=30)


def test_receptive_fields_of_the_stem_and_the_block():
    """Sec. 2.2.1: stem windows 3, 7, 11 (dilation 1, 3, 5); block paths 3, 5, 7 (C chained 1-3 times)."""
    torch.manual_seed(3407)
    assert receptive_fields(DILRAN()) == {
        "stem branch, dilation 1": 3, "stem branch, dilation 3": 7, "stem branch, dilation 5": 11,
        "block path y1 = C(x)": 3, "block path y2 = C(C(x))": 5, "block path y3 = C(C(C(x)))": 7,
    }


def test_pool_gate_handles_odd_sizes_and_is_piecewise_constant():
    x = torch.randn(1, 3, 7, 9)
    gate = pool_gate(x)
    assert gate.shape == x.shape and (gate >= 0).all()
    even = torch.randn(1, 1, 4, 4)
    g = pool_gate(even)
    assert torch.allclose(g[..., 0, 0], g[..., 1, 1])  # one 2x2 cell shares one value
    assert torch.allclose(g[..., 0, 0], F.relu(even[..., :2, :2].mean()))


def test_fuse_encodes_both_combines_and_decodes_once():
    torch.manual_seed(0)
    model = DILRAN().eval()
    ct, mr = images(1, 16, 1), images(1, 16, 2)
    with torch.no_grad():
        expected = model.decode((model.encode(ct) + model.encode(mr)) / 2)
        torch.testing.assert_close(model.fuse(ct, mr, "avg"), expected, atol=1e-5, rtol=1e-5)
        assert model.fuse(ct, mr, "sfnn-max").shape == (1, 1, 16, 16)
    with pytest.raises(DataError, match="fusion pair"):
        model.fuse(ct, images(1, 20))
    with pytest.raises(DataError, match=r"\(B, 1, H, W\)"):
        model.encode(torch.rand(1, 3, 16, 16))  # RGB where grey is expected


def test_fuse_pair_takes_arrays_and_checks_the_pair():
    torch.manual_seed(0)
    model = DILRAN()
    ct, mr = np.random.default_rng(0).random((2, 24, 24))
    fused = fuse_pair(model, ct, mr)  # DILRAN's default rule is SFNN-max
    torch.testing.assert_close(fused, fuse_pair(model, ct, mr, "sfnn-max"))
    assert not torch.allclose(fused, fuse_pair(model, ct, mr, "fer"))
    assert fused.shape == (1, 1, 24, 24) and fused.min() >= 0 and fused.max() <= 1
    assert model.training  # the mode is restored
    with pytest.raises(DataError, match="sizes differ"):
        fuse_pair(model, ct, mr[:20])
    with pytest.raises(DataError, match="grey image"):
        fuse_pair(model, np.zeros((24, 24, 3)), np.zeros((24, 24, 3)))


def test_fuse_pair_bf16_stays_close_to_fp32():
    torch.manual_seed(0)
    model = DILRAN()
    ct, mr = images(1, 32, 3), images(1, 32, 4)
    ref = fuse_pair(model, ct, mr, "avg", clamp=False)
    fast = fuse_pair(model, ct, mr, "avg", precision="bf16", clamp=False)
    assert fast.dtype == torch.float32
    assert (fast - ref).abs().max() <= 0.05 * ref.abs().max()


# --- perceptual network (VGG16-BN, torchvision layout) ----------------------------------------------

#: torchvision's vgg16_bn ``features`` names up to conv3_3's BatchNorm (index 21).
CONVS, BNS = (0, 3, 7, 10, 14, 17, 20), (1, 4, 8, 11, 15, 18, 21)
BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
EXPECTED_KEYS = sorted(
    [f"features.{i}.{p}" for i in CONVS for p in ("weight", "bias")]
    + [f"features.{i}.{p}" for i in BNS for p in BN_TENSORS]
)


def test_vgg16_bn_names_match_torchvision(vgg):
    assert sorted(vgg.state_dict()) == EXPECTED_KEYS
    sd = vgg.state_dict()
    assert sd["features.0.weight"].shape == (64, 3, 3, 3)
    assert sd["features.10.weight"].shape == (128, 128, 3, 3)
    assert sd["features.20.weight"].shape == (256, 256, 3, 3)
    outs = vgg(images(1, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8)]
    assert (outs[0] < 0).any()  # BN outputs before ReLU can be negative
    assert vgg.weights_source == "random-init(seed=0)" and not any(p.requires_grad for p in vgg.parameters())


def test_vgg_without_weights_warns_and_is_reproducible(vgg):
    with pytest.warns(UserWarning, match="random"):
        again = VGG16BNPerceptual()
    for k, v in vgg.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    with pytest.warns(UserWarning):
        other = VGG16BNPerceptual(seed=1)
    assert not torch.equal(other.state_dict()["features.0.weight"], vgg.state_dict()["features.0.weight"])


def test_vgg_loads_a_torchvision_format_file_and_rejects_a_wrong_one(vgg, tmp_path):
    fake = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in vgg.state_dict().items()}
    fake["features.24.weight"] = torch.zeros(512, 256, 3, 3)  # deeper layers and classifier are ignored
    fake["classifier.0.weight"] = torch.zeros(4, 4)
    good = tmp_path / "vgg16_bn-fake.pth"
    torch.save(fake, good)
    loaded = VGG16BNPerceptual(good)
    assert loaded.weights_source == "imagenet:vgg16_bn-fake.pth"
    assert torch.equal(loaded.state_dict()["features.11.running_var"], torch.full((128,), 0.5))

    missing = dict(fake)
    del missing["features.4.running_mean"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(DataError, match=r"missing\.pth.*missing 1 keys"):
        VGG16BNPerceptual(tmp_path / "missing.pth")
    wrong = dict(fake, **{"features.0.weight": torch.zeros(64, 1, 3, 3)})
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(DataError, match=r"wrong\.pth.*wrong shape"):
        VGG16BNPerceptual(tmp_path / "wrong.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(DataError, match=r"junk\.pth"):
        VGG16BNPerceptual(tmp_path / "junk.pth")
    with pytest.raises(DataError, match="does not exist"):
        VGG16BNPerceptual(tmp_path / "absent.pth")


# --- loss ------------------------------------------------------------------------------------------


def test_sobel_gradients_of_a_ramp():
    ramp = torch.arange(16.0).repeat(16, 1)[None, None] / 16  # increases along W
    g = sobel_gradients(torch.cat([ramp, ramp.transpose(-1, -2)]))
    assert g.shape == (2, 2, 16, 16)
    inner = (slice(None), slice(2, -2), slice(2, -2))
    assert torch.allclose(g[0, 0][inner[1:]], torch.zeros(12, 12), atol=1e-6)  # no change along H
    assert (g[0, 1][inner[1:]].abs() > 0).all() and torch.allclose(g[0, 1][inner[1:]], g[1, 0][inner[1:]])


def test_dilran_loss_is_zero_for_identical_images_and_positive_otherwise(vgg):
    loss = DilranLoss(perceptual=vgg)
    x, y = images(2, 32, 5), images(2, 32, 6)
    same = loss.terms(x, x.clone())
    assert all(v.item() == 0 for v in same.values())
    diff = loss.terms(y, x)
    assert all(v.item() > 0 for v in diff.values())
    expected = diff["pixel"] + 0.2 * diff["perceptual"] + 0.2 * diff["gradient"]
    torch.testing.assert_close(diff["loss"], expected)
    torch.testing.assert_close(DilranLoss(0, 0, perceptual=vgg)(y, x), F.mse_loss(y, x))
    with pytest.raises(ParameterError):
        DilranLoss(-1, 0.2, perceptual=vgg)


def test_loss_gradient_flows_into_the_model(vgg):
    torch.manual_seed(0)
    model = DILRAN()
    x = images(2, 24)
    DilranLoss(perceptual=vgg)(model(x), x).backward()
    assert model.head[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())  # the perceptual network stays frozen


def test_train_dilran_runs_checkpoints_and_selects_on_validation(vgg, tmp_path):
    torch.manual_seed(0)
    model = DILRAN()
    data = images(8, 16, 7)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data[:6]), batch_size=4)
    val = torch.utils.data.DataLoader(data[6:], batch_size=2)
    before = [p.detach().clone() for p in model.parameters()]
    history = train_dilran(model, train, val_loader=val, loss=DilranLoss(perceptual=vgg), max_epochs=2,
                           device="cpu", checkpoint_path=tmp_path / "last.pt", progress=False)
    assert [r["epoch"] for r in history.epochs] == [1, 2]
    assert {"train_loss", "train_pixel", "val_loss", "val_perceptual"} <= set(history.epochs[0])
    assert (tmp_path / "last.pt").exists() and (tmp_path / "best.pt").exists()
    assert history.best_epoch in (1, 2)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
