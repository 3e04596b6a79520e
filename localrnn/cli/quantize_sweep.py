"""``localrnn quantize-sweep``: learning against the word length of weights and traces."""
from __future__ import annotations

import click

from ._common import TaskBar, parse_list


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
@click.option("--workers", type=int, default=1, show_default=True, help="Local worker processes.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder [new folder under runs/].")
def quantize_sweep(task, rules, weight_bits, trace_bits, roundings, base, n_rec, iters, seed, workers,
                   out):
    """Train with the integer online learner at several weight and trace widths, nearest
    and stochastic rounding, against float64; write quantize_sweep.{csv,md,json,png}."""
    from ..io import new_run_dir
    from ..neuromorphic.quantsweep import quantize_sweep as sweep, table_markdown, write_sweep

    with TaskBar("quantize-sweep") as bar:
        res = sweep(task=task, rules=parse_list("--rules", rules),
                    weight_bits=parse_list("--weight-bits", weight_bits, int),
                    trace_bits=parse_list("--trace-bits", trace_bits, int),
                    roundings=parse_list("--roundings", roundings), base=base, n_rec=n_rec,
                    iters=iters, seed=seed, workers=workers, progress=bar)
    out_dir = new_run_dir("runs", prefix=f"quantize-sweep-{task}") if out is None else out
    paths = write_sweep(res, out_dir)
    click.echo(table_markdown(res))
    click.echo(f"wrote {', '.join(paths.values())}")
    return 0
