"""Acute ischaemic stroke perfusion phantoms (ADC, CBF, CBV, MTT, TTP) with an HT label.

Used by the M3 chapter (Kong et al. 2024, Sec. 2.1.2, Table 2: 71 patients, 11
with haemorrhagic transformation (HT) after thrombolysis, 60 without).

Each case is the MNI152 anatomy (:mod:`.anatomy`) with parametric maps in physical
units: ADC in 1e-6 mm^2/s (GM 800, WM 700, CSF 3000), CBF in mL/100 g/min (60, 22,
2), CBV in mL/100 g (4, 2, 0.3), MTT and TTP in seconds (MTT 4 / 5.5, TTP 8 / 9 in
GM / WM). One irregular lesion sits in a middle-cerebral-artery territory (a
centre drawn near MNI (+-36, -12, 14), left or right, confined to that
hemisphere): an ischaemic core (mask label 1) with restricted diffusion (ADC
x ``adc_core_fraction``), severe hypoperfusion (CBF x ``cbf_core_fraction``, CBV x
``cbv_core_fraction``), and a penumbra (label 2) out to ``penumbra_ratio`` times the
core radius with reduced CBF, preserved or slightly raised CBV and normal ADC.
MTT and TTP are prolonged over core and penumbra by ``mtt_delay_s`` / ``ttp_delay_s``.

HT cases (label 1) have, on average, larger cores, lower CBV and CBF in the core,
lower ADC and longer delays (the imaging predictors of HT); every map carries
part of the signal, none all of it. Class means at ``difficulty = 0``
(no-HT / HT, within-class sd): core_radius_mm 11 / 16 (3.5), cbf_core_fraction
0.35 / 0.20 (0.08), cbv_core_fraction 0.70 / 0.42 (0.15), adc_core_fraction
0.72 / 0.62 (0.07), mtt_delay_s 4 / 7 (1.8), ttp_delay_s 5 / 9 (2.5).
Class-independent: penumbra_ratio 1.6 (0.2), penumbral CBF fraction 0.6 (0.08)
and CBV change +0.1 (0.08), lesion side and position, a per-case arterial-input
scale of CBF and CBV (lognormal sd 0.1), Gaussian noise of 5 % of the GM value.
``difficulty`` pulls the class means together (:func:`.sampling.class_conditional`).
"""

from __future__ import annotations

import numpy as np

from mmlib.data.phantoms import lesions, mri
from mmlib.data.phantoms.anatomy import tissue_maps
from mmlib.data.phantoms.cohort import PhantomCohort, case_metadata, empty_volumes
from mmlib.data.phantoms.sampling import (case_seeds, check_count, check_difficulty, class_conditional, per_case,
                                         shuffled_labels)

MODALITIES = ("adc", "cbf", "cbv", "mtt", "ttp")
CLASS_NAMES = ["no-HT", "HT"]
HT_SHARE = 11 / 71  #: Kong et al. 2024, Table 2
MASK_LABELS = {1: "ischaemic core", 2: "penumbra"}
#: Normal values per tissue (GM, WM, CSF) in the units of the module docstring.
NORMAL = {
    "adc": {"gm": 800.0, "wm": 700.0, "csf": 3000.0},
    "cbf": {"gm": 60.0, "wm": 22.0, "csf": 2.0},
    "cbv": {"gm": 4.0, "wm": 2.0, "csf": 0.3},
    "mtt": {"gm": 4.0, "wm": 5.5, "csf": 1.0},
    "ttp": {"gm": 8.0, "wm": 9.0, "csf": 4.0},
}
MCA_CENTRE_MM = np.array([36.0, -12.0, 14.0])

_CLASS_PARAMS = {  # name: ((no-HT mean, HT mean), sd, (low, high))
    "core_radius_mm": ((11.0, 16.0), 3.5, (6.0, 28.0)),
    "cbf_core_fraction": ((0.35, 0.20), 0.08, (0.03, 0.8)),
    "cbv_core_fraction": ((0.70, 0.42), 0.15, (0.1, 1.1)),
    "adc_core_fraction": ((0.72, 0.62), 0.07, (0.4, 0.95)),
    "mtt_delay_s": ((4.0, 7.0), 1.8, (0.5, 15.0)),
    "ttp_delay_s": ((5.0, 9.0), 2.5, (0.5, 20.0)),
}
_SHARED_PARAMS = {  # name: (mean, sd, (low, high)), the same for both classes
    "penumbra_ratio": (1.6, 0.2, (1.15, 2.4)),
    "cbf_penumbra_fraction": (0.6, 0.08, (0.3, 0.9)),
    "cbv_penumbra_change": (0.1, 0.08, (-0.2, 0.4)),
    "irregularity": (0.2, 0.06, (0.0, 0.4)),
    "input_scale": (1.0, 0.1, (0.7, 1.3)),
}


