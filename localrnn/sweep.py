"""Sweeps: a grid of training runs, run serially, in local processes or on Dask.

A grid file (TOML) gives :class:`localrnn.training.TrainConfig` fields; a list is an
axis, anything else a fixed value, and the cells are the Cartesian product::

    task = "romo"
    rule = ["rflo", "eprop", "bptt"]
    gain = [0.5, 1.0, 1.5]
    lr = 2e-4
    seed = [0, 1, 2]
    n_rec = 32
    iters = 200
    lyapunov = true      # record lambda_max before/after (a TrainConfig field)
    align = true         # sweep option: gradient alignment with BPTT at init and end

Every cell is an ordinary run folder ``OUT/cells/<name>/`` (what ``localrnn run
--out`` writes, plus ``cell.json``: the sweep's record of the cell), and
``OUT/summary.csv`` has one row per cell (:data:`SUMMARY_COLUMNS`).

One code path for every executor: :func:`run_cell` trains into a temporary local
folder and returns the folder's files as bytes plus the summary row; the client
writes them atomically under ``OUT/cells/<name>/``.  Serial, a spawn-context
``ProcessPoolExecutor`` and a Dask ``distributed.Client`` are driven by the same
submit / as-completed loop, so workers need no shared file system, and each cell
runs single-threaded (BLAS, OpenMP, Numba), so its numbers are bit-identical
whichever executor ran it.

Reading a run folder happens in one function, :func:`read_cell_row`.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._threads import WORKER_ENV, worker_env  # noqa: F401  (worker_env: in __all__)

#: Sweep-level options of a grid (not TrainConfig fields) -> description.
SWEEP_OPTIONS = {
    "align": "record the gradient alignment with BPTT at initialisation and after training (bool)",
    "align_batch": "trials in the alignment batch (int; default: the run's batch)",
}

#: Folder names use these short prefixes (value only for the keys mapped to "").
NAME_PREFIX = {"task": "", "rule": "", "gain": "g", "lr": "lr", "seed": "s", "n_rec": "n",
               "iters": "it", "batch": "b", "floss_iters": "fl", "form": "", "dtype": "",
               "feedback": "fb-", "activation": "", "optimizer": "", "online": ""}

#: The settings that lead a summary row (from the run's resolved config).
PARAM_COLUMNS = ("task", "rule", "gain", "lr", "seed", "n_rec", "batch", "iters", "optimizer",
                 "form", "activation", "dtype", "feedback", "online", "floss_iters", "lyapunov")
#: What a summary row reports about the run.
RESULT_COLUMNS = (
    "iterations", "final_loss", "eval_loss", "accuracy",
    "lambda_max_before_flossing", "lambda_max_after_flossing", "lambda_max_after_training",
    "align_init", "align_final", "align_init_recurrent", "align_final_recurrent",
    "align_init_W", "align_final_W", "align_init_W_in", "align_final_W_in",
    "align_init_b", "align_final_b", "align_init_W_out", "align_final_W_out",
    "seconds", "status", "error",
)
#: Statuses of a finished cell (skipped on rerun).  A diverged run is a result: rerunning
#: it gives the same numbers, so it is not retried.
FINISHED = ("done", "diverged")

CELL_FILE = "cell.json"

#: TrainConfig fields that change no number of a run: not summary columns, not
#: compared when a rerun decides whether a cell folder holds the cell's run.
#: ``plot``: a cell draws no ``curve.png`` unless the grid sets ``plot = true``
#: (drawing it took most of a tiny cell's time).
PRESENTATION_FIELDS = ("plot",)
#: Values a cell takes unless the grid gives them.
CELL_DEFAULTS = {"plot": False}


def _train_fields() -> Dict[str, Any]:
    from .training import TrainConfig

    return {f.name: f for f in fields(TrainConfig)}


def summary_columns() -> List[str]:
    """The columns of ``summary.csv``: name, the lead settings, the remaining
    TrainConfig fields, then :data:`RESULT_COLUMNS`."""
    rest = [k for k in _train_fields() if k not in PARAM_COLUMNS and k not in PRESENTATION_FIELDS]
    return ["name", *PARAM_COLUMNS, *rest, *RESULT_COLUMNS]


# ---------------------------------------------------------------------------- cells

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

    def config(self):
        """The cell's :class:`~localrnn.training.TrainConfig` (not resolved), with
        :data:`CELL_DEFAULTS` where the grid gives no value."""
        from .training import TrainConfig

        return TrainConfig(**{**CELL_DEFAULTS, **self.params})


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)  # shortest round-trip repr: distinct values, distinct names
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def _name_part(key: str, v) -> str:
    if key == "online":
        return "online" if v else "batch"
    if key in ("lyapunov", "floss_exact"):
        return key if v else f"no-{key}"
    if key in NAME_PREFIX:
        return NAME_PREFIX[key] + _fmt_value(v)
    return f"{key}{_fmt_value(v)}"


def _safe(s: str) -> str:
    out = "".join(c if (c.isalnum() or c in "-_.+") else "_" for c in s)
    return out.strip(".") or "cell"


def cell_name(params: Mapping[str, Any], varying: Sequence[str]) -> str:
    """Folder name of a cell: task and rule, then each varying parameter, e.g.
    ``romo-rflo-g0.5-lr0.0002-s0`` (floats in their shortest exact repr)."""
    keys = ["task", "rule"] + [k for k in varying if k not in ("task", "rule")]
    defaults = _train_fields()
    parts = []
    for k in keys:
        v = params.get(k, defaults[k].default if k in defaults else None)
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
    names_ok = _train_fields()
    for d in dicts:
        for k in d:
            if k not in names_ok:
                raise ValueError(f"parameter {k!r} is unknown; allowed: {', '.join(names_ok)}")
    keys = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    varying = [k for k in keys
               if len({_fmt_value(d.get(k, names_ok[k].default)) for d in dicts}) > 1]
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
        except TypeError as e:  # an unknown keyword reaches the dataclass
            raise ValueError(f"grid cell {c.name}: {e}") from None
        except ValueError as e:
            raise ValueError(f"grid cell {c.name}: {e}") from None
        if c.align_batch is not None:
            from ._validate import check_number
            check_number("align_batch", c.align_batch, lo=1, integer=True)
        if c.name in seen:
            raise ValueError(f"two cells have the folder name {c.name!r} ({seen[c.name].params} and "
                             f"{c.params}); build them together with make_cells() so names cover "
                             "every varying parameter")
        seen[c.name] = c


# ---------------------------------------------------------------------------- grids

def _kind(f) -> str:
    t = str(f.type)
    if "bool" in t:
        return "bool"
    if "List" in t or "list" in t:
        return "list"
    if "Dict" in t or "dict" in t:
        return "dict"
    if "int" in t and "float" not in t:
        return "int"
    if "float" in t:
        return "float"
    return "str"


def _check_value(key: str, v, kind: str) -> None:
    """Type of one grid value, so 'gain = "high"' fails naming the key."""
    if key == "lr" and isinstance(v, dict):
        return
    ok = {"bool": lambda x: isinstance(x, bool),
          "int": lambda x: isinstance(x, int) and not isinstance(x, bool),
          "float": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
          "str": lambda x: isinstance(x, str),
          "list": lambda x: isinstance(x, list) and all(isinstance(i, str) for i in x),
          "dict": lambda x: isinstance(x, dict)}[kind]
    if not ok(v):
        what = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
                "list": "a list of names", "dict": "a table"}[kind]
        raise ValueError(f"grid key {key!r}: value {v!r} is not allowed; give {what} "
                         f"(or a list of them to sweep)")


@dataclass
class Grid:
    """A sweep's axes (lists) and fixed values, from a TOML file or a dict.

    ``axes`` maps a TrainConfig field to its values, in file order; ``fixed`` holds
    the scalars; ``align``/``align_batch`` are the sweep options.
    """

    axes: Dict[str, List[Any]] = field(default_factory=dict)
    fixed: Dict[str, Any] = field(default_factory=dict)
    align: bool = False
    align_batch: Optional[int] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Grid":
        """Validate a grid given as a dict (the parsed TOML).

        Raises
        ------
        ValueError
            One line naming the key: unknown key, empty axis, a value of the wrong
            type, or a cell whose config does not resolve (unknown task, bad value).
        """
        tf = _train_fields()
        g = cls()
        for key, v in d.items():
            if key in SWEEP_OPTIONS:
                if key == "align":
                    if not isinstance(v, bool):
                        raise ValueError(f"grid key 'align': {v!r} is not allowed; give true or false")
                    g.align = v
                else:
                    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                        raise ValueError(f"grid key 'align_batch': {v!r} is not allowed; give an "
                                         "integer >= 1")
                    g.align_batch = v
                continue
            if key not in tf:
                allowed = ", ".join(list(tf) + list(SWEEP_OPTIONS))
                raise ValueError(f"grid key {key!r} is unknown; allowed: {allowed}")
            kind = _kind(tf[key])
            is_axis = isinstance(v, list) and (kind != "list" or any(isinstance(i, list) for i in v))
            if is_axis:
                if len(v) == 0:
                    raise ValueError(f"grid key {key!r} is an empty list; give at least one value")
                for item in v:
                    _check_value(key, item, kind)
                if kind == "float":  # gain = 1 and gain = 1.0 are the same cell
                    v = [float(i) if isinstance(i, int) else i for i in v]
                if len({_fmt_value(i) for i in v}) != len(v):
                    raise ValueError(f"grid key {key!r} repeats a value: {v!r}")
                g.axes[key] = list(v)
            else:
                _check_value(key, v, kind)
                g.fixed[key] = float(v) if kind == "float" and isinstance(v, int) else v
        validate_cells(g.cells())
        return g

    def cells(self) -> List[Cell]:
        """The Cartesian product of the axes (first axis outermost), with the fixed values."""
        keys = list(self.axes)
        out = []
        for combo in itertools.product(*(self.axes[k] for k in keys)):
            p = dict(self.fixed)
            p.update(zip(keys, combo))
            out.append(Cell(params=p, name=cell_name(p, [k for k in keys if len(self.axes[k]) > 1]),
                            align=self.align, align_batch=self.align_batch))
        return out

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.axes.values())


def read_grid_file(path) -> Dict[str, Any]:
    """The raw dict of a grid file (TOML), unvalidated; ``ValueError`` if unreadable."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError('reading a grid file on Python < 3.11 needs tomli: pip install tomli') from None
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"grid file {str(p)!r} does not exist")
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"grid file {str(p)!r} is not valid TOML: {e}".replace("\n", " ")) from None


