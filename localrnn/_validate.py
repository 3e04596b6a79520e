"""Argument checks for the public API.

Every check raises ``ValueError`` with a one-line message that names the bad
value and what is allowed.  Kernels never check anything: drivers call these.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .names import DTYPES


def check_choice(name: str, value, choices: Iterable):
    choices = list(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {allowed}")
    return value


def check_number(name: str, value, *, lo=None, hi=None, lo_open=False, hi_open=False,
                 integer=False):
    """A finite real (or integer) within [lo, hi] (open ends if asked)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name}={value!r} must be {kind}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range (e.g. --n-rec 1e400 typed as digits)
        raise ValueError(f"{name}={value!r} is out of range; allowed "
                         f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]") from None
    if integer and not v.is_integer():
        raise ValueError(f"{name}={value!r} must be an integer")
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r} must be finite")
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name}={value!r} is out of range; allowed {rng}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{name}={value!r} is out of range; allowed {rng}")
    return int(value) if integer else v


def check_dtype(dtype) -> np.dtype:
    if isinstance(dtype, str):
        check_choice("dtype", dtype, DTYPES)
        return np.dtype(dtype)
    dt = np.dtype(dtype)
    if dt.name not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not allowed; choose {' or '.join(map(repr, DTYPES))}")
    return dt


# ---------------------------------------------------------------------------- memory
#: Fraction of the physical memory a computation may plan to use; above it, it is
#: refused before anything is allocated (instead of a ``MemoryError`` part-way).
MEMORY_FRACTION = 0.8


def physical_memory() -> int:
    """Bytes of physical memory of this machine (``os.sysconf``); 0 if unknown."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory_bytes(nbytes, what: str, detail: str = "") -> None:
    """``ValueError`` when about ``nbytes`` bytes exceed :data:`MEMORY_FRACTION` of the
    physical memory; nothing when they fit or the memory is unknown.

    The one line reads ``"<what> would need about <n> bytes of memory (<detail>), more
    than the <m> bytes allowed (80% of <p> physical); use smaller values"``: ``what``
    names the values that drive the estimate (e.g. ``"batch=99999999999, n_rec=16:
    the run"``); each caller estimates its own bytes.
    """
    avail = physical_memory()
    if avail <= 0:
        return
    try:
        n = float(nbytes)
    except OverflowError:  # an integer estimate beyond float range
        n = math.inf
    allowed = MEMORY_FRACTION * avail
    if n <= allowed:
        return
    more = f" ({detail})" if detail else ""
    raise ValueError(f"{what} would need about {n:.3g} bytes of memory{more}, more than the "
                     f"{allowed:.3g} bytes allowed ({MEMORY_FRACTION:.0%} of {avail:.3g} physical); "
                     "use smaller values")


def check_array(name: str, a, shape: tuple, dtype, *, finite: bool = True) -> np.ndarray:
    """Return ``a`` as a C-contiguous array of ``dtype`` with the given shape.

    ``shape`` entries may be ``None`` (any size).  Non-finite entries are an error
    when ``finite`` is true.
    """
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - numpy message is enough
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.ndim != len(shape):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} has shape {arr.shape}; expected {len(shape)} dimensions {want}")
    for ax, (got, want) in enumerate(zip(arr.shape, shape)):
        if want is not None and got != want:
            wants = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} has shape {arr.shape}; expected {wants}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {arr.dtype}; expected real numbers")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if finite and arr.size and not np.all(np.isfinite(out)):
        bad = np.argwhere(~np.isfinite(out))[0]
        raise ValueError(f"{name} has a non-finite value {float(out[tuple(bad)])!r} at index {tuple(int(i) for i in bad)}; "
                         "all entries must be finite")
    return out


def check_labels(name: str, a, shape: tuple, n_classes: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != len(shape) or any(w is not None and g != w for g, w in zip(arr.shape, shape)):
        raise ValueError(f"{name} has shape {arr.shape}; expected {shape} integer labels")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} has dtype {arr.dtype}; expected integer class labels")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if out.size and (out.min() < 0 or out.max() >= n_classes):
        bad = out.min() if out.min() < 0 else out.max()
        raise ValueError(f"{name} has label {int(bad)}; allowed labels are 0..{n_classes - 1}")
    return out


#: Largest Anderson-acceleration memory the fixed-point solvers accept.
MAX_ANDERSON_MEMORY = 50


def check_memory(memory) -> int:
    """The Anderson memory m of the fixed-point solvers: an integer in [0, 50]
    (0 = plain iteration; MODEL.md section 8)."""
    return check_number("memory", memory, lo=0, hi=MAX_ANDERSON_MEMORY, integer=True)
