"""M3's four claims as tests, on the paper's tables and on this book's runs (Kong et al. 2024).

1. Mask-attention, multi-scale deep features + PCA + SVM classify well
   (Sec. 3.2, Figure 4: AUC 0.954-0.982 per tumour modality and 0.987 fused;
   0.754-0.807 per HT map and 0.840 fused).
2. Multimodal feature fusion beats every single modality, in both tasks
   (Sec. 3.2, Tables 3-4).
3. Mask attention alone and multi-scale alone each beat plain deep features,
   and both together (M3) beat either (Sec. 3.3, Tables 5-6 against 3-4).
4. SVM, RF, GBM and a 3-layer MLP on the same features do not differ
   significantly, and an end-to-end Direct CNN is clearly worse (Table 7).

Each claim function takes one number per row (a paper's mean, or this book's
mean over folds) and, for this book's runs, the per-case or per-fold numbers
behind them, and returns :class:`~mmlib.eval.claims.Verdict` (s) whose
``estimate`` carries a confidence interval and a paired test
(:mod:`mmlib.eval.statistics`). The rules (what "beats" means) are the plainest
reading of the paper's words, stated in each docstring; applied to the paper's
own tables every claim holds (``tests/test_m3_claims.py``), and on constructed
numbers where it should fail, it fails. Hand-written: no library states these claims.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmlib.errors import ParameterError
from mmlib.eval.claims import Verdict
from mmlib.eval.statistics import bootstrap_auc, corrected_resampled_ttest, delong_test
from mmlib.eval.tables import PaperTable
from mmlib.runs.aggregate import Aggregate
from mmlib.papers.m3 import paper, results
from mmlib.papers.m3.protocol import CEILING, DIRECT_CNN, MULTIMODAL, method_name

#: The paper's own bar for "classify well" (Sec. 3.2): every tumour modality's AUC "exceeds 0.95", every HT map's "0.75".
PAPER_AUC_FLOOR = {"tumour": 0.95, "ht": 0.75}
#: Significance level of the paper's tests ("p-values < 0.05", "p-values > 0.05").
ALPHA = 0.05


def _finite(values: Mapping[str, float], what: str, at_least: int = 1) -> dict[str, float]:
    out = {str(k): float(v) for k, v in values.items()}
    if len(out) < at_least or not all(np.isfinite(list(out.values()))):
        raise ParameterError(f"{what}: need {at_least}+ finite values, got {out}")
    return out


def pooled_scores(y_true: Sequence[int], scores: Mapping[str, Sequence[float]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels and each method's scores as arrays of one length (the pooled out-of-fold predictions)."""
    y = np.asarray(y_true, dtype=int)
    out = {k: np.asarray(v, dtype=float) for k, v in scores.items()}
    if any(v.shape != y.shape for v in out.values()):
        raise ParameterError(f"scores of shapes {[v.shape for v in out.values()]} for {y.shape} labels")
    return y, out


def classifies_well(auc: float, *, floor: float = 0.5, y_true=None, y_score=None, ceiling: float | None = None,
                    name: str = "M3, multimodal", seed: int = 0) -> Verdict:
    """Claim 1: the model's AUC clears ``floor``.

    With the pooled out-of-fold scores (``y_true``, ``y_score``) the test is on
    the lower end of the stratified bootstrap 95% CI (the model is better than
    ``floor`` with confidence), else on the AUC itself (the paper's numbers,
    with ``floor`` the paper's own bar, :data:`PAPER_AUC_FLOOR`). ``ceiling``
    (phantoms) adds the share of the achievable signal recovered,
    ``(AUC - 0.5) / (ceiling - 0.5)``.
    """
    if not np.isfinite(auc):
        raise ParameterError(f"claim 1: AUC must be finite, got {auc}")
    estimate = None
    if y_true is not None and y_score is not None:
        estimate = bootstrap_auc(y_true, y_score, seed=seed)
        holds, decided = estimate.low > floor, f"95% CI [{estimate.low:.3f}, {estimate.high:.3f}] vs {floor:.2f}"
    else:
        holds, decided = auc >= floor, f"vs the bar {floor:.2f}"
    share = ""
    if ceiling is not None:
        share = f"; ceiling {ceiling:.3f}, share of the signal recovered {(auc - 0.5) / max(ceiling - 0.5, 1e-9):.0%}"
    return Verdict(1, bool(holds), f"{name}: AUC {auc:.3f} {decided}{share}", estimate)


