"""Results on disk: atomic writes (temp file in the same folder, then rename).

A crash or Ctrl-C never leaves a half-written results file: readers see either
the old file or the new one.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def write_error(exc: OSError, path) -> OSError:
    """``exc`` as an ``OSError`` of the same class and errno whose ``filename`` is ``path``
    (the file a reader knows, not a temporary one)."""
    code = exc.errno
    msg = exc.strerror or (os.strerror(code) if code else str(exc))
    try:
        return type(exc)(code, msg, str(path))
    except TypeError:
        return OSError(code, msg, str(path))


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    On any failure (a full disk: ``OSError`` with ``errno.ENOSPC``) the previous
    file at ``path`` is untouched, the temporary file is removed, and the
    ``OSError`` raised names ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(e, OSError):
            raise write_error(e, path) from e
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"


def atomic_write_json(path, obj: Any) -> Path:
    return atomic_write_text(path, to_json(obj))


def atomic_savez(path, arrays: Mapping[str, np.ndarray]) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_savefig(path, fig, **kwargs) -> Path:
    buf = io.BytesIO()
    fmt = Path(path).suffix.lstrip(".") or "png"
    fig.savefig(buf, format=fmt, **kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path) -> Any:
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def new_run_dir(root="runs", prefix: str = "run") -> Path:
    """A new, empty folder ``root/prefix-YYYYmmdd-HHMMSS[-k]`` (also :func:`localrnn.runs.new_run_dir`)."""
    import time

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        p = root / (f"{prefix}-{stamp}" + (f"-{k}" if k else ""))
        try:
            p.mkdir()
            return p
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {root}")
