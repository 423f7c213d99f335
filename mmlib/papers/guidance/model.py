"""The cross-modality guidance-aided model (paper Sec. III-C, Fig. 2, Eqs. 3-5).

* The primary modality (T1ce) goes through the SFE (RMC blocks 1-5) and dual
  attention, giving ``f_p``; the classification head G (pool, Dropout, Linear)
  predicts from it. This primary path *is* a :class:`~mmlib.papers.guidance.rmc.DARMC`
  (``model.primary``), which stage 1 of Algorithm 1 trains alone.
* Each secondary modality i, in priority order, goes through its own LFE
  (blocks 1-3) giving ``f_s,i^l``. The primary ``f_p`` is upsampled
  (trilinear) to the size of ``f_s,i^l`` and concatenated with it; a 1x1x1
  conv (Fig. 2: "a 1x1 convolution after each feature concatenation")
  brings the channels back to the LFE width, so the secondary HFE (blocks 4-5,
  copied from the SFE) takes it; dual attention gives ``f_s,i``.
* Cumulative fusion (Eqs. 4-5): ``t_1 = T({f_p, f_s,1})``,
  ``t_i = T({t_{i-1}, f_s,i})``, where ``{,}`` is channel concatenation and T a
  1x1x1 conv (one per step) back to the SFE width, so G applies to every
  ``t_i``.

Readings of what the paper leaves open (the chapter states them):

* **One head.** Eqs. 1 and 3 apply the same G to ``f_p`` and every ``t_i``,
  and Algorithm 1 outputs one set of classifier parameters, so the head is
  shared by default; ``shared_head=False`` gives each ``t_i`` its own head.
* **Final prediction.** ``fused`` = G(t_M), the last cumulative fusion, which
  has seen every modality (with no secondary modality: the primary logits).
* **1x1 conv initialisation.** The guidance conv starts as the identity on the
  low-level channels and zero on the guidance channels; each T starts as the
  mean of its two inputs. Stage 2 therefore starts from the stage-1 network
  applied to each secondary modality (the paper does not say how they start).
* **Dual attention** follows the SFE and each HFE (Fig. 2); the secondary
  attention modules start fresh (zero gammas = identity), as Algorithm 1
  copies only the CNN blocks.
* **Missing modalities.** A model is built for one set of secondary modalities
  (Table VII trains one model per subset). An input dict missing one of them
  raises :class:`~mmlib.errors.DataError` naming it; extra modalities in the
  dict are ignored. Different volume shapes raise a DataError naming them.
"""

from __future__ import annotations

import copy
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmlib.errors import ParameterError
from mmlib.nets.attention import DualAttention3d
from mmlib.papers.guidance.rmc import DARMC, check_modalities, check_volume


def _identity_init(conv: nn.Conv3d, blocks: Sequence[float]) -> None:
    """Set a 1x1x1 conv (C_out, k*C_out) to ``[b_1 I, b_2 I, ...]`` with zero bias."""
    with torch.no_grad():
        conv.weight.zero_()
        c = conv.out_channels
        eye = torch.eye(c).reshape(c, c, 1, 1, 1)
        for j, b in enumerate(blocks):
            conv.weight[:, j * c:(j + 1) * c] = b * eye
        conv.bias.zero_()


class SecondaryBranch(nn.Module):
    """One secondary modality: LFE (blocks 1-3), guidance conv, HFE (blocks 4-5), dual attention."""

    def __init__(self, primary: DARMC, attention_kwargs: Mapping):
        super().__init__()
        low, high = primary.channels[2], primary.out_channels
        self.lfe = nn.Sequential(copy.deepcopy(primary.stem), copy.deepcopy(primary.layer1), copy.deepcopy(primary.layer2))
        self.guide = nn.Conv3d(low + high, low, 1)
        _identity_init(self.guide, [1.0, 0.0])
        self.hfe = nn.Sequential(copy.deepcopy(primary.layer3), copy.deepcopy(primary.layer4))
        self.attention = DualAttention3d(high, **attention_kwargs)

    def forward(self, x: torch.Tensor, f_p: torch.Tensor) -> dict[str, torch.Tensor]:
        """Low-level ``f_s^l``, guided input of the HFE, and high-level ``f_s`` features."""
        low = self.lfe(x)
        guidance = F.interpolate(f_p, size=low.shape[2:], mode="trilinear", align_corners=False)
        guided = self.guide(torch.cat([low, guidance], dim=1))
        return {"low": low, "guided": guided, "high": self.attention(self.hfe(guided))}