def fusion_beats_single(metric: Mapping[str, float], fused: str = "multimodal", *, y_true=None,
                        scores: Mapping[str, Sequence[float]] | None = None, metric_name: str = "AUC") -> Verdict:
    """Claim 2: the fused row's value is above every single modality's.

    With pooled out-of-fold ``scores`` (by row name), the estimate is DeLong's
    test of ``AUC(fused) - AUC(best single)`` on the same patients.
    """
    values = _finite(metric, "claim 2", 2)
    if fused not in values:
        raise ParameterError(f"claim 2: no fused row {fused!r} among {sorted(values)}")
    single = {k: v for k, v in values.items() if k != fused}
    best = max(single, key=single.get)
    estimate = None
    if scores is not None:
        y, s = pooled_scores(y_true, scores)
        estimate = delong_test(y, s[best], s[fused])
    listed = ", ".join(f"{k} {v:.3f}" for k, v in sorted(single.items(), key=lambda kv: -kv[1]))
    return Verdict(2, bool(values[fused] > single[best]),
                   f"{metric_name}: fused {values[fused]:.3f} vs best single {best} {single[best]:.3f} ({listed})",
                   estimate)


#: Claim 3's four comparisons: (better, worse), by variant name.
ABLATION_PAIRS = (("mask", "deep"), ("multiscale", "deep"), ("m3", "mask"), ("m3", "multiscale"))
VARIANT_LABELS = {"m3": "M3", "deep": "Deep learning", "mask": "Mask attention", "multiscale": "Multiscale"}


def ablations_order(metric_by_variant: Mapping[str, Mapping[str, float]], *,
                    per_fold: Mapping[str, pd.DataFrame] | None = None, n_train: int | None = None,
                    n_test: int | None = None, metric_name: str = "AUC") -> list[Verdict]:
    """Claim 3: mask > deep, multiscale > deep, M3 > mask, M3 > multiscale, each on the mean over rows.

    ``metric_by_variant`` maps a variant (``"m3"``, ``"deep"``, ``"mask"``,
    ``"multiscale"``) to its value per row (modalities and multimodal); the claim
    compares the means over the rows both variants have (the paper's own
    Tables 5-6 only agree with the claim on that reading: single rows go both
    ways, e.g. FLAIR's F1 in Table 5). With ``per_fold`` (variant -> folds x rows
    frame of the metric) the estimate is Nadeau and Bengio's corrected resampled
    t-test of the per-fold difference of the row means (``n_train`` / ``n_test``:
    patients per side). One verdict per comparison.
    """
    verdicts = []
    for better, worse in ABLATION_PAIRS:
        if better not in metric_by_variant or worse not in metric_by_variant:
            raise ParameterError(f"claim 3: need variants {better!r} and {worse!r}, have {sorted(metric_by_variant)}")
        rows = sorted(set(metric_by_variant[better]) & set(metric_by_variant[worse]))
        if not rows:
            raise ParameterError(f"claim 3: {better!r} and {worse!r} share no row")
        a = np.mean([metric_by_variant[better][r] for r in rows])
        b = np.mean([metric_by_variant[worse][r] for r in rows])
        estimate = None
        if per_fold is not None:
            diff = per_fold[better][rows].mean(axis=1) - per_fold[worse][rows].mean(axis=1)
            estimate = corrected_resampled_ttest(diff.to_numpy(), n_train, n_test)
        verdicts.append(Verdict(3, bool(a > b), f"{VARIANT_LABELS[better]} {a:.3f} vs {VARIANT_LABELS[worse]} {b:.3f} "
                                                f"(mean {metric_name} over {len(rows)} rows)", estimate))
    return verdicts


