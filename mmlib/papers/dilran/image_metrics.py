"""Fusion metrics of the DILRAN paper (Tables 1-2): PSNR, SSIM, MI, FMI, FSIM and EN.

Every reference metric is the mean of (fused vs CT) and (fused vs MR), as in the
authors' code (``../shared/papers/NOTES.md``, DILRAN, "Metrics in their code").
Images are 2-D float arrays in [0, 1]. PSNR and SSIM come from scikit-image,
entropies from ``skimage.measure.shannon_entropy``; MI and FMI live in
:mod:`mmlib.papers.dilran.mutual_info`, FSIM in :mod:`mmlib.papers.dilran.fsim`.

Metric names returned by :func:`fusion_metric_suite` (:data:`METRIC_ORDER`; the three
marked "optional" only when ``variants`` names them, :data:`OPTIONAL_METRICS`):

=========================  =====================================================
``psnr``                   PSNR (dB), data_range 1; ``inf`` when F equals a source
``ssim``                   SSIM, scikit-image default 7x7 uniform window
``ssim_gaussian``          SSIM, 11x11 Gaussian (sigma 1.5), population
                           covariance, 5-pixel border cropped before averaging:
                           Wang et al. 2004 as scikit-image and torchmetrics
                           before 1.4.2 (the authors' library in 2022) compute it
``ssim_torchmetrics``      optional: the same SSIM map averaged over the whole reflect-padded
                           image, as torchmetrics 1.4.2 and later compute it
``mi_mean``                (MI(F,CT) + MI(F,MR)) / 2, nats: the authors' Python variant
``mi_qu``                  MI(F,CT) + MI(F,MR), nats: Qu et al. 2002 / VIFB
                           ``metricsMutinf`` (each image min-max stretched first)
``fmi_none``               Fast-FMI on pixels, 3x3 windows: the paper's "FMI-pixel"
``fmi_edge``               Fast-FMI on binary Sobel edges: what ``fmi.m``'s
                           default, called by the authors, computed
``fsim``                   FSIM on the [0, 255] scale with the authors' 6
                           orientations (Zhang's constants, phasepack's bank)
``fsim_zhang``             optional: Zhang et al.'s FSIM: 4 orientations, [0, 255] scale
                           (``FeatureSIM.m``, piq)
``fsim_unit``              FSIM on [0, 1] input, 6 orientations: the authors' variant
``en_256``                 256-bin Shannon entropy (bits) of the 8-bit fused image
``en_saved_jpeg``          optional: the paper's "MI" column: 256-bin entropy (bits) of the
                           fused image as the authors' save step wrote it
                           (:func:`entropy_saved_jpeg`)
``en_float_unique``        entropy over the fused float image's unique values:
                           the authors' EN; fp32 (or finer) precision only
=========================  =====================================================
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.measure import shannon_entropy
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.fsim import AUTHORS_ORIENTATIONS, ZHANG_ORIENTATIONS, fsim_features, fsim_from_features
from mmlib.papers.dilran.mutual_info import feature_mutual_information, mutual_information, to_uint8

#: The metrics :func:`fusion_metric_suite` computes by default, in report order: those of the
#: committed runs, so that re-scoring reproduces them number for number.
ALL_METRICS = (
    "psnr",
    "ssim",
    "ssim_gaussian",
    "mi_mean",
    "mi_qu",
    "fmi_none",
    "fmi_edge",
    "fsim",
    "fsim_unit",
    "en_256",
    "en_float_unique",
)
#: Variants computed only when ``variants`` names them (issue 12): torchmetrics' current SSIM,
#: Zhang's 4-orientation FSIM and the paper's MI column. Runs scored before issue 12 lack them; the
#: training chapter and the untrained rows (:func:`mmlib.papers.dilran.protocol.score_pairs`) ask for them.
OPTIONAL_METRICS = ("ssim_torchmetrics", "fsim_zhang", "en_saved_jpeg")
#: Every metric the suite knows, in report order.
METRIC_ORDER = (
    "psnr",
    "ssim",
    "ssim_gaussian",
    "ssim_torchmetrics",
    "mi_mean",
    "mi_qu",
    "fmi_none",
    "fmi_edge",
    "fsim",
    "fsim_zhang",
    "fsim_unit",
    "en_256",
    "en_saved_jpeg",
    "en_float_unique",
)
#: Pillow's default JPEG quality. The authors' save step (``inference.py``, lines 77-79, commented
#: out in their repository) wrote ``.jpg`` files with ``skimage.io.imsave`` and no options, which
#: hands the array to imageio's Pillow writer at this quality.
AUTHORS_JPEG_QUALITY = 75
#: Float dtypes too coarse for :func:`entropy_float_unique` (torch or numpy names).
LOW_PRECISION_DTYPES = ("float16", "bfloat16", "half")
#: :func:`check_fp32_precision` looks at the values of images with more distinct values than this.
MIN_VALUES_CHECKED = 16



def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as float64 after checking it is 2-D, finite and within [0, 1].

    Raises :class:`DataError` naming ``name`` and the problem; nothing is clipped
    or rescaled silently.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise DataError(name, f"expected a 2-D greyscale image, got shape {array.shape}")
    if array.size == 0:
        raise DataError(name, "image is empty")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise DataError(name, "image contains NaN or infinite values")
    lo, hi = float(array.min()), float(array.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(name, f"values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]")
    return array


def check_triplet(fused, ct, mr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the fused image and both sources (see :func:`check_image`) and that shapes match."""
    f, a, b = check_image(fused, "fused"), check_image(ct, "ct"), check_image(mr, "mr")
    if not (f.shape == a.shape == b.shape):
        raise DataError("fused/ct/mr", f"shapes differ: fused {f.shape}, ct {a.shape}, mr {b.shape}")
    return f, a, b


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """PSNR in dB with data_range 1 (scikit-image); ``inf`` for identical images."""
    if np.array_equal(x, y):
        return math.inf
    return float(peak_signal_noise_ratio(y, x, data_range=1.0))


