r"""The linear example of Zhu & Rosenbaum (2023) (MODEL.md section 8).

A linear network ``r = G (W r + x)`` with ``G = I`` responds to ``x`` with
``r = A x``, ``A = (I - W)^{-1}``.  Given m inputs ``X`` (n, m) and noisy target
responses ``Rhat = Ahat X + noise``, the loss is

.. math:: J(W) = \frac{1}{m} \| A X - \hat R \|_F^2 .

Rules (each one step with learning rate ``lr``):

``"dW1"``  gradient descent in W: ``W <- W - lr (2/m) A^T (A X - Rhat) (A X)^T``
``"dW2"``  gradient descent in A, mapped back: ``A <- A - lr (2/m)(A X - Rhat) X^T``,
           then ``W = I - A^{-1}``
``"dW3"``  its linearisation in W: ``W <- W - lr (2/m)(I - W)(A X - Rhat) X^T (I - W)``
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import scipy.linalg as sla

from .._threads import step_blas_limit
from .._validate import check_array, check_choice, check_number

LINEAR_RULES = ("dW1", "dW2", "dW3")


@dataclass(frozen=True)
class LinearProblem:
    """Data of the linear example: inputs ``X`` (n, m), targets ``R_hat`` (n, m),
    the target weights ``W_target`` and the initial weights ``W0`` (n, n)."""

    X: np.ndarray
    R_hat: np.ndarray
    W_target: np.ndarray
    W0: np.ndarray
    config: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def m(self) -> int:
        return self.X.shape[1]


@dataclass
class LinearRun:
    """History of :func:`train_linear`.

    ``loss`` has ``n_iter + 1`` entries (before the first step and after each);
    ``eig_iter``/``max_re_eig`` hold the largest real part of the eigenvalues
    of W at those iterations; ``diverged_at`` is the first iteration whose loss
    was not finite because ``I - W`` was singular or overflowed (0: already
    ``W0``), else ``None``; ``W`` is the last weights with a finite loss and
    ``A = (I - W)^{-1}`` (dW2 only).
    """

    rule: str
    lr: float
    loss: np.ndarray
    eig_iter: np.ndarray
    max_re_eig: np.ndarray
    W: np.ndarray
    A: Optional[np.ndarray]
    diverged_at: Optional[int]


def linear_problem(n: int = 200, m: int = 100, *, sigma_x: float = 0.1, sigma_r: float = 0.01,
                   g_target: float = 0.5, g_init: float = 0.75, seed: int = 0) -> LinearProblem:
    """The original setup: ``X ~ N(0, sigma_x^2)`` (n, m), ``W_target = g_target Z/sqrt(n)``,
    ``R_hat = (I - W_target)^{-1} X + sigma_r * noise``, ``W0 = g_init Z'/sqrt(n)``.

    Draws from ``numpy.random.default_rng(seed)`` in the order X, W_target,
    noise, W0 (the original's order).

    Examples
    --------
    >>> p = linear_problem(20, 10, seed=1)
    >>> p.X.shape, p.R_hat.shape, p.W0.shape
    ((20, 10), (20, 10), (20, 20))
    """
    n = check_number("n", n, lo=1, integer=True)
    m = check_number("m", m, lo=1, integer=True)
    sigma_x = check_number("sigma_x", sigma_x, lo=0.0, lo_open=True)
    sigma_r = check_number("sigma_r", sigma_r, lo=0.0)
    g_target = check_number("g_target", g_target, lo=0.0)
    g_init = check_number("g_init", g_init, lo=0.0)
    seed = check_number("seed", seed, lo=0, integer=True)
    rng = np.random.default_rng(seed)
    X = sigma_x * rng.standard_normal((n, m))
    W_target = g_target * rng.standard_normal((n, n)) / np.sqrt(n)
    R_hat = np.linalg.solve(np.eye(n) - W_target, X) + sigma_r * rng.standard_normal((n, m))
    W0 = g_init * rng.standard_normal((n, n)) / np.sqrt(n)
    cfg = dict(n=n, m=m, sigma_x=sigma_x, sigma_r=sigma_r, g_target=g_target, g_init=g_init, seed=seed)
    return LinearProblem(X, R_hat, W_target, W0, cfg)


def _lu(W):
    n = W.shape[0]
    with warnings.catch_warnings():   # a singular I - W is turned into LinAlgError below
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        lu = sla.lu_factor(np.eye(n) - W, check_finite=False)
    if not np.all(np.isfinite(lu[0])) or np.min(np.abs(np.diag(lu[0]))) == 0.0:
        raise np.linalg.LinAlgError("I - W is singular")
    return lu


def linear_loss(W, X, R_hat) -> float:
    """``J = (1/m) ||(I - W)^{-1} X - R_hat||_F^2`` (``inf`` if ``I - W`` is singular)."""
    W = np.asarray(W, dtype=np.float64)
    try:
        E = sla.lu_solve(_lu(W), X, check_finite=False) - R_hat
    except np.linalg.LinAlgError:
        return float("inf")
    return float(np.sum(E * E) / X.shape[1])


def _loss_lu(lu, X, R_hat):
    E = sla.lu_solve(lu, X, check_finite=False) - R_hat
    return float(np.sum(E * E) / X.shape[1])


def _step(rule, W, state, X, R_hat, lr):
    """One step from ``W``; ``state`` is ``A = (I - W)^{-1}`` for dW2, else the LU
    factors of ``I - W``.  Returns ``(W, state, loss after the step)``."""
    m = X.shape[1]
    c = 2.0 * lr / m
    if rule == "dW2":
        A = state
        A = A - c * ((A @ X - R_hat) @ X.T)
        W = np.eye(W.shape[0]) - np.linalg.inv(A)
        E = A @ X - R_hat
        return W, A, float(np.sum(E * E) / m)
    lu = state
    AX = sla.lu_solve(lu, X, check_finite=False)
    E = AX - R_hat
    if rule == "dW1":
        W = W - c * (sla.lu_solve(lu, E, trans=1, check_finite=False) @ AX.T)
    else:  # dW3
        ImW = np.eye(W.shape[0]) - W
        W = W - c * (ImW @ E) @ (X.T @ ImW)
    lu = _lu(W)
    return W, lu, _loss_lu(lu, X, R_hat)


def _initial_state(rule, W):
    return np.linalg.inv(np.eye(W.shape[0]) - W) if rule == "dW2" else _lu(W)


def linear_step(rule: str, W, X, R_hat, lr: float, A=None):
    """One update of the linear example; returns ``(W, A)``.

    ``A`` (for ``"dW2"``) is the current ``(I - W)^{-1}``, computed from ``W`` when
    not given; the returned ``A`` is the updated one (``None`` for dW1, dW3).
    """
    check_choice("rule", rule, LINEAR_RULES)
    lr = check_number("lr", lr, lo=0.0, lo_open=True)
    W = check_array("W", W, (None, None), np.float64)
    n = W.shape[0]
    X = check_array("X", X, (n, None), np.float64)
    R_hat = check_array("R_hat", R_hat, X.shape, np.float64)
    state = (np.linalg.inv(np.eye(n) - W) if A is None else check_array("A", A, (n, n), np.float64)) \
        if rule == "dW2" else _lu(W)
    with step_blas_limit():
        W, state, _ = _step(rule, W, state, X, R_hat, lr)
    return W, (state if rule == "dW2" else None)


def train_linear(problem: LinearProblem, rule: str, lr: float, n_iter: int = 3500, *,
                 eig_every: int = 50, callback: Callable[[int, float], None] | None = None) -> LinearRun:
    """Train the linear example with one rule and learning rate.

    ``n_iter`` steps from ``problem.W0``; the loss after every step, and
    ``max Re eig(W)`` every ``eig_every`` steps (and at the end).  A run whose
    loss stops being finite (W crosses ``I - W`` singular) stops there, with the
    remaining losses NaN and ``diverged_at`` set.  ``callback(k, loss)`` is called
    after each step.

    Examples
    --------
    >>> p = linear_problem(30, 15, seed=0)
    >>> run = train_linear(p, "dW3", 0.3, 200)
    >>> bool(run.loss[-1] < run.loss[0])
    True
    """
    check_choice("rule", rule, LINEAR_RULES)
    lr = check_number("lr", lr, lo=0.0, lo_open=True)
    n_iter = check_number("n_iter", n_iter, lo=0, integer=True)
    eig_every = check_number("eig_every", eig_every, lo=1, integer=True)
    X, R_hat = problem.X, problem.R_hat
    W = problem.W0.copy()
    loss = np.full(n_iter + 1, np.nan)
    loss[0] = linear_loss(W, X, R_hat)
    eig_it, eig_val = [0], [float(np.max(np.linalg.eigvals(W).real))]
    diverged = None
    state = None
    with np.errstate(over="ignore", invalid="ignore"), step_blas_limit():
        try:
            state = _initial_state(rule, W)
        except (np.linalg.LinAlgError, ValueError):
            diverged = 0
        for k in range(1, n_iter + 1 if diverged is None else 1):
            try:
                W_new, state_new, L = _step(rule, W, state, X, R_hat, lr)
            except (np.linalg.LinAlgError, ValueError):
                L = float("nan")
            if not np.isfinite(L):
                diverged = k
                break
            W, state = W_new, state_new
            loss[k] = L
            if k % eig_every == 0 or k == n_iter:
                eig_it.append(k)
                eig_val.append(float(np.max(np.linalg.eigvals(W).real)))
            if callback is not None:
                callback(k, L)
    if diverged is not None and callback is not None:
        callback(n_iter, float("nan"))
    A = state if rule == "dW2" else None
    return LinearRun(rule, lr, loss, np.array(eig_it), np.array(eig_val), W, A, diverged)
