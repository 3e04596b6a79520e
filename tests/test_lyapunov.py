"""Lyapunov spectrum (MODEL.md section 6): identities, PyTorch reference, bad input."""
import numpy as np
import pytest

from localrnn import Network
from localrnn.activations import dphi
from localrnn.engine import trajectory
from localrnn.lyapunov import (default_warmup, flossing_gradient, lambda_max_vs_gain,
                               lyapunov_spectrum)

from helpers import ATOL_UNIT_EXACT

FORMS = ["current", "rate"]
ACTS = ["tanh", "relu", "softplus", "retanh"]
#: exponents are O(1) numbers; an identity that holds in exact arithmetic holds to this
ATOL_IDENTITY = 1e-12


def net_for(form="current", act="tanh", gain=1.6, alpha=0.4, n_rec=9, n_in=2, seed=3):
    net = Network.init(n_in, n_rec, 1, gain=gain, alpha=alpha, activation=act, form=form, seed=seed)
    net.b[:] = 0.2 * np.random.default_rng(seed + 7).standard_normal(n_rec)
    return net


def jacobians(net, inputs, h0=None):
    """J_t (T, B, N, N) from MODEL.md section 1, in NumPy."""
    tr = trajectory(net, inputs, h0=h0)
    N = net.n_rec
    I = np.eye(N)
    a = net.alpha
    if net.form == "current":
        prev = np.concatenate([tr.s0[None], tr.states[:-1]])
        d = dphi(prev, net.activation)
        return (1 - a) * I + a * net.W[None, None] * d[:, :, None, :]
    d = dphi(tr.act, net.activation)
    return (1 - a) * I + a * d[:, :, :, None] * net.W[None, None]


# ------------------------------------------------------------------ identities

@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("k, qr_every", [(9, 1), (4, 1), (4, 3)])
def test_zero_W_gives_log_one_minus_alpha(form, k, qr_every, rng):
    net = net_for(form, alpha=0.3)
    net.W[:] = 0.0
    res = lyapunov_spectrum(net, rng.standard_normal((40, 3, 2)), k, warmup=7, qr_every=qr_every)
    np.testing.assert_allclose(res.exponents, np.log(0.7), rtol=0, atol=ATOL_IDENTITY)
    np.testing.assert_allclose(res.per_trial, np.log(0.7), rtol=0, atol=ATOL_IDENTITY)
    np.testing.assert_allclose(res.exponents_per_time, np.log(0.7) / 0.3, rtol=1e-14)


def normal_W(alpha, moduli_pairs, reals, seed=0):
    """W normal (W W^T = W^T W) with J = (1-alpha) I + alpha W of known eigenvalues:
    complex pairs r e^{+-i theta} and real eigenvalues, in a random orthonormal basis."""
    blocks = []
    for r, th in moduli_pairs:
        blocks.append(r * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]))
    for v in reals:
        blocks.append(np.array([[v]]))
    n = sum(b.shape[0] for b in blocks)
    Jb = np.zeros((n, n))
    i = 0
    for b in blocks:
        m = b.shape[0]
        Jb[i:i + m, i:i + m] = b
        i += m
    U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    J = U @ Jb @ U.T
    return (J - (1 - alpha) * np.eye(n)) / alpha


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("k", [8, 3])
def test_linear_normal_W_gives_log_abs_eig(form, k):
    # tanh with zero input, bias and state: the state stays 0, phi' = 1, the network is
    # its linearisation J = (1 - alpha) I + alpha W exactly.  Moduli are spaced by a
    # factor <= 0.8, so after 250 warm-up steps Q has converged to the Schur basis.
    alpha = 0.5
    W = normal_W(alpha, [(1.3, 0.7), (0.8, 2.0)], [1.0, -0.6, 0.45, 0.3])
    assert np.allclose(W @ W.T, W.T @ W, atol=1e-13)
    net = Network(W_in=np.zeros((8, 1)), W=W, b=np.zeros(8), W_out=np.ones((1, 8)), b_out=np.zeros(1),
                  alpha=alpha, form=form)
    res = lyapunov_spectrum(net, np.zeros((350, 2, 1)), k, warmup=250)
    eig = np.linalg.eigvals((1 - alpha) * np.eye(8) + alpha * W)
    expected = np.sort(np.log(np.abs(eig)))[::-1][:k]
    np.testing.assert_allclose(res.exponents, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("qr_every", [1, 4])
def test_sum_of_all_exponents_is_mean_log_det(form, qr_every, rng):
    net = net_for(form, act="softplus" if form == "rate" else "tanh", gain=2.0)
    x = rng.standard_normal((30, 3, 2))
    h0 = 0.5 * rng.standard_normal((3, 9))
    res = lyapunov_spectrum(net, x, 9, warmup=6, qr_every=qr_every, h0=h0)
    logdet = np.linalg.slogdet(jacobians(net, x, h0))[1]          # (T, B)
    np.testing.assert_allclose(res.exponents.sum(), logdet[6:].mean(), rtol=0, atol=ATOL_IDENTITY)
    np.testing.assert_allclose(res.per_trial.sum(axis=1), logdet[6:].mean(axis=0), rtol=0,
                               atol=ATOL_IDENTITY)


# ------------------------------------------------------------------ PyTorch reference

torch = pytest.importorskip("torch", reason="PyTorch is the reference; install the 'test' extra")
import torch_lyapunov_ref as ref  # noqa: E402


def _compare(res, lam_ref, Q_ref):
    order = np.argsort(-lam_ref.mean(axis=0), kind="stable")
    np.testing.assert_allclose(res.exponents, lam_ref.mean(axis=0)[order], rtol=0, atol=ATOL_UNIT_EXACT)
    np.testing.assert_allclose(res.per_trial, lam_ref[:, order], rtol=0, atol=ATOL_UNIT_EXACT)
    np.testing.assert_allclose(res.Q, Q_ref, rtol=0, atol=ATOL_UNIT_EXACT)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ACTS)
