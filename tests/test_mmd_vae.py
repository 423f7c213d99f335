"""MMD-VAE on radiomics features (Table VIII baseline): MMD, training, real BraTS 2017 tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.mmd_vae import MMDVAE, fit_mmd_vae, predict_proba, rbf_mmd


def test_mmd_identical_zero_shifted_positive():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 4, generator=g)
    b = torch.randn(200, 4, generator=g)
    assert abs(float(rbf_mmd(a, a))) < 1e-6
    same = float(rbf_mmd(a, b))
    shifted = float(rbf_mmd(a, b + 1.5))
    assert shifted > 0.05 and shifted > 10 * same
    with pytest.raises(ParameterError):
        rbf_mmd(a, b[:, :3])


def _toy(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    xs = [rng.normal(size=(n, d)) + y[:, None] * shift for d, shift in ((10, 1.0), (6, 0.5), (8, 0.0))]
    return xs, y


def test_training_decreases_loss_and_separates_classes():
    xs, y = _toy()
    torch.manual_seed(0)
    model = MMDVAE([10, 6, 8], shared_dim=4, specific_dim=2, hidden=16)
    history = fit_mmd_vae(model, xs, y, epochs=150, lr=1e-2, seed=0)
    assert history[-1] < 0.7 * history[0]
    prob = predict_proba(model, xs)
    assert prob.shape == (60, 2) and np.allclose(prob.sum(1), 1, atol=1e-5)
    assert ((prob[:, 1] > 0.5) == y).mean() > 0.8


def test_loss_terms_and_latent_shapes():
    xs, y = _toy(20)
    model = MMDVAE([10, 6, 8], shared_dim=3, specific_dim=2)
    t = [torch.as_tensor(x, dtype=torch.float32) for x in xs]
    shared, specific = model.encode(t)
    assert [s.shape for s in shared] == [(20, 3)] * 3 and [p.shape for p in specific] == [(20, 2)] * 3
    terms = model.losses(t, torch.as_tensor(y), torch.nn.CrossEntropyLoss())
    assert set(terms) == {"loss", "recon", "mmd", "shared", "cls"}
    assert torch.allclose(terms["loss"], terms["recon"] + terms["mmd"] + terms["shared"] + terms["cls"])
    assert model(t).shape == (20, 2)


def test_bad_inputs():
    xs, y = _toy(10)
    model = MMDVAE([10, 6, 8])
    with pytest.raises(DataError, match="group 1"):
        model([torch.zeros(10, 10), torch.zeros(10, 5), torch.zeros(10, 8)])
    with pytest.raises(DataError, match="3 feature groups"):
        model([torch.zeros(10, 10)])
    xs[0][0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit_mmd_vae(model, xs, y, epochs=1)


def test_real_brats2017_radiomics(real_data_root):
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    from mmlib.data.radiomics import load_brats_radiomics

    features, grade, groups = load_brats_radiomics(real_data_root("brats2017-radiomics"))
    y = grade.to_numpy()
    assert set(groups) == {"t1ce_label1", "t1ce_label4", "flair_label2"}
    # A case without a tumour region has an all-NaN row in that table: mean-impute (training-set fit only here).
    xs = [StandardScaler().fit_transform(SimpleImputer().fit_transform(features[cols])) for cols in groups.values()]
    torch.manual_seed(0)
    model = MMDVAE([x.shape[1] for x in xs], hidden=32)
    counts = np.bincount(y)
    history = fit_mmd_vae(model, xs, y, epochs=40, lr=1e-3, class_weight=1 - counts / counts.sum(), seed=0)
    assert history[-1] < history[0]
    prob = predict_proba(model, xs)[:, 1]
    # training-set fit only (no held-out claim): HGG cases score higher than LGG on average
    assert prob[y == 1].mean() > prob[y == 0].mean()
