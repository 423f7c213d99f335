"""MMD-VAE on radiomics features: the guidance paper's Table VIII baseline (its ref. [22]).

Cheng et al. 2021 ("Multimodal disentangled variational autoencoder ... for
glioma grading") encode each modality's radiomics features into a *shared*
latent (what the modalities have in common) and a *specific* latent (what only
that modality carries), and classify from both. Reimplemented from that
description, small enough for a CPU (hand-written: no library ships it):

* Encoder per feature group m (an MLP): ``x_m -> (z_shared^m, z_specific^m)``
  (deterministic codes, as in the MMD-VAE of Zhao et al.'s InfoVAE, where the
  prior is matched on the aggregate codes, so no per-sample variance is needed).
* Decoder per group: ``[z_shared^m, z_specific^m] -> x_m``; loss = mean squared error.
* Prior matching by the maximum mean discrepancy (RBF kernel) between the codes
  and samples of N(0, I), instead of the KL term of a standard VAE.
* Shared-latent agreement: mean squared distance of each ``z_shared^m`` to their mean.
* Classifier (Dropout + Linear) on ``[mean_m z_shared^m, z_specific^1, ..., z_specific^M]``,
  trained with (optionally class-weighted) cross-entropy.

The feature groups of the real data are the BraTS 2017 radiomics tables: T1ce
label 1, T1ce label 4 and FLAIR label 2 (``brats2017-radiomics``); the inputs
should be standardised with training-fold statistics by the caller.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from mmlib.errors import DataError, ParameterError


def rbf_mmd(x: torch.Tensor, y: torch.Tensor, sigma2: float | None = None) -> torch.Tensor:
    """Squared MMD between samples ``x (n, d)`` and ``y (m, d)`` with an RBF kernel (biased V-statistic).

    ``k(a, b) = exp(-|a - b|^2 / (2 sigma2))``; ``sigma2`` defaults to ``d``.
    Zero for identical samples, positive when the distributions differ.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ParameterError(f"need (n, d) and (m, d) samples, got {tuple(x.shape)} and {tuple(y.shape)}")
    sigma2 = float(x.shape[1]) if sigma2 is None else sigma2

    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * sigma2))

    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class MMDVAE(nn.Module):
    """Multi-modal disentangling autoencoder with MMD prior matching (Table VIII, "MMD-VAE").

    Parameters
    ----------
    input_dims
        Number of features of each group (modality / tumour region).
    shared_dim, specific_dim, hidden
        Latent sizes and the hidden width of the encoders and decoders.
    """

    def __init__(self, input_dims: Sequence[int], shared_dim: int = 8, specific_dim: int = 4, hidden: int = 64,
                 num_classes: int = 2, dropout: float = 0.5):
        super().__init__()
        if not input_dims or min(input_dims) < 1 or shared_dim < 1 or specific_dim < 1:
            raise ParameterError(f"need positive input_dims, shared_dim and specific_dim, got {input_dims}, {shared_dim}, {specific_dim}")
        self.input_dims, self.shared_dim, self.specific_dim = tuple(input_dims), shared_dim, specific_dim
        latent = shared_dim + specific_dim
        self.encoders = nn.ModuleList(_mlp(d, hidden, latent) for d in input_dims)
        self.decoders = nn.ModuleList(_mlp(latent, hidden, d) for d in input_dims)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(shared_dim + len(input_dims) * specific_dim, num_classes))

    def _check(self, xs: Sequence[torch.Tensor]) -> None:
        if len(xs) != len(self.input_dims):
            raise DataError("radiomics features", f"expected {len(self.input_dims)} feature groups, got {len(xs)}")
        for i, (x, d) in enumerate(zip(xs, self.input_dims)):
            if x.ndim != 2 or x.shape[1] != d or x.shape[0] != xs[0].shape[0]:
                raise DataError(f"radiomics feature group {i}", f"expected ({xs[0].shape[0]}, {d}), got {tuple(x.shape)}")

    def encode(self, xs: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Shared and specific codes, one ``(n, dim)`` tensor per group each."""
        self._check(xs)
        codes = [enc(x) for enc, x in zip(self.encoders, xs)]
        return [c[:, :self.shared_dim] for c in codes], [c[:, self.shared_dim:] for c in codes]

    def classify(self, shared: list[torch.Tensor], specific: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(torch.cat([torch.stack(shared).mean(0), *specific], dim=1))

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class logits ``(n, num_classes)``."""
        return self.classify(*self.encode(xs))

    def losses(self, xs: Sequence[torch.Tensor], y: torch.Tensor, criterion: nn.Module, *, mmd_weight: float = 1.0,
               shared_weight: float = 1.0, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``{"loss", "recon", "mmd", "shared", "cls"}``: loss = recon + mmd_w mmd + shared_w shared + cls."""
        shared, specific = self.encode(xs)
        recon = sum(nn.functional.mse_loss(dec(torch.cat([s, p], 1)), x)
                    for dec, s, p, x in zip(self.decoders, shared, specific, xs)) / len(xs)
        codes = torch.cat([torch.cat([s, p], 1) for s, p in zip(shared, specific)], 0)
        prior = torch.randn(codes.shape, generator=generator).to(codes.device)
        mmd = rbf_mmd(codes, prior)
        mean_shared = torch.stack(shared).mean(0)
        agree = sum(((s - mean_shared) ** 2).sum(1).mean() for s in shared) / len(shared)
        cls = criterion(self.classify(shared, specific), y)
        return {"loss": recon + mmd_weight * mmd + shared_weight * agree + cls, "recon": recon, "mmd": mmd, "shared": agree, "cls": cls}


def fit_mmd_vae(model: MMDVAE, xs: Sequence[np.ndarray], y: np.ndarray, *, epochs: int = 200, lr: float = 1e-3,
                weight_decay: float = 1e-4, class_weight: Sequence[float] | None = None, seed: int = 0,
                **loss_kwargs) -> list[float]:
    """Full-batch Adam training on CPU; returns the total loss per epoch.

    ``class_weight`` (e.g. :func:`mmlib.papers.guidance.training.class_weights`) weights
    the cross-entropy; ``seed`` seeds dropout and the prior samples of the MMD term.
    """
    if epochs < 1:
        raise ParameterError(f"epochs must be >= 1, got {epochs}")
    xs_t = [torch.tensor(np.asarray(x, dtype=np.float32)) for x in xs]
    y_t = torch.tensor(np.asarray(y, dtype=np.int64))
    if any(not torch.isfinite(x).all() for x in xs_t):
        raise DataError("radiomics features", "contain NaN or infinite values (impute or drop them first)")
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    criterion = nn.CrossEntropyLoss(weight=weight)
    torch.manual_seed(seed)  # dropout
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = model.losses(xs_t, y_t, criterion, generator=generator, **loss_kwargs)["loss"]
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    return history


def predict_proba(model: MMDVAE, xs: Sequence[np.ndarray]) -> np.ndarray:
    """Class probabilities ``(n, num_classes)`` in eval mode."""
    model.eval()
    with torch.no_grad():
        logits = model([torch.tensor(np.asarray(x, dtype=np.float32)) for x in xs])
    return torch.softmax(logits, dim=1).numpy()
