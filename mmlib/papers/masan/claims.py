"""MASAN's three claims as tests on numbers (Zong et al., Sec. 3.3).

1. **Table 2.** MASAN beats H-FCN in accuracy and precision, and trails it in
   recall (AD positive against NC + MCI).
2. **Fig. 3.** The T1-guided attention fusion beats element-wise addition on
   accuracy, precision and recall (AD vs NC).
3. **Fig. 4.** The fused embedding puts its highest weights on the regions
   linked to the disease (hippocampus, amygdala).

Each claim function takes the numbers of one source (the paper's table, or this
book's repetitions) and returns a :class:`~mmlib.eval.claims.Verdict`; the
direction decides ``holds`` (the paper states directions), and the corrected
resampled t-test over the ten repetitions
(:func:`mmlib.eval.statistics.corrected_resampled_ttest`) gives the estimate,
its 95 % interval and p-value, named in the evidence ("significant" when the
interval excludes 0). Claim 1 holds on the paper's own Table 2; claims 2 and 3
have no numbers in the paper's text (bar and map figures only), so their paper
verdicts restate the text. ``tests/test_masan_claims.py`` checks both and
builds numbers where each claim must fail.

:func:`implied_positive_share` is a consistency check of Table 2 itself: the
positive-class share that accuracy, precision and recall imply together.
Hand-written: no library states these claims.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np

from mmlib.errors import ParameterError
from mmlib.eval.claims import Verdict
from mmlib.eval.statistics import Estimate
from mmlib.papers.masan import paper, results

METRIC_NAMES = {"acc": "accuracy", "precision": "precision", "recall": "recall", "auc": "AUC"}


def _checked(values: Mapping[str, float], keys, what: str) -> dict[str, float]:
    missing = [k for k in keys if k not in values]
    out = {k: float(values[k]) for k in keys if k in values}
    if missing or not all(np.isfinite(list(out.values()))):
        raise ParameterError(f"{what}: need finite {list(keys)}, got {dict(values)}")
    return out


def _significance(estimate: Estimate | None, of: str = "difference") -> str:
    if estimate is None:
        return ""
    excluded = estimate.low > 0 or estimate.high < 0
    return f"; {of} {'significant' if excluded else 'not significant'}: 95% CI [{estimate.low:+.3f}, " \
           f"{estimate.high:+.3f}], p = {estimate.p_value:.3g}"


def masan_beats_hfcn(masan: Mapping[str, float], hfcn: Mapping[str, float],
                     estimates: Mapping[str, Estimate] | None = None, claim: int = 1) -> Verdict:
    """Claim 1: MASAN's accuracy and precision above H-FCN's, its recall below (means over repetitions).

    ``estimates`` (optional) holds the paired MASAN - H-FCN difference per
    metric; the accuracy difference becomes the verdict's estimate.
    """
    m, h = _checked(masan, results.METRICS, "claim 1, MASAN"), _checked(hfcn, results.METRICS, "claim 1, H-FCN")
    holds = m["acc"] > h["acc"] and m["precision"] > h["precision"] and m["recall"] < h["recall"]
    parts = [f"{METRIC_NAMES[k]} {m[k]:.3f} vs {h[k]:.3f}" + _significance((estimates or {}).get(k))
             for k in results.METRICS]
    return Verdict(claim, bool(holds), "MASAN vs baseline: " + " | ".join(parts), (estimates or {}).get("acc"))


def attention_beats_addition(attention: Mapping[str, float], addition: Mapping[str, float],
                             estimates: Mapping[str, Estimate] | None = None) -> Verdict:
    """Claim 2: the attention fusion above element-wise addition in accuracy, precision and recall."""
    a, b = _checked(attention, results.METRICS, "claim 2, attention"), _checked(addition, results.METRICS, "claim 2, add")
    holds = all(a[k] > b[k] for k in results.METRICS)
    parts = [f"{METRIC_NAMES[k]} {a[k]:.3f} vs {b[k]:.3f}" + _significance((estimates or {}).get(k))
             for k in results.METRICS]
    return Verdict(2, bool(holds), "attention vs addition: " + " | ".join(parts), (estimates or {}).get("acc"))


def weights_favour_atrophy(enrichment: Mapping[str, float] | float, estimate: Estimate | None = None) -> Verdict:
    """Claim 3: the fusion weights favour the atrophied regions: mean enrichment (weight share / volume share) > 1.

    ``estimate`` is the corrected-t estimate of ``enrichment - 1`` over repetitions.
    """
    value = float(enrichment["mean"] if isinstance(enrichment, Mapping) else enrichment)
    if not np.isfinite(value) or value < 0:
        raise ParameterError(f"claim 3: enrichment must be a finite non-negative number, got {value}")
    return Verdict(3, bool(value > 1.0), f"weight share in the hippocampus/amygdala neighbourhoods / their volume share "
                                         f"= {value:.2f}" + _significance(estimate, "enrichment - 1"), estimate)


def implied_positive_share(acc: float, precision: float, recall: float) -> float:
    """The positive-class share ``pi`` that makes accuracy, precision and recall (fractions) agree.

    From TP = pi R, FP = pi R (1 - P) / P and TN = 1 - pi - FP:
    ``acc = 1 - pi (1 - R + R (1 - P) / P)``. Means over runs only approximate
    it, but a value far from the stated class share means the three columns
    cannot come from that class balance.
    """
    if not (0 < precision <= 1 and 0 <= recall <= 1 and 0 <= acc <= 1):
        raise ParameterError(f"acc, precision, recall must be fractions, got {acc}, {precision}, {recall}")
    slope = 1 - recall + recall * (1 - precision) / precision
    if slope <= 0:
        raise ParameterError("recall 1 and precision 1: every positive share fits")
    return (1 - acc) / slope


def paper_verdicts() -> list[Verdict]:
    """The three claims on the paper's own numbers and statements."""
    table = paper.TABLE_2.frame()
    means = {row: {m: table.loc[row, (m, "mean")] / 100 for m in results.METRICS} for row in table.index}
    return [masan_beats_hfcn(means["Ours"], means["H-FCN"]),
            Verdict(2, True, "stated in Sec. 3.3 (\"improving the classification performance in all three evaluation "
                             "metrics\"); Fig. 3 gives no numbers in the text"),
            Verdict(3, True, "stated in Sec. 3.3 (\"there is a highlighted part (yellow) in the hippocampus area\"); "
                             "Fig. 4 gives no numbers")]


