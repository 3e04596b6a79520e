"""``localrnn export``: one online step as a hardware spec, or a run's network as NIR.

A thin wrapper over :func:`localrnn.neuromorphic.formats.export`: the options given on
the command line go to the format, which says which ones it needs and takes.
"""
from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from ..names import FEEDBACKS, FORMS, RESETS, RULES, SPIKING_MODELS

FORMATS = ("md", "json", "nir", "lava")


@click.command("export")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--rule", type=click.Choice(RULES), default=None, help="Learning rule of the step.")
@click.option("--form", type=click.Choice(FORMS), default="current", show_default=True,
              help="Rate networks: the dynamics' form.")
@click.option("--n-rec", type=int, default=None, help="Recurrent units N.")
@click.option("--n-in", type=int, default=None, help="Inputs I.")
@click.option("--n-out", type=int, default=None, help="Outputs O.")
@click.option("--quantize", default=None,
              help="Fixed-point formats for the memory accounting, e.g. w8,s16,t12,l16,acc32 "
                   "[float64].")
@click.option("--feedback", type=click.Choice(FEEDBACKS), default=None,
              help="Feedback of the local rules [e-prop symmetric, RFLO random].")
@click.option("--T", "T", type=int, default=None, help="Trial length of BPTT's entry [100].")
@click.option("--alpha", type=float, default=0.125, show_default=True,
              help="alpha = dt/tau of --format lava's trace settings (rate form: rounded to a "
                   "power of two).")
@click.option("--model", type=click.Choice(SPIKING_MODELS), default=None,
              help="A spiking network's step (lif or alif) instead of a rate network's (--form).")
@click.option("--reset", type=click.Choice(RESETS), default=None,
              help="Spiking: after a spike subtract v_th or set v to v_reset [subtract].")
@click.option("--reg", type=float, default=None,
              help="Firing-rate regulariser strength c of a spiking network's step (the spec "
                   "counts its operations; 0: none) [0].")
@click.option("--tau-m", type=float, default=None,
              help="Spiking, --format lava: membrane time constant in steps [20].")
@click.option("--tau-out", type=float, default=None,
              help="Spiking, --format lava: readout time constant in steps [20].")
@click.option("--dt", type=float, default=None,
              help="Time step of --format nir's graph: seconds for a spiking run [its step; "
                   "snnTorch's importer assumes 1e-4], the task's unit for a rate run [the task's dt].")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="md or json (the step spec: --rule --n-rec --n-in --n-out), lava (learning-rule "
                   "strings: --rule), nir (RUN_DIR's network) [md; nir with RUN_DIR].")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Output file [stdout; RUN_DIR/network.nir for nir].")
def export(run_dir, fmt, out_file, **options):
    """The per-step update of an online learner as a spec (equations, operation counts,
    memory, communication, locality): --rule R --n-rec N --n-in I --n-out O; or a trained
    run's network as a NIR graph: RUN_DIR --format nir."""
    from ..neuromorphic.formats import export as export_to

    ctx = click.get_current_context()
    given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
    given["run_dir"] = run_dir
    spell = {p.name: max(p.opts, key=len) for p in ctx.command.params if isinstance(p, click.Option)}
    spell["run_dir"] = "RUN_DIR"
    res = export_to(fmt or ("nir" if run_dir else "md"), given, out=out_file, spell=spell)
    if isinstance(res, Path):
        click.echo(str(res))
    else:
        click.echo(res, nl=False)
