"""A sweep's cells: what one cell is, its folder name, and running it in a worker.

:func:`run_cell` trains one cell into a temporary local folder and returns the
folder's files as bytes plus its summary row; the client writes them under
``OUT/cells/<name>/`` (:meth:`~localrnn.sweep.summary.SweepDir.write_cell`).  So
workers need no shared file system, and every executor runs the same code.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numba
from threadpoolctl import threadpool_info, threadpool_limits

from .._validate import check_number
from ..alignment import gradient_alignment
from ..runs import RunDir
from ..training import TrainConfig, Trainer, default_rule
from .executors import WORKER_ENV, TaskContext, one_line
from .summary import FINISHED, PRESENTATION_FIELDS, read_cell_row, train_fields

#: Folder names use these short prefixes (value only for the keys mapped to "").
NAME_PREFIX = {"task": "", "rule": "", "gain": "g", "lr": "lr", "seed": "s", "n_rec": "n",
               "iters": "it", "batch": "b", "floss_iters": "fl", "form": "", "dtype": "",
               "feedback": "fb-", "activation": "", "optimizer": "", "online": ""}
#: Values a cell takes unless the grid gives them.
CELL_DEFAULTS = {"plot": False}


@dataclass(frozen=True)
class Cell:
    """One run of a sweep.

    ``params`` are TrainConfig fields (what the grid gave; the rest take their
    defaults), ``name`` the folder name under ``OUT/cells/``, ``align`` whether to
    record the gradient alignment and ``align_batch`` its batch size (None: the run's).
    """

    params: Dict[str, Any]
    name: str
    align: bool = False
    align_batch: Optional[int] = None

    def config(self) -> TrainConfig:
        """The cell's :class:`~localrnn.training.TrainConfig` (not resolved), with
        :data:`CELL_DEFAULTS` where the grid gives no value."""
        return TrainConfig(**{**CELL_DEFAULTS, **self.params})

    def record(self) -> Dict[str, Any]:
        """The start of the cell's ``cell.json``: what the sweep asked for."""
        return {"name": self.name, "params": self.params, "align": self.align,
                "align_batch": self.align_batch}


def format_value(v) -> str:
    """A value as it appears in a folder name (floats in their shortest exact repr, so
    distinct values give distinct names)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def _name_part(key: str, v) -> str:
    if key == "online":
        return "online" if v else "batch"
    if key == "lyapunov":
        return key if v else f"no-{key}"
    if key in NAME_PREFIX:
        return NAME_PREFIX[key] + format_value(v)
    return f"{key}{format_value(v)}"


def _safe(s: str) -> str:
    out = "".join(c if (c.isalnum() or c in "-_.+") else "_" for c in s)
    return out.strip(".") or "cell"


def cell_name(params: Mapping[str, Any], varying: Sequence[str]) -> str:
    """Folder name of a cell: task and rule, then each varying parameter, e.g.
    ``romo-rflo-g0.5-lr0.0002-s0`` (floats in their shortest exact repr)."""
    keys = ["task", "rule"] + [k for k in varying if k not in ("task", "rule")]
    defaults = train_fields()
    parts = []
    for k in keys:
        v = params.get(k, defaults[k].default if k in defaults else None)
        if k == "rule" and v is None:    # the rule the cell runs: its task's when not given
            v = default_rule(params.get("task", defaults["task"].default), params.get("task_kwargs"))
        parts.append(_name_part(k, v))
    return _safe("-".join(parts))


def make_cells(param_dicts: Sequence[Mapping[str, Any]], align: bool = False,
               align_batch: Optional[int] = None) -> List[Cell]:
    """Cells from explicit TrainConfig parameter dicts, named by what varies among them.

    Use it for sweeps that are not a full product (e.g. a best learning rate per
    (task, rule, gain), then seeds); every cell is validated like a grid's.

    Raises
    ------
    ValueError
        An unknown key or a bad value (naming the cell), or two cells with the same
        parameters.
    """
    dicts = [dict(d) for d in param_dicts]
    if not dicts:
        raise ValueError("a sweep needs at least one cell; got an empty list of parameters")
    names_ok = train_fields()
    for d in dicts:
        for k in d:
            if k not in names_ok:
                raise ValueError(f"parameter {k!r} is unknown; allowed: {', '.join(names_ok)}")
    keys = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    varying = [k for k in keys
               if len({format_value(d.get(k, names_ok[k].default)) for d in dicts}) > 1]
    cells = [Cell(params=d, name=cell_name(d, varying), align=bool(align), align_batch=align_batch)
             for d in dicts]
    validate_cells(cells)
    return cells


def validate_cells(cells: Sequence[Cell]) -> None:
    """Check every cell's config (``TrainConfig(...).resolved()``) and that names are
    unique; ``ValueError`` naming the cell otherwise.  Runs before any training."""
    seen: Dict[str, Cell] = {}
    for c in cells:
        if not isinstance(c, Cell):
            raise ValueError(f"run_sweep takes a Grid or a list of Cell, got {type(c).__name__}")
        try:
            c.config().resolved()
        except (TypeError, ValueError) as e:  # TypeError: an unknown keyword reaches the dataclass
            raise ValueError(f"grid cell {c.name}: {e}") from None
        if c.align_batch is not None:
            check_number("align_batch", c.align_batch, lo=1, integer=True)
        if c.name in seen:
            raise ValueError(f"two cells have the folder name {c.name!r} ({seen[c.name].params} and "
                             f"{c.params}); build them together with make_cells() so names cover "
                             "every varying parameter")
        seen[c.name] = c


def finished_row(rd: RunDir, cell: Cell) -> Optional[Dict[str, Any]]:
    """The summary row of ``rd`` if it holds ``cell``'s finished run, else None.

    A folder holding a run with other settings is an error (``ValueError``): skipping
    it would report numbers of another run, overwriting it would destroy them.
    """
    if not rd.exists():
        return None
    row = read_cell_row(rd.path)
    if row["status"] not in FINISHED:
        return None
    d = rd.read_config()
    d.pop("localrnn_version", None)
    d.pop("status", None)
    try:
        have = TrainConfig.from_json(d).resolved().to_json()
    except (ValueError, TypeError):
        have = d
    want = cell.config().resolved().to_json()
    for k in PRESENTATION_FIELDS:
        have.pop(k, None)
        want.pop(k, None)
    if have != want:
        diff = [k for k in want if have.get(k) != want[k]]
        k = diff[0] if diff else "?"
        raise ValueError(f"{rd.path} holds a run with other settings ({k}={have.get(k)!r}, the grid "
                         f"asks {want.get(k)!r}); use another --out or delete that folder")
    if cell.align and row["align_init"] is None and row["align_final"] is None:
        return None  # alignment asked now but not recorded then: run again
    return row


# ---------------------------------------------------------------------------- one cell

@dataclass
class CellResult:
    """What a worker sends back: the run folder's files and the summary row."""

    name: str
    files: Dict[str, bytes]
    row: Dict[str, Any]

    @property
    def status(self) -> str:
        return self.row.get("status", "failed")


def _worker_info() -> Dict[str, Any]:
    """Thread settings the cell ran with (cell.json), to check a cluster's workers."""
    return {"env": {k: os.environ.get(k) for k in WORKER_ENV},
            "blas_threads": sorted({int(p["num_threads"]) for p in threadpool_info()}),
            "numba_threads": int(numba.config.NUMBA_NUM_THREADS)}


def _alignment(trainer, result, cell: Cell) -> Dict[str, Dict[str, float]]:
    c = trainer.config
    kw = dict(feedback=c.feedback, batch=cell.align_batch or c.batch, seed=c.seed,
              trainable=c.trainable)
    return {"init": gradient_alignment(result.init_net, trainer.task, c.rule, **kw),
            "final": gradient_alignment(result.net, trainer.task, c.rule, **kw)}


def _result_of(rd: RunDir, name: str) -> CellResult:
    files = {p.name: p.read_bytes() for p in sorted(rd.path.iterdir())
             if p.is_file() and not p.name.startswith(".")}
    return CellResult(name, files, read_cell_row(rd.path))


def run_cell(cell: Cell) -> CellResult:
    """Train one cell into a temporary folder; return its files and summary row.

    Runs in the worker (any executor), with BLAS limited to one thread (a second
    guard after :data:`~localrnn.sweep.executors.WORKER_ENV`).  A cell that raises an
    ``Exception`` is returned with status ``failed`` and a one-line error;
    ``KeyboardInterrupt`` (Ctrl-C) propagates, so it stops the sweep.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="localrnn-cell-") as tmp:
        rd = RunDir(Path(tmp) / cell.name)
        rd.path.mkdir()
        record = cell.record()
        record["worker"] = _worker_info()  # before the guard: what the process itself has
        try:
            with threadpool_limits(limits=1):
                trainer = Trainer(cell.config(), rd.path)
                result = trainer.run()
                if result.status == "interrupted":
                    # Trainer turns Ctrl-C into a saved partial run; a sweep stops instead
                    # (the cell is not written, so a rerun trains it from scratch)
                    raise KeyboardInterrupt
                record["status"] = result.status
                record["error"] = result.message if result.status != "done" else ""
                if cell.align:
                    record["alignment"] = _alignment(trainer, result, cell)
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            record["status"] = "failed"
            record["error"] = one_line(e)
        record["seconds"] = time.perf_counter() - t0
        rd.write_cell_record(record)
        return _result_of(rd, cell.name)


def run_cell_task(cell: Cell, ctx: TaskContext) -> CellResult:
    """:func:`run_cell` as an executor task (:mod:`localrnn.sweep.executors`)."""
    return run_cell(cell)


def failed_result(cell: Cell, e: BaseException) -> CellResult:
    """A failed cell whose worker raised outside :func:`run_cell` (e.g. it died)."""
    with tempfile.TemporaryDirectory(prefix="localrnn-cell-") as tmp:
        rd = RunDir(Path(tmp) / cell.name)
        rd.path.mkdir()
        rd.write_cell_record({**cell.record(), "status": "failed", "error": one_line(e)})
        return _result_of(rd, cell.name)


__all__ = ["Cell", "CellResult", "cell_name", "make_cells", "validate_cells", "finished_row",
           "run_cell", "run_cell_task", "failed_result", "format_value", "NAME_PREFIX",
           "CELL_DEFAULTS"]
