"""FSIM, the feature similarity index (Zhang, Zhang, Mou & Zhang 2011, DILRAN paper ref. [19]).

FSIM = sum(S_PC * S_G * PC_m) / sum(PC_m) (Zhang et al. 2011, Eqs. 5-8) with
S_PC = (2 PC_1 PC_2 + T1) / (PC_1^2 + PC_2^2 + T1), S_G the same on Scharr
gradient magnitudes with T2, and PC_m = max(PC_1, PC_2). Phase congruency (PC)
follows Kovesi's ``phasecong2`` as used in Zhang's ``FeatureSIM.m``: a log-Gabor
bank (minimum wavelength 6, scale factor 2, sigma_f 0.55, angular spread ratio
1.2), noise threshold k = 2 from the median smallest-scale response, and
``epsilon = .0001`` in the energy normalisation, the constant of ``phasecong2.m``
and ``FeatureSIM.m`` (:data:`PC_EPSILON`). piq instead adds the machine epsilon of
its tensors' dtype (``torch.finfo(dtype).eps``); ``epsilon=`` selects either.

Which FSIM is which (NOTES.md, DILRAN, "Metrics in their code"):

* :func:`fsim_zhang`: Zhang et al.'s FSIM as ``FeatureSIM.m`` and piq compute it:
  4 orientations (:data:`ZHANG_ORIENTATIONS`), grey levels on [0, 255]. The tests
  check it against piq's ``fsim``.
* :func:`fsim` with its defaults: the **authors' orientation count**: 6 orientations
  (:data:`AUTHORS_ORIENTATIONS`, phasepack's default, which their ``phasecong`` call
  kept) with Zhang's constants on [0, 255]; the suite's ``fsim``.
* :func:`fsim` with ``intensity_scale=1``: the authors' variant as they fed it,
  6 orientations on [0, 1] input; the suite's ``fsim_unit``. It follows
  ``phasecong2.m``'s epsilon (1e-4), which on [0, 1] input weighs 255 times more
  against the filter responses than on [0, 255]. Measured against piq on the same
  unscaled input (``data_range=255``, so piq does not rescale), on 12 (fused = pixel
  average, source) pairs of AANLIB CT-MRI images: at most 3.4e-4 (0.04 %) with 6
  orientations and 1.7e-4 with 4; with ``epsilon`` set to piq's machine epsilon, at
  most 8e-6. piq called with ``data_range=1`` instead rescales to [0, 255] and
  computes :func:`fsim_zhang`, 10-30 % below ``fsim_unit``: that gap is the scale of
  T1 and T2, not the epsilon.

Constants T1 = 0.85 and T2 = 160 assume grey levels in [0, 255]. The DILRAN
authors fed [0, 1] images (NOTES.md), which makes the gradient term nearly 1
everywhere and inflates FSIM; ``intensity_scale`` selects the convention
(255: Zhang's; 1: the authors'). They also used phasepack's ``phasecong`` and
summed its six per-orientation PC maps, a map in [0, 6] rather than [0, 1]; this
module keeps Zhang's single PC map, so its 6-orientation FSIM is the authors'
orientation count, not their summed map. Like ``FeatureSIM.m`` (and piq), images of
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
#: ``epsilon = .0001`` of Kovesi's ``phasecong2.m`` and Zhang's ``FeatureSIM.m`` (piq: machine epsilon).
PC_EPSILON = 1e-4
#: Orientations of the log-Gabor bank: Zhang's ``FeatureSIM.m`` and piq use 4; the DILRAN authors'
#: phasepack ``phasecong`` call kept its default of 6.
ZHANG_ORIENTATIONS, AUTHORS_ORIENTATIONS = 4, 6
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


def phase_congruency(image: np.ndarray, *, scales: int = 4, orientations: int = AUTHORS_ORIENTATIONS,
                     k: float = 2.0, epsilon: float = PC_EPSILON):
    """Phase congruency map in [0, 1] (Kovesi's ``phasecong2`` as in ``FeatureSIM.m``).

    ``epsilon``: the constant added to the local energy's norm (:data:`PC_EPSILON`, as
    ``phasecong2.m``; piq uses the machine epsilon of its dtype).

    The filter responses are computed in single precision (complex64 FFTs, about
    twice as fast); the result agrees with double precision to about 1e-6.
    """
    image = np.asarray(image, dtype=np.float32)
    bank, energy_smallest, sum_sq, sum_cross = _filter_bank(image.shape, scales, orientations)
    responses = scipy.fft.ifft2(scipy.fft.fft2(image) * bank, workers=-1)
    even, odd = responses.real, responses.imag
    amplitude = np.abs(responses)
    sum_even, sum_odd = even.sum(1), odd.sum(1)
    norm = np.sqrt(sum_even**2 + sum_odd**2) + epsilon
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


def fsim_features(image: np.ndarray, *, intensity_scale: float = 255.0, orientations: int = AUTHORS_ORIENTATIONS,
                  epsilon: float = PC_EPSILON):
    """``(PC, GM)`` of one image after multiplying it by ``intensity_scale``."""
    scaled = np.asarray(image, dtype=np.float64) * intensity_scale
    return phase_congruency(scaled, orientations=orientations, epsilon=epsilon), gradient_magnitude(scaled)


def fsim_from_features(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]) -> float:
    """FSIM (Zhang et al. 2011, Eq. 8) from two images' ``(PC, GM)`` pairs."""
    (pc1, gm1), (pc2, gm2) = first, second
    s_pc = (2 * pc1 * pc2 + T1) / (pc1**2 + pc2**2 + T1)
    s_g = (2 * gm1 * gm2 + T2) / (gm1**2 + gm2**2 + T2)
    pc_max = np.maximum(pc1, pc2)
    return float((s_pc * s_g * pc_max).sum() / pc_max.sum())


def fsim(x: np.ndarray, y: np.ndarray, *, intensity_scale: float = 255.0, orientations: int = AUTHORS_ORIENTATIONS,
         epsilon: float = PC_EPSILON) -> float:
    """FSIM of two greyscale images given in [0, 1]; by default the authors' 6-orientation variant.

    ``orientations=6`` (default) is the authors' bank (phasepack's default, NOTES.md);
    Zhang's ``FeatureSIM.m`` and piq use 4 (:func:`fsim_zhang`). ``intensity_scale=255``
    applies Zhang's constants T1, T2 on the [0, 255] scale they were set for;
    ``intensity_scale=1`` reproduces the authors' [0, 1] input. ``epsilon``: see
    :func:`phase_congruency`.
    """
    kw = {"intensity_scale": intensity_scale, "orientations": orientations, "epsilon": epsilon}
    return fsim_from_features(fsim_features(x, **kw), fsim_features(y, **kw))


def fsim_zhang(x: np.ndarray, y: np.ndarray) -> float:
    """Zhang et al.'s FSIM (2011, Eq. 8; ``FeatureSIM.m``, greyscale): 4 orientations, [0, 255] scale.

    The same number as piq's ``fsim(x, y, data_range=1, chromatic=False)`` up to the
    phase-congruency epsilon (measured below 5e-5 in ``tests/test_image_metrics.py``).
    """
    return fsim(x, y, intensity_scale=255.0, orientations=ZHANG_ORIENTATIONS)
