"""FSIM, the feature similarity index (Zhang, Zhang, Mou & Zhang 2011, DILRAN paper ref. [19]).

FSIM = sum(S_PC * S_G * PC_m) / sum(PC_m) (Zhang et al. 2011, Eqs. 5-8) with
S_PC = (2 PC_1 PC_2 + T1) / (PC_1^2 + PC_2^2 + T1), S_G the same on Scharr
gradient magnitudes with T2, and PC_m = max(PC_1, PC_2). Phase congruency (PC)
follows Kovesi's ``phasecong2`` as used in Zhang's ``FeatureSIM.m``: a log-Gabor
bank (minimum wavelength 6, scale factor 2, sigma_f 0.55, angular spread ratio
1.2), noise threshold k = 2 from the median smallest-scale response, epsilon 1e-4.

Constants T1 = 0.85 and T2 = 160 assume grey levels in [0, 255]. The DILRAN
authors fed [0, 1] images (NOTES.md), which makes the gradient term nearly 1
everywhere and inflates FSIM; ``intensity_scale`` selects the convention
(255: Zhang's; 1: the authors'). They also used phasepack's ``phasecong`` and
summed its six per-orientation PC maps, a map in [0, 6] rather than [0, 1]; this
module keeps Zhang's single PC map. Like ``FeatureSIM.m`` (and piq), images of
up to about 383 pixels per side are not downsampled; this module never
downsamples.

Written by hand (numpy/scipy FFT) so the filter bank can be cached and the fused
image's PC reused against both sources; the tests check it against piq's
``fsim`` (greyscale, same parameters).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
from scipy import ndimage

#: Zhang et al. 2011, Sec. III: stabilising constants for PC and gradient similarity.
T1, T2 = 0.85, 160.0
_EPSILON = 1e-4
_SCHARR = np.array([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]]) / 16.0


def _frequency_axis(n: int) -> np.ndarray:
    """Normalised frequencies in FFT order, with ``FeatureSIM.m``'s odd-size convention."""
    if n % 2:
        return scipy.fft.ifftshift(np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1))
    return scipy.fft.fftfreq(n)


@lru_cache(maxsize=8)
def _filter_bank(shape: tuple[int, int], scales: int, orientations: int):
    """Log-Gabor bank ``(orientations, scales, H, W)`` and its noise-model constants.

    Returns the bank, the energy of the smallest-scale filter per orientation
    (``EM_n``) and the spatial sums used to predict the noise energy
    (``sum_s g_s^2`` and ``sum_{s<t} g_s g_t`` of the spatial filters), as in
    Kovesi's ``phasecong2``.
    """
    rows, cols = shape
    x = _frequency_axis(cols)[None, :]
    y = _frequency_axis(rows)[:, None]
    radius = np.hypot(x, y)
    theta = np.arctan2(-y, x)
    lowpass = 1.0 / (1.0 + (radius / 0.45) ** 30)
    radius[0, 0] = 1.0
    radial = []
    for s in range(scales):
        centre = 1.0 / (6.0 * 2.0**s)
        gabor = np.exp(-(np.log(radius / centre) ** 2) / (2 * np.log(0.55) ** 2)) * lowpass
        gabor[0, 0] = 0.0
        radial.append(gabor)
    theta_sigma = np.pi / orientations / 1.2
    angular = []
    for o in range(orientations):
        angle = o * np.pi / orientations
        d_sin = np.sin(theta) * np.cos(angle) - np.cos(theta) * np.sin(angle)
        d_cos = np.cos(theta) * np.cos(angle) + np.sin(theta) * np.sin(angle)
        angular.append(np.exp(-(np.arctan2(d_sin, d_cos) ** 2) / (2 * theta_sigma**2)))
    bank = np.asarray(angular)[:, None] * np.asarray(radial)[None]
    energy_smallest = (bank[:, 0] ** 2).sum(axis=(1, 2))
    spatial = scipy.fft.ifft2(bank).real * np.sqrt(rows * cols)
    sum_sq = (spatial**2).sum(axis=(1, 2, 3))
    cumulative = np.cumsum(spatial, axis=1)
    sum_cross = (spatial[:, 1:] * cumulative[:, :-1]).sum(axis=(1, 2, 3))
    return bank.astype(np.float32), energy_smallest, sum_sq, sum_cross


