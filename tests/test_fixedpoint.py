"""Fixed-point solver and learning rules (Zhu & Rosenbaum 2023; MODEL.md section 8).

References are independent: per-sample NumPy loops with explicit diagonal
matrices and dense solves, central finite differences of the loss at the
converged fixed point, and PyTorch autograd through the relaxation.
"""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import RTOL_EXACT
from localrnn.fixedpoint import (FixedPointWarning, compute_update, cross_entropy,
                                 fixed_point_residual, rule_bptt, rule_dW1, rule_dW3, rule_dW4,
                                 solve_fixed_point)

#: central differences with h = 1e-5 in float64: truncation O(h^2 L''') ~ 1e-10
#: and rounding O(eps L / h) ~ 1e-11 relative; measured 3e-10.
RTOL_FD = 1e-7
#: float32 solve vs float64: tol 1e-5 on the residual, amplified by (I - G W)^{-1}.
ATOL_F32_STATE = 1e-4


def residual_rounding(W, U, r):
    """Per row, how far two evaluations of ``max_j |r - tanh(W r + u)|_j`` may differ
    when they reach BLAS through different call shapes or thread counts (so sum in a
    different order): each ``z = W r + u`` is within ``gamma_{N+1} (|W||r| + |u|)`` of
    the exact value (Higham, Accuracy and Stability, Thm 3.5), so the two differ by at
    most twice that; tanh is 1-Lipschitz and rounds within 1 ulp of a value <= 1, and
    the subtraction adds 1 ulp: 4 eps for the two sides."""
    eps = np.finfo(W.dtype).eps
    n = W.shape[0] + 1
    gamma = n * eps / (1 - n * eps)
    return 2 * gamma * np.max(np.abs(r) @ np.abs(W).T + np.abs(U), axis=1) + 4 * eps


def problem(rng, N=24, B=6, O=4, gain=0.6):
    W = gain * rng.standard_normal((N, N)) / np.sqrt(N)
    U = rng.standard_normal((B, N))
    R = rng.standard_normal((O, N)) / np.sqrt(N)
    y = rng.integers(0, O, B)
    return W, U, R, y


def rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def naive_rules(W, r, delta):
    """dW1, dW3, dW4 of MODEL.md section 8, one sample at a time with np.diag."""
    N = W.shape[0]
    eye = np.eye(N)
    d1, d3, d4 = (np.zeros((N, N)) for _ in range(3))
    for b in range(r.shape[0]):
        G = np.diag(1.0 - r[b] ** 2)
        outer = np.outer(delta[b], r[b])
        d1 += G @ np.linalg.inv(eye - W.T @ G) @ outer
        d3 += (eye - W @ G) @ G @ outer @ (eye - G @ W).T @ (eye - G @ W)
        d4 += (eye - W @ G) @ outer @ (eye - W @ G).T @ (eye - W @ G)
    return d1, d3, d4


# --------------------------------------------------------------------------- solver
@pytest.mark.parametrize("memory", [0, 5])
def test_converge_reaches_the_fixed_point(rng, memory):
    W, U, _, _ = problem(rng, N=40, B=9)
    fp = solve_fixed_point(W, U, tol=1e-13, memory=memory)
    assert fp.n_unconverged == 0 and fp.converged.all()
    # the solver met tol with its own GEMMs; this re-evaluation rounds differently
    assert np.all(np.max(np.abs(fp.r - np.tanh(fp.r @ W.T + U)), axis=1)
                  <= 1e-13 + residual_rounding(W, U, fp.r))
    # two code paths: the solver's residual comes from its last Anderson step (a GEMM over the
    # still-active rows against a contiguous W^T), fixed_point_residual from one r @ W.T over the
    # batch; they round differently (6e-16 apart on OpenBLAS SkylakeX), within this bound
    assert np.all(np.abs(fp.residual - fixed_point_residual(W, U, fp.r)) <= residual_rounding(W, U, fp.r))
    # the plain iteration from zero, run to machine precision, lands on the same point
    r = np.zeros_like(U)
    for _ in range(400):
        r = np.tanh(r @ W.T + U)
    np.testing.assert_allclose(fp.r, r, rtol=0, atol=1e-12)


