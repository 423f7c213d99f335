"""VGG feature extractors for the perceptual loss (DILRAN Eq. 2) and zero-learning fusion.

torchvision has no CPU build that installs here, so the VGG ``features`` stacks
(Simonyan & Zisserman 2014, configuration D = VGG16 and E = VGG19) are built
here with plain :mod:`torch.nn`, layer for layer in torchvision's order, so that
their parameter names (``features.0.weight``, ``features.1.running_mean``, ...)
are torchvision's and an ImageNet ``state_dict`` file in torchvision's format
(``vgg16_bn-6c64b313.pth``, ``vgg19-dcbb9e9d.pth``) loads from a local path.

**Where the files come from.** torchvision's ImageNet weights:
``https://download.pytorch.org/models/vgg16_bn-6c64b313.pth`` (``VGG16_BN_Weights.IMAGENET1K_V1``,
DILRAN's perceptual loss) and ``https://download.pytorch.org/models/vgg19-dcbb9e9d.pth``
(``VGG19_Weights.IMAGENET1K_V1``, zero-learning fusion). Each is a ``state_dict`` with the
names these stacks keep, so no conversion is needed: download it on a machine with network
(torchvision stores it in ``~/.cache/torch/hub/checkpoints/``) and pass its local path.

No weights file given: the network keeps a random initialisation drawn with a
fixed seed (default 0) and frozen. Random convolutional features are a usable,
if weaker, perceptual prior; the substitution is announced with a
:class:`UserWarning` and recorded in ``weights_source`` so chapters can state it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from mmlib.errors import DataError

#: torchvision's ``cfgs["D"]`` (VGG16): channel counts, "M" = 2x2 max-pool.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
#: torchvision's ``cfgs["E"]`` (VGG19).
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
#: Indices in VGG16-BN ``features`` of the BatchNorm after conv1_2, conv2_2, conv3_3 (NOTES.md).
VGG16_BN_PERCEPTUAL_LAYERS = (4, 11, 21)


def vgg_features(cfg, batch_norm: bool, last: int) -> nn.Sequential:
    """torchvision's ``make_layers(cfg, batch_norm)`` truncated after module index ``last``."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.Conv2d(in_ch, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=False))
            in_ch = v
        if len(layers) > last:
            break
    return nn.Sequential(*layers[: last + 1])


def load_torchvision_weights(module: nn.Module, path: str | os.PathLike) -> None:
    """Load the entries of a torchvision-format ``state_dict`` file that ``module`` needs.

    Keys the module lacks (the classifier, deeper layers) are ignored; every key the
    module has must be present with the same shape.

    Raises
    ------
    DataError
        Naming ``path``: unreadable, not a state dict, a missing key, or a shape mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "VGG weights file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise DataError(path, f"cannot be read as a torch state_dict ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(path, f"holds a {type(state).__name__}, not a state_dict")
    wanted = module.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise DataError(path, f"is not a torchvision VGG state_dict: missing {len(missing)} keys, e.g. {missing[:3]}")
    bad = [f"{k}: {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in wanted.items() if state[k].shape != v.shape]
    if bad:
        raise DataError(path, f"has tensors of the wrong shape for this VGG: {bad[:3]}")
    module.load_state_dict({k: state[k] for k in wanted})


class VGGFeatures(nn.Module):
    """Frozen VGG ``features`` prefix returning the outputs of the modules in ``taps``.

    Input: grey ``(B, 1, H, W)`` images (repeated to 3 channels) or RGB ``(B, 3, H, W)``,
    in [0, 1] and not ImageNet-normalised (as the DILRAN authors' loss).
    ``weights_path`` loads torchvision ImageNet weights; ``None`` keeps a fixed-seed random
    initialisation (warned, and recorded in ``weights_source``).
    """

    def __init__(self, cfg, batch_norm: bool, taps: tuple[int, ...], weights_path=None, seed: int = 0):
        super().__init__()
        self.taps = tuple(sorted(taps))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.features = vgg_features(cfg, batch_norm, last=self.taps[-1])
        if weights_path is not None:
            load_torchvision_weights(self, weights_path)
            self.weights_source = f"imagenet:{Path(weights_path).name}"
        else:
            self.weights_source = f"random-init(seed={seed})"
            warnings.warn(
                f"no ImageNet weights file given: {type(self).__name__} uses a frozen random "
                f"initialisation (seed={seed}) instead of ImageNet weights",
                UserWarning,
                stacklevel=2,
            )
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        """Stay in eval mode: BatchNorm keeps its (ImageNet or initial) running statistics."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DataError("VGG input", f"needs (B, 1, H, W) grey or (B, 3, H, W) RGB images; got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        outputs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                outputs.append(x)
        return outputs


class VGG16BNPerceptual(VGGFeatures):
    """VGG16-BN features after conv1_2, conv2_2 and conv3_3 (BN outputs, before ReLU), the
    perceptual network of the DILRAN loss (paper Eq. 2, ref. [17]; layers per NOTES.md)."""

    def __init__(self, weights_path: str | os.PathLike | None = None, seed: int = 0):
        super().__init__(VGG16_CFG, True, VGG16_BN_PERCEPTUAL_LAYERS, weights_path, seed)


class VGG19Relu11(VGGFeatures):
    """VGG19 (no BN) relu1_1 features (``features.1``), as zero-learning fusion (Lahoud & Susstrunk 2019) uses."""

    def __init__(self, weights_path: str | os.PathLike | None = None, seed: int = 0):
        super().__init__(VGG19_CFG, False, (1,), weights_path, seed)
