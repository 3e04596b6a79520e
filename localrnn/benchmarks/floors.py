"""Floors: the BLAS/LAPACK work a computation cannot avoid, timed with NumPy.

Each function returns seconds (best of repeats, after a warm-up call), timed
inside :func:`localrnn._threads.step_blas_limit` -- the same BLAS thread limit
(threadpoolctl, ``LOCALRNN_STEP_BLAS_THREADS``, default one thread) our
time-stepping kernels run under -- with preallocated outputs (``out=``), so that
what is timed is the BLAS call and nothing else.  Why each piece of work is
unavoidable is written in the docstring of the case that uses it
(:mod:`localrnn.benchmarks.engine`, :mod:`~localrnn.benchmarks.online`,
:mod:`~localrnn.benchmarks.lyapunov`, :mod:`~localrnn.benchmarks.iteration`).

**Two BLAS builds, the faster one.**  A process holds two OpenBLAS builds:
NumPy's (called by ``np.dot`` in Python) and SciPy's (``scipy.linalg.cython_blas``,
the one ``np.dot`` inside our Numba kernels calls, and ``scipy.linalg.blas``).
They are different versions and do not run at the same speed: for the float32
step GEMM (32 x 256)(256 x 256) SciPy's took 81-84 us against NumPy's 96-102 us
here.  A floor timed with NumPy alone would credit our kernels with that
difference, so every GEMM and GEMV of a floor is timed through both builds and the
faster one is the floor (:func:`fastest`); LAPACK and ``?ger`` are SciPy's.
"""
from __future__ import annotations

import time

import numpy as np

from .._config import njit
from .._threads import step_blas_limit
from ._timing import time_call

_CACHE = {}


def _rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@njit
def _dot_loop(A, B, out, n):
    """``n`` products ``A @ B`` into ``out`` through SciPy's BLAS (``np.dot`` in Numba)."""
    for _ in range(n):
        np.dot(A, B, out)


@njit
def _trial_loop(A, W, out, n_step, ZT, R, gW):
    """:func:`gradient_trial_fn`'s work through SciPy's BLAS."""
    for _ in range(n_step):
        np.dot(A, W, out)
    np.dot(ZT, R, gW)


def fastest(candidates, rounds: int = 5):
    """The fastest of several closures doing the same work (best of ``rounds``, after
    two warm-up calls each, alternating, under the step BLAS limit).  Used to pick, for
    a floor, the faster of NumPy's and SciPy's BLAS (see the module docstring)."""
    if len(candidates) == 1:
        return candidates[0]
    best = [float("inf")] * len(candidates)
    with step_blas_limit():
        for fn in candidates:
            fn()
            fn()
        for _ in range(rounds):
            for i, fn in enumerate(candidates):
                t = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - t)
    return candidates[int(np.argmin(best))]


def _number(flops: float) -> int:
    """Calls per timing round so that a round lasts about a millisecond or more (at the
    20-40 GFLOP/s one core does here; a round of one 0.1 ms call timed ~20% slow)."""
    return int(max(1, min(200, 2e7 / max(flops, 1.0))))


def _both_blas(A, B, out, flops: float, repeat: int) -> float:
    """Seconds of ``A @ B`` into ``out``: the faster of NumPy's and SciPy's BLAS."""
    number = _number(flops)
    with step_blas_limit():
        t_np = time_call(lambda: np.dot(A, B, out=out), repeat=repeat, number=number, warmup=2)
        t_sp = time_call(lambda: _dot_loop(A, B, out, number), repeat=repeat, warmup=2) / number
    return min(t_np, t_sp)


def gemm(m: int, k: int, n: int, dtype="float64", repeat: int = 7) -> float:
    """Seconds of one ``(m x k) @ (k x n)`` product (``np.dot`` into a preallocated out)."""
    key = ("gemm", m, k, n, np.dtype(dtype).name, repeat)
    if key not in _CACHE:
        A, B, out = _rand((m, k), dtype, 0), _rand((k, n), dtype, 1), np.empty((m, n), dtype)
        _CACHE[key] = _both_blas(A, B, out, 2.0 * m * k * n, repeat)
    return _CACHE[key]


def gemm_tn(m: int, k: int, n: int, dtype="float64", repeat: int = 7) -> float:
    """Seconds of ``A.T @ B`` with ``A`` (k x m), ``B`` (k x n): a weight gradient summed over k rows."""
    key = ("gemm_tn", m, k, n, np.dtype(dtype).name, repeat)
    if key not in _CACHE:
        A, B, out = _rand((k, m), dtype, 0), _rand((k, n), dtype, 1), np.empty((m, n), dtype)
        _CACHE[key] = _both_blas(A.T, B, out, 2.0 * m * k * n, repeat)
    return _CACHE[key]


