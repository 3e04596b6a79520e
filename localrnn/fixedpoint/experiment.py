"""Grids of fixed-point learning runs (Zhu & Rosenbaum 2023; MODEL.md section 8).

A grid trains every ``(rule, lr)`` pair from the same problem and returns a
result object that owns the outputs of the experiment:

* :meth:`~LinearGrid.table` (one row per run), :meth:`~LinearGrid.best`,
  :meth:`~LinearGrid.metrics` (one row per run and iteration),
  :meth:`~LinearGrid.summary`, :meth:`~LinearGrid.figure`;
* :meth:`~LinearGrid.write` the results folder: ``config.json`` (settings),
  ``metrics.csv``, ``summary.csv``, ``weights.npz``, ``fixedpoint.png``.

``localrnn fixedpoint linear|mnist`` is a thin wrapper over :func:`linear_experiment`
and :func:`mnist_experiment` (grid, training, results folder in one call, over
:func:`linear_grid` and :func:`mnist_grid`); :func:`grid_runs` builds the ``(rule,
lr)`` list, including the original's learning-rate grids (:data:`PAPER_LRS_LINEAR`,
:data:`PAPER_LRS_MNIST`).

Examples
--------
>>> res = linear_grid(grid_runs(["dW1", "dW3"], [0.1, 0.3], "linear"), n=8, m=4, iters=5)
>>> [(row["rule"], row["lr"]) for row in res.table()]
[('dW1', 0.1), ('dW1', 0.3), ('dW3', 0.1), ('dW3', 0.3)]
"""
from __future__ import annotations

import csv
import io
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from .._validate import check_memory_bytes, check_number
from ..data import load_mnist
from ..io import new_run_dir
from ..plotting import plot_fixedpoint_grid, save_figure
from ..runs import METRICS, WEIGHTS, RunDir, check_writable_dir
from ..sweep.executors import Progress, TaskContext, open_executor
from .linear import LINEAR_RULES, LinearProblem, LinearRun, linear_problem, train_linear
from .rules import RULES as MNIST_RULES
from .train import (HISTORY_KEYS, FixedPointRun, MNISTProblem, check_train_args, mnist_problem,
                    train_mnist)

#: Learning rates of the original's linear example (every rule), MODEL.md section 8.
PAPER_LRS_LINEAR = (0.03, 0.1, 0.3, 1.0, 3.0)
#: Learning rates of the original's MNIST grid per rule (none for ``"bptt"``), MODEL.md section 8.
PAPER_LRS_MNIST = {"dW1": (0.001, 0.0025, 0.005, 0.01, 0.025),
                   "dW3": (0.01, 0.025, 0.05, 0.1, 0.25),
                   "dW4": (0.005, 0.01, 0.02, 0.05, 0.1)}
#: The two experiments: their rules and paper grids.
KINDS = {"linear": (LINEAR_RULES, lambda rule: PAPER_LRS_LINEAR),
         "mnist": (MNIST_RULES, PAPER_LRS_MNIST.get)}
#: Files of a grid's results folder besides ``config.json``, ``metrics.csv`` and ``weights.npz``.
SUMMARY, FIGURE = "summary.csv", "fixedpoint.png"
#: Integer columns of the MNIST ``metrics.csv``.
_INT_COLUMNS = ("iteration", "epoch", "solver_iter", "n_unconverged", "adjoint_unconverged")


# --------------------------------------------------------------------------- the grid
def _check_lr(rule, v):
    if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v > 0):
        raise ValueError(f"learning rate {v!r} of rule {rule} must be > 0 and finite")
    return float(v)


def _check_runs(runs, kind):
    allowed = KINDS[kind][0]
    out = []
    for r, v in runs:
        if r not in allowed:
            raise ValueError(f"rule {r!r} is not a rule of the {kind} example; choose from {', '.join(allowed)}")
        out.append((str(r), _check_lr(r, v)))
    if not out:
        raise ValueError("runs is empty; give at least one (rule, lr) pair")
    return out


