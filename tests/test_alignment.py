"""Gradient alignment of the local rules with BPTT (localrnn.alignment).

What is checked, and why it must hold (MODEL.md sections 4-5):

* BPTT against itself is 1; RTRL against BPTT is 1 to rounding (the same gradient).
* The readout gradients ``sum_t delta_t r_t^T`` and ``sum_t delta_t`` are the same
  expression in every rule: identical arrays, cosine 1, at any gain.
* The local rules replace the Jacobian ``(1 - alpha) I + alpha W diag(phi')`` by
  ``(1 - alpha) I``.  At gain 0 (W = 0) nothing is dropped, so e-prop with symmetric
  feedback *is* BPTT; for a small gain g the dropped term is O(g), and the cosine of
  two vectors that differ by O(g) is 1 - O(g^2): halving g quarters 1 - cos.
* Random feedback (RFLO's default) points the learning signal elsewhere, so its
  recurrent-side cosine is far from 1 even at gain 0.
"""
import numpy as np
import pytest

from localrnn.alignment import ALIGN_STREAM, cosine, gradient_alignment
from localrnn.engine import gradient
from localrnn.network import feedback_matrix
from localrnn.tasks import get_task

N = 8
B = 4
KEYS = ("W_in", "W", "b", "W_out", "b_out", "all", "recurrent")


@pytest.fixture(scope="module")
def romo():
    return get_task("romo")


def test_bptt_with_itself_is_one_and_rtrl_agrees(romo):
    net = romo.make_network(1.5, seed=0, n_rec=N)
    a = gradient_alignment(net, romo, "bptt", batch=B)
    assert set(a) == set(KEYS)
    for k in KEYS:
        assert abs(a[k] - 1.0) < 1e-12, (k, a[k])
    r = gradient_alignment(net, romo, "rtrl", batch=B)
    for k in KEYS:
        assert abs(r[k] - 1.0) < 1e-10, (k, r[k])


@pytest.mark.parametrize("rule", ["eprop", "rflo"])
def test_readout_gradient_is_exact_in_the_local_rules(romo, rule):
    net = romo.make_network(1.5, seed=1, n_rec=N)
    b = romo.batch(B, np.random.default_rng([1, ALIGN_STREAM]))
    _, g_bptt = gradient(net, b.inputs, b.targets, b.mask, loss=romo.loss, rule="bptt")
    _, g_loc = gradient(net, b.inputs, b.targets, b.mask, loss=romo.loss, rule=rule, seed=1)
    # the same expression on the same forward pass: the same computation twice
    np.testing.assert_array_equal(g_loc["W_out"], g_bptt["W_out"])
    np.testing.assert_array_equal(g_loc["b_out"], g_bptt["b_out"])
    a = gradient_alignment(net, romo, rule, batch=b, seed=1)
    assert abs(a["W_out"] - 1.0) < 1e-12 and abs(a["b_out"] - 1.0) < 1e-12
    # ... while the recurrent side is truncated at this gain
    assert a["recurrent"] < 0.999


def test_eprop_symmetric_equals_bptt_at_gain_zero(romo):
    net = romo.make_network(0.0, seed=2, n_rec=N)
    assert not np.any(net.W)
    a = gradient_alignment(net, romo, "eprop", feedback="symmetric", batch=B, seed=2)
    for k in KEYS:
        assert abs(a[k] - 1.0) < 1e-12, (k, a[k])
    # random feedback is not rescued by a zero gain
    r = gradient_alignment(net, romo, "rflo", feedback="random", batch=B, seed=2)
    assert r["recurrent"] < 0.9 and abs(r["W_out"] - 1.0) < 1e-12


def test_truncation_error_is_second_order_in_small_gain(romo):
    def gap(g):
        net = romo.make_network(g, seed=3, n_rec=N)
        return 1.0 - gradient_alignment(net, romo, "eprop", feedback="symmetric", batch=B,
                                        seed=3)["recurrent"]

    g1, g2 = gap(0.02), gap(0.01)
    assert g1 > 0 and g2 > 0
    # 1 - cos = c g^2 + O(g^3): the ratio is 4 up to a relative O(g) correction
    assert 3.7 < g1 / g2 < 4.3, (g1, g2)
    assert gap(1.5) > 100 * g1


def test_feedback_is_the_one_the_trainer_draws(romo):
    """feedback=None with the run's seed is RFLO's random matrix of that seed."""
    net = romo.make_network(0.5, seed=4, n_rec=N)
    F = feedback_matrix(net, "random", "rflo", 4)
    a = gradient_alignment(net, romo, "rflo", feedback=F, batch=B, seed=4)
    b = gradient_alignment(net, romo, "rflo", feedback=None, batch=B, seed=4)
    assert a == b
    c = gradient_alignment(net, romo, "rflo", feedback=None, batch=B, seed=5)
    assert c["recurrent"] != a["recurrent"]  # another seed: another batch and matrix


def test_float32_network_is_measured_in_float64(romo):
    net = romo.make_network(0.5, seed=0, n_rec=N)
    a32 = gradient_alignment(net.astype(np.float32), romo, "eprop", batch=B)
    a64 = gradient_alignment(net.astype(np.float32).astype(np.float64), romo, "eprop", batch=B)
    assert a32 == a64


def test_task_without_inputs_gives_nan_for_w_in():
    sine = get_task("sine")
    net = sine.make_network(0.5, seed=0, n_rec=N)
    a = gradient_alignment(net, "sine", "eprop", batch=2)
    assert np.isnan(a["W_in"]) and np.isfinite(a["W"]) and np.isfinite(a["recurrent"])


def test_cosine_basics():
    x = np.array([1.0, 2.0, -3.0])
    assert cosine(x, 2 * x) == pytest.approx(1.0, abs=1e-15)
    assert cosine(x, -x) == pytest.approx(-1.0, abs=1e-15)
    assert np.isnan(cosine(x, np.zeros(3)))


@pytest.mark.parametrize("kw, word", [(dict(rule="foo"), "rule"),
                                      (dict(rule="bptt", feedback="random"), "feedback"),
                                      (dict(rule="eprop", batch=0), "batch"),
                                      (dict(rule="eprop", feedback="mirror"), "feedback")])
def test_bad_arguments_name_the_value(romo, kw, word):
    net = romo.make_network(0.5, seed=0, n_rec=N)
    kw = {"batch": B, **kw}
    with pytest.raises(ValueError, match=word):
        gradient_alignment(net, romo, **kw)
