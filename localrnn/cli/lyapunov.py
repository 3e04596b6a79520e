"""``localrnn lyapunov``: Lyapunov spectra of saved runs, fresh networks, and gain sweeps.

A thin wrapper over :mod:`localrnn.analysis` (one function per mode).
"""
from __future__ import annotations

from pathlib import Path

import click

from ._common import emit_summary, parse_list


@click.command("lyapunov")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--task", default=None, help="Task whose inputs drive the network (fresh network mode).")
@click.option("--gain", type=float, default=None, help="Gain of a fresh network.")
@click.option("--gains", default=None, help="Comma-separated gains: lambda_max vs gain of fresh networks.")
@click.option("--k", "k", type=int, default=None, help="Number of exponents [min(N, 10)].")
@click.option("--n-rec", type=int, default=None, help="Units of a fresh network [task default].")
@click.option("--trials", type=int, default=8, show_default=True, help="Trials averaged over (8: the trials a training run uses).")
@click.option("--seeds", type=int, default=1, show_default=True, help="Network seeds per gain (--gains).")
@click.option("--seed", type=int, default=None, help="Seed of the inputs and networks [RUN_DIR: the run's seed; else 0].")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Figure file [RUN_DIR/lyapunov.png, lyapunov.png or lyapunov_vs_gain.png].")
@click.option("--json", "as_json", is_flag=True, help="Print the exponents as JSON.")
def lyapunov(run_dir, task, gain, gains, k, n_rec, trials, seeds, seed, out_file, as_json):
    """Lyapunov spectrum (Jacobian QR) of a saved run's initial and final weights,
    of a fresh network (--task T --gain G), or lambda_max vs gain (--task T --gains ...).
    """
    from ..analysis import fresh_lyapunov, gain_sweep, run_lyapunov

    if run_dir is not None:
        if task or gain is not None or gains:
            raise click.UsageError("give either RUN_DIR or --task with --gain/--gains, not both")
        a = run_lyapunov(run_dir, k=k, trials=trials, seed=seed,
                         figure=Path(out_file) if out_file else Path(run_dir) / "lyapunov.png")
        emit_summary(a.data if as_json else a.summary, as_json)
        return
    if task is None:
        raise click.UsageError("give RUN_DIR, or --task with --gain G or --gains G1,G2,...")
    seed = 0 if seed is None else seed
    if gains is not None:
        if gain is not None:
            raise click.UsageError("give --gain or --gains, not both")
        a = gain_sweep(task, parse_list("--gains", gains, float), n_rec=n_rec, k=k, trials=trials,
                       seeds=seeds, seed=seed, figure=out_file or "lyapunov_vs_gain.png")
        if as_json:
            emit_summary(a.data, True)
        else:
            for g, m, s in zip(a.data["gains"], a.data["lambda_max_mean"], a.data["lambda_max_std"]):
                click.echo(f"gain {g:g}: lambda_max {m:.4g} +- {s:.2g} per step")
            click.echo(f"figure {a.figure}")
        return
    if gain is None:
        raise click.UsageError("--task needs --gain G or --gains G1,G2,...")
    a = fresh_lyapunov(task, gain, n_rec=n_rec, k=k, trials=trials, seed=seed,
                       figure=out_file or "lyapunov.png")
    emit_summary(a.data if as_json else a.summary, as_json)