def heads_equivalent(metric: Mapping[str, float], ours: str, others: Sequence[str], *, y_true=None,
                     scores: Mapping[str, Sequence[float]] | None = None, spread: Mapping[str, float] | None = None,
                     metric_name: str = "AUC") -> Verdict:
    """Claim 4, first half: the other heads (RF, GBM, MLP) do not differ significantly from ``ours`` (SVM).

    With pooled out-of-fold ``scores``: holds when DeLong's test of every
    head against ``ours`` gives p > 0.05 (the estimate shown is the head with the
    smallest p). Without them (the paper's table, which reports no p-values here):
    holds when every difference is within the fold std of either row (``spread``).
    """
    values = _finite(metric, "claim 4", 2)
    missing = [k for k in (ours, *others) if k not in values]
    if missing:
        raise ParameterError(f"claim 4: no row(s) {missing} among {sorted(values)}")
    if scores is not None:
        y, s = pooled_scores(y_true, scores)
        tests = {o: delong_test(y, s[ours], s[o]) for o in others}
        worst = min(tests, key=lambda o: tests[o].p_value)
        listed = ", ".join(f"{o} {values[o]:.3f} (p = {t.p_value:.2g})" for o, t in tests.items())
        return Verdict(4, all(t.p_value > ALPHA for t in tests.values()),
                       f"{metric_name}: {ours} {values[ours]:.3f}; {listed}; DeLong, smallest p: {worst}",
                       tests[worst])
    if spread is None:
        raise ParameterError("claim 4: give scores (for DeLong's test) or the rows' fold std (spread)")
    within = {o: abs(values[o] - values[ours]) <= max(spread[o], spread[ours]) for o in others}
    listed = ", ".join(f"{o} {values[o]:+.3f}" for o in others)
    return Verdict(4, all(within.values()), f"{metric_name}: {ours} {values[ours]:.3f}; differences within the fold "
                                            f"std: {all(within.values())} ({listed} vs {ours})")


def direct_cnn_worse(metric: Mapping[str, float], ours: str, direct: str, *, y_true=None,
                     scores: Mapping[str, Sequence[float]] | None = None, metric_name: str = "AUC") -> Verdict:
    """Claim 4, second half: the Direct CNN is below ``ours`` (and below every other head listed in ``metric``).

    With pooled ``scores`` the estimate is DeLong's test of ``AUC(direct) - AUC(ours)``.
    """
    values = _finite(metric, "claim 4", 2)
    if direct not in values or ours not in values:
        raise ParameterError(f"claim 4: need rows {ours!r} and {direct!r}, have {sorted(values)}")
    others = {k: v for k, v in values.items() if k != direct}
    estimate = None
    if scores is not None:
        y, s = pooled_scores(y_true, scores)
        estimate = delong_test(y, s[ours], s[direct])
    best_other = min(others, key=others.get)
    return Verdict(4, bool(all(values[direct] < v for v in others.values())),
                   f"{metric_name}: {direct} {values[direct]:.3f} vs {ours} {values[ours]:.3f} "
                   f"(lowest other: {best_other} {others[best_other]:.3f})", estimate)


def _column(table: PaperTable, metric: str) -> dict[str, float]:
    frame = table.frame()[(metric, "mean")]
    return {k: float(v) for k, v in frame.items() if np.isfinite(v)}


def paper_verdicts() -> dict[str, list[Verdict]]:
    """The four claims on the paper's own numbers (F1 where the paper gives no AUC), by task."""
    out = {}
    for task, t34, ablation, rows in (("tumour", paper.TABLE_3, paper.TABLE_5, paper.TUMOUR_ROWS),
                                      ("ht", paper.TABLE_4, paper.TABLE_6, paper.HT_ROWS)):
        auc = _column(t34, "auc")
        verdicts = [classifies_well(auc["Multimodal"], floor=PAPER_AUC_FLOOR[task], name="M3, multimodal (Sec. 3.2)"),
                    classifies_well(min(v for k, v in auc.items() if k != "Multimodal"), floor=PAPER_AUC_FLOOR[task],
                                    name="M3, lowest quoted single modality (Sec. 3.2)"),
                    fusion_beats_single(_column(t34, "f1"), "Multimodal", metric_name="F1 (Tables 3-4)"),
                    fusion_beats_single(auc, "Multimodal", metric_name="AUC quoted in Sec. 3.2")]
        variants = {"m3": _column(t34, "f1"), **{v: _column(ablation[v], "f1") for v in paper.ABLATIONS}}
        verdicts += ablations_order(variants, metric_name="F1 (Tables 5-6 vs 3-4)")
        out[f"paper, {'glioma vs metastasis' if task == 'tumour' else 'HT'}"] = verdicts
    t7 = paper.TABLE_7.frame()
    f1, std = t7[("f1", "mean")].to_dict(), t7[("f1", "std")].to_dict()
    out["paper, HT"] += [heads_equivalent(f1, "Ours", ["Ours-RF", "Ours-GBM", "Ours-MLP"], spread=std,
                                          metric_name="F1 (Table 7)"),
                         direct_cnn_worse(f1, "Ours", "Direct CNN", metric_name="F1 (Table 7)")]
    return out


