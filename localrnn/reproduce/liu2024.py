"""Reproduction of Liu, Zhang & Liu (2024): initial gain and biologically plausible learning.

``reproduce_liu2024(out, scale)`` runs the study as a pipeline (:mod:`.study`): the
flossing rate, the learning-rate search of every group, every group on the reported
seeds, the checks; then the claims as paired contrasts (:mod:`.claims`), the figures
(:mod:`.figures`) and ``report.md`` (:mod:`.report`).  This module holds the scales
(:data:`SCALES`: what each runs, and why) and the entry point.

The claims (paper figures in brackets):

1. The initial gain changes e-prop's learning curve strongly, as it does BPTT's, on Romo
   [Fig. 1; intermediate gains Fig. 5].
2. The same on 2AF and DMS [Fig. 2].
3. Before training small gains have λ_max further from 0; trained networks sit near 0
   [Fig. 3; λ_max during training: Fig. 7 here].
4. 100 iterations of local gradient flossing before training improve e-prop, most at
   suboptimal gains [Fig. 4], with a control (W rescaled until λ_max ≈ 0) and brackets.
5. (Stated in the paper's discussion, untested there) small gains reduce the gradient
   truncation error: cos(e-prop gradient, BPTT gradient) on the same batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np

from .. import io as lio
from . import claims as C
from . import figures as F
from . import plan as P
from . import report as REP
from . import scales as S
from .lrsearch import RateGrid
from .study import Runner, Study, run_all

# ---------------------------------------------------------------------------- scales

def _decision(key, label, n, batch, iters, every, task_kwargs, criterion, why, task=None,
              start=(-2, -1, 0, 1, 2), max_extra=4):
    return S.Setting(key=key, task=task or key.split("-")[0], label=label, n_rec=n, batch=batch,
                     iters=iters, eval_every=every, grid=RateGrid(base=3e-3, start=start, max_extra=max_extra),
                     task_kwargs=dict(task_kwargs), measure="eval_decision_loss", criterion=criterion,
                     why=why)


def _settings(n, batch, romo_iters, romo_every, dec, romo_start=(-3, -2, -1, 0, 1, 2), max_extra=4,
              dec_start=(-2, -1, 0, 1, 2)):
    """Romo plus the decision tasks (``dec``: {key: (iters, every)}) at size n."""
    out = {"romo": S.romo_setting(n, batch, romo_iters, romo_every, start=romo_start, max_extra=max_extra)}
    spec = {
        "2af": ("2AF", {}, 0.8,
                "neurogym's PerceptualDecisionMaking-v0 defaults (the paper's setting): fixation 100, "
                "stimulus 2000, delay 0, decision 100 ms; the network's tau = 200 ms (alpha = 0.5). "
                "Accuracy cannot pass ~0.9 (coherence-0 trials are guesses): criterion 0.8."),
        "2af-delay": ("2AF with a 1 s delay", {"timing": {"delay": 1000.0}}, 0.8,
                      "As 2af, with a 1000 ms delay between the stimulus and the decision: the default "
                      "task needs no memory (the evidence is on until the decision step), so the gain, "
                      "which sets how long the network remembers, has nothing to act on; a delay makes "
                      "the task depend on memory as Romo and DMS do."),
        "dms": ("DMS", {"tau": 500.0}, 0.9,
                "neurogym's DelayMatchSample-v0 defaults (fixation 300, sample 500, delay 1000, test 500, "
                "decision 900 ms) with the network's tau = 500 ms (alpha = 0.2) instead of 200 ms: at "
                "alpha = 0.5 e-prop's eligibility trace decays by 2^-10 over the 10-step delay and "
                "e-prop stays at chance at every gain (see the pilot note), a floor that cannot test "
                "the claim."),
    }
    for key, (iters, every) in dec.items():
        lab, kw, crit, why = spec[key]
        out[key] = _decision(key, lab, n, batch, iters, every, kw, crit, why, start=dec_start,
                             max_extra=max_extra)
    return out


def _scale(name, settings, romo_gains, fig5_gains, decision_gains, controls=True, rflo_gains=None, **kw):
    groups = S.study_groups(settings, romo_gains, fig5_gains, decision_gains, 0.5, 1.5, controls,
                            rflo_gains)
    return S.Scale(name=name, settings=settings, groups=groups, **kw)


PILOT_NOTES = (
    "Pilot note (2026-12-06, seed 100, N = 64, one run per setting, before this study): on DMS at "
    "tau = 200 ms (alpha = 0.5) e-prop ended at accuracy 0.49 at gains 0.5, 1.0 and 1.5 with "
    "learning rates 3e-3 and 1e-2, while BPTT learned (accuracy 1.0 at 3e-3); at tau = 500 ms and "
    "1000 ms both rules reached accuracy 1.0 at every gain.",
    "Pilot note (2026-12-06, seed 100): a harder 2AF by lower coherences (3.2-12.8) and a shorter "
    "stimulus (500 or 1000 ms) left gains 0.5 and 1.5 as alike as the default task does (decision "
    "accuracy 0.77-0.86 at both gains, both rules); a 1000 ms delay separated e-prop's gains at "
    "alpha = 0.5 (accuracy 0.57 against 0.81 at 3e-3), so the delay is the harder 2AF used here.",
    "Pilot note (2026-12-06, Romo N = 64, seeds 100-102, BPTT at lr 0.00156): without clipping, "
    "BPTT's eval loss jumped back towards chance in most runs (e.g. from 8e-5 to 1.5e-2 at gain 1); the "
    "gradient norm's median was 0.02-0.04, its 90th percentile 0.03-0.27 and its maximum 1.0-2.6. "
    "Clipping the norm at 0.2 lowered BPTT's mean curve area (0.0049 → 0.0041 at gain 0.5, "
    "0.0030 → 0.0012 at 1.0, 0.0009 → 0.0005 at 1.5) without removing every spike, and changed "
    "e-prop's by less than 3% (its norms rarely reach 0.2).",
)

SCALES: Dict[str, S.Scale] = {  # keys: names.STUDY_SCALES (the CLI's choice list)
    "tiny": _scale(
        "tiny", _settings(6, 4, 3, 1, {"2af": (3, 1), "dms": (3, 1)}, romo_start=(0, 1), max_extra=1,
                          dec_start=(0, 1)),
        (0.5, 1.5), (), (0.5, 1.5), controls=True, seeds=(0, 1, 2), tune_seeds=(100,), lyap_every=1,
        floss_iters=2, floss_k=2, floss_grid=RateGrid(base=0.1, factor=3.0, start=(0, 1), step=1, max_extra=1),
        eval_batch=8, dtype_check=True,
        notes=("Test size only (N = 6, 3 iterations, 3 seeds): the verdicts mean nothing.",)),
    "quick": _scale(
        "quick", _settings(32, 16, 300, 25, {"2af": (150, 10), "2af-delay": (200, 10), "dms": (300, 20)},
                           romo_start=(-2, -1, 0), max_extra=1, dec_start=(-1, 0, 1)),
        (0.5, 1.5), (1.0,), (0.5, 1.5), controls=False, seeds=tuple(range(6)), tune_seeds=(100,),
        lyap_every=50,
        floss_grid=RateGrid(base=0.03, factor=3.0, start=(0, 1), step=1, max_extra=1), eval_batch=64,
        dtype_check=False,
        notes=("Romo N = 32, batch 16, 300 iterations; the decision tasks 150-300 iterations at N = 32; "
               "gains 0.5 and 1.5 (and 1.0 on Romo); a 3-rate grid on one tuning seed, extended by at "
               "most one rate a side; seeds 0-5 (six pairs: the fewest with which the exact sign-flip "
               "test can reach p < 0.05); no brackets or controls. A smoke test of the whole pipeline "
               "within 5 minutes on 2 workers: its verdicts are weak by construction.",)),
    "default": _scale(
        "default", _settings(64, 32, 2000, 50, {"2af": (500, 20), "2af-delay": (1000, 25), "dms": (1500, 50)}),
        (0.5, 1.0, 1.5), (0.75, 1.25, 2.0), (0.5, 1.0, 1.5), controls=True, main_command_check=True,
        notes=PILOT_NOTES),
    "n128": _scale(
        "n128", {"romo": S.romo_setting(128, 64, 2000, 50, start=(-3, -2, -1, 0, 1, 2))},
        (0.5, 1.5), (), (), controls=(S.RESCALE,), dtype_check=False, rflo_gains=(),
        notes=("The paper: 'similar trends were observed when doubling' the number of neurons and the "
               "batch. Romo at N = 128 and batch 64 (twice the default scale's): claims 1, 3, 4 and 5 at "
               "gains 0.5 and 1.5 (the decision tasks are the default scale's). Of the controls, the "
               "one a reviewer asks of claim 4, as at the paper scale: W rescaled until λ_max ≈ 0 at "
               "gain 0.5, against flossing.",)),
    "paper": _scale(
        "paper", {"romo": S.romo_setting(256, 32, 2000, 50, start=(-2, -1, 0, 1, 2))},
        (0.5, 1.0, 1.5), (), (), controls=(S.RESCALE,), dtype_check=False, rflo_gains=(0.5, 1.5),
        notes=("Romo at the size of Schuessler et al. (2020), which the paper follows: N = 256, batch "
               "32, Adam from 0.05/N times the grid; claims 1, 3, 4 and 5 (the decision tasks are "
               "the default scale's). RFLO (the main command's rule) at gains 0.5 and 1.5 only. Of "
               "the controls, only the one a reviewer asks of claim 4 first: W rescaled until "
               "λ_max ≈ 0 at gain 0.5, against flossing.",)),
}


def get_scale(scale) -> S.Scale:
    """The :class:`~localrnn.reproduce.scales.Scale` called ``scale`` (or ``scale`` itself)."""
    if isinstance(scale, S.Scale):
        return scale
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is not allowed; choose one of "
                         + ", ".join(repr(s) for s in SCALES))
    return SCALES[scale]


# ---------------------------------------------------------------------------- the report's setup

def _worker_seconds(study: Study) -> Dict[str, float]:
    return {st: float(np.nansum([r.seconds for r in runs])) for st, runs in study.runs.items()}


def setup_lines(study: Study, wall: float) -> List[str]:
    sc = study.scale
    ws = _worker_seconds(study)
    counts = {st: len(runs) for st, runs in study.runs.items()}
    status = {st: sum(r.ok for r in runs) for st, runs in study.runs.items()}
    L = ["## Setting and why", ""]
    L.append(f"This invocation took {wall / 60:.1f} minutes of wall time. Cells per stage (done of "
             "planned) and the sum of the cells' own times (worker-seconds, whichever invocation ran "
             "them): " + "; ".join(f"{st}: {status[st]} of {counts[st]}, {ws[st]:.0f} worker-seconds"
                                   for st in study.runs) + f"; learning-rate search rounds: "
             f"{study.tune_rounds}.")
    L.append("")
    for st in sc.settings.values():
        kw = f", task options {dict(st.task_kwargs)}" if st.task_kwargs else ""
        L.append(f"- **{st.label}** (`{st.task}`{kw}): N = {st.n_rec}, batch {st.batch}, {st.iters} "
                 f"iterations, evaluation every {st.eval_every} on a held-out batch of {sc.eval_batch}; "
                 f"learning-rate grid {st.grid.base:.3g} × {st.grid.factor:g}^k, k = {list(st.grid.start)}"
                 f", extended {st.grid.step} at a time up to {st.grid.max_extra} beyond on a side. "
                 + st.why)
    L.append(f"- Seeds {list(sc.seeds)} reported, {list(sc.tune_seeds)} for the searches. A seed fixes Z "
             "(W = g Z / √N), W_in, W_out, the feedback matrix and every batch, so groups differing only "
             "in gain, rule or pretraining are paired.")
    L.append(f"- Adam, {sc.dtype}; gradient-norm clipping at {sc.clip} (global L2 norm over the trained "
             "parameters, before the optimiser; the bracket 'no clipping' shows what it changes)."
             if sc.clip else f"- Adam, {sc.dtype}; no gradient clipping.")
    L.append(f"- λ_max: k = {sc.floss_k} exponents by Jacobian QR on 8 probe trials of the run's seed; "
             f"during training, every {sc.lyap_every} iterations (k = 1)." if sc.lyap_every else "")
    L.append(f"- Flossing: {sc.floss_iters} iterations of local flossing (Adam on W, k = {sc.floss_k}) before "
             "training. Its rate is ONE rate for every gain, chosen on the tuning seeds as the one whose "
             "flossing loss Σ λ_i² after flossing, averaged over the flossed gains, is lowest (the grid "
             "extended at its edge like the learning rates); the rate chosen per gain is a bracket.")
    L.append("- Learning rates: each group's rate minimises the mean learning-curve area (of the setting's "
             "measure) over the tuning seeds; a group at a grid edge gets more rates on that side until "
             "its best rate is interior or the bound is reached, which is stated and makes the group's "
             "contrasts untestable.")
    L.append("- A spike: an evaluation whose loss exceeds 10 × the lowest earlier eval loss and 0.1 × the "
             "first eval loss, once that lowest loss is below half the first one; consecutive spiking "
             "evaluations are one event "
             "(`localrnn.reproduce.metrics.spike_events`). The tables count runs with at least one.")
    L += [""] + [f"- {n}" for n in sc.notes] + [""]
    if study.floss_search:
        L += ["### Flossing rate", ""]
        for name, s in study.floss_search.items():
            tried = ", ".join(f"{x:.3g}: {v:.3g}" for x, v in zip(s["tried"], s["scores"]))
            who = "shared (all flossed gains)" if name == "shared" else f"gain {name} alone"
            L.append(f"- {who}: Σλ² after flossing per rate: {tried} → {s['best']:.3g} ({s['status']})")
        L.append("")
    L += ["### Learning rates chosen", ""]
    L += REP.search_table(sc, study.searches, study.lr) + [""]
    L += checks_lines(study)
    return [x for x in L if x is not None]


def checks_lines(study: Study) -> List[str]:
    runs = study.runs.get(P.CHECKS, [])
    if not runs:
        return []
    L = []
    dt = {}
    for r in runs:
        if r.tag.role in ("float32", "float64"):
            dt.setdefault(r.tag.group, {})[r.tag.role] = r
    if dt:
        L += ["### float32 or float64", "", "The same cells (first tuning seed, the Romo base rate) in both "
              "types:", ""]
        rows = []
        for key, d in dt.items():
            a, b = d.get("float64"), d.get("float32")
            if not (a and b and a.ok and b.ok):
                continue
            n = min(a.eval_loss.size, b.eval_loss.size)
            rel = np.abs(a.eval_loss[:n] - b.eval_loss[:n]) / np.abs(a.eval_loss[:n])
            first = next((int(a.eval_it[i]) for i in range(n) if rel[i] > 0.01), None)
            tenth = max(1, n // 10)
            rows.append([C.label(key), f"iteration {first}" if first else "never",
                         f"{rel[:tenth].max():.3g}", f"{a.final_loss():.4g} / {b.final_loss():.4g}",
                         f"{a.seconds:.1f} / {b.seconds:.1f}",
                         f"{1e3 * a.iter_seconds:.2f} / {1e3 * b.iter_seconds:.2f}"])
        L += REP.table(["group", "first evaluation differing by > 1%", "max relative difference, first 10%",
                         "final eval loss f64 / f32", "run seconds f64 / f32",
                         "median ms per iteration f64 / f32"], rows)
        L += ["", "A run's seconds include Numba compiling the kernels the first float32 run of a "
              "worker meets when the kernel cache is cold; the median time per iteration does not.", ""]
    mc = [r for r in runs if r.tag.role == "main-command"]
    if mc and all(r.ok for r in mc):
        mc.sort(key=lambda r: -r.tag.group[2])
        L += ["### The main command (`localrnn run romo --rule rflo`) run longer", "",
              f"RFLO at Romo's defaults (N = 256, batch 32, lr {mc[0].tag.lr:.3g}, seed 0), "
              f"{mc[0].iters} iterations:", ""]
        cols = ["iteration"] + [f"accuracy gain {r.tag.group[2]:g}" for r in mc] + \
               [f"eval loss gain {r.tag.group[2]:g}" for r in mc]
        n = min(r.eval_it.size for r in mc)
        step = max(1, n // 10)
        rows = [[int(mc[0].eval_it[i])] + [f"{r.accuracy[i]:.3f}" for r in mc] + [f"{r.eval_loss[i]:.4g}" for r in mc]
                for i in list(range(step - 1, n, step))]
        L += REP.table(cols, rows) + [""]
        for r in mc:
            crit = r.to_criterion(0.95)
            below = [int(it) for it, a in zip(r.eval_it, r.accuracy) if crit[0] <= it and a < 0.95]
            L.append(f"- gain {r.tag.group[2]:g}: first at accuracy ≥ 0.95 at "
                     + (f"iteration {crit[0]:.0f}" if not crit[1] else "no evaluation")
                     + (f"; below 0.95 again at {len(below)} later evaluations (first at {below[0]})"
                        if below else "; never below it again") + ".")
        L.append("")
    return L


# ---------------------------------------------------------------------------- entry point

@dataclass
class Report:
    """What :func:`reproduce_liu2024` wrote: ``claims`` (with ``verdict``), the report's
    ``path``, the figures and the wall time of this invocation."""

    claims: List[C.Claim]
    path: Path
    figures: Dict[str, str]
    seconds: float
    study: Study

    @property
    def verdicts(self) -> Dict[int, str]:
        return {c.number: c.verdict for c in self.claims}


def analyse(study: Study, out: Path, wall: float) -> Report:
    """Claims, figures and report of a study whose runs are loaded."""
    sc = study.scale
    groups = study.groups()
    claims = C.all_claims(sc, groups, study.searches)
    tables = C.tables(sc, groups, study.lr)
    figs = F.draw(sc, groups, out)
    text = REP.render(study, claims, tables, figs, extra=setup_lines(study, wall))
    path = lio.atomic_write_text(out / "report.md", text)
    lio.atomic_write_json(out / "claims.json", {
        "scale": sc.describe(), "claims": [c.as_dict() for c in claims], "tables": tables,
        "lr": [[list(k), v] for k, v in study.lr.items()],
        "searches": [[list(k), v] for k, v in study.searches.items()],
        "floss_lr": study.floss_lr, "floss_lr_per_gain": {str(k): v for k, v in study.floss_lr_per_gain.items()},
        "floss_search": study.floss_search, "wall_seconds": wall,
        "worker_seconds": _worker_seconds(study)})
    return Report(claims, Path(path), figs, wall, study)


def reproduce_liu2024(out, scale="default", workers: int = 1, scheduler=None, dask_local=None,
                      progress=None) -> Report:
    """Run (or resume) the study and write ``report.md``, ``claims.json`` and the figures.

    Parameters
    ----------
    out : path
        Results folder; a rerun finds every finished cell and runs only what is missing.
    scale : str or Scale
        :data:`SCALES`: ``default`` (N = 64; within 60 minutes on 2 cores with
        ``workers=2``), ``n128`` (claim 1 at doubled N and batch), ``paper`` (Romo at
        N = 256), ``quick`` (a smoke test within 5 minutes), ``tiny`` (tests).
    workers, scheduler, dask_local
        The sweep executor (:func:`localrnn.sweep.run_sweep`).
    progress : callable, optional
        ``progress(done, total, text)`` of each sweep.
    """
    sc = get_scale(scale)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    study = Study(sc, out, Runner(workers, scheduler, dask_local, progress))
    lio.atomic_write_json(out / "scale.json", sc.describe())
    study = run_all(study)
    return analyse(study, out, time.perf_counter() - t0)


__all__ = ["reproduce_liu2024", "Report", "SCALES", "get_scale", "analyse", "PILOT_NOTES"]