def phase_congruency(image: np.ndarray, *, scales: int = 4, orientations: int = 6, k: float = 2.0):
    """Phase congruency map in [0, 1] (Kovesi's ``phasecong2`` as in ``FeatureSIM.m``).

    The filter responses are computed in single precision (complex64 FFTs, about
    twice as fast); the result agrees with double precision to about 1e-6.
    """
    image = np.asarray(image, dtype=np.float32)
    bank, energy_smallest, sum_sq, sum_cross = _filter_bank(image.shape, scales, orientations)
    responses = scipy.fft.ifft2(scipy.fft.fft2(image) * bank, workers=-1)
    even, odd = responses.real, responses.imag
    amplitude = np.abs(responses)
    sum_even, sum_odd = even.sum(1), odd.sum(1)
    norm = np.sqrt(sum_even**2 + sum_odd**2) + _EPSILON
    mean_even, mean_odd = (sum_even / norm)[:, None], (sum_odd / norm)[:, None]
    energy = (even * mean_even + odd * mean_odd - np.abs(even * mean_odd - odd * mean_even)).sum(1)

    # Noise threshold per orientation from the median squared smallest-scale response.
    median_sq = np.median((amplitude[:, 0] ** 2).reshape(orientations, -1), axis=1)
    noise_power = -median_sq / np.log(0.5) / energy_smallest
    tau = np.sqrt((2 * noise_power * sum_sq + 4 * noise_power * sum_cross) / 2)
    threshold = (tau * np.sqrt(np.pi / 2) + k * np.sqrt((2 - np.pi / 2) * tau**2)) / 1.7
    energy = np.maximum(energy - threshold[:, None, None], 0.0)
    total_amplitude = amplitude.sum(axis=(0, 1), dtype=np.float64)
    return energy.sum(0, dtype=np.float64) / np.maximum(total_amplitude, np.finfo(np.float64).tiny)


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Scharr gradient magnitude with zero padding (``conv2(.., 'same')`` in ``FeatureSIM.m``)."""
    image = np.asarray(image, dtype=np.float64)
    gx = ndimage.correlate(image, _SCHARR, mode="constant")
    gy = ndimage.correlate(image, _SCHARR.T, mode="constant")
    return np.hypot(gx, gy)


def fsim_features(image: np.ndarray, *, intensity_scale: float = 255.0, orientations: int = 6):
    """``(PC, GM)`` of one image after multiplying it by ``intensity_scale``."""
    scaled = np.asarray(image, dtype=np.float64) * intensity_scale
    return phase_congruency(scaled, orientations=orientations), gradient_magnitude(scaled)


def fsim_from_features(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]) -> float:
    """FSIM (Zhang et al. 2011, Eq. 8) from two images' ``(PC, GM)`` pairs."""
    (pc1, gm1), (pc2, gm2) = first, second
    s_pc = (2 * pc1 * pc2 + T1) / (pc1**2 + pc2**2 + T1)
    s_g = (2 * gm1 * gm2 + T2) / (gm1**2 + gm2**2 + T2)
    pc_max = np.maximum(pc1, pc2)
    return float((s_pc * s_g * pc_max).sum() / pc_max.sum())


def fsim(x: np.ndarray, y: np.ndarray, *, intensity_scale: float = 255.0, orientations: int = 6) -> float:
    """FSIM of two greyscale images given in [0, 1].

    ``intensity_scale=255`` applies Zhang's constants on the [0, 255] scale they
    were set for; ``intensity_scale=1`` reproduces the DILRAN authors' [0, 1] input.
    ``orientations=6`` is the authors' (phasepack) bank; ``FeatureSIM.m`` uses 4.
    """
    kw = {"intensity_scale": intensity_scale, "orientations": orientations}
    return fsim_from_features(fsim_features(x, **kw), fsim_features(y, **kw))