def test_relax_is_the_original_euler_scheme(rng):
    W, U, _, _ = problem(rng)
    eta, n = 0.05, 37
    from localrnn._threads import step_blas_limit

    r = np.zeros_like(U)
    with step_blas_limit():    # the solver's BLAS thread limit, so the GEMMs below are its GEMMs
        for _ in range(n):
            r = r + eta * (-r + np.tanh(r @ W.T + U))
    fp = solve_fixed_point(W, U, method="relax", eta_d=eta, n_steps=n, on_fail="ignore")
    # the same computation: the same (B, N) x (N, N)^T GEMM per step under the same thread
    # limit, then the same elementwise operations in the same order (t - r == -r + t exactly)
    np.testing.assert_array_equal(fp.r, r)
    assert fp.n_iter == n
    # 37 steps of 0.05 do not reach the fixed point, and the result says so
    assert fp.n_unconverged == U.shape[0] and fp.max_residual > 1e-3
    np.testing.assert_allclose(fp.residual, np.max(np.abs(r - np.tanh(r @ W.T + U)), axis=1), rtol=1e-14)


def test_relax_with_enough_steps_converges_to_the_same_point(rng):
    W, U, _, _ = problem(rng)
    fp = solve_fixed_point(W, U, tol=1e-13)
    rx = solve_fixed_point(W, U, method="relax", eta_d=0.5, n_steps=300, tol=1e-12)
    assert rx.n_unconverged == 0
    np.testing.assert_allclose(rx.r, fp.r, rtol=0, atol=1e-12)


def test_unconverged_samples_are_reported_not_hidden(rng):
    N = 30
    W = 3.0 * rng.standard_normal((N, N)) / np.sqrt(N)   # chaotic: plain iteration cannot settle
    U = 0.1 * rng.standard_normal((5, N))
    with pytest.warns(FixedPointWarning, match=r"samples did not converge"):
        fp = solve_fixed_point(W, U, max_iter=3, memory=0, newton_max=0)
    assert fp.n_unconverged > 0
    assert np.all(fp.converged == (fp.residual <= fp.tol))
    np.testing.assert_allclose(fp.residual, fixed_point_residual(W, U, fp.r), rtol=1e-12)
    with pytest.raises(FloatingPointError, match="did not converge"):
        solve_fixed_point(W, U, max_iter=3, memory=0, newton_max=0, on_fail="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_fixed_point(W, U, max_iter=3, memory=0, newton_max=0, on_fail="ignore")


def test_anderson_and_newton_handle_an_eigenvalue_beyond_one(rng):
    """A learned low-rank part with eigenvalue 1.05: the plain iteration diverges
    along it for small inputs; Anderson (with the Newton polish) converges."""
    N = 60
    Q = np.linalg.qr(rng.standard_normal((N, 2)))[0]
    W = 0.4 * rng.standard_normal((N, N)) / np.sqrt(N) + 1.05 * Q @ Q.T
    U = 0.02 * rng.standard_normal((8, N))
    plain = solve_fixed_point(W, U, tol=1e-10, memory=0, max_iter=150, newton_max=0, on_fail="ignore")
    fp = solve_fixed_point(W, U, tol=1e-10, max_iter=150)
    assert plain.n_unconverged > 0
    assert fp.n_unconverged == 0
    # the solver met tol with its own GEMMs; this re-evaluation rounds differently
    assert np.all(np.max(np.abs(fp.r - np.tanh(fp.r @ W.T + U)), axis=1)
                  <= 1e-10 + residual_rounding(W, U, fp.r))


def test_float32_solve_matches_float64(rng):
    W, U, _, _ = problem(rng, N=50, B=10)
    f64 = solve_fixed_point(W, U, tol=1e-12)
    f32 = solve_fixed_point(W.astype(np.float32), U.astype(np.float32))
    assert f32.r.dtype == np.float32 and f32.tol == 1e-5 and f32.n_unconverged == 0
    np.testing.assert_allclose(f32.r, f64.r, rtol=0, atol=ATOL_F32_STATE)


@pytest.mark.parametrize("kw, match", [
    (dict(method="newton"), "method='newton' is not allowed"),
    (dict(tol=0.0), "tol=0.0 is out of range"),
    (dict(tol=float("nan")), "tol=nan must be finite"),
    (dict(max_iter=0), "max_iter=0 is out of range"),
    (dict(method="relax", eta_d=1.5), "eta_d=1.5 is out of range"),
    (dict(on_fail="maybe"), "on_fail='maybe' is not allowed"),
])
def test_solver_rejects_bad_arguments(rng, kw, match):
    W, U, _, _ = problem(rng)
    with pytest.raises(ValueError, match=match):
        solve_fixed_point(W, U, **kw)


def test_solver_rejects_bad_arrays(rng):
    W, U, _, _ = problem(rng)
    with pytest.raises(ValueError, match=r"W has shape \(24, 23\)"):
        solve_fixed_point(W[:, :-1], U)
    with pytest.raises(ValueError, match=r"U has shape \(6, 23\)"):
        solve_fixed_point(W, U[:, :-1])
    bad = U.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"U has a non-finite value inf at index \(1, 2\)"):
        solve_fixed_point(W, bad)