def gemv(n: int, k: int, dtype="float64", repeat: int = 9) -> float:
    """Seconds of one ``(n x k) @ k`` matrix-vector product."""
    key = ("gemv", n, k, np.dtype(dtype).name, repeat)
    if key not in _CACHE:
        A, v, out = _rand((n, k), dtype, 0), _rand(k, dtype, 1), np.empty(n, dtype)
        _CACHE[key] = _both_blas(A, v, out, 2.0 * n * k, repeat)
    return _CACHE[key]


def ger(n: int, k: int, dtype="float64", repeat: int = 9) -> float:
    """Seconds of one in-place rank-1 update ``A += a x y^T`` of an (n x k) array (BLAS ``?ger``).

    One read and one write of every entry of ``A``: the memory traffic of any
    pass that updates an n x k array from two vectors (a weight update from a
    learning signal and a trace, or a trace ``p <- c p + d h^T``).
    """
    from scipy.linalg import blas

    key = ("ger", n, k, np.dtype(dtype).name, repeat)
    if key not in _CACHE:
        f = blas.sger if np.dtype(dtype) == np.float32 else blas.dger
        A = np.asfortranarray(_rand((n, k), dtype, 0))
        x, y = _rand(n, dtype, 1), _rand(k, dtype, 2)
        a = np.dtype(dtype).type(1e-12)

        def run():
            f(a, x, y, a=A, overwrite_a=1)

        run()
        if not np.shares_memory(f(a, x, y, a=A, overwrite_a=1), A):  # pragma: no cover
            raise RuntimeError("scipy ?ger did not update in place; the floor would time a copy")
        with step_blas_limit():
            _CACHE[key] = time_call(run, repeat=repeat, number=_number(2.0 * n * k), warmup=2)
    return _CACHE[key]


def qr(n: int, k: int, dtype="float64", repeat: int = 7) -> float:
    """Seconds of a QR of an (n x k) matrix with its Q formed: LAPACK ``?geqrf`` + ``?orgqr``.

    Called through ``scipy.linalg.lapack`` on a Fortran-ordered copy refreshed
    in place (``overwrite_a``), not ``numpy.linalg.qr``, whose Python-level
    checks and allocations cost more than the arithmetic for n x 10 (the floor
    must not contain overhead a kernel calling LAPACK directly does not pay).
    The time includes one n x k copy (refreshing the input) and two f2py calls
    (about a microsecond each), so for small n x k this floor is not a strict lower
    bound: a Numba kernel calling LAPACK can come out slightly below it.
    """
    from scipy.linalg import lapack

    key = ("qr", n, k, np.dtype(dtype).name, repeat)
    if key not in _CACHE:
        s = "s" if np.dtype(dtype) == np.float32 else "d"
        geqrf, orgqr = getattr(lapack, s + "geqrf"), getattr(lapack, s + "orgqr")
        A0 = np.asfortranarray(_rand((n, k), dtype, 0))
        A = A0.copy(order="F")
        lwork = max(int(geqrf(A, lwork=-1)[2][0].real),
                    int(orgqr(A, np.zeros(k, dtype), lwork=-1)[1][0].real), k)  # LAPACK's optimal

        def run():
            A[...] = A0
            qr_, tau, work, info = geqrf(A, lwork=lwork, overwrite_a=1)
            orgqr(qr_, tau, lwork=lwork, overwrite_a=1)

        run()
        with step_blas_limit():
            _CACHE[key] = time_call(run, repeat=repeat, number=_number(4.0 * n * k * k), warmup=2)
    return _CACHE[key]


# ------------------------------------------------------------------ floors of the cases

def bptt_step(N: int, B: int, T: int, dtype="float32") -> float:
    """Per step: forward ``(B x N)(N x N)`` + backward ``(B x N)(N x N)`` + ``dW`` over T*B rows / T."""
    return 2 * gemm(B, N, N, dtype) + gemm_tn(N, T * B, N, dtype) / T


def local_step(N: int, B: int, T: int, dtype="float32") -> float:
    """Per step: forward ``(B x N)(N x N)`` + the ``dW`` GEMM over T*B rows / T (e-prop, RFLO)."""
    return gemm(B, N, N, dtype) + gemm_tn(N, T * B, N, dtype) / T


#: Sizes n of the square GEMMs whose best rate is the peak of :func:`peak_gemm_fns`.
PEAK_SIZES = (256, 512, 1024)


