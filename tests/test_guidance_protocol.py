"""One fold of the glioma experiments (mmlib.papers.guidance.protocol), on tiny phantoms, in seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmlib.data.glioma_dataset import glioma_cases
from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance import protocol
from mmlib.papers.guidance.modality_fusion import ProbabilityEnsemble
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import RMC
from mmlib.papers.guidance.training import head_probabilities
from mmlib.runs import RESULT_ENV_VAR
from mmlib.train.classification import class_counts

MODS = ("t1ce", "t2", "flair", "t1")


@pytest.fixture(scope="module")
def cases():
    return glioma_cases("glioma-phantoms", n_cases=24, shape=(12, 16, 12), seed=0)


@pytest.fixture(scope="module")
def split(cases):
    return protocol.fold_split(cases, fold=1, n_folds=3, seed=0)


def loader(split, side, mods=MODS, **kwargs):
    return protocol.volume_loader(split, side, mods, batch_size=4, seed=0, **kwargs)


def test_fold_split_is_patient_level_disjoint_stratified_and_repeatable(cases, split):
    sides = {s: set(ids) for s, ids in split.sides.items()}
    assert set().union(*sides.values()) == {c["case_id"] for c in cases}
    assert sum(len(s) for s in sides.values()) == len(cases)  # disjoint
    counts = split.counts()
    assert (counts[["HGG", "LGG"]] > 0).all().all()  # every side holds both grades
    assert split.labels("test") == [c["label"] for c in split.cases("test")]
    again = protocol.fold_split(cases, fold=1, n_folds=3, seed=0)
    assert again.sides == split.sides
    other = protocol.fold_split(cases, fold=0, n_folds=3, seed=0)
    assert not set(other.sides["test"]) & sides["test"]  # folds partition the test cases
    # the validation cases are training patients of the outer fold, never test cases
    assert not set(protocol.fold_split(cases, 1, 3, 0, val_fraction=0.34).sides["validation"]) & sides["test"]


def test_fold_split_refuses_bad_parameters_and_one_class_folds(cases):
    with pytest.raises(ParameterError, match="val_fraction"):
        protocol.fold_split(cases, 0, 3, 0, val_fraction=0.6)
    with pytest.raises(ParameterError, match="fold=3"):
        protocol.fold_split(cases, 3, 3, 0)
    hgg_heavy = [c for c in cases if c["label"] == 1] + [c for c in cases if c["label"] == 0][:3]
    with pytest.raises((DataError, ParameterError)):
        protocol.fold_split(hgg_heavy, 0, 3, 0)


def test_loaders_shuffle_and_augment_only_the_training_side(split):
    test_a = [b["case_id"] for b in loader(split, "test")]
    test_b = [b["case_id"] for b in loader(split, "test")]
    assert test_a == test_b and sum(map(list, test_a), []) == split.sides["test"]
    batch = next(iter(loader(split, "train", ("t1ce",))))
    assert set(batch) >= {"t1ce", "label", "case_id"} and "t2" not in batch
    assert batch["t1ce"].shape[1:] == (1, 12, 16, 12)  # (x, y, z) -> (D, H, W) = (z, y, x)
    assert "seg" in next(iter(loader(split, "validation", with_seg=True)))


def test_train_classifier_fits_and_keeps_the_best_validation_epoch(split, tmp_path):
    torch.manual_seed(0)
    net = RMC(1, 2, width=0.125, dropout=0.0)
    history = protocol.train_classifier(
        net, loader(split, "train", ("t1ce",)), loader(split, "validation", ("t1ce",)),
        logits_fn=protocol.modality_logits("t1ce"), counts=class_counts(split.labels("train")), max_epochs=3, lr=1e-3,
        weight_decay=0.0, device="cpu", precision="fp32", seed=0, checkpoint_path=tmp_path / "last.pt", desc="t1ce")
    losses = [e["val_loss"] for e in history.epochs]
    assert len(losses) == 3 and history.best_value == min(losses) == losses[history.best_epoch - 1]
    best = torch.load(history.best_path, weights_only=False)["model"]
    assert all(torch.equal(v, best[k]) for k, v in net.state_dict().items())  # the best epoch is what the net holds
    summary = protocol.training_summary({"t1ce": history})
    assert summary.loc["t1ce", "kept epoch"] == history.best_epoch


def test_a_fixed_schedule_keeps_the_last_epoch_and_the_fit_check_reads_the_training_cases(split, tmp_path):
    torch.manual_seed(0)
    net = RMC(1, 2, width=0.125, dropout=0.0)
    loader_kw = dict(batch_size=4, seed=0, fit="lesion", spatial_size=(8, 8, 8), augment="off")
    train = protocol.volume_loader(split, "train", ("t1ce",), **loader_kw)
    history = protocol.train_classifier(
        net, train, protocol.volume_loader(split, "validation", ("t1ce",), **loader_kw),
        logits_fn=protocol.modality_logits("t1ce"), counts=class_counts(split.labels("train")), max_epochs=2, lr=1e-3,
        weight_decay=0.0, device="cpu", precision="fp32", seed=0, checkpoint_path=tmp_path / "last.pt", desc="t1ce",
        epoch_choice="last")
    last = torch.load(tmp_path / "last.pt", weights_only=False)["model"]
    assert history.best_epoch is None and all(torch.equal(v, last[k]) for k, v in net.state_dict().items())
    assert protocol.epochs_record(history) == {"best_epoch": 2, "epochs": 2}
    assert [set(e) for e in protocol.history_record(history)] == [{"epoch", "train_loss", "val_loss", "val_auc"}] * 2
    evaluate = protocol.volume_loader(split, "train", ("t1ce",), evaluate=True, **loader_kw)
    auc = protocol.training_auc(net, evaluate, protocol.softmax_positive(protocol.modality_logits("t1ce"), "t1ce"),
                                "t1ce", device="cpu", precision="fp32")
    assert 0.0 <= auc <= 1.0 and [b["case_id"] for b in evaluate] == [b["case_id"] for b in evaluate]  # unshuffled
    with pytest.raises(ParameterError, match="epoch_choice"):
        protocol.train_classifier(net, train, train, logits_fn=protocol.modality_logits("t1ce"), counts=[1, 1],
                                  max_epochs=1, lr=1e-3, weight_decay=0.0, device="cpu", precision="fp32", seed=0,
                                  checkpoint_path=tmp_path / "x.pt", desc="x", epoch_choice="best")


def test_the_measured_references_use_the_generator_truth_and_the_mask_intensities(split):
    scores = protocol.ceiling_scores(split, ("t1ce", "flair"))
    assert set(scores) == {"ceiling: generator truth", "reference: mask intensities"}
    assert all(s.shape == (len(split.sides["test"]),) for s in scores.values())
    truth = protocol.truth_features(split.cases("test"), ("t1ce", "flair"))
    assert truth.shape == (len(split.sides["test"]), 2)
    assert np.allclose(truth[:, 0], [c["phantom"]["z_t1ce"] for c in split.cases("test")])
    intensities = protocol.mask_intensity_features(split.cases("test"), ("t1ce",))
    assert intensities.shape == (len(split.sides["test"]), 3) and (intensities >= 0).all() and (intensities <= 1).all()
    real_like = [{k: v for k, v in c.items() if k != "phantom"} for c in split.cases("train")]
    with pytest.raises(ParameterError, match="phantom"):
        protocol.truth_features(real_like, ("t1ce",))


def test_ensemble_scores_are_the_mean_of_their_members(split):
    torch.manual_seed(0)
    members = {m: RMC(1, 2, width=0.125) for m in ("t1ce", "flair")}
    ensemble = ProbabilityEnsemble(members)
    scores = protocol.test_scores(ensemble, loader(split, "test", ("t1ce", "flair")), protocol.ensemble_probabilities,
                                  device="cpu", precision="fp32")
    assert np.allclose(scores["ensemble"], (scores["t1ce"] + scores["flair"]) / 2, atol=1e-6)
    assert list(scores["case_id"]) == split.sides["test"] and list(scores["label"]) == split.labels("test")
    alone = protocol.test_scores(members["flair"], loader(split, "test", ("flair",)),
                                 protocol.softmax_positive(protocol.modality_logits("flair"), "flair"), device="cpu",
                                 precision="fp32")
    assert np.allclose(alone["flair"], scores["flair"], atol=1e-6)


def test_record_methods_writes_every_method_on_the_same_cases(split, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULT_ENV_VAR, str(tmp_path / "metrics.json"))
    rng = np.random.default_rng(0)
    scores = {"t1ce": rng.random(len(split.sides["test"])), "ensemble": rng.random(len(split.sides["test"])),
              "label": np.array(split.labels("test")), "case_id": np.array(split.sides["test"])}
    data = protocol.cases_data("glioma-phantoms", [], n_cases=24, shape=(12, 16, 12), seed=0, modalities=MODS)
    record = protocol.record_methods("ensemble", split, scores, data=data, extra={"epochs": 1})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["predictions"]["y_score"] == pytest.approx(scores["ensemble"].tolist())
    assert set(saved["extra"]["methods"]) == {"t1ce", "ensemble"}
    assert saved["extra"]["n_cases"] == {s: len(ids) for s, ids in split.sides.items()}
    assert saved["data"]["description"]["generator"] == protocol.PHANTOM_GENERATOR
    with pytest.raises(ParameterError, match="final"):
        protocol.record_methods("pixel", split, scores, data=data, extra={})


def test_cases_data_lists_the_real_files_read():
    cases = [{"case_id": "a", "t1ce": "/d/a_t1ce.nii.gz", "seg": "/d/a_seg.nii.gz", "t2": "/d/a_t2.nii.gz"}]
    assert protocol.cases_data("brats2018", cases, n_cases=0, shape=(1, 1, 1), seed=0, modalities=("t1ce",)) == \
        ["/d/a_seg.nii.gz", "/d/a_t1ce.nii.gz"]


@pytest.mark.parametrize("method", protocol.BASELINES)
def test_every_baseline_builds_and_takes_its_inputs_from_a_batch(method, split):
    batch = next(iter(loader(split, "test", with_seg=True)))
    net = protocol.build_baseline(method, MODS, width=0.125, decision_hidden=8, agg_roi_size=(8, 12, 12),
                                  agg_channels=(4, 8), seed=0)
    with torch.no_grad():
        logits = protocol.baseline_logits(method, MODS, (8, 12, 12), 1)(net.eval(), batch, "cpu")
    assert logits.shape == (len(batch["label"]), 2)
    again = protocol.build_baseline(method, MODS, width=0.125, decision_hidden=8, agg_roi_size=(8, 12, 12),
                                    agg_channels=(4, 8), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ParameterError, match="method"):
        protocol.build_baseline("late", MODS, width=0.125, decision_hidden=8, agg_roi_size=(8, 12, 12),
                                agg_channels=(4, 8))


def test_only_agg_takes_its_own_schedule_and_precision():
    shared = dict(max_epochs=15, precision="bf16", agg_epochs=30, agg_precision="fp32")
    assert protocol.baseline_budget("agg", **shared) == {"max_epochs": 30, "precision": "fp32"}
    for method in ("pixel", "feature", "decision"):
        assert protocol.baseline_budget(method, **shared) == {"max_epochs": 15, "precision": "bf16"}
    assert protocol.baseline_budget("agg", max_epochs=15, precision="bf16") == {"max_epochs": 15, "precision": "bf16"}
    with pytest.raises(ParameterError, match="method"):
        protocol.baseline_budget("late", max_epochs=15, precision="bf16")


def test_agg_trains_reproducibly_in_fp32(split, tmp_path):
    """Two AGG trainings from one seed end with identical weights (the reason for agg_precision="fp32")."""
    weights = []
    for run in range(2):
        net = protocol.build_baseline("agg", MODS, width=0.125, decision_hidden=8, agg_roi_size=(8, 12, 12),
                                      agg_channels=(4, 8, 16), seed=0)
        initial = {k: v.clone() for k, v in net.state_dict().items()}
        protocol.train_classifier(
            net, loader(split, "train", with_seg=True), loader(split, "validation", with_seg=True),
            logits_fn=protocol.baseline_logits("agg", MODS, (8, 12, 12), 1), counts=class_counts(split.labels("train")),
            lr=1e-3, weight_decay=0.0, device="cpu", seed=0, checkpoint_path=tmp_path / f"{run}.pt", desc="agg",
            epoch_choice="last", **protocol.baseline_budget("agg", max_epochs=2, precision="bf16", agg_precision="fp32"))
        weights.append(net.state_dict())
    assert any(not torch.equal(v, initial[k]) for k, v in weights[1].items())  # it trained
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())


def test_stage_dir_is_shared_by_equal_settings_only(tmp_path):
    first, reused = protocol.stage_dir(tmp_path, "stage1", {"lr": 1e-3, "epochs": 2}, fold=0)
    assert not reused and json.loads((first / "settings.json").read_text()) == {"lr": 0.001, "epochs": 2, "fold": 0}
    (first / "last.pt").write_bytes(b"done")
    same, reused = protocol.stage_dir(tmp_path, "stage1", {"epochs": 2, "lr": 1e-3}, fold=0)
    assert same == first and reused
    assert protocol.stage_dir(tmp_path, "stage1", {"lr": 1e-3, "epochs": 3}, fold=0)[0] != first
    assert protocol.stage_dir(tmp_path, "stage1", {"lr": 1e-3, "epochs": 2}, fold=1)[0] != first


def test_the_two_stages_train_and_score_every_head(split, tmp_path):
    torch.manual_seed(0)
    model = GuidanceModel("t1ce", ("flair",), width=0.125)
    counts = class_counts(split.labels("train"))
    common = dict(counts=counts, lr=1e-3, weight_decay=0.0, device="cpu", precision="fp32", seed=0)
    h1 = protocol.run_stage1(model, loader(split, "train", ("t1ce",)), loader(split, "validation", ("t1ce",)),
                             max_epochs=1, checkpoint_path=tmp_path / "s1" / "last.pt", **common)
    h2 = protocol.run_stage2(model, loader(split, "train", ("t1ce", "flair")),
                             loader(split, "validation", ("t1ce", "flair")), max_epochs=1, train_primary=False,
                             checkpoint_path=tmp_path / "s2" / "last.pt", **common)
    assert h1.best_epoch == 1 and h2.best_epoch == 1 and "val_auc" in h2.epochs[0]
    scores = protocol.test_scores(model, loader(split, "test", ("t1ce", "flair")), head_probabilities, device="cpu",
                                  precision="fp32")
    batch = next(iter(loader(split, "test", ("t1ce", "flair"))))
    with torch.no_grad():
        fused = torch.softmax(protocol.fused_logits(model.eval(), batch, "cpu"), 1)[:, 1]
    assert np.allclose(scores["t1ce+flair"][:len(fused)], fused.numpy(), atol=1e-6)
