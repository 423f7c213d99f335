"""Tests for mmlib.train: the loop, checkpoints (atomic, resumable, validated) and precision."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlib.errors import DataError, ParameterError
from mmlib.train import (
    History,
    autocast_context,
    fit,
    load_checkpoint,
    predict,
    resolve_precision,
    save_checkpoint,
)

CPU = torch.device("cpu")


def make_data(n: int = 96, seed: int = 0) -> TensorDataset:
    """A learnable regression problem: y = tanh(x . w / 2) + small noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, 1, generator=g)
    y = torch.tanh(x @ w / 2) + 0.05 * torch.randn(n, 1, generator=g)
    return TensorDataset(x, y)


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1))


def make_loader(dataset: TensorDataset | None = None, batch_size: int = 16) -> DataLoader:
    return DataLoader(dataset or make_data(), batch_size=batch_size, shuffle=True)


def mse_loss(model, batch, device):
    x, y = (t.to(device) for t in batch)
    return nn.functional.mse_loss(model(x), y)


def val_mse(dataset: TensorDataset):
    def val_fn(model):
        x, y = dataset.tensors
        return {"mse": float(nn.functional.mse_loss(model(x), y))}

    return val_fn


def train(model=None, *, max_epochs=4, seed=0, lr=1e-2, make_scheduler=None, **kwargs) -> tuple[nn.Module, History]:
    model = model or make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if make_scheduler is not None:
        kwargs["scheduler"] = make_scheduler(optimizer)
    kwargs.setdefault("loss_fn", mse_loss)
    history = fit(model, kwargs.pop("loader", None) or make_loader(), optimizer=optimizer, max_epochs=max_epochs,
                  device="cpu", seed=seed, progress=False, **kwargs)
    return model, history


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


# --- the loop -----------------------------------------------------------------------------------


def test_loss_decreases_on_a_learnable_problem():
    _, history = train(max_epochs=15)
    losses = history.to_frame()["train_loss"].to_numpy()
    assert losses[-1] < 0.5 * losses[0]
    assert list(history.to_frame()["epoch"]) == list(range(1, 16))


def test_history_records_extra_loss_terms_and_val_metrics():
    data = make_data(seed=1)

    def two_term_loss(model, batch, device):
        x, y = batch
        pred = model(x)
        l_mse, l_abs = nn.functional.mse_loss(pred, y), nn.functional.l1_loss(pred, y)
        return {"loss": l_mse + 0.5 * l_abs, "mse": l_mse, "l1": l_abs}

    _, history = train(max_epochs=2, loss_fn=two_term_loss, val_fn=val_mse(data))
    frame = history.to_frame()
    assert {"epoch", "train_loss", "train_mse", "train_l1", "val_mse", "lr", "seconds"} <= set(frame.columns)
    # the logged total is the mean of the per-batch totals, so it matches the terms it is made of
    np.testing.assert_allclose(frame["train_loss"], frame["train_mse"] + 0.5 * frame["train_l1"], rtol=1e-5)
    assert (frame["val_mse"] > 0).all()


def test_val_fn_runs_in_eval_mode_without_gradients():
    seen = []

    def val_fn(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {"one": 1.0}

    train(max_epochs=2, val_fn=val_fn)
    assert seen == [(False, False), (False, False)]


def test_same_seed_gives_identical_weights_on_cpu():
    a, ha = train(make_model(3), seed=11)
    b, hb = train(make_model(3), seed=11)
    assert_same_weights(a, b)
    assert ha.to_frame()["train_loss"].tolist() == hb.to_frame()["train_loss"].tolist()
    c, _ = train(make_model(3), seed=12)  # another seed shuffles and drops out differently
    assert not torch.equal(weights(a)["0.weight"], weights(c)["0.weight"])


def drop_lr_at_epoch_3(optimizer):
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[3], gamma=0.1)


