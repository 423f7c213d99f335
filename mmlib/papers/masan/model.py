"""The MASAN model (Fig. 1): patch autoencoders, region self-attention, T1-guided fusion and an MLP.

:class:`MASAN` (paired T1 + fMRI):

1. sPM (:class:`~mmlib.papers.masan.autoencoders.PatchAutoencoders`) on the T1
   volume and fPM (:class:`~mmlib.papers.masan.autoencoders.FunctionalPatchModule`)
   on the fMRI window, both on the same patch grid (4x4x4), so patch ``j`` of
   the T1 and of the EPI volume cover the same part of the field of view;
2. at each of the three encoder levels (the "multiscale" features), every
   patch's feature map averaged to one vector: ``(B, c_l, R)`` region features;
3. region self-attention (Eqs. 3-5) per level and modality;
4. T1-guided fusion (Eq. 6) per level (or element-wise addition, Fig. 3);
5. the three fused levels concatenated, flattened and classified by an MLP
   (Sec. 2.3: Dropout, Linear, ReLU, Dropout, Linear to two logits; softmax in
   the loss, Eq. 7).

:class:`SingleBranchMASAN` is the same pipeline with one branch and no fusion:
the structural branch on 2-D slices (OASIS) or the functional branch on region
time series (ABIDE). ``forward`` returns a dict: ``logits``, ``recon``,
``codes`` (per branch) and ``maps`` (attention weights for the figures).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.masan.attention import RegionSelfAttention, T1GuidedFusion
from mmlib.papers.masan.autoencoders import FunctionalPatchModule, PatchAutoencoders


def mlp_classifier(in_features: int, hidden: int, dropout: float, num_classes: int = 2,
                   batch_norm: bool = True) -> nn.Sequential:
    """Sec. 2.3's MLP: [BatchNorm], Dropout, Linear, ReLU, Dropout, Linear (two logits).

    ``batch_norm`` standardises every embedding feature over the batch before
    the MLP (this book's addition, measured in the method chapter: the region
    features of subjects who share one anatomy differ by little against their
    common value, and without it the classifier did not leave chance on the
    development phantoms).
    """
    if hidden < 1 or not 0.0 <= dropout < 1.0:
        raise ParameterError(f"hidden={hidden} must be >= 1 and dropout={dropout} in [0, 1)")
    norm = [nn.BatchNorm1d(in_features)] if batch_norm else []
    return nn.Sequential(*norm, nn.Dropout(dropout), nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, num_classes))


class _Branch(nn.Module):
    """One modality: its patch autoencoders and a region self-attention per level."""

    def __init__(self, encoder: nn.Module, residual: bool = True):
        super().__init__()
        self.encoder = encoder
        self.attention = nn.ModuleList(RegionSelfAttention(c, residual=residual) for c in encoder.level_channels)

    def forward(self, x: torch.Tensor) -> tuple[dict, list[torch.Tensor], list[torch.Tensor]]:
        out = self.encoder(x)
        regions, weights = [], []
        for level, attention in zip(out["levels"], self.attention):
            r, w = attention(self.encoder.regions(level))
            regions.append(r)
            weights.append(w)
        return out, regions, weights


class MASAN(nn.Module):
    """MASAN on paired T1 ``(B, 1, *t1_spatial)`` and fMRI ``(B, window, *epi_spatial)`` (module docstring).

    ``grid``: the patch grid of both modalities (the paper's 4x4x4);
    ``channels``: sPM / fPM widths (:func:`~mmlib.papers.masan.autoencoders.scaled_channels`);
    ``fusion``: ``"attention"`` (Eq. 6) or ``"add"`` (Fig. 3's alternative);
    ``reading``: the fPM's reading of "time added".
    """

    def __init__(self, grid: Sequence[int] = (4, 4, 4), window: int = 48, channels: Sequence[int] = (4, 8, 16, 16),
                 fusion: str = "attention", reading: str = "channels", hidden: int = 64, dropout: float = 0.5,
                 residual: bool = True, batch_norm: bool = True):
        super().__init__()
        grid = tuple(grid)
        self.t1 = _Branch(PatchAutoencoders(grid, 1, channels, len(grid)), residual)
        self.fmri = _Branch(FunctionalPatchModule(grid, window, channels, reading, len(grid)), residual)
        levels = self.t1.encoder.level_channels
        self.fusion = nn.ModuleList(T1GuidedFusion(c, grid, fusion) for c in levels)
        self.grid, self.fusion_kind = grid, fusion
        self.classifier = mlp_classifier(sum(levels) * self.t1.encoder.n, hidden, dropout, batch_norm=batch_norm)

    def forward(self, t1: torch.Tensor, fmri: torch.Tensor) -> dict:
        if t1.shape[0] != fmri.shape[0]:
            raise DataError("batch", f"{t1.shape[0]} T1 volumes but {fmri.shape[0]} fMRI series: pairs must match")
        s_out, s_regions, s_weights = self.t1(t1)
        f_out, f_regions, f_weights = self.fmri(fmri)
        fused, spatial, channel = [], [], []
        for fusion, s, f in zip(self.fusion, s_regions, f_regions):
            x, maps = fusion(s, f)
            fused.append(x)
            if maps:
                spatial.append(maps["spatial"])
                channel.append(maps["channel"])
        embedding = torch.cat(fused, dim=1)  # (B, sum c_l, R): the fusion embedding (Fig. 4)
        return {"logits": self.classifier(embedding.flatten(1)), "embedding": embedding,
                "recon": {"t1": s_out["recon"], "fmri": f_out["recon"]},
                "codes": {"t1": s_out["codes"], "fmri": f_out["codes"]},
                "maps": {"self_t1": s_weights, "self_fmri": f_weights, "spatial": spatial, "channel": channel}}


class SingleBranchMASAN(nn.Module):
    """One branch of MASAN, no fusion: patch autoencoders, region self-attention per level, MLP.

    ``spatial_dims=2`` with ``in_channels`` image channels on a ``grid`` of 2-D
    patches (OASIS: three views as channels, 4x4 grid); ``spatial_dims=1`` with
    one channel and ``grid=(n_regions,)`` is one temporal autoencoder per
    region (ABIDE: ``forward`` takes ``(B, 1, n_regions * window)``, region
    ``j``'s window at ``j*window .. (j+1)*window - 1``).
    """

    def __init__(self, grid: Sequence[int], in_channels: int = 1, channels: Sequence[int] = (4, 8, 16, 16),
                 hidden: int = 64, dropout: float = 0.5, residual: bool = True, batch_norm: bool = True):
        super().__init__()
        grid = tuple(grid)
        self.branch = _Branch(PatchAutoencoders(grid, in_channels, channels, len(grid)), residual)
        self.grid = grid
        self.classifier = mlp_classifier(sum(self.branch.encoder.level_channels) * self.branch.encoder.n, hidden, dropout,
                                         batch_norm=batch_norm)

    def forward(self, x: torch.Tensor) -> dict:
        out, regions, weights = self.branch(x)
        embedding = torch.cat(regions, dim=1)
        return {"logits": self.classifier(embedding.flatten(1)), "embedding": embedding,
                "recon": {"x": out["recon"]}, "codes": {"x": out["codes"]}, "maps": {"self": weights}}
