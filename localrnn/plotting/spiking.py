"""A spiking network's trial and its learning curve (docs/spiking.md's figure)."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from .common import pyplot


def _points(rows, key) -> np.ndarray:
    """(iteration, value) of the rows where ``key`` was recorded, as an (n, 2) array."""
    return np.array([(r["iteration"], r[key]) for r in rows if r.get(key) is not None],
                    dtype=float).reshape(-1, 2)


def _raster(ax, spikes, dt, color, label, split: Optional[int] = None):
    """Dots at (time, unit) of each spike of a (T, n) array; units from ``split`` on in a
    second colour (the adaptive neurons)."""
    t, n = np.nonzero(spikes)
    colors = np.where(n >= split, "tab:red", color) if split is not None else color
    ax.scatter(t * dt, n, s=1.5, c=colors, marker="|", linewidths=0.6, rasterized=True)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    ax.set_ylabel(label)


def plot_spiking_trial(inputs, spikes, outputs, *, dt: float = 1.0, time_unit: str = "ms",
                       window=None, labels=None, adaptive_from: Optional[int] = None,
                       metrics: Optional[List[Dict]] = None, title: str = ""):
    """One trial of a spiking network: input spikes, recurrent spikes, the readout,
    and (with ``metrics``) the run's learning curve.

    Parameters
    ----------
    inputs : (T, I) array
        The trial's inputs (spikes: a dot per non-zero entry).
    spikes : (T, N) array
        The network's spikes z_t.
    outputs : (T, O) array
        The readout y_t (drawn as softmax probabilities when ``labels`` is given).
    dt, time_unit : the time axis (step length and its unit)
    window : (start, end) steps, optional
        A window shaded on the time axes (e.g. the decision period).
    labels : list of str, optional
        Names of the outputs (classes); their softmax is drawn.
    adaptive_from : int, optional
        Neurons from this index on are adaptive (ALIF): their spikes in red.
    metrics : list of dict, optional
        The run's ``metrics.csv`` rows: training and held-out loss and accuracy.
    title : str

    Returns
    -------
    matplotlib Figure
    """
    plt = pyplot()
    T = spikes.shape[0]
    rows = 4 if metrics else 3
    fig, axes = plt.subplots(rows, 1, figsize=(7, 2.0 * rows + 0.6), dpi=110,
                             gridspec_kw=dict(height_ratios=[1, 1.6, 1] + ([1.2] if metrics else [])))
    t = np.arange(T) * dt
    _raster(axes[0], np.asarray(inputs) != 0, dt, "tab:gray", "input")
    _raster(axes[1], np.asarray(spikes) != 0, dt, "tab:blue", "neuron", adaptive_from)
    y = np.asarray(outputs, dtype=float)
    if labels is not None:
        e = np.exp(y - y.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        axes[2].set_ylabel("softmax")
    else:
        axes[2].set_ylabel("output")
    for o in range(y.shape[1]):
        axes[2].plot(t, y[:, o], lw=1.0, label=None if labels is None else labels[o])
    if labels is not None:
        axes[2].legend(fontsize=7, loc="upper left")
    rate = float(np.mean(spikes)) / dt
    axes[1].set_title(f"mean rate {rate * (1000.0 if time_unit == 'ms' else 1.0):.3g} "
                      f"{'Hz' if time_unit == 'ms' else 'spikes per unit'}"
                      + ("; red: adaptive (ALIF)" if adaptive_from is not None else ""), fontsize=8)
    for ax in axes[:3]:
        ax.set_xlim(0, T * dt)
        if window is not None:
            ax.axvspan(window[0] * dt, window[1] * dt, color="tab:orange", alpha=0.15, lw=0)
    axes[2].set_xlabel(f"time ({time_unit})")
    axes[0].set_title(title, fontsize=9)
    if metrics:
        ax = axes[3]
        it = np.array([r["iteration"] for r in metrics])
        ax.plot(it, [r["loss"] for r in metrics], lw=0.8, color="tab:gray", label="loss (train batch)")
        ev = _points(metrics, "eval_loss")
        if len(ev):
            ax.plot(ev[:, 0], ev[:, 1], "o-", ms=2.5, lw=0.8, color="tab:blue", label="loss (held-out)")
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        acc = _points(metrics, "accuracy")
        if len(acc):
            ax2 = ax.twinx()
            ax2.plot(acc[:, 0], acc[:, 1], "s-", ms=2.5, lw=0.8, color="tab:green",
                     label="accuracy (held-out)")
            ax2.set_ylim(0, 1.02)
            ax2.set_ylabel("accuracy")
            ax2.legend(fontsize=7, loc="lower left")
        ax.legend(fontsize=7, loc="upper center")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["plot_spiking_trial"]
