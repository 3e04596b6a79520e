"""``localrnn quantize-sweep``: final loss against the word length of weights and traces."""
from __future__ import annotations

from typing import Dict

from .common import pyplot


def plot_quantize_sweep(result: Dict):
    """Final loss against bits: weights (left) and traces (right), one line per rule and
    rounding, float64 dotted.

    ``result`` is what :func:`localrnn.neuromorphic.quantsweep.quantize_sweep` returns.
    Returns the matplotlib Figure.
    """
    plt = pyplot()
    rows = result["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colors = {}
    for ax, qty, name in ((axes[0], "w", "weight bits"), (axes[1], "t", "trace bits")):
        for rule in sorted({r["rule"] for r in rows}):
            col = colors.setdefault(rule, f"C{len(colors)}")
            for rnd, ls in (("nearest", "-o"), ("stochastic", "--s")):
                rs = sorted((r for r in rows if (r["rule"], r["rounding"], r["quantity"]) == (rule, rnd, qty)),
                            key=lambda r: r["bits"])
                if rs:
                    ax.plot([r["bits"] for r in rs], [r["final_loss"] for r in rs], ls, color=col,
                            label=f"{rule} {rnd}")
            fl = [r for r in rows if r["rule"] == rule and r["quantity"] == "float64"]
            if fl:
                ax.axhline(fl[0]["final_loss"], color=col, ls=":", label=f"{rule} float64")
        ax.set_xlabel(name)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("final training loss")
    axes[1].legend(fontsize=8)
    c = result["config"]
    fig.suptitle(f"{c['task']}: integer online learning vs word length (N={c['n_rec']}, "
                 f"{c['iters']} iterations)")
    fig.tight_layout()
    return fig


__all__ = ["plot_quantize_sweep"]
