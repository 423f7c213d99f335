"""Tables 1-2 from the committed DILRAN runs (mmlib.papers.dilran.results), checked against the numbers
snapshotted when the runs were converted (tests/fixtures/committed-numbers.json, "dilran"); the paper's
tables as typed in mmlib.papers.dilran.paper."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran import results
from mmlib.papers.dilran.model import DILRAN
from mmlib.papers.dilran.paper import (
    AUTHORS_COLUMNS, CONVENTIONS, COLUMNS, METRIC_VARIANTS, RULE_ROWS, STANDARD_COLUMNS, TABLE_1, TABLE_2,
)
from mmlib.runs.aggregate import MethodResult

#: mean and std per run, method and metric, rounded to 6 decimals (tests/fixtures/committed-numbers.json).
EXPECTED = json.loads((REPO_ROOT / "tests" / "fixtures" / "committed-numbers.json").read_text())["dilran"]
PAPER_TEXT = REPO_ROOT.parent / "shared" / "papers" / TABLE_1.paper_file
#: The Table 2 rows of this book and where each comes from: (run, method).
TABLE_2_SOURCES = {"Zero-shot [14]": ("untrained-{}", "zero-learning"), "MSPRAN [9]": ("msrpan-{}", "fer"),
                   "Ours": ("{}", "sfnn-max"), "pixel average": ("untrained-{}", "average"),
                   "Laplacian pyramid (4 levels)": ("untrained-{}", "laplacian")}


@pytest.fixture(scope="module")
def runs():
    return results.read_runs()


def cell(run: str, method: str, metric: str) -> str:
    """This book's cell of a comparison table, from the snapshot."""
    mean, std = EXPECTED[run][method][metric]
    return f"{mean:.3f} ± {std:.3f}"


# --- the committed runs ----------------------------------------------------------------------------------


def test_every_committed_run_reads_back_with_its_snapshot_numbers(runs):
    assert sorted(runs) == sorted(EXPECTED)
    for name, methods in EXPECTED.items():
        assert sorted(runs[name].methods) == sorted(methods), name
        for method, metrics in methods.items():
            summary = runs[name].methods[method].case_summary()
            assert (summary["n"] == metrics["n_pairs"]).all(), (name, method)
            for metric, (mean, std) in ((k, v) for k, v in metrics.items() if k != "n_pairs"):
                assert round(summary.loc[metric, "mean"], 6) == mean, (name, method, metric)
                assert round(summary.loc[metric, "std"], 6) == std, (name, method, metric)


@pytest.mark.parametrize("conventions", sorted(CONVENTIONS))
@pytest.mark.parametrize("split", ["paper", "series"])
def test_table_1_shows_every_rule_of_the_dilran_run(runs, split, conventions):
    table = results.table_1(runs, split, conventions)
    assert list(table.index) == list(TABLE_1.rows) + [RULE_ROWS[r] for r in ("sfnn-max-sq", "add", "avg")]
    for rule, row in RULE_ROWS.items():
        for label, metric in CONVENTIONS[conventions].items():
            assert table.loc[row, (label, "this book")] == cell(split, rule, metric), (row, label)
    mean = EXPECTED[split]["sfnn-max"][CONVENTIONS[conventions]["PSNR"]][0]
    assert table.loc["SFNN (max)", ("PSNR", "paper")] == "16.413"
    assert table.loc["SFNN (max)", ("PSNR", "difference")] == f"{mean - 16.413:+.3f}"


@pytest.mark.parametrize("split", ["paper", "series"])
def test_table_2_rows_come_from_their_runs(runs, split):
    table = results.table_2(runs, split, "authors")
    assert list(table.index) == list(TABLE_2.rows) + ["pixel average", "Laplacian pyramid (4 levels)"]
    for row, (run, method) in TABLE_2_SOURCES.items():
        for label, metric in AUTHORS_COLUMNS.items():
            committed = run.format(split) in EXPECTED
            expected = cell(run.format(split), method, metric) if committed else "—"
            assert table.loc[row, (label, "this book")] == expected, (row, label)
    assert table.loc["MSDRA [10]", ("PSNR", "this book")] == "—"  # not trained here