@settings(max_examples=25, deadline=None)
@given(B=st.integers(0, 4), N=st.integers(1, 6), gain=st.floats(0.0, 0.9),
       scale=st.floats(0.0, 30.0), seed=st.integers(0, 2**16))
def test_solver_edge_cases(B, N, gain, scale, seed):
    """Batches of 0 or 1, one unit, W = 0, saturating inputs: always converges
    (the map is a contraction when ||W|| < 1) and the residual is what it says."""
    rng = np.random.default_rng(seed)
    W = gain * rng.standard_normal((N, N)) / np.sqrt(N)
    W *= min(1.0, 0.95 / max(np.linalg.norm(W, 2), 1e-300))
    U = scale * rng.standard_normal((B, N))
    fp = solve_fixed_point(W, U, tol=1e-12)
    assert fp.r.shape == (B, N) and fp.n_unconverged == 0
    assert np.all(np.abs(fp.r) <= 1.0)
    if B:
        # the solver met tol with its own GEMMs; this re-evaluation rounds differently
        assert np.all(np.max(np.abs(fp.r - np.tanh(fp.r @ W.T + U)), axis=1)
                      <= 1e-12 + residual_rounding(W, U, fp.r))


# --------------------------------------------------------------------------- rules
def test_cross_entropy_matches_torch(rng):
    _, _, R, y = problem(rng)
    r = np.tanh(rng.standard_normal((6, 24)))
    loss, acc, delta = cross_entropy(R, r, y)
    rt = torch.tensor(r, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(rt @ torch.tensor(R).T, torch.tensor(y))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-14)
    np.testing.assert_allclose(delta, rt.grad.numpy(), rtol=1e-12, atol=1e-16)
    # a count over B, exact: two roundings of r @ R.T could only disagree on a near-tie of
    # logits, which random data does not produce
    assert acc == np.mean(np.argmax(r @ R.T, axis=1) == y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rules_equal_their_formulas(seed):
    rng = np.random.default_rng(seed)
    W, U, R, y = problem(rng, N=17, B=5, gain=0.3 + 0.3 * seed)
    r = solve_fixed_point(W, U, tol=1e-14).r
    delta = rng.standard_normal(r.shape)
    d1, d3, d4 = naive_rules(W, r, delta)
    assert rel(rule_dW1(W, r, delta, tol=1e-14)[0], d1) < RTOL_EXACT
    assert rel(rule_dW3(W, r, delta), d3) < RTOL_EXACT
    assert rel(rule_dW4(W, r, delta), d4) < RTOL_EXACT


def test_dW3_dW4_are_preconditioned_gradients(rng):
    """Per sample dW3 = P dW1 Q with P = (I-WG)(I-WG)^T, Q = (I-GW)^T(I-GW) and
    dW4 = P' dW1 Q' with P' = (I-WG) G^{-1} (I-WG)^T, Q' = (I-WG)^T(I-WG):
    positive semi-definite factors, so <dWk, dW1> >= 0 (a descent direction)."""
    W, U, R, y = problem(rng, N=15, B=1, gain=0.8)
    r = solve_fixed_point(W, U, tol=1e-14).r
    delta = rng.standard_normal(r.shape)
    g = 1 - r[0] ** 2
    eye = np.eye(15)
    ImWG = eye - W * g[None, :]
    ImGW = eye - g[:, None] * W
    d1 = rule_dW1(W, r, delta, tol=1e-14)[0]
    d3 = rule_dW3(W, r, delta)
    d4 = rule_dW4(W, r, delta)
    assert rel(d3, ImWG @ ImWG.T @ d1 @ ImGW.T @ ImGW) < RTOL_EXACT
    assert rel(d4, ImWG @ np.diag(1 / g) @ ImWG.T @ d1 @ ImWG.T @ ImWG) < RTOL_EXACT
    assert np.sum(d3 * d1) > 0 and np.sum(d4 * d1) > 0


def test_dW1_equals_finite_differences_of_the_loss(rng):
    W, U, R, y = problem(rng, N=12, B=5)

    def loss(Wp):
        r = solve_fixed_point(Wp, U, tol=1e-15, on_fail="ignore").r
        return cross_entropy(R, r, y)[0]

    up = compute_update("dW1", W, U, R, y, tol=1e-15, on_fail="ignore")
    assert up.loss == pytest.approx(loss(W), rel=1e-14)
    h = 1e-5
    fd = np.empty_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            E = np.zeros_like(W)
            E[i, j] = h
            fd[i, j] = (loss(W + E) - loss(W - E)) / (2 * h)
    assert rel(up.dW, fd) < RTOL_FD


def test_dW1_equals_torch_autograd_through_a_converged_relaxation(rng):
    W, U, R, y = problem(rng, N=20, B=7, gain=0.7)
    up = compute_update("dW1", W, U, R, y, tol=1e-15, on_fail="ignore")
    Wt = torch.tensor(W, requires_grad=True)
    Ut = torch.tensor(U)
    r = torch.zeros_like(Ut)
    for _ in range(150):                     # Euler step 1 (contraction ~0.7): converged to rounding
        r = r + 1.0 * (-r + torch.tanh(r @ Wt.T + Ut))
    lt = torch.nn.functional.cross_entropy(r @ torch.tensor(R).T, torch.tensor(y))
    lt.backward()
    assert up.loss == pytest.approx(lt.item(), rel=1e-13)
    assert rel(up.dW, Wt.grad.numpy()) < RTOL_EXACT


@pytest.mark.parametrize("segment", [None, 1, 7, 100])
def test_bptt_equals_torch_autograd_through_the_unrolled_relaxation(rng, segment):
    W, U, R, y = problem(rng, N=16, B=5, gain=0.9)
    eta, n = 0.1, 45
    dW, loss, acc, rn = rule_bptt(W, U, R, y, eta_d=eta, n_steps=n, segment=segment)
    Wt = torch.tensor(W, requires_grad=True)
    Ut = torch.tensor(U)
    r = torch.zeros_like(Ut)
    for _ in range(n):
        r = r + eta * (-r + torch.tanh(r @ Wt.T + Ut))
    lt = torch.nn.functional.cross_entropy(r @ torch.tensor(R).T, torch.tensor(y))
    lt.backward()
    np.testing.assert_allclose(rn, r.detach().numpy(), rtol=0, atol=1e-14)  # GEMM order differs
    assert loss == pytest.approx(lt.item(), rel=1e-14)
    assert rel(dW, Wt.grad.numpy()) < RTOL_EXACT


def test_bptt_of_a_long_relaxation_approaches_dW1(rng):
    """Differentiating a relaxation that has converged gives the implicit gradient."""
    W, U, R, y = problem(rng, N=12, B=4)
    d_b = compute_update("bptt", W, U, R, y, solver="relax", eta_d=0.5, n_steps=200).dW
    d_1 = compute_update("dW1", W, U, R, y, tol=1e-15).dW
    assert rel(d_b, d_1) < RTOL_EXACT


def test_float32_rules_match_float64(rng):
    W, U, R, y = problem(rng, N=40, B=16)
    for rule in ("dW1", "dW3", "dW4"):
        a = compute_update(rule, W, U, R, y, tol=1e-13)
        b = compute_update(rule, W, U, R, y, dtype="float32")
        assert b.dW.dtype == np.float32
        assert rel(b.dW.astype(np.float64), a.dW) < 1e-3, rule


def test_compute_update_rejects_bad_input(rng):
    W, U, R, y = problem(rng)
    with pytest.raises(ValueError, match="rule='dW2' is not allowed"):
        compute_update("dW2", W, U, R, y)
    with pytest.raises(ValueError, match="needs solver='relax'"):
        compute_update("bptt", W, U, R, y)
    with pytest.raises(ValueError, match="labels has label 7"):
        compute_update("dW3", W, U, R, np.full(6, 7))
