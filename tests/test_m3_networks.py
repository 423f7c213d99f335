"""M3's networks (mmlib.papers.m3.medicalnet, .training.DirectCNN): MedicalNet's layout, names and weights loading."""

from __future__ import annotations

import pytest
import torch

from mmlib.errors import DataError, ParameterError
from mmlib.papers.m3.medicalnet import (DILATED, PAPER_SPATIAL_SIZE, DilatedResNet50, MedicalNetSegmentation,
                                        check_width, load_medicalnet_weights, output_shapes, stage_channels)
from mmlib.papers.m3.training import DirectCNN


def test_output_stride_is_eight_and_layer3_layer4_are_dilated_as_medicalnet():
    net = DilatedResNet50(width=0.125)
    for name, dilation in DILATED.items():
        for block in getattr(net, name):
            assert block.conv2.stride == (1, 1, 1) and block.conv2.dilation == (dilation,) * 3
            assert block.conv2.padding == (dilation,) * 3
        assert getattr(net, name)[0].downsample[0].stride == (1, 1, 1)
    assert net.layer2[0].conv2.stride == (2, 2, 2) and net.layer2[0].conv2.dilation == (1, 1, 1)
    shapes = output_shapes((32, 40, 48), width=0.125)
    assert shapes["layer1"][1:] == (8, 10, 12)  # stem stride 2 + max-pool stride 2
    assert shapes["layer2"][1:] == shapes["layer3"][1:] == shapes["layer4"][1:] == (4, 5, 6)  # output stride 8
    assert shapes["logits"] == (2, 8, 10, 12)  # MedicalNet's head: back to stride 4


def test_the_paper_sizes_of_sec_2_2_3():
    shapes = output_shapes(PAPER_SPATIAL_SIZE)
    assert shapes["layer1"] == (256, 39, 70, 70)
    assert shapes["layer4"] == (2048, 20, 35, 35)
    assert [shapes[s][0] for s in ("layer2", "layer3", "layer4")] == [512, 1024, 2048]  # 3584 per pooling


def test_width_knob_scales_every_stage():
    assert stage_channels(1.0) == {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
    assert stage_channels(0.25) == {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
    out = MedicalNetSegmentation(width=0.125)(torch.zeros(1, 1, 16, 16, 16))
    assert {k: v.shape[1] for k, v in out.items() if k != "logits"} == stage_channels(0.125)
    for bad in (0, -1, 0.001, True, "1"):
        with pytest.raises(ParameterError, match="width"):
            check_width(bad)


def test_parameter_names_are_medicalnets():
    keys = set(MedicalNetSegmentation(width=0.125).state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
            "layer3.5.conv3.weight", "layer4.2.bn3.weight", "conv_seg.0.weight", "conv_seg.0.bias",
            "conv_seg.6.weight"} <= keys
    assert not any(k.startswith(("fc.", "avgpool")) for k in keys)
    assert "layer1.0.downsample.0.bias" not in keys  # shortcut B without bias, as MedicalNet
    head = MedicalNetSegmentation(width=0.125).conv_seg
    assert [type(m).__name__ for m in head] == ["ConvTranspose3d", "BatchNorm3d", "ReLU", "Conv3d", "BatchNorm3d",
                                                "ReLU", "Conv3d"]
    assert head[0].stride == (2, 2, 2) and head[0].out_channels == 32 and head[6].out_channels == 2


def _medicalnet_file(path, state):
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path


def test_a_medicalnet_format_file_loads_into_the_encoder(tmp_path):
    source = MedicalNetSegmentation(width=0.125)
    target = MedicalNetSegmentation(width=0.125)
    loaded = load_medicalnet_weights(target, _medicalnet_file(tmp_path / "resnet_50.pth", source.state_dict()))
    assert "layer4.2.conv3.weight" in loaded and not any(k.startswith("conv_seg.") for k in loaded)
    assert torch.equal(target.layer4[2].conv3.weight, source.layer4[2].conv3.weight)
    assert not torch.equal(target.conv_seg[0].weight, source.conv_seg[0].weight)  # the head is left alone
    load_medicalnet_weights(target, tmp_path / "resnet_50.pth", include_head=True)
    assert torch.equal(target.conv_seg[0].weight, source.conv_seg[0].weight)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = MedicalNetSegmentation(width=0.125).state_dict()
    missing = {k: v for k, v in state.items() if k != "layer2.1.bn2.weight"}
    with pytest.raises(DataError, match=r"missing from the file \['layer2.1.bn2.weight'\]"):
        load_medicalnet_weights(MedicalNetSegmentation(width=0.125), _medicalnet_file(tmp_path / "a.pth", missing))
    extra = {**state, "fc.weight": torch.zeros(2, 8)}
    with pytest.raises(DataError, match=r"unexpected in the file \['fc.weight'\]"):
        load_medicalnet_weights(MedicalNetSegmentation(width=0.125), _medicalnet_file(tmp_path / "b.pth", extra))
    with pytest.raises(DataError, match="shapes differ.*width=1"):
        load_medicalnet_weights(MedicalNetSegmentation(width=0.25), _medicalnet_file(tmp_path / "c.pth", state))


def test_unreadable_weights_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_medicalnet_weights(MedicalNetSegmentation(width=0.125), tmp_path / "none.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot read"):
        load_medicalnet_weights(MedicalNetSegmentation(width=0.125), tmp_path / "junk.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(DataError, match="not a MedicalNet weights file"):
        load_medicalnet_weights(MedicalNetSegmentation(width=0.125), tmp_path / "list.pth")


def test_input_channels_are_checked_and_the_direct_cnn_takes_every_modality():
    with pytest.raises(ParameterError, match=r"\(B, 1, D, H, W\)"):
        DilatedResNet50(width=0.125)(torch.zeros(1, 2, 16, 16, 16))
    net = DirectCNN(5, width=0.125)
    out = net(torch.zeros(2, 5, 16, 16, 16))
    assert out["class_logits"].shape == (2, 2) and out["logits"].shape == (2, 2, 4, 4, 4)
    assert net.net.conv1.in_channels == 5
