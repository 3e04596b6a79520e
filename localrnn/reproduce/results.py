"""The study's runs as data: every finished cell read back through its run folder.

:func:`load` joins the cells a stage planned (:mod:`.plan`) with what their folders
hold -- the summary row (:class:`localrnn.sweep.SweepDir`) and ``metrics.csv`` /
``lyapunov.json`` (:class:`localrnn.runs.RunDir`) -- into :class:`Run` objects, and
:func:`by_group` arranges them as ``{group key: {seed: Run}}``.  No file is opened here
by hand: the folder layout belongs to RunDir and SweepDir.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..sweep import Cell, SweepDir
from . import metrics as M
from .plan import Tag

#: The summary column of the gradient alignment the study reports (the truncated
#: parameters W_in, W, b: the readout's gradient is exact in every rule).
ALIGN_PART = "recurrent"


@dataclass
class Run:
    """One finished (or failed) cell, with the series the claims use."""

    tag: Tag
    name: str
    status: str
    seconds: float = float("nan")
    #: median of metrics.csv's per-iteration seconds: the run's speed without the
    #: one-off costs its total includes (Numba compiling a kernel the worker first meets)
    iter_seconds: float = float("nan")
    iters: int = 0
    eval_it: np.ndarray = field(default_factory=lambda: np.zeros(0))
    eval_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decision_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lyap_it: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lyap_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lyapunov: Dict = field(default_factory=dict)
    align_init: float = float("nan")
    align_final: float = float("nan")
    rescale_factor: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def curve(self, measure: str = "eval_loss") -> np.ndarray:
        """The eval series of ``measure`` ("eval_loss" or "eval_decision_loss")."""
        return self.decision_loss if measure == "eval_decision_loss" else self.eval_loss

    # ------------------------------------------------------------ measures (NaN unless done)
    def _done(self, v: float) -> float:
        return float(v) if self.ok else float("nan")

    def area(self, measure: str = "eval_loss") -> float:
        return self._done(M.curve_area(self.curve(measure)))

    def log_area(self, measure: str = "eval_loss") -> float:
        return self._done(M.log_curve_area(self.curve(measure)))

    def final_median(self, measure: str = "eval_loss") -> float:
        return self._done(M.final_window_median(self.curve(measure)))

    def final_loss(self, measure: str = "eval_loss") -> float:
        c = self.curve(measure)
        return self._done(c[-1] if c.size else float("nan"))

    def final_accuracy(self) -> float:
        return self._done(self.accuracy[-1] if self.accuracy.size else float("nan"))

    def to_criterion(self, criterion: float) -> Tuple[float, bool]:
        if not self.ok:
            return float("nan"), False
        return M.iterations_to_criterion(self.eval_it, self.accuracy, criterion, self.iters)

    def spikes(self, measure: str = "eval_loss") -> int:
        return M.spike_events(self.curve(measure))

    def lam(self, which: str) -> float:
        """λ_max (per step) ``before_flossing`` (the initial network), ``after_flossing``
        or ``after_training`` from lyapunov.json; NaN when not recorded."""
        ex = self.lyapunov.get(which)
        return float(ex[0]) if ex else float("nan")

    def floss_loss(self) -> float:
        """Σ λ_i² of the exponents after flossing (what flossing minimises)."""
        ex = self.lyapunov.get("after_flossing")
        return float(np.sum(np.square(ex))) if ex else float("nan")


def _series(rows: Sequence[Mapping], key: str) -> np.ndarray:
    return np.array([r[key] if r.get(key) is not None else np.nan for r in rows], dtype=np.float64)


def read_run(sd: SweepDir, tag: Tag, cell: Cell, row: Optional[Mapping]) -> Run:
    """The :class:`Run` of ``cell`` in the sweep folder ``sd`` (its summary ``row``)."""
    status = (row or {}).get("status") or "missing"
    run = Run(tag=tag, name=cell.name, status=status,
              seconds=float((row or {}).get("seconds") or float("nan")),
              iters=int(cell.params.get("iters", 0)))
    rd = sd.run_dir(cell.name)
    if status not in ("done", "diverged") or not rd.exists():
        return run
    rows = rd.read_metrics()
    sec = [r["seconds"] for r in rows if r.get("seconds") is not None]
    if sec:
        run.iter_seconds = float(np.median(sec))
    ev = [r for r in rows if r.get("eval_loss") is not None]
    run.eval_it = _series(ev, "iteration")
    run.eval_loss = _series(ev, "eval_loss")
    run.accuracy = _series(ev, "accuracy")
    if ev and "eval_decision_loss" in ev[0]:
        run.decision_loss = _series(ev, "eval_decision_loss")
    ly = [r for r in rows if r.get("lambda_max") is not None]
    run.lyap_it, run.lyap_max = _series(ly, "iteration"), _series(ly, "lambda_max")
    run.lyapunov = rd.read_lyapunov() or {}
    run.rescale_factor = float(run.lyapunov.get("rescale_factor", float("nan")))
    for when in ("init", "final"):
        v = (row or {}).get(f"align_{when}_{ALIGN_PART}")
        setattr(run, f"align_{when}", float(v) if v is not None else float("nan"))
    return run


def load(folder, pairs: Sequence[Tuple[Tag, Cell]]) -> List[Run]:
    """The runs of ``pairs`` (the cells one stage planned) from the sweep folder."""
    sd = SweepDir(folder)
    rows = {r["name"]: r for r in sd.rows()}
    return [read_run(sd, t, c, rows.get(c.name)) for t, c in pairs]


def by_group(runs: Sequence[Run], lr: Optional[Mapping[Tuple, float]] = None) -> Dict[Tuple, Dict[int, Run]]:
    """``{group key: {seed: Run}}``; with ``lr``, only each group's runs at that rate."""
    out: Dict[Tuple, Dict[int, Run]] = {}
    for r in runs:
        k = r.tag.group
        if lr is not None and not math.isclose(r.tag.lr, lr[k], rel_tol=1e-12):
            continue
        out.setdefault(k, {})[r.tag.seed] = r
    return out


__all__ = ["Run", "read_run", "load", "by_group", "ALIGN_PART"]
