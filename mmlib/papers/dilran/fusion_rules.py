"""Feature-level fusion rules for two-image autoencoder fusion (DILRAN Sec. 2.2.2, Table 1).

Every rule is a :class:`FusionRule`: a callable ``rule(f1, f2) -> f`` taking two
feature maps of the same shape ``(B, C, H, W)`` (image 1 and image 2 through the
same encoder) and returning one fused map of that shape, which the decoder turns
into the fused image.

=============== ===========================================================================
registry name   rule
=============== ===========================================================================
``sfnn-max``    :class:`SFNN` (the paper's proposal, Eq. 1, phi = max): the rule of Table 2
``sfnn-mean``   :class:`SFNN` with phi = mean (Table 1)
``sfnn-sum``    :class:`SFNN` with phi = sum (Table 1; the same weights as mean)
``sfnn-max-sq`` :class:`SFNN` as the authors' public code computes it: squared maxima
``fer``         :class:`FER`, element-wise energy ratio (MSRPAN, Fu et al. 2021; Table 1)
``fl1n``        :class:`FL1N`, global feature L1-norm (MSDRA, Li et al. 2022; Table 1)
``add``         :class:`Addition`, f1 + f2
``avg``         :class:`Average`, (f1 + f2) / 2
=============== ===========================================================================

Speed of SFNN (written by hand: no library offers it). The cost is the nuclear norms
of the 2 x C softmax maps (each H x W): :func:`torch.linalg.svdvals` on all 2·C maps,
split into one chunk per core, each chunk run with ONE intra-op thread (the chunks run
side by side in a thread pool: 128 maps of 256 x 256 in about 230 ms on 2 cores, against
about 460 ms in one thread; ``benchmarks/dilran_speed.py``). On this project's 2-core
AMD CPU, MKL's multi-threaded SVD of many small (256 x 256) matrices is pathological
when the machine is shared: 128 maps took 8.4 s with 2 threads against 0.75 s with
one (same values), measured with a load average of about 5
(``benchmarks/dilran_speed.py``). The per-matrix work is too small to gain from
threads. There is no cheaper *exact* formulation in general: the nuclear norm is not
linear (the channel sum of the norms is not the norm of the sum, which for softmax
maps is the all-ones matrix), and the Gram route ``sqrt(eigvalsh(S S^T))`` loses
accuracy on the many small singular values of real feature maps in float32 (relative
error 6e-4 on an AANLIB pair, against 1e-6 for ``svdvals``).
With phi = mean or sum the weights are identical
(the common factor 1/C cancels in Eq. 1), which is why Table 1's two rows are equal.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch

from mmlib.errors import DataError, ParameterError


class FusionRule:
    """Interface: ``rule(f1, f2) -> fused`` for two ``(B, C, H, W)`` feature maps.

    Subclasses implement :meth:`combine`; ``__call__`` checks the shapes first.
    """

    name: str = "rule"

    def __call__(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        if f1.ndim != 4 or f1.shape != f2.shape:
            raise DataError(
                "fusion input",
                f"{self.name} needs two feature maps of one shape (B, C, H, W); got {tuple(f1.shape)} "
                f"and {tuple(f2.shape)}",
            )
        return self.combine(f1, f2)

    def combine(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a / (a + b)`` for non-negative ``a``, ``b``; 0.5 where both are zero (0/0 guard)."""
    den = a + b
    return torch.where(den > 0, a / torch.where(den > 0, den, torch.ones_like(den)), torch.full_like(den, 0.5))