def test_show_beside_paper_captions_the_table_it_shows(runs, monkeypatch):
    shown = []
    monkeypatch.setattr(results, "show_comparison", lambda table, caption: shown.append((table, caption)))
    results.show_beside_paper(2, runs, "series", "standard")
    (table, caption), = shown
    assert table.equals(results.table_2(runs, "series", "standard"))
    assert caption.startswith("Table 2 of ") and "series split, standard metric conventions" in caption
    results.show_beside_paper(1, {}, "paper")  # nothing committed: nothing shown
    assert len(shown) == 1
    with pytest.raises(ParameterError, match="1 and 2"):
        results.show_beside_paper(3, runs, "paper")


def test_ours_table_and_best_rows_follow_the_snapshot(runs):
    ours = results.ours_table(runs)
    for split in ("paper", "series"):
        book = [EXPECTED[split]["sfnn-max"][AUTHORS_COLUMNS[c]][0] for c in COLUMNS]
        np.testing.assert_allclose(ours.loc[f"this book, {split} split"], book, atol=5e-7)
        np.testing.assert_allclose(ours.loc[f"difference, {split} split"],
                                   np.array(book) - TABLE_2.frame().loc["Ours"].xs("mean", level=1), atol=5e-7)
    means = pd.DataFrame({row: {c: EXPECTED[run.format("paper")][method][AUTHORS_COLUMNS[c]][0] for c in COLUMNS}
                          for row, (run, method) in TABLE_2_SOURCES.items()}).T
    verdict = results.best_rows(runs, "paper")
    assert verdict["this book: best row"].to_dict() == means.idxmax().to_dict()
    assert verdict.loc["PSNR", "paper: best row"] == "Ours" and verdict.loc["MI", "paper: best row"] == "MSPRAN [9]"
    ranks = means.rank(ascending=False).loc["Ours"].astype(int)
    assert verdict["this book: rank of Ours"].to_dict() == {c: f"{ranks[c]} of 5" for c in COLUMNS}


def test_metric_variants_and_ranges(runs):
    variants = results.metric_variants(runs["paper"])
    assert list(variants.index) == list(METRIC_VARIANTS)
    committed = {k: v for k, v in EXPECTED["paper"]["sfnn-max"].items() if k != "n_pairs"}
    for metric, (mean, std) in committed.items():
        assert (round(variants.loc[metric, "mean"], 6), round(variants.loc[metric, "std"], 6)) == (mean, std)
        assert variants.loc[metric, "recorded"]
    for metric in METRIC_VARIANTS:
        assert variants.loc[metric, "convention"] == METRIC_VARIANTS[metric]
    # The committed runs were scored with every variant, those added in issue 12 included.
    assert set(committed) == set(METRIC_VARIANTS) and variants["recorded"].all()
    # A run that predates a variant shows it as not recorded, with no number made up.
    older = copy.deepcopy(runs["paper"])
    own = older.methods["sfnn-max"]
    own.per_case = own.per_case.drop(columns=["en_saved_jpeg"])
    gap = results.metric_variants(older)
    assert not gap.loc["en_saved_jpeg", "recorded"] and np.isnan(gap.loc["en_saved_jpeg", "mean"])
    ranges = results.method_ranges(runs, "paper")
    scored = [EXPECTED[run][m] for run in ("paper", "msrpan-paper", "untrained-paper") for m in EXPECTED[run]]
    for metric in results.AMBIGUOUS_METRICS:
        assert round(ranges.loc["lowest method mean", metric], 6) == min(s[metric][0] for s in scored)
        assert round(ranges.loc["highest method mean", metric], 6) == max(s[metric][0] for s in scored)


def test_mi_column_puts_the_readings_beside_the_paper(runs):
    table = results.mi_column(runs, "paper")
    assert list(table.index) == list(results.table_2_methods(runs, "paper"))
    assert list(table.columns) == ["paper: MI (Table 2)"] + list(results.MI_READINGS.values())
    paper_mi = TABLE_2.frame().xs("mean", axis=1, level=1)["MI"]
    for row, (run, method) in TABLE_2_SOURCES.items():
        expected = EXPECTED[run.format("paper")][method]
        assert table.loc[row, results.MI_READINGS["en_256"]] == pytest.approx(expected["en_256"][0], abs=5e-7)
        assert table.loc[row, results.MI_READINGS["mi_mean"]] == pytest.approx(expected["mi_mean"][0], abs=5e-7)
        assert table.loc[row, results.MI_READINGS["mi_qu"]] == pytest.approx(expected["mi_qu"][0], abs=5e-7)
        if row in paper_mi.index:
            assert table.loc[row, "paper: MI (Table 2)"] == paper_mi[row]
        else:
            assert np.isnan(table.loc[row, "paper: MI (Table 2)"])
        assert table.loc[row, results.MI_READINGS["en_saved_jpeg"]] == pytest.approx(expected["en_saved_jpeg"][0],
                                                                                     abs=5e-7)
    assert table.loc["Ours", "paper: MI (Table 2)"] == 4.558
    assert results.mi_column({}, "paper") is None