def grid_runs(rules, lrs, kind: str) -> List[tuple]:
    """The ``(rule, lr)`` pairs of a grid, validated.

    Parameters
    ----------
    rules : sequence of str
        Rules, each once: ``"dW1", "dW2", "dW3"`` (linear) or ``"dW1", "dW3",
        "dW4", "bptt"`` (mnist).
    lrs : "paper", sequence of float, or dict
        ``"paper"``: the original's grid per rule (:data:`PAPER_LRS_LINEAR`,
        :data:`PAPER_LRS_MNIST`); a sequence: the same learning rates for every
        rule; a dict ``{rule: [lr, ...]}`` naming every rule of ``rules``.
    kind : {"linear", "mnist"}

    Returns
    -------
    list of (rule, lr), rules in the given order, learning rates in theirs.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; choose from {', '.join(KINDS)}")
    allowed, paper = KINDS[kind]
    rules = [rules] if isinstance(rules, str) else list(rules)
    if not rules:
        raise ValueError(f"rules is empty; give one or more of {', '.join(allowed)}")
    for r in rules:
        if r not in allowed:
            raise ValueError(f"rules: {r!r} is not a rule; choose from {', '.join(allowed)}")
    if len(set(rules)) != len(rules):
        raise ValueError(f"rules={','.join(rules)} names a rule twice")
    if isinstance(lrs, str):
        if lrs != "paper":
            raise ValueError(f"lrs={lrs!r} is not allowed; give 'paper', numbers, or {{rule: numbers}}")
        table = {}
        for r in rules:
            if paper(r) is None:
                raise ValueError(f"lrs='paper': the original has no learning-rate grid for {r!r}; give numbers")
            table[r] = list(paper(r))
    elif isinstance(lrs, dict):
        for r in lrs:
            if r not in rules:
                raise ValueError(f"lrs names {r!r}, which is not in rules ({', '.join(rules)})")
        missing = [r for r in rules if r not in lrs or not len(lrs[r])]
        if missing:
            raise ValueError(f"lrs gives no learning rates for {', '.join(missing)}")
        table = {r: list(lrs[r]) for r in rules}
    else:
        lrs = [lrs] if np.ndim(lrs) == 0 else list(lrs)
        if not lrs:
            raise ValueError("lrs is empty; give one or more learning rates")
        table = {r: lrs for r in rules}
    return [(r, _check_lr(r, v)) for r in rules for v in table[r]]


# --------------------------------------------------------------------------- output helpers
def _csv(header, rows) -> str:
    """CSV text; floats as ``repr`` (round-trips exactly), NaN as an empty field."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if (isinstance(v, float) and v != v) else (repr(v) if isinstance(v, float) else v)
                    for v in row])
    return buf.getvalue()


def weights_key(rule: str, lr: float) -> str:
    """Name of a run's final ``W`` in ``weights.npz``: ``W_<rule>_lr<lr:g>``."""
    return f"W_{rule}_lr{lr:g}"


def _out_dir(out_dir) -> Path:
    if out_dir is None:
        return new_run_dir("runs", prefix="fixedpoint")
    p = Path(out_dir)
    p.mkdir(parents=True, exist_ok=True)
    return p


class _Grid:
    """What both result objects share: the files of :meth:`write`, through a
    :class:`~localrnn.runs.RunDir` of the grid's kind (:attr:`KIND`), and the
    :meth:`report` the CLI prints."""

    KIND = ""
    #: decimals of the seconds in :meth:`report`
    SECONDS_DIGITS = 2

    def report(self, table: bool = False) -> dict:
        """:meth:`summary`, the training seconds, the folder written (``out``) and, with
        ``table``, every run's row of :meth:`table` (what ``localrnn fixedpoint`` prints)."""
        s = self.summary()
        s.update(seconds=round(self.seconds, self.SECONDS_DIGITS), out=str(self.out))
        if table:
            s["table"] = self.table()
        return s

    def _write(self, out_dir, header, arrays) -> Path:
        rd = RunDir(_out_dir(out_dir), kind=self.KIND)
        self.out = rd.path
        cfg = dict(header or {})
        cfg.update(self.config())
        rd.write_config(cfg)
        cols, rows = self.metrics()
        rd.write_text(METRICS, _csv(cols, rows))
        table = self.table()
        rd.write_text(SUMMARY, _csv(list(table[0]), [list(t.values()) for t in table]))
        arrays = dict(arrays)
        arrays.update({weights_key(run.rule, run.lr): run.W for run in self.runs})
        rd.write_arrays(WEIGHTS, arrays)
        save_figure(self.figure(), rd / FIGURE, dpi=120)
        return rd.path