def nuclear_norms(maps: torch.Tensor) -> torch.Tensor:
    """Nuclear norm (sum of singular values) of every ``H x W`` matrix in ``maps`` (..., H, W).

    :func:`torch.linalg.svdvals` in float32 (SVD has no bfloat16 kernel, so autocast
    inputs are upcast). The matrices are split into one chunk per intra-op thread, and
    the chunks run side by side in a thread pool, each SVD with ONE intra-op thread
    (restored afterwards; see the module docstring for why one thread per SVD). Each
    matrix goes through the same LAPACK call either way, so the values do not depend on
    the thread count.
    """
    flat = maps.float().reshape(-1, *maps.shape[-2:])
    workers = max(1, min(torch.get_num_threads(), len(flat)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers == 1:
            norms = torch.linalg.svdvals(flat).sum(dim=-1)
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = pool.map(lambda chunk: torch.linalg.svdvals(chunk).sum(dim=-1), flat.chunk(workers))
                norms = torch.cat(list(parts))
    finally:
        torch.set_num_threads(threads)
    return norms.reshape(maps.shape[:-2])


class SFNN(FusionRule):
    """Softmax Feature weighted fusion (DILRAN paper, Sec. 2.2.2, Eq. 1).

    ``S = softmax(f)`` over channels; ``n_c = ||S_c||_*`` per channel;
    ``phi_k = phi_c(n_c)`` with ``phi`` in {max, mean, sum};
    ``W_k = phi_k / (phi_1 + phi_2)``; fused ``W_1 f_1 + W_2 f_2`` (one scalar per image
    and batch element). ``square=True`` gives the authors' code variant
    ``W_k = phi_k^2 / (phi_1^2 + phi_2^2)`` (NOTES.md: their code squares the maxima).
    """

    _PHI = {"max": lambda n: n.amax(dim=1), "mean": lambda n: n.mean(dim=1), "sum": lambda n: n.sum(dim=1)}

    def __init__(self, phi: str = "max", square: bool = False):
        if phi not in self._PHI:
            raise ParameterError(f"SFNN phi={phi!r} is not one of {sorted(self._PHI)}")
        self.phi, self.square = phi, square
        self.name = f"sfnn-{phi}" + ("-sq" if square else "")

    def weights(self, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(W_1, W_2)``, each of shape ``(B,)``, summing to 1 (Eq. 1)."""
        b = f1.shape[0]
        soft = torch.softmax(torch.cat([f1, f2]).float(), dim=1)  # (2B, C, H, W)
        phi = self._PHI[self.phi](nuclear_norms(soft))  # (2B,)
        if self.square:
            phi = phi.square()
        w1 = _ratio(phi[:b], phi[b:])
        return w1, 1.0 - w1

    def combine(self, f1, f2):
        w1, w2 = self.weights(f1, f2)
        return w1.view(-1, 1, 1, 1).to(f1.dtype) * f1 + w2.view(-1, 1, 1, 1).to(f2.dtype) * f2


class FER(FusionRule):
    """Feature energy ratio (MSRPAN, Fu et al. 2021): element-wise ``W_k = f_k^2 / (f_1^2 + f_2^2)``.

    Where both features are zero the weights are 0.5 each (the fused value is 0 either way).
    """

    name = "fer"

    def combine(self, f1, f2):
        w1 = _ratio(f1.square(), f2.square())
        return w1 * f1 + (1.0 - w1) * f2


class FL1N(FusionRule):
    """Feature L1-norm (MSDRA, Li et al. 2022): one scalar weight per image,
    ``W_k = ||f_k||_1 / (||f_1||_1 + ||f_2||_1)`` with the L1 norm over all of C, H, W."""

    name = "fl1n"

    def weights(self, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(W_1, W_2)``, each of shape ``(B,)``."""
        n1, n2 = f1.abs().flatten(1).sum(1), f2.abs().flatten(1).sum(1)
        w1 = _ratio(n1, n2)
        return w1, 1.0 - w1

    def combine(self, f1, f2):
        w1, w2 = self.weights(f1, f2)
        return w1.view(-1, 1, 1, 1) * f1 + w2.view(-1, 1, 1, 1) * f2


class Addition(FusionRule):
    """Element-wise sum ``f_1 + f_2`` (DenseFuse's addition strategy)."""

    name = "add"

    def combine(self, f1, f2):
        return f1 + f2


class Average(FusionRule):
    """Element-wise mean ``(f_1 + f_2) / 2``."""

    name = "avg"

    def combine(self, f1, f2):
        return 0.5 * (f1 + f2)


RULES: dict[str, Callable[[], FusionRule]] = {
    "sfnn-max": lambda: SFNN("max"),
    "sfnn-mean": lambda: SFNN("mean"),
    "sfnn-sum": lambda: SFNN("sum"),
    "sfnn-max-sq": lambda: SFNN("max", square=True),
    "fer": FER,
    "fl1n": FL1N,
    "add": Addition,
    "avg": Average,
}


def get_rule(rule: str | FusionRule) -> FusionRule:
    """Return the rule registered under ``rule`` (see the module table); a rule passes through."""
    if isinstance(rule, FusionRule):
        return rule
    if rule not in RULES:
        raise ParameterError(f"unknown fusion rule {rule!r}; known: {', '.join(RULES)}")
    return RULES[rule]()
