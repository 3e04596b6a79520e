"""One place for Numba flags (after stumpy's ``config.py``).

Every kernel module imports :func:`njit` from here, so caching and fast-math are
decided once.  Exact kernels (BPTT, RTRL, Lyapunov) keep IEEE semantics: we never
turn on ``fastmath`` for them, because the project's claims are agreements to
~1e-10 relative with PyTorch and between rules.

``cache=True`` writes compiled kernels next to the source (or to
``NUMBA_CACHE_DIR``), so a second process starts without recompiling; each cached
kernel is stamped with its module's source and its callees'
(:mod:`localrnn._kernel_cache`, installed on import of this module).
Kernels are serial: parallelism comes from BLAS inside ``np.dot``.  No kernel is
``parallel=True``, so results are bit-identical from run to run for a given BLAS
thread count (:mod:`localrnn._threads`).
"""
from __future__ import annotations

import numba

from . import _kernel_cache

#: Options shared by every kernel (part of every kernel's cache stamp).
NJIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

#: True when the kernels' cache stamps are :mod:`localrnn._kernel_cache`'s.
PACKAGE_STAMP_INSTALLED = _kernel_cache.install(NJIT_OPTIONS)


def njit(*args, **kwargs):
    """``numba.njit`` with the project's options (``cache``, no ``fastmath``)."""
    opts = dict(NJIT_OPTIONS)
    opts.update(kwargs)
    if args and callable(args[0]):
        return numba.njit(**opts)(args[0])
    return numba.njit(*args, **opts)