# --------------------------------------------------------------------------- linear
@dataclass
class LinearGrid(_Grid):
    """Result of :func:`linear_grid`: the problem, one :class:`LinearRun` per
    ``(rule, lr)`` (in the grid's order), the settings and the training time."""

    KIND = "fixedpoint-linear"

    problem: LinearProblem
    runs: List[LinearRun]
    iters: int
    eig_every: int
    seconds: float
    #: the results folder, once :meth:`write` has written it
    out: Optional[Path] = None

    def config(self) -> dict:
        """Settings of the grid (enough to rerun it with :func:`linear_grid`)."""
        p = self.problem.config
        return dict(runs=[[run.rule, run.lr] for run in self.runs], n=p["n"], m=p["m"],
                    iters=self.iters, eig_every=self.eig_every, seed=p["seed"], problem=p)

    def table(self) -> List[dict]:
        """One row per run: ``rule, lr, final_loss, min_loss, max_re_eig, diverged_at``."""
        return [dict(rule=run.rule, lr=run.lr, final_loss=float(run.loss[-1]),
                     min_loss=float(np.nanmin(run.loss)), max_re_eig=float(run.max_re_eig[-1]),
                     diverged_at=run.diverged_at) for run in self.runs]

    def best(self) -> dict:
        """The row of :meth:`table` with the lowest final loss (non-finite last)."""
        return min(self.table(), key=lambda t: (np.isnan(t["final_loss"]), t["final_loss"]))

    def metrics(self):
        """``(header, rows)``: loss at every iteration 0..iters, ``max Re eig(W)`` where
        recorded (NaN elsewhere), for every run."""
        rows = []
        for run in self.runs:
            eig = dict(zip(run.eig_iter.tolist(), run.max_re_eig.tolist()))
            for k in range(self.iters + 1):
                rows.append([run.rule, run.lr, k, float(run.loss[k]), float(eig.get(k, float("nan")))])
        return ["rule", "lr", "iteration", "loss", "max_re_eig"], rows

    def summary(self) -> dict:
        """The best run (and the number of runs of a grid; ``diverged_at`` of a single run)."""
        table = self.table()
        best = self.best()
        s = dict(runs=len(table)) if len(table) > 1 else {}
        s.update(rule=best["rule"], lr=best["lr"], final_loss=best["final_loss"],
                 max_re_eig=best["max_re_eig"])
        if len(table) == 1:
            s["diverged_at"] = best["diverged_at"]
        return s

    def figure(self):
        """Loss and ``max Re eig(W)`` against iteration (:func:`plot_fixedpoint_grid`)."""
        iters = self.iters
        panels = [("loss", lambda run: (np.arange(iters + 1), run.loss), True),
                  ("max Re eig(W)", lambda run: (run.eig_iter, run.max_re_eig), False)]
        return plot_fixedpoint_grid(self.runs, panels,
                                    f"linear example, n={self.problem.n}, m={self.problem.m}")

    def write(self, out_dir=None, header: Optional[dict] = None) -> Path:
        """Write the results folder (a new folder under ``runs/`` if ``out_dir`` is
        None); ``header`` entries come first in ``config.json``.  Returns the folder."""
        p = self.problem
        return self._write(out_dir, header, dict(X=p.X, R_hat=p.R_hat, W_target=p.W_target, W0=p.W0))


def _linear_task(task, ctx: TaskContext) -> LinearRun:
    """One run of a linear grid on an executor (``ctx.shared``: the problem)."""
    i, rule, lr, iters, eig_every = task
    cb = None if ctx.report is None else (lambda k, loss: ctx.report((i, k, loss)))
    return train_linear(ctx.shared, rule, lr, iters, eig_every=eig_every, callback=cb)


def _run_grid(task_fn, tasks, problem, jobs: int, callback) -> list:
    """The runs of a grid on the package's executors
    (:func:`localrnn.sweep.executors.open_executor`): in this process (``jobs`` 1) or in
    ``jobs`` spawned single-threaded workers that receive ``problem`` once each; a run's
    error is raised; ``callback(run_index, iteration, loss)`` gets every run's steps.
    Returns the results in the order of ``tasks``."""
    results = [None] * len(tasks)
    on_message = None if callback is None else (lambda m: callback(*m))
    with open_executor(workers=min(jobs, len(tasks)), shared=problem) as ex:
        for i, run, error in ex.imap(task_fn, tasks, on_message=on_message):
            if error is not None:
                raise error
            results[i] = run
    return results


