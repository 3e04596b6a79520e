"""lambda_max against the initial gain g (MODEL.md sections 2 and 6).

The study's central sweep: the exponents of freshly initialised networks
``W = g Z / sqrt(N)`` over a range of gains and network seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..network import Network
from .spectrum import lyapunov_spectrum

__all__ = ["GainSweep", "lambda_max_vs_gain"]


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
