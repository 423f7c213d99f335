"""The guidance paper's four claims as tests on mean AUCs (Xu et al., Sec. IV-D to IV-F).

1. Uni-modal models differ widely, and T1ce is best (Tables III/IV).
2. Naive ensembles and pixel, feature and decision fusion are worse than the
   best single modality (Tables III/IV, VIII).
3. Dual attention helps (Tables V/VI).
4. Guidance from the primary modality with secondary modalities added
   cumulatively is best, and more modalities help (Table VII).

Each claim function takes mean AUCs by row name (a paper table or a measured
run, the same function for both) and returns a :class:`Verdict`. Applied to the
paper's own tables every claim holds, which :mod:`tests.test_guidance_claims`
checks: the tests encode the claims as the paper states them, not as this book
would like them. :func:`paper_verdicts`, :func:`phantom_verdicts` and
:func:`radiomics_verdicts` gather the verdicts of each source of numbers for
the results chapters. Hand-written: no library states these claims.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mmlib.errors import ParameterError
from mmlib.eval.claims import Verdict
from mmlib.eval.tables import PaperTable
from mmlib.papers.guidance import paper
from mmlib.papers.guidance.results import (MODALITY_ROWS, compare_pooled, n_secondary, optional_run,
                                           pooled_auc, radiomics_rows, table_vii_methods, table_vii_runs)
from mmlib.runs.paired import check_paired_runs

#: Table VIII's fusion rows, by the recorded method name.
FUSIONS = {"pixel": "Pixel fusion", "feature": "Feature fusion", "decision": "Decision fusion"}
#: Table VII's row with every secondary modality.
FULL = "T1ce + Flair + T1 + T2"


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


def ours_best(auc: Mapping[str, float], ours: str = "Ours") -> Verdict:
    """Claim 4 as Table VIII states it: the guidance model (row ``ours``) has the highest AUC of all rows."""
    values = _checked(auc, "claim 4, Table VIII", 2)
    if ours not in values:
        raise ParameterError(f"claim 4: no row named {ours!r} among {sorted(values)}")
    others = {k: v for k, v in values.items() if k != ours}
    best_other = max(others, key=others.get)
    return Verdict(4, bool(values[ours] > others[best_other]),
                   f"{ours} {values[ours]:.3f}; best other {best_other} {others[best_other]:.3f}")


def table_viii_verdicts(rows: Mapping[str, object], radiomics: Mapping[str, object]) -> dict[str, list[Verdict]]:
    """Table VIII's statements on this book's runs: fusion baselines (AGG included) below the T1ce RMC and the
    guidance model on top (phantom ``rows``), and no fusion above the best feature group (``radiomics`` rows).

    Every AUC is the pooled out-of-fold AUC, and each verdict carries DeLong's test
    of the difference that decides it, on the same cases: the best baseline
    against the T1ce RMC, the guidance model against the best other row, the
    best fusion against the best feature group.
    """
    sources: dict[str, list[Verdict]] = {"this book, glioma phantoms": [], "this book, real BraTS 2017 radiomics": []}
    aucs = {row: _pooled(result) for row, result in rows.items()}
    baselines = {r: aucs[r] for r in (*FUSIONS.values(), "AGG") if r in aucs}
    if "RMC (T1ce)" in aucs and baselines:
        best = max(baselines, key=baselines.get)
        sources["this book, glioma phantoms"].append(replace(
            fusion_below_best_single({"RMC (T1ce)": aucs["RMC (T1ce)"]}, baselines),
            estimate=compare_pooled(rows["RMC (T1ce)"], rows[best])))
    if "Ours" in aucs and len(aucs) > 1:
        others = {r: v for r, v in aucs.items() if r != "Ours"}
        sources["this book, glioma phantoms"].append(replace(
            ours_best(aucs), estimate=compare_pooled(rows[max(others, key=others.get)], rows["Ours"])))
    groups = {m: _pooled(r) for m, r in radiomics.items() if "_label" in m}
    fused = {m: _pooled(r) for m, r in radiomics.items() if m not in groups}
    if groups and fused:
        best_group, best_fused = max(groups, key=groups.get), max(fused, key=fused.get)
        sources["this book, real BraTS 2017 radiomics"].append(replace(
            fusion_below_best_single(groups, fused), estimate=compare_pooled(radiomics[best_group], radiomics[best_fused])))
    return sources


def cumulative_summary(auc_by_subset: Mapping[str, float]) -> dict:
    """Claim 4's numbers for one source: best subset, mean AUC per number k of secondaries, Spearman rho(k, AUC)."""
    values = pd.Series(auc_by_subset, dtype=float)
    k = pd.Series({label: n_secondary(label) for label in values.index})
    by_k = values.groupby(k).mean()
    rho = spearmanr(k, values).statistic if values.nunique() > 1 and k.nunique() > 1 else np.nan
    with_secondary = values.drop("T1ce", errors="ignore")
    return {"subsets": len(values), "best subset": values.idxmax(),
            "all four best": bool(values[FULL] >= values.max()) if FULL in values else "— (not run)",
            **{f"mean AUC, k={n}": round(float(v), 3) for n, v in by_k.items()},
            "monotone in k": bool(len(by_k) > 1 and (np.diff(by_k.to_numpy()) >= 0).all()),
            "Spearman rho (k, AUC)": round(float(rho), 3),
            "beat T1ce alone": f"{int((with_secondary > values.get('T1ce', np.nan)).sum())} of {len(with_secondary)}"}


