"""Dual attention for volumes: position (spatial) attention + slice attention.

The paper (Sec. III-B, Fig. 4) applies DANet's dual attention (Fu et al. 2019,
its ref. [44]) to RMC feature maps ``(B, C, D, H, W)`` as a *spatial* branch
("channel x height x width") and a *slice* branch ("slice x slice"), computed
side by side and summed. Hand-written (neither MONAI nor torch ships DANet).

Choices the paper leaves open, made here:

* **Spatial axes.** By default (``spatial_axes="hw"``) the position branch is
  DANet's PAM applied within each slice: an (H*W) x (H*W) affinity per slice,
  while relations *between* slices are the slice branch's job. This matches
  Fig. 4's "channel x height x width" and costs ``O(D (HW)^2)`` memory instead
  of ``O((DHW)^2)``. ``spatial_axes="dhw"`` attends over all D*H*W positions.
  At the paper's size (150x240x240 input -> 150x15x15 at layer4) the per-slice
  maps take 150 * 225^2 floats (30 MB); the full ``"dhw"`` map would take
  33750^2 floats (4.6 GB, twice that with the softmax), so ``chunk_size``
  computes it a block of query rows at a time (exact: softmax is row-wise).
* **Slice softmax.** The slice branch is DANet's CAM with slices in place of
  channels: energy ``E = X X^T`` over slices (X: slice x (C*H*W)), attention
  ``softmax(max(E) - E)`` as in DANet (``slice_softmax="cam"``, which equals
  ``softmax(-E)``: each slice draws on the slices *least* like it), or
  ``slice_softmax="plain"``, ``softmax(E)``. Default: ``"cam"``, DANet's form.
* **Summation.** DANet sums two branch outputs that each already contain ``x``.
  Here one copy of ``x`` is kept: ``out = x + g_p * P(x) + g_s * S(x)``, with
  both gammas zero-initialised, so the module is exactly the identity at
  initialisation and pretrained RMC features reach the head unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from mmlib.errors import ParameterError


class PositionAttention3d(nn.Module):
    """DANet position attention module (PAM) on ``(B, C, D, H, W)`` features.

    q, k: 1x1x1 convs C -> C/``reduction``; v: C -> C; ``attn = softmax(q^T k)``
    over positions; ``out = x + gamma * (v attn^T)``, gamma initialised to 0.

    ``spatial_axes="hw"`` attends within each slice, ``"dhw"`` over the whole
    volume. ``chunk_size`` bounds memory: slices per chunk for ``"hw"``, query
    positions per chunk for ``"dhw"``; results equal the unchunked ones.
    """

    def __init__(self, channels: int, reduction: int = 8, spatial_axes: str = "hw", chunk_size: int | None = None):
        super().__init__()
        if spatial_axes not in ("hw", "dhw"):
            raise ParameterError(f"spatial_axes must be 'hw' or 'dhw', got {spatial_axes!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ParameterError(f"chunk_size must be >= 1 or None, got {chunk_size}")
        inner = max(1, channels // reduction)
        self.query = nn.Conv3d(channels, inner, 1)
        self.key = nn.Conv3d(channels, inner, 1)
        self.value = nn.Conv3d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.spatial_axes, self.chunk_size = spatial_axes, chunk_size

    def _tokens(self, t: torch.Tensor) -> torch.Tensor:
        """(B, c, D, H, W) -> (groups, c, N): one group per slice ("hw") or per volume ("dhw")."""
        b, c, d, h, w = t.shape
        if self.spatial_axes == "hw":
            return t.permute(0, 2, 1, 3, 4).reshape(b * d, c, h * w)
        return t.reshape(b, c, d * h * w)

    def attend(self, x: torch.Tensor, return_attention: bool = False):
        """The attention term ``v attn^T`` (shape of ``x``) and optionally the maps.

        Maps: ``(B, D, HW, HW)`` for ``"hw"``, ``(B, DHW, DHW)`` for ``"dhw"``;
        rows sum to 1 (asking for them materialises them, whatever the chunking).
        """
        b, c, d, h, w = x.shape
        q, k, v = (self._tokens(f(x)) for f in (self.query, self.key, self.value))
        groups, n = q.shape[0], q.shape[2]
        out = torch.empty_like(v)
        maps = []
        step = self.chunk_size or (groups if self.spatial_axes == "hw" else n)
        if self.spatial_axes == "hw":
            for s in range(0, groups, step):
                attn = torch.softmax(q[s:s + step].transpose(1, 2) @ k[s:s + step], dim=-1)
                out[s:s + step] = v[s:s + step] @ attn.transpose(1, 2)
                if return_attention:
                    maps.append(attn)
            out = out.reshape(b, d, c, h, w).permute(0, 2, 1, 3, 4)
        else:
            for s in range(0, n, step):
                attn = torch.softmax(q[:, :, s:s + step].transpose(1, 2) @ k, dim=-1)
                out[:, :, s:s + step] = v @ attn.transpose(1, 2)
                if return_attention:
                    maps.append(attn)
            out = out.reshape(b, c, d, h, w)
        if not return_attention:
            return out
        if self.spatial_axes == "hw":
            return out, torch.cat(maps, 0).reshape(b, d, n, n)
        return out, torch.cat(maps, 1)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        res = self.attend(x, return_attention)
        if return_attention:
            return x + self.gamma * res[0], res[1]
        return x + self.gamma * res


class SliceAttention3d(nn.Module):
    """Slice attention: DANet's channel attention module (CAM) with slices for channels.

    ``X``: each slice's C*H*W features as a row; ``E = X X^T`` (D x D);
    ``attn = softmax(max(E) - E)`` (``"cam"``) or ``softmax(E)`` (``"plain"``);
    ``out = x + gamma * (attn X)`` with gamma initialised to 0. Memory is
    ``O(D^2)``: no chunking is needed.
    """

    def __init__(self, slice_softmax: str = "cam"):
        super().__init__()
        if slice_softmax not in ("cam", "plain"):
            raise ParameterError(f"slice_softmax must be 'cam' or 'plain', got {slice_softmax!r}")
        self.slice_softmax = slice_softmax
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, x: torch.Tensor, return_attention: bool = False):
        """The attention term ``attn X`` (shape of ``x``) and optionally the ``(B, D, D)`` map."""
        b, c, d, h, w = x.shape
        rows = x.permute(0, 2, 1, 3, 4).reshape(b, d, c * h * w)
        energy = rows @ rows.transpose(1, 2)
        if self.slice_softmax == "cam":
            energy = energy.amax(dim=-1, keepdim=True) - energy
        attn = torch.softmax(energy, dim=-1)
        out = (attn @ rows).reshape(b, d, c, h, w).permute(0, 2, 1, 3, 4)
        return (out, attn) if return_attention else out

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        res = self.attend(x, return_attention)
        if return_attention:
            return x + self.gamma * res[0], res[1]
        return x + self.gamma * res


class DualAttention3d(nn.Module):
    """Position + slice attention, summed (paper Fig. 4): ``x + g_p P(x) + g_s S(x)``.

    ``return_attention=True`` returns ``(out, {"position": map, "slice": map})``
    for the chapters' attention figures.
    """

    def __init__(self, channels: int, reduction: int = 8, spatial_axes: str = "hw", chunk_size: int | None = None, slice_softmax: str = "cam"):
        super().__init__()
        self.position = PositionAttention3d(channels, reduction, spatial_axes, chunk_size)
        self.slice = SliceAttention3d(slice_softmax)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        pos = self.position.attend(x, return_attention)
        sli = self.slice.attend(x, return_attention)
        if not return_attention:
            return x + self.position.gamma * pos + self.slice.gamma * sli
        out = x + self.position.gamma * pos[0] + self.slice.gamma * sli[0]
        return out, {"position": pos[1], "slice": sli[1]}
