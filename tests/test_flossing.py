"""Gradient flossing (MODEL.md section 7): local and exact gradients, pretraining."""
import numpy as np
import pytest

from localrnn import Network
from localrnn.activations import dphi
from localrnn.engine import trajectory
from localrnn.lyapunov import FlossResult, floss, flossing_gradient, lyapunov_spectrum

from helpers import RTOL_EXACT, assert_grads_close

FORMS = ["current", "rate"]
ACTS = ["tanh", "relu", "softplus", "retanh"]
#: central differences with step 1e-6 in float64: truncation ~1e-12 * f''', rounding
#: ~1e-16 / 1e-6 relative; 1e-6 relative to the largest entry leaves a wide margin
RTOL_FD = 1e-6


def net_for(form="current", act="tanh", gain=1.5, alpha=0.4, n_rec=7, seed=4):
    net = Network.init(2, n_rec, 1, gain=gain, alpha=alpha, activation=act, form=form, seed=seed)
    net.b[:] = 0.3 * np.random.default_rng(seed + 9).standard_normal(n_rec)
    return net


def problem(rng, T=20, B=2, n_rec=7, k=3):
    x = rng.standard_normal((T, B, 2))
    h0 = 0.4 * rng.standard_normal((B, n_rec))
    q0, _ = np.linalg.qr(rng.standard_normal((n_rec, k)))
    return x, h0, q0


# ------------------------------------------------------------------ against PyTorch autograd

torch = pytest.importorskip("torch", reason="PyTorch is the reference; install the 'test' extra")
import torch_lyapunov_ref as ref  # noqa: E402


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("k", [3, 7])
def test_local_gradient_matches_torch_detached(form, act, k, rng):
    net = net_for(form, act)
    x, h0, q0 = problem(rng, k=k)
    L, g = flossing_gradient(net, x, k, local=True, target=-0.1, warmup=4, q0=q0, h0=h0)
    L_ref, g_ref = ref.flossing(net, x, q0, 4, target=-0.1, detach=True, h0=h0)
    assert sorted(g) == ["W"]
    np.testing.assert_allclose(L, L_ref, rtol=RTOL_EXACT)
    assert_grads_close(g, g_ref, rtol=RTOL_EXACT, keys=("W",))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("k", [3, 7])
def test_exact_gradient_matches_torch_full_autograd(form, act, k, rng):
    net = net_for(form, act)
    x, h0, q0 = problem(rng, k=k)
    L, g = flossing_gradient(net, x, k, local=False, target=0.05, warmup=4, q0=q0, h0=h0)
    L_ref, g_ref = ref.flossing(net, x, q0, 4, target=0.05, detach=False, h0=h0)
    assert sorted(g) == ["W", "W_in", "b"]
    np.testing.assert_allclose(L, L_ref, rtol=RTOL_EXACT)
    assert_grads_close(g, g_ref, rtol=RTOL_EXACT, keys=("W", "W_in", "b"))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_local_keep_q_matches_torch_with_only_the_state_detached(form, act, rng):
    net = net_for(form, act)
    x, h0, q0 = problem(rng, k=3)
    L, g = flossing_gradient(net, x, 3, local=True, keep_q=True, target=-0.1, warmup=4, q0=q0, h0=h0)
    L_ref, g_ref = ref.flossing(net, x, q0, 4, target=-0.1, detach=True, detach_q=False, h0=h0)
    assert sorted(g) == ["W"]
    np.testing.assert_allclose(L, L_ref, rtol=RTOL_EXACT)
    assert_grads_close(g, g_ref, rtol=RTOL_EXACT, keys=("W",))
    # a third gradient: neither the local one nor the exact one
    gl = flossing_gradient(net, x, 3, local=True, warmup=4, q0=q0, h0=h0, target=-0.1)[1]["W"]
    ge = flossing_gradient(net, x, 3, local=False, warmup=4, q0=q0, h0=h0, target=-0.1)[1]["W"]
    for other in (gl, ge):
        assert np.max(np.abs(g["W"] - other)) > 1e-3 * np.max(np.abs(other))


def test_local_and_exact_differ(rng):
    # the local rule drops the paths through the state and Q_{t-1}: a real approximation
    net = net_for()
    x, h0, q0 = problem(rng)
    gl = flossing_gradient(net, x, 3, local=True, warmup=4, q0=q0, h0=h0)[1]["W"]
    ge = flossing_gradient(net, x, 3, local=False, warmup=4, q0=q0, h0=h0)[1]["W"]
    assert np.max(np.abs(gl - ge)) > 1e-2 * np.max(np.abs(ge))


