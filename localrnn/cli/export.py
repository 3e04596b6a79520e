"""``localrnn export``: one online step as a hardware spec, or a run's network as NIR."""
from __future__ import annotations

from pathlib import Path

import click

from ..names import FORMS, RULES
from . import UsageFail

FORMATS = ("md", "json", "nir", "lava")


@click.command("export")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--rule", type=click.Choice(RULES), default=None, help="Learning rule of the step.")
@click.option("--form", type=click.Choice(FORMS), default="current", show_default=True)
@click.option("--n-rec", type=int, default=None, help="Recurrent units N.")
@click.option("--n-in", type=int, default=None, help="Inputs I.")
@click.option("--n-out", type=int, default=None, help="Outputs O.")
@click.option("--quantize", default=None,
              help="Fixed-point formats for the memory accounting, e.g. w8,s16,t12,l16,acc32 "
                   "[float64].")
@click.option("--feedback", type=click.Choice(("symmetric", "random")), default=None,
              help="Feedback of the local rules [e-prop symmetric, RFLO random].")
@click.option("--T", "T", type=int, default=None, help="Trial length of BPTT's entry [100].")
@click.option("--alpha", type=float, default=0.125, show_default=True,
              help="alpha = dt/tau of --format lava's trace settings (rate form: rounded to a "
                   "power of two).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="md or json (the step spec), nir (RUN_DIR's network), lava (learning-rule "
                   "strings) [md; nir with RUN_DIR].")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Output file [stdout; RUN_DIR/network.nir for nir].")
def export(run_dir, rule, form, n_rec, n_in, n_out, quantize, feedback, T, alpha, fmt,
           out_file):
    """The per-step update of an online learner as a spec (equations, operation counts,
    memory, communication, locality): --rule R --n-rec N --n-in I --n-out O; or a trained
    run's network as a NIR graph: RUN_DIR --format nir."""
    fmt = fmt or ("nir" if run_dir else "md")
    if fmt == "nir":
        if run_dir is None:
            raise UsageFail("--format nir needs RUN_DIR (a folder written by 'localrnn run')")
        from ..neuromorphic.nir_export import export_nir
        out = Path(out_file) if out_file else Path(run_dir) / "network.nir"
        click.echo(str(export_nir(run_dir, out)))
        return
    if run_dir is not None:
        raise UsageFail(f"--format {fmt} describes a rule, not a run: drop RUN_DIR and give "
                        "--rule, --n-rec, --n-in, --n-out")
    need = (("--rule", rule),) if fmt == "lava" else (
        ("--rule", rule), ("--n-rec", n_rec), ("--n-in", n_in), ("--n-out", n_out))
    missing = [o for o, v in need if v is None]
    if missing:
        raise UsageFail(f"missing {', '.join(missing)} (or give RUN_DIR --format nir)")
    if fmt == "lava":
        from ..neuromorphic.lava import lava_rules_text
        text = lava_rules_text(rule, form, feedback=feedback, alpha=alpha)
    else:
        from ..neuromorphic.export import step_spec
        spec = step_spec(rule, form, n_rec, n_in, n_out, quantize=quantize, feedback=feedback, T=T)
        text = spec.to_markdown() if fmt == "md" else spec.to_json() + "\n"
    if out_file:
        from ..io import atomic_write_text
        atomic_write_text(out_file, text)
        click.echo(out_file)
    else:
        click.echo(text, nl=False)
