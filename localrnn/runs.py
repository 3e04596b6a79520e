"""A run folder: the one place that knows its layout.

``localrnn run`` (through :class:`localrnn.training.Trainer`), ``localrnn lyapunov
RUN_DIR``, ``localrnn plot`` and sweeps read and write a run's files through
:class:`RunDir` and nothing else:

==================  ==========================================================
``config.json``     every setting of the run (``TrainConfig``), its status
                    and the package version
``metrics.csv``     one row per iteration (:data:`METRIC_FIELDS`); append-only:
                    rows are appended at each checkpoint (flushed and fsynced),
                    and ``--resume`` truncates the file to the checkpoint's
                    iteration, so no row is lost or duplicated
``weights.npz``     initial (``init_*``) and final (``final_*``) parameters,
                    ``alpha``, ``activation``, ``form`` (a spiking run's:
                    ``network = "spiking"``, ``beta``, ``neuron``: what
                    reloads its :class:`~localrnn.spiking.SpikingNetwork`)
``checkpoint.npz``  parameters (``param_*``), optimiser state (``opt_*``) and
                    ``iteration``, for ``--resume``
``lyapunov.json``   exponents before/after flossing and after training
``curve.png``       learning curves: loss and accuracy (train and held-out)
==================  ==========================================================

Every file but ``metrics.csv`` is written atomically (:mod:`localrnn.io`); the
order of writes at a checkpoint (metrics rows, then weights, then checkpoint)
makes every state a crash can leave resumable.  A sweep adds ``cell.json`` to each
of its run folders (:meth:`RunDir.read_cell_record`: the cell's parameters, status,
error, seconds, alignment, worker threads).

**Kinds.**  Other results folders use ``config.json`` too, with another schema: a
fixed-point grid (``localrnn fixedpoint``) writes ``config.json``, ``metrics.csv``
(one row per run and iteration), ``summary.csv``, ``weights.npz`` and
``fixedpoint.png``.  Such a folder's ``config.json`` names its kind
(:data:`~localrnn.names.RUN_KINDS`, key ``"kind"``); a training run's has no
``"kind"`` (nor has any folder written before kinds existed), so it reads as
``"train"``.  ``RunDir(path, kind=...)`` reads and writes one kind and refuses a
folder of another with one line, so ``localrnn plot`` or ``localrnn lyapunov``
given a fixed-point folder says so instead of misreading it.

The Lyapunov *probe inputs* of a run (:func:`probe_inputs`) live here too: the
batch of :data:`PROBE_TRIALS` trials drawn from ``default_rng([seed, 3, 0])``,
used by the training run's ``lyapunov.json`` and by ``localrnn lyapunov
RUN_DIR``, so both see the same inputs.
"""
from __future__ import annotations

import csv
import errno
import json
import io as _io
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np

from . import io as lio
from .io import new_run_dir
from .names import PARAM_NAMES, RUN_KINDS, TRAIN

#: Columns of ``metrics.csv``, in order.  ``train_accuracy`` is the score of the
#: network on the iteration's training batch, recorded at evaluation iterations only
#: (one extra forward pass there); ``accuracy`` is the score on the held-out batch.
METRIC_FIELDS = ("iteration", "loss", "eval_loss", "accuracy", "seconds", "train_accuracy", "lambda_max",
                 "eval_decision_loss")
#: Trials of the Lyapunov probe batch of a run.
PROBE_TRIALS = 8
#: Stream of the probe batch: ``default_rng([seed, PROBE_STREAM, 0])`` (1: training
#: batches, 2: the held-out batch).
PROBE_STREAM = 3

CONFIG, METRICS, WEIGHTS, CHECKPOINT, LYAPUNOV, CURVE, CELL = (
    "config.json", "metrics.csv", "weights.npz", "checkpoint.npz", "lyapunov.json", "curve.png",
    "cell.json")