def ssim(x: np.ndarray, y: np.ndarray, *, gaussian: bool = False) -> float:
    """SSIM (Wang et al. 2004, paper ref. [18]) with data_range 1 (scikit-image).

    ``gaussian=False``: scikit-image's default 7x7 uniform window with sample
    covariance. ``gaussian=True``: 11x11 Gaussian window, sigma 1.5, population
    covariance, the setting of Wang et al.; scikit-image averages the SSIM map
    after cropping a 5-pixel border. torchmetrics (the authors' library) did the
    same before release 1.4.2 (Sept 2024; its change #2721 dropped the crop), so
    this is the number the authors' 2022 code computed. torchmetrics 1.4.2 and
    later average the whole reflect-padded map: :func:`ssim_torchmetrics`.
    Measured on 12 (pixel average, source) pairs of AANLIB CT-MRI images in float32:
    torchmetrics 1.4.1 within 4.2e-6 of this, 1.9.0 within 3.8e-6 of
    :func:`ssim_torchmetrics`.
    """
    if gaussian:
        return float(
            structural_similarity(
                x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
            )
        )
    return float(structural_similarity(x, y, data_range=1.0))


def ssim_torchmetrics(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM as torchmetrics >= 1.4.2 computes it (``structural_similarity_index_measure``, data_range 1).

    Wang et al.'s map with an 11x11 Gaussian window (sigma 1.5, population moments,
    variances clipped at 0), the images reflect-padded by 5 pixels (torch's
    ``"reflect"``, scipy's ``"mirror"``) and the map averaged over every pixel, border
    included. Written here with scipy because torchmetrics is not a dependency;
    ``tests/test_image_metrics.py`` checks it against torchmetrics when installed and
    against a torch ``conv2d`` transcription of that procedure. On 12 (pixel average,
    source) pairs of AANLIB CT-MRI images it exceeds :func:`ssim` with ``gaussian=True``
    (the border-cropped mean of earlier torchmetrics and scikit-image) by 1.4 to 3.1 %,
    2.0 % on average.
    """
    c1, c2 = 0.01**2, 0.03**2
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def window(z):
        return gaussian_filter(z, 1.5, truncate=3.5, mode="mirror")  # 11 taps, torch's reflect padding

    mx, my = window(x), window(y)
    vx = np.maximum(window(x * x) - mx**2, 0.0)
    vy = np.maximum(window(y * y) - my**2, 0.0)
    cxy = window(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(smap.mean())


def entropy_256(image: np.ndarray) -> float:
    """Shannon entropy (bits) of the image quantised to 8 bits: at most log2(256) = 8."""
    return float(shannon_entropy(to_uint8(image), base=2))


def entropy_float_unique(image: np.ndarray) -> float:
    """Shannon entropy (bits) over the image's distinct float values: the authors' EN.

    ``shannon_entropy`` counts each distinct value as its own symbol. A fused
    float image from a network has almost as many distinct values as pixels, so
    this entropy is bounded by log2(H * W) (16 bits for 256 x 256), not by 8;
    that is how the paper's EN of 9.816 exceeds the 8 bits any 8-bit histogram
    allows. With k equally frequent values it equals log2(k).

    Scored at fp32 precision or finer only (:func:`check_fp32_precision`): the count
    of distinct values is a count of the representable numbers the network used, so a
    bf16 network's output (about 8 significant bits) scores far lower (8.87 bits in
    fp32, 5.56 in bf16 for the committed model, issue 12). Converting that output to
    fp32 does not restore the lost values, so it is refused, not converted.
    """
    return float(shannon_entropy(check_fp32_precision(image), base=2))


def check_fp32_precision(image, name: str = "fused") -> np.ndarray:
    """Return ``image`` as a numpy array after checking it carries fp32 (or finer) precision.

    Raises :class:`ParameterError` for a float16 / bfloat16 dtype (numpy, torch or
    ml_dtypes) and for a float array with more than :data:`MIN_VALUES_CHECKED`
    distinct values that are all exactly bfloat16 (or float16) numbers: a
    low-precision result cast up to fp32, e.g. ``fuse_pair(..., precision="bf16")``.
    Each value of a float32 network output is a bf16 number with probability about
    2^-16, so an fp32 result is not refused; neither is an 8-bit image read as floats
    (k / 255 is a bf16 number only for k = 0 and 255).
    """
    dtype = str(getattr(image, "dtype", "")).removeprefix("torch.")
    if dtype in LOW_PRECISION_DTYPES:
        raise ParameterError(f"{name}: dtype {dtype} is too coarse for the float-unique entropy; "
                             "fuse in fp32 (precision='fp32') and score that output")
    array = np.asarray(image)
    if array.dtype.kind == "f":
        values = np.unique(array.astype(np.float32, copy=False))
        if values.size > MIN_VALUES_CHECKED:
            if not (values.view(np.uint32) & 0xFFFF).any():
                coarse = "bfloat16"
            elif np.array_equal(values.astype(np.float16).astype(np.float32), values):
                coarse = "float16"
            else:
                return array
            raise ParameterError(f"{name}: all {values.size} distinct values are {coarse} numbers, so the image "
                                 f"was computed in {coarse}; the float-unique entropy needs an fp32 result "
                                 "(fuse with precision='fp32')")
    return array


def authors_uint8(image: np.ndarray) -> np.ndarray:
    """``(image * 255).astype(np.uint8)``, the cast of the authors' save step, without clipping.

    Computed in the input's own float precision (their image was a float32 tensor),
    truncated toward zero, and, like numpy's cast on x86-64, wrapped modulo 256 for
    values outside [0, 255]: 1.2 -> 306 -> 50, -0.1 -> -25 -> 231. (Their
    ``inference.py`` clamps the fused image to [0, 1] on line 72 before that cast, so
    on their path only truncation applies: a value of 0.999 becomes 254, not 255.)
    """
    array = np.asarray(image)
    if not np.isfinite(array).all():
        raise DataError("fused", "image contains NaN or infinite values")
    scaled = array * np.asarray(255, dtype=array.dtype if array.dtype.kind == "f" else np.float64)
    return (np.trunc(scaled).astype(np.int64) % 256).astype(np.uint8)


def jpeg_round_trip(image_u8: np.ndarray, quality: int = AUTHORS_JPEG_QUALITY) -> np.ndarray:
    """Encode a 2-D uint8 image as a greyscale JPEG with Pillow at ``quality`` and decode it again."""
    if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
        raise ParameterError(f"quality={quality!r}: JPEG quality is an integer in [1, 100]")
    array = np.asarray(image_u8)
    if array.ndim != 2 or array.dtype != np.uint8:
        raise DataError("fused", f"expected a 2-D uint8 image, got {array.dtype} of shape {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"))


def entropy_saved_jpeg(image: np.ndarray, quality: int = AUTHORS_JPEG_QUALITY) -> float:
    """The paper's "MI" column: 256-bin Shannon entropy (bits) of the fused image as the authors saved it.

    The authors' ``MI&FMI/analysis_MI.m`` (simonZhou86/dilran) scores JPEG files
    written by their save step (``inference.py``, lines 77-79) and, through Will
    Dwinnell's ``MutualInformation`` / ``JointEntropy``, reduces to ``entropy(F)`` of
    MATLAB's image toolbox: the 256-bin entropy of the fused image (NOTES.md, DILRAN).
    This function follows that path: :func:`authors_uint8` (no clipping), a Pillow
    JPEG round trip at :data:`AUTHORS_JPEG_QUALITY` (:func:`jpeg_round_trip`), then
    the entropy in bits. ``results/dilran/mi-check/`` compares it with their script
    run under GNU Octave (``scripts/dilran-octave-mi.sh``).
    """
    return float(shannon_entropy(jpeg_round_trip(authors_uint8(image), quality), base=2))


def _parse_variants(variants: Iterable[str]) -> tuple[str, ...]:
    if isinstance(variants, str):
        variants = (variants,)
    chosen = tuple(variants)
    unknown = sorted(set(chosen) - set(METRIC_ORDER))
    if unknown:
        raise ParameterError(f"unknown fusion metric(s) {unknown}; choose from {METRIC_ORDER}")
    if not chosen:
        raise ParameterError("variants is empty: name at least one fusion metric")
    return tuple(m for m in METRIC_ORDER if m in chosen)


def fusion_metric_suite(
    fused: np.ndarray, ct: np.ndarray, mr: np.ndarray, *, variants: Iterable[str] = ALL_METRICS
) -> dict[str, float]:
    """All fusion metrics of DILRAN Tables 1-2 for one fused image and its CT and MR sources.

    ``variants`` picks metrics from :data:`METRIC_ORDER` (see the module
    docstring for each); the default, :data:`ALL_METRICS`, leaves out
    :data:`OPTIONAL_METRICS`. Reference metrics are the mean of (F, CT) and (F, MR);
    ``mi_qu`` is their sum; the entropies describe F alone. Work shared between
    metrics (8-bit copies, the fused image's phase congruency) is done once.
    """
    chosen = _parse_variants(variants)
    if "en_float_unique" in chosen:
        check_fp32_precision(fused)  # before check_triplet makes a float64 copy of it
    f, a, b = check_triplet(fused, ct, mr)
    out: dict[str, float] = {}

    def mean_of(metric) -> float:
        return 0.5 * (metric(f, a) + metric(f, b))

    if "psnr" in chosen:
        out["psnr"] = mean_of(psnr)
    if "ssim" in chosen:
        out["ssim"] = mean_of(ssim)
    if "ssim_gaussian" in chosen:
        out["ssim_gaussian"] = mean_of(lambda x, y: ssim(x, y, gaussian=True))
    if "ssim_torchmetrics" in chosen:
        out["ssim_torchmetrics"] = mean_of(ssim_torchmetrics)
    if "mi_mean" in chosen:
        f8 = to_uint8(f)
        out["mi_mean"] = 0.5 * (mutual_information(f8, to_uint8(a)) + mutual_information(f8, to_uint8(b)))
    if "mi_qu" in chosen:
        f8 = to_uint8(f, stretch=True)
        out["mi_qu"] = mutual_information(f8, to_uint8(a, stretch=True)) + mutual_information(
            f8, to_uint8(b, stretch=True)
        )
    for feature in ("none", "edge"):
        if f"fmi_{feature}" in chosen:
            out[f"fmi_{feature}"] = feature_mutual_information(f, a, b, feature=feature)
    fsim_settings = {"fsim": (255.0, AUTHORS_ORIENTATIONS), "fsim_zhang": (255.0, ZHANG_ORIENTATIONS),
                     "fsim_unit": (1.0, AUTHORS_ORIENTATIONS)}
    for name, (scale, orientations) in fsim_settings.items():
        if name in chosen:
            kw = {"intensity_scale": scale, "orientations": orientations}
            pf = fsim_features(f, **kw)
            out[name] = 0.5 * (fsim_from_features(pf, fsim_features(a, **kw))
                               + fsim_from_features(pf, fsim_features(b, **kw)))
    if "en_256" in chosen:
        out["en_256"] = entropy_256(f)
    if "en_saved_jpeg" in chosen:
        out["en_saved_jpeg"] = entropy_saved_jpeg(np.asarray(fused))
    if "en_float_unique" in chosen:
        out["en_float_unique"] = entropy_float_unique(np.asarray(fused))
    return {name: float(out[name]) for name in chosen}
