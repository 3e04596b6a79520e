"""Learning curves: a run's ``curve.png`` and ``localrnn plot``'s overlay of runs."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..runs import CONFIG, METRICS, RunDir, check_writable_file
from .common import pyplot, save_figure


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
    ``ValueError`` for a folder that is not a training run (no run files, or a
    results folder of another kind, e.g. a fixed-point grid) or a figure file that
    cannot be written.
    """
    out_file = check_writable_file(out_file, "out")
    runs = []
    for d in run_dirs:
        rd = RunDir(d).require(METRICS, CONFIG)
        cfg = rd.read_config()
        g = cfg.get("gain")
        label = f"{cfg.get('rule')} g={g:g}" if isinstance(g, (int, float)) else rd.path.name
        runs.append((label, rd.read_metrics()))
    if not runs:
        raise ValueError("no run folders given")
    save_figure(plot_runs(runs, title=title), out_file)
    return len(runs)


__all__ = ["plot_curves", "plot_accuracy", "plot_runs", "plot_run", "plot_saved_runs"]