def test_matches_torch_loop(form, act, rng):
    net = net_for(form, act)
    x = rng.standard_normal((25, 3, 2))
    q0, _ = np.linalg.qr(rng.standard_normal((9, 4)))
    res = lyapunov_spectrum(net, x, 4, warmup=5, q0=q0)
    _compare(res, *ref.spectrum(net, x, q0, 5))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("qr_every, warmup, k", [(3, 5, 9), (4, 0, 9), (6, 2, 9), (25, 0, 2)])
def test_qr_every_matches_torch_loop(form, qr_every, warmup, k, rng):
    # (6, 2): QRs at t = 2, 8, 14, 20 and a short last block at 25.  (25, 0): one QR
    # of the product of all 25 Jacobians, well conditioned only for small k (for k = N
    # its condition number is ~exp(25 (lambda_1 - lambda_N)) ~ 1e8 and the smallest
    # R_ii carry ~1e-8 relative rounding in any implementation).
    net = net_for(form, gain=1.2)
    x = rng.standard_normal((25, 2, 2))
    q0 = np.eye(9)[:, :k]
    res = lyapunov_spectrum(net, x, k, warmup=warmup, qr_every=qr_every, q0=q0)
    _compare(res, *ref.spectrum(net, x, q0, warmup, qr_every))


def test_seeded_start_and_per_trial_q0(rng):
    net = net_for()
    x = rng.standard_normal((20, 2, 2))
    a = lyapunov_spectrum(net, x, 3, warmup=2, seed=5)
    b = lyapunov_spectrum(net, x, 3, warmup=2, seed=5)
    c = lyapunov_spectrum(net, x, 3, warmup=2, seed=6)
    # a rerun: same seed, same inputs
    assert np.array_equal(a.exponents, b.exponents)
    assert not np.array_equal(a.Q, c.Q)
    # (B, N, k) q0: each trial its own start; continuing from Q_T equals the long run
    q0 = np.stack([np.linalg.qr(rng.standard_normal((9, 3)))[0] for _ in range(2)])
    res = lyapunov_spectrum(net, x, 3, warmup=0, q0=q0)
    _compare(res, *ref.spectrum(net, x, q0, 0))
    first = lyapunov_spectrum(net, x[:12], 3, warmup=0, q0=q0)
    second = lyapunov_spectrum(net, x[12:], 3, warmup=0, q0=first.Q,
                               h0=trajectory(net, x[:12]).states[-1])
    assert first.Q.shape == (2, 9, 3)
    np.testing.assert_allclose(second.Q, res.Q, rtol=0, atol=ATOL_IDENTITY)
    np.testing.assert_allclose(12 * first.per_trial.sum(axis=1) + 8 * second.per_trial.sum(axis=1),
                               20 * res.per_trial.sum(axis=1), rtol=0, atol=ATOL_IDENTITY)


# ------------------------------------------------------------------ result object

def test_result_fields(rng):
    net = net_for()
    x = rng.standard_normal((50, 4, 2))
    res = lyapunov_spectrum(net, x, 5, dt=0.1)
    assert res.warmup == default_warmup(50) == 5 and res.n_counted == 45 and res.qr_every == 1
    assert np.all(np.diff(res.exponents) <= 0)
    np.testing.assert_allclose(res.per_trial.mean(axis=0), res.exponents, rtol=1e-14)
    np.testing.assert_allclose(res.exponents_std, res.per_trial.std(axis=0, ddof=1), rtol=1e-14)
    np.testing.assert_allclose(res.exponents_per_time, res.exponents / 0.1, rtol=1e-14)
    # lambda_max reads exponents[0]: one value
    assert res.lambda_max == res.exponents[0] and res.k == 5
    one = lyapunov_spectrum(net, x[:, :1], 5)
    # exact by definition: the spread over a single trial is set to 0
    assert np.all(one.exponents_std == 0.0)
    assert default_warmup(5000) == 100


