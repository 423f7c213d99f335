"""Paired T1 + resting-state fMRI phantoms for Alzheimer's disease (NC / MCI / AD).

Used by the MASAN chapter (Zong et al., arXiv 2208.04945, Sec. 4.1: ADNI3, 206
pairs, 64 NC, 70 MCI (34 EMCI + 36 LMCI), 72 AD; default class shares follow it).

Structure (T1): the MNI152 tissue fractions (:mod:`.anatomy`) with grey matter
replaced by CSF in Gaussian neighbourhoods (sd 6 mm) of both hippocampi (MNI
(+-26, -22, -14)) and amygdalae (+-23, -5, -20), by ``hippocampal_atrophy`` and
``amygdala_atrophy`` (the regions MASAN's attention highlights, its Fig. 4), plus
whole-brain cortical thinning ``global_atrophy``. T1 contrast, bias field and
Rician noise as in :mod:`.mri`.

Function (fMRI, ``(T, D, H, W)`` per case, TR 3 s as ADNI3's basic rs-fMRI): the
160 regions of Dosenbach et al. 2010 (coordinates and networks from the CSV
shipped in nilearn, ``fetch_coords_dosenbach_2010``, no download). Each network
has a latent AR(1) signal; a region's signal is ``sqrt(c) * network +
sqrt(1 - c) * own`` so ``c`` is the expected within-network correlation. The
default-mode network's ``dmn_coupling`` drops with disease; other networks keep
``other_coupling`` (class-independent). Regions are blurred onto the EPI grid
(Gaussian, sd 6 mm) as a 2 % BOLD modulation of grey matter, with thermal noise
(0.4 %; Gaussian, as Rician noise is at EPI's SNR) and a slow linear drift shared
by all voxels (detrend before correlating).

Class means at ``difficulty = 0`` (NC / MCI / AD, within-class sd):
hippocampal_atrophy 0.05 / 0.17 / 0.30 (0.15), amygdala_atrophy 0.03 / 0.13 / 0.25
(0.15), global_atrophy 0.02 / 0.04 / 0.07 (0.03), dmn_coupling 0.52 / 0.42 / 0.32
(0.12). Class-independent: age 73 (6) years adding 0.5 % global atrophy per year
over 73, other_coupling 0.45 (0.08), gains, noise. ``difficulty`` pulls the class
means together (:func:`.sampling.class_conditional`); MCI stays in between.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from nilearn import datasets

from mmlib.data.phantoms import mri
from mmlib.data.phantoms.anatomy import tissue_maps
from mmlib.data.phantoms.cohort import PhantomCohort, case_metadata
from mmlib.data.phantoms.sampling import (case_seeds, check_count, check_difficulty, class_conditional, per_case,
                                         shuffled_labels)
from mmlib.errors import ParameterError

#: Class shares of the MASAN cohort (Zong et al., Sec. 4.1).
PAPER_COUNTS = {"NC": 64, "MCI": 70, "AD": 72}
REGIONS_MM = {
    "hippocampus_left": (-26.0, -22.0, -14.0), "hippocampus_right": (26.0, -22.0, -14.0),
    "amygdala_left": (-23.0, -5.0, -20.0), "amygdala_right": (23.0, -5.0, -20.0),
}
REGION_SD_MM = 6.0
REPETITION_TIME = 3.0
EPI_CONTRAST = {"gm": 1.0, "wm": 0.85, "csf": 1.2}
BOLD_AMPLITUDE, THERMAL_NOISE = 0.02, 0.004

_CLASS_PARAMS = {  # name: ({class: mean}, sd, (low, high))
    "hippocampal_atrophy": ({"NC": 0.05, "MCI": 0.17, "AD": 0.30}, 0.15, (0.0, 0.8)),
    "amygdala_atrophy": ({"NC": 0.03, "MCI": 0.13, "AD": 0.25}, 0.15, (0.0, 0.8)),
    "global_atrophy": ({"NC": 0.02, "MCI": 0.04, "AD": 0.07}, 0.03, (0.0, 0.3)),
    "dmn_coupling": ({"NC": 0.52, "MCI": 0.42, "AD": 0.32}, 0.12, (0.02, 0.9)),
}


def alzheimer_phantoms(*, n_cases: int = 60, t1_shape: tuple[int, int, int] = (32, 40, 32),
                       fmri_shape: tuple[int, int, int] = (16, 20, 16), n_timepoints: int = 60,
                       classes: tuple[str, ...] = ("NC", "MCI", "AD"), difficulty: float = 0.5,
                       seed: int = 0) -> PhantomCohort:
    """Paired T1 ``(N, D, H, W)`` and rs-fMRI ``(N, T, d, h, w)`` phantoms (module docstring: features, knob).

    ``images["t1"]`` lies on ``cohort.affine``; ``images["fmri"]`` on
    ``cohort.affine_of("fmri")``. No masks.
    """
    classes = tuple(classes)
    if len(classes) < 2 or len(set(classes)) != len(classes) or not set(classes) <= set(PAPER_COUNTS):
        raise ParameterError(f"classes={classes!r} must be two or three distinct names from {list(PAPER_COUNTS)}")
    difficulty = check_difficulty(difficulty)
    n_cases = check_count("n_cases", n_cases, len(classes))
    n_timepoints = check_count("n_timepoints", n_timepoints, 10)
    rng = np.random.default_rng(seed)
    labels = shuffled_labels(n_cases, [PAPER_COUNTS[c] for c in classes], rng)
    params = {name: class_conditional(rng, labels, [means[c] for c in classes], sd, difficulty, low=low, high=high)
              for name, (means, sd, (low, high)) in _CLASS_PARAMS.items()}
    params["age"] = 73.0 + 6.0 * rng.standard_normal(n_cases)
    params["other_coupling"] = np.clip(0.45 + 0.08 * rng.standard_normal(n_cases), 0.05, 0.9)
    seeds = case_seeds(rng, n_cases)

    anatomy = tissue_maps(tuple(t1_shape))
    epi = tissue_maps(tuple(fmri_shape))
    bumps = _region_bumps(anatomy)
    spread, network_of = _network_blur(tuple(fmri_shape))
    t1 = np.empty((n_cases, *anatomy.shape), np.float32)
    fmri = np.empty((n_cases, n_timepoints, *epi.shape), np.float32)
    for i, case, case_rng in per_case(params, seeds):
        t1[i] = mri.bias_field(_t1_signal(anatomy, bumps, case)[None], seeds[i])[0]
        fmri[i] = _fmri(case_rng, epi, spread, network_of, case, n_timepoints)
    t1 = mri.rician_noise(t1, seed + 1000, 0.03)
    fmri = mri.gaussian_noise(fmri, seed + 2000, THERMAL_NOISE)  # Rician ~ Gaussian at EPI's SNR
    case_ids = [f"adni-{i:04d}" for i in range(n_cases)]
    metadata = case_metadata(params, case_ids, labels, classes)
    return PhantomCohort(images={"t1": t1, "fmri": fmri}, masks=None, labels=labels, class_names=list(classes),
                         case_ids=case_ids, affine=anatomy.affine.copy(), metadata=metadata,
                         modality_affines={"fmri": epi.affine.copy()}, repetition_time=REPETITION_TIME)


@lru_cache(maxsize=4)
def dosenbach_regions() -> tuple[np.ndarray, np.ndarray]:
    """``(coords (160, 3) MNI mm, network name per region)`` from nilearn's shipped Dosenbach 2010 CSV."""
    atlas = datasets.fetch_coords_dosenbach_2010()
    coords = atlas.rois[["x", "y", "z"]].to_numpy(dtype=float)
    return coords, np.asarray(atlas.networks, dtype=str)


