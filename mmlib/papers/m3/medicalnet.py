"""MedicalNet's (Med3D) dilated 3D ResNet-50 and its segmentation head: M3's segmentation network.

M3 (Kong et al. 2024, Sec. 2.2.3) trains "a segmentation network ... based on
MED3D (Chen et al., 2019)", a 3D ResNet-50 encoder with a light decoder, and
then reuses the encoder's stages for features (Eq. 1). The layout follows
``../shared/papers/NOTES.md`` (M3):

==========  ==========================================================  ==========  ================
stage       layers                                                      out (w=1)   stride / dilation
==========  ==========================================================  ==========  ================
stem        Conv3d k7 s2 p3 -> BN -> ReLU -> MaxPool k3 s2 p1                  64   4
layer1      3 Bottlenecks                                                     256   4
layer2      4 Bottlenecks, first with stride 2                                512   8 ("stage 2")
layer3      6 Bottlenecks, stride 1, 3x3x3 convs dilated 2                   1024   8, dilation 2
layer4      3 Bottlenecks, stride 1, 3x3x3 convs dilated 4                   2048   8, dilation 4
conv_seg    ConvTranspose3d(2048 -> 32, k2, s2) -> BN -> ReLU ->                2   4
            Conv3d(32 -> 32, k3, p1) -> BN -> ReLU -> Conv3d(32 -> 2, k1)
==========  ==========================================================  ==========  ================

Shortcut type B (1x1x1 conv + BN, no bias) wherever the channels or the stride
change. At the paper's input of 155 x 280 x 280 the stem and layer1 give
39 x 70 x 70 and layers 2-4 give 20 x 35 x 35 (Sec. 2.2.3); the head returns a
39+1 x 70 x 70 map (the paper crops the ground truth to the prediction; here the
label map is resized to the head's grid, :func:`mmlib.papers.m3.training.seg_target`).

**Built on MONAI.** :class:`DilatedResNet50` *is* MONAI's
:class:`monai.networks.nets.ResNet` (bottleneck blocks [3, 4, 6, 3], a 1-channel
7x7x7 stride-2 stem, shortcut B without bias), so it carries MedicalNet's
parameter names (``conv1.weight``, ``bn1.*``, ``layer3.0.conv2.weight``,
``layer3.0.downsample.0.weight``...). MONAI's ResNet gives layer3 and layer4
stride 2 and no dilation (NOTES.md: weights loaded into it would compute
something else), so the constructor sets their stride to 1 and dilates their
3x3x3 convolutions (padding = dilation), as MedicalNet's ``resnet.py`` does.
MONAI has no MedicalNet decoder, so :class:`MedicalNetSegmentation` adds
``conv_seg`` by hand with MedicalNet's names. ``width`` scales every channel
count (MONAI's ``widen_factor``) for CPU runs; only width 1 matches a
MedicalNet weights file.

**Weights.** MedicalNet's ``resnet_50.pth`` (Tencent/MedicalNet, trained on 23
segmentation datasets; obtained by the user, never downloaded here) holds
``{"state_dict": {"module.conv1.weight": ...}}``; :func:`load_medicalnet_weights`
strips ``module.``, refuses missing or unexpected keys by name, and by default
leaves ``conv_seg`` out (its class count differs between datasets). Without a
weights file the networks train from scratch, and the chapters say so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from monai.networks.nets import ResNet
from monai.networks.nets.resnet import get_inplanes
from torch import nn

from mmlib.errors import DataError, ParameterError

#: ResNet-50's bottleneck counts per layer.
LAYERS = (3, 4, 6, 3)
#: (stride, dilation) of layer3 and layer4 in MedicalNet (NOTES.md).
DILATED = {"layer3": 2, "layer4": 4}
#: The stages whose outputs Eq. 1 pools ("the feature maps obtained after three downsampling operations").
FEATURE_STAGES = ("layer2", "layer3", "layer4")
#: Channels of layer1..layer4 outputs at width 1 (bottleneck expansion 4).
STAGE_CHANNELS = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
#: Channels of MedicalNet's decoder.
DECODER_CHANNELS = 32
#: The paper's input size, (D, H, W) = 155 slices of 280 x 280 (Sec. 2.2.3).
PAPER_SPATIAL_SIZE = (155, 280, 280)


def stage_channels(width: float) -> dict[str, int]:
    """Output channels of layer1..layer4 at channel multiplier ``width`` (as MONAI rounds them)."""
    check_width(width)
    return {name: int(planes * width) * 4 for name, planes in zip(STAGE_CHANNELS, get_inplanes())}


def check_width(width: float) -> float:
    """``width`` as a float, or :class:`ParameterError` when it leaves a layer without channels."""
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0 or int(64 * width) < 1:
        raise ParameterError(f"width={width!r} must be a number with 64 * width >= 1 (1.0 = MedicalNet's ResNet-50)")
    return float(width)


class DilatedResNet50(ResNet):
    """MedicalNet's ResNet-50 encoder: MONAI's ResNet with layer3 / layer4 at stride 1, dilated 2 / 4.

    ``forward(x)`` returns ``{"layer1": ..., "layer2": ..., "layer3": ..., "layer4": ...}``,
    the output of every stage (Eq. 1's ``E_i(x)``). ``in_channels`` is 1 for M3's
    per-modality networks (MedicalNet's stem) and the number of modalities for the
    Direct CNN baseline.
    """

    def __init__(self, in_channels: int = 1, width: float = 1.0):
        width = check_width(width)
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ParameterError(f"in_channels={in_channels!r} must be a positive integer")
        super().__init__(block="bottleneck", layers=list(LAYERS), block_inplanes=get_inplanes(), spatial_dims=3,
                         n_input_channels=in_channels, conv1_t_size=7, conv1_t_stride=2, no_max_pool=False,
                         shortcut_type="B", widen_factor=width, feed_forward=False, bias_downsample=False)
        del self.avgpool  # MedicalNet has no pooling or fc head: the encoder ends at layer4
        for name, dilation in DILATED.items():
            dilate_layer(getattr(self, name), dilation)
        self.width, self.in_channels = width, in_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ParameterError(f"expected a (B, {self.in_channels}, D, H, W) batch, got {tuple(x.shape)}")
        x = self.maxpool(self.act(self.bn1(self.conv1(x))))
        stages = {}
        for name in STAGE_CHANNELS:
            x = getattr(self, name)(x)
            stages[name] = x
        return stages


def dilate_layer(layer: nn.Sequential, dilation: int) -> None:
    """MedicalNet's stride-1 dilated layer from MONAI's stride-2 one, in place (weights' shapes unchanged).

    Every bottleneck's 3x3x3 ``conv2`` gets stride 1, ``dilation`` and padding
    ``dilation`` (so the grid keeps its size); the first block's shortcut conv gets
    stride 1.
    """
    for block in layer:
        block.conv2.stride, block.conv2.dilation, block.conv2.padding = (1, 1, 1), (dilation,) * 3, (dilation,) * 3
        block.stride = 1
        if isinstance(block.downsample, nn.Sequential):
            block.downsample[0].stride = (1, 1, 1)


def segmentation_head(in_channels: int, n_classes: int = 2) -> nn.Sequential:
    """MedicalNet's ``conv_seg`` decoder (NOTES.md): upsample x2, two convs, a 1x1x1 classifier (no biases but the first)."""
    return nn.Sequential(
        nn.ConvTranspose3d(in_channels, DECODER_CHANNELS, kernel_size=2, stride=2),
        nn.BatchNorm3d(DECODER_CHANNELS),
        nn.ReLU(inplace=True),
        nn.Conv3d(DECODER_CHANNELS, DECODER_CHANNELS, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(DECODER_CHANNELS),
        nn.ReLU(inplace=True),
        nn.Conv3d(DECODER_CHANNELS, n_classes, kernel_size=1, bias=False),
    )


class MedicalNetSegmentation(DilatedResNet50):
    """M3's segmentation network (Sec. 2.2.3): the dilated ResNet-50 plus MedicalNet's ``conv_seg``.

    ``forward(x)`` returns ``{"logits": (B, 2, D/4, H/4, W/4), "layer1".."layer4": stage maps}``:
    the two-class (background, lesion) logits at the head's output stride 4 and
    the encoder's stages, so one pass gives both Eq. 1 terms, ``D(E_N(x))`` and ``E_i(x)``.
    """

    def __init__(self, in_channels: int = 1, width: float = 1.0, n_classes: int = 2):
        super().__init__(in_channels=in_channels, width=width)
        self.conv_seg = segmentation_head(stage_channels(width)["layer4"], n_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        stages = super().forward(x)
        return {"logits": self.conv_seg(stages["layer4"]), **stages}


def output_shapes(spatial_size, width: float = 1.0) -> dict[str, tuple[int, ...]]:
    """``(C, D, H, W)`` of every stage and of the head for an input of ``spatial_size``, on the meta device (no compute)."""
    with torch.device("meta"):
        net = MedicalNetSegmentation(width=width)
        out = net(torch.empty(1, 1, *spatial_size))
    return {name: tuple(value.shape[1:]) for name, value in out.items()}


def _state_dict_of(obj: object, path: Path) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError(path, "not a MedicalNet weights file: expected a state_dict (or {'state_dict': ...}) of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_medicalnet_weights(model: nn.Module, path: str | os.PathLike, *, include_head: bool = False) -> list[str]:
    """Load MedicalNet's ``resnet_50.pth`` (a local file) into ``model``; return the keys loaded.

    The file is MedicalNet's (``github.com/Tencent/MedicalNet``, "pretrain/resnet_50.pth",
    shared by its authors; obtain it yourself, nothing is downloaded): a dict whose
    ``"state_dict"`` maps ``module.<name>`` to tensors (``module.`` from
    DataParallel is stripped). The encoder's keys must match the model's exactly;
    ``conv_seg`` (the decoder) is loaded only with ``include_head`` (its last conv
    has one output per class of the dataset it was trained on).

    Raises
    ------
    DataError
        An unreadable file, or keys missing from the file or unexpected in it
        (each listed by name), or a tensor whose shape differs (a ``width`` other
        than 1 cannot hold MedicalNet weights).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "MedicalNet weights file does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or non-torch file
        raise DataError(path, f"cannot read as a torch weights file: {type(exc).__name__}: {exc}") from None
    given = {k: v for k, v in _state_dict_of(obj, path).items() if include_head or not k.startswith("conv_seg.")}
    own = {k: v for k, v in model.state_dict().items() if include_head or not k.startswith("conv_seg.")}
    missing, unexpected = sorted(set(own) - set(given)), sorted(set(given) - set(own))
    if missing or unexpected:
        raise DataError(path, f"keys do not match the model: missing from the file {missing[:20]}"
                              f"{' ...' if len(missing) > 20 else ''} ({len(missing)}), unexpected in the file "
                              f"{unexpected[:20]}{' ...' if len(unexpected) > 20 else ''} ({len(unexpected)})")
    wrong = [f"{k}: file {tuple(given[k].shape)} vs model {tuple(own[k].shape)}" for k in own
             if given[k].shape != own[k].shape]
    if wrong:
        raise DataError(path, f"tensor shapes differ ({len(wrong)}): {wrong[:5]}; MedicalNet weights need width=1")
    model.load_state_dict(given, strict=False)
    return sorted(given)
