"""``localrnn bench``: our time, the floor (BLAS work we cannot avoid), PyTorch's, both ratios."""
from __future__ import annotations

import importlib

import click

from ..io import to_json

#: benchmark modules under localrnn.benchmarks, in the order printed
MODULES = ("engine", "iteration", "online", "lyapunov", "spiking")


def _fmt_t(s):
    if s is None:
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    return f"{s * 1e3:.2f} ms"


def _fmt_r(r):
    return "n/a" if r is None else f"{r:.2f}"


def format_table(rows) -> str:
    """The table printed by ``localrnn bench`` (one line per row, a header line first)."""
    w = max(len(r["name"]) for r in rows)
    head = (f"{'case':<{w}}  {'per':<9}  {'ours':>9}  {'floor':>9}  {'ours/floor':>10}  "
            f"{'arith':>9}  {'ours/arith':>10}  "
            f"{'peer':>9}  {'peer/ours':>9}  {'peer/floor':>10}  target  [floor: ...; arith: ...; peer: ...]")
    lines = [head]
    for r in rows:
        arith = f"; arith: {r['arith']}" if r.get("arith") else ""
        lines.append(f"{r['name']:<{w}}  {r['per']:<9}  {_fmt_t(r['ours_s']):>9}  {_fmt_t(r['floor_s']):>9}  "
                     f"{_fmt_r(r['ours_over_floor']):>10}  {_fmt_t(r.get('arith_s')):>9}  "
                     f"{_fmt_r(r.get('ours_over_arith')):>10}  {_fmt_t(r['peer_s']):>9}  "
                     f"{_fmt_r(r['peer_over_ours']):>9}  {_fmt_r(r.get('peer_over_floor')):>10}  "
                     f"{r['target']}  "
                     f"[floor: {r['floor']}{arith}; peer: {r['peer']}]")
    return "\n".join(lines)


@click.command("bench")
@click.option("--quick", is_flag=True, help="Smaller sizes and fewer repeats (about a minute).")
@click.option("--json", "as_json", is_flag=True, help="Print the table (or the scaling fits) as JSON.")
@click.option("--only", type=click.Choice(MODULES), multiple=True, help="Run only these groups.")
@click.option("--scaling", is_flag=True,
              help="Time and memory of one step of every rule over N and T, fitted exponents, figures.")
@click.option("--throughput", is_flag=True,
              help="Romo training iterations per second with 1 and 2 worker processes.")
@click.option("--out", type=click.Path(file_okay=False), default="bench-scaling", show_default=True,
              help="Folder for the --scaling figures and exponents.")
def bench(quick, as_json, only, scaling, throughput, out):
    """Time each case against its floor and against PyTorch (compile time excluded).

    ours/floor: our time over the BLAS/LAPACK work the case cannot avoid, timed
    with NumPy in the same run under the same BLAS thread limit (lower is
    better; 1 is the floor).  ours/arith (small-N Romo iterations): our time over
    the iteration's GEMM FLOPs at the peak one-thread GEMM rate measured in the same
    rounds.  peer/ours: PyTorch's time over ours (the speed-up;
    higher is better).  peer/floor: the largest peer/ours possible on this machine
    (ours = floor); a peer target above it cannot be met here.  Times are per time
    step or per training iteration, as the 'per' column says.  Quote ratios, not absolute times.
    """
    if scaling and throughput:
        raise ValueError("--scaling and --throughput are separate runs; give one of them")
    if scaling:
        from ..benchmarks.scaling import run_scaling

        res = run_scaling(out, quick=quick, echo=None if as_json else click.echo)
        if as_json:
            click.echo(to_json(res["fits"]).rstrip("\n"))
        return
    if throughput:
        from ..benchmarks.throughput import run_throughput

        res = run_throughput(quick=quick, echo=None if as_json else click.echo)
        if as_json:
            click.echo(to_json(res).rstrip("\n"))
        return
    rows = []
    for name in (only or MODULES):
        mod = importlib.import_module(f"localrnn.benchmarks.{name}")
        rows.extend(mod.bench_cases(quick=quick))
    if as_json:
        click.echo(to_json(rows).rstrip("\n"))
        return
    click.echo(format_table(rows))