def linear_grid(runs, *, n: int = 200, m: int = 100, iters: int = 3500, eig_every: int = 50,
                seed: int = 0, jobs: int = 1,
                callback: Callable[[int, int, float], None] | None = None) -> LinearGrid:
    """Train the linear example (:func:`train_linear`) for every ``(rule, lr)``.

    Parameters
    ----------
    runs : sequence of (rule, lr)
        E.g. from :func:`grid_runs`; rules ``"dW1", "dW2", "dW3"``.
    n, m, seed : int
        The problem (:func:`linear_problem`; the original: n = 200, m = 100).
    iters : int
        Steps per run (the original: 3500).
    eig_every : int
        Record ``max Re eig(W)`` every so many steps (and at the end).
    jobs : int
        Worker processes (1: this process); each run limits its BLAS as
        :func:`train_linear` does, so ``jobs`` does not change the numbers.
    callback : callable, optional
        ``callback(run_index, iteration, loss)`` after each step.

    Returns
    -------
    LinearGrid
    """
    runs = _check_runs(runs, "linear")
    n = check_number("n", n, lo=1, integer=True)
    m = check_number("m", m, lo=1, integer=True)
    iters = check_number("iters", iters, lo=1, integer=True)
    eig_every = check_number("eig_every", eig_every, lo=1, integer=True)
    # problem (X, R_hat, W_target, W0, the solve's n x n temporaries), each run's W, LU and
    # A, its losses and metrics.csv rows (about 400 bytes per row as Python objects)
    check_memory_bytes(8.0 * (2 * n * m + 8 * n * n) + len(runs) * (8.0 * 3 * n * n + (iters + 1) * 408.0),
                       f"n={n}, m={m}, iters={iters} ({len(runs)} runs)")
    jobs = check_number("jobs", jobs, lo=1, integer=True)
    problem = linear_problem(n, m, seed=seed)
    t0 = time.perf_counter()
    out = _run_grid(_linear_task, [(i, r, v, iters, eig_every) for i, (r, v) in enumerate(runs)],
                    problem, jobs, callback)
    return LinearGrid(problem, out, iters, eig_every, time.perf_counter() - t0)


# --------------------------------------------------------------------------- mnist
@dataclass
class MNISTGrid(_Grid):
    """Result of :func:`mnist_grid`: the problem, one :class:`FixedPointRun` per
    ``(rule, lr)`` (in the grid's order), the worker count and the training time."""

    KIND = "fixedpoint-mnist"
    SECONDS_DIGITS = 1

    problem: MNISTProblem
    runs: List[FixedPointRun]
    jobs: int
    seconds: float
    #: the results folder, once :meth:`write` has written it
    out: Optional[Path] = None

    @property
    def settings(self) -> dict:
        """Training settings shared by the runs (those of :func:`train_mnist`)."""
        return {k: v for k, v in self.runs[0].settings.items() if k not in ("rule", "lr")}

    def config(self) -> dict:
        return dict(runs=[[run.rule, run.lr] for run in self.runs], jobs=self.jobs,
                    problem=self.problem.config, train=self.settings, seconds=self.seconds)

    def table(self) -> List[dict]:
        """One row per run: final train loss and accuracy (whole training set), test
        loss and accuracy, ``max Re eig(W)``, unconverged solves, divergence, seconds."""
        table = []
        for run in self.runs:
            tr = run.train or {}
            table.append(dict(rule=run.rule, lr=run.lr,
                              final_train_loss=tr.get("loss", float("nan")),
                              train_accuracy=tr.get("accuracy", float("nan")),
                              test_loss=run.test["loss"], test_accuracy=run.test["accuracy"],
                              max_re_eig=run.max_re_eig,
                              unconverged=int(np.nansum(run.history["n_unconverged"])),
                              adjoint_unconverged=int(np.nansum(run.history["adjoint_unconverged"])),
                              eval_unconverged=int(run.test["n_unconverged"] + tr.get("n_unconverged", 0)),
                              diverged_at=run.diverged_at, seconds=round(run.seconds, 2)))
        return table

    def best(self) -> dict:
        """The row of :meth:`table` with the highest test accuracy (NaN last)."""
        return max(self.table(), key=lambda t: (not np.isnan(t["test_accuracy"]), t["test_accuracy"]))

    def metrics(self):
        """``(header, rows)``: the history of every run, one row per iteration."""
        rows = []
        for run in self.runs:
            h = run.history
            for k in range(len(h["iteration"])):
                if np.isnan(h["iteration"][k]):
                    break
                rows.append([run.rule, run.lr] + [int(h[c][k]) if c in _INT_COLUMNS else float(h[c][k])
                                                  for c in HISTORY_KEYS])
        return ["rule", "lr"] + list(HISTORY_KEYS), rows

    def summary(self) -> dict:
        """The best run, unconverged solves over all runs, diverged runs if any."""
        table = self.table()
        best = self.best()
        s = dict(runs=len(table)) if len(table) > 1 else {}
        s.update(rule=best["rule"], lr=best["lr"], final_train_loss=best["final_train_loss"],
                 train_accuracy=best["train_accuracy"], test_accuracy=best["test_accuracy"],
                 max_re_eig=best["max_re_eig"],
                 unconverged=sum(t["unconverged"] + t["adjoint_unconverged"] + t["eval_unconverged"]
                                 for t in table))
        if any(t["diverged_at"] is not None for t in table):
            s["diverged"] = sum(t["diverged_at"] is not None for t in table)
        return s

    def figure(self):
        """Train loss, train accuracy and ``max Re eig(W)`` against iteration."""
        def eig_xy(run):
            h = run.history
            ok = ~np.isnan(h["max_re_eig"])
            return (np.append(h["iteration"][ok], np.nansum(~np.isnan(h["iteration"]))),
                    np.append(h["max_re_eig"][ok], run.max_re_eig))

        panels = [("train loss", lambda run: (run.history["iteration"], run.history["loss"]), True),
                  ("train accuracy", lambda run: (run.history["iteration"], run.history["accuracy"]), False),
                  ("max Re eig(W)", eig_xy, False)]
        st, pc = self.settings, self.problem.config
        return plot_fixedpoint_grid(
            self.runs, panels, f"MNIST, N={pc['n_rec']}, batch {st['batch']}, {st['epochs']} epoch(s), "
                               f"solver {st['solver']}, {pc['dtype']}")

    def write(self, out_dir=None, header: Optional[dict] = None) -> Path:
        """Write the results folder (as :meth:`LinearGrid.write`)."""
        p = self.problem
        return self._write(out_dir, header, dict(W0=p.W0, W_x=p.W_x, R=p.R))


