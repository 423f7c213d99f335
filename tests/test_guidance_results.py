"""The glioma results chapters read their committed runs, unchanged (mmlib.papers.guidance.results and .claims).

tests/fixtures/committed-numbers.json holds every committed run's mean and std
per method and metric, taken before the code moved into mmlib.papers; the
readers the chapters call must give exactly these numbers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mmlib.papers.guidance import claims, paper, results
from mmlib.runs.aggregate import read_run

SNAPSHOT = json.loads((Path(__file__).parent / "fixtures" / "committed-numbers.json").read_text())["guidance"]


def summary_numbers(result) -> dict:
    return {m: [round(float(result.summary.loc[m, "mean"]), 6), round(float(result.summary.loc[m, "std"]), 6)]
            for m in result.summary.index}


def test_every_committed_guidance_run_reads_back_with_its_numbers():
    for folder, expected in SNAPSHOT.items():
        run = read_run(results.RESULTS / folder)
        assert summary_numbers(run) == expected["top"], folder
        assert {m: summary_numbers(r) for m, r in run.methods.items()} == expected["methods"], folder
        assert len(run.predictions) == expected["n_predictions"], folder
        assert run.provenance["command"].startswith("bash scripts/reference-guidance-"), folder


def test_each_results_chapter_finds_its_rows():
    uni = read_run(results.RESULTS / "tables-iii-iv")
    assert list(results.modality_rows(uni)) == ["T1ce", "Flair", "T1", "T2", "Ensemble"]
    table = results.beside_paper({"2018": paper.TABLE_III, "2019": paper.TABLE_IV}, results.modality_rows(uni), "book")
    assert table.loc["T1ce", ("auc", "2018")] == "0.917 ± 0.061"
    assert table.loc["T1ce", ("auc", "book")] == "0.704 ± 0.014"  # fold mean of the committed factor-design run
    vii = results.table_vii_runs(results.RESULTS / "table-vii")
    assert list(vii) == list(paper.TABLE_VII_2018.rows)  # all 8 subsets, in the paper's row order
    heads = results.table_vii_heads(vii[claims.FULL])
    assert list(heads.index) == ["t1ce", "t1ce+flair", "t1ce+flair+t2", "t1ce+flair+t2+t1"]
    runs, rows = results.table_viii_runs(results.RESULTS)  # every row, on the same test patients
    assert list(rows) == list(results.TABLE_VIII_SOURCES)
    assert list(results.radiomics_rows(read_run(results.RESULTS / "radiomics"))) == list(results.RADIOMICS_ORDER)
    assert set(results.provenance_table(runs).index) >= {"command", "git commit", "data", "parameters"}
    assert len(results.auc_spread(results.RESULTS)) == 15 + 15 + 3 + 7 + 6  # models and references per run


def test_committed_verdicts_are_the_ones_the_book_reports():
    sources = claims.verdicts_by_source(results.RESULTS)
    held = {(source, v.claim): v.holds for source, verdicts in sources.items() for v in verdicts}
    assert all(held[(s, c)] for s in ("paper, BraTS2018", "paper, BraTS2019") for c in (1, 2, 3, 4))
    assert held[("this book, glioma phantoms", 1)]
    assert not any(held[("this book, glioma phantoms", c)] for c in (2, 3, 4))
    assert held[("this book, real BraTS 2017 radiomics", 1)]
    assert not held[("this book, real BraTS 2017 radiomics", 2)]


def _make_perfect(run_dir: Path, method: str) -> None:
    """Give ``method`` a perfect score on every test case of every fold (its pooled AUC becomes 1)."""
    for path in run_dir.glob("fold-*/metrics.json"):
        record = json.loads(path.read_text())
        record["extra"]["methods"][method]["y_score"] = [float(y) for y in record["predictions"]["y_true"]]
        path.write_text(json.dumps(record))


def test_the_gathered_verdicts_fail_when_the_numbers_say_so(tmp_path):
    """A copy of the committed runs in which T1 is perfect, then the ensemble too: claims 1 and 2 fail."""
    shutil.copytree(results.RESULTS / "tables-iii-iv", tmp_path / "tables-iii-iv")
    _make_perfect(tmp_path / "tables-iii-iv", "t1")
    verdicts = {v.claim: v for v in claims.phantom_verdicts(tmp_path)}
    assert set(verdicts) == {1, 2}  # no other run under tmp_path: claims 3 and 4 are not answered
    assert not verdicts[1].holds and verdicts[1].evidence.startswith("best T1;")
    assert verdicts[1].estimate.value > 0.3 and verdicts[1].estimate.p_value < 0.05  # T1 beats the runner-up
    _make_perfect(tmp_path / "tables-iii-iv", "ensemble")
    assert not {v.claim: v for v in claims.phantom_verdicts(tmp_path)}[2].holds
    assert claims.radiomics_verdicts(tmp_path) == []


def test_table_viii_refuses_runs_that_tested_other_patients(tmp_path):
    for folder in ("tables-iii-iv", "table-vii/t1ce+flair+t2+t1"):
        shutil.copytree(results.RESULTS / folder, tmp_path / folder)
    path = tmp_path / "table-vii" / "t1ce+flair+t2+t1" / "fold-1" / "metrics.json"
    record = json.loads(path.read_text())
    record["predictions"]["case_id"][0] = "someone-else"
    path.write_text(json.dumps(record))
    with pytest.raises(Exception, match="test cases or labels differ"):
        results.table_viii_runs(tmp_path)




def _trained_runs(root: Path) -> dict[str, object]:
    """Every committed run whose fold records carry training curves (the CNN runs of Tables III-VIII)."""
    folders = ["tables-iii-iv", "tables-v-vi", "table-viii", *(f"table-vii/{p.name}" for p in (root / "table-vii").glob("t1ce*"))]
    return {f: read_run(root / f) for f in folders if (root / f / "provenance.json").is_file()}


def test_every_committed_cnn_fits_its_training_set():
    """Every network in Tables III-VIII separates its training cases (results.fit_table's two readings)."""
    runs = _trained_runs(results.RESULTS)
    assert {"tables-iii-iv", "tables-v-vi"} <= set(runs) and len(runs) >= 10
    for name, run in runs.items():
        fit = results.fit_table(run)
        assert len(fit) >= len(run.records), name  # a network per fold at least
        assert fit["fits"].all(), (name, fit[~fit["fits"]])
    vii = results.fit_table(runs["table-vii/t1ce+flair+t2+t1"])
    assert set(vii["chance loss"].round(3)) == {0.693, 2.773}  # stage 1: one term; the guidance model: four


def test_a_network_that_learns_nothing_does_not_fit(tmp_path):
    shutil.copytree(results.RESULTS / "tables-iii-iv", tmp_path / "tables-iii-iv")
    path = tmp_path / "tables-iii-iv" / "fold-0" / "metrics.json"
    record = json.loads(path.read_text())
    for network in ("t1", "t1ce"):
        for epoch in record["extra"]["fit"][network]["history"]:
            epoch["train_loss"] = 0.69  # stuck at chance
    path.write_text(json.dumps(record))
    run = read_run(tmp_path / "tables-iii-iv")
    fit = results.fit_table(run)
    assert list(fit.index[~fit["fits"]]) == [("t1", 0)]  # t1ce's kept network still reads training AUC 0.969
    strict = results.fit_table(run, min_train_auc=0.99)
    assert list(strict.index[~strict["fits"]]) == [("t1", 0), ("t1ce", 0)]
    assert fit.loc[("t1", 0), "epoch kept"] == 2  # the lowest validation loss, as the run kept it


def test_table_viii_trains_agg_for_the_length_chosen_on_the_development_draw():
    table = results.agg_development_table(results.RESULTS)
    assert list(table["epochs"]) == [15, 30, 45] and not table.loc["agg-e15", "fits"]
    run = read_run(results.RESULTS / "table-viii")
    assert run.params["agg_epochs"] == results.choose_agg_epochs(table)
    for fold, record in run.records.items():  # what each fold trained AGG with (the chapter's record)
        assert record["extra"]["budget"]["agg"] == {"max_epochs": run.params["agg_epochs"], "precision": "fp32"}, fold
        assert record["extra"]["budget"]["pixel"] == {"max_epochs": run.params["max_epochs"], "precision": "bf16"}
    development = read_run(results.RESULTS / "development-agg" / "agg-e45")
    assert development.params["seed"] != run.params["seed"]  # a different draw from the reference folds
    shared = {k: v for k, v in run.params.items() if k not in ("seed", "methods", "max_epochs", "agg_epochs")}
    assert all(development.params.get(k) == v for k, v in shared.items()), "development and reference settings differ"


def test_the_agg_rule_prefers_fitting_lengths_and_the_shorter_of_a_tie():
    table = pd.DataFrame({"epochs": [15, 30, 45], "fits": [False, True, True], "held-out AUC": [0.9, 0.8, 0.8]})
    assert results.choose_agg_epochs(table) == 30  # 15 scores best but does not fit
    assert results.choose_agg_epochs(table.assign(fits=False)) is None
