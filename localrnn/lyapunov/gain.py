"""lambda_max against the initial gain g (MODEL.md sections 2 and 6).

The study's central sweep: the exponents of freshly initialised networks
``W = g Z / sqrt(N)`` over a range of gains and network seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .._validate import check_number
from ..network import Network
from .spectrum import lyapunov_spectrum

__all__ = ["GainSweep", "lambda_max_vs_gain", "Rescaled", "rescale_to_lambda"]


# --------------------------------------------------------------------------- gain sweeps

@dataclass
class GainSweep:
    """Exponents of freshly initialised networks over a range of gains.

    Attributes
    ----------
    gains : (G,) array
    exponents : (G, S, k) array
        Per step, sorted descending, trial average; one row per network seed.
    seeds : (S,) array
    """

    gains: np.ndarray
    exponents: np.ndarray
    seeds: np.ndarray

    @property
    def lambda_max(self) -> np.ndarray:
        """(G, S) the largest exponent."""
        return self.exponents[:, :, 0]

    @property
    def lambda_max_mean(self) -> np.ndarray:
        return self.lambda_max.mean(axis=1)

    @property
    def lambda_max_std(self) -> np.ndarray:
        S = self.exponents.shape[1]
        return self.lambda_max.std(axis=1, ddof=1) if S > 1 else np.zeros(len(self.gains))


def lambda_max_vs_gain(gains: Sequence[float], inputs, n_rec: int, alpha: float, k: int = 1,
                       activation: str = "tanh", form: str = "current", n_out: int = 1,
                       seeds: Sequence[int] = (0,), warmup: Optional[int] = None,
                       qr_every: int = 1, h0=None) -> GainSweep:
    """The first k exponents of ``Network.init(..., gain=g, seed=s)`` for each gain and seed.

    Networks are initialised as MODEL.md section 2 (``W = g Z / sqrt(N)``) with
    ``n_in = inputs.shape[2]``; for large N and small alpha without input,
    lambda_max crosses 0 near g = 1.

    Examples
    --------
    >>> import numpy as np
    >>> sw = lambda_max_vs_gain([0.5, 2.0], np.zeros((60, 1, 1)), n_rec=32, alpha=0.5)
    >>> sw.lambda_max.shape
    (2, 1)
    """
    gains = np.asarray(gains, dtype=np.float64).reshape(-1)
    if gains.size == 0:
        raise ValueError("gains is empty; give at least one gain")
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
    if seeds.size == 0:
        raise ValueError("seeds is empty; give at least one network seed")
    x = np.asarray(inputs)
    if x.ndim != 3:
        raise ValueError(f"inputs has shape {x.shape}; expected (T, B, I)")
    out = None
    for gi, g in enumerate(gains):
        for si, s in enumerate(seeds):
            net = Network.init(x.shape[2], n_rec, n_out, gain=float(g), alpha=alpha,
                               activation=activation, form=form, seed=int(s))
            res = lyapunov_spectrum(net, x, k, warmup=warmup, qr_every=qr_every, h0=h0)
            if out is None:
                out = np.empty((gains.size, seeds.size, res.k))
            out[gi, si] = res.exponents
    return GainSweep(gains=gains, exponents=out, seeds=seeds)


# --------------------------------------------------------------------------- rescaling W

@dataclass
class Rescaled:
    """What :func:`rescale_to_lambda` did: W was multiplied by ``factor``, after which
    lambda_max was ``lambda_max`` (``lambda_max_before`` at factor 1); ``evaluations``
    spectra were computed; ``reached``: whether a factor within the bounds crosses the
    target (False: ``factor`` is the bound nearest to it)."""

    factor: float
    lambda_max: float
    lambda_max_before: float
    evaluations: int
    reached: bool = True


def rescale_to_lambda(net: Network, inputs, target: float = 0.0, tol: float = 0.005,
                      h0=None, seed: int = 0, warmup: Optional[int] = None,
                      max_factor: float = 16.0, max_evals: int = 40) -> Rescaled:
    """Multiply W (in place) by the scalar c that brings lambda_max to ``target``.

    The control for flossing of the study (``TrainConfig.rescale_to``): the same change
    of lambda_max as flossing aims at, made by the gain alone, with W's structure kept.
    lambda_max(c W) is the first exponent (k = 1) on ``inputs`` (``seed``: its random
    start; ``h0``, ``warmup`` as :func:`lyapunov_spectrum`).  c is bracketed by doubling
    or halving from 1 (at most ``max_factor`` either way), then found by bisection in
    log c until ``|lambda_max - target| <= tol`` or ``max_evals`` spectra; the bracket
    end nearest the target is kept when the tolerance is not reached.  lambda_max grows
    with c for these networks in practice, but monotonicity is not required: any sign
    change is a crossing.  When no factor within ``[1/max_factor, max_factor]`` reaches
    the target's side, W is left at that bound (the nearest it gets) and ``reached`` is
    False.
    """
    target = check_number("target", target)
    tol = check_number("tol", tol, lo=0.0, lo_open=True)
    max_factor = check_number("max_factor", max_factor, lo=1.0, lo_open=True)
    W0 = net.W.copy()
    evals = 0

    def lam(c):
        nonlocal evals
        evals += 1
        net.W[...] = W0 * net.W.dtype.type(c)
        return float(lyapunov_spectrum(net, inputs, 1, warmup=warmup, seed=seed, h0=h0).exponents[0])

    l1 = lam(1.0)
    if abs(l1 - target) <= tol:
        return Rescaled(1.0, l1, l1, evals)
    step = 2.0 if l1 < target else 0.5
    lo_c, lo_l = 1.0, l1
    c = 1.0
    while True:
        c2 = c * step
        if c2 > max_factor * (1 + 1e-12) or c2 < (1 - 1e-12) / max_factor:
            net.W[...] = W0 * net.W.dtype.type(c)
            return Rescaled(float(c), float(lo_l), l1, evals, reached=False)
        l2 = lam(c2)
        if (l2 - target) * (lo_l - target) <= 0:
            break
        c, lo_c, lo_l = c2, c2, l2
    a, la, b, lb = lo_c, lo_l, c2, l2
    while abs(lb - target) > tol and abs(la - target) > tol and evals < max_evals:
        m = float(np.sqrt(a * b))
        lm = lam(m)
        if (lm - target) * (la - target) <= 0:
            b, lb = m, lm
        else:
            a, la = m, lm
    c, l = (a, la) if abs(la - target) <= abs(lb - target) else (b, lb)
    net.W[...] = W0 * net.W.dtype.type(c)
    return Rescaled(float(c), float(l), l1, evals)
