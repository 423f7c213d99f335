"""MASAN's figures: training curves, Fig. 3's grouped bars, the patch grid and Fig. 4's weight map over a T1 slice.

Curves and bars are plotly (interactive in the book); image panels are
matplotlib (``imshow``), slices shown in radiological-free "array" orientation
with the anterior side up. Hand-written layouts on plotly and matplotlib.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from mmlib.errors import ParameterError

#: Loss terms drawn by :func:`curves_figure`, in order, with their labels.
TERMS = {"train_loss": "total loss", "train_cls": "classification (Eq. 7)", "train_subject": "H-FCN subject BCE",
         "train_recon_t1": "L_s (T1 reconstruction)", "train_recon_fmri": "L_f (fMRI reconstruction)",
         "train_recon": "reconstruction"}


#: Display names of the recorded networks.
NETWORK_NAMES = {"masan": "MASAN", "masan-add": "MASAN, addition", "hfcn": "H-FCN"}


def curves_figure(curves: Mapping[str, Sequence[Mapping]], title: str = "Training curves") -> go.Figure:
    """Per-epoch training losses of every method (``{method: protocol.curves(...) rows}``), one panel per method.

    Pre-training epochs are shaded; each panel's x axis names its method.
    """
    if not curves:
        raise ParameterError("curves_figure got no methods")
    fig = make_subplots(rows=1, cols=len(curves), horizontal_spacing=0.08)
    palette = qualitative.Plotly
    for col, (method, rows) in enumerate(curves.items(), start=1):
        frame = pd.DataFrame(list(rows))
        if frame.empty:
            raise ParameterError(f"curves_figure: method {method!r} has no epochs")
        for i, (term, label) in enumerate(TERMS.items()):
            if term in frame and frame[term].notna().any():
                part = frame[frame[term].notna()]
                fig.add_trace(go.Scatter(x=part["epoch"], y=part[term], mode="lines+markers", name=label,
                                         legendgroup=label, showlegend=col == 1 or term not in ("train_loss",),
                                         line=dict(color=palette[i % len(palette)])), row=1, col=col)
        pre = frame[frame["stage"] == "pretrain"]
        if not pre.empty:
            fig.add_vrect(x0=pre["epoch"].min() - 0.5, x1=pre["epoch"].max() + 0.5, fillcolor="grey", opacity=0.12,
                          line_width=0, row=1, col=col)
        fig.update_xaxes(title_text=f"{NETWORK_NAMES.get(method, method)}: epoch", row=1, col=col)
    fig.update_yaxes(type="log", title_text="training loss (log)", row=1, col=1)
    for col in range(2, len(curves) + 1):
        fig.update_yaxes(type="log", row=1, col=col)
    fig.update_layout(title=title, height=430, legend=dict(orientation="h", y=-0.25))
    return fig


def grouped_bars(frame: pd.DataFrame, title: str, metrics: Sequence[str] = ("acc", "precision", "recall")) -> go.Figure:
    """Fig. 3's layout: one group of bars per metric, one bar per method (mean, error bar = std over repetitions).

    ``frame`` has rows = methods and MultiIndex columns ``(metric, "mean" | "std")``.
    """
    fig = go.Figure()
    palette = qualitative.Plotly
    names = {"acc": "accuracy", "precision": "precision", "recall": "recall", "auc": "AUC"}
    for i, method in enumerate(frame.index):
        fig.add_trace(go.Bar(name=str(method), x=[names.get(m, m) for m in metrics],
                             y=[frame.loc[method, (m, "mean")] for m in metrics],
                             error_y=dict(type="data", array=[frame.loc[method, (m, "std")] for m in metrics]),
                             marker_color=palette[i % len(palette)]))
    fig.update_layout(barmode="group", title=title, height=450, yaxis=dict(title="mean over repetitions", range=[0, 1]),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    return np.rot90(np.take(np.asarray(volume), index, axis=axis))  # anterior / superior up


def patch_grid_figure(volume: np.ndarray, grid: Sequence[int], axis: int, index: int, title: str) -> plt.Figure:
    """A T1 slice with the patch grid's cell borders of the two in-plane axes drawn over it."""
    image = _slice(volume, axis, index)
    plane = [a for a in range(3) if a != axis]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), layout="constrained")
    ax.imshow(image, cmap="gray", interpolation="nearest")
    height, width = image.shape
    cols, rows = grid[plane[0]], grid[plane[1]]  # rot90: first in-plane axis runs left-right
    for k in range(1, cols):
        ax.axvline(k * width / cols - 0.5, color="gold", linewidth=1)
    for k in range(1, rows):
        ax.axhline(k * height / rows - 0.5, color="gold", linewidth=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig


def weight_map_figure(volume: np.ndarray, weights: np.ndarray, axis: int, index: int, *, region: np.ndarray | None = None,
                      title: str = "") -> plt.Figure:
    """Fig. 4's layout: a T1 slice (left) and the upsampled fusion weights over it (right), the known region outlined."""
    t1, w = _slice(volume, axis, index), _slice(weights, axis, index)
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.8), layout="constrained")
    axes[0].imshow(t1, cmap="gray", interpolation="nearest")
    axes[0].set_title("T1 slice", fontsize=9)
    axes[1].imshow(t1, cmap="gray", interpolation="nearest")
    shown = axes[1].imshow(w, cmap="viridis", alpha=0.6, interpolation="bilinear")
    if region is not None:
        axes[1].contour(_slice(region.astype(float), axis, index), levels=[0.5], colors="red", linewidths=1)
    axes[1].set_title("fusion weights (atrophied neighbourhoods in red)" if region is not None else "fusion weights",
                      fontsize=9)
    fig.colorbar(shown, ax=axes[1], shrink=0.8, label="spatial attention")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def reconstruction_figure(images: Mapping[str, np.ndarray], title: str) -> plt.Figure:
    """2-D images side by side on one grey scale (a patch and its reconstruction)."""
    if not images:
        raise ParameterError("reconstruction_figure needs images")
    values = np.concatenate([np.asarray(v).ravel() for v in images.values()])
    low, high = np.percentile(values, [1, 99])
    fig, axes = plt.subplots(1, len(images), figsize=(2.8 * len(images), 3.0), layout="constrained", squeeze=False)
    for ax, (label, image) in zip(axes[0], images.items()):
        ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


def attention_heatmap(weights: np.ndarray, title: str) -> go.Figure:
    """A region-by-region attention map (rows: the region updated, columns: the regions it draws on; Eq. 4)."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ParameterError(f"attention map must be square, got {weights.shape}")
    fig = go.Figure(go.Heatmap(z=weights, colorscale="Viridis", colorbar=dict(title="weight")))
    fig.update_layout(title=title, height=480, xaxis=dict(title="region j (key)"),
                      yaxis=dict(title="region i (query)", autorange="reversed", scaleanchor="x"))
    return fig
