"""Training curves: does each network fit its training set, and what does validation say meanwhile?

:func:`curves_figure` draws, side by side, the training loss and a validation
metric per epoch, one line per network and fold, from a long table (one row per
network, fold and epoch; ``mmlib.papers.guidance.results.training_curves`` makes
it from the fold records). Plotly, hand-laid out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from mmlib.errors import ParameterError


def curves_figure(curves: pd.DataFrame, title: str, *, series: str = "network",
                  panels: tuple[str, ...] = ("train_loss", "val_loss", "val_auc")) -> go.Figure:
    """One panel per column of ``panels`` against ``epoch``; one colour per ``series`` value, one line per fold."""
    missing = [c for c in ("epoch", "fold", series, *panels) if c not in curves.columns]
    if missing:
        raise ParameterError(f"curves lack the columns {missing}")
    names = {"train_loss": "training loss", "val_loss": "validation loss", "val_auc": "validation AUC"}
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[names.get(p, p) for p in panels],
                        horizontal_spacing=0.08)
    colours = {name: qualitative.Plotly[i % len(qualitative.Plotly)] for i, name in enumerate(curves[series].unique())}
    first_fold = curves.groupby(series, sort=False)["fold"].min().to_dict()
    for (name, fold), rows in curves.groupby([series, "fold"], sort=False):
        rows = rows.sort_values("epoch")
        for col, panel in enumerate(panels, start=1):
            fig.add_trace(go.Scatter(x=rows["epoch"], y=rows[panel], mode="lines", name=str(name), legendgroup=str(name),
                                     line=dict(color=colours[name], width=1.5),
                                     showlegend=bool(col == 1 and fold == first_fold[name]),
                                     hovertemplate=f"{name}, fold {fold}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>"),
                          row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=420, legend=dict(orientation="h", y=-0.25, x=0))
    return fig
