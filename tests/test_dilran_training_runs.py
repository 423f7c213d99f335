"""The committed DILRAN training runs fit, say how they were trained, and the perceptual-term ablation reads
back from them (mmlib.papers.dilran.results; numbers from tests/fixtures/committed-numbers.json, "dilran")."""

from __future__ import annotations

import json

import pytest
import torch

from mmlib.config import REPO_ROOT
from mmlib.errors import DataError
from mmlib.papers.dilran import results
from mmlib.papers.dilran.paper import CONVENTIONS

EXPECTED = json.loads((REPO_ROOT / "tests" / "fixtures" / "committed-numbers.json").read_text())["dilran"]


@pytest.fixture(scope="module")
def runs():
    return results.read_runs()


def trained(runs):
    return {name: run for name, run in runs.items() if "max_epochs" in run.params}


def test_every_trained_run_fits_its_training_images(runs):
    summary = results.fit_summary(runs)
    assert sorted(summary.index) == sorted(trained(runs))
    for name, row in summary.iterrows():
        assert row["epochs"] == runs[name].params["max_epochs"]
        assert 1 <= row["chosen epoch"] <= row["epochs"]
        # Fitted: the reconstruction loss on the training images fell at least tenfold from the first epoch.
        assert row["training loss, chosen"] < row["training loss, first"] / 10, name
    curves = results.training_curves(runs)
    assert sorted(curves["run"].unique()) == sorted(trained(runs))
    assert {"train_loss", "val_loss", "epoch"} <= set(curves.columns)


def test_runs_trained_in_segments_record_each_segment_and_keep_their_last_checkpoint(runs):
    segmented = {name: run for name, run in trained(runs).items() if (run.run_dir / "training-segments").is_dir()}
    assert {"paper", "series", "paper-no-perceptual", "series-no-perceptual"} <= set(segmented)
    for name, run in segmented.items():
        folder = run.run_dir / "training-segments"
        records = sorted(folder.glob("segment-*.json"))
        spans = [tuple(int(x) for x in p.stem.split("-")[1:]) for p in records]
        assert spans[0][0] == 1 and all(b[0] == a[1] + 1 for a, b in zip(spans, spans[1:])), (name, spans)
        assert spans[-1][1] == run.params["max_epochs"], name
        for path in records:
            record = json.loads(path.read_text())
            assert record["params"]["split"] == run.params["split"]
            assert record["params"]["lambda_perceptual"] == run.params["lambda_perceptual"]
            assert record["git"]["dirty"] is False and record["data"]["sha256"]
        state = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
        assert state["epoch"] == run.params["max_epochs"] and state["optimizer"] is not None
        assert "training-segments" in run.provenance["device"]["name"]


@pytest.mark.parametrize("split", ["paper", "series"])
def test_the_perceptual_ablation_pairs_the_two_runs(runs, split):
    table = results.perceptual_ablation(runs, split, "authors")
    for label, metric in CONVENTIONS["authors"].items():
        with_term = EXPECTED[split]["sfnn-max"][metric][0]
        without = EXPECTED[f"{split}-no-perceptual"]["sfnn-max"][metric][0]
        assert table.loc[label, "with"] == pytest.approx(with_term, abs=5e-7)
        assert table.loc[label, "without"] == pytest.approx(without, abs=5e-7)
        assert table.loc[label, "difference"] == pytest.approx(with_term - without, abs=2e-6)
        assert table.loc[label, "95% CI low"] <= table.loc[label, "difference"] <= table.loc[label, "95% CI high"]
        assert 0 <= table.loc[label, "Wilcoxon p"] <= 1
    assert results.perceptual_ablation({split: runs[split]}, split) is None


def test_paired_difference_of_a_method_with_itself_and_with_other_pairs(runs):
    own = results.own_method(runs["paper"])
    same = results.paired_difference(own, own, {"PSNR": "psnr"})
    assert same.loc["PSNR", ["difference", "95% CI low", "95% CI high"]].tolist() == [0.0, 0.0, 0.0]
    assert same.loc["PSNR", "Wilcoxon p"] == 1.0
    with pytest.raises(DataError, match="different test pairs"):
        results.paired_difference(own, results.own_method(runs["series"]), {"PSNR": "psnr"})


@pytest.mark.parametrize("split", ["paper", "series"])
def test_dilran_against_the_pixel_average_reads_both_runs(runs, split):
    table = results.versus_pixel_average(runs, split)
    assert list(table.index) == list(results.AVERAGE_CHECK)
    for label, metric in results.AVERAGE_CHECK.items():
        assert table.loc[label, "DILRAN"] == pytest.approx(EXPECTED[split]["sfnn-max"][metric][0], abs=5e-7)
        average = EXPECTED[f"untrained-{split}"]["average"][metric][0]
        assert table.loc[label, "pixel average"] == pytest.approx(average, abs=5e-7)
    # What the chapter says: ahead on PSNR and edge FMI on every pair, behind on pixel FMI on every pair.
    assert table.loc["PSNR", "pairs higher"] == table.loc["FMI on edges", "pairs higher"] == "20 of 20"
    assert table.loc["FMI on pixels", "pairs higher"] == "0 of 20"
    assert results.versus_pixel_average({split: runs[split]}, split) is None