def test_float32_network_is_analysed_in_float64(rng):
    net32 = net_for(gain=1.4).astype("float32")
    x = rng.standard_normal((30, 2, 2))
    r32 = lyapunov_spectrum(net32, x, 4, warmup=3)
    r64 = lyapunov_spectrum(net32.astype("float64"), x, 4, warmup=3)
    assert r32.per_trial.dtype == np.float64
    # same computation: a float32 network is cast to float64 first (lyapunov._float64),
    # the same cast as net32.astype('float64'), then one code path
    assert np.array_equal(r32.per_trial, r64.per_trial)
    L32, g32 = flossing_gradient(net32, x, 2, local=False)
    L64, g64 = flossing_gradient(net32.astype("float64"), x, 2, local=False)
    assert L32 == L64 and np.array_equal(g32["W"], g64["W"])


def test_random_networks_cross_zero_near_gain_one():
    # MODEL.md section 6: lambda_max crosses 0 near g = 1 (small alpha, no input).  A
    # random initial state puts g > 1 networks on their attractor rather than the
    # unstable fixed point 0.  At N = 200 the attractor just above g = 1 is a limit
    # cycle (lambda_max = 0, the direction along the orbit), chaos (> 0) by g = 3.
    N = 200
    h0 = np.random.default_rng(1).standard_normal((1, N))
    sw = lambda_max_vs_gain([0.6, 0.9, 1.5, 3.0], np.zeros((600, 1, 0)), n_rec=N, alpha=0.2,
                            seeds=(0, 1), warmup=300, h0=h0)
    lm = sw.lambda_max_mean                       # measured: -0.083, -0.019, -0.0005, 0.035
    assert lm[0] < lm[1] < -0.005, lm
    assert abs(lm[2]) < 0.002, lm
    assert lm[3] > 0.01, lm
    assert sw.exponents.shape == (4, 2, 1) and sw.lambda_max_std.shape == (4,)


def test_plots_draw(rng):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from localrnn.plotting import plot_lambda_vs_gain, plot_spectrum

    fig, ax = plt.subplots()
    res = lyapunov_spectrum(net_for(), rng.standard_normal((20, 2, 2)), 3)
    assert plot_spectrum(res, ax=ax, per_time=True) is ax
    assert len(ax.lines) == 2  # the exponents and the zero line
    sw = lambda_max_vs_gain([0.5, 1.5], np.zeros((20, 1, 1)), n_rec=6, alpha=0.5)
    assert plot_lambda_vs_gain(sw, ax=ax) is ax
    plt.close(fig)


def test_the_plot_functions_live_in_plotting_only():
    """localrnn.lyapunov (a driver) draws nothing: the figures are localrnn.plotting's."""
    from localrnn import lyapunov as L

    assert not hasattr(L, "plot_spectrum") and not hasattr(L, "plot_lambda_vs_gain")


# ------------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("kwargs, match", [
    (dict(k=10), r"k=10 is out of range; allowed 1 <= k <= N = 9"),
    (dict(k=0), r"k=0 is out of range"),
    (dict(k=2.5), r"k=2.5 must be an integer"),
    (dict(k=2, warmup=20), r"warmup=20 is out of range; allowed 0 <= warmup < T = 20"),
    (dict(k=2, warmup=25), r"warmup=25 is out of range"),
    (dict(k=2, warmup=-1), r"warmup=-1 is out of range"),
    (dict(k=2, qr_every=0), r"qr_every=0 is out of range"),
    (dict(k=2, dt=0.0), r"dt=0.0 is out of range"),
    (dict(k=2, q0=np.ones((9, 2))), r"q0 has columns that are not orthonormal"),
    (dict(k=2, q0=np.eye(9)[:, :3]), r"q0 has shape \(9, 3\)"),
    (dict(k=2, seed=-1), r"seed=-1 is out of range"),
])
def test_bad_arguments(kwargs, match):
    net = net_for()
    with pytest.raises(ValueError, match=match):
        lyapunov_spectrum(net, np.zeros((20, 2, 2)), **kwargs)


def test_bad_inputs_and_overflow():
    net = net_for()
    with pytest.raises(ValueError, match="inputs has shape"):
        lyapunov_spectrum(net, np.zeros((20, 2, 3)), 2)
    with pytest.raises(ValueError, match="inputs has a non-finite value"):
        lyapunov_spectrum(net, np.full((20, 2, 2), np.nan), 2)
    # |J| ~ 50 per step: 300 steps without a QR overflow float64
    big = Network(W_in=np.zeros((3, 1)), W=100 * np.eye(3), b=np.zeros(3), W_out=np.ones((1, 3)),
                  b_out=np.zeros(1), alpha=0.5)
    with pytest.raises(FloatingPointError, match="qr_every=300"):
        lyapunov_spectrum(big, np.zeros((300, 1, 1)), 2, warmup=0, qr_every=300)
