"""Fusion metrics of the DILRAN paper (Tables 1-2): PSNR, SSIM, MI, FMI, FSIM and EN.

Every reference metric is the mean of (fused vs CT) and (fused vs MR), as in the
authors' code (``../shared/papers/NOTES.md``, DILRAN, "Metrics in their code").
Images are 2-D float arrays in [0, 1]. PSNR and SSIM come from scikit-image,
entropies from ``skimage.measure.shannon_entropy``; MI and FMI live in
:mod:`mmlib.papers.dilran.mutual_info`, FSIM in :mod:`mmlib.papers.dilran.fsim`.

Metric names returned by :func:`fusion_metric_suite`:

========================  =====================================================
``psnr``                  PSNR (dB), data_range 1; ``inf`` when F equals a source
``ssim``                  SSIM, scikit-image default 7x7 uniform window
``ssim_gaussian``         SSIM, 11x11 Gaussian (sigma 1.5), population
                          covariance: Wang et al. 2004 / torchmetrics, which the
                          authors' code used
``mi_mean``               (MI(F,CT) + MI(F,MR)) / 2, nats: the authors' variant
``mi_qu``                 MI(F,CT) + MI(F,MR), nats: Qu et al. 2002 / VIFB
                          ``metricsMutinf`` (each image min-max stretched first)
``fmi_none``              Fast-FMI on pixels, 3x3 windows: the paper's "FMI-pixel"
``fmi_edge``              Fast-FMI on binary Sobel edges: what ``fmi.m``'s
                          default, called by the authors, computed
``fsim``                  FSIM on the [0, 255] scale (Zhang's constants)
``fsim_unit``             FSIM on [0, 1] input: the authors' convention
``en_256``                256-bin Shannon entropy (bits) of the 8-bit fused image
``en_float_unique``       entropy over the fused float image's unique values:
                          the authors' EN
========================  =====================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from skimage.measure import shannon_entropy
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.fsim import fsim_features, fsim_from_features
from mmlib.papers.dilran.mutual_info import feature_mutual_information, mutual_information, to_uint8

#: Every metric :func:`fusion_metric_suite` knows, in report order.
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
    covariance, the setting of Wang et al. and of torchmetrics (the authors'
    library); NOTES.md traces the authors' SSIM gap to this choice of window.
    """
    if gaussian:
        return float(
            structural_similarity(
                x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
            )
        )
    return float(structural_similarity(x, y, data_range=1.0))


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
    """
    return float(shannon_entropy(np.asarray(image), base=2))


def _parse_variants(variants: Iterable[str]) -> tuple[str, ...]:
    if isinstance(variants, str):
        variants = (variants,)
    chosen = tuple(variants)
    unknown = sorted(set(chosen) - set(ALL_METRICS))
    if unknown:
        raise ParameterError(f"unknown fusion metric(s) {unknown}; choose from {ALL_METRICS}")
    if not chosen:
        raise ParameterError("variants is empty: name at least one fusion metric")
    return tuple(m for m in ALL_METRICS if m in chosen)


def fusion_metric_suite(
    fused: np.ndarray, ct: np.ndarray, mr: np.ndarray, *, variants: Iterable[str] = ALL_METRICS
) -> dict[str, float]:
    """All fusion metrics of DILRAN Tables 1-2 for one fused image and its CT and MR sources.

    ``variants`` picks metrics from :data:`ALL_METRICS` (see the module
    docstring for each). Reference metrics are the mean of (F, CT) and (F, MR);
    ``mi_qu`` is their sum; the entropies describe F alone. Work shared between
    metrics (8-bit copies, the fused image's phase congruency) is done once.
    """
    f, a, b = check_triplet(fused, ct, mr)
    chosen = _parse_variants(variants)
    out: dict[str, float] = {}

    def mean_of(metric) -> float:
        return 0.5 * (metric(f, a) + metric(f, b))

    if "psnr" in chosen:
        out["psnr"] = mean_of(psnr)
    if "ssim" in chosen:
        out["ssim"] = mean_of(ssim)
    if "ssim_gaussian" in chosen:
        out["ssim_gaussian"] = mean_of(lambda x, y: ssim(x, y, gaussian=True))
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
    for name, scale in (("fsim", 255.0), ("fsim_unit", 1.0)):
        if name in chosen:
            pf = fsim_features(f, intensity_scale=scale)
            out[name] = 0.5 * (
                fsim_from_features(pf, fsim_features(a, intensity_scale=scale))
                + fsim_from_features(pf, fsim_features(b, intensity_scale=scale))
            )
    if "en_256" in chosen:
        out["en_256"] = entropy_256(f)
    if "en_float_unique" in chosen:
        out["en_float_unique"] = entropy_float_unique(f)
    return {name: float(out[name]) for name in chosen}
