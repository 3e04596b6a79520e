"""Conventions shared by the commands: progress bar, summary line, JSON output."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Mapping

import click

from ..io import to_json


@contextmanager
def progress(length: int, label: str, enabled: bool = True):
    """A click progress bar on stderr; ``bar.update(1, loss)`` shows the current loss.

    Disabled (a no-op object) when ``enabled`` is false, e.g. with ``--json``.
    """
    if not enabled:
        class _Null:
            def update(self, n, current=None):
                pass
        yield _Null()
        return
    state = {"loss": None}

    def show(_):
        return "" if state["loss"] is None else f"loss {state['loss']:.4g}"

    with click.progressbar(length=length, label=label, file=sys.stderr,
                           item_show_func=show, show_eta=True) as bar:
        class _Bar:
            def update(self, n, current=None):
                if current is not None:
                    state["loss"] = float(current)
                bar.update(n, current)
        yield _Bar()


def summary_line(fields: Mapping[str, object]) -> str:
    """``key value, key value, ...`` with floats in 4 significant digits."""
    parts = []
    for k, v in fields.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}")
        else:
            parts.append(f"{k} {v}")
    return ", ".join(parts)


def emit_summary(fields: Mapping[str, object], as_json: bool) -> None:
    """Print the run's summary: one line, or JSON with ``--json``."""
    if as_json:
        click.echo(to_json(dict(fields)).rstrip("\n"))
    else:
        click.echo(summary_line(fields))


def executor_options(f):
    """The execution options of commands that run sweeps (sweep, reproduce): local
    worker processes, an existing Dask scheduler, or a Dask LocalCluster."""
    f = click.option("--dask-local", type=int, default=None,
                     help="Start a Dask LocalCluster with N workers.")(f)
    f = click.option("--scheduler", default=None,
                     help="Address of a Dask scheduler, e.g. tcp://host:8786.")(f)
    return click.option("--workers", type=int, default=1, show_default=True,
                        help="Local worker processes.")(f)


def parse_float_list(name: str, text: str):
    """``"0.5,1,1.5"`` -> [0.5, 1.0, 1.5], with a one-line error for a bad entry."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            v = float(part)
        except ValueError:
            raise ValueError(f"{name}={text!r}: {part!r} is not a number; give a comma-separated list of numbers") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{name}={text!r}: {part!r} is not finite")
        out.append(v)
    return out


__all__ = ["progress", "summary_line", "emit_summary", "executor_options", "parse_float_list", "json"]
