"""Bodies of the two Lyapunov figures, until :mod:`localrnn.plotting` is their home.

Private to the package: :mod:`localrnn.lyapunov` wraps them with a
DeprecationWarning.  When ``localrnn/plotting.py`` (same names and signatures)
is merged, the wrappers import from there and this module is deleted.
"""
from __future__ import annotations

import numpy as np


def plot_spectrum(result: LyapunovResult, ax=None, per_time: bool = False, label=None, **kw):
    """Exponent i against i, with the spread over trials as a band.

    Returns the matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.gca()
    lam = result.exponents_per_time if per_time else result.exponents
    sd = result.exponents_per_time_std if per_time else result.exponents_std
    i = np.arange(1, result.k + 1)
    line, = ax.plot(i, lam, marker="o" if result.k <= 20 else None, label=label, **kw)
    ax.fill_between(i, lam - sd, lam + sd, color=line.get_color(), alpha=0.25, lw=0)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("index i")
    ax.set_ylabel(r"$\lambda_i$ " + ("(per unit time)" if per_time else "(per step)"))
    return ax


def plot_lambda_vs_gain(sweep: GainSweep, ax=None, label=None, **kw):
    """lambda_max (mean and spread over network seeds) against the gain."""
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.gca()
    m, sd = sweep.lambda_max_mean, sweep.lambda_max_std
    line, = ax.plot(sweep.gains, m, marker="o", label=label, **kw)
    ax.fill_between(sweep.gains, m - sd, m + sd, color=line.get_color(), alpha=0.25, lw=0)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("gain g")
    ax.set_ylabel(r"$\lambda_{max}$ (per step)")
    return ax
