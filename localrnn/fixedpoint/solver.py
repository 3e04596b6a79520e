"""Fixed points of ``r = tanh(W r + u)`` over a batch (MODEL.md section 8).

Two solvers:

``"relax"``
    The original's Euler relaxation of ``tau dr/dt = -r + tanh(W r + u)`` from
    ``r = 0``: ``r <- r + eta_d (tanh(W r + u) - r)``, ``n_steps`` times (Zhu &
    Rosenbaum 2023 use ``eta_d = 0.01``, 500 steps).  It stops after
    ``n_steps`` whether or not it has reached the fixed point; the residual it
    leaves is reported.
``"converge"``
    Anderson-accelerated fixed-point iteration ``r <- tanh(W r + u)`` (memory
    ``memory``; 0 is the plain iteration) run per sample until
    ``max |r - tanh(W r + u)| <= tol``, then Newton's method with a line search
    on the few samples still above ``tol``.  Samples that still fail are
    reported (count and residual), never returned silently.

Row convention: ``r`` and ``U`` are (B, N), one sample per row, ``U = x @ W_x.T``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._threads import step_blas_limit
from .._validate import check_array, check_choice, check_dtype, check_number
from ..kernels.fixedpoint import PLAIN, anderson_mix, row_max_abs_diff

SOLVERS = ("relax", "converge")
ON_FAIL = ("warn", "raise", "ignore")

#: Default tolerance on ``max |r - tanh(W r + u)|`` per dtype.  float32 iterates
#: stall near 3e-7 (rounding of the GEMM and tanh at N = 300), so 1e-5 leaves a
#: factor of 30; float64 reaches 1e-15.
DEFAULT_TOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-5}
#: Ridge added to the Anderson least-squares problem, relative to its trace (per dtype).
RIDGE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}
#: An Anderson row whose residual exceeds this factor times its best restarts.
_RESTART = 1e2
#: A row iterates plainly while each step shrinks its residual by this factor
#: or more; past it (slow or no contraction) it turns to Anderson mixing.  For a
#: random W the spectrum of G W is a disk, on which Anderson (like GMRES) cannot
#: beat the plain iteration but costs as much again per step; it pays off for
#: eigenvalues near or beyond 1, which plain iteration cannot handle.
_SWITCH = 0.75


class FixedPointWarning(RuntimeWarning):
    """Some samples did not reach the requested tolerance."""


@dataclass(frozen=True)
class FixedPoint:
    """Result of :func:`solve_fixed_point`.

    Attributes
    ----------
    r : (B, N) array
        The returned states (for ``"relax"``: the state after ``n_steps``).
    residual : (B,) array
        ``max_j |r - tanh(W r + u)|_j`` per sample, evaluated at the returned ``r``.
    converged : (B,) bool array
        ``residual <= tol``.
    n_iter : int
        Evaluations of ``tanh(W r + u)`` over the batch (relax: ``n_steps``).
    n_newton : int
        Samples handed to the Newton polish (converge only).
    method : str
    tol : float
    """

    r: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    n_iter: int
    n_newton: int
    method: str
    tol: float

    @property
    def n_unconverged(self) -> int:
        """Number of samples whose residual is above ``tol``."""
        return int(self.converged.size - np.count_nonzero(self.converged))

    @property
    def max_residual(self) -> float:
        return float(np.max(self.residual)) if self.residual.size else 0.0


# --------------------------------------------------------------------------- helpers
def _tanh_map(WT, U):
    """``apply(x, out, rows)``: ``out[rows] = tanh(x[rows] @ W.T + U[rows])``."""

    def apply(x, out, rows):
        if rows is None:
            np.matmul(x, WT, out=out)
            out += U
            np.tanh(out, out=out)
        else:
            out[rows] = np.tanh(x[rows] @ WT + U[rows])

    return apply


def anderson_solve(apply, x, tol, max_iter: int, memory: int, ridge: float):
    """Anderson-accelerated iteration ``x <- map(x)`` per row (driver for
    :func:`localrnn.kernels.fixedpoint.anderson_mix`).

    ``apply(x, out, rows)`` writes ``map(x)`` for the rows ``rows`` (``None`` =
    all).  ``x`` (B, N) is updated in place; ``tol`` is a (B,) array.  Rows stop
    as soon as ``max |map(x) - x| <= tol``.  Returns ``(n_eval, residual)`` with
    the residual of the returned ``x``.

    The loop over iterations stays in Python because each iteration is one GEMM
    over the batch (BLAS) plus NumPy's vectorised ``tanh``, which is 4-8x faster
    than a scalar ``tanh`` compiled by Numba; the per-row mixing is the kernel.
    """
    B, N = x.shape
    m = int(memory)
    dF = np.zeros((m, B, N), x.dtype)
    dG = np.zeros((m, B, N), x.dtype)
    gram = np.zeros((B, max(m, 1), max(m, 1)))
    f_prev = np.empty_like(x)
    g_prev = np.empty_like(x)
    g = np.empty_like(x)
    hist = np.full(B, PLAIN, np.int64)
    best = np.full(B, np.inf)
    prev = np.full(B, np.inf)
    res = np.full(B, np.inf)
    active = np.ones(B, dtype=np.bool_)
    rows = np.arange(B, dtype=np.int64)
    n_eval = 0
    for it in range(max_iter):
        apply(x, g, None if rows.size == B else rows)
        n_eval += 1
        n_act = anderson_mix(x, g, f_prev, g_prev, dF, dG, gram, hist, it % m if m else 0,
                             rows, tol, res, prev, best, active, _SWITCH, _RESTART, ridge)
        if n_act == 0:
            return n_eval, res
        if n_act < rows.size:
            rows = np.flatnonzero(active).astype(np.int64)
    # residual of the final (mixed) iterate of the rows still active
    apply(x, g, None if rows.size == B else rows)
    n_eval += 1
    tmp = np.empty(rows.size)
    row_max_abs_diff(g[rows], x[rows], tmp)
    res[rows] = tmp
    return n_eval, res


def _newton_polish(W, U, r, res, tol, rows, max_newton: int = 10):
    """Newton's method with backtracking on ``F(r) = r - tanh(W r + u)`` for the
    given rows, in float64 with dense LU solves (N^3 per step per row).  Rows are
    updated only where the residual improves.  Newton converges in a few steps
    when it converges at all, hence the small ``max_newton``."""
    W64 = np.asarray(W, dtype=np.float64)
    eye = np.eye(W64.shape[0])
    for i in rows:
        x = r[i].astype(np.float64)
        u = U[i].astype(np.float64)
        t = np.tanh(W64 @ x + u)
        F = x - t
        for _ in range(max_newton):
            if np.max(np.abs(F)) <= tol or not np.all(np.isfinite(F)):
                break
            J = eye - (1.0 - t * t)[:, None] * W64
            try:
                d = np.linalg.solve(J, F)
            except np.linalg.LinAlgError:
                break
            n2 = float(F @ F)
            alpha, accepted = 1.0, False
            while alpha >= 1e-6:
                xn = x - alpha * d
                tn = np.tanh(W64 @ xn + u)
                Fn = xn - tn
                if float(Fn @ Fn) < (1.0 - 1e-4 * alpha) * n2:
                    accepted = True
                    break
                alpha *= 0.5
            if not accepted:
                break
            x, t, F = xn, tn, Fn
        cand = x.astype(r.dtype)
        new_res = float(np.max(np.abs(cand - np.tanh(W @ cand + U[i]))))
        if new_res < res[i] or not np.isfinite(res[i]):
            r[i] = cand
            res[i] = new_res


def _relax(W, U, eta_d: float, n_steps: int, r0=None):
    r = np.zeros_like(U) if r0 is None else r0.copy()
    z = np.empty_like(U)
    WT = W.T
    eta = U.dtype.type(eta_d)
    for _ in range(n_steps):
        np.matmul(r, WT, out=z)
        z += U
        np.tanh(z, out=z)
        z -= r            # -r + tanh(W r + u), as in the original
        z *= eta
        r += z
    return r


def residual_checked(W, U, r):
    """:func:`fixed_point_residual` on checked arrays of one dtype (no BLAS limit)."""
    t = r @ W.T
    t += U
    np.tanh(t, out=t)
    out = np.empty(r.shape[0])
    row_max_abs_diff(r, t, out)
    return out


def report_failure(n_bad: int, n_total: int, detail: str, on_fail: str, what: str) -> None:
    """Warn (:class:`FixedPointWarning`) or raise (``FloatingPointError``) for
    ``n_bad`` unconverged samples, according to ``on_fail``."""
    if n_bad == 0 or on_fail == "ignore":
        return
    msg = f"{what}: {n_bad} of {n_total} samples did not converge ({detail})"
    if on_fail == "raise":
        raise FloatingPointError(msg)
    warnings.warn(msg, FixedPointWarning, stacklevel=3)


def report_unconverged(fp: "FixedPoint", on_fail: str) -> None:
    """:func:`report_failure` for the unconverged samples of a solve."""
    report_failure(fp.n_unconverged, fp.residual.size,
                   f"tol={fp.tol:g}, {fp.n_iter} iterations, max residual {fp.max_residual:.3g}",
                   on_fail, f"fixed-point solve ({fp.method})")


def check_W(W, dtype=None):
    """``W`` as a C-contiguous finite square matrix of ``dtype`` (default: its own
    floating dtype, else float64); returns ``(W, dtype)``."""
    Wa = np.asarray(W)
    if dtype is None:
        dtype = Wa.dtype if Wa.dtype in (np.float32, np.float64) else np.float64
    dt = check_dtype(dtype)
    if Wa.ndim != 2 or Wa.shape[0] != Wa.shape[1] or Wa.shape[0] < 1:
        raise ValueError(f"W has shape {Wa.shape}; expected a square (N, N) matrix with N >= 1")
    return check_array("W", Wa, Wa.shape, dt), dt


# --------------------------------------------------------------------------- public
def solve_fixed_point(W, U, *, method: str = "converge", tol: float | None = None,
                      max_iter: int = 200, memory: int = 5, newton_max: int = 64,
                      eta_d: float = 0.01, n_steps: int = 500, r0=None, dtype=None,
                      on_fail: str = "warn") -> FixedPoint:
    r"""Fixed points ``r* = tanh(W r* + u)`` for each row ``u`` of ``U``.

    Zhu & Rosenbaum (2023): the network ``tau dr/dt = -r + tanh(W r + W_x x)``
    responds to a static input ``x`` with its fixed point

    .. math:: r^* = \tanh(W r^* + W_x x).

    Parameters
    ----------
    W : (N, N) array
        Recurrent weights.
    U : (B, N) array
        Input drive per sample, ``U = x @ W_x.T``.
    method : {"converge", "relax"}
        ``"converge"``: Anderson-accelerated iteration to ``tol`` plus a Newton
        polish of at most ``newton_max`` leftover samples.  ``"relax"``: the
        original's ``n_steps`` Euler steps of size ``eta_d`` from ``r0`` (zeros).
    tol : float, optional
        Tolerance on ``max |r - tanh(W r + u)|`` per sample (default 1e-8 in
        float64, 1e-5 in float32).  For ``"relax"`` it only decides what is
        reported as converged.
    max_iter : int
        Map evaluations allowed to the Anderson iteration.
    memory : int
        Anderson memory (0 = plain fixed-point iteration).
    newton_max : int
        At most this many unconverged samples get Newton steps (dense LU each).
    eta_d, n_steps : float, int
        Euler step (``dt / tau``) and number of steps of ``"relax"``.
    r0 : (B, N) array, optional
        Initial state (relax: default zeros; converge: default ``tanh(U)``, the
        first iterate from zero).
    dtype : {"float64", "float32"}, optional
        Working precision (default: that of ``W`` if floating, else float64).
    on_fail : {"warn", "raise", "ignore"}
        What to do when samples end above ``tol``: a :class:`FixedPointWarning`,
        a ``FloatingPointError``, or nothing.  The result reports them anyway.

    Returns
    -------
    FixedPoint

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> W = 0.5 * rng.standard_normal((50, 50)) / np.sqrt(50)
    >>> U = rng.standard_normal((8, 50))
    >>> fp = solve_fixed_point(W, U, tol=1e-12)
    >>> fp.n_unconverged, bool(np.allclose(fp.r, np.tanh(fp.r @ W.T + U), atol=1e-12))
    (0, True)
    """
    check_choice("method", method, SOLVERS)
    check_choice("on_fail", on_fail, ON_FAIL)
    W, dt = check_W(W, dtype)
    U = check_array("U", U, (None, W.shape[0]), dt)
    tol = DEFAULT_TOL[dt] if tol is None else check_number("tol", tol, lo=0.0, lo_open=True)
    if r0 is not None:
        r0 = check_array("r0", r0, U.shape, dt)
    if method == "relax":
        eta_d = check_number("eta_d", eta_d, lo=0.0, hi=1.0, lo_open=True)
        n_steps = check_number("n_steps", n_steps, lo=0, integer=True)
    else:
        max_iter = check_number("max_iter", max_iter, lo=1, integer=True)
        memory = check_number("memory", memory, lo=0, hi=50, integer=True)
        newton_max = check_number("newton_max", newton_max, lo=0, integer=True)
    with step_blas_limit():
        fp = solve_checked(W, U, method, tol, max_iter, memory, newton_max, eta_d, n_steps, r0)
    report_unconverged(fp, on_fail)
    return fp


def solve_checked(W, U, method, tol, max_iter, memory, newton_max, eta_d, n_steps, r0=None) -> FixedPoint:
    """:func:`solve_fixed_point` on validated arrays and arguments of one dtype (no BLAS
    limit, no report): for drivers that validate once and solve per batch."""
    if method == "relax":
        r = _relax(W, U, eta_d, n_steps, r0)
        res = residual_checked(W, U, r)
        return FixedPoint(r, res, res <= tol, n_steps, 0, method, tol)
    r = np.tanh(U) if r0 is None else r0.copy()
    n_eval, res = anderson_solve(_tanh_map(np.ascontiguousarray(W.T), U), r,
                                 np.full(U.shape[0], tol), max_iter, memory, RIDGE[U.dtype])
    bad = np.flatnonzero(~(res <= tol))
    n_newton = 0
    if bad.size and newton_max:
        n_newton = int(min(bad.size, newton_max))
        _newton_polish(W, U, r, res, tol, bad[np.argsort(-res[bad], kind="stable")][:n_newton])
    return FixedPoint(r, res, res <= tol, n_eval, n_newton, method, tol)


def fixed_point_residual(W, U, r) -> np.ndarray:
    """``max_j |r - tanh(W r + u)|_j`` for each row (float64 result)."""
    W, dt = check_W(W)
    U = check_array("U", U, (None, W.shape[0]), dt)
    r = check_array("r", r, U.shape, dt)
    with step_blas_limit():
        return residual_checked(W, U, r)