def stroke_phantoms(*, n_cases: int = 71, shape: tuple[int, int, int] = (32, 40, 32), difficulty: float = 0.5,
                    seed: int = 0) -> PhantomCohort:
    """ADC/CBF/CBV/MTT/TTP stroke phantoms with core/penumbra masks and HT labels (11:60 as the paper)."""
    difficulty = check_difficulty(difficulty)
    n_cases = check_count("n_cases", n_cases, 2)
    rng = np.random.default_rng(seed)
    labels = shuffled_labels(n_cases, [1.0 - HT_SHARE, HT_SHARE], rng)
    params = {name: class_conditional(rng, labels, means, sd, difficulty, low=low, high=high)
              for name, (means, sd, (low, high)) in _CLASS_PARAMS.items()}
    params.update({name: class_conditional(rng, labels, [mean, mean], sd, 0.0, low=low, high=high)
                   for name, (mean, sd, (low, high)) in _SHARED_PARAMS.items()})
    side = rng.choice([-1.0, 1.0], size=n_cases)
    seeds = case_seeds(rng, n_cases)

    anatomy = tissue_maps(tuple(shape))
    world = anatomy.world_mm()
    images, masks = empty_volumes(n_cases, anatomy.shape, MODALITIES)
    rows = []
    for i, case, case_rng in per_case(params, seeds):
        maps, masks[i] = _render(case_rng, anatomy, world, case, side[i])
        for modality in MODALITIES:
            images[modality][i] = maps[modality]
        rows.append({**case, "side": "right" if side[i] > 0 else "left",
                     "core_voxels": int(np.count_nonzero(masks[i] == 1)),
                     "penumbra_voxels": int(np.count_nonzero(masks[i] == 2))})
    for j, modality in enumerate(MODALITIES):
        sigma = 0.05 * NORMAL[modality]["gm"]
        images[modality] = np.maximum(mri.gaussian_noise(images[modality], seed + 1000 * (j + 1), sigma), 0.0)
    case_ids = [f"stroke-{i:04d}" for i in range(n_cases)]
    metadata = case_metadata(rows, case_ids, labels, CLASS_NAMES)
    return PhantomCohort(images=images, masks=masks, labels=labels, class_names=list(CLASS_NAMES),
                         case_ids=case_ids, affine=anatomy.affine.copy(), metadata=metadata,
                         mask_labels=dict(MASK_LABELS))


def _render(rng, anatomy, world, case, side):
    """Noise-free parametric maps and the core/penumbra label map of one case."""
    territory = np.linalg.norm(world - MCA_CENTRE_MM * [side, 1.0, 1.0], axis=-1) < 14.0
    hemisphere = (world[..., 0] * side > 4.0) & (anatomy.brain > 0.5)
    candidates = territory & hemisphere & (anatomy.depth_mm >= 6.0) & (anatomy.gm + anatomy.wm > 0.6)
    centre = lesions.pick_voxel_mm(rng, candidates, anatomy.affine)
    noise = lesions.smooth_noise(anatomy.shape, rng)
    rho = lesions.radius_field(world, centre, case["core_radius_mm"], case["irregularity"], noise)
    parenchyma = (anatomy.gm + anatomy.wm) * hemisphere
    core = lesions.soft_inside(rho, 1.0) * parenchyma
    penumbra = lesions.soft_inside(rho, case["penumbra_ratio"]) * parenchyma - core
    affected = core + penumbra
    fractions = {"gm": anatomy.gm, "wm": anatomy.wm, "csf": anatomy.csf}
    normal = {m: mri.mix(fractions, NORMAL[m]) for m in MODALITIES}
    maps = {
        "adc": normal["adc"] * (1.0 - core * (1.0 - case["adc_core_fraction"])),
        "cbf": normal["cbf"] * case["input_scale"] * (1.0 - core * (1.0 - case["cbf_core_fraction"])
                                                      - penumbra * (1.0 - case["cbf_penumbra_fraction"])),
        "cbv": normal["cbv"] * case["input_scale"] * (1.0 - core * (1.0 - case["cbv_core_fraction"])
                                                      + penumbra * case["cbv_penumbra_change"]),
        "mtt": normal["mtt"] + affected * case["mtt_delay_s"] * (1.0 + 0.3 * core),
        "ttp": normal["ttp"] + affected * case["ttp_delay_s"],
    }
    tissue = (anatomy.gm + anatomy.wm > 0.3) & hemisphere
    mask = np.zeros(anatomy.shape, np.uint8)
    mask[tissue & (rho < case["penumbra_ratio"])] = 2
    mask[tissue & (rho < 1.0)] = 1
    return {m: v.astype(np.float32) for m, v in maps.items()}, mask