def _mnist_task(task, ctx: TaskContext) -> FixedPointRun:
    """One run of a grid on an executor: ``ctx.shared`` is the problem, sent to each
    worker once; ``ctx.report`` forwards ``(run_index, iteration, loss)``."""
    i, rule, lr, train_kw = task
    cb = None if ctx.report is None else (lambda it, loss: ctx.report((i, it, loss)))
    return train_mnist(ctx.shared, rule, lr, callback=cb, **train_kw)


def mnist_grid(problem: MNISTProblem, runs, *, jobs: int | None = None,
               callback: Callable[[int, int, float], None] | None = None, **train_kw) -> MNISTGrid:
    """Train MNIST (:func:`train_mnist`) for every ``(rule, lr)`` of ``runs``.

    Every run starts from the same problem (initial W, W_x, R) and visits the
    batches in the same order.  The runs go to the package's executors
    (:func:`localrnn.sweep.executors.open_executor`): in this process, or in
    ``jobs`` spawned worker processes (default: the number of CPUs, at most the
    number of runs) that receive the problem once each.  Each run limits its BLAS
    to ``LOCALRNN_STEP_BLAS_THREADS`` threads (default 1, see :mod:`localrnn._config`)
    and workers start single-threaded, so ``jobs`` does not change the numbers.
    All arguments are checked before the first run starts.

    Parameters
    ----------
    problem : MNISTProblem
        From :func:`mnist_problem`.
    runs : sequence of (rule, lr)
        E.g. ``grid_runs(["dW1", "dW3", "dW4"], "paper", "mnist")``.
    jobs : int, optional
    callback : callable, optional
        ``callback(run_index, iteration, loss)`` after each step (from workers too).
    **train_kw
        Arguments of :func:`train_mnist` (``batch``, ``epochs``, ``solver``, ...).

    Returns
    -------
    MNISTGrid
    """
    runs = _check_runs(runs, "mnist")
    jobs = (os.cpu_count() or 1) if jobs is None else check_number("jobs", jobs, lo=1, integer=True)
    check_kw = {k: v for k, v in train_kw.items() if k != "evaluate_train"}
    for r, lr in runs:          # every run's arguments, before any run starts
        check_train_args(problem, r, lr, **check_kw)
    t0 = time.perf_counter()
    results = _run_grid(_mnist_task, [(i, r, lr, train_kw) for i, (r, lr) in enumerate(runs)],
                        problem, jobs, callback)
    return MNISTGrid(problem, results, jobs, time.perf_counter() - t0)