def atrophy_neighbourhoods(t1_shape: tuple[int, int, int], threshold: float = 0.5) -> np.ndarray:
    """Boolean map on the T1 grid of ``t1_shape``: where the hippocampal or amygdala atrophy weight is >= ``threshold``.

    The weight is the Gaussian neighbourhood (sd ``REGION_SD_MM``, peak 1) through
    which ``hippocampal_atrophy`` and ``amygdala_atrophy`` turn grey matter into
    CSF; 0.5 keeps the voxels within about 7 mm of the four centres. MASAN's
    Figure 4 chapter measures how much of the fusion weight falls there.
    """
    if not 0.0 < threshold <= 1.0:
        raise ParameterError(f"threshold={threshold} must lie in (0, 1]")
    bumps = _region_bumps(tissue_maps(tuple(t1_shape)))
    return np.maximum(bumps["hippocampus"], bumps["amygdala"]) >= threshold


def _region_bumps(anatomy) -> dict[str, np.ndarray]:
    """Gaussian weights (peak 1) around the hippocampi and the amygdalae on the T1 grid."""
    world = anatomy.world_mm()
    bumps = {}
    for structure in ("hippocampus", "amygdala"):
        weight = np.zeros(anatomy.shape, np.float32)
        for side in ("left", "right"):
            d2 = np.sum((world - np.asarray(REGIONS_MM[f"{structure}_{side}"], np.float32)) ** 2, axis=-1)
            weight = np.maximum(weight, np.exp(-d2 / (2 * REGION_SD_MM**2)))
        bumps[structure] = weight
    return bumps


