"""A sweep's results on disk: its folder, ``summary.csv`` and the row of each cell.

A sweep folder (:class:`SweepDir`) holds ``cells/<name>/`` (one run folder per cell,
read through :class:`localrnn.runs.RunDir`), ``summary.csv`` (one row per cell,
:func:`summary_columns`) and ``.lock`` (held by the sweep that writes the folder).
Everything that reads a sweep's results goes through :func:`read_summary` (typed
rows) or :class:`SweepDir`, never through the files themselves.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import os
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

from .. import io as lio
from ..names import KIND, LOCAL_RULES
from ..runs import METRICS, RunDir
from ..training import TrainConfig

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

#: The settings that lead a summary row (from the run's resolved config).
PARAM_COLUMNS = ("task", "rule", "gain", "lr", "seed", "n_rec", "batch", "iters", "optimizer",
                 "form", "activation", "dtype", "feedback", "online", "floss_iters", "lyapunov")
#: What a summary row reports about the run -> the kind of its value (names.VALUE_KINDS).
RESULT_COLUMNS = {
    "iterations": "int", "final_loss": "float", "eval_loss": "float", "accuracy": "float",
    "lambda_max_before_flossing": "float", "lambda_max_after_flossing": "float",
    "lambda_max_after_training": "float",
    **{f"align_{when}{part}": "float" for part in ("", "_recurrent", "_W", "_W_in", "_b", "_W_out")
       for when in ("init", "final")},
    "seconds": "float", "status": "str", "error": "str",
}
#: Statuses of a finished cell (skipped on rerun).  A diverged run is a result: rerunning
#: it gives the same numbers, so it is not retried.
FINISHED = ("done", "diverged")
#: TrainConfig fields that change no number of a run: not summary columns, not
#: compared when a rerun decides whether a cell folder holds the cell's run.
#: ``plot``: a cell draws no ``curve.png`` unless the grid sets ``plot = true``
#: (drawing it took most of a tiny cell's time).
PRESENTATION_FIELDS = ("plot",)
#: Files of a sweep folder.
SUMMARY, CELLS, LOCK = "summary.csv", "cells", ".lock"


def train_fields() -> Dict[str, Any]:
    """``{name: dataclasses.Field}`` of :class:`~localrnn.training.TrainConfig`."""
    return {f.name: f for f in fields(TrainConfig)}


def summary_columns() -> List[str]:
    """The columns of ``summary.csv``: name, the lead settings, the remaining
    TrainConfig fields, then :data:`RESULT_COLUMNS`."""
    rest = [k for k in train_fields() if k not in PARAM_COLUMNS and k not in PRESENTATION_FIELDS]
    return ["name", *PARAM_COLUMNS, *rest, *RESULT_COLUMNS]


def column_kinds() -> Dict[str, str]:
    """The kind of every column's values: a setting's as its TrainConfig field declares
    (``metadata[names.KIND]``), a result's from :data:`RESULT_COLUMNS`."""
    tf = train_fields()
    return {k: ("str" if k == "name" else tf[k].metadata[KIND] if k in tf else RESULT_COLUMNS[k])
            for k in summary_columns()}


# ---------------------------------------------------------------------------- one row

def read_cell_row(folder) -> Dict[str, Any]:
    """The summary row of a run folder (a sweep cell or any ``localrnn run --out``).

    Everything is read through :class:`localrnn.runs.RunDir`: config and status,
    metrics, exponents, and the sweep's ``cell.json`` (seconds, error, alignment).
    Values are typed as :func:`read_summary` returns them; missing values are None.
    """
    rd = RunDir(folder)
    row: Dict[str, Any] = {k: None for k in summary_columns()}
    row["name"] = rd.path.name
    cfg = rd.read_config() if rd.exists() else {}
    cell = rd.read_cell_record() or {}
    settings = dict(cell.get("params", {}))
    settings.update({k: v for k, v in cfg.items() if k not in ("localrnn_version", "status")})
    for k in train_fields():
        if k in settings and k in row:
            row[k] = settings[k]
    if row.get("rule") in LOCAL_RULES and row.get("feedback") is None:
        row["feedback"] = "random" if row["rule"] == "rflo" else "symmetric"
    row["status"] = cell.get("status", rd.status)
    row["error"] = cell.get("error") or None
    metrics = rd.read_metrics() if rd.has(METRICS) else []
    if metrics:
        last = metrics[-1]
        row["iterations"] = last["iteration"]
        row["final_loss"] = last["loss"]
        evals = [m for m in metrics if m["eval_loss"] is not None]
        if evals:
            row["eval_loss"] = evals[-1]["eval_loss"]
            row["accuracy"] = evals[-1]["accuracy"]
    ly = rd.read_lyapunov() or {}
    for key in ("before_flossing", "after_flossing", "after_training"):
        if ly.get(key):
            row[f"lambda_max_{key}"] = float(ly[key][0])
    al = cell.get("alignment") or {}
    for when in ("init", "final"):
        a = al.get(when) or {}
        if a:
            row[f"align_{when}"] = a.get("all")
            row[f"align_{when}_recurrent"] = a.get("recurrent")
            for k in ("W", "W_in", "b", "W_out"):
                row[f"align_{when}_{k}"] = a.get(k)
    if "seconds" in cell:
        row["seconds"] = cell["seconds"]
    elif metrics:
        row["seconds"] = sum(m["seconds"] or 0.0 for m in metrics)
    return row


