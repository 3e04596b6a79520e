"""One place for Numba flags (after stumpy's ``config.py``).

Every kernel module imports :func:`njit` from here, so caching and fast-math are
decided once.  Exact kernels (BPTT, RTRL, Lyapunov) keep IEEE semantics: we never
turn on ``fastmath`` for them, because the project's claims are agreements to
~1e-10 relative with PyTorch and between rules.

``cache=True`` writes compiled kernels next to the source (or to
``NUMBA_CACHE_DIR``), so a second process starts without recompiling.
Kernels are serial: parallelism comes from BLAS inside ``np.dot``.  No kernel is
``parallel=True``, so results are bit-identical from run to run for a given BLAS
thread count.
"""
from __future__ import annotations

import functools
import hashlib
import os
import warnings

import numba

#: Options shared by every kernel.
NJIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


# --------------------------------------------------------------------------- kernel cache
# Numba decides that a cached kernel is fresh from its own source file only, but a
# kernel's machine code also holds the code of every kernel it calls (inlined or
# linked in): after an edit of ``kernels/common.py`` (tanh, phi'), the kernels of
# ``forward.py`` would load from the cache with the old tanh inside -- silently
# (it happened here during development).  So every localrnn kernel is stamped with one
# hash of all the package's kernel sources (the files that define compiled code):
# any change there recompiles them all, anything else keeps the cache.  Numba's own
# locators (NUMBA_CACHE_DIR, in-tree __pycache__, the user-wide fallback) still choose
# where the cache lives; only the freshness stamp is ours.  This uses
# ``numba.core.caching``'s locator list, which is not public API: if a Numba version
# lacks it, kernels fall back to Numba's per-file stamp (and a warning says so).

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_KERNEL_MARKERS = (b"njit", b"@intrinsic", b"@overload")


def package_source_stamp(root: str = _PACKAGE_DIR) -> str:
    """sha256 of every ``.py`` file under ``root`` that defines compiled code (its
    relative path and content), in sorted order: the freshness stamp of every cached
    kernel of the package."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                src = f.read()
            if any(m in src for m in _KERNEL_MARKERS):
                h.update(os.path.relpath(path, root).encode() + b"\0" + src + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _stamp() -> str:
    return package_source_stamp()


def _is_ours(py_file) -> bool:
    try:
        return os.path.realpath(py_file).startswith(os.path.realpath(_PACKAGE_DIR) + os.sep)
    except (TypeError, ValueError):
        return False


def _install_package_stamp() -> bool:
    """Put a package-stamped subclass of each of Numba's source-file locators first in
    Numba's locator list (same order, so the same cache directory is chosen)."""
    try:
        from numba.core import caching
        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
        bases = [getattr(caching, n, None) or getattr(caching, "_" + n)
                 for n in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                           "UserWideCacheLocator")]
        classes = impl._locator_classes
    except (ImportError, AttributeError):
        warnings.warn("localrnn: this Numba's cache locators are not where expected; kernels "
                      "are cached with Numba's per-file freshness check (clear __pycache__ "
                      "after editing localrnn/kernels)", RuntimeWarning, stacklevel=2)
        return False
    if any(getattr(c, "localrnn_package_stamp", False) for c in classes):
        return True

    def stamped(base):
        class Locator(base):
            localrnn_package_stamp = True

            def get_source_stamp(self):
                return _stamp()

            @classmethod
            def from_function(cls, py_func, py_file):
                if not _is_ours(py_file):
                    return None
                return super().from_function(py_func, py_file)

        Locator.__name__ = Locator.__qualname__ = "Package" + base.__name__.lstrip("_")
        return Locator

    classes[:0] = [stamped(b) for b in bases]
    return True


PACKAGE_STAMP_INSTALLED = _install_package_stamp()


def njit(*args, **kwargs):
    """``numba.njit`` with the project's options (``cache``, no ``fastmath``)."""
    opts = dict(NJIT_OPTIONS)
    opts.update(kwargs)
    if args and callable(args[0]):
        return numba.njit(**opts)(args[0])
    return numba.njit(*args, **opts)


# --------------------------------------------------------------------------- BLAS threads
# Kernels that loop over time call BLAS once per step on small matrices
# (B x N by N x N).  A multi-threaded OpenBLAS synchronises its threads on every
# such call; when the machine has other work (another process, a second test
# worker), a descheduled BLAS thread stalls each step for a whole time slice:
# we measured the Romo batch (T = 56, B = 32, N = 256) at 38 ms with one BLAS
# thread and 1.1 s with two on a loaded 2-core machine.  Time-stepping kernels
# therefore run with ``LOCALRNN_STEP_BLAS_THREADS`` BLAS threads (default 1),
# set only for the duration of the kernel call and restored afterwards (by
# threadpoolctl).  The one-shot GEMMs of a gradient (sums over T*B rows) run
# under the same limit: on a busy machine a two-thread BLAS was 10x slower there
# too (27 ms vs 2.4 ms for a 448-row product), and on an idle one the second
# thread saves little at these sizes.  Set the variable to 0 to never touch
# thread counts, or to 2 to let BLAS use both cores of an idle machine.
import os  # noqa: E402
import threading  # noqa: E402
from contextlib import nullcontext  # noqa: E402

_CONTROLLER = None


def step_blas_threads() -> int:
    try:
        return int(os.environ.get("LOCALRNN_STEP_BLAS_THREADS", "1"))
    except ValueError:
        raise ValueError("LOCALRNN_STEP_BLAS_THREADS must be an integer >= 0, got "
                         f"{os.environ.get('LOCALRNN_STEP_BLAS_THREADS')!r}") from None


class _StepBlasLimit:
    """The limit as a re-entrant, process-wide context: the first entry sets the BLAS
    thread count (threadpoolctl), the last exit restores it, nested entries (a
    driver calling a driver) cost a counter instead of threadpoolctl's ~20 us
    library walk each, and a second thread entering while one is inside cannot
    restore the count under the first one's feet (BLAS thread counts are global)."""

    _lock = threading.Lock()
    _depth = 0
    _limiter = None

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        cls = _StepBlasLimit
        with cls._lock:
            if cls._depth == 0:
                cls._limiter = _controller().limit(limits=self.n, user_api="blas")
            cls._depth += 1
        return self

    def __exit__(self, *exc):
        cls = _StepBlasLimit
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                limiter, cls._limiter = cls._limiter, None
                limiter.restore_original_limits()
        return False


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def step_blas_limit():
    """Context manager: BLAS threads for time-stepping kernels (see above).

    Re-entrant: nested uses keep the outermost limit (see :class:`_StepBlasLimit`)."""
    n = step_blas_threads()
    if n <= 0:
        return nullcontext()
    return _StepBlasLimit(n)