#: Key of ``config.json`` naming a folder's kind (absent: :data:`~localrnn.names.TRAIN`).
KIND_KEY = "kind"
#: ``weights.npz``'s ``network`` of a spiking run (a rate run's file has no ``network``).
SPIKING = "spiking"


def probe_inputs(task, seed: int, trials: int = PROBE_TRIALS) -> np.ndarray:
    """Inputs ``(T, trials, n_in)`` of a run's Lyapunov probe batch.

    Drawn from ``numpy.random.default_rng([seed, 3, 0])``: the same trials for
    the exponents a training run records and for ``localrnn lyapunov RUN_DIR``.
    """
    return task.batch(trials, np.random.default_rng([seed, PROBE_STREAM, 0])).inputs


def check_writable_dir(path, name: str = "out") -> Path:
    """``path`` as a Path if a folder can be created or written there, else ``ValueError``.

    Nothing is created: the nearest existing ancestor must be a writable folder
    (or ``path`` itself an existing writable folder).  Called before any
    computation so that a bad ``--out`` fails at once.
    """
    p = Path(path)
    if str(path) == "":
        raise ValueError(f"{name}='' is empty; give a folder path")
    q = p
    while not q.exists():
        if q.parent == q:
            break
        q = q.parent
    if q.exists() and not q.is_dir():
        raise ValueError(f"{name}={str(p)!r}: {str(q)!r} is not a folder; give a folder path")
    if not q.exists() or not os.access(q, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={str(p)!r} cannot be written (no write permission in {str(q)!r}); "
                         "give a writable folder")
    # /proc, /sys and the like accept access() but refuse new entries
    if _is_pseudo_fs(q):
        raise ValueError(f"{name}={str(p)!r} cannot be written ({str(q)!r} is a virtual file system); "
                         "give a writable folder")
    return p


def check_writable_file(path, name: str = "out") -> Path:
    """``path`` as a Path if a file can be written there (its folder passes
    :func:`check_writable_dir` and ``path`` is not a folder), else ``ValueError``."""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise ValueError(f"{name}={str(path)!r} is not a file name; give a file path")
    if p.is_dir():
        raise ValueError(f"{name}={str(p)!r} is a folder; give a file path")
    check_writable_dir(p.parent if str(p.parent) else Path("."), name)
    return p


def _is_pseudo_fs(path: Path) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return True
    return st.f_blocks == 0


def _format_row(r: Mapping) -> List:
    return ["" if r.get(k) is None else (repr(float(r[k])) if k != "iteration" else int(r[k]))
            for k in METRIC_FIELDS]


