"""``localrnn bench --scaling``: time and memory of every rule against N and T (log-log)."""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from .common import pyplot

#: quantity -> (point key, y-axis unit)
QUANTITIES = {"time": ("time_s", "seconds per step"), "memory": ("memory_bytes", "bytes")}


def plot_scaling(series: List[Dict], quantity: str):
    """``quantity`` ("time" or "memory") against N (left, T fixed) and T (right, N
    fixed): measured points of every series, its fitted and theoretical slopes in the
    legend, and (dotted) the theoretical slope through the last point.

    ``series`` are those of :func:`localrnn.benchmarks.scaling.run_scaling`.
    Returns the matplotlib Figure.
    """
    key, unit = QUANTITIES[quantity]
    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.8), dpi=110)
    for ax, var in zip(axes, ("N", "T")):
        for s in series:
            pts = s[f"vs_{var}"]
            x = np.array([p[var] for p in pts], float)
            y = np.array([p[key] for p in pts], float)
            fit = s["fits"][f"{quantity}_vs_{var}"]
            th = s["fits"][f"{quantity}_vs_{var}_theory"]
            style = "-o" if s["mode"] == "batched" else "--s"
            (ln,) = ax.plot(x, y, style, ms=4, lw=1.2,
                            label=f"{s['label']}: {fit:.2f} (theory {th:.2f})")
            # theory line through the last point
            ax.plot(x, y[-1] * (x / x[-1]) ** th, ":", color=ln.get_color(), lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(var + (" (T fixed)" if var == "N" else " (N fixed)"))
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
        ax.set_title(f"{quantity} vs {var}: measured slope (theoretical); dotted: theory")
    fig.tight_layout()
    return fig


__all__ = ["plot_scaling", "QUANTITIES"]