def test_resume_after_kill_continues_and_matches_uninterrupted_run(tmp_path):
    full, full_history = train(make_model(), max_epochs=4, checkpoint_path=tmp_path / "full.pt",
                               make_scheduler=drop_lr_at_epoch_3)
    assert full_history.to_frame()["lr"].tolist() == pytest.approx([1e-2, 1e-2, 1e-2, 1e-3])

    def kill_after_epoch_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    ckpt = tmp_path / "killed.pt"
    with pytest.raises(KeyboardInterrupt):
        train(make_model(), max_epochs=4, checkpoint_path=ckpt, on_epoch_end=kill_after_epoch_2,
              make_scheduler=drop_lr_at_epoch_3)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2

    ran = []
    resumed, history = train(make_model(seed=99), max_epochs=4, checkpoint_path=ckpt,
                             on_epoch_end=lambda r: ran.append(r["epoch"]), make_scheduler=drop_lr_at_epoch_3)
    assert ran == [3, 4]
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3, 4]
    assert_same_weights(resumed, full)
    assert history.to_frame()["lr"].tolist() == full_history.to_frame()["lr"].tolist()
    assert history.to_frame()["train_loss"].tolist() == full_history.to_frame()["train_loss"].tolist()


def test_resume_reproduces_monai_random_transforms(tmp_path):
    from monai.data import DataLoader as MonaiLoader, Dataset
    from monai.transforms import RandGaussianNoised

    x, y = make_data().tensors
    dataset = Dataset([{"x": xi, "y": yi} for xi, yi in zip(x, y)], transform=RandGaussianNoised("x", prob=1.0))

    def dict_loss(model, batch, device):
        return nn.functional.mse_loss(model(torch.as_tensor(batch["x"])), torch.as_tensor(batch["y"]))

    def run(ckpt, kill_at=None):
        def kill(record):
            if record["epoch"] == kill_at:
                raise KeyboardInterrupt

        model = make_model()
        train(model, max_epochs=3, loss_fn=dict_loss, loader=MonaiLoader(dataset, batch_size=16, shuffle=True),
              checkpoint_path=ckpt, on_epoch_end=kill)
        return model

    full = run(tmp_path / "full.pt")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed.pt", kill_at=1)
    assert_same_weights(run(tmp_path / "killed.pt"), full)


def test_finished_run_returns_at_once_with_its_history(tmp_path):
    ckpt = tmp_path / "run.pt"
    done, first = train(max_epochs=2, checkpoint_path=ckpt)
    ran = []
    again, second = train(make_model(seed=5), max_epochs=2, checkpoint_path=ckpt,
                          on_epoch_end=lambda r: ran.append(r["epoch"]))
    assert ran == []
    assert second.epochs == first.epochs
    assert_same_weights(again, done)


def test_resume_false_starts_over(tmp_path):
    ckpt = tmp_path / "run.pt"
    train(max_epochs=2, checkpoint_path=ckpt)
    ran = []
    train(max_epochs=2, checkpoint_path=ckpt, resume=False, on_epoch_end=lambda r: ran.append(r["epoch"]))
    assert ran == [1, 2]


def test_nan_loss_names_epoch_and_batch_and_writes_no_checkpoint(tmp_path):
    calls = {"n": 0}

    def loss_going_nan(model, batch, device):
        calls["n"] += 1
        loss = mse_loss(model, batch, device)
        return loss * float("nan") if calls["n"] == 6 + 3 else loss  # 6 batches per epoch: epoch 2, batch 2

    ckpt = tmp_path / "run.pt"
    with pytest.raises(RuntimeError, match=r"epoch 2, batch 2"):
        train(max_epochs=3, loss_fn=loss_going_nan, checkpoint_path=ckpt)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1


def test_best_checkpoint_tracks_best_validation_metric(tmp_path):
    scores = iter([0.5, 0.9, 0.7, 0.9])  # epoch 2 is best; the tie at epoch 4 keeps epoch 2
    snapshots = {}
    ckpt = tmp_path / "fold-0" / "last.pt"
    model = make_model()
    _, history = train(model, max_epochs=4, checkpoint_path=ckpt, val_fn=lambda m: {"auc": next(scores)},
                           select_on="auc", select_mode="max",
                           on_epoch_end=lambda r: snapshots.__setitem__(r["epoch"], copy.deepcopy(model)))
    assert (history.best_epoch, history.best_value) == (2, 0.9)
    assert history.best_path == ckpt.with_name("best.pt")
    best = make_model(seed=7)
    state = load_checkpoint(history.best_path, model=best)
    assert state["epoch"] == 2
    assert_same_weights(best, snapshots[2])


