"""Every figure of the package: learning curves, Lyapunov spectra, lambda_max vs gain,
fixed-point grids.

Functions draw into an ``Axes`` given as ``ax`` (or a new figure) and do not
write files, except :func:`plot_saved_runs` (``localrnn plot``), which reads run
folders through :class:`localrnn.runs.RunDir` and writes one figure atomically.  Matplotlib is imported on first use, with the ``Agg``
backend unless one is already chosen.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np


def pyplot():
    """``matplotlib.pyplot``, with the Agg backend unless one is already chosen."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _xy(rows, key):
    pts = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
    return np.array(pts, dtype=float).reshape(-1, 2)


def plot_curves(runs: Sequence[Tuple[str, List[Dict]]], title: str = "", ax=None):
    """Learning curves: training loss as lines, held-out loss as markers, log scale.

    Parameters
    ----------
    runs : list of (label, metrics rows)
        Rows as in ``metrics.csv`` (:data:`localrnn.runs.METRIC_FIELDS`).
    title : str
    ax : matplotlib Axes, optional
        Drawn into; a new figure otherwise.

    Returns
    -------
    matplotlib Figure
    """
    plt = pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for label, rows in runs:
        it = np.array([r["iteration"] for r in rows])
        loss = np.array([r["loss"] for r in rows], dtype=float)
        (line,) = ax.plot(it, loss, lw=1.2, label=f"{label} (train)")
        e = _xy(rows, "eval_loss")
        if len(e):
            ax.plot(e[:, 0], e[:, 1], "o", ms=3, color=line.get_color(), label=f"{label} (eval)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if any(r["loss"] > 0 for _, rows in runs for r in rows):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def plot_accuracy(runs: Sequence[Tuple[str, List[Dict]]], title: str = "", ax=None):
    """Accuracy against iteration: on the training batch (dashed, ``train_accuracy``)
    and on the held-out batch (solid with markers, ``accuracy``), at the evaluation
    iterations.  Returns the matplotlib Figure."""
    plt = pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for label, rows in runs:
        ev = _xy(rows, "accuracy")
        color = None
        if len(ev):
            (line,) = ax.plot(ev[:, 0], ev[:, 1], "o-", ms=3, lw=1.2, label=f"{label} (eval)")
            color = line.get_color()
        tr = _xy(rows, "train_accuracy")
        if len(tr):
            ax.plot(tr[:, 0], tr[:, 1], "x--", ms=4, lw=1.0, color=color, label=f"{label} (train)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def plot_runs(runs: Sequence[Tuple[str, List[Dict]]], title: str = ""):
    """Loss (left) and accuracy (right) of one or more runs, train and held-out.

    ``runs`` is a list of ``(label, metrics rows)``.  Returns the matplotlib Figure.
    """
    plt = pyplot()
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    plot_curves(runs, title="loss", ax=a0)
    plot_accuracy(runs, title="accuracy", ax=a1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_run(rows: List[Dict], label: str, title: str = ""):
    """A run's ``curve.png``: loss (left) and accuracy (right), train and held-out.

    Returns the matplotlib Figure.
    """
    return plot_runs([(label, rows)], title=title)


def plot_saved_runs(run_dirs, out_file, title: str = "") -> int:
    """Overlay the learning curves (loss and accuracy) of saved runs in ``out_file``;
    returns how many.

    Each run is labelled ``"<rule> g=<gain>"`` from its ``config.json``.
    ``ValueError`` for a folder that is not a run or a figure file that cannot be
    written.
    """
    from .io import atomic_savefig
    from .runs import RunDir, check_writable_file

    out_file = check_writable_file(out_file, "out")
    runs = []
    for d in run_dirs:
        rd = RunDir(d).require("metrics.csv", "config.json")
        cfg = rd.read_config()
        g = cfg.get("gain")
        label = f"{cfg.get('rule')} g={g:g}" if isinstance(g, (int, float)) else rd.path.name
        runs.append((label, rd.read_metrics()))
    if not runs:
        raise ValueError("no run folders given")
    plt = pyplot()
    fig = plot_runs(runs, title=title)
    try:
        atomic_savefig(out_file, fig)
    finally:
        plt.close(fig)
    return len(runs)


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
        Close it with ``matplotlib.pyplot.close(fig)`` when written.
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


__all__ = ["pyplot", "plot_saved_runs", "plot_curves", "plot_accuracy", "plot_run", "plot_runs", "plot_spectrum", "plot_lambda_vs_gain",
           "plot_fixedpoint_grid"]