# ------------------------------------------------------------------ independent checks

@pytest.mark.parametrize("form", FORMS)
def test_exact_gradient_matches_finite_differences(form, rng):
    net = net_for(form, "softplus" if form == "rate" else "tanh")
    x, h0, q0 = problem(rng, T=15)
    _, g = flossing_gradient(net, x, 3, local=False, target=0.1, warmup=3, q0=q0, h0=h0)
    eps = 1e-6
    for name, idx in [("W", (1, 2)), ("W", (4, 0)), ("W_in", (3, 1)), ("b", (5,))]:
        p = getattr(net, name)
        old = p[idx]
        vals = []
        for s in (+1, -1):
            p[idx] = old + s * eps
            vals.append(flossing_gradient(net, x, 3, local=False, target=0.1, warmup=3, q0=q0, h0=h0)[0])
        p[idx] = old
        fd = (vals[0] - vals[1]) / (2 * eps)
        assert abs(fd - g[name][idx]) <= RTOL_FD * np.max(np.abs(g[name])), (name, idx, fd, g[name][idx])


@pytest.mark.parametrize("form", FORMS)
def test_local_gradient_is_the_model_md_formula(form, rng):
    """MODEL.md section 7 written out literally, one exponent and one step at a time."""
    net = net_for(form)
    x, h0, q0 = problem(rng, T=12, B=2, k=3)
    warm, target, a = 3, 0.2, net.alpha
    tr = trajectory(net, x, h0=h0)
    T, B, N = tr.states.shape
    pieces, logs = [], []
    for b in range(B):
        Q = q0.copy()
        acc = np.zeros(3)
        per_i = np.zeros((3, N, N))
        for t in range(1, T + 1):
            if form == "current":
                d = dphi(h0[b] if t == 1 else tr.states[t - 2, b], "tanh")   # phi'(h_{t-1})
                J = (1 - a) * np.eye(N) + a * net.W * d[None, :]
            else:
                d = dphi(tr.act[t - 1, b], "tanh")                             # phi'(u_t)
                J = (1 - a) * np.eye(N) + a * d[:, None] * net.W
            Qn, R = np.linalg.qr(J @ Q)
            s = np.sign(np.diag(R))
            Qn, R = Qn * s, R * s[:, None]
            V = Q @ np.linalg.inv(R)                                           # v_{t,i} columns
            if t > warm:
                acc += np.log(np.diag(R))
                for i in range(3):
                    if form == "current":
                        per_i[i] += a * np.outer(Qn[:, i], d * V[:, i])
                    else:
                        per_i[i] += a * np.outer(d * Qn[:, i], V[:, i])
            Q = Qn
        logs.append(acc / (T - warm))
        pieces.append(per_i)
    lam = np.mean(logs, axis=0)
    gW = sum(2 * (lam[i] - target) / (T - warm) * np.mean([p[i] for p in pieces], axis=0)
             for i in range(3))
    L, g = flossing_gradient(net, x, 3, local=True, target=target, warmup=warm, q0=q0, h0=h0)
    np.testing.assert_allclose(L, np.sum((lam - target) ** 2), rtol=RTOL_EXACT)
    assert_grads_close(g, {"W": gW}, keys=("W",))


def test_loss_is_the_spectrum_distance_to_target(rng):
    net = net_for(gain=2.0)
    x = rng.standard_normal((30, 3, 2))
    res = lyapunov_spectrum(net, x, 4, warmup=5, seed=2)
    for local in (True, False):
        L, _ = flossing_gradient(net, x, 4, local=local, target=0.3, warmup=5, seed=2)
        np.testing.assert_allclose(L, np.sum((res.exponents - 0.3) ** 2), rtol=1e-13)


def test_flossing_gradient_does_not_change_the_network(rng):
    net = net_for()
    before = net.copy()
    flossing_gradient(net, rng.standard_normal((10, 2, 2)), 2, local=False)
    for k, v in before.params().items():
        # no arithmetic: the network's arrays must be left untouched
        assert np.array_equal(v, getattr(net, k))


# ------------------------------------------------------------------ pretraining

