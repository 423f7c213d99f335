"""The claim tests of mmlib.papers.guidance.claims, on the paper's own tables and on counter-examples."""

from __future__ import annotations

import pytest

from mmlib.errors import ParameterError
from mmlib.papers.guidance import paper
from mmlib.papers.guidance.claims import attention_helps, fusion_below_best_single, guidance_cumulative, unimodal_ranking


def auc(table):
    return table.frame()[("auc", "mean")].to_dict()


def n_secondary(label):
    return len(label.split(" + ")) - 1


@pytest.mark.parametrize("t34, t8", [(paper.TABLE_III, paper.TABLE_VIII_2018), (paper.TABLE_IV, paper.TABLE_VIII_2019)])
def test_every_claim_holds_on_the_papers_numbers(t34, t8):
    uni = {k: v for k, v in auc(t34).items() if k != "Ensemble"}
    assert unimodal_ranking(uni, lambda m: m == "T1ce").holds
    fused = {"Ensemble": auc(t34)["Ensemble"],
             **{k: v for k, v in auc(t8).items() if k in ("Pixel fusion", "Feature fusion", "Decision fusion")}}
    assert fusion_below_best_single(uni, fused).holds


@pytest.mark.parametrize("t56", [paper.TABLE_V, paper.TABLE_VI])
def test_claim3_on_the_papers_numbers(t56):
    a = auc(t56)
    verdict = attention_helps([a["DA_RMC"] - a["RMC"]])
    assert verdict.holds and verdict.claim == 3 and "+0.0" in verdict.evidence


@pytest.mark.parametrize("t7", [paper.TABLE_VII_2018, paper.TABLE_VII_2019])
def test_claim4_on_the_papers_numbers(t7):
    verdict = guidance_cumulative(auc(t7), n_secondary, "T1ce + Flair + T1 + T2")
    assert verdict.holds
    assert "rho(k, AUC) +0.844" in verdict.evidence or "rho(k, AUC) +0.932" in verdict.evidence


def test_counter_examples_fail():
    assert not unimodal_ranking({"T1ce": 0.6, "Flair": 0.7}, lambda m: m == "T1ce").holds
    verdict = fusion_below_best_single({"T1ce": 0.7, "T2": 0.6}, {"pixel": 0.65, "feature": 0.72})
    assert not verdict.holds and "at or above it: feature" in verdict.evidence
    assert not attention_helps([0.05, -0.1, -0.1]).holds
    assert "1 positive" in attention_helps([0.05, -0.1, -0.1]).evidence
    subsets = {"T1ce": 0.5, "T1ce + Flair": 0.7, "T1ce + T2": 0.6, "T1ce + Flair + T2": 0.65}
    assert not guidance_cumulative(subsets, n_secondary, "T1ce + Flair + T2").holds  # rho > 0 but not best
    subsets["T1ce + Flair + T2"] = 0.75
    assert guidance_cumulative(subsets, n_secondary, "T1ce + Flair + T2").holds


def test_bad_input():
    with pytest.raises(ParameterError, match="claim 1"):
        unimodal_ranking({"T1ce": 0.6}, lambda m: True)
    with pytest.raises(ParameterError, match="finite"):
        fusion_below_best_single({"T1ce": float("nan")}, {"x": 0.5})
    with pytest.raises(ParameterError, match="no subset named"):
        guidance_cumulative({"a": 0.5, "a + b": 0.6, "a + c": 0.7}, n_secondary, "a + b + c")
