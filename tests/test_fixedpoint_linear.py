"""The linear example of Zhu & Rosenbaum (2023): r = (I - W)^{-1} x, rules dW1, dW2, dW3."""
import numpy as np
import pytest

from helpers import RTOL_EXACT
from localrnn.fixedpoint import (LinearProblem, linear_loss, linear_problem, linear_step,
                                 train_linear)

#: central differences, h = 1e-6 on a loss of order 1e-1 (see test_fixedpoint.RTOL_FD)
RTOL_FD = 1e-6
LRS = (0.03, 0.1, 0.3, 1.0, 3.0)          # the original's grid


def rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def test_problem_is_seeded_and_the_target_fits_to_the_noise():
    p = linear_problem(40, 20, seed=3)
    q = linear_problem(40, 20, seed=3)
    for k in ("X", "R_hat", "W_target", "W0"):
        # a rerun: same seed, same draws
        np.testing.assert_array_equal(getattr(p, k), getattr(q, k))
    # J(W_target) = (1/m) ||noise||^2 ~ n sigma_r^2
    assert linear_loss(p.W_target, p.X, p.R_hat) == pytest.approx(40 * 0.01 ** 2, rel=0.3)
    assert linear_loss(p.W0, p.X, p.R_hat) > 10 * linear_loss(p.W_target, p.X, p.R_hat)


def test_dW1_is_the_gradient(rng):
    p = linear_problem(8, 5, seed=1)
    lr = 1e-3
    W1, _ = linear_step("dW1", p.W0, p.X, p.R_hat, lr)
    grad = (p.W0 - W1) / lr
    h = 1e-6
    fd = np.empty_like(grad)
    for i in range(8):
        for j in range(8):
            E = np.zeros((8, 8))
            E[i, j] = h
            fd[i, j] = (linear_loss(p.W0 + E, p.X, p.R_hat) - linear_loss(p.W0 - E, p.X, p.R_hat)) / (2 * h)
    assert rel(grad, fd) < RTOL_FD


def test_dW2_is_gradient_descent_on_A_and_keeps_A_consistent():
    p = linear_problem(12, 6, seed=2)
    lr, m = 0.3, 6
    W, A = p.W0.copy(), None
    A_ref = np.linalg.inv(np.eye(12) - p.W0)
    for _ in range(25):
        W, A = linear_step("dW2", W, p.X, p.R_hat, lr, A)
        A_ref = A_ref - lr * (2 / m) * (A_ref @ p.X - p.R_hat) @ p.X.T
        # A = (I - W)^{-1} after every update ...
        assert rel(A @ (np.eye(12) - W), np.eye(12)) < RTOL_EXACT
        assert rel(np.linalg.inv(np.eye(12) - W), A) < 1e-9
    # ... and A follows plain gradient descent on J(A) = (1/m)||A X - Rhat||^2
    assert rel(A, A_ref) < RTOL_EXACT
    run = train_linear(p, "dW2", lr, 25, eig_every=5)
    assert rel(run.A, A_ref) < RTOL_EXACT
    E = A_ref @ p.X - p.R_hat
    assert run.loss[-1] == pytest.approx(np.sum(E * E) / m, rel=1e-12)
    assert run.loss[-1] == pytest.approx(linear_loss(run.W, p.X, p.R_hat), rel=1e-9)


def test_dW3_is_its_formula_and_the_linearisation_of_dW2():
    p = linear_problem(10, 7, seed=4)
    W, X, R, m = p.W0, p.X, p.R_hat, 7
    ImW = np.eye(10) - W
    A = np.linalg.inv(ImW)
    ref = -(2 / m) * ImW @ (A @ X - R) @ X.T @ ImW
    for lr in (1e-2, 1.0):
        W3, A3 = linear_step("dW3", W, X, R, lr)
        assert A3 is None
        assert rel((W3 - W) / lr, ref) < RTOL_EXACT
    # dW2's step differs from dW3's at second order in lr
    errs = []
    for lr in (1e-3, 1e-4):
        W2, _ = linear_step("dW2", W, X, R, lr)
        W3, _ = linear_step("dW3", W, X, R, lr)
        errs.append(np.max(np.abs(W2 - W3)))
    assert errs[1] < errs[0] / 50


def test_reparameterised_rules_beat_dW1_at_their_best_learning_rates():
    """The original's claim (n = 200, m = 100, 3500 iterations) at reduced size:
    n = 30, m = 15, 300 iterations, same learning-rate grid, three seeds."""
    for seed in (0, 1, 2):
        p = linear_problem(30, 15, seed=seed)
        best = {}
        for rule in ("dW1", "dW2", "dW3"):
            finals = [train_linear(p, rule, lr, 300, eig_every=10**6).loss[-1] for lr in LRS]
            best[rule] = np.nanmin(finals)
        assert best["dW2"] < 0.1 * best["dW1"], (seed, best)
        assert best["dW3"] < 0.1 * best["dW1"], (seed, best)


@pytest.mark.parametrize("rule", ["dW1", "dW2", "dW3"])
def test_a_singular_network_is_reported_not_a_crash(rule):
    """W with an eigenvalue 1 makes I - W singular (the loss surface's singularity)."""
    p = linear_problem(6, 4, seed=0)
    p = LinearProblem(p.X, p.R_hat, p.W_target, np.eye(6))
    calls = []
    run = train_linear(p, rule, 0.1, 5, callback=lambda k, L: calls.append(k))
    assert run.diverged_at == 0 and run.loss[0] == np.inf and np.all(np.isnan(run.loss[1:]))
    assert calls == [5]                      # progress is told the run is over


def test_history_records_eigenvalues():
    p = linear_problem(15, 8, seed=5)
    run = train_linear(p, "dW3", 0.3, 20, eig_every=7)
    np.testing.assert_array_equal(run.eig_iter, [0, 7, 14, 20])
    assert run.max_re_eig[0] == pytest.approx(np.max(np.linalg.eigvals(p.W0).real))
    assert run.max_re_eig[-1] == pytest.approx(np.max(np.linalg.eigvals(run.W).real))
    assert run.diverged_at is None and run.loss.shape == (21,)


@pytest.mark.parametrize("args, match", [
    (("dW4", 0.1), "rule='dW4' is not allowed"),
    (("dW1", 0.0), "lr=0.0 is out of range"),
    (("dW1", float("inf")), "lr=inf must be finite"),
])
def test_bad_arguments(args, match):
    p = linear_problem(5, 3)
    with pytest.raises(ValueError, match=match):
        train_linear(p, *args, 3)