def test_best_selection_minimises_and_survives_resume(tmp_path):
    values = {1: 3.0, 2: 1.0, 3: 2.0, 4: 1.5}  # epoch 2 stays best after the resume
    ckpt = tmp_path / "last.pt"

    def stop_after_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    def val_from(first_epoch):
        epochs = iter(range(first_epoch, 5))
        return lambda model: {"loss": values[next(epochs)]}

    kwargs = dict(checkpoint_path=ckpt, select_on="loss", select_mode="min", max_epochs=4)
    with pytest.raises(KeyboardInterrupt):
        train(val_fn=val_from(1), on_epoch_end=stop_after_2, **kwargs)
    assert load_checkpoint(ckpt.with_name("best.pt"), model=make_model())["epoch"] == 2
    _, history = train(val_fn=val_from(3), **kwargs)
    assert (history.best_epoch, history.best_value) == (2, 1.0)
    assert load_checkpoint(ckpt.with_name("best.pt"), model=make_model())["epoch"] == 2


@pytest.mark.parametrize("grad_clip", [1e-3, None])
def test_grad_clip_bounds_the_update(grad_clip):
    model = make_model()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    one_batch = DataLoader(make_data(), batch_size=96)
    fit(model, one_batch, loss_fn=mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=1.0), max_epochs=1,
        device="cpu", grad_clip=grad_clip, progress=False)
    step = float(torch.linalg.vector_norm(torch.cat([p.detach().flatten() for p in model.parameters()]) - before))
    assert step <= 1e-3 * 1.0001 if grad_clip else step > 1e-2  # SGD with lr 1 moves by the (clipped) gradient


def test_bad_arguments_are_parameter_errors():
    with pytest.raises(ParameterError, match="max_epochs"):
        train(max_epochs=0)
    with pytest.raises(ParameterError, match="grad_clip"):
        train(grad_clip=-1.0)
    with pytest.raises(ParameterError, match="val_fn"):
        train(select_on="auc")
    with pytest.raises(ParameterError, match="select_mode"):
        train(select_mode="best", val_fn=lambda m: {})
    with pytest.raises(ParameterError, match=r"select_on='auc' is not among .*\['mse'\]"):
        train(select_on="auc", val_fn=val_mse(make_data()))
    with pytest.raises(ParameterError, match="scalar"):
        train(loss_fn=lambda m, b, d: m(b[0]))  # per-sample losses, not reduced
    with pytest.raises(ParameterError, match="'loss' key"):
        train(loss_fn=lambda m, b, d: {"mse": mse_loss(m, b, d)})


def test_progress_bars_show_epochs_and_loss(capsys):
    model = make_model()
    fit(model, make_loader(), loss_fn=mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        max_epochs=2, device="cpu", progress=True)
    err = capsys.readouterr().err
    assert "epochs" in err and "2/2" in err and "train_loss" in err
    fit(model, make_loader(), loss_fn=mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        max_epochs=1, device="cpu", progress=False)
    assert capsys.readouterr().err == ""


# --- checkpoints --------------------------------------------------------------------------------


