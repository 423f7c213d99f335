"""ResNet Mixed Convolution (RMC), the backbone of the cross-modality guidance paper.

RMC is torchvision's ``mc3_18`` (Tran et al. 2018) as used for brain tumours by
Chatterjee et al. 2022 (the paper's ref. [42]): a 1-channel stem and a
Dropout + Linear head. The layout is the paper's Table I / Fig. 3:

==========  =====================================================  ===========
block       layers                                                 out (w=1)
==========  =====================================================  ===========
1 stem      Conv3d k(3,7,7) s(1,2,2) p(1,3,3) -> BN -> ReLU           64
2 layer1    2 BasicBlocks, 3x3x3 convs ("3D block")                    64
3 layer2    2 BasicBlocks, (1,3,3) convs, stride (1,2,2) ("2D")       128
4 layer3    same as layer2                                            256
5 layer4    same as layer2                                            512
head        global average pool -> Dropout(0.5) -> Linear(512, K)
==========  =====================================================  ===========

There is no max-pool and no stride on the depth axis, so slices go on D
(input ``(B, C, D, H, W)``) and the depth is never downsampled.

torchvision is not installable in this project, so the network is rebuilt here
in ``torch.nn`` (hand-written; MONAI has no mixed-convolution ResNet) with
torchvision's module names (``stem.0.weight``, ``layer1.0.conv1.0.weight``,
``layer2.0.downsample.0.weight``, ...) so that a torchvision-format Kinetics-400
``state_dict`` file loads with :func:`load_kinetics_weights`. The head is
``fc = Sequential(Dropout, Linear)``, so its weights are ``fc.1.weight``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from mmlib.errors import DataError, ParameterError

#: Channels of stem, layer1..layer4 at width 1 (torchvision mc3_18).
BASE_CHANNELS = (64, 64, 128, 256, 512)

#: The paper's five blocks (Table I), as attribute names.
BLOCK_NAMES = ("stem", "layer1", "layer2", "layer3", "layer4")


def scaled_channels(width: float) -> tuple[int, ...]:
    """Channels of the five blocks for the channel multiplier ``width`` (1.0 = mc3_18)."""
    if not width > 0:
        raise ParameterError(f"width must be > 0, got {width!r}")
    return tuple(max(1, int(round(c * width))) for c in BASE_CHANNELS)


class BasicBlock3d(nn.Module):
    """torchvision's video ``BasicBlock``: two conv-BN(-ReLU) units and a residual.

    ``spatial_only=False`` gives the full 3x3x3 block of layer1; ``True`` gives
    the (1,3,3) "2D" block of layers 2-4, whose stride and 1x1x1 downsample act
    on (H, W) only (stride ``(1, s, s)``).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, spatial_only: bool):
        super().__init__()
        kernel, pad = ((1, 3, 3), (0, 1, 1)) if spatial_only else ((3, 3, 3), (1, 1, 1))
        stride3 = (1, stride, stride) if spatial_only else (stride, stride, stride)
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, kernel, stride=stride3, padding=pad, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv3d(out_channels, out_channels, kernel, padding=pad, bias=False),
            nn.BatchNorm3d(out_channels),
        )
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=stride3, bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


