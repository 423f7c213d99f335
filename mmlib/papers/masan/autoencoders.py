"""MASAN's patch-level autoencoders: sPM (paper Table 1) and fPM, as one batched computation.

**sPM** (Sec. 2.1, Table 1). Every patch of the 4x4x4 grid has its own
sub-network with its own weights: InitConv (3^3) to ``c0`` channels, then three
steps of [Conv stride 2 -> ``c_i``; [GN, ReLU, Conv] x 2 + identity] with
``(c1, c2, c3)``; the paper's widths are (32, 64, 128, 128)
(:data:`PAPER_CHANNELS`). The decoder mirrors it with linear (trilinear in 3-D)
upsampling in place of the strided convolutions, a 1x1 conv to the skip's width,
a concatenation with the encoder features of that size (the paper's
"concatenations between the encoder and decoders"), a 3^3 conv and the same
residual block; a last 1x1 conv gives the reconstruction.

**One computation for all patches.** The ``n`` sub-networks are not a Python
loop over ``n`` modules: every conv is one grouped convolution
(``groups = n``), every GroupNorm has ``n`` times the groups (a group never
spans two patches), and concatenations interleave per patch. Patch ``j`` owns
channels ``j*c .. (j+1)*c - 1`` of every layer (:mod:`.patches`), so
:meth:`PatchAutoencoders.patch_state` cuts its weights out into a
one-patch module and ``tests/test_masan_networks.py`` checks that the batched
module equals the loop over those modules.

**fPM** (Sec. 2.1: "the extra dimension of the time is added to the input").
:class:`FunctionalPatchModule` offers two readings:

* ``reading="channels"`` (default): the ``window`` time points of each voxel
  are the input channels of the same patch autoencoder on the EPI grid; the
  first convolution mixes time and space, the decoder reconstructs the window.
* ``reading="frames"``: one 3-D patch autoencoder (one channel) is shared by
  all frames; it reconstructs each frame, and the multi-scale features are
  averaged over time.

The same class serves 2-D slices (the OASIS branch, a 4x4 grid) and 1-D
series (the ABIDE branch: one temporal autoencoder per AAL region,
``spatial_dims=1``). Hand-written: MONAI has no grouped multi-patch autoencoder.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.masan.patches import check_grid, from_patches, patch_means, to_patches

#: sPM widths of Table 1: InitConv, then the three encoder steps.
PAPER_CHANNELS = (32, 64, 128, 128)
#: fPM readings of "time added to the input".
READINGS = ("channels", "frames")
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_UPSAMPLE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def scaled_channels(width: float, base: Sequence[int] = PAPER_CHANNELS) -> tuple[int, ...]:
    """Table 1's widths times ``width`` (at least 2 channels each): 1.0 is the paper's, 0.125 gives (4, 8, 16, 16)."""
    if not width > 0:
        raise ParameterError(f"width={width} must be positive")
    return tuple(max(2, int(round(c * width))) for c in base)


def norm_groups(channels: int, most: int = 8) -> int:
    """GroupNorm groups per patch: the largest divisor of ``channels`` up to ``most``."""
    return max(g for g in range(1, min(most, channels) + 1) if channels % g == 0)


class _Grouped(nn.Module):
    """Layers of ``n`` independent sub-networks, in the grouped channel layout."""

    def __init__(self, n: int, spatial_dims: int):
        super().__init__()
        self.n, self.spatial_dims = n, spatial_dims

    def conv(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Module:
        return _CONV[self.spatial_dims](self.n * c_in, self.n * c_out, kernel, stride=stride, padding=kernel // 2,
                                        groups=self.n)

    def norm(self, channels: int) -> nn.GroupNorm:
        return nn.GroupNorm(self.n * norm_groups(channels), self.n * channels)

    def concat(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-patch channel concatenation ``[a_j, b_j]`` for every patch ``j``."""
        ca, cb = a.shape[1] // self.n, b.shape[1] // self.n
        joined = torch.cat([a.reshape(a.shape[0], self.n, ca, *a.shape[2:]),
                            b.reshape(b.shape[0], self.n, cb, *b.shape[2:])], dim=2)
        return joined.reshape(a.shape[0], self.n * (ca + cb), *a.shape[2:])


class ResidualBlock(_Grouped):
    """Table 1's EncoderBlock: ``x + Conv(ReLU(GN(Conv(ReLU(GN(x))))))`` (3^3 convs), per patch."""

    def __init__(self, n: int, channels: int, spatial_dims: int):
        super().__init__(n, spatial_dims)
        self.norm1, self.conv1 = self.norm(channels), self.conv(channels, channels, 3)
        self.norm2, self.conv2 = self.norm(channels), self.conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(self.norm1(x)))
        return x + self.conv2(F.relu(self.norm2(y)))


class UpBlock(_Grouped):
    """One decoder step: upsample to the skip's size, 1x1 conv to its width, concatenate, 3^3 conv, residual block."""

    def __init__(self, n: int, c_in: int, c_out: int, spatial_dims: int):
        super().__init__(n, spatial_dims)
        self.reduce = self.conv(c_in, c_out, 1)
        self.merge = self.conv(2 * c_out, c_out, 3)
        self.block = ResidualBlock(n, c_out, spatial_dims)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[2:], mode=_UPSAMPLE[self.spatial_dims], align_corners=False)
        return self.block(self.merge(self.concat(self.reduce(x), skip)))