# ---------------------------------------------------------------------------- summary.csv

def _fmt_csv(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def write_summary(path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``summary.csv`` atomically (floats in round-trip repr, lists and tables as
    compact JSON, None as empty)."""
    cols = summary_columns()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_fmt_csv(r.get(k)) for k in cols])
    return lio.atomic_write_text(path, buf.getvalue())


def _parse(text: str, kind: str):
    if text == "":
        return None
    if kind == "bool":
        return text == "True"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind in ("names", "table") or (kind == "float_or_table" and text.startswith("{")):
        return json.loads(text)
    if kind == "float_or_table":
        return float(text)
    return text


def read_summary(path) -> List[Dict[str, Any]]:
    """The rows of a ``summary.csv``, each value typed by its column
    (:func:`column_kinds`): int, float, bool, str, list or dict, None where empty.

    The rows are those :func:`write_summary` was given.  A column this version does
    not know (a file from another version) is kept as text.
    """
    kinds = column_kinds()
    with open(path, newline="") as f:
        return [{k: _parse(v, kinds.get(k, "str")) for k, v in row.items()}
                for row in csv.DictReader(f)]


def status_counts(rows: Sequence[Mapping[str, Any]]) -> Dict[str, int]:
    """``{status: number of rows}`` (done, diverged, failed; ``"unknown"`` for a row
    without one), in order of first appearance."""
    out: Dict[str, int] = {}
    for r in rows:
        k = r.get("status") or "unknown"
        out[k] = out.get(k, 0) + 1
    return out


# ---------------------------------------------------------------------------- the folder

class SweepDir:
    """A sweep's folder: ``cells/<name>/`` run folders, ``summary.csv``, ``.lock``.

    Examples
    --------
    >>> sd = SweepDir("sweeps/romo")                                  # doctest: +SKIP
    >>> sd.status_counts()                                            # doctest: +SKIP
    {'done': 12}
    >>> sd.run_dir(sd.rows()[0]["name"]).load_network("final")        # doctest: +SKIP
    """

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SweepDir({str(self.path)!r})"

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    def run_dir(self, name: str) -> RunDir:
        """The run folder of the cell ``name``."""
        return RunDir(self.path / CELLS / name)

    def cell_names(self) -> List[str]:
        """Names of the cell folders that hold a run, sorted."""
        root = self.path / CELLS
        if not root.is_dir():
            return []
        return sorted(d.name for d in root.iterdir() if d.is_dir() and RunDir(d).exists())

    def rows(self) -> List[Dict[str, Any]]:
        """:func:`read_summary` of ``summary.csv`` ([] before the sweep has written one)."""
        return read_summary(self.summary_path) if self.summary_path.is_file() else []

    def write_rows(self, rows: Sequence[Mapping[str, Any]]) -> Path:
        return write_summary(self.summary_path, rows)

    def status_counts(self) -> Dict[str, int]:
        """:func:`status_counts` of the summary's rows."""
        return status_counts(self.rows())

    def write_cell(self, name: str, files: Mapping[str, bytes]) -> RunDir:
        """Write a worker's files as the folder of cell ``name``: ``config.json`` last, so
        a folder says "done" only when every file is in place; files of an earlier
        attempt go."""
        folder = self.path / CELLS / name
        folder.mkdir(parents=True, exist_ok=True)
        for fname in sorted(files, key=lambda n: (n == "config.json", n)):
            lio.atomic_write_bytes(folder / fname, files[fname])
        for p in folder.iterdir():
            if p.is_file() and p.name not in files and not p.name.startswith("."):
                p.unlink()
        return RunDir(folder)

    @contextmanager
    def lock(self):
        """Hold the folder for one sweep: a second sweep into it (another process, or
        this one) gets ``ValueError`` at once.

        An advisory OS lock on ``.lock`` (``fcntl.flock``; on Windows
        ``msvcrt.locking``), which the kernel releases when the holder exits, also by a
        crash or ``kill -9``, so no stale lock is ever left to remove.  The file
        keeps the holder's process id, for the message.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        f = open(self.path / LOCK, "a+")
        try:
            _lock_file(f)
        except OSError as e:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            if e.errno in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK):
                raise ValueError(f"out={str(self.path)!r} is in use by another sweep (process "
                                 f"{holder}); wait for it to finish or give another folder") from None
            raise
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield self
        finally:
            _unlock_file(f)
            f.close()


def _lock_file(f) -> None:
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows: lock the first byte (locking past the end is allowed)
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)


def _unlock_file(f) -> None:
    if fcntl is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)


__all__ = ["SweepDir", "read_summary", "write_summary", "read_cell_row", "status_counts",
           "summary_columns", "column_kinds", "train_fields", "PARAM_COLUMNS", "RESULT_COLUMNS",
           "FINISHED", "PRESENTATION_FIELDS"]
