"""Figures of a reproduced study (``localrnn reproduce``), drawn from plain arrays.

The study (:mod:`localrnn.reproduce`) arranges its runs into *panels*; these functions
only draw them, so the plotting layer knows nothing of the study's objects.

- :func:`plot_curve_panels`: per panel, one mean curve with a ±1 sd band per series
  (learning curves on a log axis, λ_max during training on a linear one);
- :func:`plot_gain_panels`: per panel, mean ± sd of a measure against the gain, one line
  per series.

A series is ``(label, x, ys)`` with ``ys`` one array per seed (curves) or
``(label, gains, means, sds)`` (against the gain).  On a log axis the band's lower edge
is clipped at mean / :data:`BAND_CLIP` (mean - sd may be <= 0).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .common import pyplot, save_figure

BAND_CLIP = 5.0


def _grid(n: int, cols: Optional[int], w: float, h: float):
    cols = cols or n
    rows = (n + cols - 1) // cols
    fig, axes = pyplot().subplots(rows, cols, figsize=(w * cols, h * rows), dpi=110, squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat


def _mean_sd(ys: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, int]:
    n = min(len(y) for y in ys)
    A = np.array([np.asarray(y, dtype=float)[:n] for y in ys])
    A = np.where(np.isfinite(A), A, np.nan)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmean(A, axis=0)
            s = np.nanstd(A, axis=0, ddof=1) if A.shape[0] > 1 else np.zeros(n)
    return m, np.where(np.isfinite(s), s, 0.0), n


def _finish(ax, title, xlabel, ylabel, log, hline):
    if hline is not None:
        ax.axhline(hline, color="gray", lw=0.8)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_curve_panels(panels, path, ylabel: str = "eval loss", log: bool = True, cols: Optional[int] = None,
                      xlabel: str = "iteration", hline: Optional[float] = None):
    """One panel per ``(title, series)``; a series ``(label, x, ys)`` is drawn as its mean
    over ``ys`` with a ±1 sd band.  Saved to ``path``; returns the path."""
    fig, axes = _grid(len(panels), cols, 4.2, 3.4)
    # one colour per series label across every panel (a label keeps its colour when
    # another panel has fewer or more series)
    labels = list(dict.fromkeys(lab for _, series in panels for lab, _, _ in series))
    cycle = [c["color"] for c in pyplot().rcParams["axes.prop_cycle"]]
    colour = {lab: cycle[i % len(cycle)] for i, lab in enumerate(labels)}
    for ax, (title, series) in zip(axes, panels):
        for lab, x, ys in series:
            ys = [y for y in ys if len(y)]
            if not ys:
                continue
            m, s, n = _mean_sd(ys)
            xx = np.asarray(x, dtype=float)[:n]
            ax.plot(xx, m, lw=1.4, color=colour[lab], label=f"{lab} (n={len(ys)})")
            lo = np.maximum(m - s, m / BAND_CLIP) if log else m - s
            ax.fill_between(xx, lo, m + s, color=colour[lab], alpha=0.2, lw=0)
        _finish(ax, title, xlabel, ylabel, log, hline)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_gain_panels(panels, path, cols: Optional[int] = None, hline: Optional[float] = None):
    """One panel per ``(title, ylabel, log, series)``; a series ``(label, gains, means,
    sds)`` is drawn as error bars against the gain.  Saved to ``path``."""
    fig, axes = _grid(len(panels), cols, 4.6, 3.6)
    for ax, (title, ylabel, log, series) in zip(axes, panels):
        for lab, g, m, s in series:
            if len(g):
                ax.errorbar(g, m, yerr=s, fmt="o-", capsize=3, label=lab)
        _finish(ax, title, "initial gain g", ylabel, log, hline)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["plot_curve_panels", "plot_gain_panels", "BAND_CLIP"]
