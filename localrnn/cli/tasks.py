"""``localrnn tasks [NAME...]``: list the registered tasks with their sizes."""
from __future__ import annotations

import click

from ..io import to_json


def _row(s) -> list:
    g = s.get("defaults", {}).get("gain")
    return [s["name"], str(s["n_in"]), str(s["n_out"]), f"{s['dt']:g} {s['time_unit']}", str(s["T"]),
            s["loss"], "-" if g is None else f"{g:g}", s["description"]]


@click.command("tasks")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list: sizes, dt, T, alpha, loss, periods and training defaults.")
def tasks(names, as_json):
    """List the tasks (or only NAMES, e.g. 'romo' or 'neurogym:DelayComparison-v0').

    One line each: name, inputs, outputs, time step, steps per trial, loss, the
    default gain 'localrnn run' uses (its other defaults: --json), and what the
    task is.  Any task name accepted here is accepted by 'localrnn run'.
    """
    from ..tasks import get_task, list_tasks

    summaries = [get_task(n).summary() for n in (names or list_tasks())]
    if as_json:
        click.echo(to_json(summaries).rstrip("\n"))
        return
    header = ["task", "in", "out", "dt", "T", "loss", "gain", "description"]
    rows = [header] + [_row(s) for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    if not names:
        click.echo("Also: neurogym:<EnvId> for any neurogym environment "
                   "(pip install \"localrnn[neurogym]\").")
