"""Seeded draws shared by the phantom generators: class counts, class-conditional parameters and each case's draws.

The ``difficulty`` knob of every generator acts here, in one place: a generating
parameter (tumour radius, enhancement, CBV drop, atrophy...) is drawn per case from
a normal distribution whose class means are pulled towards their common mean as
``difficulty`` goes from 0 (means as written, classes well separated) to 1 (all
class means equal, so the parameter carries no information about the label).
The spread within a class never changes. Hand-written: no library draws
class-conditional parameters with a separation knob.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from mmlib.errors import ParameterError


def check_difficulty(difficulty: float) -> float:
    """Return ``difficulty`` as a float, or raise :class:`ParameterError` outside [0, 1]."""
    value = float(difficulty)
    if not 0.0 <= value <= 1.0:
        raise ParameterError(f"difficulty={difficulty!r} must lie in [0, 1]")
    return value


def check_count(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise :class:`ParameterError` when below ``minimum``."""
    if int(value) != value or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def class_counts(n_cases: int, fractions: Sequence[float]) -> np.ndarray:
    """Split ``n_cases`` into per-class counts proportional to ``fractions`` (largest remainder).

    Every class gets at least one case, so a cross-validated baseline always sees
    both classes. Deterministic: exact counts, not a binomial draw.
    """
    fractions = np.asarray(fractions, dtype=float)
    if np.any(fractions <= 0):
        raise ParameterError(f"class fractions {fractions.tolist()} must all be > 0")
    if n_cases < len(fractions):
        raise ParameterError(f"n_cases={n_cases} is smaller than the number of classes ({len(fractions)})")
    share = fractions / fractions.sum() * n_cases
    counts = np.maximum(np.floor(share).astype(int), 1)
    while counts.sum() < n_cases:
        counts[np.argmax(share - counts)] += 1
    while counts.sum() > n_cases:
        counts[np.argmax(np.where(counts > 1, counts - share, -np.inf))] -= 1
    return counts


def shuffled_labels(n_cases: int, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Labels ``0..K-1`` with :func:`class_counts` members each, in a seeded random order."""
    counts = class_counts(n_cases, fractions)
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def pulled_means(class_means: Sequence[float], difficulty: float) -> np.ndarray:
    """Class means moved towards their unweighted average: ``mu_bar + (1 - d)(mu_c - mu_bar)``."""
    means = np.asarray(class_means, dtype=float)
    return means.mean() + (1.0 - difficulty) * (means - means.mean())


def class_conditional(
    rng: np.random.Generator,
    labels: np.ndarray,
    class_means: Sequence[float],
    sd: float,
    difficulty: float,
    *,
    low: float = -np.inf,
    high: float = np.inf,
) -> np.ndarray:
    """One parameter per case: ``N(mu_c(d), sd)`` clipped to ``[low, high]``.

    ``mu_c(d) = mu_bar + (1 - d) (mu_c - mu_bar)`` with ``mu_bar`` the unweighted
    mean of ``class_means``; at ``d = 1`` every class shares one distribution.
    """
    pulled = pulled_means(class_means, difficulty)
    return np.clip(pulled[labels] + sd * rng.standard_normal(len(labels)), low, high)


def case_seeds(rng: np.random.Generator, n_cases: int) -> np.ndarray:
    """Independent per-case integer seeds (for MONAI transforms' ``set_random_state``)."""
    return rng.integers(0, 2**31 - 1, size=n_cases)


def per_case(params: Mapping[str, np.ndarray], seeds: np.ndarray) -> Iterator[tuple[int, dict[str, float], np.random.Generator]]:
    """For each case in order: its index, its generating parameters (one value of each of ``params``' arrays, as
    floats) and its own generator, seeded with its entry of ``seeds`` (:func:`case_seeds`)."""
    for i, case_seed in enumerate(seeds):
        yield i, {name: float(values[i]) for name, values in params.items()}, np.random.default_rng(case_seed)
