"""Feature maps of RMC and the guidance model, the guidance paper's Figure 5.

Fig. 5 (Sec. IV-G) shows, for one HGG case that the uni-modal RMCs misclassify
and the guidance model classifies correctly, four columns per modality: the MR
image, the high-level feature map of that modality's RMC (SFE, blocks 1-5), and
the guidance model's low-level (LFE, blocks 1-3) and high-level (HFE, blocks
4-5 after guidance and dual attention) maps. The paper does not say how a
many-channel feature map becomes one picture; this module uses the mean over
channels, upsampled (trilinear) to the input grid and scaled to [0, 1] per map,
the usual "activation map" reading. Hand-written: no library extracts these.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from mmlib import atomic
from mmlib.data.glioma_dataset import GliomaVolumes, glioma_cases
from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import RMC
from mmlib.runs.aggregate import Aggregate
from mmlib.runs.provenance import git_state
from mmlib.runs.runner import chapter_defaults
from mmlib.train.checkpoint import load_checkpoint

#: Figure 5's columns, left to right.
COLUMNS = ("image", "RMC high-level", "guidance low-level (LFE)", "guidance high-level (HFE)")


def channel_mean_map(features: torch.Tensor, size: tuple[int, int, int]) -> np.ndarray:
    """One case's feature map ``(1, C, d, h, w)`` as a ``(D, H, W)`` picture in [0, 1].

    Mean over channels, trilinear upsampling to ``size``, then min-max scaling
    (a constant map gives zeros).
    """
    if features.ndim != 5 or features.shape[0] != 1:
        raise ParameterError(f"need one case's feature map (1, C, d, h, w), got {tuple(features.shape)}")
    mean = features.float().mean(dim=1, keepdim=True)
    up = F.interpolate(mean, size=tuple(size), mode="trilinear", align_corners=False)[0, 0]
    low, high = float(up.min()), float(up.max())
    scaled = (up - low) / (high - low) if high > low else torch.zeros_like(up)
    return scaled.detach().cpu().numpy()


@torch.no_grad()
def rmc_high_level(rmc: RMC, volume: torch.Tensor) -> tuple[np.ndarray, float]:
    """A uni-modal RMC's SFE map of ``volume (1, 1, D, H, W)`` and its HGG probability."""
    rmc.eval()
    feats = rmc.features(volume)
    prob = torch.softmax(rmc.fc(rmc.pool(feats)).float(), dim=1)[0, 1]
    return channel_mean_map(feats, tuple(volume.shape[2:])), float(prob)


@torch.no_grad()
def guidance_level_maps(model: GuidanceModel, volumes: Mapping[str, torch.Tensor]) -> tuple[dict, float]:
    """Low- and high-level maps of every modality of the guidance model, and its HGG probability.

    ``volumes``: ``{modality: (1, 1, D, H, W)}`` for all of ``model.modalities``.
    The primary's low level is its own blocks 1-3 and its high level f_p (SFE
    and dual attention); a secondary's are its LFE output and its HFE output
    (after the guidance conv and its dual attention), as ``return_features``
    gives them. Returns ``({modality: {"low": (D, H, W), "high": (D, H, W)}}, p_HGG)``.
    """
    model.eval()
    out = model(volumes, return_features=True)
    feats = out["features"]
    primary = model.primary_name
    size = tuple(volumes[primary].shape[2:])
    low_p = volumes[primary]
    for block in model.primary.blocks[:3]:
        low_p = block(low_p)
    maps = {primary: {"low": channel_mean_map(low_p, size), "high": channel_mean_map(feats["primary_high"], size)}}
    for m in model.secondary_names:
        maps[m] = {"low": channel_mean_map(feats["low"][m], size), "high": channel_mean_map(feats["high"][m], size)}
    prob = torch.softmax(out["fused"].float(), dim=1)[0, 1]
    return maps, float(prob)


