"""A paper's claim, tested on one source of numbers: the verdict and the numbers (and statistics) behind it.

Each paper package states its claims as functions that return a :class:`Verdict`
(``mmlib.papers.<paper>.claims``); :func:`verdict_frame` lays verdicts from several
sources of numbers (the paper's own tables, this book's phantoms, real data) out
as one table. A verdict on a difference carries its
:class:`~mmlib.eval.statistics.Estimate` (confidence interval and p-value) when
the per-case scores allow one. Hand-written: no library states claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from mmlib.eval.statistics import Estimate


@dataclass(frozen=True)
class Verdict:
    """Whether claim ``claim`` held on one source of numbers, the numbers that decided it, and its statistics."""

    claim: int
    holds: bool
    evidence: str
    estimate: Estimate | None = None


def verdict_frame(sources: Mapping[str, Sequence[Verdict]]) -> pd.DataFrame:
    """One row per (claim, source of numbers): whether it held, the numbers, and the CI / p-value when known."""
    rows = [{"claim": v.claim, "data": source, "holds": "yes" if v.holds else "NO", "evidence": v.evidence,
             "statistics": "" if v.estimate is None else f"{v.estimate} ({v.estimate.method})"}
            for source, verdicts in sources.items() for v in verdicts]
    columns = ["claim", "data", "holds", "evidence", "statistics"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows, columns=columns).sort_values("claim", kind="stable").reset_index(drop=True)
    return frame if frame["statistics"].astype(bool).any() else frame.drop(columns="statistics")