def phantom_verdicts(run: Aggregate, task: str) -> list[Verdict]:
    """The four claims on one committed phantom run of the fold chapter (``task``: ``"tumour"`` or ``"ht"``).

    Claim 1 on M3's multimodal pooled scores (bootstrap CI above 0.5, with the
    share of the ceiling); claim 2 on the per-modality rows' mean AUCs with
    DeLong's test on the pooled scores; claim 3 on the mean AUC over rows with
    the corrected t-test over folds; claim 4 (HT run) on Table 7's rows.
    """
    rows = results.ROWS[task]
    m3 = {m: method_name("m3", "svm", m) for m in rows}
    y, scores, _ = results.pooled(run, list(m3.values()) + ([CEILING] if CEILING in run.methods else []))
    auc = {m: results.mean_metric(run.methods[name]) for m, name in m3.items()}
    ceiling = results.mean_metric(run.methods[CEILING]) if CEILING in run.methods else None
    verdicts = [classifies_well(auc[MULTIMODAL], y_true=y, y_score=scores[m3[MULTIMODAL]], ceiling=ceiling),
                fusion_beats_single(auc, MULTIMODAL, y_true=y, scores={m: scores[n] for m, n in m3.items()})]
    n_train, n_test = results.side_sizes(run)
    per_fold = results.ablation_per_fold(run, task)
    means = {v: frame.mean().to_dict() for v, frame in per_fold.items()}
    verdicts += ablations_order(means, per_fold=per_fold, n_train=n_train, n_test=n_test)
    heads = {h: method_name("m3", h, MULTIMODAL) for h in ("svm", "rf", "gbm", "mlp")}
    if all(m in run.methods for m in heads.values()):
        y7, s7, _ = results.pooled(run, list(heads.values()) + ([DIRECT_CNN] if DIRECT_CNN in run.methods else []))
        values = {h: results.mean_metric(run.methods[m]) for h, m in heads.items()}
        verdicts.append(heads_equivalent(values, "svm", ["rf", "gbm", "mlp"], y_true=y7,
                                         scores={h: s7[m] for h, m in heads.items()}))
        if DIRECT_CNN in run.methods:
            values["direct-cnn"] = results.mean_metric(run.methods[DIRECT_CNN])
            verdicts.append(direct_cnn_worse(values, "svm", "direct-cnn", y_true=y7,
                                             scores={**{h: s7[m] for h, m in heads.items()}, "direct-cnn": s7[DIRECT_CNN]}))
    return verdicts


def radiomics_verdicts(run: Aggregate) -> list[Verdict]:
    """Claims 2 and 4 (its first half) on a real radiomics run: multimodal vs each modality; RF, GBM, MLP vs SVM."""
    groups = sorted({m.split("/")[2] for m in run.methods if m.startswith("radiomics/svm/")})
    svm = {g: f"radiomics/svm/{g}" for g in groups}
    heads = {h: f"radiomics/{h}/multimodal" for h in ("svm", "rf", "gbm", "mlp")}
    y, scores, _ = results.pooled(run, sorted(set(svm.values()) | set(heads.values())))
    auc = {g: results.mean_metric(run.methods[m]) for g, m in svm.items()}
    return [fusion_beats_single(auc, "multimodal", y_true=y, scores={g: scores[m] for g, m in svm.items()}),
            heads_equivalent({h: results.mean_metric(run.methods[m]) for h, m in heads.items()}, "svm",
                             ["rf", "gbm", "mlp"], y_true=y, scores={h: scores[m] for h, m in heads.items()})]


#: How each committed run is named in the verdict tables.
SOURCES = {"tumour": "this book, glioma-vs-metastasis phantoms", "ht": "this book, HT phantoms",
           "gvm": "this book, real GBM-vs-metastasis radiomics (125 patients)",
           "brats": "this book, real BraTS 2017 LGG-vs-HGG radiomics (242 patients)"}


def verdicts_by_source(results_dir=None, claim: int | None = None) -> dict[str, list[Verdict]]:
    """Every source of numbers and its verdicts: the paper's two tasks, this book's phantom and real runs.

    ``claim`` keeps one claim's verdicts only; runs that are not committed are left out.
    """
    sources = dict(paper_verdicts())
    for key in ("tumour", "ht"):
        r = results.run(results_dir, key)
        if r is not None:
            sources[SOURCES[key]] = phantom_verdicts(r, key)
    for key in ("gvm", "brats"):
        r = results.run(results_dir, key)
        if r is not None:
            sources[SOURCES[key]] = radiomics_verdicts(r)
    return {s: [v for v in vs if claim is None or v.claim == claim] for s, vs in sources.items()}
