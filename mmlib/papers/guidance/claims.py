"""The guidance paper's four claims as tests on mean AUCs (Xu et al., Sec. IV-D to IV-F).

1. Uni-modal models differ widely, and T1ce is best (Tables III/IV).
2. Naive ensembles and pixel, feature and decision fusion are worse than the
   best single modality (Tables III/IV, VIII).
3. Dual attention helps (Tables V/VI).
4. Guidance from the primary modality with secondary modalities added
   cumulatively is best, and more modalities help (Table VII).

Each function takes mean AUCs by row name (a paper table or a measured run,
the same function for both) and returns a :class:`Verdict`. Applied to the
paper's own tables every claim holds, which :mod:`tests.test_guidance_claims`
checks: the tests encode the claims as the paper states them, not as this book
would like them. Hand-written: no library states these claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

from mmlib.errors import ParameterError


@dataclass(frozen=True)
class Verdict:
    """Whether a claim held on one source of numbers, and the numbers that decided it."""

    claim: int
    holds: bool
    evidence: str


def _checked(auc: Mapping[str, float], what: str, at_least: int = 1) -> dict[str, float]:
    values = {str(k): float(v) for k, v in auc.items()}
    if len(values) < at_least or not all(np.isfinite(list(values.values()))):
        raise ParameterError(f"{what}: need {at_least}+ finite AUCs, got {values}")
    return values


def unimodal_ranking(auc: Mapping[str, float], is_primary) -> Verdict:
    """Claim 1: the best uni-modal model is the primary modality's (``is_primary(name)``).

    The evidence names the best model and the spread (best minus worst AUC),
    the paper's "differ widely".
    """
    values = _checked(auc, "claim 1", 2)
    best = max(values, key=values.get)
    spread = values[best] - min(values.values())
    order = ", ".join(f"{k} {v:.3f}" for k, v in sorted(values.items(), key=lambda kv: -kv[1]))
    return Verdict(1, bool(is_primary(best)), f"best {best}; spread {spread:.3f} ({order})")


def fusion_below_best_single(single: Mapping[str, float], fused: Mapping[str, float]) -> Verdict:
    """Claim 2: every fusion (ensemble, pixel, feature, decision...) is below the best single modality."""
    single, fused = _checked(single, "claim 2, single"), _checked(fused, "claim 2, fused")
    best = max(single, key=single.get)
    above = [k for k, v in fused.items() if v >= single[best]]
    listed = ", ".join(f"{k} {v:.3f}" for k, v in fused.items())
    evidence = f"best single {best} {single[best]:.3f}; fused: {listed}"
    return Verdict(2, not above, evidence + (f"; at or above it: {', '.join(above)}" if above else ""))


def attention_helps(differences: Sequence[float]) -> Verdict:
    """Claim 3: DA_RMC - RMC on T1ce is positive on average (one value per fold, or the paper's one)."""
    diffs = np.asarray(list(differences), dtype=float)
    if diffs.size == 0 or not np.isfinite(diffs).all():
        raise ParameterError(f"claim 3: need finite AUC differences, got {diffs}")
    spread = f" ± {diffs.std(ddof=1):.3f} over {diffs.size} folds, {int((diffs > 0).sum())} positive" if diffs.size > 1 else ""
    return Verdict(3, bool(diffs.mean() > 0), f"DA_RMC - RMC = {diffs.mean():+.3f}{spread}")


def guidance_cumulative(auc_by_subset: Mapping[str, float], n_secondary, full: str) -> Verdict:
    """Claim 4: the model with every secondary modality is best, and AUC rises with their number.

    ``n_secondary(name)`` gives a subset's number of secondary modalities;
    ``full`` names the all-modality subset. Holds when ``full`` has the highest
    AUC and the Spearman correlation between the number of secondaries and
    AUC over all subsets is positive.
    """
    values = _checked(auc_by_subset, "claim 4", 3)
    if full not in values:
        raise ParameterError(f"claim 4: no subset named {full!r} among {sorted(values)}")
    k = [n_secondary(name) for name in values]
    rho = float(spearmanr(k, list(values.values())).statistic)
    best = max(values, key=values.get)
    holds = best == full and rho > 0
    return Verdict(4, bool(holds), f"best {best} {values[best]:.3f} (all four {values[full]:.3f}); "
                                   f"Spearman rho(k, AUC) {rho:+.3f}")
