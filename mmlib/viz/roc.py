"""Plotly ROC figures in the papers' style: fold curves, mean curve, +-1 std band.

Reproduces the layout of the guidance paper's Fig. 5 and M3's Figs. 4, 6 and 7:
one thin curve per fold, the vertically averaged mean curve with its AUC mean +-
std in the legend, a +-1 std band, the chance diagonal, several methods or
modalities on the same square axes. The averaging is
:func:`mmlib.eval.metrics.mean_roc`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative

from mmlib.errors import ParameterError
from mmlib.eval.metrics import mean_roc


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = hex_to_rgb(hex_colour)
    return f"rgba({r},{g},{b},{alpha})"


def roc_figure(
    curves: Mapping[str, Sequence[Mapping]],
    title: str = "ROC curves (mean ± 1 std over folds)",
    show_folds: bool = True,
    digits: int = 3,
) -> go.Figure:
    """One ROC panel with every method (or modality) of ``curves``.

    ``curves`` maps a method name to its folds' ROC points, each a dict with
    ``fpr`` and ``tpr`` lists (e.g. :func:`mmlib.eval.metrics.roc_points`).
    Per method the figure holds, in order: one thin trace per fold (when
    ``show_folds``; grouped with the method and left out of the legend), the
    upper and lower edges of the +-1 std band (the lower one filled up to the
    upper), and the mean curve named ``"<method> (AUC 0.912 ± 0.034)"``. A last
    trace is the chance diagonal.
    """
    if not curves:
        raise ParameterError("roc_figure got no methods")
    palette = qualitative.Plotly
    fig = go.Figure()
    for i, (method, folds) in enumerate(curves.items()):
        if not folds:
            raise ParameterError(f"roc_figure: method {method!r} has no fold curves")
        colour = palette[i % len(palette)]
        grid, mean_tpr, std_tpr, mean_auc, std_auc = mean_roc((f["fpr"], f["tpr"]) for f in folds)
        if show_folds:
            for k, fold in enumerate(folds):
                fig.add_trace(
                    go.Scatter(
                        x=list(fold["fpr"]), y=list(fold["tpr"]), mode="lines",
                        line=dict(color=colour, width=1), opacity=0.35,
                        name=f"{method} fold {k}", legendgroup=method, showlegend=False,
                        hovertemplate=f"{method} fold {k}<br>FPR %{{x:.3f}}<br>TPR %{{y:.3f}}<extra></extra>",
                    )
                )
        upper = np.minimum(mean_tpr + std_tpr, 1.0)
        lower = np.maximum(mean_tpr - std_tpr, 0.0)
        fig.add_trace(
            go.Scatter(x=grid, y=upper, mode="lines", line=dict(width=0), legendgroup=method,
                       showlegend=False, hoverinfo="skip", name=f"{method} +1 std")
        )
        fig.add_trace(
            go.Scatter(x=grid, y=lower, mode="lines", line=dict(width=0), fill="tonexty",
                       fillcolor=_rgba(colour, 0.18), legendgroup=method, showlegend=False,
                       hoverinfo="skip", name=f"{method} −1 std")
        )
        fig.add_trace(
            go.Scatter(
                x=grid, y=mean_tpr, mode="lines", line=dict(color=colour, width=2.5),
                name=f"{method} (AUC {mean_auc:.{digits}f} ± {std_auc:.{digits}f})", legendgroup=method,
                hovertemplate=f"{method} mean<br>FPR %{{x:.3f}}<br>TPR %{{y:.3f}}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dash", width=1),
                   name="chance", hoverinfo="skip")
    )
    fig.update_layout(
        # The legend goes below the axes: near-chance curves run through the
        # lower-right corner where ROC legends usually sit.
        title=title, height=620 + 22 * len(curves),
        legend=dict(x=0.0, y=-0.14, xanchor="left", yanchor="top"),
        margin=dict(l=60, r=20, t=90, b=90 + 22 * len(curves)),
    )
    fig.update_xaxes(title="False positive rate (1 − specificity)", range=[0, 1], constrain="domain")
    fig.update_yaxes(title="True positive rate (sensitivity)", range=[0, 1], scaleanchor="x", scaleratio=1,
                     constrain="domain")
    return fig
