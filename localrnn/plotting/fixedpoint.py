"""The figure of a fixed-point grid (Zhu & Rosenbaum 2023; :mod:`localrnn.fixedpoint.experiment`)."""
from __future__ import annotations

from .common import pyplot


def plot_fixedpoint_grid(runs, panels, title: str):
    """A fixed-point grid (:mod:`localrnn.fixedpoint.experiment`): one column per rule,
    one row per panel, one line per learning rate (Zhu & Rosenbaum 2023's figures).

    Parameters
    ----------
    runs : sequence
        Runs with attributes ``rule`` and ``lr`` (e.g.
        :class:`~localrnn.fixedpoint.LinearRun`,
        :class:`~localrnn.fixedpoint.FixedPointRun`); columns follow the order
        in which rules first appear, lines the order of the runs (coloured by
        viridis from first to last learning rate of the rule).
    panels : sequence of ``(ylabel, fn, log)``
        ``fn(run) -> (x, y)`` gives the curve of a run in this row (x in
        iterations); ``log`` puts the y axis on a log scale.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Write it with :func:`localrnn.plotting.save_figure` (which closes it).
    """
    plt = pyplot()
    rules = list(dict.fromkeys(run.rule for run in runs))
    by_rule = {r: [run for run in runs if run.rule == r] for r in rules}
    nr, nc = len(panels), len(rules)
    fig, axes = plt.subplots(nr, nc, figsize=(3.6 * nc + 0.6, 2.5 * nr + 0.6), squeeze=False,
                             sharex="col")
    cmap = plt.get_cmap("viridis")
    for c, rule in enumerate(rules):
        col = by_rule[rule]
        for k, run in enumerate(col):
            color = cmap(k / max(len(col) - 1, 1))
            for rr, (ylabel, fn, log) in enumerate(panels):
                x, y = fn(run)
                ax = axes[rr, c]
                ax.plot(x, y, color=color, lw=1, label=f"lr {run.lr:g}")
                if log:
                    ax.set_yscale("log")
                if c == 0:
                    ax.set_ylabel(ylabel)
        axes[0, c].set_title(rule)
        axes[0, c].legend(fontsize=7, frameon=False)
        axes[-1, c].set_xlabel("iteration")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["plot_fixedpoint_grid"]
