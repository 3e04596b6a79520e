r"""Learning rules for fixed points (Zhu & Rosenbaum 2023; MODEL.md section 8).

The network's response to input ``x`` is the fixed point
``r* = tanh(W r* + W_x x)``, its logits ``R r*``, the loss the batch-mean
cross-entropy.  With ``G = diag(1 - r*^2)``, ``e = softmax(R r*) - onehot`` and
``delta = R^T e / B`` per sample, each rule returns a direction ``dW`` summed
over the batch, applied as ``W <- W - lr * dW``:

============  ==============================================================
``"dW1"``     ``G (I - W^T G)^{-1} delta r*^T``: the Euclidean gradient
              (implicit function theorem)
``"dW3"``     ``(I - W G) G delta r*^T (I - G W)^T (I - G W)``
``"dW4"``     ``(I - W G) delta r*^T (I - W G)^T (I - W G)``
``"bptt"``    the exact gradient of the loss at the end of the Euler
              relaxation, back-propagated through its ``n_steps`` steps
============  ==============================================================

All rows-as-samples: ``r``, ``delta`` are (B, N).  The per-sample products are
batched into GEMMs, e.g. for dW3, with ``A = g*delta - (g^2*delta) W^T``,
``S = r - g*(r W^T)``, ``C = S - (g*S) W``: ``dW3 = A^T C``.  dW1 needs
``v = (I - W^T G)^{-1} delta`` per sample: the fixed point of the linear map
``v <- delta + W^T (g * v)``, solved by the same Anderson iteration as the
forward problem (a GEMM per iteration for the whole batch instead of B dense
LU factorisations), with a dense solve for samples that do not converge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._threads import step_blas_limit
from .._validate import check_array, check_choice, check_labels, check_number
from ..kernels.common import xent_delta
from .solver import (DEFAULT_TOL, RIDGE, SOLVERS, FixedPoint, anderson_solve, check_W,
                     report_failure, report_unconverged, residual_checked, solve_checked)

RULES = ("dW1", "dW3", "dW4", "bptt")


def check_rule_solver(rule: str, solver: str) -> None:
    """``ValueError`` unless ``rule`` can run with ``solver``: ``"bptt"``
    differentiates the Euler relaxation itself, so it needs ``solver="relax"``.
    The one place this rule is stated (used by :func:`compute_update`,
    :func:`localrnn.fixedpoint.train_mnist` and the grids)."""
    check_choice("rule", rule, RULES)
    check_choice("solver", solver, SOLVERS)
    if rule == "bptt" and solver != "relax":
        raise ValueError(f"rule='bptt' differentiates the Euler relaxation; it needs solver='relax', "
                         f"not solver={solver!r}")


@dataclass(frozen=True)
class Update:
    """One rule evaluation over a batch (:func:`compute_update`).

    ``loss`` and ``accuracy`` are those of the states the rule used (before the
    update); ``fixed_point`` is the solve (for ``"bptt"``: the relaxation's end
    state and its residual); ``adjoint_unconverged`` counts dW1's adjoint
    systems left above tolerance (0 for other rules).
    """

    dW: np.ndarray
    loss: float
    accuracy: float
    fixed_point: FixedPoint
    adjoint_unconverged: int = 0
    adjoint_iter: int = 0


def cross_entropy(R, r, labels):
    """Batch-mean cross-entropy of logits ``r @ R.T`` and its gradient in ``r``.

    Returns ``(loss, accuracy, delta)`` with ``delta = (softmax(R r) - onehot) R / B``
    per row (B, N), i.e. ``dL/dr``.  Uses the shared kernel
    :func:`localrnn.kernels.common.xent_delta` (log-sum-exp shifted).
    """
    r = np.asarray(r)
    dt = r.dtype if r.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    r = check_array("r", r, (None, None), dt)
    R = check_array("R", R, (None, r.shape[1]), dt)
    labels = check_labels("labels", labels, (r.shape[0],), R.shape[0])
    return cross_entropy_checked(R, r, labels)


def cross_entropy_checked(R, r, labels):
    """:func:`cross_entropy` on arrays already checked (one dtype, labels in range)."""
    B = r.shape[0]
    y = r @ R.T
    dy = np.empty_like(y)
    mask = np.ones(B, dtype=y.dtype)
    loss = xent_delta(y, labels, mask, float(B), dy)
    acc = float(np.mean(np.argmax(y, axis=1) == labels)) if B else float("nan")
    return float(loss), acc, dy @ R


# --------------------------------------------------------------------------- rules
def _check_Wr(W, r, delta):
    W, dt = check_W(W)
    r = check_array("r", r, (None, W.shape[0]), dt)
    delta = check_array("delta", delta, r.shape, dt)
    return W, r, delta


def _dW1(W, r, delta, tol, max_iter, memory):
    g = 1.0 - r * r
    B = r.shape[0]

    def apply(x, out, rows):
        if rows is None:
            np.multiply(g, x, out=out)
            tmp = out @ W
            np.add(delta, tmp, out=out)
        else:
            out[rows] = delta[rows] + (g[rows] * x[rows]) @ W

    v = delta.copy()
    scale = np.max(np.abs(delta), axis=1) if B else np.zeros(0)
    tol_rows = tol * scale.astype(np.float64)
    n_eval, res = anderson_solve(apply, v, tol_rows, max_iter, memory, RIDGE[W.dtype])
    bad = np.flatnonzero(~(res <= tol_rows))
    if bad.size:
        eye = np.eye(W.shape[0])
        W64 = W.astype(np.float64)
        for i in bad:
            try:
                v[i] = np.linalg.solve(eye - W64.T * g[i].astype(np.float64)[None, :],
                                       delta[i].astype(np.float64))
            except np.linalg.LinAlgError:
                continue
            rr = v[i] - delta[i] - (g[i] * v[i]) @ W
            res[i] = float(np.max(np.abs(rr)))
    n_bad = int(np.count_nonzero(~(res <= np.maximum(tol_rows, 1e3 * np.finfo(W.dtype).eps * scale))))
    return (g * v).T @ r, n_bad, n_eval


def rule_dW1(W, r, delta, *, tol: float | None = None, max_iter: int = 200, memory: int = 5):
    r"""dW1, the Euclidean gradient at a fixed point (implicit function theorem).

    .. math:: \frac{\partial L}{\partial W} = \sum_b G_b (I - W^T G_b)^{-1} \delta_b r_b^T,
              \qquad G_b = \mathrm{diag}(1 - r_b^2)

    Parameters
    ----------
    W : (N, N) array
    r : (B, N) array
        Fixed points, one per row.
    delta : (B, N) array
        ``dL/dr`` per row (:func:`cross_entropy`).
    tol : float, optional
        Relative tolerance of the adjoint solves ``(I - W^T G_b) v_b = delta_b``
        (``max |residual| <= tol * max |delta_b|``; default as the forward solve).
    max_iter, memory : int
        Anderson iteration budget and memory for the adjoint solves.

    Returns
    -------
    dW : (N, N) array
    n_unconverged : int
        Adjoint systems left above tolerance after a dense-solve fallback.
    n_eval : int
        Batch evaluations of the adjoint map.

    Examples
    --------
    >>> from localrnn.fixedpoint import solve_fixed_point
    >>> rng = np.random.default_rng(1)
    >>> W = 0.5 * rng.standard_normal((20, 20)) / np.sqrt(20)
    >>> r = solve_fixed_point(W, rng.standard_normal((4, 20)), tol=1e-13).r
    >>> d = rng.standard_normal((4, 20))
    >>> dW, bad, _ = rule_dW1(W, r, d, tol=1e-13)
    >>> G = np.diag(1 - r[0] ** 2)
    >>> ref = G @ np.linalg.solve(np.eye(20) - W.T @ G, d[0])
    >>> bool(np.allclose(rule_dW1(W, r[:1], d[:1], tol=1e-13)[0], np.outer(ref, r[0])))
    True
    """
    W, r, delta = _check_Wr(W, r, delta)
    tol = DEFAULT_TOL[W.dtype] if tol is None else check_number("tol", tol, lo=0.0, lo_open=True)
    max_iter = check_number("max_iter", max_iter, lo=1, integer=True)
    memory = check_number("memory", memory, lo=0, hi=50, integer=True)
    with step_blas_limit():
        return _dW1(W, r, delta, tol, max_iter, memory)


def _dW3(W, r, delta):
    g = 1.0 - r * r
    A = g * delta
    A -= (g * A) @ W.T                 # (I - W G) G delta
    S = r @ W.T
    S *= -g
    S += r                             # (I - G W) r
    C = S - (g * S) @ W                # (I - G W)^T (I - G W) r
    return A.T @ C


def _dW4(W, r, delta):
    g = 1.0 - r * r
    A = delta - (g * delta) @ W.T      # (I - W G) delta
    S = r - (g * r) @ W.T              # (I - W G) r
    C = S @ W
    C *= -g
    C += S                             # (I - W G)^T (I - W G) r
    return A.T @ C


def rule_dW3(W, r, delta):
    r"""dW3, the reparameterised rule (steepest descent under a non-Euclidean metric).

    .. math:: \Delta W_3 = \sum_b (I - W G_b) G_b \delta_b r_b^T (I - G_b W)^T (I - G_b W)

    Per sample this is ``P_b dW1_b Q_b`` with ``P_b = (I - W G_b)(I - W G_b)^T``,
    ``Q_b = (I - G_b W)^T (I - G_b W)`` (both positive semi-definite), so each
    sample's contribution is a descent direction.  ``W``, ``r``, ``delta`` as in
    :func:`rule_dW1`.  Five GEMMs, no solve.
    """
    W, r, delta = _check_Wr(W, r, delta)
    return _dW3(W, r, delta)


def rule_dW4(W, r, delta):
    r"""dW4, the reparameterised gradient-descent variant.

    .. math:: \Delta W_4 = \sum_b (I - W G_b) \delta_b r_b^T (I - W G_b)^T (I - W G_b)

    Per sample ``P_b dW1_b Q_b`` with ``P_b = (I - W G_b) G_b^{-1} (I - W G_b)^T``
    and ``Q_b = (I - W G_b)^T (I - W G_b)``.  ``W``, ``r``, ``delta`` as in
    :func:`rule_dW1`.
    """
    W, r, delta = _check_Wr(W, r, delta)
    return _dW4(W, r, delta)


def _bptt(W, U, R, labels, eta_d, n_steps, segment):
    B, N = U.shape
    dt = U.dtype
    eta = dt.type(eta_d)
    K = segment if segment else max(1, int(math.ceil(math.sqrt(max(n_steps, 1)))))
    n_seg = (n_steps + K - 1) // K
    WT = W.T
    ckpt = np.empty((max(n_seg, 1), B, N), dt)
    r = np.zeros((B, N), dt)
    z = np.empty_like(r)
    for k in range(n_steps):
        if k % K == 0:
            ckpt[k // K] = r
        np.matmul(r, WT, out=z)
        z += U
        np.tanh(z, out=z)
        z -= r
        z *= eta
        r += z
    loss, acc, lam = cross_entropy_checked(R, r, labels)
    dW = np.zeros((N, N), dt)
    rs = np.empty((K, B, N), dt)
    gl = np.empty((K, B, N), dt)
    for s in range(n_seg - 1, -1, -1):
        k0 = s * K
        L = min(K, n_steps - k0)
        x = ckpt[s].copy()
        for j in range(L):                        # recompute the segment
            rs[j] = x
            np.matmul(x, WT, out=z)
            z += U
            np.tanh(z, out=gl[j])                 # t_k = tanh(z_k)
            x += eta * (gl[j] - x)
        for j in range(L - 1, -1, -1):
            t = gl[j]
            t *= t
            np.subtract(1.0, t, out=t)            # g_k = 1 - t_k^2
            t *= lam                              # g_k * lam_{k+1}
            lam = (1.0 - eta) * lam + eta * (t @ W)
        dW += eta * (gl[:L].reshape(-1, N).T @ rs[:L].reshape(-1, N))
    return dW, loss, acc, r


def rule_bptt(W, U, R, labels, *, eta_d: float = 0.01, n_steps: int = 500,
              segment: int | None = None):
    r"""Exact gradient through the unrolled Euler relaxation (BPTT).

    Forward ``r_{k+1} = r_k + eta_d (tanh(W r_k + u) - r_k)``, ``r_0 = 0``, loss
    at ``r_n``.  Backward with ``lambda_n = dL/dr_n``:

    .. math::
        \lambda_k = (1 - \eta_d) \lambda_{k+1} + \eta_d W^T (g_k \odot \lambda_{k+1}),
        \qquad \frac{\partial L}{\partial W} = \eta_d \sum_k (g_k \odot \lambda_{k+1}) r_k^T

    with ``g_k = 1 - tanh^2(W r_k + u)``.  States are checkpointed every
    ``segment`` steps (default ``ceil(sqrt(n_steps))``) and recomputed per segment,
    so memory is O((n/segment + segment) B N) instead of O(n B N).

    Returns ``(dW, loss, accuracy, r_n)``.
    """
    W, dt = check_W(W)
    U = check_array("U", U, (None, W.shape[0]), dt)
    R = check_array("R", R, (None, W.shape[0]), dt)
    labels = check_labels("labels", labels, (U.shape[0],), R.shape[0])
    eta_d = check_number("eta_d", eta_d, lo=0.0, hi=1.0, lo_open=True)
    n_steps = check_number("n_steps", n_steps, lo=0, integer=True)
    if segment is not None:
        segment = check_number("segment", segment, lo=1, integer=True)
    with step_blas_limit():
        return _bptt(W, U, R, labels, eta_d, n_steps, segment)


def compute_update(rule: str, W, U, R, labels, *, solver: str = "converge",
                   tol: float | None = None, max_iter: int = 200, memory: int = 5,
                   eta_d: float = 0.01, n_steps: int = 500, dtype=None,
                   on_fail: str = "warn") -> Update:
    """Solve for the fixed points of a batch and evaluate a rule there.

    ``rule`` is one of ``"dW1"``, ``"dW3"``, ``"dW4"`` (at the states returned
    by ``solver``, see :func:`solve_fixed_point` for the solver arguments) or
    ``"bptt"`` (which differentiates the relaxation itself and so needs
    ``solver="relax"``).  ``U = x @ W_x.T`` (B, N), ``R`` the readout (O, N),
    ``labels`` (B,) in ``0..O-1``.  Returns an :class:`Update`; apply it as
    ``W -= lr * update.dW``.
    """
    check_choice("rule", rule, RULES)
    check_choice("solver", solver, SOLVERS)
    check_rule_solver(rule, solver)
    W, dt = check_W(W, dtype)
    U = check_array("U", U, (None, W.shape[0]), dt)
    R = check_array("R", R, (None, W.shape[0]), dt)
    labels = check_labels("labels", labels, (U.shape[0],), R.shape[0])
    tol = DEFAULT_TOL[dt] if tol is None else check_number("tol", tol, lo=0.0, lo_open=True)
    eta_d = check_number("eta_d", eta_d, lo=0.0, hi=1.0, lo_open=True)
    n_steps = check_number("n_steps", n_steps, lo=0, integer=True)
    max_iter = check_number("max_iter", max_iter, lo=1, integer=True)
    memory = check_number("memory", memory, lo=0, hi=50, integer=True)
    with step_blas_limit():
        up = update_checked(rule, W, U, R, labels, solver, tol, max_iter, memory, eta_d, n_steps)
    report_unconverged(up.fixed_point, on_fail)
    report_failure(up.adjoint_unconverged, U.shape[0],
                   f"relative tol={tol:g}, {up.adjoint_iter} iterations", on_fail, "dW1 adjoint solve")
    return up


def update_checked(rule, W, U, R, labels, solver, tol, max_iter, memory, eta_d, n_steps,
                    newton_max=64) -> Update:
    """:func:`compute_update` on validated arrays and arguments (no BLAS limit, no
    warnings): for drivers that validate once and call it per batch."""
    if rule == "bptt":
        dW, loss, acc, r = _bptt(W, U, R, labels, eta_d, n_steps, None)
        res = residual_checked(W, U, r)
        return Update(dW, loss, acc, FixedPoint(r, res, res <= tol, n_steps, 0, "relax", tol))
    fp = solve_checked(W, U, solver, tol, max_iter, memory, newton_max, eta_d, n_steps)
    loss, acc, delta = cross_entropy_checked(R, fp.r, labels)
    if rule == "dW1":
        dW, n_bad, n_eval = _dW1(W, fp.r, delta, tol, max_iter, memory)
        return Update(dW, loss, acc, fp, n_bad, n_eval)
    dW = _dW3(W, fp.r, delta) if rule == "dW3" else _dW4(W, fp.r, delta)
    return Update(dW, loss, acc, fp)