def load_grid(path, overrides: Optional[Mapping[str, Any]] = None) -> Grid:
    """Read and validate a grid file (TOML; see the module docstring).

    ``overrides`` replace or add keys of the file (the CLI's quick-grid options).
    """
    d = read_grid_file(path)
    d.update(overrides or {})
    return Grid.from_dict(d)


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


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".rstrip(": ")


@contextmanager
def _single_threaded():
    """Limit BLAS/OpenMP pools to one thread (second guard after WORKER_ENV)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit/scipy stacks
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _worker_info() -> Dict[str, Any]:
    """Thread settings the cell ran with (cell.json), to check a cluster's workers."""
    info: Dict[str, Any] = {"env": {k: os.environ.get(k) for k in WORKER_ENV}}
    try:
        from threadpoolctl import threadpool_info

        info["blas_threads"] = sorted({int(p["num_threads"]) for p in threadpool_info()})
    except ImportError:  # pragma: no cover
        pass
    import numba

    info["numba_threads"] = int(numba.config.NUMBA_NUM_THREADS)
    return info


def run_cell(cell: Cell) -> CellResult:
    """Train one cell into a temporary folder; return its files and summary row.

    Runs in the worker (any executor).  A cell that raises an ``Exception`` is
    returned with status ``failed`` and a one-line error; ``KeyboardInterrupt``
    (Ctrl-C) propagates, so it stops the sweep.
    """
    from . import io as lio

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="localrnn-cell-") as tmp:
        run_dir = Path(tmp) / cell.name
        run_dir.mkdir()
        record: Dict[str, Any] = {"name": cell.name, "params": cell.params, "align": cell.align,
                                  "align_batch": cell.align_batch}
        record["worker"] = _worker_info()  # before the guard: what the process itself has
        try:
            with _single_threaded():
                from .training import Trainer

                trainer = Trainer(cell.config(), run_dir)
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
            record["error"] = _one_line(e)
        record["seconds"] = time.perf_counter() - t0
        lio.atomic_write_json(run_dir / CELL_FILE, record)
        files = {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())
                 if p.is_file() and not p.name.startswith(".")}
        row = read_cell_row(run_dir)
    return CellResult(cell.name, files, row)