class GuidanceModel(nn.Module):
    """Cross-modality guidance-aided multi-modal classifier (paper Fig. 2, Algorithm 1).

    Parameters
    ----------
    primary
        Name of the primary modality (``"t1ce"`` in the paper).
    secondary
        Secondary modalities in descending priority (paper: T2, Flair, T1);
        any subset, including none (Table VII).
    num_classes, width, dropout
        As for :class:`~mmlib.papers.guidance.rmc.RMC`.
    shared_head
        One classifier G for all outputs (default, Eqs. 1 and 3) or one per ``t_i``.
    attention_kwargs
        Passed to every :class:`~mmlib.nets.attention.DualAttention3d`.
    """

    def __init__(
        self,
        primary: str = "t1ce",
        secondary: Sequence[str] = ("t2", "flair", "t1"),
        num_classes: int = 2,
        width: float = 1.0,
        dropout: float = 0.5,
        shared_head: bool = True,
        attention_kwargs: Mapping | None = None,
    ):
        super().__init__()
        secondary = tuple(secondary)
        if primary in secondary or len(set(secondary)) != len(secondary):
            raise ParameterError(f"secondary modalities {secondary} must be distinct and exclude the primary {primary!r}")
        self.primary_name, self.secondary_names = primary, secondary
        self.modalities = (primary, *secondary)
        attention_kwargs = dict(attention_kwargs or {})
        self.primary = DARMC(1, num_classes, width, dropout, **attention_kwargs)
        high = self.primary.out_channels
        self.branches = nn.ModuleDict({m: SecondaryBranch(self.primary, attention_kwargs) for m in secondary})
        self.fusers = nn.ModuleDict({m: nn.Conv3d(2 * high, high, 1) for m in secondary})
        for conv in self.fusers.values():
            _identity_init(conv, [0.5, 0.5])
        self.shared_head = shared_head
        self.heads = None if shared_head else nn.ModuleDict({m: copy.deepcopy(self.primary.fc) for m in secondary})
        self.primary_frozen = False

    def head(self, modality: str, t: torch.Tensor) -> torch.Tensor:
        """G applied to a fused feature map (the shared head, or this modality's own)."""
        fc = self.primary.fc if self.shared_head else self.heads[modality]
        return fc(self.primary.pool(t))

    def copy_primary_blocks(self) -> None:
        """Algorithm 1 lines 7-10: each LFE <- SFE blocks 1-3, each HFE <- blocks 4-5 (deep copies)."""
        p = self.primary
        for branch in self.branches.values():
            for dst, src in zip(list(branch.lfe) + list(branch.hfe), p.blocks):
                dst.load_state_dict(copy.deepcopy(src.state_dict()))
        if self.heads is not None:
            for fc in self.heads.values():
                fc.load_state_dict(copy.deepcopy(p.fc.state_dict()))

    def freeze_primary(self, frozen: bool = True) -> None:
        """Stop (or restart) training of the primary SFE, its attention and the shared head.

        Algorithm 1 line 21 updates only the secondary parameters in stage 2.
        Frozen modules also stay in eval mode, so their BatchNorm statistics do
        not drift.
        """
        self.primary_frozen = frozen
        for p in self.primary.parameters():
            p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.primary_frozen:
            self.primary.eval()
        return self

    def forward(self, inputs: Mapping[str, torch.Tensor], return_features: bool = False) -> dict:
        """Logits for a dict ``{modality: (B, 1, D, H, W)}``.

        Returns ``{"primary": G(f_p), "secondary": {m_i: G(t_i)}, "fused": G(t_M)}``;
        ``fused`` is the model's prediction. With ``return_features`` also
        ``"features"``: ``primary_high`` (f_p), and per secondary modality
        ``low`` (LFE output), ``high`` (f_s,i) and ``fused`` (t_i), for Fig. 5.
        """
        check_modalities(inputs, self.modalities)
        check_volume(inputs[self.primary_name], 1, f"modality {self.primary_name!r}")
        f_p = self.primary.features(inputs[self.primary_name])
        out = {"primary": self.primary.fc(self.primary.pool(f_p)), "secondary": {}}
        feats = {"primary_high": f_p, "low": {}, "high": {}, "fused": {}}
        t = f_p
        for m in self.secondary_names:
            branch = self.branches[m](inputs[m], f_p)
            t = self.fusers[m](torch.cat([t, branch["high"]], dim=1))
            out["secondary"][m] = self.head(m, t)
            feats["low"][m], feats["high"][m], feats["fused"][m] = branch["low"], branch["high"], t
        out["fused"] = out["secondary"][self.secondary_names[-1]] if self.secondary_names else out["primary"]
        if return_features:
            out["features"] = feats
        return out
