"""Figure 4 on the phantoms: where the fusion weights fall, against the known atrophied regions.

The paper's Fig. 4 shows "the weight values of the fusion embedding" beside a
T1 slice and reads higher weights in the hippocampus and amygdala. Here the
weight is the spatial attention of the T1-guided fusion (Eq. 6,
:class:`~mmlib.papers.masan.attention.T1GuidedFusion`), one value per patch of
the 4x4x4 grid, averaged over the fusion levels: the model's own statement of
*where* the fMRI features count. :func:`upsample_weights` spreads it over the T1
grid (trilinear, as a heat map over a slice); :func:`weight_share` measures
the share of the weight mass inside the brain that falls in the atrophied
neighbourhoods (:func:`mmlib.data.phantoms.alzheimer.atrophy_neighbourhoods`)
against their share of the brain's volume. Their ratio is the **enrichment**:
1 when the weights ignore the atrophied regions, above 1 when they favour them.
Hand-written: the measurement is this book's, the upsampling is torch's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mmlib.data.phantoms.alzheimer import atrophy_neighbourhoods
from mmlib.data.phantoms.anatomy import tissue_maps
from mmlib.errors import ParameterError


def upsample_weights(weights: Sequence[float], grid: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """Per-patch weights (``prod(grid)`` values, C order) as a map of ``shape`` (trilinear / bilinear)."""
    w = np.asarray(weights, dtype=np.float32)
    grid, shape = tuple(grid), tuple(shape)
    if w.size != int(np.prod(grid)) or len(grid) != len(shape) or len(grid) not in (2, 3):
        raise ParameterError(f"{w.size} weights do not fill a grid {grid} over a {len(shape)}-D shape {shape}")
    mode = "trilinear" if len(grid) == 3 else "bilinear"
    return F.interpolate(torch.from_numpy(w.reshape(1, 1, *grid)), size=shape, mode=mode,
                         align_corners=False)[0, 0].numpy()


def weight_share(weights: Sequence[float], grid: Sequence[int], t1_shape: Sequence[int],
                 threshold: float = 0.5) -> dict[str, float]:
    """How much of the upsampled weight inside the brain lies in the atrophied neighbourhoods.

    Returns ``{"weight_share", "volume_share", "enrichment"}``: the weight mass
    in the neighbourhoods over the weight mass in the brain, the neighbourhoods'
    voxels over the brain's, and the ratio of the two.
    """
    brain = tissue_maps(tuple(t1_shape)).brain > 0.5
    region = atrophy_neighbourhoods(tuple(t1_shape), threshold) & brain
    if not region.any():
        raise ParameterError(f"no atrophied neighbourhood lies in the brain on a {tuple(t1_shape)} grid")
    w = upsample_weights(weights, grid, t1_shape)
    if (w[brain] < 0).any() or not w[brain].sum() > 0:
        raise ParameterError("weights must be non-negative with a positive sum over the brain")
    weight = float(w[region].sum() / w[brain].sum())
    volume = float(region.sum() / brain.sum())
    return {"weight_share": weight, "volume_share": volume, "enrichment": weight / volume}


def patch_of(point_mm: Sequence[float], affine: np.ndarray, shape: Sequence[int], grid: Sequence[int]) -> int:
    """The index of the grid patch (C order) that holds the MNI point ``point_mm`` on a volume of ``shape``."""
    voxel = np.linalg.inv(affine) @ np.r_[np.asarray(point_mm, float), 1.0]
    cell = [int(np.clip(np.floor(v / (s / g)), 0, g - 1)) for v, s, g in zip(voxel[:3], shape, grid)]
    return int(np.ravel_multi_index(cell, tuple(grid)))


def output_shapes(model: nn.Module, *inputs_shapes: Sequence[int], modules: dict[str, nn.Module] | None = None) -> dict:
    """Output shapes of ``modules`` (name -> submodule; default every leaf) for inputs of the given shapes.

    Runs on torch's ``meta`` device: shapes without computing anything, so the
    paper's 240 x 256 x 176 T1 costs no memory. ``model`` is moved to ``meta``.
    """
    model = model.to("meta").eval()  # shapes do not depend on the mode; BatchNorm needs eval at batch 1
    modules = modules if modules is not None else {n: m for n, m in model.named_modules() if not list(m.children())}
    shapes, hooks = {}, []
    for name, module in modules.items():
        def hook(mod, args, out, name=name):  # returns None: the output is left as it is
            shapes.setdefault(name, tuple(out.shape))

        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*(torch.empty(*s, device="meta") for s in inputs_shapes))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def table_1_shapes(channels: Sequence[int], t1_shape: Sequence[int], grid: Sequence[int] = (4, 4, 4)) -> pd.DataFrame:
    """The sPM's encoder outputs at ``t1_shape``: per patch, and assembled over the grid as Table 1 counts them."""
    from mmlib.papers.masan.autoencoders import PatchAutoencoders
    from mmlib.papers.masan.paper import TABLE_1

    with torch.device("meta"):  # no weights are initialised: at width 1 they are 350 M numbers
        net = PatchAutoencoders(grid, 1, channels)
    modules = {"InitConv": net.init_conv}
    for i, (down, block) in enumerate(zip(net.downs, net.blocks), start=1):
        modules[f"EncoderDown{i}"], modules[f"EncoderBlock{i}"] = down, block
    shapes = output_shapes(net, (1, 1, *t1_shape), modules=modules)
    n = int(np.prod(grid))
    rows = [{"layer": "Input", "Table 1 (as printed)": TABLE_1[0][2], "per patch": "1x" + "x".join(
        str(s // g) for s, g in zip(t1_shape, grid)), "assembled": "1x" + "x".join(map(str, t1_shape))}]
    for (name, shape), printed in zip(shapes.items(), TABLE_1[1:]):
        c, spatial = shape[1] // n, shape[2:]
        rows.append({"layer": name, "Table 1 (as printed)": printed[2], "per patch": "x".join(map(str, (c, *spatial))),
                     "assembled": "x".join(map(str, (c, *(s * g for s, g in zip(spatial, grid)))))})
    return pd.DataFrame(rows).set_index("layer")


def activation_bytes(model: nn.Module, *inputs_shapes: Sequence[int], bytes_per_value: int = 4) -> int:
    """The bytes of every leaf module's output for one forward pass (what training keeps for the backward pass,
    roughly), computed on the ``meta`` device."""
    shapes = output_shapes(model, *inputs_shapes)
    return int(sum(np.prod(s) for s in shapes.values()) * bytes_per_value)


def loop_difference(net: nn.Module, volume: torch.Tensor) -> float:
    """Largest absolute difference between the batched sPM's reconstruction and that of a loop over its patches,
    each run by its own one-patch module (:meth:`~mmlib.papers.masan.autoencoders.PatchAutoencoders.single`)."""
    from mmlib.papers.masan.patches import from_patches, to_patches

    with torch.no_grad():
        batched = net(volume)["recon"]
        patches = to_patches(volume, net.grid)
        width = net.in_channels
        looped = torch.cat([net.single(j)(patches[:, j * width:(j + 1) * width])["recon"] for j in range(net.n)], dim=1)
        return float((from_patches(looped, net.grid) - batched).abs().max())


def parameter_counts(model: nn.Module) -> pd.Series:
    """Trainable parameters of each top-level part of a model, and the total."""
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in model.named_children()}
    return pd.Series({**counts, "total": sum(counts.values())}, name="parameters")


def region_patch_ranks(weights: Sequence[float], grid: Sequence[int], affine: np.ndarray, shape: Sequence[int],
                       points: dict[str, Sequence[float]] | None = None) -> pd.DataFrame:
    """For each named MNI point (default: the generator's hippocampus and amygdala centres), the patch that holds
    it, that patch's weight and its rank among all patches (1 = highest weight)."""
    from mmlib.data.phantoms.alzheimer import REGIONS_MM

    w = np.asarray(weights, float)
    order = (-w).argsort(kind="stable")
    rank = np.empty(w.size, int)
    rank[order] = np.arange(1, w.size + 1)
    rows = {}
    for name, point in (points or REGIONS_MM).items():
        j = patch_of(point, affine, shape, grid)
        rows[name] = {"patch": j, "weight": float(w[j]), "rank": int(rank[j]), "of": int(w.size)}
    return pd.DataFrame.from_dict(rows, orient="index")


def fpm_shapes(window: int, fmri_shape: Sequence[int], channels: Sequence[int], grid: Sequence[int] = (4, 4, 4)) -> pd.DataFrame:
    """The fPM's input and three encoder levels per patch, for both readings of "time added" (on ``meta``)."""
    from mmlib.papers.masan.autoencoders import FunctionalPatchModule

    n = int(np.prod(grid))
    patch = [s // g for s, g in zip(fmri_shape, grid)]
    rows = {}
    for reading in ("channels", "frames"):
        with torch.device("meta"):
            fpm = FunctionalPatchModule(grid, window, channels, reading)
        modules = {"InitConv": fpm.net.init_conv, **{f"EncoderBlock{i + 1}": b for i, b in enumerate(fpm.net.blocks)}}
        shapes = output_shapes(fpm, (1, window, *fmri_shape), modules=modules)
        first = f"{window} channels x {'x'.join(map(str, patch))}" if reading == "channels" else \
            f"{window} frames of 1 x {'x'.join(map(str, patch))}"
        rows[reading] = {"input per patch": first, **{name: ("x".join(map(str, (s[1] // n, *s[2:]))) +
                                                             ("" if reading == "channels" else f", x {window} frames"))
                                                      for name, s in shapes.items()}}
    return pd.DataFrame(rows)