def test_checkpoint_write_is_atomic_when_save_fails(tmp_path, monkeypatch):
    ckpt = tmp_path / "run.pt"
    train(max_epochs=1, checkpoint_path=ckpt)
    before = ckpt.read_bytes()

    def save_half_then_fail(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(before[: len(before) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        train(max_epochs=2, checkpoint_path=ckpt)
    assert ckpt.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(ckpt, model=make_model())["epoch"] == 1


def test_truncated_checkpoint_is_a_data_error_naming_the_file(tmp_path):
    ckpt = tmp_path / "run.pt"
    train(max_epochs=1, checkpoint_path=ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(DataError, match=r"run\.pt.*(truncated|corrupt)"):
        load_checkpoint(ckpt, model=make_model())
    with pytest.raises(DataError, match=r"run\.pt"):  # fit refuses to silently start over
        train(max_epochs=2, checkpoint_path=ckpt)


def test_garbage_and_missing_checkpoints_are_data_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="garbage.pt"):
        load_checkpoint(garbage, model=make_model())
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(DataError, match="foreign.pt: not an mmlib checkpoint"):
        load_checkpoint(foreign, model=make_model())
    with pytest.raises(DataError, match="absent.pt: checkpoint file does not exist"):
        load_checkpoint(tmp_path / "absent.pt", model=make_model())


def test_state_dict_mismatch_names_the_keys_and_leaves_the_model_alone(tmp_path):
    ckpt = tmp_path / "run.pt"
    save_checkpoint(ckpt, model=make_model(), optimizer=None, epoch=1, history=[])
    other = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    before = weights(other)
    with pytest.raises(DataError, match=r"run\.pt: .*missing keys \[2\.weight, 2\.bias\]; "
                                        r"unexpected keys \[3\.weight, 3\.bias\]"):
        load_checkpoint(ckpt, model=other)
    narrower = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
    with pytest.raises(DataError, match=r"run\.pt: .*shape mismatch \[0\.weight \(32, 8\) vs model \(16, 8\)"):
        load_checkpoint(ckpt, model=narrower)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_weights_only_checkpoint_cannot_resume_an_optimizer(tmp_path):
    ckpt = tmp_path / "best.pt"
    model = make_model()
    save_checkpoint(ckpt, model=model, optimizer=None, epoch=3, history=[{"epoch": 3}])
    with pytest.raises(DataError, match="no optimizer state"):
        load_checkpoint(ckpt, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


# --- precision ----------------------------------------------------------------------------------


def test_bf16_on_cpu_gives_close_but_not_identical_losses():
    _, fp32 = train(max_epochs=3, precision="fp32")
    _, bf16 = train(max_epochs=3, precision="bf16")
    a, b = fp32.to_frame()["train_loss"].to_numpy(), bf16.to_frame()["train_loss"].to_numpy()
    np.testing.assert_allclose(b, a, rtol=0.05)
    assert not np.array_equal(a, b)


def test_autocast_context_uses_the_requested_dtype():
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast_context(CPU, "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast_context(CPU, "fp32"):
        assert layer(x).dtype == torch.float32


def test_amp_on_cpu_and_unknown_precision_are_parameter_errors():
    with pytest.raises(ParameterError, match="CUDA"):
        autocast_context(CPU, "amp")
    with pytest.raises(ParameterError, match="CUDA"):
        train(precision="amp")
    with pytest.raises(ParameterError, match="fp16"):
        resolve_precision("fp16", CPU)


def test_auto_precision_is_amp_on_cuda_and_fp32_on_cpu():
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "amp"
    assert resolve_precision("bf16", CPU) == "bf16"


# --- predict ------------------------------------------------------------------------------------


def test_predict_concatenates_outputs_per_key_in_order():
    data = make_data(n=37)
    model = make_model()
    loader = DataLoader(data, batch_size=8, shuffle=False)

    def forward(model, batch, device):
        x, y = batch
        return {"pred": model(x.to(device)), "target": y, "index": torch.arange(len(x))}

    out = predict(model, loader, device="cpu", forward=forward)
    assert set(out) == {"pred", "target", "index"}
    assert out["pred"].shape == (37, 1) and out["pred"].dtype == np.float32
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(out["pred"], model(data.tensors[0]).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(out["target"], data.tensors[1].numpy())
    default = predict(model, loader, device="cpu")
    np.testing.assert_allclose(default["output"], out["pred"], rtol=1e-6)
    assert not model.training


def test_predict_in_bf16_returns_float32_close_to_fp32():
    model = make_model()
    loader = DataLoader(make_data(n=16), batch_size=8)
    fp32 = predict(model, loader, device="cpu")["output"]
    bf16 = predict(model, loader, device="cpu", precision="bf16")["output"]
    assert bf16.dtype == np.float32
    assert math.isclose(float(np.abs(bf16 - fp32).max()), 0.0, abs_tol=0.1)