@pytest.mark.parametrize("local", [True, False])
def test_floss_moves_lambda_max_toward_zero(local):
    from localrnn.tasks import get_task

    task = get_task("romo")
    net = task.make_network(gain=0.5, seed=0, n_rec=32)
    W_in, b = net.W_in.copy(), net.b.copy()
    hist = floss(net, task, iters=100, k=1, local=local, batch_size=4, seed=0)  # lr = 0.01 / N
    lm = hist.lambda_max
    # measured on this seed: lambda_max from -0.33 to about -0.02 (local and exact)
    assert lm[0] < -0.3
    assert abs(lm[-1]) < 0.25 * abs(lm[0]), lm[[0, -1]]
    # no arithmetic touches W_in and b
    assert np.array_equal(net.W_in, W_in) and np.array_equal(net.b, b)  # only W is flossed
    assert hist.exponents.shape == (101, 1) and hist.loss.shape == (101,)
    np.testing.assert_allclose(hist.loss, hist.exponents[:, 0] ** 2, rtol=1e-13)


def test_floss_with_fixed_inputs_and_callback(rng):
    net = net_for(gain=0.5, n_rec=8)
    x = rng.standard_normal((30, 2, 2))
    seen = []
    hist = floss(net, x, iters=5, k=3, lr=1e-2, target=-0.05, local=False,
                 callback=lambda i, lam, L: seen.append((i, lam.shape, L)))
    assert isinstance(hist, FlossResult) and hist.k == 3 and not hist.local
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4] and seen[0][1] == (3,)
    assert hist.exponents.shape == (6, 3)
    assert np.all(np.diff(hist.exponents, axis=1) <= 0)
    # the last row is the network after the last update, on the same inputs
    res = lyapunov_spectrum(net, x, 3, seed=0)
    np.testing.assert_allclose(hist.exponents[-1], res.exponents, rtol=1e-13)


# ------------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("kwargs, match", [
    (dict(k=8), r"k=8 is out of range; allowed 1 <= k <= N = 7"),
    (dict(k=0), r"k=0 is out of range"),
    (dict(k=2, warmup=10), r"warmup=10 is out of range; allowed 0 <= warmup < T = 10"),
    (dict(k=2, local="yes"), r"local='yes' must be True or False"),
    (dict(k=2, keep_q=1), r"keep_q=1 must be True or False"),
    (dict(k=2, local=False, keep_q=True), r"keep_q=True is a variant of the local gradient"),
    (dict(k=2, target=float("nan")), r"target=nan must be finite"),
    (dict(k=2, q0=np.ones((7, 2))), r"q0 has columns that are not orthonormal"),
])
def test_flossing_gradient_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        flossing_gradient(net_for(), np.zeros((10, 2, 2)), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(iters=0), r"iters=0 is out of range"),
    (dict(lr=0.0), r"lr=0.0 is out of range"),
    (dict(k=9), r"k=9 is out of range"),
    (dict(batch_size=0), r"batch_size=0 is out of range"),
    (dict(warmup=10), r"warmup=10 is out of range"),
])
def test_floss_bad_arguments(kwargs, match):
    net = net_for()
    W = net.W.copy()
    with pytest.raises(ValueError, match=match):
        floss(net, np.zeros((10, 2, 2)), **kwargs)
    # nothing ran: the arguments were refused first
    assert np.array_equal(net.W, W)


def test_floss_float32_network_updates_in_place(rng):
    net = net_for(gain=0.5, n_rec=8).astype("float32")
    W, W0 = net.W, net.W.copy()
    hist = floss(net, rng.standard_normal((20, 2, 2)), iters=3, k=2)
    assert net.W is W and W.dtype == np.float32 and not np.array_equal(W, W0)
    assert hist.exponents.dtype == np.float64


# ------------------------------------------------------------------ rescaling W (the control)

def test_rescale_to_lambda_hits_the_target_or_says_it_cannot(rng):
    from localrnn.lyapunov import lyapunov_spectrum, rescale_to_lambda

    x = rng.standard_normal((60, 4, 2))
    net = Network.init(2, 24, 1, gain=0.5, alpha=0.5, seed=1)
    W0 = net.W.copy()
    r = rescale_to_lambda(net, x, target=-0.05, tol=1e-3, seed=2)
    assert r.reached and r.factor > 1 and abs(r.lambda_max + 0.05) <= 1e-3
    assert r.lambda_max_before < -0.05
    # W is exactly c W0, and its lambda_max is the one reported (same seed, same inputs)
    np.testing.assert_array_equal(net.W, W0 * r.factor)
    assert lyapunov_spectrum(net, x, 1, seed=2).exponents[0] == r.lambda_max
    # out of reach within the bounds: W left at the nearest bound, reached False
    net2 = Network.init(2, 24, 1, gain=0.5, alpha=0.5, seed=1)
    r2 = rescale_to_lambda(net2, x, target=5.0, max_factor=2.0, seed=2)
    assert not r2.reached and r2.factor == 2.0
    np.testing.assert_array_equal(net2.W, W0 * 2.0)