def peak_gemm_fns(dtype="float64", sizes=PEAK_SIZES):
    """[(closure, flops)]: one (n x n)(n x n) GEMM per n in ``sizes``, each through the
    faster of the two BLAS builds (:func:`fastest`), for the peak GEMM rate of the
    arithmetic floor (not timed here: the caller times them in the same alternating
    rounds as the case, under the same one-thread limit).

    The peak is the best rate over the sizes: large enough for BLAS's blocking to reach
    its plateau (256: the three operands in 0.8-1.5 MB, resident in L2; 1024: 12-24 MB,
    in L3 where the CPU has that much), so on any core the size at which it runs fastest
    counts.  A higher peak is a stricter floor.
    """
    out = []
    for n in sizes:
        A, B, C = _rand((n, n), dtype, 0), _rand((n, n), dtype, 1), np.empty((n, n), dtype)

        def via_numpy(A=A, B=B, C=C):
            np.dot(A, B, out=C)

        def via_scipy(A=A, B=B, C=C):
            _dot_loop(A, B, C, 1)

        out.append((fastest([via_numpy, via_scipy], rounds=2), 2.0 * n ** 3))
    return out


def clear_cache() -> None:
    """Forget the timed floors (they are reused within a run for identical shapes)."""
    _CACHE.clear()


def online_step_fn(N: int, n_rank1: int, dtype="float64"):
    """A closure doing one ``(N x N) @ N`` GEMV and ``n_rank1`` in-place rank-1 updates of
    N x N arrays (BLAS ``?gemv`` + ``?ger``): the floor of an online step at B = 1.

    Returned (not timed) so that the online cases can interleave it with our step
    and the peer (:func:`localrnn.benchmarks.online.interleaved`).  The GEMV goes
    through the faster of the two BLAS builds (:func:`fastest`).
    """
    from scipy.linalg import blas

    f = blas.sger if np.dtype(dtype) == np.float32 else blas.dger
    W = _rand((N, N), dtype, 0)
    v, out = _rand(N, dtype, 1), np.empty(N, dtype)
    As = [np.asfortranarray(_rand((N, N), dtype, 2 + i)) for i in range(n_rank1)]
    x, y = _rand(N, dtype, 9), _rand(N, dtype, 10)
    a = np.dtype(dtype).type(1e-12)

    def step():
        np.dot(W, v, out=out)
        for A in As:
            f(a, x, y, a=A, overwrite_a=1)

    def step_scipy():
        _dot_loop(W, v, out, 1)
        for A in As:
            f(a, x, y, a=A, overwrite_a=1)

    return fastest([step, step_scipy])


def gradient_trial_fn(N: int, B: int, T: int, dtype="float32", exact: bool = True):
    """A closure doing the floor work of one batched gradient (not timed here):
    T step GEMMs (B x N)(N x N) -- two per step if ``exact`` (BPTT: forward and
    adjoint), one otherwise (e-prop/RFLO) -- and the dW GEMM over T*B rows.
    Seconds per step = its time / T.  Used to interleave ours and the floor.  Through
    the faster of the two BLAS builds (:func:`fastest`)."""
    A, W = _rand((B, N), dtype, 0), _rand((N, N), dtype, 1)
    out = np.empty((B, N), dtype)
    Z, R, gW = _rand((T * B, N), dtype, 2), _rand((T * B, N), dtype, 3), np.empty((N, N), dtype)
    n_step = 2 * T if exact else T

    def trial():
        for _ in range(n_step):
            np.dot(A, W, out=out)
        np.dot(Z.T, R, out=gW)

    def trial_scipy():
        _trial_loop(A, W, out, n_step, Z.T, R, gW)

    return fastest([trial, trial_scipy])


def lyapunov_steps_fn(N: int, k: int, B: int, steps: int):
    """A closure doing ``steps`` steps of the Lyapunov floor work (float64): ``W @ Q``
    ((N x N) by (N x k*B)), ``W @ h`` and B QRs of N x k (LAPACK ``dgeqrf + dorgqr``,
    preallocated work).  Seconds per step = its time / ``steps``.  The GEMMs go
    through the faster of the two BLAS builds (:func:`fastest`)."""
    from scipy.linalg import lapack

    W, Q = _rand((N, N), "float64", 0), _rand((N, k * B), "float64", 1)
    P = np.empty((N, k * B))
    H = _rand((B, N), "float64", 2)
    Ho = np.empty((B, N))
    A0 = np.asfortranarray(_rand((N, k), "float64", 3))
    As = [A0.copy(order="F") for _ in range(B)]
    lwork = max(int(lapack.dgeqrf(A0.copy(order="F"), lwork=-1)[2][0].real),
                int(lapack.dorgqr(A0.copy(order="F"), np.zeros(k), lwork=-1)[1][0].real), k)

    def gemms_numpy():
        np.dot(W, Q, out=P)
        np.dot(H, W.T, out=Ho)

    def gemms_scipy():
        _dot_loop(W, Q, P, 1)
        _dot_loop(H, W.T, Ho, 1)

    gemms = fastest([gemms_numpy, gemms_scipy])

    def run():
        for _ in range(steps):
            gemms()
            for A in As:
                A[...] = A0
                q, tau, _, _ = lapack.dgeqrf(A, lwork=lwork, overwrite_a=1)
                lapack.dorgqr(q, tau, lwork=lwork, overwrite_a=1)

    return run
