"""Plotly ROC figures (mmlib.viz.roc) and the book's plotly renderer."""

import numpy as np
import plotly.io as pio
import pytest

from mmlib.errors import ParameterError
from mmlib.eval.metrics import roc_points


def _folds(rng, n_folds, separation):
    folds = []
    for _ in range(n_folds):
        y = np.r_[np.zeros(30), np.ones(30)]
        score = 1 / (1 + np.exp(-(rng.normal(size=60) + separation * (2 * y - 1))))
        folds.append(roc_points(y, score))
    return folds


def test_importing_viz_sets_the_book_renderer():
    import importlib

    import mmlib.viz

    pio.renderers.default = "json"
    importlib.reload(mmlib.viz)
    # myst-nb drops the bare plotly mimetype; the notebook renderer adds HTML with plotly.js inline
    assert pio.renderers.default == "plotly_mimetype+notebook"


def test_roc_figure_traces_and_legend():
    from mmlib.viz.roc import roc_figure

    rng = np.random.default_rng(0)
    curves = {"T1ce": _folds(rng, 3, 1.5), "T1": _folds(rng, 3, 0.3)}
    fig = roc_figure(curves)
    # per method: 3 fold curves + 2 band edges + 1 mean; plus the chance line
    assert len(fig.data) == 2 * (3 + 2 + 1) + 1
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend[-1] == "chance"
    t1ce_auc = np.mean([f["auc"] for f in curves["T1ce"]])
    t1ce_std = np.std([f["auc"] for f in curves["T1ce"]], ddof=1)
    assert f"T1ce (AUC {t1ce_auc:.3f} ± {t1ce_std:.3f})" in legend
    assert any(name.startswith("T1 (AUC") for name in legend)
    # fold curves are grouped with their method and hidden from the legend
    folds = [t for t in fig.data if t.name and "fold" in t.name]
    assert len(folds) == 6 and all(t.showlegend is False for t in folds)
    assert {t.legendgroup for t in folds} == {"T1ce", "T1"}
    # distinct colours per method, and the band is filled
    means = [t for t in fig.data if t.name and "(AUC" in t.name]
    assert means[0].line.color != means[1].line.color
    assert sum(t.fill == "tonexty" for t in fig.data) == 2
    assert tuple(fig.layout.xaxis.range) == (0, 1) and fig.layout.yaxis.scaleanchor == "x"


def test_roc_figure_without_folds():
    from mmlib.viz.roc import roc_figure

    fig = roc_figure({"m": _folds(np.random.default_rng(1), 5, 1.0)}, show_folds=False)
    assert len(fig.data) == 2 + 1 + 1


def test_roc_figure_refuses_empty_method():
    from mmlib.viz.roc import roc_figure

    with pytest.raises(ParameterError, match="'m'"):
        roc_figure({"m": []})


def test_book_template_leaves_the_width_to_the_page_and_the_title_below_the_mode_bar():
    import plotly.graph_objects as go
    import plotly.io as pio

    import mmlib.viz  # noqa: F401  (sets the renderer and the template)
    from mmlib.viz.plotly_setup import BOOK_TEMPLATE

    assert pio.templates.default == BOOK_TEMPLATE
    assert pio.renderers["notebook"].config["responsive"] is True
    fig = go.Figure(layout=dict(title="t"))
    layout = fig.layout.template.layout
    assert layout.title.yref == "paper" and layout.title.yanchor == "bottom" and layout.margin.t >= 80
    assert fig.layout.width is None  # no fixed width: the page's column decides
