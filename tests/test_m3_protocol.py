"""One fold of M3 (mmlib.papers.m3.protocol, .training) on tiny phantoms: every step runs, caches and records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mmlib.errors import ParameterError
from mmlib.papers.m3 import protocol
from mmlib.papers.m3.cohorts import m3_cases
from mmlib.papers.m3.features import VARIANTS
from mmlib.papers.m3.training import hard_dice, logits_at

SHAPE = (16, 24, 16)
COMMON = dict(batch_size=4, spatial_size=None, fit_mode="crop", device="cpu", precision="fp32", seed=0)


@pytest.fixture(scope="module")
def cohort():
    return m3_cases("tumour-phantoms", n_cases=30, shape=SHAPE, seed=0)


@pytest.fixture(scope="module")
def split(cohort):
    return protocol.fold_split(cohort.cases, 1, 5, seed=0)


def test_the_split_is_patient_level_stratified_and_repeatable(cohort, split):
    sides = [set(split.sides[s]) for s in protocol.SIDES]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert set().union(*sides) == {c["case_id"] for c in cohort.cases}
    assert all(len(set(split.labels(s))) == 2 for s in protocol.SIDES)
    assert protocol.fold_split(cohort.cases, 1, 5, seed=0).sides == split.sides
    assert protocol.fold_split(cohort.cases, 1, 5, seed=1).sides != split.sides
    assert split.ids("fit") == split.sides["train"] + split.sides["validation"]
    with pytest.raises(ParameterError, match="fold=5"):
        protocol.fold_split(cohort.cases, 5, 5, seed=0)


def test_the_ceiling_reads_the_generator_and_tracks_its_difficulty():
    easy = m3_cases("tumour-phantoms", n_cases=80, shape=SHAPE, seed=0, difficulty=0.0)
    hard = m3_cases("tumour-phantoms", n_cases=80, shape=SHAPE, seed=0, difficulty=1.0)
    aucs = []
    for c in (easy, hard):
        y, p = [], []
        for fold in range(4):
            s = protocol.fold_split(c.cases, fold, 4, seed=0)
            y += list(s.labels("test"))
            p += list(protocol.ceiling_scores(c, s))
        aucs.append(roc_auc_score(y, p))
    assert aucs[0] > 0.95 and aucs[1] < 0.75  # separable at difficulty 0, (nearly) chance at 1


@pytest.mark.slow
def test_one_fold_trains_caches_extracts_classifies_and_records(cohort, split, tmp_path):
    settings = {"test": 1}
    run = protocol.train_modality(split, cohort.task, "flair", root=tmp_path, settings=settings, width=0.125,
                                  max_epochs=2, lr=1e-3, weight_decay=0.0, augment="flip", **COMMON)
    assert not run.reused and len(run.history.epochs) == 2 and (run.folder / "best.pt").is_file()
    curves = protocol.curves(run.history)
    assert set(curves) >= {"train_loss", "train_dice", "val_loss", "val_dice", "seconds"}
    again = protocol.train_modality(split, cohort.task, "flair", root=tmp_path, settings=settings, width=0.125,
                                    max_epochs=2, lr=1e-3, weight_decay=0.0, augment="flip", **COMMON)
    assert again.reused and all(torch.equal(a, b) for a, b in zip(run.net.state_dict().values(),
                                                                   again.net.state_dict().values()))
    dice = protocol.modality_dice(run, split, cohort.task, **COMMON)
    assert set(dice["test"]) == set(split.ids("test")) and all(0 <= d <= 1 for d in dice["test"].values())

    first = protocol.modality_features(run, split, cohort.task, pooling="avg+max", **COMMON)
    assert (run.folder / "features-avg-max.npz").is_file()
    cached = protocol.modality_features(again, split, cohort.task, pooling="avg+max", **COMMON)
    assert list(first["test"]["case_id"]) == split.ids("test")
    assert all(np.array_equal(first[s][v], cached[s][v]) for s in ("fit", "test") for v in VARIANTS)

    features = {"flair": first, "t2": first}  # two "modalities" make the multimodal rows
    scores, chosen = protocol.classify(features, split, ("flair", "t2"), variants=("m3", "deep"), swap_heads=("gbm",),
                                       seed=0)
    expected = {protocol.method_name(v, "svm", g) for v in ("m3", "deep") for g in ("flair", "t2", "multimodal")}
    expected |= {protocol.method_name("m3", "gbm", "multimodal")}
    assert set(scores) == expected == set(chosen)
    assert all(s.shape == (len(split.ids("test")),) for s in scores.values())
    scores[protocol.CEILING] = protocol.ceiling_scores(cohort, split)

    record = protocol.record(split, scores, data=cohort.data, extra={"dice": {"flair": dice}})
    assert set(record["extra"]["methods"]) == set(scores)
    assert record["predictions"]["case_id"] == split.ids("test")
    assert record["extra"]["n_cases"] == {s: len(split.sides[s]) for s in protocol.SIDES}
    assert record["data"]["description"]["dataset"] == "tumour-phantoms"
    with pytest.raises(ParameterError, match="final"):
        protocol.record(split, {"ceiling": scores["ceiling"]}, data=cohort.data, extra={})


def test_the_direct_cnn_trains_on_every_modality(cohort, split, tmp_path):
    net, history, folder = protocol.train_direct_cnn(
        split, cohort.task, ("t1ce", "flair"), root=tmp_path, settings={}, width=0.125, max_epochs=1, lr=1e-3,
        weight_decay=0.0, augment="none", **COMMON)
    assert len(history.epochs) == 1 and {"train_class", "train_seg", "val_loss", "val_auc"} <= set(history.epochs[0])
    out = protocol.direct_cnn_scores(net, split, cohort.task, ("t1ce", "flair"), "test", **COMMON)
    assert out["p"].shape == (len(split.ids("test")),) and np.all((out["p"] >= 0) & (out["p"] <= 1))


def test_dice_of_a_perfect_and_an_empty_prediction():
    mask = torch.zeros(2, 1, 8, 8, 8, dtype=torch.uint8)
    mask[0, 0, 2:5, 2:5, 2:5] = 1
    perfect = torch.cat([1 - mask.float(), mask.float()], dim=1) * 20 - 10
    assert np.allclose(hard_dice(perfect, mask), [1.0, 1.0])  # empty vs empty counts as agreement
    nothing = torch.zeros(2, 2, 8, 8, 8)
    nothing[:, 0] = 5
    assert hard_dice(nothing, mask)[0] == 0.0
    assert logits_at(torch.zeros(1, 2, 4, 4, 4), (8, 8, 8)).shape == (1, 2, 8, 8, 8)


def test_method_names_round_trip():
    assert protocol.parse_method(protocol.method_name("mask", "svm", "adc")) == ("mask", "svm", "adc")
    assert protocol.parse_method(protocol.DIRECT_CNN)[0] == "direct-cnn"
    with pytest.raises(ParameterError):
        protocol.parse_method("m3-svm")