# --------------------------------------------------------------------------- experiments
class _Steps:
    """A grid's ``callback(run_index, iteration, loss)`` as ``progress(done, total, text)``
    (:data:`localrnn.sweep.executors.Progress`) over the iterations of all its runs; the first
    report (``done = 0``) comes with the first iteration, after every value is checked."""

    def __init__(self, progress: Progress, total: int, n_runs: int):
        self.progress, self.total, self.n_runs = progress, total, n_runs
        self.at, self.done = {}, 0

    def __call__(self, i: int, k: int, loss: float) -> None:
        if not self.at:
            self.progress(0, self.total, "")
        self.done += k - self.at.get(i, 0)
        self.at[i] = k
        self.progress(self.done, self.total, f"run {i + 1}/{self.n_runs}: loss {loss:.4g}")


def _check_out(out) -> None:
    """Refuse an ``out`` that cannot be created, before any computation."""
    if out is not None:
        check_writable_dir(out, "--out")


def linear_experiment(rules, lrs, *, n: int = 200, m: int = 100, iters: int = 3500,
                      eig_every: int = 50, seed: int = 0, out=None,
                      progress: Optional[Progress] = None) -> LinearGrid:
    """``localrnn fixedpoint linear``: the grid of :func:`grid_runs` ``(rules, lrs)`` on
    the linear example (:func:`linear_grid`), written to ``out`` (a new folder under
    ``runs/`` if None; checked before anything runs).

    ``progress(done, total, text)`` reports the iterations of all runs.  Returns the
    written :class:`LinearGrid` (``.out`` is its folder; ``.report()`` its summary).
    """
    runs = grid_runs(rules, lrs, "linear")
    _check_out(out)
    cb = None if progress is None else _Steps(progress, len(runs) * iters, len(runs))
    res = linear_grid(runs, n=n, m=m, iters=iters, eig_every=eig_every, seed=seed, callback=cb)
    res.write(out)
    return res


def _problem_from_file(data, *, dtype, **problem_kw) -> MNISTProblem:
    """The problem of an MNIST file or folder (the images are dropped once projected)."""
    return mnist_problem(load_mnist(data, dtype=dtype), dtype=dtype, **problem_kw)


def mnist_experiment(data, rules, lrs, *, n_rec: int = 300, gain: float = 0.5, seed: int = 0,
                     dtype: str = "float32", n_train: Optional[int] = None,
                     n_test: Optional[int] = None, batch: int = 512, epochs: int = 3,
                     jobs: Optional[int] = None, out=None, progress: Optional[Progress] = None,
                     **train_kw) -> MNISTGrid:
    """``localrnn fixedpoint mnist``: the grid of :func:`grid_runs` ``(rules, lrs)`` on
    MNIST read from ``data`` (:func:`localrnn.data.load_mnist`), trained by
    :func:`mnist_grid` with ``batch``, ``epochs`` and ``train_kw`` (solver, ...) and written to
    ``out`` (a new folder under ``runs/`` if None; checked before anything runs);
    ``config.json`` records the data's path.

    ``progress(done, total, text)`` reports the iterations of all runs.  Returns the
    written :class:`MNISTGrid` (``.out`` is its folder; ``.report()`` its summary).
    """
    runs = grid_runs(rules, lrs, "mnist")
    _check_out(out)
    problem = _problem_from_file(data, dtype=dtype, n_rec=n_rec, gain=gain, seed=seed,
                                 n_train=n_train, n_test=n_test)
    per_run = (problem.U_train.shape[0] // batch) * epochs
    cb = None if progress is None else _Steps(progress, len(runs) * per_run, len(runs))
    res = mnist_grid(problem, runs, jobs=jobs, callback=cb, batch=batch, epochs=epochs, **train_kw)
    res.write(out, header=dict(data=str(Path(data).resolve())))
    return res


__all__ = ["grid_runs", "linear_grid", "mnist_grid", "linear_experiment", "mnist_experiment", "LinearGrid", "MNISTGrid", "PAPER_LRS_LINEAR",
           "PAPER_LRS_MNIST", "weights_key", "plot_fixedpoint_grid"]
