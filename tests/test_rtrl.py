"""RTRL (MODEL.md section 4): the exact gradient forward in time equals BPTT's.

Tolerances (``helpers.py``): ``RTOL_EXACT`` (1e-10) -- float64 RTRL and BPTT are the
same number computed in a different order (measured ~4e-16), so this catches any
wrong term (a missing phi', a wrong leak, an off-by-one in time), each array relative
to its largest entry; ``RTOL_F32`` (1e-5) -- float32 RTRL against float64 BPTT over
T = 15 steps (measured 3.3e-7).
"""
import numpy as np
import pytest

from helpers import RTOL_F32, assert_grads_close  # RTOL_EXACT is the default
from localrnn.engine import gradient
from localrnn.network import Network

KEYS = ("W_in", "W", "b", "W_out", "b_out")


def problem(form, loss, activation="tanh", N=12, I=3, O=3, T=15, B=3, seed=0, partial=True,
            dtype="float64"):
    """A random network with non-zero biases, a random initial state and a partial mask."""
    net = Network.init(I, N, O, gain=1.4, alpha=0.35, activation=activation, form=form,
                       seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    net.b[:] = 0.3 * rng.standard_normal(N)
    net.b_out[:] = 0.1 * rng.standard_normal(O)
    x = rng.standard_normal((T, B, I))
    if loss == "mse":
        y = rng.standard_normal((T, B, O))
        m = (rng.random((T, B, O)) > 0.4).astype(float) if partial else None
    else:
        y = rng.integers(0, O, (T, B))
        m = (rng.random((T, B)) > 0.4).astype(float) if partial else None
    h0 = 0.5 * rng.standard_normal((B, N))
    return net, x, y, m, h0


@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("activation", ["tanh", "softplus", "retanh"])
def test_rtrl_equals_bptt(form, loss, activation):
    net, x, y, m, h0 = problem(form, loss, activation)
    L1, g1 = gradient(net, x, y, m, loss=loss, rule="rtrl", h0=h0)
    L0, g0 = gradient(net, x, y, m, loss=loss, rule="bptt", h0=h0)
    # same computation: both rules run engine._trajectory and loss_and_delta on the same
    # arrays under gradient()'s thread limit; only the backward differs (compared below with a tolerance)
    assert L1 == L0
    assert np.max(np.abs(g0["W"])) > 1e-3  # the check is not vacuous
    assert_grads_close(g1, g0)


@pytest.mark.parametrize("form", ["current", "rate"])
def test_rtrl_equals_bptt_relu_noise_single_trial(form):
    """B = 1, relu, recurrent noise, full mask, N = 16."""
    net, x, y, _, h0 = problem(form, "mse", "relu", N=16, I=2, O=2, T=10, B=1, seed=3,
                               partial=False)
    noise = 0.1 * np.random.default_rng(7).standard_normal((10, 1, 16))
    L1, g1 = gradient(net, x, y, rule="rtrl", h0=h0, noise=noise)
    L0, g0 = gradient(net, x, y, rule="bptt", h0=h0, noise=noise)
    # same computation: the same forward (engine._trajectory) and loss for both rules
    assert L1 == L0
    assert_grads_close(g1, g0)


def test_rtrl_without_inputs():
    net, _, y, m, h0 = problem("current", "mse", N=6, I=0, O=2, T=8, B=2)
    x = np.zeros((8, 2, 0))
    _, g1 = gradient(net, x, y, m, rule="rtrl", h0=h0)
    _, g0 = gradient(net, x, y, m, rule="bptt", h0=h0)
    assert g1["W_in"].shape == g0["W_in"].shape == (6, 0)
    assert_grads_close(g1, g0, keys=("W", "b", "W_out", "b_out"))


def test_rtrl_zero_mask_gives_zero_gradient():
    net, x, y, _, h0 = problem("rate", "mse", T=5)
    L, g = gradient(net, x, y, np.zeros((5, 3, 3)), rule="rtrl", h0=h0)
    # exact by construction: every term is multiplied by a zero mask
    assert L == 0.0
    for k in KEYS:
        assert not np.any(g[k])


def test_rtrl_return_h0_and_trajectory():
    net, x, y, m, h0 = problem("current", "xent", T=6)
    L1, g1, tr1 = gradient(net, x, y, m, loss="xent", rule="rtrl", h0=h0, return_h0=True,
                           return_trajectory=True)
    _, g0, tr0 = gradient(net, x, y, m, loss="xent", rule="bptt", h0=h0, return_h0=True,
                          return_trajectory=True)
    # same computation: both rules run engine._trajectory on the same inputs, same thread limit
    np.testing.assert_array_equal(tr1.states, tr0.states)
    assert_grads_close(g1, g0, keys=("h0",))


@pytest.mark.parametrize("form", ["current", "rate"])
def test_rtrl_float32(form):
    net, x, y, m, h0 = problem(form, "mse", dtype="float32")
    _, g32 = gradient(net, x, y, m, rule="rtrl", h0=h0)
    _, g64 = gradient(net.astype("float64"), x, y, m, rule="bptt", h0=h0)
    for k in KEYS:
        assert g32[k].dtype == np.float32
    assert_grads_close(g32, g64, rtol=RTOL_F32)
