"""The study as a pipeline of small stages passing one :class:`Study` along.

``scales`` (what to run) → ``prep`` (the flossing rate) → ``tune`` (the learning-rate
search, in rounds, until every group's best rate is interior or at the stated bound) →
``main`` (every group at its rate on the reported seeds) → ``checks`` → ``claims`` (data,
:mod:`.claims`) → ``figures`` (:mod:`localrnn.plotting.reproduction`) → ``report``
(:mod:`.report`, rendering only).  Each run stage is one sweep folder under the study's
output folder (``prep/``, ``tune/``, ``main/``, ``checks/``), run by the sweep executors
(:func:`localrnn.sweep.run_sweep`: serial, processes or Dask) and read back through
:mod:`.results`.  A rerun finds every finished cell and runs only what is missing, so
an interrupted study continues where it stopped.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .. import io as lio
from ..sweep import run_sweep
from . import lrsearch as LS
from . import plan as P
from . import results as R
from . import scales as S


@dataclass
class Runner:
    """How cells run: the sweep executor's options and an optional progress callback
    ``progress(done, total, text)``."""

    workers: int = 1
    scheduler: object = None
    dask_local: Optional[int] = None
    progress: Optional[Callable] = None


@dataclass
class Study:
    """Everything the stages hand on: the scale, where results go, what was chosen and
    the runs read back."""

    scale: S.Scale
    out: Path
    runner: Runner = field(default_factory=Runner)
    floss_lr: Optional[float] = None                          # the shared flossing rate
    floss_lr_per_gain: Dict[float, float] = field(default_factory=dict)
    floss_search: Dict = field(default_factory=dict)
    searches: Dict[Tuple, Dict] = field(default_factory=dict)  # group key -> lrsearch summary
    lr: Dict[Tuple, float] = field(default_factory=dict)       # group key -> chosen rate
    runs: Dict[str, List[R.Run]] = field(default_factory=dict)  # stage -> runs
    stage_seconds: Dict[str, float] = field(default_factory=dict)
    tune_rounds: int = 0

    def folder(self, stage: str) -> Path:
        return self.out / stage

    def groups(self, stage: str = P.MAIN, lr: bool = True) -> Dict[Tuple, Dict[int, R.Run]]:
        """``{group key: {seed: Run}}`` of a stage (main: at the chosen rates)."""
        return R.by_group(self.runs.get(stage, []), self.lr if (lr and stage == P.MAIN) else None)

    def floss_rate_for(self, group: S.Group) -> Optional[float]:
        if group.variant in (S.FLOSS, S.FLOSS_KEEP_Q):
            return self.floss_lr
        if group.variant == S.FLOSS_PER_GAIN:
            return self.floss_lr_per_gain[float(group.gain)]
        return None


def _sweep(study: Study, stage: str, pairs) -> List[R.Run]:
    """Run (what is missing of) ``pairs`` in the stage's sweep folder; read them back.

    Two groups can ask for the very same run (a shared-rate group whose rate is the
    group's own, a per-gain flossing rate equal to the shared one): such cells run once,
    under the first one's name, and both tags read that folder (:func:`plan.share_identical`)."""
    pairs = P.share_identical(pairs)
    cells = list({c.name: c for _, c in pairs}.values())
    P.check_unique([(None, c) for c in cells])
    t0 = time.perf_counter()
    r = study.runner
    run_sweep(cells, study.folder(stage), workers=r.workers, scheduler=r.scheduler,
              dask_local=r.dask_local, progress=r.progress)
    study.stage_seconds[stage] = study.stage_seconds.get(stage, 0.0) + time.perf_counter() - t0
    lio.atomic_write_json(study.folder(stage) / "plan.json",
                          [{"name": c.name, **t.as_dict()} for t, c in pairs])
    return R.load(study.folder(stage), pairs)


def _mean_or_inf(vals) -> float:
    vals = list(vals)
    if not vals or any(not math.isfinite(v) for v in vals):
        return math.inf
    return sum(vals) / len(vals)


# ------------------------------------------------------------------------------ stages
def prep(study: Study) -> Study:
    """The flossing rate: flossing alone at every rate of the flossing grid (extended at
    its edge like the learning rates); the shared rate minimises the flossing loss
    Σ λ_i² after flossing averaged over the flossing groups' gains and the tuning seeds,
    the per-gain rates (a bracket) the same at each gain alone."""
    sc = study.scale
    floss_groups = [g for g in sc.groups if g.variant in (S.FLOSS, S.FLOSS_PER_GAIN, S.FLOSS_KEEP_Q)]
    if not floss_groups:
        return study
    n = sc.settings["romo"].n_rec
    grid = LS.RateGrid(base=sc.floss_grid.base / n, factor=sc.floss_grid.factor,
                       start=sc.floss_grid.start, step=sc.floss_grid.step,
                       max_extra=sc.floss_grid.max_extra)
    shared_gains = sorted({float(g.gain) for g in floss_groups if g.variant == S.FLOSS})
    per_gains = sorted({float(g.gain) for g in floss_groups if g.variant == S.FLOSS_PER_GAIN})
    gains = sorted(set(shared_gains) | set(per_gains))
    rates = {g: list(grid.initial()) for g in gains}     # per gain: rates tried
    targets = {"shared": shared_gains, **{g: [g] for g in per_gains}}
    while True:
        pairs = [p for g in gains for p in P.floss_rate_cells(sc, rates[g], [g])]
        runs = _sweep(study, P.PREP, pairs)
        loss = {}
        for r in runs:
            v = r.floss_loss() if r.ok else math.inf
            loss.setdefault((r.tag.group[2], r.tag.floss_lr), []).append(v)
        extend = False
        study.floss_search = {}
        for name, gs in targets.items():
            common = set.intersection(*(set(rates[g]) for g in gs))
            scores = {lr: _mean_or_inf(v for g in gs for v in loss.get((g, lr), [])) for lr in common}
            st = LS.next_rates(grid, scores)
            study.floss_search["shared" if name == "shared" else f"{name:g}"] = dict(
                LS.search_summary(grid, scores), gains=gs)
            if st.status == LS.EXTEND:
                extend = True
                for g in gs:
                    rates[g] = sorted(set(rates[g]) | set(st.new))
            elif name == "shared":
                study.floss_lr = st.best
            else:
                study.floss_lr_per_gain[float(name)] = st.best
        if not extend:
            break
    study.runs[P.PREP] = runs
    return study


def tune(study: Study) -> Study:
    """The learning-rate search of every tuned group (rounds of :func:`lrsearch.next_rates`
    on the mean learning-curve area over the tuning seeds), then the rates of the groups
    that take another group's."""
    sc = study.scale
    tuned = [g for g in sc.groups if g.tuned]
    tried = {g.key: list(sc.settings[g.setting].grid.initial()) for g in tuned}
    done: Dict[Tuple, LS.SearchState] = {}
    rounds = 0
    while True:
        rounds += 1
        pairs = [p for g in tuned for p in P.tune_cells(sc, g, tried[g.key], study.floss_rate_for(g))]
        runs = _sweep(study, P.TUNE, pairs)
        by = {}
        for r in runs:
            by.setdefault(r.tag.group, {}).setdefault(r.tag.lr, []).append(r)
        extend = False
        for g in tuned:
            st_ = sc.settings[g.setting]
            scores = {lr: _mean_or_inf(r.area(st_.measure) for r in rs) for lr, rs in by[g.key].items()}
            s = LS.next_rates(st_.grid, scores)
            study.searches[g.key] = LS.search_summary(st_.grid, scores)
            if s.status == LS.EXTEND:
                extend = True
                tried[g.key] = sorted(set(tried[g.key]) | set(s.new))
            else:
                done[g.key] = s
                study.lr[g.key] = s.best
        if not extend:
            break
    study.tune_rounds = rounds
    for g in sc.groups:
        if not g.tuned:
            study.lr[g.key] = study.lr[tuple(g.lr_from)]
    study.runs[P.TUNE] = runs
    return study


def main(study: Study) -> Study:
    """Every group at its chosen rate on the reported seeds."""
    sc = study.scale
    pairs = [p for g in sc.groups for p in P.main_cells(sc, g, study.lr[g.key], study.floss_rate_for(g))]
    study.runs[P.MAIN] = _sweep(study, P.MAIN, pairs)
    return study


def checks(study: Study) -> Study:
    """The float32 check and the main command's runs (when the scale asks for them)."""
    pairs = P.check_cells(study.scale)
    if pairs:
        study.runs[P.CHECKS] = _sweep(study, P.CHECKS, pairs)
    return study


def run_all(study: Study) -> Study:
    for stage in (prep, tune, main, checks):
        study = stage(study)
    return study


__all__ = ["Study", "Runner", "prep", "tune", "main", "checks", "run_all"]
