"""The M3 part's figures: training curves, and mask attention on one volume (Eq. 1 drawn).

* :func:`training_curves`: loss and Dice (or AUC) per epoch of every network of a
  fold, training and validation, so a reader sees that each network fits its
  training set (and where validation stops improving).
* :func:`attention_panels`: one axial slice of a volume, the lesion probability
  map ``D(E_N(x))``, and one stage's channel-mean feature map before and after the
  map multiplies it (Eq. 1), all on the input's grid.

Plotly (interactive) and matplotlib; hand-written layouts.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from mmlib.errors import ParameterError


def training_curves(curves: Mapping[str, Mapping[str, Sequence[float]]], title: str,
                    metric: str = "dice") -> go.Figure:
    """Two panels: the loss, and ``metric`` (``"dice"`` or ``"auc"``), per epoch; one colour per network.

    ``curves`` maps a network name to its per-epoch records
    (:func:`mmlib.papers.m3.protocol.curves`: ``train_loss``, ``val_loss``,
    ``train_dice``, ``val_dice``...). Solid lines are training, dashed validation.
    """
    if not curves:
        raise ParameterError("training_curves got no network")
    fig = make_subplots(1, 2, subplot_titles=("loss", metric if metric != "dice" else "Dice (lesion)"))
    for i, (name, c) in enumerate(curves.items()):
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        epochs = list(range(1, len(c["train_loss"]) + 1))
        for col, key in ((1, "loss"), (2, metric)):
            for side, dash in (("train", "solid"), ("val", "dash")):
                values = c.get(f"{side}_{key}")
                if values is None:
                    continue
                fig.add_trace(go.Scatter(x=epochs, y=list(values), mode="lines", line=dict(color=colour, dash=dash),
                                         name=f"{name}, {'training' if side == 'train' else 'validation'}",
                                         legendgroup=name, showlegend=col == 1), row=1, col=col)
    fig.update_xaxes(title="epoch")
    fig.update_layout(title=title, height=460, legend=dict(orientation="h", y=-0.22),
                      margin=dict(t=80, b=140))
    return fig


def channel_mean(stage: torch.Tensor, size: Sequence[int]) -> np.ndarray:
    """A stage's mean over channels, resized (trilinear) to ``size``: ``(D, H, W)`` for one volume."""
    mean = stage.float().mean(dim=1, keepdim=True)
    return F.interpolate(mean, size=tuple(size), mode="trilinear", align_corners=False)[0, 0].numpy()


def attention_panels(image: np.ndarray, probability: np.ndarray, before: np.ndarray, after: np.ndarray,
                     title: str, z: int | None = None) -> plt.Figure:
    """Four panels of one axial slice ``z`` (default: the slice of highest lesion probability).

    ``image``, ``probability``, ``before`` and ``after`` are ``(D, H, W)`` on one
    grid (:func:`channel_mean` resizes the feature maps).
    """
    arrays = [np.asarray(a, dtype=float) for a in (image, probability, before, after)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 3:
        raise ParameterError(f"attention_panels needs four (D, H, W) arrays of one shape, got {[a.shape for a in arrays]}")
    z = int(np.argmax(arrays[1].sum(axis=(1, 2)))) if z is None else int(z)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    names = ("input", "lesion probability D(E_N(x))", "stage mean, before", "stage mean, after (x probability)")
    for ax, array, name, cmap in zip(axes, arrays, names, ("gray", "magma", "viridis", "viridis")):
        shown = ax.imshow(array[z], cmap=cmap, origin="lower")
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(f"{title} (axial slice {z})", fontsize=10)
    fig.tight_layout()
    return fig
