"""``localrnn reproduce liu2024``: run a published study's sweeps, figures and report."""
from __future__ import annotations

import click

from ..names import STUDY_SCALES
from ._common import TaskBar, executor_options

STUDIES = ["liu2024"]


@click.command("reproduce")
@click.argument("study", type=click.Choice(STUDIES))
@click.option("--quick", is_flag=True, help="Same as --scale quick (about 5 minutes on 2 cores).")
@click.option("--scale", type=click.Choice(STUDY_SCALES), default=None,
              help="Sizes: default (N = 64; within 60 min on 2 cores with --workers 2), quick (a smoke "
                   "test), n128 (claim 1 at doubled N and batch), paper (Romo at N = 256; hours), "
                   "tiny (tests).  [default]")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder; a rerun resumes it.  [reproduction/STUDY]")
@executor_options
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def reproduce(study, quick, scale, out, workers, scheduler, dask_local, no_progress):
    """Reproduce STUDY (liu2024: Liu, Zhang & Liu 2024, initial gain and local learning rules).

    Runs the sweeps behind the paper's claims, then writes the figures and report.md
    (numbers, effect sizes with 95% confidence intervals across seeds, a verdict per
    claim) in --out.
    """
    from ..reproduce import reproduce_liu2024

    if quick and scale not in (None, "quick"):
        raise click.UsageError(f"--quick and --scale {scale} disagree; give one of them")
    sc = "quick" if quick else (scale or "default")
    if workers < 1:
        raise click.UsageError(f"--workers {workers}: give an integer >= 1")
    with TaskBar("sweep", enabled=not no_progress) as bar:
        rep = reproduce_liu2024(out or f"reproduction/{study}", scale=sc, workers=workers,
                                scheduler=scheduler, dask_local=dask_local, progress=bar)
    for c in rep.claims:
        click.echo(f"claim {c.number}: {c.verdict} ({c.text})")
    click.echo(f"report: {rep.path} ({rep.seconds / 60:.1f} min)")
    return 0
