"""Lyapunov spectra and lambda_max against the gain (MODEL.md section 6)."""
from __future__ import annotations

import numpy as np

from .common import pyplot


def _mean_band(ax, x, m, sd, **kw):
    """A line of means with a band of +- sd in its colour and the zero line; returns ax."""
    if ax is None:
        ax = pyplot().gca()
    line, = ax.plot(x, m, **kw)
    ax.fill_between(x, m - sd, m + sd, color=line.get_color(), alpha=0.25, lw=0)
    ax.axhline(0.0, color="0.5", lw=0.8)
    return ax


def plot_spectrum(result, ax=None, per_time: bool = False, label=None, **kw):
    """Exponent i against i, with the spread over trials as a band.

    Parameters
    ----------
    result : localrnn.lyapunov.LyapunovResult
    ax : matplotlib Axes, optional (the current Axes otherwise)
    per_time : bool
        Exponents per unit time instead of per step.
    label : str, optional
    **kw
        Passed to ``Axes.plot``.

    Returns the matplotlib ``Axes``.
    """
    lam = result.exponents_per_time if per_time else result.exponents
    sd = result.exponents_per_time_std if per_time else result.exponents_std
    ax = _mean_band(ax, np.arange(1, result.k + 1), lam, sd, marker="o" if result.k <= 20 else None,
                    label=label, **kw)
    ax.set_xlabel("index i")
    ax.set_ylabel(r"$\lambda_i$ " + ("(per unit time)" if per_time else "(per step)"))
    return ax


def plot_lambda_vs_gain(sweep, ax=None, label=None, **kw):
    """lambda_max (mean and spread over network seeds) against the gain.

    Parameters
    ----------
    sweep : localrnn.lyapunov.GainSweep
    ax : matplotlib Axes, optional (the current Axes otherwise)
    label : str, optional
    **kw
        Passed to ``Axes.plot``.

    Returns the matplotlib ``Axes``.
    """
    ax = _mean_band(ax, sweep.gains, sweep.lambda_max_mean, sweep.lambda_max_std, marker="o",
                    label=label, **kw)
    ax.set_xlabel("gain g")
    ax.set_ylabel(r"$\lambda_{max}$ (per step)")
    return ax


__all__ = ["plot_spectrum", "plot_lambda_vs_gain"]
