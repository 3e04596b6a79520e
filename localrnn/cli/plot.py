"""``localrnn plot RUN_DIR...``: overlay the learning curves of saved runs."""
from __future__ import annotations

import click


@click.command("plot")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default="curves.png", show_default=True,
              help="Figure file (png, pdf or svg).")
@click.option("--title", default="", help="Figure title.")
def plot(run_dirs, out_file, title):
    """Overlay the learning curves of one or more runs in one figure."""
    from ..plotting import plot_saved_runs

    n = plot_saved_runs(run_dirs, out_file, title=title)
    click.echo(f"wrote {out_file} ({n} runs)")