def _alignment(trainer, result, cell: Cell) -> Dict[str, Dict[str, float]]:
    from .alignment import gradient_alignment

    c = trainer.config
    kw = dict(feedback=c.feedback, batch=cell.align_batch or c.batch, seed=c.seed,
              trainable=c.trainable)
    return {"init": gradient_alignment(result.init_net, trainer.task, c.rule, **kw),
            "final": gradient_alignment(result.net, trainer.task, c.rule, **kw)}


# ---------------------------------------------------------------------------- reading a folder

def _csv_value(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return v


def read_cell_row(folder) -> Dict[str, Any]:
    """The summary row of a run folder (a sweep cell or any ``localrnn run --out``).

    The run's files are read through :class:`localrnn.runs.RunDir` (config, status,
    metrics, exponents); the sweep's own ``cell.json`` (seconds, error, alignment)
    is read here.  Missing values are None.
    """
    from . import io as lio
    from .runs import METRICS, RunDir

    rd = RunDir(folder)
    row: Dict[str, Any] = {k: None for k in summary_columns()}
    row["name"] = rd.path.name
    cfg = rd.read_config() if rd.exists() else {}
    cell = lio.read_json(rd / CELL_FILE) if rd.has(CELL_FILE) else {}
    settings = dict(cell.get("params", {}))
    settings.update({k: v for k, v in cfg.items() if k not in ("localrnn_version", "status")})
    for k in _train_fields():
        if k in settings and k in row:
            row[k] = _csv_value(settings[k])
    if row.get("rule") in ("eprop", "rflo") and row.get("feedback") is None:
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


def _cell_state(folder: Path, cell: Cell) -> Optional[Dict[str, Any]]:
    """The row of a finished cell whose folder matches the cell, else None.

    A folder holding a run with other settings is an error: skipping it would report
    numbers of another run, overwriting it would destroy them.
    """
    from .training import TrainConfig

    if not (folder / "config.json").is_file():
        return None
    row = read_cell_row(folder)
    if row["status"] not in FINISHED:
        return None
    from .runs import RunDir

    d = RunDir(folder).read_config()
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
        raise ValueError(f"{folder} holds a run with other settings ({k}={have.get(k)!r}, the grid "
                         f"asks {want.get(k)!r}); use another --out or delete that folder")
    if cell.align and row["align_init"] is None and row["align_final"] is None:
        return None  # alignment asked now but not recorded then: run again
    return row


# ---------------------------------------------------------------------------- executors

class _Immediate:
    """A future that runs its call when asked for the result (the serial executor)."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def result(self):
        return self.fn(self.arg)


class _SerialExecutor:
    def submit(self, fn, arg):
        return _Immediate(fn, arg)

    def as_completed(self, futures):
        return iter(futures)

    def close(self, cancel=False):
        pass


class _ProcessExecutor:
    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, arg):
        with worker_env():  # spawned children inherit the environment of the moment
            return self.pool.submit(fn, arg)

    def as_completed(self, futures):
        from concurrent.futures import as_completed

        return as_completed(futures)

    def close(self, cancel=False):
        self.pool.shutdown(wait=True, cancel_futures=cancel)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError('Dask executors need dask.distributed: pip install "localrnn[dask]"') from None
    return distributed


def local_dask_client(n_workers: int):
    """A Dask ``Client`` on a new ``LocalCluster`` of ``n_workers`` single-threaded
    worker processes started with :data:`WORKER_ENV` (what ``--dask-local N`` uses).

    Close both when done: ``client.close(); client.cluster.close()``.
    """
    from ._validate import check_number

    n = check_number("dask_local", n_workers, lo=1, integer=True)
    distributed = _import_distributed()
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       env=dict(WORKER_ENV), dashboard_address=":0")
    return distributed.Client(cluster)


class _DaskExecutor:
    def __init__(self, scheduler=None, dask_local: Optional[int] = None, client=None):
        distributed = _import_distributed()
        self._own = []
        if client is not None:
            self.client = client
        elif scheduler is not None:
            try:
                self.client = distributed.Client(scheduler)
            except (OSError, TimeoutError, ValueError) as e:
                raise ValueError(f"scheduler={scheduler!r}: cannot connect ({_one_line(e)}); give the "
                                 "address 'dask scheduler' prints, e.g. tcp://HOST:8786") from None
            self._own.append(self.client)
        else:
            self.client = local_dask_client(dask_local)
            self._own += [self.client, self.client.cluster]
        self._distributed = distributed

    def submit(self, fn, arg):
        return self.client.submit(fn, arg, pure=False)

    def as_completed(self, futures):
        return self._distributed.as_completed(futures)

    def close(self, cancel=False):
        for obj in self._own:
            obj.close()


def _check_executor(workers: int, scheduler, dask_local) -> None:
    from ._validate import check_number

    chosen = [x for x in (workers != 1, scheduler is not None, dask_local is not None) if x]
    if len(chosen) > 1:
        raise ValueError("choose one executor: workers > 1, scheduler or dask_local")
    check_number("workers", workers, lo=1, integer=True)
    if dask_local is not None:
        check_number("dask_local", dask_local, lo=1, integer=True)


def _make_executor(workers: int, scheduler, dask_local):
    if scheduler is not None:
        if not isinstance(scheduler, str):
            return _DaskExecutor(client=scheduler)  # a distributed.Client
        return _DaskExecutor(scheduler=scheduler)
    if dask_local is not None:
        return _DaskExecutor(dask_local=dask_local)
    return _SerialExecutor() if workers == 1 else _ProcessExecutor(workers)


# ---------------------------------------------------------------------------- the sweep

@dataclass
class SweepResult:
    """Rows of ``summary.csv`` (in cell order) and where it is."""

    rows: List[Dict[str, Any]]
    path: Path
    done: int = 0
    skipped: int = 0
    failed: int = 0
    diverged: int = 0

    @property
    def ok(self) -> bool:
        """True when every cell finished (done or diverged), none failed."""
        return self.failed == 0

    def counts(self) -> Dict[str, int]:
        return {"cells": len(self.rows), "done": self.done, "skipped": self.skipped,
                "diverged": self.diverged, "failed": self.failed}


def _fmt_csv(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    return str(v)


def write_summary(path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``summary.csv`` atomically (floats in round-trip repr, None as empty)."""
    from . import io as lio

    cols = summary_columns()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_fmt_csv(r.get(k)) for k in cols])
    return lio.atomic_write_text(path, buf.getvalue())


