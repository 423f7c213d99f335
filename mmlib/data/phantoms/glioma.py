"""Multimodal brain-tumour phantoms (T1, T1ce, T2, FLAIR + BraTS masks) for two tasks.

Used by the glioma-grading chapter (Xu et al., "Cross-modality guidance...",
BraTS2018: 210 HGG / 75 LGG, Sec. IV-A) and the M3 chapter (Kong et al. 2024,
glioma vs metastasis, Sec. 2.1.1).

Each case is the MNI152 anatomy (:mod:`.anatomy`) with one or more irregular
lesions (:mod:`.lesions`): a core (``rho < 0.6``) mixing solid tumour and
necrotic fluid, a rim (``0.6 <= rho < 1``) of solid tumour that enhances on T1ce
by ``enhancement``, and vasogenic edema in the white/grey matter out to
``edema_ratio`` times the lesion radius. Mask labels follow BraTS: 1 necrotic /
non-enhancing core (the rim too when it does not visibly enhance, enhancement
< 0.15), 2 edema, 4 enhancing rim.

What each modality sees (contrasts in :data:`.mri.MR_CONTRAST`): enhancement only
on T1ce; edema extent mainly on FLAIR and T2; the necrotic core dark on FLAIR and
T1ce; T1 shows the lesion only faintly. So the modalities do not carry the same
information, and T1ce is the most informative for grading (as in the guidance
paper, Table III).

Per-case parameters, class means at ``difficulty = 0`` (within-class sd):

task ``"grade"`` (labels 0 = LGG, 1 = HGG; default HGG share 210/285):
  radius 14 / 18 mm (4), irregularity 0.10 / 0.20 (0.08), enhancement 0.08 / 0.55
  (0.15), necrosis 0.15 / 0.45 (0.2), edema_ratio 1.3 / 1.6 (0.2),
  heterogeneity 0.03 / 0.07 (0.03).
task ``"glioma_vs_metastasis"`` (0 = glioma, 1 = metastasis; default 1:1):
  extra lesions Poisson(0.1 / 0.9), radius 17 / 9 mm (3.5), irregularity 0.22 / 0.06
  (0.07), enhancement 0.35 / 0.55 (0.2), necrosis 0.4 / 0.3 (0.2), edema_ratio
  1.4 / 2.3 (0.35, edema disproportionate to size in metastases), share of lesions
  at the grey-white junction 0.2 / 0.9 (else deep white matter), heterogeneity
  0.06 / 0.04 (0.03). (The paper's metastases are solitary; multiplicity here is
  a partial cue only.)

``difficulty`` in [0, 1] pulls every pair of class means towards their average
(:func:`.sampling.class_conditional`); at 1 the classes are indistinguishable.
Class-independent nuisance: lesion position, per-modality gain (lognormal sd 0.1),
one bias field per case shared by its four sequences, Rician noise (sd 0.03).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmlib.data.phantoms import lesions, mri
from mmlib.data.phantoms.anatomy import tissue_maps
from mmlib.data.phantoms.cohort import PhantomCohort
from mmlib.data.phantoms.sampling import (
    case_seeds, check_count, check_difficulty, class_conditional, pulled_means, shuffled_labels,
)
from mmlib.errors import ParameterError

MODALITIES = ("t1", "t1ce", "t2", "flair")
MASK_LABELS = {1: "necrotic / non-enhancing tumour core", 2: "peritumoural edema", 4: "enhancing tumour"}
CORE_EDGE = 0.6  #: rho below which the lesion is core (necrosis + solid), above it the rim
VISIBLE_ENHANCEMENT = 0.15  #: enhancement at which the rim is segmented as label 4
NOISE_SIGMA = 0.03  #: Rician noise sd (white matter on T1 = 1)

_TASKS = {
    "grade": {
        "class_names": ["LGG", "HGG"],
        "positive_share": 210 / 285,
        "extra_lesions": ([0.0, 0.0], None),
        "radius_mm": ([14.0, 18.0], 4.0),
        "irregularity": ([0.10, 0.20], 0.08),
        "enhancement": ([0.08, 0.55], 0.15),
        "necrosis": ([0.15, 0.45], 0.2),
        "edema_ratio": ([1.3, 1.6], 0.2),
        "heterogeneity": ([0.03, 0.07], 0.03),
        "junction_share": ([0.2, 0.2], None),
    },
    "glioma_vs_metastasis": {
        "class_names": ["glioma", "metastasis"],
        "positive_share": 0.5,
        "extra_lesions": ([0.1, 0.9], None),
        "radius_mm": ([17.0, 9.0], 3.5),
        "irregularity": ([0.22, 0.06], 0.07),
        "enhancement": ([0.35, 0.55], 0.2),
        "necrosis": ([0.40, 0.30], 0.2),
        "edema_ratio": ([1.4, 2.3], 0.35),
        "heterogeneity": ([0.06, 0.04], 0.03),
        "junction_share": ([0.2, 0.9], None),
    },
}
_BOUNDS = {"radius_mm": (5.0, 30.0), "irregularity": (0.0, 0.5), "enhancement": (0.0, 1.2),
           "necrosis": (0.0, 0.9), "edema_ratio": (1.05, 3.5), "heterogeneity": (0.0, 0.2)}


def glioma_phantoms(*, n_cases: int = 60, shape: tuple[int, int, int] = (32, 40, 32), task: str = "grade",
                    class_ratio: float | None = None, difficulty: float = 0.5, seed: int = 0) -> PhantomCohort:
    """T1/T1ce/T2/FLAIR tumour phantoms with BraTS masks (module docstring: features and knob).

    ``class_ratio`` is the share of class 1 (HGG or metastasis) in (0, 1); ``None``
    takes the task default (210/285 HGG as BraTS2018, 1:1 for glioma vs metastasis).
    """
    if task not in _TASKS:
        raise ParameterError(f"task={task!r} must be one of {sorted(_TASKS)}")
    spec = _TASKS[task]
    difficulty = check_difficulty(difficulty)
    n_cases = check_count("n_cases", n_cases, 2)
    share = spec["positive_share"] if class_ratio is None else float(class_ratio)
    if not 0.0 < share < 1.0:
        raise ParameterError(f"class_ratio={class_ratio!r} must lie strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    labels = shuffled_labels(n_cases, [1.0 - share, share], rng)
    params = {name: class_conditional(rng, labels, spec[name][0], spec[name][1], difficulty,
                                      low=low, high=high)
              for name, (low, high) in _BOUNDS.items()}
    params["n_lesions"] = 1 + rng.poisson(pulled_means(spec["extra_lesions"][0], difficulty)[labels])
    junction_p = pulled_means(spec["junction_share"][0], difficulty)[labels]
    seeds = case_seeds(rng, n_cases)

    anatomy = tissue_maps(tuple(shape))
    world = anatomy.world_mm()
    images = {m: np.empty((n_cases, *anatomy.shape), np.float32) for m in MODALITIES}
    masks = np.empty((n_cases, *anatomy.shape), np.uint8)
    rows = []
    for i in range(n_cases):
        case = {name: float(values[i]) for name, values in params.items()}
        case_rng = np.random.default_rng(seeds[i])
        rho, n_junction = _lesion_field(case_rng, anatomy, world, case, junction_p[i])
        signals, masks[i] = _render(case_rng, anatomy, rho, case)
        gains = np.exp(0.1 * case_rng.standard_normal(len(MODALITIES))).astype(np.float32)
        session = mri.bias_field(np.stack([signals[m] for m in MODALITIES]) * gains[:, None, None, None], seeds[i])
        for j, modality in enumerate(MODALITIES):
            images[modality][i] = session[j]
        rows.append({**case, "n_lesions": int(case["n_lesions"]), "n_at_junction": n_junction,
                     "tumour_voxels": int(np.count_nonzero(masks[i] & 5)),
                     "edema_voxels": int(np.count_nonzero(masks[i] == 2))})
    for j, modality in enumerate(MODALITIES):
        images[modality] = mri.rician_noise(images[modality], seed + 1000 * (j + 1), NOISE_SIGMA)
    prefix = "glioma" if task == "grade" else "tumour"
    case_ids = [f"{prefix}-{i:04d}" for i in range(n_cases)]
    metadata = pd.DataFrame(rows)
    metadata.insert(0, "class_name", [spec["class_names"][k] for k in labels])
    metadata.insert(0, "label", labels)
    metadata.insert(0, "case_id", case_ids)
    return PhantomCohort(images=images, masks=masks, labels=labels, class_names=list(spec["class_names"]),
                         case_ids=case_ids, affine=anatomy.affine.copy(), metadata=metadata,
                         mask_labels=dict(MASK_LABELS))


def _lesion_field(rng, anatomy, world, case, junction_p):
    """Normalised radius field (min over lesions) and how many lesions sit at the grey-white junction."""
    noise = lesions.smooth_noise(anatomy.shape, rng)
    deep_wm = anatomy.wm > 0.6  # parenchyma, never a ventricle
    junction = (anatomy.gm > 0.3) & (anatomy.wm > 0.3)
    rho = np.full(anatomy.shape, np.inf, np.float32)
    n_junction = 0
    for k in range(int(case["n_lesions"])):
        radius = case["radius_mm"] * (float(np.exp(0.2 * rng.standard_normal())) if k else 1.0)
        depth_needed = min(0.8 * radius, 0.6 * float(anatomy.depth_mm.max()))
        at_junction = rng.random() < junction_p
        n_junction += int(at_junction)
        candidates = (junction if at_junction else deep_wm) & (anatomy.depth_mm >= depth_needed)
        centre = lesions.pick_voxel_mm(rng, candidates, anatomy.affine)
        rho = np.minimum(rho, lesions.radius_field(world, centre, radius, case["irregularity"], noise))
    return rho, n_junction


def _render(rng, anatomy, rho, case):
    """Noise-free signal of each modality and the BraTS label map of one case."""
    inside = lesions.soft_inside(rho, 1.0) * anatomy.brain
    core = lesions.soft_inside(rho, CORE_EDGE) * anatomy.brain
    edema = lesions.soft_inside(rho, case["edema_ratio"]) * (1.0 - inside)
    parenchyma = anatomy.gm + anatomy.wm
    fractions = {
        "gm": anatomy.gm * (1.0 - inside) * (1.0 - edema),
        "wm": anatomy.wm * (1.0 - inside) * (1.0 - edema),
        "csf": anatomy.csf * (1.0 - inside),
        "edema": parenchyma * edema,
        "solid": inside - core * case["necrosis"],
        "necrosis": core * case["necrosis"],
    }
    texture = case["heterogeneity"] * lesions.smooth_noise(anatomy.shape, rng, sigma_vox=0.7) * inside
    rim = inside - core
    signals = {}
    for modality in MODALITIES:
        signal = mri.mix(fractions, mri.MR_CONTRAST[modality]) + texture
        if modality == "t1ce":
            signal = signal + case["enhancement"] * rim
        signals[modality] = np.maximum(signal, 0.0)

    brain = anatomy.brain > 0.5
    mask = np.zeros(anatomy.shape, np.uint8)
    mask[brain & (rho < case["edema_ratio"]) & (parenchyma > 0.3)] = 2
    rim_label = 4 if case["enhancement"] >= VISIBLE_ENHANCEMENT else 1
    mask[brain & (rho < 1.0)] = rim_label
    mask[brain & (rho < CORE_EDGE)] = 1
    return signals, mask