def make_stem(in_channels: int, out_channels: int) -> nn.Sequential:
    """Block 1: Conv3d k(3,7,7) s(1,2,2) p(1,3,3) -> BN -> ReLU (no max-pool)."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


def make_layer(in_channels: int, out_channels: int, stride: int, spatial_only: bool) -> nn.Sequential:
    """Blocks 2-5: two :class:`BasicBlock3d`, the first carrying the stride."""
    return nn.Sequential(
        BasicBlock3d(in_channels, out_channels, stride, spatial_only),
        BasicBlock3d(out_channels, out_channels, 1, spatial_only),
    )


def check_volume(x: torch.Tensor, in_channels: int, where: str = "input") -> None:
    """Raise :class:`DataError` unless ``x`` is ``(B, in_channels, D, H, W)``."""
    if x.ndim != 5 or x.shape[1] != in_channels:
        raise DataError(where, f"expected a (B, {in_channels}, D, H, W) volume batch, got shape {tuple(x.shape)}")


def check_modalities(inputs: Mapping[str, torch.Tensor], modalities: Sequence[str]) -> None:
    """Raise :class:`DataError` if a configured modality is missing or the shapes differ.

    Modalities in ``inputs`` that are not in ``modalities`` are ignored (a case
    may carry all four sequences while a Table VII model uses a subset).
    """
    for m in modalities:
        if m not in inputs:
            raise DataError(f"modality {m!r}", f"missing from the input (got {sorted(inputs)}); the model needs {list(modalities)}")
    shapes = {m: tuple(inputs[m].shape) for m in modalities}
    if len(set(shapes.values())) > 1:
        raise DataError(f"modalities {list(modalities)}", f"volumes have different shapes: {shapes}")


class RMC(nn.Module):
    """ResNet Mixed Convolution classifier (paper Sec. III-A, Table I, Fig. 3).

    Parameters
    ----------
    in_channels
        Input channels (1 for one MRI sequence; 4 for pixel fusion).
    num_classes
        Output classes (2: LGG / HGG).
    width
        Channel multiplier: 1.0 is mc3_18 (64/128/256/512); 0.25 gives 16/32/64/128 for CPU runs.
    dropout
        Dropout before the final Linear (0.5 in the paper).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        if in_channels < 1 or num_classes < 2:
            raise ParameterError(f"need in_channels >= 1 and num_classes >= 2, got {in_channels}, {num_classes}")
        c = scaled_channels(width)
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        self.channels = c
        self.out_channels = c[4]
        self.stem = make_stem(in_channels, c[0])
        self.layer1 = make_layer(c[0], c[1], 1, spatial_only=False)
        self.layer2 = make_layer(c[1], c[2], 2, spatial_only=True)
        self.layer3 = make_layer(c[2], c[3], 2, spatial_only=True)
        self.layer4 = make_layer(c[3], c[4], 2, spatial_only=True)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(c[4], num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def blocks(self) -> tuple[nn.Module, ...]:
        """The paper's five blocks (Table I): stem, layer1, layer2, layer3, layer4."""
        return tuple(getattr(self, n) for n in BLOCK_NAMES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The SFE output: blocks 1-5, before pooling, ``(B, out_channels, D, H/16, W/16)``."""
        check_volume(x, self.in_channels)
        for block in self.blocks:
            x = block(x)
        return x

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        """Global average pool of a feature map to ``(B, out_channels)``."""
        return torch.flatten(self.avgpool(feats), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` for a volume batch ``(B, C, D, H, W)``."""
        return self.fc(self.pool(self.features(x)))


class DARMC(RMC):
    """RMC with dual attention on the SFE output (paper Sec. III-B, Tables V/VI).

    Fig. 2 and Sec. III-C place dual attention on "the outcomes of these
    extractors": the SFE (block 5) output is followed by the dual attention
    module, then pooling and the head. So DA_RMC = RMC with
    :class:`~mmlib.nets.attention.DualAttention3d` after ``layer4``. Extra
    keyword arguments go to :class:`~mmlib.nets.attention.DualAttention3d`.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: float = 1.0, dropout: float = 0.5, **attention_kwargs):
        super().__init__(in_channels, num_classes, width, dropout)
        from mmlib.nets.attention import DualAttention3d

        self.attention = DualAttention3d(self.out_channels, **attention_kwargs)

    def features(self, x: torch.Tensor, return_attention: bool = False):
        """SFE output followed by dual attention; with ``return_attention`` also the maps."""
        return self.attention(super().features(x), return_attention=return_attention)


def _first(keys: list[str], n: int = 5) -> str:
    return f"{keys[:n]}{'...' if len(keys) > n else ''}"


def _head_or_attention(key: str) -> bool:
    return key.startswith("fc.") or key.startswith("attention.")


def load_kinetics_weights(model: RMC, path: str | os.PathLike) -> RMC:
    """Load a torchvision-format ``mc3_18`` Kinetics-400 ``state_dict`` file into ``model``.

    **Where the file comes from.** torchvision's ``MC3_18_Weights.KINETICS400_V1``,
    ``https://download.pytorch.org/models/mc3_18-a90a0ba3.pth`` (the paper's
    pretrained RMC, Sec. IV-C). The downloaded file *is* a ``state_dict`` with
    torchvision's names, which this RMC keeps, so no conversion is needed: fetch
    it on a machine with network (``wget`` that URL, or
    ``torch.save(torchvision.models.video.mc3_18(weights="KINETICS400_V1").state_dict(), path)``)
    and pass its local path. Nothing is downloaded at run time.

    * The Kinetics 400-class head (``fc.weight``, ``fc.bias``) is not loaded:
      the new ``Dropout + Linear`` head keeps its initialisation.
    * The stem has 3 (RGB) input channels in the file. Its kernel is summed over
      the RGB channels, so a grey volume gives the same response as that volume
      copied into R, G and B; for ``in_channels = C > 1`` the summed kernel is
      divided by C and repeated, so C identical channels give that same response.
    * Any other missing, unexpected or mis-shaped key raises :class:`DataError`
      naming the file (a ``width != 1`` model cannot take mc3_18 weights).
    * Dual-attention weights (:class:`DARMC`) are not in the file and keep their
      zero-gamma initialisation.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "Kinetics weight file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a data problem
        raise DataError(path, f"cannot be read as a torch state_dict ({exc})") from None
    if not isinstance(state, Mapping):
        raise DataError(path, f"holds a {type(state).__name__}, not a state_dict")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    stem_key = "stem.0.weight"
    if stem_key in state and state[stem_key].ndim == 5 and state[stem_key].shape[1] != model.in_channels:
        w = state[stem_key].sum(dim=1, keepdim=True)
        state[stem_key] = (w / model.in_channels).repeat(1, model.in_channels, 1, 1, 1)
    own = {k: v for k, v in model.state_dict().items() if not _head_or_attention(k)}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise DataError(path, f"keys do not match mc3_18: missing {_first(missing)}, unexpected {_first(unexpected)}")
    bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
           for k, v in own.items() if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        raise DataError(path, f"tensor shapes do not match the model (width={model.width}): {bad[:3]}")
    model.load_state_dict(state, strict=False)
    return model