def _auc(table: PaperTable) -> dict[str, float]:
    return table.frame()[("auc", "mean")].to_dict()


def paper_verdicts(t34: PaperTable, t56: PaperTable, t7: PaperTable, t8: PaperTable) -> list[Verdict]:
    """The four claims on the paper's own tables of one dataset (III or IV, V or VI, VII, VIII)."""
    single = {k: v for k, v in _auc(t34).items() if k != "Ensemble"}
    fused = {"Ensemble": _auc(t34)["Ensemble"], **{name: _auc(t8)[name] for name in FUSIONS.values()}}
    rmc_da = _auc(t56)
    return [unimodal_ranking(single, lambda m: m == "T1ce"), fusion_below_best_single(single, fused),
            attention_helps([rmc_da["DA_RMC"] - rmc_da["RMC"]]), guidance_cumulative(_auc(t7), n_secondary, FULL)]


def _pooled(result) -> float:
    return pooled_auc(result).value


def phantom_verdicts(results: str | os.PathLike) -> list[Verdict]:
    """The claims this book's committed phantom runs under ``results`` can answer (each needs its runs).

    Every AUC here is the pooled out-of-fold AUC (all folds' test cases
    together), and each verdict carries DeLong's test of the difference that
    decides it, on the same cases: claim 1, the best single modality against the
    runner-up; claim 2, the best fusion against the best single modality; claim
    3, DA_RMC against RMC on T1ce; claim 4, all four modalities against T1ce alone.
    """
    results = Path(results)
    verdicts, uni = [], optional_run(results / "tables-iii-iv")
    viii, vvi = optional_run(results / "table-viii"), optional_run(results / "tables-v-vi")
    if uni is not None:
        singles = {MODALITY_ROWS[m]: uni.methods[m] for m in ("t1ce", "flair", "t1", "t2")}
        single = {name: _pooled(r) for name, r in singles.items()}
        ranked = sorted(single, key=single.get, reverse=True)
        verdicts.append(replace(unimodal_ranking(single, lambda m: m == "T1ce"),
                                estimate=compare_pooled(singles[ranked[1]], singles[ranked[0]])))
        fusions = {"Ensemble": uni.methods["ensemble"]}
        if viii is not None:
            fusions |= {name: viii.methods[m] for m, name in FUSIONS.items() if m in viii.methods}
        fused = {name: _pooled(r) for name, r in fusions.items()}
        best_fused = max(fused, key=fused.get)
        verdicts.append(replace(fusion_below_best_single(single, fused),
                                estimate=compare_pooled(singles[ranked[0]], fusions[best_fused])))
        if vvi is not None:
            check_paired_runs(uni, vvi, differ_in=("model",))  # same folds, cases and settings apart from the model
            difference = _pooled(vvi.methods["t1ce"]) - _pooled(uni.methods["t1ce"])
            verdicts.append(replace(attention_helps([difference]),
                                    estimate=compare_pooled(uni.methods["t1ce"], vvi.methods["t1ce"])))
    methods = table_vii_methods(table_vii_runs(results / "table-vii"))
    if len(methods) == len(paper.TABLE_VII_2018.rows):
        verdicts.append(replace(guidance_cumulative({label: _pooled(r) for label, r in methods.items()}, n_secondary, FULL),
                                estimate=compare_pooled(methods["T1ce"], methods[FULL])))
    return verdicts


def radiomics_verdicts(results: str | os.PathLike) -> list[Verdict]:
    """Claims 1 and 2 on the real radiomics run (feature groups as the "modalities"), when committed."""
    run = optional_run(Path(results) / "radiomics")
    if run is None:
        return []
    rows = radiomics_rows(run)
    singles = {m: r for m, r in rows.items() if "_label" in m}
    fusions = {m: r for m, r in rows.items() if m in ("ensemble", "feature fusion", "decision fusion")}
    groups, fused = ({m: _pooled(r) for m, r in side.items()} for side in (singles, fusions))
    ranked = sorted(groups, key=groups.get, reverse=True)
    best_fused = max(fused, key=fused.get)
    return [replace(unimodal_ranking(groups, lambda m: m.startswith("t1ce")),
                    estimate=compare_pooled(singles[ranked[1]], singles[ranked[0]])),
            replace(fusion_below_best_single(groups, fused), estimate=compare_pooled(singles[ranked[0]], fusions[best_fused]))]


def verdicts_by_source(results: str | os.PathLike, claim: int | None = None) -> dict[str, list[Verdict]]:
    """Every source of numbers and its verdicts: the paper's two datasets, this book's phantoms and real radiomics.

    ``claim`` keeps one claim's verdicts only.
    """
    sources = {"paper, BraTS2018": paper_verdicts(paper.TABLE_III, paper.TABLE_V, paper.TABLE_VII_2018,
                                                  paper.TABLE_VIII_2018),
               "paper, BraTS2019": paper_verdicts(paper.TABLE_IV, paper.TABLE_VI, paper.TABLE_VII_2019,
                                                  paper.TABLE_VIII_2019),
               "this book, glioma phantoms": phantom_verdicts(results),
               "this book, real BraTS 2017 radiomics": radiomics_verdicts(results)}
    return {source: [v for v in verdicts if claim is None or v.claim == claim] for source, verdicts in sources.items()}
