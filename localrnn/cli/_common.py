"""Conventions shared by the commands: progress bars, comma lists, summary line, JSON output."""
from __future__ import annotations

import math
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


class TaskBar:
    """A click progress bar over the tasks of a sweep, as the library's
    ``progress(done, total, text)`` callback (:data:`localrnn.sweep.executors.Progress`).

    The bar opens at the first report, after the library has checked every value (so a
    refused call prints its one error line and nothing else); a report with ``done = 0``
    after others starts a new bar (a study runs several sweeps).  Use it in ``with``;
    disabled (nothing drawn) when ``enabled`` is false.
    """

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled = label, enabled
        self._ctx = self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int, text: str = "") -> None:
        if not self.enabled:
            return
        if self._bar is None or done == 0:
            self.close()
            self._ctx = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                          show_eta=True, show_pos=True,
                                          item_show_func=lambda s: s or "")
            self._bar, self._done = self._ctx.__enter__(), 0
        self._bar.update(done - self._done, text)
        self._done = done

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = self._bar = None

    def __enter__(self) -> "TaskBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


#: kind of a list's entries -> (converter, one entry, several: what the messages ask for)
_LIST_KINDS = {str: (str, "a name", "names"), int: (int, "an integer", "integers"),
               float: (float, "a number", "numbers")}


def parse_list(option: str, text, kind=str) -> list:
    """A comma-separated list, the one way every command reads one.

    ``parse_list("--gains", "0.5, 1,1.5", float)`` -> ``[0.5, 1.0, 1.5]``; ``kind`` is
    ``str``, ``int`` or ``float`` (finite).  Spaces around entries are dropped.  An empty
    list, an empty entry or an entry of the wrong kind is a one-line ``ValueError``
    naming the option and the entry.
    """
    conv, one, what = _LIST_KINDS[kind]
    parts = [p.strip() for p in str(text).split(",")]
    if parts == [""]:
        raise ValueError(f"{option}={text!r} is empty; give a comma-separated list of {what}")
    out = []
    for part in parts:
        if part == "":
            raise ValueError(f"{option}={text!r}: an empty entry; give a comma-separated list of {what}")
        try:
            v = conv(part)
        except ValueError:
            raise ValueError(f"{option}={text!r}: {part!r} is not {one}; give a comma-separated "
                             f"list of {what}") from None
        if kind is float and not math.isfinite(v):
            raise ValueError(f"{option}={text!r}: {part!r} is not finite")
        out.append(v)
    return out


__all__ = ["progress", "TaskBar", "summary_line", "emit_summary", "executor_options", "parse_list"]
