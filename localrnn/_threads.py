"""Thread counts: BLAS inside time-stepping kernels, and worker processes.

:func:`step_blas_limit` is the per-step BLAS thread limit every driver of a
time-stepping kernel runs under; :func:`worker_env` sets :data:`WORKER_ENV` (one
thread for BLAS, OpenMP and Numba) while worker processes start (sweeps, the
throughput benchmark).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext
from typing import Optional

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

    def __init__(self, n: Optional[int]):
        self.n = n          # None: read at entry if outermost (another thread may have left)

    def __enter__(self):
        cls = _StepBlasLimit
        with cls._lock:
            if cls._depth == 0:
                n = self.n if self.n is not None else step_blas_threads()
                cls._limiter = _BlasLimit(n) if n > 0 else None
            cls._depth += 1
        return self

    def __exit__(self, *exc):
        cls = _StepBlasLimit
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                limiter, cls._limiter = cls._limiter, None
                if limiter is not None:
                    limiter.restore_original_limits()
        return False


class _BlasLimit:
    """``_controller().limit(limits=n, user_api="blas")`` and its
    ``restore_original_limits()``, without threadpoolctl's ``info()`` walk over every
    library (16 us of each training iteration's gradient, measured): each BLAS
    library's count read (``get_num_threads``), set to ``n``, set back on restore --
    what threadpoolctl's limiter does with the counts it reads."""

    _libs = None

    def __init__(self, n: int):
        libs = _BlasLimit._libs
        if libs is None:
            libs = _BlasLimit._libs = [lc for lc in _controller().lib_controllers if lc.user_api == "blas"]
        self._saved = [(lc, lc.get_num_threads()) for lc in libs]
        for lc, _ in self._saved:
            lc.set_num_threads(n)

    def restore_original_limits(self):
        for lc, n0 in self._saved:
            if n0 is not None:
                lc.set_num_threads(n0)


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def step_blas_limit():
    """Context manager: BLAS threads for time-stepping kernels (see above).

    Re-entrant: nested uses keep the outermost limit (see :class:`_StepBlasLimit`);
    inside one, a nested use only counts (the environment is read by the outermost)."""
    if _StepBlasLimit._depth > 0:
        return _StepBlasLimit(None)
    n = step_blas_threads()
    if n <= 0:
        return nullcontext()
    return _StepBlasLimit(n)


#: Environment of a worker process: one thread for BLAS, OpenMP and Numba.  Set
#: before the worker imports NumPy (spawned processes, Dask nannies).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
              "LOCALRNN_STEP_BLAS_THREADS": "1"}


@contextmanager
def worker_env():
    """Set WORKER_ENV in os.environ while worker processes start (restored after)."""
    old = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
