"""``localrnn quantize-sweep``: learning against the word length of weights and traces."""
from __future__ import annotations

import click


def _ints(name, text):
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated integers, e.g. 4,8,16") from None
    if not vals:
        raise ValueError(f"{name}={text!r} is empty; give comma-separated integers, e.g. 4,8,16")
    return vals


@click.command("quantize-sweep")
@click.option("--task", default="sine", show_default=True, help="An MSE task: sine, romo.")
@click.option("--rules", default="eprop,rflo", show_default=True)
@click.option("--weight-bits", default="4,6,8,10,12,16", show_default=True,
              help="Weight widths swept (traces at the base width).")
@click.option("--trace-bits", default="4,6,8,10,12", show_default=True,
              help="Trace widths swept (weights at the base width).")
@click.option("--roundings", default="nearest,stochastic", show_default=True)
@click.option("--base", default="w16,s16,t16,l16,acc32", show_default=True,
              help="Formats of the quantities not swept (QuantSpec).")
@click.option("--n-rec", type=int, default=32, show_default=True)
@click.option("--iters", type=int, default=300, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder [new folder under runs/].")
def quantize_sweep(task, rules, weight_bits, trace_bits, roundings, base, n_rec, iters, seed, out):
    """Train with the integer online learner at several weight and trace widths, nearest
    and stochastic rounding, against float64; write quantize_sweep.{csv,md,json,png}."""
    from ..io import new_run_dir
    from ..neuromorphic.quantsweep import quantize_sweep as sweep, table_markdown, write_sweep

    res = sweep(task=task, rules=[r.strip() for r in rules.split(",") if r.strip()],
                weight_bits=_ints("--weight-bits", weight_bits),
                trace_bits=_ints("--trace-bits", trace_bits),
                roundings=[r.strip() for r in roundings.split(",") if r.strip()], base=base,
                n_rec=n_rec, iters=iters, seed=seed, progress=lambda s: click.echo(s, err=True))
    out_dir = new_run_dir("runs", prefix=f"quantize-sweep-{task}") if out is None else out
    paths = write_sweep(res, out_dir)
    click.echo(table_markdown(res))
    click.echo(f"wrote {', '.join(paths.values())}")
    return 0
