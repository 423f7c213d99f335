"""One DILRAN training run, step by step (mmlib.papers.dilran.protocol), on tiny phantoms and fake atlas folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran import protocol
from mmlib.papers.dilran.image_metrics import METRIC_ORDER, fusion_metric_suite
from mmlib.papers.dilran.model import DILRAN
from mmlib.papers.dilran.paper import FULL_SCALE, PAPER_SCHEDULE, RULE_ROWS
from mmlib.papers.dilran.splits import load_split_json, split_pairs
from mmlib.config import REPO_ROOT
from mmlib.runs import RESULT_ENV_VAR
from mmlib.runs.aggregate import read_run

GOOD = dict(dataset="harvard-aanlib", pair="CT-MRI", split="paper", fold=0, n_folds=1, model_name="dilran",
            eval_rules="own", image_size=64, max_train_images=16, train_crop=None, max_epochs=1, batch_size=4)
#: The committed DILRAN run: new runs must produce records of its shape.
COMMITTED = REPO_ROOT / "results" / "dilran" / "paper" / "fold-0" / "metrics.json"


@pytest.fixture(scope="module")
def phantoms():
    """48 phantom pairs at 32 x 32 (the training chapter's fallback)."""
    return protocol.phantom_source("CT-MRI", 32, seed=3407, reason="test")


@pytest.fixture(scope="module")
def trained(phantoms, tmp_path_factory):
    """DILRAN trained for one epoch on 8 phantom images, with its loaders and checkpoint folder."""
    torch.set_num_threads(1)
    parts = split_pairs(phantoms.names, "paper", 3407)
    train, val, available = protocol.make_loaders(phantoms, parts, max_train_images=8, train_crop=None,
                                                  batch_size=4, seed=3407)
    folder = tmp_path_factory.mktemp("checkpoints")
    loss = protocol.make_loss(None, 0.2, 0.2)
    model, history = protocol.train_model("dilran", train, val, loss, max_epochs=1, lr=1e-4, device="cpu",
                                          precision="fp32", checkpoint_dir=folder, seed=3407, progress=False)
    return dict(parts=parts, train=train, val=val, available=available, folder=folder, loss=loss, model=model,
                history=history)


def _fake_atlas(root: Path, names=("2001", "2002", "2003"), size=16) -> Path:
    """``root/harvard-aanlib/CT-MRI/{CT,MRI}/<name>.png`` of random grey images."""
    rng = np.random.default_rng(0)
    for folder in ("CT", "MRI"):
        (root / "harvard-aanlib" / "CT-MRI" / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            image = rng.integers(1, 256, (size, size), dtype=np.uint8)
            Image.fromarray(image).save(root / "harvard-aanlib" / "CT-MRI" / folder / f"{name}.png")
    return root


# --- parameters ----------------------------------------------------------------------------------------


def test_good_parameters_pass():
    protocol.check_parameters(**GOOD)
    protocol.check_parameters(**(GOOD | dict(max_train_images=None, train_crop=32, split="series")))


@pytest.mark.parametrize("name, value", [
    ("dataset", "brats"), ("pair", "MR-MR"), ("split", "random"), ("model_name", "unet"), ("eval_rules", "all"),
    ("image_size", 8), ("max_epochs", 0), ("batch_size", 2.5), ("max_train_images", 0), ("train_crop", 4),
    ("train_crop", 128), ("fold", 1), ("n_folds", 3),
])
def test_each_bad_parameter_is_named(name, value):
    with pytest.raises(ParameterError, match=name):
        protocol.check_parameters(**(GOOD | {name: value}))


# --- data ----------------------------------------------------------------------------------------------


def test_phantoms_stand_in_when_the_atlas_is_absent(tmp_path, capsys):
    data = protocol.load_pairs(tmp_path, "harvard-aanlib", "CT-MRI", 32, seed=3407)
    printed = capsys.readouterr().out
    assert "harvard-aanlib" in printed and "no such folder" in printed
    assert data.source == "SYNTHETIC data: 48 fusion-phantom pairs (harvard-aanlib CT-MRI not found in the data root)"
    assert data.source in printed and data.pairs is None
    assert data.names[:3] == ["1000", "1001", "1002"] and len(data.names) == 48
    assert data.data_read(data.names) == {"generator": "mmlib.data.phantoms.image_fusion.image_fusion_phantoms",
                                          "n_series": 6, "slices_per_series": 8, "size": 32, "seed": 3407}


def test_phantoms_when_asked_for(phantoms, capsys):
    data = protocol.load_pairs(None, "fusion-phantoms", "CT-MRI", 32, seed=3407)
    assert "(dataset='fusion-phantoms' was asked for)" in capsys.readouterr().out
    ct, mr = data.images("1000")
    np.testing.assert_array_equal(ct, phantoms.images("1000")[0])
    assert ct.shape == mr.shape == (32, 32) and ct.dtype == np.float32 and 0 <= ct.min() and ct.max() <= 1


def test_the_atlas_is_read_when_present(tmp_path, capsys):
    root = _fake_atlas(tmp_path)
    data = protocol.load_pairs(root, "harvard-aanlib", "CT-MRI", 8, seed=3407)
    printed = capsys.readouterr().out
    assert f"reading {root / 'harvard-aanlib'}" in printed and "REAL data: AANLIB CT-MRI, 3 pairs" in printed
    assert data.names == ["2001", "2002", "2003"] and data.modalities == ("CT", "MRI")
    assert data.data_read(["2002"]) == [root / "harvard-aanlib/CT-MRI/CT/2002.png",
                                        root / "harvard-aanlib/CT-MRI/MRI/2002.png"]
    ct, mr = data.images("2002")
    assert ct.shape == (8, 8)  # resized to image_size
    assert len(data.single_images(["2001", "2003"])) == 4 and data.single_images(["2001"])[0].shape == (1, 8, 8)


def test_a_bad_atlas_file_raises_instead_of_falling_back(tmp_path):
    root = _fake_atlas(tmp_path)
    (root / "harvard-aanlib" / "CT-MRI" / "MRI" / "2002.png").unlink()
    with pytest.raises(DataError, match="2002.png"):
        protocol.load_pairs(root, "harvard-aanlib", "CT-MRI", 8, seed=3407)


def test_split_table_compares_both_splits(phantoms):
    table = protocol.split_table(phantoms.names, "series", 3407)
    assert list(table.index) == ["paper", "series (this run)"]
    assert table.loc["series (this run)", "series in train and test"] == "none"
    assert table.loc["paper", "test pairs"] == 5  # the paper's share, 20 of 184, of 48 pairs
    assert table.loc["paper", "series in train and test"] != "none"  # the per-slice split leaks series
    assert table[["train pairs", "val pairs", "test pairs"]].sum(axis=1).tolist() == [48, 48]


# --- loaders, loss, training -----------------------------------------------------------------------------


def test_loaders_keep_a_seeded_subset_and_crop(phantoms, trained):
    parts = trained["parts"]
    assert trained["available"] == 2 * len(parts["train"]) and len(trained["train"].dataset) == 8
    assert len(trained["val"].dataset) == 2 * len(parts["val"])  # validation keeps every image, whole
    again = protocol.make_loaders(phantoms, parts, max_train_images=8, train_crop=16, batch_size=4, seed=3407)
    assert again[0].dataset.dataset.indices == trained["train"].dataset.indices  # the same seeded subset
    assert next(iter(again[0])).shape == (4, 1, 16, 16) and next(iter(again[1]))[0].shape == (4, 1, 32, 32)
    other = protocol.make_loaders(phantoms, parts, max_train_images=8, train_crop=None, batch_size=4, seed=1)
    assert other[0].dataset.indices != trained["train"].dataset.indices


def test_loss_says_which_perceptual_network(trained, capsys):
    assert trained["loss"].perceptual.weights_source == "random-init(seed=0)"
    protocol.make_loss(None, 0.2, 0.2)
    assert "FIXED RANDOM initialisation" in capsys.readouterr().out
    with pytest.raises(DataError, match="does not exist"):
        protocol.make_loss("/no/such/vgg16_bn-6c64b313.pth", 0.2, 0.2)


def test_training_checkpoints_and_selects_on_validation(trained, capsys):
    history, folder = trained["history"], trained["folder"]
    assert (folder / "checkpoint.pt").is_file() and history.best_path == folder / "best.pt"
    assert history.best_epoch == 1 and [e["epoch"] for e in history.epochs] == [1]
    model = protocol.load_best(DILRAN(variant="code"), history, "cpu")
    assert "selected epoch 1 of 1" in capsys.readouterr().out and not model.training
    for a, b in zip(model.state_dict().values(), trained["model"].state_dict().values()):
        torch.testing.assert_close(a, b)


def test_checkpoint_folder(tmp_path, capsys):
    assert protocol.checkpoint_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a/b").is_dir()
    temporary = protocol.checkpoint_folder(None)
    out = capsys.readouterr().out
    assert temporary.is_dir() and "temporary folder" in out and str(temporary) not in out  # no machine path shown
    temporary.rmdir()


# --- scoring -------------------------------------------------------------------------------------------


def test_score_pairs_scores_each_pair_with_the_suite(phantoms):
    scores = protocol.score_pairs(lambda a, b: (a + b) / 2, phantoms.images, ["1000", "3005"])
    ct, mr = phantoms.images("3005")
    assert list(scores) == ["1000", "3005"]
    assert scores["3005"] == fusion_metric_suite((ct + mr) / 2, ct, mr, variants=METRIC_ORDER)
    assert tuple(scores["3005"]) == METRIC_ORDER  # every variant, the optional ones of issue 12 included


def test_mean_scores():
    assert protocol.mean_scores({"a": {"psnr": 10.0, "ssim": 0.5}, "b": {"psnr": 14.0, "ssim": 0.7}}) == {
        "psnr": 12.0, "ssim": pytest.approx(0.6)}
    with pytest.raises(ParameterError, match="no pair"):
        protocol.mean_scores({})


def test_rules_to_score():
    model = DILRAN()
    assert protocol.rules_to_score(model, "own") == ("sfnn-max",)
    assert protocol.rules_to_score(model, "table1") == tuple(RULE_ROWS) == protocol.TABLE_1_RULES
    with pytest.raises(ParameterError, match="eval_rules"):
        protocol.rules_to_score(model, "some")


def test_score_rules_fuses_each_test_pair_with_each_rule(phantoms, trained):
    names = trained["parts"]["test"]
    per_rule = protocol.score_rules(trained["model"], phantoms, names, ["sfnn-max", "avg"])
    assert list(per_rule) == ["sfnn-max", "avg"] and list(per_rule["avg"]) == names
    assert per_rule["sfnn-max"] != per_rule["avg"]
    assert all(np.isfinite(v) for scores in per_rule["avg"].values() for v in scores.values())


def test_schedule_departures_name_what_differs_from_the_paper():
    assert protocol.schedule_departures(**PAPER_SCHEDULE) == {}
    assert protocol.schedule_departures(**(PAPER_SCHEDULE | {"max_epochs": 1, "train_crop": 128})) == {
        "max_epochs": (1, 100), "train_crop": (128, None)}
    with pytest.raises(ParameterError, match="vgg_weights"):
        protocol.schedule_departures(vgg_weights="x")


def test_the_full_scale_run_is_the_papers_schedule():
    """FULL_SCALE lists every parameter whose chapter default differs from Sec. 2.1/2.3 (and no other)."""
    FULL_SCALE.check()
    defaults = FULL_SCALE.defaults()
    assert {k: FULL_SCALE.settings.get(k, defaults[k]) for k in PAPER_SCHEDULE} == PAPER_SCHEDULE
    assert FULL_SCALE.settings["vgg_weights"].endswith("vgg16_bn-6c64b313.pth")
    assert FULL_SCALE.settings["eval_rules"] == "table1"


# --- the record ----------------------------------------------------------------------------------------


def _record(phantoms, trained, per_rule):
    return protocol.record_run(per_rule=per_rule, own_rule="sfnn-max", model_name="dilran",
                               history=trained["history"], data=phantoms, parts=trained["parts"], split="paper",
                               seed=3407, n_train_images=8, n_val_images=len(trained["val"].dataset),
                               perceptual_weights="random-init(seed=0)", checkpoint_dir=trained["folder"])


def test_record_has_the_shape_of_the_committed_runs(phantoms, trained, monkeypatch):
    monkeypatch.delenv(RESULT_ENV_VAR, raising=False)
    names = trained["parts"]["test"]
    per_rule = protocol.score_rules(trained["model"], phantoms, names, ["sfnn-max", "fer"])
    record = _record(phantoms, trained, per_rule)
    assert record["metrics"] == protocol.mean_scores(per_rule["sfnn-max"])
    assert record["predictions"] == {"case_id": names}
    assert record["extra"]["methods"]["fer"] == {"metrics": protocol.mean_scores(per_rule["fer"]),
                                                 "per_case": per_rule["fer"]}
    assert record["artifacts"] == ["best.pt", "split.json"]
    assert record["data"]["description"]["generator"].endswith("image_fusion_phantoms")
    assert load_split_json(trained["folder"] / "split.json")[0] == trained["parts"]
    if COMMITTED.is_file():
        committed = json.loads(COMMITTED.read_text())
        assert sorted(record) == sorted(committed)
        assert sorted(record["extra"]) == sorted(committed["extra"])
        assert sorted(record["extra"]["history"][0]) == sorted(committed["extra"]["history"][0])
        assert {type(v) for v in record["extra"].values()} == {type(v) for v in committed["extra"].values()}
    with pytest.raises(ParameterError, match="own_rule"):
        _record(phantoms, trained, {"fer": per_rule["fer"]})


def test_under_the_fold_runner_the_record_and_its_artifacts_read_back(phantoms, trained, tmp_path, monkeypatch):
    fold = tmp_path / "run" / "fold-0"
    fold.mkdir(parents=True)
    monkeypatch.setenv(RESULT_ENV_VAR, str(fold / "metrics.json"))
    per_rule = protocol.score_rules(trained["model"], phantoms, trained["parts"]["test"], ["sfnn-max"])
    _record(phantoms, trained, per_rule)
    (fold / "done").write_text("{}")
    run = read_run(tmp_path / "run")
    assert run.artifact("best.pt").read_bytes() == (trained["folder"] / "best.pt").read_bytes()
    per_case = run.methods["sfnn-max"].per_case.loc[0]
    assert per_case.to_dict(orient="index") == per_rule["sfnn-max"]
    assert run.records[0]["extra"]["n_train_images"] == 8


@pytest.mark.slow
def test_the_chapter_runs_under_the_fold_runner_and_exports(tmp_path):
    """The training chapter through the fold runner on phantoms, exported and read back (about 20 s)."""
    from mmlib.runs import run_folds
    from mmlib.runs.provenance import export_run

    params = dict(dataset="fusion-phantoms", image_size=32, max_train_images=8, eval_rules="table1",
                  out_dir=str(tmp_path / "checkpoints"))
    run_folds("dilran/training", folds=[0], params=params, tag="tiny", out=tmp_path / "runs", progress=False)
    dest = export_run("dilran/training", "tiny", tmp_path / "runs", tmp_path / "results" / "tiny",
                      command="test", wall_time_s=1.0, device="cpu")
    run = read_run(dest)
    assert sorted(run.methods) == sorted(RULE_ROWS)
    assert run.methods["sfnn-max"].case_summary()["n"].eq(5).all()
    assert run.provenance["data"]["description"]["size"] == 32 and run.params == params
    assert run.artifact("split.json").is_file() and run.artifact("best.pt").is_file()
    # the chapter writes no results of its own: its checkpoint folder holds checkpoints and the split only
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["best.pt", "checkpoint.pt", "split.json"]
