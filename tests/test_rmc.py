"""RMC: layer layout against NOTES.md (mc3_18), torchvision names, weight loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.rmc import DARMC, RMC, load_kinetics_weights, scaled_channels


def convs(module: nn.Module) -> list[nn.Conv3d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv3d)]


def test_stem_layout_and_no_maxpool():
    model = RMC(width=1.0)
    stem = model.stem[0]
    assert isinstance(stem, nn.Conv3d)
    assert (stem.in_channels, stem.out_channels) == (1, 64)
    assert stem.kernel_size == (3, 7, 7) and stem.stride == (1, 2, 2) and stem.padding == (1, 3, 3)
    assert isinstance(model.stem[1], nn.BatchNorm3d) and isinstance(model.stem[2], nn.ReLU)
    assert not any(isinstance(m, (nn.MaxPool3d, nn.AvgPool3d)) for m in model.modules())


def test_layers_kernels_strides_channels():
    model = RMC(width=1.0)
    assert [len(layer) for layer in model.blocks[1:]] == [2, 2, 2, 2]
    for conv in convs(model.layer1):
        assert conv.kernel_size == (3, 3, 3) and conv.stride == (1, 1, 1)
    assert model.layer1[0].downsample is None
    for name, channels in zip(("layer2", "layer3", "layer4"), (128, 256, 512)):
        layer = getattr(model, name)
        first = layer[0]
        assert first.conv1[0].kernel_size == (1, 3, 3) and first.conv1[0].stride == (1, 2, 2)
        assert first.conv2[0].kernel_size == (1, 3, 3) and first.conv2[0].stride == (1, 1, 1)
        ds = first.downsample[0]
        assert ds.kernel_size == (1, 1, 1) and ds.stride == (1, 2, 2) and ds.out_channels == channels
        assert all(c.kernel_size == (1, 3, 3) and c.stride == (1, 1, 1) for c in convs(layer[1]))
        assert all(c.out_channels == channels for c in convs(layer))
    assert isinstance(model.fc[0], nn.Dropout) and model.fc[0].p == 0.5
    assert model.fc[1].in_features == 512


def test_parameter_count_matches_torchvision_mc3_18():
    # torchvision documents mc3_18 (Kinetics-400 head, RGB stem) as 11,695,440 parameters.
    model = RMC(in_channels=3, num_classes=400)
    assert sum(p.numel() for p in model.parameters()) == 11_695_440


def test_torchvision_parameter_names():
    keys = set(RMC().state_dict())
    expected = {
        "stem.0.weight", "stem.1.running_var", "layer1.0.conv1.0.weight", "layer1.1.conv2.1.bias",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer4.1.conv2.0.weight",
        "fc.1.weight", "fc.1.bias",
    }
    assert expected <= keys
    assert "layer1.0.downsample.0.weight" not in keys and "fc.weight" not in keys


def test_depth_preserved_and_spatial_downsampled_16():
    model = RMC(width=0.125).eval()
    x = torch.randn(2, 1, 7, 32, 48)
    sizes = []
    with torch.no_grad():
        for block in model.blocks:
            x = block(x)
            sizes.append(tuple(x.shape[1:]))
    assert sizes == [(8, 7, 16, 24), (8, 7, 16, 24), (16, 7, 8, 12), (32, 7, 4, 6), (64, 7, 2, 3)]
    assert model(torch.randn(2, 1, 7, 32, 48)).shape == (2, 2)


def test_width_knob():
    assert scaled_channels(0.25) == (16, 16, 32, 64, 128)
    assert RMC(width=0.25).out_channels == 128
    with pytest.raises(ParameterError):
        RMC(width=0)


def test_gradients_reach_stem():
    model = RMC(width=0.125)
    model(torch.randn(2, 1, 4, 32, 32)).sum().backward()
    assert model.stem[0].weight.grad is not None and model.stem[0].weight.grad.abs().sum() > 0


def test_bad_input_shape_is_data_error():
    with pytest.raises(DataError, match="shape"):
        RMC(width=0.125)(torch.randn(1, 2, 4, 32, 32))


def _fake_kinetics_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    donor = RMC(in_channels=3, num_classes=400, width=1.0)
    state = {k: (torch.randn_like(v) if v.is_floating_point() else v) for k, v in donor.state_dict().items()}
    state.pop("fc.1.weight"), state.pop("fc.1.bias")
    state["fc.weight"], state["fc.bias"] = torch.randn(400, 512), torch.randn(400)  # torchvision's plain Linear head
    return state


def test_kinetics_round_trip(tmp_path):
    state = _fake_kinetics_state()
    path = tmp_path / "mc3_18_kinetics.pth"
    torch.save(state, path)
    model = load_kinetics_weights(RMC(in_channels=1), path)
    loaded = model.state_dict()
    for k in ("layer1.0.conv1.0.weight", "layer3.0.downsample.1.running_mean", "layer4.1.conv2.0.weight"):
        assert torch.equal(loaded[k], state[k])
    assert torch.allclose(loaded["stem.0.weight"], state["stem.0.weight"].sum(1, keepdim=True))
    assert loaded["fc.1.weight"].shape == (2, 512)
    # A grey volume through the 1-channel stem equals the same volume copied into RGB through the file's stem.
    x = torch.randn(1, 1, 3, 16, 16)
    grey = nn.functional.conv3d(x, loaded["stem.0.weight"], stride=(1, 2, 2), padding=(1, 3, 3))
    rgb = nn.functional.conv3d(x.repeat(1, 3, 1, 1, 1), state["stem.0.weight"], stride=(1, 2, 2), padding=(1, 3, 3))
    assert torch.allclose(grey, rgb, atol=1e-4)


def test_kinetics_loads_into_darmc_and_multichannel(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(_fake_kinetics_state(), path)
    da = load_kinetics_weights(DARMC(), path)
    assert da.attention.position.gamma.item() == 0.0
    four = load_kinetics_weights(RMC(in_channels=4), path)
    assert four.stem[0].weight.shape[1] == 4


def test_kinetics_mismatch_names_the_file(tmp_path):
    path = tmp_path / "bad.pth"
    state = _fake_kinetics_state()
    state.pop("layer2.0.conv1.0.weight")
    torch.save(state, path)
    with pytest.raises(DataError, match="bad.pth.*missing"):
        load_kinetics_weights(RMC(), path)
    good = tmp_path / "good.pth"
    torch.save(_fake_kinetics_state(), good)
    with pytest.raises(DataError, match="good.pth.*shapes"):
        load_kinetics_weights(RMC(width=0.5), good)
    with pytest.raises(DataError, match="does not exist"):
        load_kinetics_weights(RMC(), tmp_path / "absent.pth")
