"""The patch grid of MASAN's patch-level modules (Sec. 2.1: "4 x 4 x 4 non-overlapping sub-regions").

A volume ``(B, C, *spatial)`` is cut into a grid of non-overlapping patches, one
per sub-network; :func:`to_patches` lays them out as ``(B, n_patches * C,
*patch)`` (patch ``j`` owns channels ``j*C .. (j+1)*C - 1``), the layout a
grouped convolution with ``groups = n_patches`` reads, and :func:`from_patches`
puts them back. Patch ``j`` is the grid cell ``numpy.unravel_index(j, grid)``
(C order: the last axis runs fastest). The same functions serve 3-D volumes
(T1: 4x4x4), 2-D slices (the OASIS branch: 4x4) and 1-D series.

A shape that the grid does not divide is **padded**, never silently cropped:
:func:`fit_to_grid` pads each axis symmetrically with zeros (the background of
a skull-stripped or phantom T1) up to the next multiple of its grid size, and
returns the padding so that maps can be cut back. ``mode="crop"`` crops
symmetrically instead, for volumes whose borders are known to be empty.
:func:`to_patches` itself refuses an undivided shape
(:class:`~mmlib.errors.DataError`), so the choice is always explicit.

H-FCN (Lian et al. 2018) reads cubes of ``patch_size`` voxels centred on each
grid cell instead (:func:`centred_patches`); at the paper's 25^3 they are
smaller than the grid cells of a 240 x 256 x 176 volume. Hand-written: MONAI's
``GridPatch`` returns patches as a list in the batch axis, not in the grouped
channel layout.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mmlib.errors import DataError, ParameterError


def check_grid(grid: Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """``grid`` as a tuple of ``spatial_dims`` positive ints."""
    grid = tuple(int(g) for g in grid)
    if len(grid) != spatial_dims or min(grid) < 1:
        raise ParameterError(f"grid={grid} must hold {spatial_dims} positive sizes")
    return grid


def grid_padding(shape: Sequence[int], grid: Sequence[int], mode: str = "pad") -> list[tuple[int, int]]:
    """Per axis ``(before, after)``: voxels to add (``mode="pad"``) or remove (``"crop"``) so ``grid`` divides ``shape``."""
    if mode not in ("pad", "crop"):
        raise ParameterError(f"mode={mode!r} must be 'pad' or 'crop'")
    out = []
    for size, g in zip(shape, grid):
        rest = size % g
        change = 0 if rest == 0 else (g - rest if mode == "pad" else rest)
        out.append((change // 2, change - change // 2))
    return out


def fit_to_grid(volume: torch.Tensor, grid: Sequence[int], mode: str = "pad", where: str = "volume"):
    """``(volume, padding)``: ``volume`` ``(B, C, *spatial)`` padded (or cropped) so that ``grid`` divides it.

    Padding is symmetric with zeros (one voxel more after than before when the
    missing count is odd); ``padding`` lists ``(before, after)`` per axis, to
    undo it with :func:`unfit`. Cropping keeps the centre. A grid larger than
    an axis when cropping raises :class:`DataError` naming ``where``.
    """
    spatial = tuple(volume.shape[2:])
    grid = check_grid(grid, len(spatial))
    padding = grid_padding(spatial, grid, mode)
    if mode == "crop":
        if any(size - a - b < g for size, (a, b), g in zip(spatial, padding, grid)):
            raise DataError(where, f"shape {spatial} is too small to crop to a multiple of the grid {grid}")
        index = (slice(None), slice(None)) + tuple(slice(a, size - b) for size, (a, b) in zip(spatial, padding))
        return volume[index], padding
    if any(a or b for a, b in padding):
        flat = [p for pair in reversed(padding) for p in pair]  # F.pad takes the last axis first
        volume = F.pad(volume, flat)
    return volume, padding


def unfit(volume: torch.Tensor, padding: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Undo :func:`fit_to_grid`'s padding on ``(B, C, *spatial)``."""
    index = (slice(None), slice(None)) + tuple(slice(a, size - b) for size, (a, b) in zip(volume.shape[2:], padding))
    return volume[index]


def to_patches(volume: torch.Tensor, grid: Sequence[int], where: str = "volume") -> torch.Tensor:
    """``(B, C, *spatial)`` -> ``(B, n_patches * C, *patch)`` in the grouped layout (module docstring)."""
    b, c, *spatial = volume.shape
    grid = check_grid(grid, len(spatial))
    if any(size % g for size, g in zip(spatial, grid)):
        raise DataError(where, f"shape {tuple(spatial)} is not divisible by the patch grid {grid}; "
                               "pad it with fit_to_grid first")
    patch = [size // g for size, g in zip(spatial, grid)]
    d = len(spatial)
    split = volume.reshape(b, c, *[v for pair in zip(grid, patch) for v in pair])
    # axes: 0 b, 1 c, then (grid_i, patch_i) pairs -> b, grid..., c, patch...
    order = [0, *[2 + 2 * i for i in range(d)], 1, *[3 + 2 * i for i in range(d)]]
    return split.permute(order).reshape(b, int(np.prod(grid)) * c, *patch)


def from_patches(patches: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`to_patches`: ``(B, n_patches * C, *patch)`` -> ``(B, C, *spatial)``."""
    b, nc, *patch = patches.shape
    grid = check_grid(grid, len(patch))
    n = int(np.prod(grid))
    if nc % n:
        raise ParameterError(f"{nc} channels do not split into {n} patches")
    c, d = nc // n, len(patch)
    split = patches.reshape(b, *grid, c, *patch)
    # axes: 0 b, 1..d grid, d+1 c, d+2.. patch -> b, c, (grid_i, patch_i)...
    order = [0, d + 1, *[v for i in range(d) for v in (1 + i, d + 2 + i)]]
    return split.permute(order).reshape(b, c, *[g * p for g, p in zip(grid, patch)])


def patch_means(patches: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Grouped-layout features ``(B, n * C, *patch)`` -> ``(B, C, n)``: each patch's feature averaged over its voxels."""
    b, nc = patches.shape[:2]
    if nc % n_patches:
        raise ParameterError(f"{nc} channels do not split into {n_patches} patches")
    pooled = patches.reshape(b, n_patches, nc // n_patches, -1).mean(-1)
    return pooled.transpose(1, 2)


def centred_patches(volume: torch.Tensor, grid: Sequence[int], patch_size: int) -> torch.Tensor:
    """H-FCN's input: a cube of ``patch_size`` voxels centred on every grid cell, ``(B, n_patches, C, *[patch_size])``.

    Cubes that reach past the volume are zero-padded there. Grid cells follow
    :func:`to_patches`' order.
    """
    b, c, *spatial = volume.shape
    grid = check_grid(grid, len(spatial))
    if patch_size < 1:
        raise ParameterError(f"patch_size={patch_size} must be >= 1")
    half = patch_size // 2
    padded = F.pad(volume, [patch_size] * (2 * len(spatial)))  # a cube never reaches past the padding
    centres = [[int((i + 0.5) * size / g) for i in range(g)] for size, g in zip(spatial, grid)]
    cubes = []
    for cell in np.ndindex(*grid):
        start = [centres[a][i] - half + patch_size for a, i in enumerate(cell)]  # in padded coordinates
        cubes.append(padded[(slice(None), slice(None)) + tuple(slice(s, s + patch_size) for s in start)])
    return torch.stack(cubes, dim=1)