def test_provenance_table_and_row_notes(runs):
    table = results.provenance_table(runs)
    assert list(table.index) == sorted(EXPECTED)
    assert table.loc["paper", "model"] == "dilran" and table.loc["paper", "training input"] == "whole images"
    assert table.loc["paper-no-perceptual", "epochs"] == runs["paper-no-perceptual"].params["max_epochs"]
    assert table.loc["untrained-paper", "model"] == "no training" and table.loc["untrained-paper", "epochs"] == "—"
    assert table.loc["paper", "wall time"] == f"{runs['paper'].provenance['wall_time_s'] / 60:.1f} min"
    assert table.loc["paper", "data"] == "368 files, SHA-256 recorded"
    notes = results.row_notes(runs)
    assert notes["committed (paper split)"].to_dict() == {
        "Zero-shot [14]": "yes", "MSDRA [10]": "no", "MSPRAN [9]": "yes", "Ours": "yes", "pixel average": "yes",
        "Laplacian pyramid (4 levels)": "yes"}
    assert "random-init(seed=0)" in notes.loc["Zero-shot [14]", "what it is"]


def test_load_model_takes_the_committed_checkpoint(runs):
    model = results.load_model(runs["paper"], DILRAN(variant="code"))
    saved = torch.load(runs["paper"].artifact("best.pt"), map_location="cpu", weights_only=False)["model"]
    assert not model.training
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[name])


# --- missing runs and bad input ----------------------------------------------------------------------------


def test_missing_runs_are_named_with_the_command_that_makes_them(runs, tmp_path, capsys):
    only_untrained = {"untrained-paper": runs["untrained-paper"]}
    assert results.table_1(only_untrained, "paper") is None
    assert "results/dilran/paper/ is not committed: run `bash scripts/reference-dilran.sh paper`" in capsys.readouterr().out
    table = results.table_2(only_untrained, "paper")
    assert table.loc["Ours", ("PSNR", "this book")] == "—"
    assert table.loc["Zero-shot [14]", ("PSNR", "this book")] == cell("untrained-paper", "zero-learning", "psnr")
    assert results.table_2({}, "series") is None
    printed = capsys.readouterr().out
    assert "--split series --out results/dilran/untrained-series" in printed
    results.not_committed("msrpan-series")
    assert "run `MODEL=msrpan bash scripts/reference-dilran.sh series`" in capsys.readouterr().out
    assert results.method_ranges({}, "paper") is None
    with pytest.raises(DataError, match="nothing to rank"):
        results.best_rows(only_untrained, "paper")
    assert results.read_runs(tmp_path) == {}
    with pytest.raises(DataError, match="no such results folder"):
        results.read_runs(tmp_path / "absent")


def test_bad_conventions_and_missing_metrics():
    with pytest.raises(ParameterError, match="conventions"):
        results.columns_of("mine")
    per_case = pd.DataFrame({"psnr": [10.0, 12.0]}, index=pd.MultiIndex.from_tuples([(0, "a"), (0, "b")]))
    method = MethodResult(pd.DataFrame(), pd.DataFrame(), [], per_case)
    assert results.measured({"m": method}, {"PSNR": "psnr"}).loc["m", ("PSNR", "mean")] == 11.0
    with pytest.raises(DataError, match="lack metric"):
        results.measured({"m": method}, STANDARD_COLUMNS)


# --- the paper's tables ---------------------------------------------------------------------------------


def test_tables_are_quoted_from_the_paper_file():
    if not PAPER_TEXT.exists():
        pytest.skip(f"{PAPER_TEXT} is absent")
    lines = PAPER_TEXT.read_text().splitlines()
    printed = {"SFNN (mean)": "SFNN (<i>mean</i>)", "SFNN (max)": "SFNN (<i>max</i>)", "SFNN (sum)": "SFNN (<i>sum</i>)"}
    for table in (TABLE_1, TABLE_2):
        assert any(line.startswith(f"{table.table}: {table.caption}") for line in lines)
        for row, values in table.rows.items():
            quoted = "\t".join([printed.get(row, row)] + [f"{values[c]:.3f}" for c in COLUMNS])
            assert quoted in lines, quoted
