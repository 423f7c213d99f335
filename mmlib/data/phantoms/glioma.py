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

Two designs of the ``"grade"`` task (``design=``):

``"factors"`` (default)
    The grade reaches each modality through a **factor of its own**,
    ``z_m ~ N(d'_m * label, 1)``, drawn independently per modality, with the
    effect sizes :data:`EFFECT_SIZES` (T1ce 1.4, FLAIR 1.0, T2 0.7, T1 0.3, in
    within-class sd). Each factor changes only its modality's lesion signal,
    :data:`FACTOR_SIGNAL` per unit: the T1ce rim's enhancement, the FLAIR, T2 and
    T1 signal of the whole lesion. Lesion geometry (size, shape, necrosis, edema
    extent, position) and the mask labels do not depend on the grade, and the
    enhancing tumour stays below white matter on T1ce for all but the top 1%,
    inside the 0.5-99.5 percentile range the preprocessing keeps. So the modalities carry *complementary* information, and
    the best any classifier of a modality set S can do is known:
    ``AUC = Phi(||d'_S|| / sqrt(2))`` (:func:`factor_ceiling`). Built so that
    fusion *can* help; whether a method captures it is the experiment.
``"shared-lesion"``
    The first design (the book's earlier reference runs): the grade drives one
    lesion's size, shape, necrosis, edema and enhancement, which every modality
    sees through the same geometry; T1ce's enhancement carries most of it.
Class-independent nuisance: lesion position, per-modality gain (lognormal sd 0.1),
one bias field per case shared by its four sequences, Rician noise (sd 0.03).
"""

from __future__ import annotations

import numpy as np

from mmlib.data.phantoms import lesions, mri
from mmlib.data.phantoms.anatomy import tissue_maps
from mmlib.data.phantoms.cohort import PhantomCohort, case_metadata, empty_volumes
from mmlib.data.phantoms.sampling import (
    case_seeds, check_count, check_difficulty, class_conditional, per_case, pulled_means, shuffled_labels,
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
#: The phantom designs of the grade task (module docstring).
DESIGNS = ("factors", "shared-lesion")
#: ``design="factors"``: each modality's grade effect size d' (class shift of its factor, in within-class sd).
EFFECT_SIZES = {"t1ce": 1.4, "flair": 1.0, "t2": 0.7, "t1": 0.3}
#: ``design="factors"``: how each modality's factor changes the signal of the solid tumour:
#: ``(change per unit of the factor, change at the factor's class midpoint)``. On T1ce it is the
#: enhancement (0.58 + 0.2 < white matter 1, clipped at 0, which reaches only the lowest tenth of LGG);
#: on FLAIR the tumour darkens below the edema (FLAIR's brightest tissue, whose level the rescale keeps).
FACTOR_SIGNAL = {"t1ce": (0.10, 0.20), "flair": (-0.10, -0.15), "t2": (0.08, 0.0), "t1": (-0.08, 0.0)}
#: ``design="factors"``: grade-independent lesion geometry, the mean of the two grades' means (sd as before).
_FACTOR_GEOMETRY = {"radius_mm": (16.0, 4.0), "irregularity": (0.15, 0.08), "necrosis": (0.30, 0.2),
                    "edema_ratio": (1.45, 0.2), "heterogeneity": (0.05, 0.03)}

_BOUNDS = {"radius_mm": (5.0, 30.0), "irregularity": (0.0, 0.5), "enhancement": (0.0, 1.2),
           "necrosis": (0.0, 0.9), "edema_ratio": (1.05, 3.5), "heterogeneity": (0.0, 0.2)}


def factor_ceiling(modalities, effect_sizes: dict[str, float] | None = None) -> float:
    """The best AUC any classifier of ``modalities`` can reach on ``design="factors"`` phantoms.

    For independent unit-variance Gaussian factors shifted by ``d'_m`` between
    the classes, the log-likelihood ratio is ``sum_m d'_m z_m``, which is
    ``N(||d'||^2 / 2 +- ||d'||^2 / 2, ||d'||^2)`` in the two classes, so
    ``AUC = Phi(||d'_S|| / sqrt(2))``.
    """
    from scipy.stats import norm

    sizes = EFFECT_SIZES if effect_sizes is None else effect_sizes
    unknown = [m for m in modalities if m not in sizes]
    if unknown:
        raise ParameterError(f"no effect size for modalities {unknown} (known: {sorted(sizes)})")
    return float(norm.cdf(np.sqrt(sum(sizes[m] ** 2 for m in modalities)) / np.sqrt(2)))


def glioma_phantoms(*, n_cases: int = 60, shape: tuple[int, int, int] = (32, 40, 32), task: str = "grade",
                    class_ratio: float | None = None, difficulty: float = 0.5, seed: int = 0,
                    design: str = "factors", effect_sizes: dict[str, float] | None = None) -> PhantomCohort:
    """T1/T1ce/T2/FLAIR tumour phantoms with BraTS masks (module docstring: features, knobs, designs).

    ``class_ratio`` is the share of class 1 (HGG or metastasis) in (0, 1); ``None``
    takes the task default (210/285 HGG as BraTS2018, 1:1 for glioma vs metastasis).
    ``design`` and ``effect_sizes`` (default :data:`EFFECT_SIZES`) apply to the grade
    task; ``difficulty`` to the shared-lesion design and the metastasis task. The
    factors are in the metadata (``z_t1ce`` ...), for the ceiling classifiers.
    """
    if task not in _TASKS:
        raise ParameterError(f"task={task!r} must be one of {sorted(_TASKS)}")
    if design not in DESIGNS:
        raise ParameterError(f"design={design!r} must be one of {list(DESIGNS)}")
    factors = task == "grade" and design == "factors"
    sizes = dict(EFFECT_SIZES if effect_sizes is None else effect_sizes)
    if factors and set(sizes) != set(MODALITIES):
        raise ParameterError(f"effect_sizes must give one d' per modality {list(MODALITIES)}, got {sorted(sizes)}")
    spec = _TASKS[task]
    difficulty = check_difficulty(difficulty)
    n_cases = check_count("n_cases", n_cases, 2)
    share = spec["positive_share"] if class_ratio is None else float(class_ratio)
    if not 0.0 < share < 1.0:
        raise ParameterError(f"class_ratio={class_ratio!r} must lie strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    labels = shuffled_labels(n_cases, [1.0 - share, share], rng)
    if factors:
        params = {name: np.clip(mean + sd * rng.standard_normal(n_cases), *_BOUNDS[name])
                  for name, (mean, sd) in _FACTOR_GEOMETRY.items()}
        for m in MODALITIES:
            params[f"z_{m}"] = sizes[m] * labels + rng.standard_normal(n_cases)
        per_unit, midpoint = FACTOR_SIGNAL["t1ce"]
        params["enhancement"] = np.clip(midpoint + per_unit * (params["z_t1ce"] - sizes["t1ce"] / 2), 0.0, None)
    else:
        params = {name: class_conditional(rng, labels, spec[name][0], spec[name][1], difficulty,
                                          low=low, high=high)
                  for name, (low, high) in _BOUNDS.items()}
    params["n_lesions"] = 1 + rng.poisson(pulled_means(spec["extra_lesions"][0], difficulty)[labels])
    junction_p = pulled_means(spec["junction_share"][0], difficulty)[labels]
    seeds = case_seeds(rng, n_cases)

    anatomy = tissue_maps(tuple(shape))
    world = anatomy.world_mm()
    images, masks = empty_volumes(n_cases, anatomy.shape, MODALITIES)
    rows = []
    for i, case, case_rng in per_case(params, seeds):
        rho, n_junction = _lesion_field(case_rng, anatomy, world, case, junction_p[i])
        shifts = ({m: FACTOR_SIGNAL[m][1] + FACTOR_SIGNAL[m][0] * (case[f"z_{m}"] - sizes[m] / 2)
                   for m in MODALITIES if m != "t1ce"} if factors else {})
        signals, masks[i] = _render(case_rng, anatomy, rho, case, shifts, factors=factors)
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
    metadata = case_metadata(rows, case_ids, labels, spec["class_names"])
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


def _render(rng, anatomy, rho, case, tumour_shifts=None, factors=False):
    """Noise-free signal of each modality and the BraTS label map of one case.

    With ``factors`` (``design="factors"``) the T1ce enhancement covers the solid
    tumour, ``tumour_shifts`` ``{modality: change}`` shifts the other modalities'
    solid-tumour signal, and the rim is labelled 4 whatever its enhancement, so
    the masks carry no grade. Otherwise the enhancement covers the rim.
    """
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
            signal = signal + case["enhancement"] * (fractions["solid"] if factors else rim)
        if tumour_shifts and modality in tumour_shifts:
            signal = signal + tumour_shifts[modality] * fractions["solid"]
        signals[modality] = np.maximum(signal, 0.0)

    brain = anatomy.brain > 0.5
    mask = np.zeros(anatomy.shape, np.uint8)
    mask[brain & (rho < case["edema_ratio"]) & (parenchyma > 0.3)] = 2
    rim_label = 4 if factors or case["enhancement"] >= VISIBLE_ENHANCEMENT else 1
    mask[brain & (rho < 1.0)] = rim_label
    mask[brain & (rho < CORE_EDGE)] = 1
    return signals, mask
