"""One repetition of MASAN's 7:3 protocol (mmlib.papers.masan.protocol, inspection), on tiny inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mmlib.errors import ParameterError
from mmlib.papers.masan import protocol
from mmlib.papers.masan.data import phantom_cohort, task_subset
from mmlib.papers.masan.inspection import patch_of, upsample_weights, weight_share
from mmlib.runs import RESULT_ENV_VAR
from mmlib.runs.aggregate import read_run
from mmlib.train.classification import class_counts

CLASSES = np.array(["NC"] * 64 + ["MCI"] * 70 + ["AD"] * 72)


def test_repeated_split_is_a_stratified_7_to_3_split_per_repetition():
    first = protocol.repeated_split(CLASSES, 0, seed=0)
    assert first.sizes() == {"train": 144, "test": 62} and not set(first.train) & set(first.test)
    for name, total in (("NC", 64), ("MCI", 70), ("AD", 72)):
        assert abs((CLASSES[first.test] == name).sum() - 0.3 * total) <= 1  # every class keeps its share
    again = protocol.repeated_split(CLASSES, 0, seed=0)
    assert np.array_equal(first.test, again.test)
    third = protocol.repeated_split(CLASSES, 2, seed=0)
    assert not np.array_equal(third.test, first.test)
    # repetition k does not depend on how many repetitions are run
    from sklearn.model_selection import StratifiedShuffleSplit
    stream = list(StratifiedShuffleSplit(10, test_size=0.3, random_state=0).split(np.zeros(206), CLASSES))
    assert np.array_equal(np.sort(stream[2][1]), third.test)
    with pytest.raises(ParameterError):
        protocol.repeated_split(CLASSES, -1)
    with pytest.raises(ParameterError):
        protocol.repeated_split(CLASSES, 0, test_fraction=1.0)


def test_logistic_baselines_fit_on_the_training_side_only():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    features = rng.standard_normal((100, 3)) + labels[:, None] * np.array([1.5, 0.0, 0.0])
    split = protocol.repeated_split(labels, 0)
    train, test = protocol.ceiling_scores(features, labels, split)
    assert train.shape == (70,) and test.shape == (30,)
    assert roc_auc_score(labels[split.test], test) > 0.8
    noise = rng.standard_normal((100, 3))
    assert roc_auc_score(labels[split.test], protocol.ceiling_scores(noise, labels, split)[1]) < 0.8
    images = rng.standard_normal((100, 2, 4, 4)) + labels[:, None, None, None] * 0.8
    assert roc_auc_score(labels[split.test], protocol.pca_lr_scores(images, labels, split, 5)[1]) > 0.8
    sites = np.where(np.arange(100) < 30, "A", "B")
    site_test = protocol.site_scores(sites, labels, split)[1]
    assert len(np.unique(site_test)) <= 2  # one probability per site


def test_connectome_baseline_reads_correlation_differences_and_survives_a_constant_region():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    series = []
    for y in labels:
        shared = rng.standard_normal((60, 1))
        s = rng.standard_normal((60, 4)) + (0.9 if y else 0.1) * shared
        s[:, 3] = 0.0  # a region outside the field of view
        series.append(s)
    split = protocol.repeated_split(labels, 0)
    for kind in ("correlation", "tangent"):
        features = protocol.connectome_features(series, split, kind)
        assert features.shape == (40, 6) and np.isfinite(features).all()
        assert roc_auc_score(labels[split.test], protocol.connectome_scores(series, labels, split, kind)[1]) > 0.8
    with pytest.raises(ParameterError):
        protocol.connectome_features(series, split, "coherence")


def test_fusion_weight_share_is_one_for_flat_weights_and_above_for_weights_on_the_atrophy():
    shape, grid = (32, 40, 32), (4, 4, 4)
    flat = weight_share(np.ones(64), grid, shape)
    assert flat["enrichment"] == pytest.approx(1.0, abs=1e-6) and 0 < flat["volume_share"] < 0.2
    from mmlib.data.phantoms.anatomy import tissue_maps

    affine = tissue_maps(shape).affine
    hot = np.full(64, 0.1)
    for point in ((-26, -22, -14), (26, -22, -14)):  # both hippocampi
        hot[patch_of(point, affine, shape, grid)] = 1.0
    assert weight_share(hot, grid, shape)["enrichment"] > 1.5
    cold = 1.1 - hot
    assert weight_share(cold, grid, shape)["enrichment"] < 1.0
    assert upsample_weights(np.arange(64.0), grid, shape).shape == shape
    with pytest.raises(ParameterError):
        weight_share(-np.ones(64), grid, shape)


def test_a_tiny_repetition_trains_scores_and_records(tmp_path, monkeypatch):
    cohort = phantom_cohort(n_cases=24, t1_shape=(16, 20, 16), fmri_shape=(8, 12, 8), n_timepoints=20, window=16,
                            seed=0)
    index, labels = task_subset(cohort.classes, "ad-vs-rest")
    split = protocol.repeated_split(np.asarray(cohort.classes)[index], 1)
    ids = np.asarray(cohort.case_ids)[index]
    arrays = {"t1": cohort.t1, "fmri": cohort.fmri, "x": cohort.t1}
    train = protocol.make_loader(arrays, labels, ids, split.train, batch_size=4, shuffle=True)
    train_eval = protocol.make_loader(arrays, labels, ids, split.train, batch_size=4)
    test = protocol.make_loader(arrays, labels, ids, split.test, batch_size=4)
    scores, histories = {}, {}
    for method in ("masan", "hfcn"):
        net = protocol.build_network(method, window=16, width=0.0625, hfcn_patch_size=4, hfcn_width=0.0625)
        histories[method] = protocol.fit_network(
            method, net, train, train_eval, counts=class_counts(labels[split.train]), pretrain_epochs=1, max_epochs=1,
            hfcn_epochs=1, lr=1e-3, hfcn_lr=1e-3, sparsity=1e-5, device="cpu", precision="fp32", seed=0,
            checkpoint_dir=tmp_path / "ckpt")
        out = protocol.scores(net, test, maps=method == "masan")
        assert out["score"].shape == (split.test.size,) and ((0 <= out["score"]) & (out["score"] <= 1)).all()
        scores[method] = out["score"]
    assert [row["stage"] for row in protocol.curves(histories["masan"])] == ["pretrain", "joint"]
    assert (tmp_path / "ckpt" / "masan-joint" / "last.pt").is_file()  # resumable
    masan = protocol.build_network("masan", window=16, width=0.0625)
    spatial = protocol.scores(masan, test, maps=True)["spatial"]
    assert spatial.shape == (split.test.size, 64) and ((0 < spatial) & (spatial < 1)).all()
    weights = protocol.fusion_weights(spatial, labels[split.test], masan.grid, (16, 20, 16))
    assert len(weights["mean_ad"]) == 64 and weights["share_ad"]["enrichment"] > 0
    target = tmp_path / "run" / "fold-1" / "metrics.json"
    target.parent.mkdir(parents=True)
    monkeypatch.setenv(RESULT_ENV_VAR, str(target))
    protocol.record_repetition(split, labels[split.test], ids[split.test], scores, final="masan",
                               train_metrics={"masan": {"acc": 1.0}}, extra={"fusion_weights": weights},
                               data={"generator": "test"})
    (target.parent / "done").write_text("")
    run = read_run(tmp_path / "run")
    assert set(run.methods) == {"masan", "hfcn"} and run.records[1]["extra"]["n_test"] == split.test.size
    assert json.loads(target.read_text())["extra"]["train_metrics"]["masan"]["acc"] == 1.0
    with pytest.raises(ParameterError):
        protocol.record_repetition(split, labels[split.test], ids[split.test], scores, final="ceiling")
    with pytest.raises(ParameterError):
        protocol.build_network("svm", window=16, width=0.1)
