"""``localrnn sweep GRID.toml``: a grid of runs, serially, in processes or on Dask.

Exit codes: 0 when every cell finished (done, or diverged: a diverged run is a
result and is recorded as such), 3 when some cell failed (its one-line error is in
``summary.csv`` and ``cells/<name>/cell.json``; rerun the command to retry only the
unfinished cells), 2 for a bad grid or option (nothing runs), 130 on Ctrl-C.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ._common import TaskBar, emit_summary, executor_options, parse_list

# quick-grid option -> (TrainConfig field, kind of its entries)
_QUICK = {
    "task": ("task", str), "rules": ("rule", str), "gains": ("gain", float), "lrs": ("lr", float),
    "seeds": ("seed", int), "iters": ("iters", int), "n_rec": ("n_rec", int), "batch": ("batch", int),
    "floss_iters": ("floss_iters", int), "dtype": ("dtype", str), "form": ("form", str),
    "feedback": ("feedback", str),
}


@click.command("sweep")
@click.argument("grid", required=False, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sweep folder [sweeps/<grid file name>, or sweeps/quick-<task>].")
@executor_options
@click.option("--task", default=None, help="Quick grid: task(s), comma-separated.")
@click.option("--rules", default=None, help="Quick grid: rules, e.g. rflo,eprop,bptt.")
@click.option("--gains", default=None, help="Quick grid: initial gains, e.g. 0.5,1,1.5.")
@click.option("--lrs", default=None, help="Quick grid: learning rates.")
@click.option("--seeds", default=None, help="Quick grid: seeds, e.g. 0,1,2.")
@click.option("--iters", default=None, help="Quick grid: training iterations.")
@click.option("--n-rec", "n_rec", default=None, help="Quick grid: recurrent units.")
@click.option("--batch", default=None, help="Quick grid: trials per batch.")
@click.option("--floss-iters", "floss_iters", default=None, help="Quick grid: flossing iterations, e.g. 0,100.")
@click.option("--dtype", default=None, help="Quick grid: float64 and/or float32.")
@click.option("--form", default=None, help="Quick grid: current and/or rate.")
@click.option("--feedback", default=None, help="Quick grid: symmetric and/or random (local rules).")
@click.option("--lyapunov", "lyap", is_flag=True, default=None, help="Record lambda_max before/after.")
@click.option("--align", is_flag=True, default=None, help="Record the gradient alignment with BPTT.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts and summary path as JSON.")
def sweep(grid, out, workers, scheduler, dask_local, lyap, align, no_progress, as_json, **quick):
    """Run every cell of GRID (a TOML file; see docs/sweeps.md) and write summary.csv.

    Without GRID, the quick-grid options make the grid (--task is then needed);
    with GRID they replace the file's values.  Rerunning skips finished cells.
    Exit code 0: every cell finished; 3: some cell failed; 2: bad grid.
    """
    from ..sweep import FINISHED, Grid, load_grid, run_sweep

    overrides = {}
    for opt, text in quick.items():
        if text is not None:
            key, kind = _QUICK[opt]
            values = parse_list("--" + opt.replace("_", "-"), text, kind)
            # one value is a fixed setting (not in the folder names); several are an axis
            overrides[key] = values[0] if len(values) == 1 else values
    if lyap:
        overrides["lyapunov"] = True
    if align:
        overrides["align"] = True
    if grid is not None:
        g = load_grid(grid, overrides)
        default_out = Path("sweeps") / Path(grid).stem
    else:
        if "task" not in overrides:
            raise click.UsageError("give a GRID file or a quick grid with --task (e.g. "
                                   "'localrnn sweep --task romo --rules rflo,bptt --gains 0.5,1.5')")
        g = Grid.from_dict(overrides)
        t = overrides["task"]
        default_out = Path("sweeps") / ("quick-" + ("-".join(t) if isinstance(t, list) else t).replace(":", "_"))
    out = Path(out) if out is not None else default_out
    with TaskBar("sweep", enabled=not (no_progress or as_json)) as bar:
        res = run_sweep(g, out, workers=workers, scheduler=scheduler, dask_local=dask_local,
                        progress=bar)
    counts = {**res.counts(), "summary": str(res.path)}
    emit_summary(counts, as_json)
    if not res.ok:
        failed = [r["name"] for r in res.rows if r["status"] not in FINISHED]
        click.echo(f"Error: {len(failed)} cell(s) failed ({', '.join(failed[:5])}"
                   f"{', ...' if len(failed) > 5 else ''}); errors in {res.path}; rerun to retry them",
                   err=True)
        sys.exit(3)
    return 0
