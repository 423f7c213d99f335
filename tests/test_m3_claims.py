"""M3's tables (mmlib.papers.m3.paper), claims (.claims) and run readers (.results).

Every claim holds on the paper's own numbers and fails on constructed numbers
where it should; the readers and claims run on a small synthetic run written in
the book's results format.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

from mmlib.config import REPO_ROOT
from mmlib.errors import ParameterError
from mmlib.papers.m3 import claims, paper, results
from mmlib.papers.m3.protocol import CEILING, DIRECT_CNN, method_name
from mmlib.runs.aggregate import read_run
from mmlib.runs.cli import parse_param
from mmlib.runs.provenance import write_run

PAPER_TEXT = REPO_ROOT.parent / "shared" / "papers" / paper.PAPER


def test_every_typed_number_is_in_the_paper_text():
    if not PAPER_TEXT.is_file():
        pytest.skip(f"{PAPER_TEXT} is absent")
    text = PAPER_TEXT.read_text()
    tables = [paper.TABLE_3, paper.TABLE_4, paper.TABLE_7, *paper.TABLE_5.values(), *paper.TABLE_6.values()]
    for table in tables:
        for row, values in table.rows.items():
            for metric, value in values.items():
                mean = value.split("±")[0]
                assert mean in text, f"{table.table} {row} {metric}: {mean} not in the paper"
    for auc in ("0.9815", "0.9543", "0.9871", "0.8069", "0.7542", "0.8403"):  # Sec. 3.2's quotes of Figure 4
        assert re.search(rf"\b{auc}\b", text)


def test_tables_have_the_papers_shape():
    assert list(paper.TABLE_3.rows) == ["T1ce", "T2", "FLAIR", "Multimodal"]
    assert list(paper.TABLE_4.rows) == ["ADC", "CBF", "CBV", "MTT", "TTP", "Multimodal"]
    assert set(paper.TABLE_5) == set(paper.TABLE_6) == {"deep", "mask", "multiscale"}
    assert paper.TABLE_5["mask"].frame().loc["T1ce", ("acc", "mean")] == 0.9254
    assert paper.TABLE_6["multiscale"].frame().loc["Multimodal", ("f1", "mean")] == 0.7405
    assert paper.TABLE_7.frame().loc["Direct CNN", ("f1", "std")] == 0.15


@pytest.mark.parametrize("full_scale", [paper.FULL_SCALE_FOLD, paper.FULL_SCALE_RADIOMICS], ids=lambda f: f.chapter)
def test_full_scale_settings_are_chapter_parameters_and_the_command_round_trips(full_scale):
    full_scale.check()
    words = shlex.split(full_scale.command())
    given = dict(parse_param(words[i + 1]) for i, w in enumerate(words) if w == "-p")
    assert given == {k: list(v) if isinstance(v, tuple) else v for k, v in full_scale.settings.items()}


def test_every_claim_holds_on_the_papers_own_tables():
    verdicts = claims.paper_verdicts()
    assert set(verdicts) == {"paper, glioma vs metastasis", "paper, HT"}
    assert {v.claim for vs in verdicts.values() for v in vs} == {1, 2, 3, 4}
    failed = [(s, v.claim, v.evidence) for s, vs in verdicts.items() for v in vs if not v.holds]
    assert not failed


def test_claims_fail_on_numbers_that_contradict_them():
    assert not claims.classifies_well(0.93, floor=0.95).holds
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 40)
    noise = rng.random(80)
    assert not claims.classifies_well(0.5, y_true=y, y_score=noise).holds  # chance: the CI covers 0.5
    assert claims.classifies_well(0.9, y_true=y, y_score=y + rng.random(80)).holds
    assert not claims.fusion_beats_single({"a": 0.9, "b": 0.8, "multimodal": 0.85}).holds
    order = claims.ablations_order({"m3": {"r": 0.8}, "deep": {"r": 0.9}, "mask": {"r": 0.85}, "multiscale": {"r": 0.7}})
    assert [v.holds for v in order] == [False, False, False, True]
    strong, weak = y + 0.3 * rng.random(80), rng.random(80)
    verdict = claims.heads_equivalent({"svm": 0.99, "rf": 0.5}, "svm", ["rf"], y_true=y, scores={"svm": strong, "rf": weak})
    assert not verdict.holds and verdict.estimate.p_value < 0.05
    assert not claims.direct_cnn_worse({"svm": 0.7, "rf": 0.72, "direct-cnn": 0.71}, "svm", "direct-cnn").holds
    with pytest.raises(ParameterError):
        claims.fusion_beats_single({"a": 0.9})
    with pytest.raises(ParameterError):
        claims.heads_equivalent({"svm": 0.9, "rf": 0.8}, "svm", ["rf"])  # neither scores nor spreads


def _fake_run(tmp_path, name="ht", task="ht", signal=None, seed=0):
    """A 5-fold run in the fold chapter's record format: every method's scores carry ``signal[method]``."""
    rng = np.random.default_rng(seed)
    rows = results.ROWS[task]
    methods = [method_name(v, "svm", m) for v in ("m3", "deep", "mask", "multiscale") for m in rows]
    methods += [method_name("m3", h, "multimodal") for h in ("rf", "gbm", "mlp")] + [DIRECT_CNN, CEILING]
    signal = signal or {}
    records = {}
    for fold in range(5):
        y = np.array([0, 1] * 8)
        cases = [f"c{fold}-{i}" for i in range(16)]
        entries = {}
        for m in methods:
            s = 1 / (1 + np.exp(-(signal.get(m, 1.0) * (2 * y - 1) + rng.normal(size=16))))
            entries[m] = {"metrics": {"auc": float(np.mean([a > b for a in s[y == 1] for b in s[y == 0]])),
                                      "f1": 0.5, "acc": 0.5}, "y_score": s.tolist()}
        curves = {m: {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_dice": [0.2, 0.7],
                      "val_dice": [0.1, 0.5], "seconds": [1.0, 1.0]} for m in rows if m != "multimodal"}
        records[fold] = {"metrics": entries[method_name("m3", "svm", "multimodal")]["metrics"],
                         "predictions": {"case_id": cases, "y_true": y.tolist(),
                                         "y_score": entries[method_name("m3", "svm", "multimodal")]["y_score"]},
                         "extra": {"methods": entries, "n_cases": {"train": 50, "validation": 14, "test": 16},
                                   "dice": {m: {"train": {c: 0.8 for c in cases}, "test": {c: 0.6 for c in cases}}
                                            for m in curves},
                                   "curves": curves, "best_epoch": {m: 2 for m in curves}, "epochs": 2,
                                   "direct_cnn_curves": {"train_loss": [1.0, 0.6], "val_loss": [1.0, 0.9],
                                                         "val_auc": [0.5, 0.6]}}}
    return read_run(write_run(tmp_path / name, chapter="m3/fold", tag=name, params={"seed": 0, "lr": 0.001},
                              records=records, command="test", wall_time_s=1.0, device="cpu", data={"x": 1}))


def test_the_readers_and_the_claims_on_a_run(tmp_path):
    strong = {method_name("m3", "svm", "multimodal"): 1.2, CEILING: 2.5, DIRECT_CNN: 0.1}
    run = _fake_run(tmp_path, signal=strong)
    rows = results.task_rows(run, "ht")
    assert list(rows) == [*paper.HT_ROWS.values(), results.CEILING_ROW]
    frame = results.beside_paper({"paper": paper.TABLE_4}, rows, "book")
    assert frame.loc["Multimodal", ("auc", "paper")] == "0.840"
    assert results.CEILING_ROW in frame.index
    table = results.auc_table(run, {"M3": method_name("m3", "svm", "multimodal"), "ceiling": CEILING})
    assert table.loc["ceiling", "pooled AUC"] > table.loc["M3", "pooled AUC"] > 0.75
    assert set(results.dice_summary(run).columns) == {"train Dice", "test Dice"}
    assert results.side_sizes(run) == (64, 16)
    assert set(results.ablation_auc(run, "ht").columns) == {"m3", "deep", "mask", "multiscale"}
    assert list(results.table_7_rows(run)) == [*paper.TABLE_7_ROWS.values(), results.CEILING_ROW]
    tests = results.paired_tests(run, [(method_name("m3", "svm", "multimodal"), DIRECT_CNN)])
    assert tests.iloc[0]["DeLong p"] < 0.05 and tests.iloc[0]["AUC difference (pooled)"] < 0
    verdicts = {v.claim: v for v in claims.phantom_verdicts(run, "ht")}
    assert verdicts[1].holds and verdicts[2].holds  # the multimodal row carries the strongest signal
    assert verdicts[1].estimate is not None and "share of the signal" in verdicts[1].evidence
    four = [v for v in claims.phantom_verdicts(run, "ht") if v.claim == 4]
    assert not four[0].holds  # RF, GBM, MLP (signal 1) differ significantly from the strong SVM
    assert four[1].holds  # the Direct CNN (signal 0.2) is below every head
    assert results.fold_curves(run, 0, key="direct_cnn_curves")["Direct CNN"]["val_auc"] == [0.5, 0.6]