def _parse(v: str):
    if v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def read_summary(path) -> List[Dict[str, Any]]:
    """Rows of a ``summary.csv`` with numbers parsed (ints, floats, bools; None where empty)."""
    with open(path, newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _write_cell(folder: Path, res: CellResult) -> None:
    """Write a worker's files under ``folder``: config.json last, so a folder says
    "done" only when every file is in place; files of an earlier attempt go."""
    from . import io as lio

    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(res.files, key=lambda n: (n == "config.json", n))
    for name in order:
        lio.atomic_write_bytes(folder / name, res.files[name])
    for p in folder.iterdir():
        if p.is_file() and p.name not in res.files and not p.name.startswith("."):
            p.unlink()


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total > 0:
            import click

            self._ctx = click.progressbar(length=total, label="sweep", file=sys.stderr,
                                          show_eta=True, show_pos=True,
                                          item_show_func=lambda s: s or "")
            self.bar = self._ctx.__enter__()

    def update(self, text: str):
        if self.bar is not None:
            self.bar.update(1, text)

    def close(self):
        if self.bar is not None:
            self._ctx.__exit__(None, None, None)


def run_sweep(cells_or_grid: Union[Grid, Sequence[Cell]], out, workers: int = 1, scheduler=None,
              dask_local: Optional[int] = None, progress: bool = True,
              on_result=None) -> SweepResult:
    """Run every cell not yet finished under ``out``; write ``out/summary.csv``.

    Parameters
    ----------
    cells_or_grid : Grid or list of Cell
    out : path
        Sweep folder: ``cells/<name>/`` (one run folder per cell) and ``summary.csv``.
    workers : int
        Local processes (spawn context); 1 runs the cells in this process.
    scheduler : str or distributed.Client, optional
        Address of a Dask scheduler (``tcp://host:8786``) or a connected client.
    dask_local : int, optional
        Start a Dask ``LocalCluster`` with this many single-threaded worker processes.
    progress : bool
        A progress bar over cells, with an ETA, on stderr.
    on_result : callable, optional
        ``on_result(row)`` after each cell is written (tests use it to interrupt).

    Returns
    -------
    SweepResult
        ``rows`` in cell order, ``path`` of summary.csv and counts.  Finished cells
        (status done or diverged, same settings) are skipped and their rows rebuilt
        from their folders; a cell that raises is recorded as ``failed`` with a
        one-line error and the others go on.

    Raises
    ------
    ValueError
        A bad cell (before anything runs), two executors at once, a cell folder
        holding a run with other settings, or Dask asked for but not installed.
    """
    cells = cells_or_grid.cells() if isinstance(cells_or_grid, Grid) else list(cells_or_grid)
    if not cells:
        raise ValueError("a sweep needs at least one cell")
    validate_cells(cells)
    _check_executor(workers, scheduler, dask_local)
    out = Path(out)
    cells_dir = out / "cells"
    rows: Dict[str, Dict[str, Any]] = {}
    todo: List[Cell] = []
    for c in cells:
        r = _cell_state(cells_dir / c.name, c)
        if r is None:
            todo.append(c)
        else:
            rows[c.name] = r
    n_skipped = len(rows)
    executor = _make_executor(workers, scheduler, dask_local) if todo else _SerialExecutor()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.csv"

    def ordered():
        return [rows[c.name] for c in cells if c.name in rows]

    write_summary(path, ordered())
    bar = _Progress(len(todo), progress)
    cancel = True
    try:
        futures = {executor.submit(run_cell, c): c for c in todo}
        for fut in executor.as_completed(list(futures)):
            c = futures[fut]
            try:
                res = fut.result()
            except Exception as e:  # the worker itself died or the result did not come back
                res = _failed_result(c, e)
            _write_cell(cells_dir / c.name, res)
            rows[c.name] = res.row
            write_summary(path, ordered())
            bar.update(f"{c.name}: {res.status}")
            if on_result is not None:
                on_result(res.row)
        cancel = False
    finally:
        bar.close()
        executor.close(cancel=cancel)
    final = ordered()
    stat = [rows[c.name]["status"] for c in todo]
    return SweepResult(final, path, done=stat.count("done"), skipped=n_skipped,
                       failed=sum(s not in FINISHED for s in stat), diverged=stat.count("diverged"))


def _failed_result(cell: Cell, e: BaseException) -> CellResult:
    """A failed cell whose worker raised outside :func:`run_cell` (e.g. it died)."""
    from . import io as lio

    with tempfile.TemporaryDirectory(prefix="localrnn-cell-") as tmp:
        d = Path(tmp) / cell.name
        d.mkdir()
        rec = {"name": cell.name, "params": cell.params, "align": cell.align,
               "align_batch": cell.align_batch, "status": "failed", "error": _one_line(e)}
        lio.atomic_write_json(d / CELL_FILE, rec)
        return CellResult(cell.name, {CELL_FILE: (d / CELL_FILE).read_bytes()}, read_cell_row(d))


__all__ = ["Grid", "Cell", "CellResult", "SweepResult", "load_grid", "make_cells", "validate_cells", "worker_env",
           "run_cell", "run_sweep", "read_grid_file", "read_cell_row", "read_summary", "write_summary",
           "summary_columns", "cell_name", "WORKER_ENV", "SWEEP_OPTIONS", "PARAM_COLUMNS",
           "RESULT_COLUMNS", "FINISHED", "PRESENTATION_FIELDS", "CELL_DEFAULTS", "local_dask_client"]