class PatchAutoencoders(_Grouped):
    """``n_patches`` sPM sub-networks (Table 1) run as one grouped computation over a ``grid`` of patches.

    ``forward(volume)`` takes ``(B, in_channels, *spatial)`` (spatial divisible
    by ``grid``) and returns ``{"recon": same shape, "codes": the deepest
    features (grouped layout), "levels": [block 1, 2, 3 outputs]}``;
    :meth:`regions` pools a level to one vector per patch, ``(B, c_l, n)``.
    With ``grid`` all ones it is one sub-network (the loop's unit).
    """

    def __init__(self, grid: Sequence[int], in_channels: int = 1, channels: Sequence[int] = PAPER_CHANNELS,
                 spatial_dims: int = 3):
        if spatial_dims not in _CONV:
            raise ParameterError(f"spatial_dims={spatial_dims} must be 1, 2 or 3")
        grid = check_grid(grid, spatial_dims)
        channels = tuple(int(c) for c in channels)
        if len(channels) != 4 or min(channels) < 1 or in_channels < 1:
            raise ParameterError(f"channels={channels} must be 4 positive widths (InitConv, 3 encoder steps)")
        super().__init__(int(np.prod(grid)), spatial_dims)
        self.grid, self.in_channels, self.channels = grid, int(in_channels), channels
        c0, *steps = channels
        self.init_conv = self.conv(in_channels, c0, 3)
        widths = [c0, *steps]
        self.downs = nn.ModuleList(self.conv(widths[i], widths[i + 1], 3, stride=2) for i in range(3))
        self.blocks = nn.ModuleList(ResidualBlock(self.n, widths[i + 1], spatial_dims) for i in range(3))
        self.ups = nn.ModuleList(UpBlock(self.n, widths[i + 1], widths[i], spatial_dims) for i in reversed(range(3)))
        self.head = self.conv(c0, in_channels, 1)

    @property
    def level_channels(self) -> tuple[int, ...]:
        """Channels per patch of the three levels the fusion reads."""
        return self.channels[1:]

    def encode(self, patches: torch.Tensor) -> list[torch.Tensor]:
        """Grouped-layout input -> ``[InitConv, block 1, block 2, block 3]`` outputs."""
        x = self.init_conv(patches)
        outputs = [x]
        for down, block in zip(self.downs, self.blocks):
            x = block(down(x))
            outputs.append(x)
        return outputs

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for up, skip in zip(self.ups, reversed(features[:-1])):
            x = up(x, skip)
        return self.head(x)

    def forward(self, volume: torch.Tensor) -> dict:
        if volume.ndim != self.spatial_dims + 2 or volume.shape[1] != self.in_channels:
            raise DataError("input", f"shape {tuple(volume.shape)} is not (batch, {self.in_channels}, "
                                     f"{self.spatial_dims} spatial axes)")
        features = self.encode(to_patches(volume, self.grid))
        recon = from_patches(self.decode(features), self.grid)
        return {"recon": recon, "codes": features[-1], "levels": features[1:]}

    def regions(self, level: torch.Tensor) -> torch.Tensor:
        """One level's features averaged within each patch: ``(B, c_l, n_patches)``."""
        return patch_means(level, self.n)

    def patch_state(self, j: int) -> dict[str, torch.Tensor]:
        """The weights of sub-network ``j`` as the state of a one-patch module (``grid`` all ones)."""
        if not 0 <= j < self.n:
            raise ParameterError(f"patch {j} is outside 0..{self.n - 1}")
        return {k: v.reshape(self.n, -1, *v.shape[1:])[j].clone() for k, v in self.state_dict().items()}

    def single(self, j: int) -> "PatchAutoencoders":
        """Sub-network ``j`` as its own module (what a loop over ``n`` modules would hold)."""
        one = PatchAutoencoders((1,) * self.spatial_dims, self.in_channels, self.channels, self.spatial_dims)
        one.load_state_dict(self.patch_state(j))
        return one


class FunctionalPatchModule(nn.Module):
    """fPM: the sPM design on the EPI grid with time added (module docstring, ``reading``).

    ``forward(series)`` takes ``(B, window, *spatial)`` and returns the same dict
    as :class:`PatchAutoencoders` (``recon`` has the input's shape; with
    ``reading="frames"`` the levels are averaged over time).
    """

    def __init__(self, grid: Sequence[int], window: int, channels: Sequence[int] = PAPER_CHANNELS,
                 reading: str = "channels", spatial_dims: int = 3):
        super().__init__()
        if reading not in READINGS:
            raise ParameterError(f"reading={reading!r} must be one of {READINGS}")
        if window < 2:
            raise ParameterError(f"window={window} must be at least 2 time points")
        self.reading, self.window = reading, int(window)
        self.net = PatchAutoencoders(grid, window if reading == "channels" else 1, channels, spatial_dims)
        self.n, self.grid, self.level_channels = self.net.n, self.net.grid, self.net.level_channels

    def forward(self, series: torch.Tensor) -> dict:
        if series.ndim != self.net.spatial_dims + 2 or series.shape[1] != self.window:
            raise DataError("fMRI input", f"shape {tuple(series.shape)} is not (batch, {self.window} time points, "
                                          f"{self.net.spatial_dims} spatial axes)")
        if self.reading == "channels":
            return self.net(series)
        b, t, *spatial = series.shape
        out = self.net(series.reshape(b * t, 1, *spatial))
        levels = [lv.reshape(b, t, *lv.shape[1:]).mean(1) for lv in out["levels"]]
        return {"recon": out["recon"].reshape(b, t, *spatial), "codes": out["codes"].reshape(b, t, *out["codes"].shape[1:]),
                "levels": levels}

    def regions(self, level: torch.Tensor) -> torch.Tensor:
        return self.net.regions(level)
