"""Lyapunov analyses behind ``localrnn lyapunov``: of a saved run, of a fresh network,
and lambda_max against the gain.

Each function returns a result whose ``data`` is JSON-ready; given ``figure``,
it also writes the figure (atomically).  Exponents come from
:func:`localrnn.lyapunov.lyapunov_spectrum` (Jacobian QR, Liu et al. 2024); the
inputs are the run's probe batch (:func:`localrnn.runs.probe_inputs`), so the
exponents of a run's weights here are those its ``lyapunov.json`` records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

from ._validate import check_number
from .plotting import plot_lambda_vs_gain, plot_spectrum, pyplot, save_figure
from .runs import PROBE_TRIALS, RunDir, check_writable_file, probe_inputs


@dataclass
class LyapunovAnalysis:
    """What an analysis computed: ``results`` (name -> LyapunovResult, or a GainSweep
    under ``"sweep"``), ``data`` (JSON-ready numbers), ``summary`` (the fields of the
    one-line summary) and the ``figure`` written (or None)."""

    results: Dict
    data: Dict
    summary: Dict
    figure: Optional[Path] = None
    extra: Dict = field(default_factory=dict)


def _check_common(trials, k, figure=None):
    if figure is not None:
        check_writable_file(figure, "figure")
    trials = check_number("trials", trials, lo=1, integer=True)
    if k is not None:
        k = check_number("k", k, lo=1, integer=True)
    return trials, k


def _save(fig, path) -> Path:
    fig.tight_layout()
    return save_figure(fig, path)


def _new_axes():
    return pyplot().subplots(figsize=(5, 3.5), dpi=110)


def run_lyapunov(run_dir, k: Optional[int] = None, trials: int = PROBE_TRIALS,
                 seed: Optional[int] = None, figure=None, write_json: bool = True) -> LyapunovAnalysis:
    """Spectra of a saved run's initial and final weights on its probe inputs.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``localrnn run`` (``config.json``, ``weights.npz``).
    k : int, optional
        Exponents computed [min(N, 10)].
    trials : int
        Probe trials (8: the trials the training run used).
    seed : int, optional
        Seed of the probe inputs and of the initial orthonormal basis [the run's seed].
    figure : path-like, optional
        Where to draw both spectra.
    write_json : bool
        Also write ``RUN_DIR/lyapunov_spectrum.json``.
    """
    from .lyapunov import lyapunov_spectrum
    trials, k = _check_common(trials, k, figure)
    rd = RunDir(run_dir).require("weights.npz", "config.json")
    cfg = rd.read_config()
    task = _rate_task(rd.task())
    seed = cfg.get("seed", 0) if seed is None else check_number("seed", seed, lo=0, integer=True)
    x = probe_inputs(task, seed, trials)
    nets = {w: rd.load_network(w) for w in ("init", "final")}
    N = nets["init"].n_rec
    kk = k if k is not None else min(N, 10)
    res = {w: lyapunov_spectrum(net, x, kk, seed=seed, h0=task.h0(trials, N)) for w, net in nets.items()}
    data = {f"{w}_exponents": r.exponents.tolist() for w, r in res.items()}
    data.update({f"{w}_exponents_std": r.exponents_std.tolist() for w, r in res.items()})
    data.update(k=kk, trials=trials, dt=task.dt, seed=seed)
    if write_json:
        rd.write_json("lyapunov_spectrum.json", data)
    out = None
    if figure is not None:
        fig, ax = _new_axes()
        for w, r in res.items():
            plot_spectrum(r, ax=ax, label=f"{w} weights")
        gain = cfg.get("gain")
        ax.set_title(f"{cfg.get('task')}: {cfg.get('rule')}"
                     + (f", gain {gain:g}" if isinstance(gain, (int, float)) else ""))
        ax.legend()
        out = _save(fig, figure)
    summary = {"lambda_max_init": res["init"].lambda_max, "lambda_max_final": res["final"].lambda_max,
               "k": kk}
    if out is not None:
        summary["figure"] = str(out)
    return LyapunovAnalysis(res, data, summary, out)


def _rate_task(t):
    """``t``, or ``ValueError`` for a spiking task (its spikes have no Jacobian)."""
    from .tasks import SpikingTask

    if isinstance(t, SpikingTask):
        raise ValueError(f"task {t.name!r} trains a spiking network: Lyapunov spectra (MODEL.md "
                         "section 6) are for rate networks (a spike has no Jacobian)")
    return t


def _task_and_n(task, n_rec):
    from .tasks import get_task

    t = _rate_task(get_task(task) if isinstance(task, str) else task)
    N = n_rec if n_rec is not None else t.defaults.get("n_rec", 128)
    N = check_number("n_rec", N, lo=1, integer=True)
    return t, N


def fresh_lyapunov(task, gain: float, n_rec: Optional[int] = None, k: Optional[int] = None,
                   trials: int = PROBE_TRIALS, seed: int = 0, figure=None) -> LyapunovAnalysis:
    """Spectrum of a fresh network of ``task`` at ``gain`` (the initial network a run
    with this seed starts from), on the probe inputs of seed ``seed``."""
    from .lyapunov import lyapunov_spectrum
    trials, k = _check_common(trials, k, figure)
    gain = check_number("gain", gain, lo=0.0)
    seed = check_number("seed", seed, lo=0, integer=True)
    t, N = _task_and_n(task, n_rec)
    kk = k if k is not None else min(N, 10)
    net = t.make_network(gain, seed=seed, n_rec=N)
    r = lyapunov_spectrum(net, probe_inputs(t, seed, trials), kk, seed=seed, h0=t.h0(trials, N))
    data = {"exponents": r.exponents.tolist(), "exponents_std": r.exponents_std.tolist(),
            "exponents_per_time": r.exponents_per_time.tolist(), "k": kk, "gain": gain, "n_rec": N}
    out = None
    if figure is not None:
        fig, ax = _new_axes()
        plot_spectrum(r, ax=ax, label=f"gain {gain:g}")
        ax.set_title(f"{t.name}: N={N}")
        out = _save(fig, figure)
    summary = {"lambda_max": r.lambda_max, "k": kk}
    if out is not None:
        summary["figure"] = str(out)
    return LyapunovAnalysis({"fresh": r}, data, summary, out)


def gain_sweep(task, gains: Sequence[float], n_rec: Optional[int] = None, k: Optional[int] = None,
               trials: int = PROBE_TRIALS, seeds: int = 1, seed: int = 0, figure=None) -> LyapunovAnalysis:
    """lambda_max of fresh networks of ``task`` against the gain, over ``seeds`` network
    seeds ``seed, seed+1, ...`` (:func:`localrnn.lyapunov.lambda_max_vs_gain`)."""
    from .lyapunov import lambda_max_vs_gain
    trials, k = _check_common(trials, k, figure)
    gl = [check_number("gains entry", g, lo=0.0) for g in gains]
    if not gl:
        raise ValueError("gains is empty; give at least one gain")
    seeds = check_number("seeds", seeds, lo=1, integer=True)
    seed = check_number("seed", seed, lo=0, integer=True)
    t, N = _task_and_n(task, n_rec)
    kk = k if k is not None else min(N, 10)
    net0 = t.make_network(gl[0], seed=seed, n_rec=N)
    sw = lambda_max_vs_gain(gl, probe_inputs(t, seed, trials), n_rec=N, alpha=net0.alpha, k=kk,
                            activation=net0.activation, form=net0.form, n_out=t.n_out,
                            seeds=range(seed, seed + seeds), h0=t.h0(trials, N))
    data = {"gains": gl, "lambda_max_mean": sw.lambda_max_mean.tolist(),
            "lambda_max_std": sw.lambda_max_std.tolist(), "k": kk, "n_rec": N}
    out = None
    if figure is not None:
        fig, ax = _new_axes()
        plot_lambda_vs_gain(sw, ax=ax)
        ax.set_title(f"{t.name}: N={N}, alpha={net0.alpha:g}")
        out = _save(fig, figure)
    return LyapunovAnalysis({"sweep": sw}, data, dict(data), out)


__all__ = ["LyapunovAnalysis", "run_lyapunov", "fresh_lyapunov", "gain_sweep"]
