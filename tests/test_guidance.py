"""Guidance-aided model (Fig. 2, Eqs. 3-6) and its two-stage training (Algorithm 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.training import (guidance_losses, head_names, head_probabilities, prepare_stage2, train_stage1,
                                            train_stage2)
from mmlib.train.classification import class_counts, class_weights, weighted_cross_entropy
from mmlib.train.loop import predict


MODS = ("t1ce", "t2", "flair", "t1")
SHAPE = (1, 4, 16, 16)


def volumes(n: int = 2, seed: int = 0, mods=MODS) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, *SHAPE, generator=g) for m in mods}


def small_model(secondary=("t2", "flair", "t1"), **kw) -> GuidanceModel:
    torch.manual_seed(0)
    return GuidanceModel("t1ce", secondary, width=0.125, **kw)


def test_forward_shapes_and_features():
    model = small_model().eval()
    out = model(volumes(), return_features=True)
    assert out["primary"].shape == (2, 2) and out["fused"].shape == (2, 2)
    assert list(out["secondary"]) == ["t2", "flair", "t1"]
    assert torch.equal(out["fused"], out["secondary"]["t1"])
    f = out["features"]
    assert f["primary_high"].shape == (2, 64, 4, 1, 1)
    assert f["low"]["t2"].shape == (2, 16, 4, 4, 4)
    assert f["high"]["flair"].shape == (2, 64, 4, 1, 1) and f["fused"]["t1"].shape == (2, 64, 4, 1, 1)


def test_primary_only_model_is_darmc():
    model = small_model(secondary=()).eval()
    x = volumes(mods=("t1ce",))
    out = model(x)
    assert out["secondary"] == {} and torch.equal(out["fused"], out["primary"])
    assert torch.allclose(out["primary"], model.primary(x["t1ce"]))


def test_each_secondary_changes_its_cumulative_output():
    model = small_model().eval()
    x = volumes()
    base = model(x)
    x2 = dict(x, flair=torch.randn(*x["flair"].shape))
    changed = model(x2)
    assert torch.equal(base["primary"], changed["primary"]) and torch.equal(base["secondary"]["t2"], changed["secondary"]["t2"])
    assert not torch.allclose(base["secondary"]["flair"], changed["secondary"]["flair"])
    assert not torch.allclose(base["fused"], changed["fused"])


def test_gradients_flow_to_every_branch():
    model = small_model()
    out = model(volumes())
    guidance_losses(out, torch.tensor([0, 1]), weighted_cross_entropy([75, 210]))["loss"].backward()
    for m in ("t2", "flair", "t1"):
        b = model.branches[m]
        assert b.lfe[0][0].weight.grad.abs().sum() > 0
        assert b.guide.weight.grad[:, 16:].abs().sum() > 0  # the guidance channels learn
        assert model.fusers[m].weight.grad.abs().sum() > 0
    assert model.primary.stem[0].weight.grad.abs().sum() > 0


def test_missing_modality_and_shape_mismatch_are_data_errors():
    model = small_model(secondary=("t2", "flair"))
    x = volumes()
    with pytest.raises(DataError, match="'flair'"):
        model({k: v for k, v in x.items() if k != "flair"})
    model({k: v for k, v in x.items()})  # extra t1 is ignored
    bad = dict(x, t2=torch.randn(2, 1, 4, 16, 8))
    with pytest.raises(DataError, match="different shapes.*t2"):
        model(bad)
    with pytest.raises(ParameterError):
        GuidanceModel("t1ce", ("t1ce", "t2"))


def test_class_weights_eq2():
    w = class_weights([75, 210])
    assert torch.allclose(w, torch.tensor([1 - 75 / 285, 1 - 210 / 285]))
    assert abs(float(w[0] / w[1]) - 2.8) < 1e-6  # the paper's LGG:HGG = 2.8:1 for BraTS 2018
    assert abs(float(class_weights([76, 259])[0] / class_weights([76, 259])[1]) - 259 / 76) < 1e-5
    assert torch.equal(weighted_cross_entropy([75, 210]).weight, w)
    assert class_counts([0, 1, 1, 1]).tolist() == [1, 3]
    with pytest.raises(DataError, match="at least one"):
        class_weights([0, 12])
    with pytest.raises(DataError):
        class_counts([0, 2])


def test_total_loss_is_sum_of_terms():
    out = small_model()(volumes())
    y = torch.tensor([1, 0])
    ce = weighted_cross_entropy([3, 1])
    terms = guidance_losses(out, y, ce)
    assert set(terms) == {"loss", "primary", "t2", "flair", "t1"}
    expected = ce(out["primary"], y) + sum(ce(out["secondary"][m], y) for m in ("t2", "flair", "t1"))
    assert torch.allclose(terms["loss"], expected)


def test_stage2_copy_copies_then_parameters_are_independent():
    model = small_model(secondary=("t2", "flair"))
    with torch.no_grad():  # stand-in for stage-1 training
        for p in model.primary.parameters():
            p.add_(0.1)
    params = prepare_stage2(model)
    blocks = model.primary.blocks
    for m in ("t2", "flair"):
        copies = list(model.branches[m].lfe) + list(model.branches[m].hfe)
        for src, dst in zip(blocks, copies):
            for (ks, vs), (kd, vd) in zip(src.state_dict().items(), dst.state_dict().items()):
                assert ks == kd and torch.equal(vs, vd)
                assert vs.data_ptr() != vd.data_ptr()
    with torch.no_grad():
        model.branches["t2"].lfe[0][0].weight.add_(1.0)
    assert not torch.equal(model.branches["t2"].lfe[0][0].weight, model.primary.stem[0].weight)
    assert not torch.equal(model.branches["t2"].lfe[0][0].weight, model.branches["flair"].lfe[0][0].weight)
    # Algorithm 1 line 21: only secondary parameters train; the primary stays in eval mode.
    ids = {id(p) for p in params}
    assert not any(id(p) in ids for p in model.primary.parameters())
    assert id(model.branches["t2"].hfe[1][1].conv2[0].weight) in ids and id(model.fusers["flair"].weight) in ids
    model.train()
    assert not model.primary.training and model.branches["t2"].training


def _loader(n: int = 2):
    g = torch.Generator().manual_seed(3)
    items = [{**{m: torch.randn(*SHAPE, generator=g) for m in MODS}, "label": i % 2} for i in range(n)]
    return DataLoader(items, batch_size=2)


def test_two_stage_training_runs_and_resumes(tmp_path):
    model = small_model(secondary=("t2", "flair"))
    loader = _loader()
    h1 = train_stage1(model, loader, counts=[1, 1], max_epochs=1, lr=1e-3, device="cpu", progress=False,
                      checkpoint_path=tmp_path / "s1.pt", seed=0)
    assert len(h1.epochs) == 1 and (tmp_path / "s1.pt").exists()
    primary_before = {k: v.clone() for k, v in model.primary.state_dict().items()}
    h2 = train_stage2(model, loader, counts=[1, 1], max_epochs=2, lr=1e-3, device="cpu", progress=False,
                      checkpoint_path=tmp_path / "s2.pt", seed=0)
    assert [r["epoch"] for r in h2.epochs] == [1, 2] and "train_flair" in h2.epochs[0]
    for k, v in model.primary.state_dict().items():  # frozen: weights and BN statistics unchanged
        assert torch.equal(v, primary_before[k]), k
    trained = model.branches["t2"].lfe[0][0].weight.detach().clone()
    assert not torch.equal(trained, model.primary.stem[0].weight)
    # Starting stage 2 again resumes: the checkpoint's stage-2 weights replace the fresh copy of the SFE.
    again = train_stage2(model, loader, counts=[1, 1], max_epochs=2, lr=1e-3, device="cpu", progress=False,
                         checkpoint_path=tmp_path / "s2.pt", seed=0)
    assert [r["epoch"] for r in again.epochs] == [1, 2]
    assert torch.equal(model.branches["t2"].lfe[0][0].weight, trained)
    preds = predict(model, loader, device="cpu",
                    forward=lambda model, batch, device: {**head_probabilities(model, batch, device), "label": batch["label"]})
    assert head_names(model) == ["t1ce", "t1ce+t2", "t1ce+t2+flair"]
    assert preds["t1ce+t2+flair"].shape == (2,) and ((preds["t1ce+t2+flair"] >= 0) & (preds["t1ce+t2+flair"] <= 1)).all()
    assert preds["label"].tolist() == [0, 1]
    with torch.no_grad():  # the last head is the model's prediction, G(t_M)
        fused = torch.softmax(model.eval()(next(iter(loader)))["fused"], dim=1)[:, 1]
    assert np.allclose(preds["t1ce+t2+flair"], fused.numpy(), atol=1e-6)
    assert not np.allclose(preds["t1ce"], preds["t1ce+t2+flair"])


def test_stage2_needs_a_secondary_modality():
    with pytest.raises(ParameterError):
        train_stage2(small_model(secondary=()), _loader(), counts=[1, 1], max_epochs=1, device="cpu", progress=False)


def test_separate_heads_start_as_copies_of_the_primary_head():
    model = small_model(secondary=("t2",), shared_head=False)
    with torch.no_grad():
        model.primary.fc[1].weight.add_(1.0)
    model.copy_primary_blocks()
    assert torch.equal(model.heads["t2"][1].weight, model.primary.fc[1].weight)
    assert model.heads["t2"][1].weight.data_ptr() != model.primary.fc[1].weight.data_ptr()
    assert model.eval()(volumes(mods=("t1ce", "t2")))["fused"].shape == (2, 2)