def _t1_signal(anatomy, bumps, case) -> np.ndarray:
    """Noise-free T1 with local (hippocampus, amygdala) and global grey-matter loss turned into CSF."""
    age_loss = max(0.0, 0.005 * (case["age"] - 73.0))
    loss = 1.0 - (1.0 - case["global_atrophy"] - age_loss) * (1.0 - case["hippocampal_atrophy"] * bumps["hippocampus"]) \
        * (1.0 - case["amygdala_atrophy"] * bumps["amygdala"])
    lost_gm = anatomy.gm * np.clip(loss, 0.0, 1.0)
    fractions = {"gm": anatomy.gm - lost_gm, "wm": anatomy.wm, "csf": anatomy.csf + lost_gm}
    return mri.mix(fractions, mri.MR_CONTRAST["t1"])


@lru_cache(maxsize=4)
def _network_blur(fmri_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(voxels x regions Gaussian weights on the EPI grid, network index per region)``."""
    coords, networks = dosenbach_regions()
    world = tissue_maps(fmri_shape).world_mm().reshape(-1, 3)
    d2 = ((world[:, None, :] - coords[None, :, :].astype(np.float32)) ** 2).sum(-1)
    _, network_of = np.unique(networks, return_inverse=True)
    return np.exp(-d2 / (2 * REGION_SD_MM**2)).astype(np.float32), network_of


def _ar1(rng, n_series: int, n_timepoints: int, phi: float = 0.7) -> np.ndarray:
    """Unit-variance AR(1) series, shape ``(n_series, n_timepoints)``."""
    out = np.empty((n_series, n_timepoints))
    out[:, 0] = rng.standard_normal(n_series)
    for t in range(1, n_timepoints):
        out[:, t] = phi * out[:, t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(n_series)
    return out


def _fmri(rng, epi, spread, network_of, case, n_timepoints) -> np.ndarray:
    """Noise-free BOLD series ``(T, D, H, W)`` of one case (thermal noise is added cohort-wide)."""
    coords, networks = dosenbach_regions()
    dmn = np.unique(networks).tolist().index("default")
    coupling = np.where(np.arange(network_of.max() + 1) == dmn, case["dmn_coupling"], case["other_coupling"])
    c = coupling[network_of][:, None]
    regions = np.sqrt(c) * _ar1(rng, coupling.size, n_timepoints)[network_of] \
        + np.sqrt(1 - c) * _ar1(rng, len(network_of), n_timepoints)
    baseline = mri.mix({"gm": epi.gm, "wm": epi.wm, "csf": epi.csf}, EPI_CONTRAST).reshape(-1)
    drift = np.linspace(-1.0, 1.0, n_timepoints) * 0.01 * rng.standard_normal()
    bold = BOLD_AMPLITUDE * epi.gm.reshape(-1, 1) * (spread @ regions)
    series = baseline[:, None] * (1.0 + bold + drift[None, :])
    return np.moveaxis(series.reshape(*epi.shape, n_timepoints), -1, 0).astype(np.float32)
