"""Training-curve figures (mmlib.viz.curves)."""

import pandas as pd
import pytest

from mmlib.errors import ParameterError
from mmlib.viz.curves import curves_figure


def test_one_line_per_network_fold_and_panel_with_one_legend_entry_per_network():
    rows = [{"network": n, "fold": f, "epoch": e, "train_loss": 1 / e, "val_loss": 1.0, "val_auc": 0.5 + e / 100}
            for n in ("t1ce", "flair") for f in (0, 1) for e in (1, 2, 3)]
    fig = curves_figure(pd.DataFrame(rows), "curves")
    assert len(fig.data) == 2 * 2 * 3
    assert sorted(t.name for t in fig.data if t.showlegend) == ["flair", "t1ce"]
    assert list(fig.data[0].x) == [1, 2, 3]
    with pytest.raises(ParameterError, match="val_auc"):
        curves_figure(pd.DataFrame(rows).drop(columns="val_auc"), "x")