def metrics_csv(rows) -> str:
    """The text of a ``metrics.csv`` holding ``rows`` (header included)."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_FIELDS)
    for r in rows:
        w.writerow(_format_row(r))
    return buf.getvalue()


def read_metrics(path) -> List[Dict]:
    """Rows of a ``metrics.csv`` as dicts of floats (``None`` where empty or absent).

    A last line without its newline (a write cut short) is ignored.
    """
    with open(path, newline="") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    out = []
    for row in csv.DictReader(_io.StringIO(text)):
        d = {}
        for k in METRIC_FIELDS:
            v = row.get(k, "")
            d[k] = None if v in ("", None) else (int(v) if k == "iteration" else float(v))
        out.append(d)
    return out


class RunDir:
    """The files of one results folder (see the module docstring for the layout).

    Parameters
    ----------
    path : path-like
        The folder; it is created on the first write.
    kind : str
        What the folder holds (:data:`~localrnn.names.RUN_KINDS`): ``"train"``
        (a training run, the default) or a fixed-point grid.  Reading a folder
        whose ``config.json`` names another kind raises ``ValueError``.

    Examples
    --------
    >>> rd = RunDir("runs/romo-rflo")                     # doctest: +SKIP
    >>> rd.read_config()["gain"], rd.status               # doctest: +SKIP
    (0.5, 'done')
    >>> net = rd.load_network("final")                    # doctest: +SKIP
    """

    def __init__(self, path, kind: str = TRAIN):
        if kind not in RUN_KINDS:
            raise ValueError(f"kind={kind!r} is not allowed; choose one of {', '.join(RUN_KINDS)}")
        self.path = Path(path)
        self.kind = kind

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, kind={self.kind!r})"

    def __truediv__(self, name) -> Path:
        return self.path / name

    # ------------------------------------------------------------------ queries
    def exists(self) -> bool:
        """Whether the folder holds results (a ``config.json``), of any kind."""
        return (self.path / CONFIG).is_file()

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def require(self, *names: str, what: str = "RUN_DIR") -> "RunDir":
        """``self``, or ``ValueError`` naming the files missing from the folder or the
        folder's other kind."""
        self._require_files(names, what)
        if self.exists():
            self._check_kind(lio.read_json(self.path / CONFIG), what)
        return self

    def _require_files(self, names, what: str = "RUN_DIR") -> None:
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise ValueError(f"{what} {str(self.path)!r} has no {'/'.join(missing)}; "
                             f"give a folder written by {RUN_KINDS[self.kind]}")

    def stored_kind(self) -> Optional[str]:
        """The kind ``config.json`` names (``"train"`` when it names none), None without one."""
        if not self.exists():
            return None
        return lio.read_json(self.path / CONFIG).get(KIND_KEY, TRAIN)

    def _check_kind(self, cfg: Mapping, what: str = "RUN_DIR") -> None:
        have = cfg.get(KIND_KEY, TRAIN)
        if have != self.kind:
            shown = RUN_KINDS.get(have, "an unknown program")
            raise ValueError(f"{what} {str(self.path)!r} holds a {have!r} result (written by "
                             f"{shown}), not a {self.kind!r} one; give a folder written by "
                             f"{RUN_KINDS[self.kind]}")

    @property
    def status(self) -> Optional[str]:
        """``"running"``, ``"done"``, ``"interrupted"``, ``"diverged"``, or None without config."""
        if not self.exists():
            return None
        return self.read_config().get("status")

    # ------------------------------------------------------------------ config
    def read_config(self) -> Dict:
        """``config.json`` as a dict (a training run's: settings, ``status``,
        ``localrnn_version``); ``ValueError`` if the folder holds another kind."""
        self._require_files([CONFIG])
        cfg = lio.read_json(self.path / CONFIG)
        self._check_kind(cfg)
        return cfg

    def write_config(self, config: Mapping, status: Optional[str] = None,
                     version: Optional[str] = None) -> Path:
        """Write ``config.json``: the kind (unless ``"train"``), the package ``version`` and
        ``status`` (each when given), then ``config``."""
        d = {} if self.kind == TRAIN else {KIND_KEY: self.kind}
        if version is not None:
            d["localrnn_version"] = version
        if status is not None:
            d["status"] = status
        d.update(config)
        return lio.atomic_write_json(self.path / CONFIG, d)

    # ------------------------------------------------------------------ metrics
    def read_metrics(self) -> List[Dict]:
        """Rows of ``metrics.csv`` (:data:`METRIC_FIELDS`; ``None`` where empty)."""
        self.require(METRICS)
        return read_metrics(self.path / METRICS)

    def start_metrics(self) -> Path:
        """A new ``metrics.csv`` with its header only (replaces an existing one)."""
        return lio.atomic_write_text(self.path / METRICS, metrics_csv([]))

    def append_metrics(self, rows) -> None:
        """Append ``rows`` to ``metrics.csv``, flushed and fsynced.

        If the write fails (e.g. a full disk) or is interrupted, the file is cut back
        to its length before the call (so a later call appends the rows once) and the
        exception is raised (an ``OSError`` naming the file).
        """
        rows = list(rows)
        if not rows:
            return
        p = self.path / METRICS
        if not p.is_file():
            self.start_metrics()
        buf = _io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for r in rows:
            w.writerow(_format_row(r))
        data = buf.getvalue().encode("utf-8")
        size = p.stat().st_size
        try:
            with open(p, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException as e:  # a full disk, or Ctrl-C mid-write: no partial or doubled rows
            try:
                os.truncate(p, size)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise lio.write_error(e, p) from e
            raise

    def truncate_metrics(self, n: int) -> None:
        """Keep the header and the first ``n`` rows of ``metrics.csv`` (resume).

        ``ValueError`` if the file holds fewer than ``n`` complete rows.
        """
        p = self.path / METRICS
        with open(p, "rb") as f:
            data = f.read()
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if header != ",".join(METRIC_FIELDS):  # written by an older version: rewrite once
            rows = read_metrics(p)
            if len(rows) < n:
                raise ValueError(f"{str(p)!r} holds {len(rows)} rows; the checkpoint is at "
                                 f"iteration {n}: the run folder is inconsistent")
            lio.atomic_write_text(p, metrics_csv(rows[:n]))
            return
        pos, lines = 0, 0
        while lines < n + 1:  # header + n rows
            j = data.find(b"\n", pos)
            if j < 0:
                raise ValueError(f"{str(p)!r} holds {max(lines - 1, 0)} complete rows; the checkpoint "
                                 f"is at iteration {n}: the run folder is inconsistent")
            pos, lines = j + 1, lines + 1
        if pos != len(data):
            os.truncate(p, pos)

    # ------------------------------------------------------------------ weights
    def write_weights(self, init_net, final_net, extra: Optional[Mapping[str, np.ndarray]] = None) -> Path:
        """``init_*``/``final_*`` parameters; for a rate network alpha, activation, form;
        for a :class:`~localrnn.spiking.SpikingNetwork` ``network = "spiking"``, its
        ``beta`` and its ``neuron`` options (JSON: model, reset, dt, time constants, v_th,
        v_reset, refractory, gamma); and ``extra`` arrays (e.g. a quantised run's
        ``int_*`` integer weights and ``scale_*``)."""
        from .spiking import SpikingNetwork

        arrays = {}
        for k in PARAM_NAMES:
            arrays["init_" + k] = getattr(init_net, k)
            arrays["final_" + k] = getattr(final_net, k)
        if isinstance(final_net, SpikingNetwork):
            arrays.update(network=np.array(SPIKING), beta=final_net.beta,
                          neuron=np.array(json.dumps(final_net.options())))
        else:
            arrays.update(alpha=np.array(final_net.alpha), activation=np.array(final_net.activation),
                          form=np.array(final_net.form))
        arrays.update(extra or {})
        return lio.atomic_savez(self.path / WEIGHTS, arrays)

    def load_network(self, which: str = "final"):
        """The ``"init"`` (before training) or ``"final"`` network saved in ``weights.npz``:
        a :class:`~localrnn.Network`, or a :class:`~localrnn.spiking.SpikingNetwork` when
        the file says ``network = "spiking"``."""
        from .network import Network
        from .spiking import SpikingNetwork

        if which not in ("init", "final"):
            raise ValueError(f"which={which!r} is not allowed; choose 'init' or 'final'")
        self.require(WEIGHTS)
        with np.load(self.path / WEIGHTS) as w:
            params = {p: w[f"{which}_{p}"] for p in PARAM_NAMES}
            if "network" in w.files and str(w["network"]) == SPIKING:
                return SpikingNetwork(**params, beta=w["beta"], **json.loads(str(w["neuron"])))
            return Network(**params, alpha=float(w["alpha"]), activation=str(w["activation"]),
                           form=str(w["form"]))

    # ------------------------------------------------------------------ checkpoint
    def write_checkpoint(self, iteration: int, net, opt_state: Mapping[str, np.ndarray]) -> Path:
        ck = {"iteration": np.array(int(iteration))}
        for k in PARAM_NAMES:
            ck["param_" + k] = getattr(net, k)
        for k, v in opt_state.items():
            ck["opt_" + k] = v
        return lio.atomic_savez(self.path / CHECKPOINT, ck)

    def read_checkpoint(self) -> Optional[Dict]:
        """``{"iteration": int, "params": {...}, "opt": {...}}``, or None without a checkpoint."""
        if not self.has(CHECKPOINT):
            return None
        with np.load(self.path / CHECKPOINT) as ck:
            return {"iteration": int(ck["iteration"]),
                    "params": {k: ck["param_" + k] for k in PARAM_NAMES},
                    "opt": {k[4:]: ck[k] for k in ck.files if k.startswith("opt_")}}

    # ------------------------------------------------------------------ lyapunov, figures
    def read_lyapunov(self) -> Optional[Dict]:
        """``lyapunov.json`` as a dict, or None if the run recorded no exponents."""
        return lio.read_json(self.path / LYAPUNOV) if self.has(LYAPUNOV) else None

    def write_lyapunov(self, data: Mapping) -> Path:
        return lio.atomic_write_json(self.path / LYAPUNOV, data)

    def write_json(self, name: str, data) -> Path:
        return lio.atomic_write_json(self.path / name, data)

    def write_text(self, name: str, text: str) -> Path:
        """Write a file of the folder's kind (e.g. a fixed-point grid's tables) atomically."""
        return lio.atomic_write_text(self.path / name, text)

    def write_arrays(self, name: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Write arrays as an ``.npz`` file atomically."""
        return lio.atomic_savez(self.path / name, arrays)

    # ------------------------------------------------------------------ a sweep's record
    def read_cell_record(self) -> Optional[Dict]:
        """``cell.json`` (what a sweep records about the cell), or None if absent."""
        return lio.read_json(self.path / CELL) if self.has(CELL) else None

    def write_cell_record(self, record: Mapping) -> Path:
        return lio.atomic_write_json(self.path / CELL, record)

    # ------------------------------------------------------------------ task, probe
    def task(self):
        """The run's task, built from ``config.json``."""
        from .tasks import get_task

        cfg = self.read_config()
        return get_task(cfg["task"], **cfg.get("task_kwargs", {}))

    probe_inputs = staticmethod(probe_inputs)

    def run_probe_inputs(self, trials: int = PROBE_TRIALS, seed: Optional[int] = None) -> np.ndarray:
        """The probe inputs of this run (its task and, by default, its seed)."""
        cfg = self.read_config()
        return probe_inputs(self.task(), cfg.get("seed", 0) if seed is None else seed, trials)

    def summary(self) -> Dict:
        """Config and last metrics in one flat dict (what a sweep table needs)."""
        cfg = self.read_config()
        rows = self.read_metrics() if self.has(METRICS) else []
        last = rows[-1] if rows else {}
        evals = [r for r in rows if r.get("eval_loss") is not None]
        ev = evals[-1] if evals else {}
        ly = self.read_lyapunov()
        out = {k: cfg.get(k) for k in ("task", "rule", "gain", "n_rec", "iters", "lr", "seed")}
        out.update(status=cfg.get("status"), iterations=int(last.get("iteration", 0) or 0),
                   final_loss=last.get("loss", float("nan")),
                   eval_loss=ev.get("eval_loss", float("nan")),
                   accuracy=ev.get("accuracy", float("nan")), out=str(self.path))
        if ly and ly.get("after_training"):
            out["lambda_max_after_training"] = ly["after_training"][0]
        return out


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


__all__ = ["RunDir", "METRIC_FIELDS", "PROBE_TRIALS", "probe_inputs", "new_run_dir", "read_metrics",
           "metrics_csv", "check_writable_dir", "check_writable_file", "is_disk_full", "KIND_KEY"]
