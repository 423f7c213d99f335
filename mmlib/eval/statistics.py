"""Uncertainty of an AUC and of a difference between two AUCs: bootstrap CIs, DeLong's test, corrected t-test.

Every claim the book tests ("A beats B") comes with one of these:

* :func:`bootstrap_auc` — an AUC with a percentile bootstrap confidence interval,
  resampling cases within each class (stratified), so every resample has both.
* :func:`paired_bootstrap` — ``AUC(b) - AUC(a)`` on the *same* cases, its CI and a
  two-sided bootstrap p-value, resampling the cases once for both scores.
* :func:`delong_test` — DeLong, DeLong & Clarke-Pearson (1988), the usual test for
  two correlated ROC AUCs, in the fast form of Sun & Xu (2014, IEEE SPL 21:1389):
  AUCs, their difference, its CI and a two-sided p-value from the normal law.
* :func:`corrected_resampled_ttest` — Nadeau & Bengio (2003): a t-test on per-split
  differences over repeated train/test splits, with the variance inflated by
  ``n_test / n_train`` because the splits share cases (the MASAN paper's 10 random
  7:3 splits; cross-validation folds).

Hand-written: scikit-learn gives the AUC (:func:`sklearn.metrics.roc_auc_score`)
but none of these tests; scipy gives the normal and t laws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from mmlib.errors import ParameterError


@dataclass(frozen=True)
class Estimate:
    """A statistic with its ``level`` confidence interval ``(low, high)`` and, for a difference, a p-value."""

    value: float
    low: float
    high: float
    level: float = 0.95
    p_value: float | None = None
    method: str = ""

    def __str__(self) -> str:
        p = "" if self.p_value is None else f", p = {self.p_value:.3g}"
        return f"{self.value:+.3f} [{self.low:+.3f}, {self.high:+.3f}]{p}" if self.p_value is not None else \
            f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _checked(y_true, *scores) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(y_true)
    if y.ndim != 1 or not set(np.unique(y).tolist()) <= {0, 1}:
        raise ParameterError(f"y_true must be a 1-D array of 0/1 labels, got values {np.unique(y)[:5]}")
    if y.min() == y.max():
        raise ParameterError("y_true holds one class only: the AUC is undefined")
    out = []
    for s in scores:
        s = np.asarray(s, dtype=float)
        if s.shape != y.shape:
            raise ParameterError(f"scores of shape {s.shape} for {y.shape} labels")
        if not np.all(np.isfinite(s)):
            raise ParameterError("scores hold NaN or infinite values")
        out.append(s)
    return y.astype(int), out


def _stratified_indices(y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` resample indices, drawn with replacement within each class."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    return np.concatenate([rng.choice(pos, (n_boot, pos.size)), rng.choice(neg, (n_boot, neg.size))], axis=1)


def _auc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC of each row of ``scores`` (``(B, n)``) against the same labels, by ranks (ties count half)."""
    ranks = stats.rankdata(scores, axis=1)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    return (ranks[:, y == 1].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def bootstrap_auc(y_true, y_score, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """The AUC of ``y_score`` with a stratified percentile bootstrap CI."""
    y, (s,) = _checked(y_true, y_score)
    idx = _stratified_indices(y, n_boot, np.random.default_rng(seed))
    boot = _auc_rows(y[idx[0]], s[idx])  # stratified: every resample has the same labels in the same order
    tail = (1 - level) / 2
    return Estimate(float(roc_auc_score(y, s)), float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail)),
                    level, method=f"stratified bootstrap, {n_boot} resamples")


def paired_bootstrap(y_true, score_a, score_b, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """``AUC(b) - AUC(a)`` on the same cases: percentile CI and a two-sided bootstrap p-value.

    The p-value is twice the smaller share of resampled differences on either
    side of zero (at least ``1 / n_boot``).
    """
    y, (a, b) = _checked(y_true, score_a, score_b)
    idx = _stratified_indices(y, n_boot, np.random.default_rng(seed))
    labels = y[idx[0]]
    diff = _auc_rows(labels, b[idx]) - _auc_rows(labels, a[idx])
    tail = (1 - level) / 2
    p = 2 * min((diff <= 0).mean(), (diff >= 0).mean())
    return Estimate(float(roc_auc_score(y, b) - roc_auc_score(y, a)), float(np.quantile(diff, tail)),
                    float(np.quantile(diff, 1 - tail)), level, float(min(1.0, max(p, 1 / n_boot))),
                    method=f"paired stratified bootstrap, {n_boot} resamples")


def _placements(y: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (per positive) and V01 (per negative)."""
    pos, neg = s[y == 1], s[y == 0]
    # V10_i = P(pos_i > neg) + 0.5 P(pos_i == neg); V01_j = P(pos > neg_j) + 0.5 P(pos == neg_j)
    v10 = (stats.rankdata(np.concatenate([pos, neg]))[:pos.size] - stats.rankdata(pos)) / neg.size
    v01 = 1 - (stats.rankdata(np.concatenate([neg, pos]))[:neg.size] - stats.rankdata(neg)) / pos.size
    return float(v10.mean()), v10, v01


def delong_test(y_true, score_a, score_b, *, level: float = 0.95) -> Estimate:
    """DeLong's test of ``AUC(b) - AUC(a)`` for two scores of the same cases (Sun & Xu's fast form)."""
    y, (a, b) = _checked(y_true, score_a, score_b)
    auc_a, v10_a, v01_a = _placements(y, a)
    auc_b, v10_b, v01_b = _placements(y, b)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    cov = s10 / v10_a.size + s01 / v01_a.size
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = auc_b - auc_a
    if var <= 1e-15:  # identical (or perfectly co-ranked) scores: no evidence of a difference
        return Estimate(diff, diff, diff, level, 1.0, method="DeLong (zero variance)")
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * np.sqrt(var)
    p = float(2 * stats.norm.sf(abs(diff) / np.sqrt(var)))
    return Estimate(float(diff), float(diff - half), float(diff + half), level, p, method="DeLong")


def corrected_resampled_ttest(differences: Sequence[float], n_train: int, n_test: int,
                              level: float = 0.95) -> Estimate:
    """Nadeau & Bengio's corrected t-test of per-split differences over repeated train/test splits.

    The sample variance of the ``k`` differences is inflated by
    ``1/k + n_test/n_train`` instead of ``1/k``, for the overlap of the splits'
    training sets. Two-sided p-value from Student's t with ``k - 1`` degrees of freedom.
    """
    d = np.asarray(list(differences), dtype=float)
    if d.size < 2 or not np.all(np.isfinite(d)):
        raise ParameterError(f"need at least two finite per-split differences, got {d}")
    if n_train < 1 or n_test < 1:
        raise ParameterError(f"n_train and n_test must be positive, got {n_train}, {n_test}")
    var = d.var(ddof=1) * (1 / d.size + n_test / n_train)
    mean = float(d.mean())
    if var <= 0:
        return Estimate(mean, mean, mean, level, 1.0 if mean == 0 else 0.0, method="corrected resampled t (zero variance)")
    t = mean / np.sqrt(var)
    half = stats.t.ppf(0.5 + level / 2, d.size - 1) * np.sqrt(var)
    p = float(2 * stats.t.sf(abs(t), d.size - 1))
    return Estimate(mean, mean - half, mean + half, level, p, method=f"corrected resampled t, {d.size} splits")
