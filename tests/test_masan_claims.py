"""MASAN's claims (mmlib.papers.masan.claims): they hold on the paper's own numbers, fail on numbers built to fail."""

from __future__ import annotations

import pytest

from mmlib.errors import ParameterError
from mmlib.eval.statistics import Estimate
from mmlib.papers.masan import claims

PAPER_OURS = {"acc": 0.6755, "precision": 0.7361, "recall": 0.7982}
PAPER_HFCN = {"acc": 0.6423, "precision": 0.6835, "recall": 0.8255}


def test_every_claim_holds_on_the_paper():
    verdicts = claims.paper_verdicts()
    assert [v.claim for v in verdicts] == [1, 2, 3]
    assert all(v.holds for v in verdicts)
    assert "accuracy 0.675 vs 0.642" in verdicts[0].evidence


def test_claim_1_fails_when_any_of_its_three_directions_fails():
    assert claims.masan_beats_hfcn(PAPER_OURS, PAPER_HFCN).holds
    assert not claims.masan_beats_hfcn({**PAPER_OURS, "acc": 0.60}, PAPER_HFCN).holds
    assert not claims.masan_beats_hfcn({**PAPER_OURS, "precision": 0.60}, PAPER_HFCN).holds
    assert not claims.masan_beats_hfcn({**PAPER_OURS, "recall": 0.90}, PAPER_HFCN).holds  # must trail in recall
    with pytest.raises(ParameterError):
        claims.masan_beats_hfcn({"acc": 0.6}, PAPER_HFCN)


def test_claim_2_needs_all_three_metrics_and_reports_significance():
    up = {"acc": 0.8, "precision": 0.8, "recall": 0.8}
    down = {"acc": 0.7, "precision": 0.7, "recall": 0.7}
    significant = Estimate(0.1, 0.02, 0.18, p_value=0.01)
    verdict = claims.attention_beats_addition(up, down, {"acc": significant})
    assert verdict.holds and verdict.estimate is significant and "significant: 95% CI" in verdict.evidence
    assert not claims.attention_beats_addition({**up, "recall": 0.6}, down).holds
    unclear = claims.attention_beats_addition(up, down, {"acc": Estimate(0.1, -0.05, 0.25, p_value=0.2)})
    assert "not significant" in unclear.evidence


def test_claim_3_is_an_enrichment_above_one():
    assert claims.weights_favour_atrophy(1.8).holds
    assert not claims.weights_favour_atrophy(0.95).holds
    assert not claims.weights_favour_atrophy(1.0).holds
    with pytest.raises(ParameterError):
        claims.weights_favour_atrophy(float("nan"))


def test_implied_positive_share_recovers_the_share_of_a_confusion_matrix():
    pi, recall, precision = 0.35, 0.8, 0.74
    tp = pi * recall
    fp = tp * (1 - precision) / precision
    acc = tp + (1 - pi - fp)
    assert claims.implied_positive_share(acc, precision, recall) == pytest.approx(pi)
    consistency = claims.table_2_consistency()
    assert consistency["implied by Ours"] > 0.6 and consistency["AD / all (stated)"] == pytest.approx(0.35, abs=0.01)
    with pytest.raises(ParameterError):
        claims.implied_positive_share(0.5, 1.0, 1.0)


def test_sources_without_runs_give_no_verdicts(tmp_path):
    assert claims.phantom_verdicts(tmp_path) == [] and claims.real_verdicts(tmp_path) == {}
    by_source = claims.verdicts_by_source(tmp_path, claim=1)
    assert [v.claim for v in by_source["paper, ADNI3"]] == [1]