def _means(result) -> dict[str, float]:
    return {m: float(result.summary.loc[m, "mean"]) for m in (*results.METRICS, "auc")}


def _estimates(run, base, other) -> dict[str, Estimate]:
    n_train, n_test = results.split_sizes(run)
    return {m: results.paired_difference(base, other, m, n_train, n_test) for m in (*results.METRICS, "auc")}


def phantom_verdicts(results_dir: str | os.PathLike | None = None) -> list[Verdict]:
    """The claims this book's committed phantom runs answer (each needs its run)."""
    root = results.results_root(results_dir)
    verdicts = []
    table_2 = results.optional_run(root / "table-2")
    if table_2 is not None and {"masan", "hfcn"} <= set(table_2.methods):
        masan, hfcn = table_2.methods["masan"], table_2.methods["hfcn"]
        verdicts.append(masan_beats_hfcn(_means(masan), _means(hfcn), _estimates(table_2, hfcn, masan)))
    figure_3 = results.optional_run(root / "figure-3")
    if figure_3 is not None and {"masan", "masan-add"} <= set(figure_3.methods):
        att, add = figure_3.methods["masan"], figure_3.methods["masan-add"]
        verdicts.append(attention_beats_addition(_means(att), _means(add), _estimates(figure_3, add, att)))
    for run in (table_2, figure_3):
        if run is not None and "masan" in run.methods:
            shares = results.fusion_weight_records(run)
            n_train, n_test = results.split_sizes(run)
            estimate = results.mean_ci(shares["enrichment"] - 1.0, n_train, n_test)
            verdict = weights_favour_atrophy(float(shares["enrichment"].mean()), estimate)
            task = run.params.get("task", "ad-vs-rest")
            verdicts.append(Verdict(3, verdict.holds, f"{task}: {verdict.evidence}", verdict.estimate))
    return verdicts


def real_verdicts(results_dir: str | os.PathLike | None = None) -> dict[str, list[Verdict]]:
    """Claim 1's pattern on the real single-branch runs: MASAN's branch against the field's baseline.

    OASIS: the structural branch against the 2-D H-FCN (the paper's own
    baseline). ABIDE: the functional branch against the tangent-space
    connectome (the field's standard; H-FCN is structural). Claims 2 and 3 need
    both modalities or known regions and do not apply.
    """
    root = results.results_root(results_dir)
    out = {}
    oasis = results.optional_run(root / "oasis")
    if oasis is not None and {"masan", "hfcn"} <= set(oasis.methods):
        m, h = oasis.methods["masan"], oasis.methods["hfcn"]
        out["this book, real OASIS-1 (CDR > 0 vs 0), vs 2-D H-FCN"] = [
            masan_beats_hfcn(_means(m), _means(h), _estimates(oasis, h, m))]
    abide = results.optional_run(root / "abide")
    if abide is not None and {"masan", "connectome-tangent"} <= set(abide.methods):
        m, t = abide.methods["masan"], abide.methods["connectome-tangent"]
        out["this book, real ABIDE (autism vs control), vs tangent connectome"] = [
            masan_beats_hfcn(_means(m), _means(t), _estimates(abide, t, m))]
    return out


def verdicts_by_source(results_dir: str | os.PathLike | None = None, claim: int | None = None) -> dict[str, list[Verdict]]:
    """Every source of numbers and its verdicts; ``claim`` keeps one claim's."""
    sources = {"paper, ADNI3": paper_verdicts(), "this book, Alzheimer's phantoms": phantom_verdicts(results_dir),
               **real_verdicts(results_dir)}
    return {s: [v for v in vs if claim is None or v.claim == claim] for s, vs in sources.items()}


def table_2_consistency() -> dict[str, float]:
    """The positive share each row of Table 2 implies, beside AD's share of the cohort (72 of 206)."""
    table = paper.TABLE_2.frame()
    implied = {row: implied_positive_share(*(table.loc[row, (m, "mean")] / 100 for m in results.METRICS))
               for row in table.index}
    cohort = paper.PAPER_COHORT
    return {**{f"implied by {row}": round(v, 3) for row, v in implied.items()},
            "AD / all (stated)": round(cohort["AD"] / sum(cohort.values()), 3),
            "(AD + MCI) / all": round((cohort["AD"] + cohort["EMCI"] + cohort["LMCI"]) / sum(cohort.values()), 3)}