def figure5_maps(unimodal_run: Aggregate, fold: int, case_id: str, modalities: Sequence[str],
                 unimodal_checkpoints: str | os.PathLike, guidance_checkpoints: str | os.PathLike,
                 device: str = "cpu") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Figure 5's arrays for one test case, from the weights a retrained fold kept.

    The case is rebuilt as the uni-modal run's test loader built it (its
    parameters over the chapter's defaults: the same phantom cohort, no
    augmentation). ``unimodal_checkpoints`` holds ``fold-<k>/<modality>/best.pt``
    (the uni-modal chapter's ``checkpoint_dir``); ``guidance_checkpoints`` the
    guidance chapter's, with one ``stage2-*/fold-<k>/best.pt`` of the model with
    every modality (``modalities[0]`` primary). Returns ``(arrays, meta)``:
    ``image_<m>``, ``rmc_<m>``, ``low_<m>``, ``high_<m>`` and ``tumour``, all
    ``(D, H, W)``; ``meta`` holds the probabilities the weights give the case.
    """
    settings = {**chapter_defaults("guidance/unimodal"), **unimodal_run.params}
    cases = glioma_cases(settings["dataset"], settings["data_root"], n_cases=settings["n_cases"],
                         shape=tuple(settings["phantom_shape"]), seed=settings["seed"],
                         design=settings.get("phantom_design", "shared-lesion"))
    case = next((c for c in cases if c["case_id"] == case_id), None)
    if case is None:
        raise DataError(case_id, f"not a case of the run {unimodal_run.run_dir}")
    item = GliomaVolumes([case], modalities=tuple(modalities), train=False, spatial_size=settings["spatial_size"],
                         fit=settings.get("fit", "crop"), with_seg=True, seed=settings["seed"])[0]
    volumes = {m: item[m][None].to(device) for m in modalities}
    rmc_maps, rmc_probs = {}, {}
    for m in modalities:
        rmc = RMC(1, 2, width=settings["width"], dropout=0.5)
        load_checkpoint(Path(unimodal_checkpoints) / f"fold-{fold}" / m / "best.pt", model=rmc, map_location=device)
        rmc_maps[m], rmc_probs[m] = rmc_high_level(rmc.to(device), volumes[m])
    model = GuidanceModel(modalities[0], tuple(modalities[1:]), width=settings["width"], dropout=0.5)
    stage2 = sorted(Path(guidance_checkpoints).glob(f"stage2-*/fold-{fold}/best.pt"))
    if len(stage2) != 1:
        raise DataError(guidance_checkpoints, f"needs exactly one stage2-*/fold-{fold}/best.pt, found {len(stage2)}")
    load_checkpoint(stage2[0], model=model, map_location=device)
    guide_maps, guide_prob = guidance_level_maps(model.to(device), volumes)
    arrays = {"image_" + m: item[m][0].numpy() for m in modalities}
    arrays |= {f"rmc_{m}": rmc_maps[m] for m in modalities}
    arrays |= {f"{level}_{m}": guide_maps[m][level] for m in modalities for level in ("low", "high")}
    arrays["tumour"] = item["seg"][0].numpy()
    meta = {"fold": fold, "case_id": case_id, "rmc_probability": rmc_probs, "guidance_probability": guide_prob,
            "git": git_state(), "unimodal_checkpoints": str(unimodal_checkpoints),
            "guidance_checkpoints": str(guidance_checkpoints)}
    return arrays, meta


def save_figure5_maps(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write the maps (float16, small enough to commit) and their ``meta`` atomically as one ``.npz``."""
    atomic.write_npz(path, **{k: np.asarray(v).astype(np.float16) for k, v in arrays.items()},
                     meta=np.array(json.dumps(dict(meta), default=str)))


def load_figure5_maps(path: str | os.PathLike, fold: int, case_id: str) -> tuple[dict[str, np.ndarray], dict]:
    """The maps saved by :func:`save_figure5_maps`; refuses a file made for another fold or case."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no committed feature maps: run scripts/reference-guidance-figure-5.sh")
    with np.load(path) as npz:
        saved = {k: npz[k].astype(np.float32) for k in npz.files if k != "meta"}
        meta = json.loads(str(npz["meta"]))
    if (meta["fold"], meta["case_id"]) != (fold, case_id):
        raise DataError(path, f"holds fold {meta['fold']} case {meta['case_id']}, not fold {fold} case {case_id}")
    return saved, meta


def figure5(images: Mapping[str, np.ndarray], rmc_maps: Mapping[str, np.ndarray], guidance_maps: Mapping[str, dict],
            slice_index: int, *, titles: Mapping[str, str] | None = None, tumour: np.ndarray | None = None):
    """Figure 5's grid: one row per modality, the columns of :data:`COLUMNS`, axial slice ``slice_index``.

    Every array is ``(D, H, W)``; each feature-map panel is coloured over its
    own slice's range (dark = lowest on that slice, bright = highest); ``tumour`` (same shape, optional) is outlined
    on every panel. ``titles`` adds a row label per modality (e.g. its
    probabilities). Returns the matplotlib figure.
    """
    modalities = list(images)
    fig, axes = plt.subplots(len(modalities), len(COLUMNS), figsize=(2.4 * len(COLUMNS), 2.4 * len(modalities)),
                             squeeze=False, constrained_layout=True)
    for row, m in enumerate(modalities):
        panels = (images[m], rmc_maps[m], guidance_maps[m]["low"], guidance_maps[m]["high"])
        for col, (panel, name) in enumerate(zip(panels, COLUMNS)):
            ax = axes[row, col]
            shown = panel[slice_index]
            # each feature panel on its own slice's range: the volume-wide maximum may lie on another slice
            ax.imshow(shown, cmap="gray" if col == 0 else "inferno", origin="lower",
                      vmin=None if col == 0 else float(shown.min()), vmax=None if col == 0 else float(shown.max()))
            if tumour is not None and tumour[slice_index].any():
                ax.contour(tumour[slice_index] > 0, levels=[0.5], colors="cyan", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
        label = m.upper() if titles is None else titles.get(m, m.upper())
        axes[row, 0].set_ylabel(label, fontsize=9)
    return fig
