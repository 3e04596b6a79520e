"""The native tasks against TASKS.md, step by step, and their argument checks.

Statistical tolerances are ``Z = 5`` standard errors of the estimate (a false
failure has probability ~6e-7 per check; the seeds are fixed, so a pass is a pass).
"""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localrnn import Network
from localrnn.tasks import Batch, Task, get_task, list_tasks
from localrnn.tasks.sine import sine_target

Z = 5.0
NATIVE = ["romo", "2af", "dms", "sine"]
SPIKING = ["cue", "pattern"]    # spiking tasks: tests/test_spiking_tasks.py


def onehot_logits(labels, n_out, scale=10.0):
    return scale * np.eye(n_out)[labels]


# ======================================================================= registry

def test_list_tasks_names_the_native_tasks():
    assert list_tasks() == NATIVE + SPIKING


@pytest.mark.parametrize("name", NATIVE)
def test_task_attributes_have_the_documented_types(name):
    t = get_task(name)
    assert isinstance(t, Task) and t.name == name
    assert isinstance(t.description, str) and t.description and "\n" not in t.description
    for a in ("n_in", "n_out", "T"):
        assert isinstance(getattr(t, a), int)
    assert isinstance(t.dt, float) and isinstance(t.alpha, float)
    assert t.loss in ("mse", "xent")
    assert t.time_unit in ("tau", "ms")
    d = t.defaults
    assert set(d) == {"n_rec", "batch", "optimizer", "lr", "iters", "eval_every", "form", "activation",
                      "trainable", "gain"}
    assert isinstance(d["trainable"], tuple)
    assert set(d["trainable"]) <= {"W_in", "W", "b", "W_out", "b_out"}


@pytest.mark.parametrize("name, n_in, n_out, T, dt, unit, alpha, loss", [
    ("romo", 1, 2, 56, 0.5, "tau", 0.5, "mse"),
    ("2af", 3, 3, 22, 100.0, "ms", 0.5, "xent"),
    ("dms", 3, 3, 32, 100.0, "ms", 0.5, "xent"),
    ("sine", 0, 1, 100, 0.1, "tau", 0.1, "mse"),
])
def test_sizes_time_step_alpha_and_loss(name, n_in, n_out, T, dt, unit, alpha, loss):
    t = get_task(name)
    assert (t.n_in, t.n_out, t.T, t.dt, t.time_unit, t.alpha, t.loss) == (n_in, n_out, T, dt, unit, alpha, loss)


@pytest.mark.parametrize("name", NATIVE)
@pytest.mark.parametrize("B", [1, 5])
def test_batch_shapes_dtypes_contiguity(name, B):
    t = get_task(name)
    b = t.batch(B, 0)
    assert isinstance(b, Batch) and b.T == t.T and b.batch_size == B
    assert b.inputs.shape == (t.T, B, t.n_in) and b.inputs.dtype == np.float64
    assert b.inputs.flags.c_contiguous and b.mask.flags.c_contiguous and b.targets.flags.c_contiguous
    if t.loss == "mse":
        assert b.targets.shape == (t.T, B, t.n_out) and b.targets.dtype == np.float64
        assert b.mask.shape == (t.T, B, t.n_out)
    else:
        assert b.targets.shape == (t.T, B) and b.targets.dtype == np.int64
        assert b.mask.shape == (t.T, B)
        assert b.targets.min() >= 0 and b.targets.max() < t.n_out
    assert b.mask.dtype == np.float64 and set(np.unique(b.mask)) <= {0.0, 1.0}
    for p in t.period_names:
        assert b.info[f"t_{p}"].shape == (B, 2) and b.info[f"t_{p}"].dtype == np.int64
    for k, v in b.info.items():
        assert v.shape[0] == B, k


@pytest.mark.parametrize("name", ["romo", "2af", "dms"])
def test_same_seed_same_batch_bit_for_bit_and_different_seed_differs(name):
    t = get_task(name)
    a, b = t.batch(16, 7), t.batch(16, np.random.default_rng(7))
    for x, y in ((a.inputs, b.inputs), (a.targets, b.targets), (a.mask, b.mask)):
        assert x.tobytes() == y.tobytes()
    assert a.info.keys() == b.info.keys()
    for k in a.info:
        assert a.info[k].tobytes() == b.info[k].tobytes(), k
    c = t.batch(16, 8)
    assert not np.array_equal(a.inputs, c.inputs)
    g = np.random.default_rng(7)
    first, second = t.batch(16, g), t.batch(16, g)       # a Generator is advanced
    assert first.inputs.tobytes() == a.inputs.tobytes()
    assert not np.array_equal(first.inputs, second.inputs)


def test_periods_tile_the_trial_without_gaps():
    for name in NATIVE:
        t = get_task(name)
        b = t.batch(64, 3)
        ends = np.zeros(64, dtype=np.int64)
        for p in t.period_names:
            s, e = b.info[f"t_{p}"].T
            assert np.array_equal(s, ends), (name, p)
            assert np.all(e >= s)
            ends = e
        assert np.all(ends == t.T), name


# =========================================================================== romo

def romo_reference(f1, f2, d):
    """A plain loop over steps building one trial from TASKS.md (dt = 0.5)."""
    T = 56
    x, y, m = np.zeros(T), np.zeros((T, 2)), np.zeros(T)
    big = 0 if f1 > f2 else 1
    for k in range(T):
        if 6 <= k < 8:
            x[k] = f1
        if 8 + d <= k < 10 + d:
            x[k] = f2
        if k < 10 + d:                    # fixation, f1, delay, f2
            m[k] = 1.0
        if 20 + d <= k < 40 + d:          # after a 10-step decision delay: 20-step window
            y[k, big] = 0.5
            m[k] = 1.0
    return x, y, m


def test_romo_periods_in_steps():
    t = get_task("romo")
    b = t.batch(500, 11)
    d = b.info["delay_steps"]
    assert np.array_equal(d, np.rint(b.info["delay"] / 0.5).astype(int))
    assert d.min() == 4 and d.max() == 16                         # U(2, 8) tau = 4..16 steps
    assert np.all((b.info["delay"] >= 2.0) & (b.info["delay"] < 8.0))
    z = np.zeros_like(d)
    expect = {
        "fixation": (z, z + 6), "f1": (z + 6, z + 8), "delay": (z + 8, 8 + d), "f2": (8 + d, 10 + d),
        "decision_delay": (10 + d, 20 + d), "decision": (20 + d, 40 + d), "padding": (40 + d, z + 56),
    }
    for p, (s, e) in expect.items():
        assert np.array_equal(b.info[f"t_{p}"], np.stack([s, e], 1)), p
    assert np.any(d == 16) and np.all(b.info["t_padding"][d == 16] == 56)   # longest delay fills T


def test_romo_inputs_targets_mask_match_a_stepwise_reference():
    t = get_task("romo")
    b = t.batch(200, 5)
    for i in range(200):
        x, y, m = romo_reference(b.info["f1"][i], b.info["f2"][i], b.info["delay_steps"][i])
        # values copied (f1, f2, 0.5, 1.0), no arithmetic on either side
        assert np.array_equal(b.inputs[:, i, 0], x), i
        assert np.array_equal(b.targets[:, i], y), i
        assert np.array_equal(b.mask[:, i, 0], m) and np.array_equal(b.mask[:, i, 1], m), i
    assert np.array_equal(b.info["label"], (b.info["f2"] > b.info["f1"]).astype(int))


def test_romo_amplitudes_are_uniform_and_redrawn_until_far_enough_apart():
    b = get_task("romo").batch(20000, 2)
    f1, f2 = b.info["f1"], b.info["f2"]
    assert np.all((f1 >= 0.5) & (f1 < 1.5) & (f2 >= 0.5) & (f2 < 1.5))
    assert np.abs(f1 - f2).min() >= 0.2          # without redraws 36 % of pairs would be closer
    # After rejection, f1 is still symmetric about 1 with the conditional mean 1.
    n = f1.size
    assert abs(f1.mean() - 1.0) < Z * f1.std() / np.sqrt(n)
    assert abs(np.mean(b.info["label"]) - 0.5) < Z * 0.5 / np.sqrt(n)


def _romo_draws_numpy(B, rng):
    """The Romo draws with NumPy's own calls: the reference of the compiled romo_draw."""
    f = rng.uniform(0.5, 1.5, size=(B, 2))
    bad = np.abs(f[:, 0] - f[:, 1]) < 0.2
    rounds = 0
    while bad.any():
        f[bad] = rng.uniform(0.5, 1.5, size=(int(bad.sum()), 2))
        bad = np.abs(f[:, 0] - f[:, 1]) < 0.2
        rounds += 1
    return (f[:, 0], f[:, 1], rng.uniform(2.0, 8.0, size=B)), rounds


def test_romo_compiled_draws_are_numpys_draws_and_leave_the_generator_where_numpy_does():
    """Numba draws from the caller's Generator with its own port of NumPy's algorithms;
    a seed must keep giving the same batch, so the numbers and the generator's state
    after the draws are checked against NumPy's calls (rejections included)."""
    from localrnn.kernels.tasks import romo_draw

    redraws = 0
    for seed in range(300):
        for B in (1, 4, 32):
            r1, r2 = np.random.default_rng([seed, 1, 2]), np.random.default_rng([seed, 1, 2])
            ref, rounds = _romo_draws_numpy(B, r1)
            got = romo_draw(r2, B, 0.5, 1.5, 0.2, 2.0, 8.0)
            for a, b in zip(got, ref):
                np.testing.assert_array_equal(a, b)
            assert r1.bit_generator.state == r2.bit_generator.state
            redraws += rounds
    assert redraws > 100                     # the rejection path ran many times


def test_romo_delay_rounding_to_nearest_step():
    """The ends 4 and 16 come from half-step bins: half as likely as each inner value."""
    d = get_task("romo").batch(24000, 9).info["delay_steps"]
    counts = np.bincount(d, minlength=17)[4:]
    p = np.array([0.5] + [1.0] * 11 + [0.5]) / 12.0
    expect = p * d.size
    assert np.all(np.abs(counts - expect) < Z * np.sqrt(expect * (1 - p)))


def test_romo_other_dt_and_bad_dt():
    t = get_task("romo", dt=0.25)
    assert (t.T, t.alpha) == (112, 0.25)
    b = t.batch(4, 0)
    assert np.all(b.info["t_f1"] == [12, 16])
    assert np.array_equal(b.info["t_decision"][:, 1] - b.info["t_decision"][:, 0], [40] * 4)
    with pytest.raises(ValueError, match=r"dt=0.3 .*whole steps"):
        get_task("romo", dt=0.3)
    with pytest.raises(ValueError, match=r"dt=2 is out of range"):
        get_task("romo", dt=2)


def test_romo_defaults():
    d = get_task("romo").defaults
    assert d["n_rec"] == 256 and d["batch"] == 32 and d["optimizer"] == "adam"
    assert d["lr"] == pytest.approx(0.05 / 256) and d["iters"] == 1000
    assert d["trainable"] == ("W_in", "W", "W_out") and d["form"] == "current"


def test_romo_accuracy_perfect_opposite_zero_and_nan():
    t = get_task("romo")
    b = t.batch(50, 4)
    assert t.accuracy(b.targets, b) == 1.0
    assert t.accuracy(b.targets[:, :, ::-1], b) == 0.0
    assert t.accuracy(np.zeros_like(b.targets), b) == 0.0          # sign 0 is no answer
    y = b.targets.copy()
    y[:, :25] = y[:, :25, ::-1]
    assert t.accuracy(y, b) == 0.5
    y = b.targets.copy()
    y[:, 0] = np.nan
    assert t.accuracy(y, b) == pytest.approx(49 / 50)


def test_romo_accuracy_uses_only_the_decision_window():
    t = get_task("romo")
    b = t.batch(20, 6)
    y = -b.targets[:, :, ::-1] * 100          # loudly wrong everywhere ...
    win = b.info["t_decision"]
    for i in range(20):
        s, e = win[i]
        y[s:e, i] = b.targets[s:e, i]          # ... except in the window
    assert t.accuracy(y, b) == 1.0
    y = b.targets.copy()                        # the average decides, not the last step
    for i in range(20):
        s, e = win[i]
        y[s:e - 1, i] = b.targets[s:e - 1, i, ::-1]
    assert t.accuracy(y, b) == 0.0


def test_romo_make_network():
    t = get_task("romo")
    net = t.make_network(1.5, seed=3, n_rec=16)
    assert isinstance(net, Network)
    assert (net.n_in, net.n_rec, net.n_out, net.alpha, net.form) == (1, 16, 2, 0.5, "current")
    ref = Network.init(1, 16, 2, gain=1.5, alpha=0.5, seed=3)
    # same computation: make_network calls Network.init with these arguments
    assert np.array_equal(net.W, ref.W) and np.array_equal(net.W_out, ref.W_out)
    assert t.make_network(1.0).n_rec == 256
    assert t.make_network(1.0, n_rec=8, dtype="float32").dtype == np.float32
    assert t.make_network(1.0, n_rec=8, form="rate", activation="relu").activation == "relu"
    assert t.h0(4, 16) is None


# ============================================================================ 2af

def test_2af_periods_channels_and_labels():
    t = get_task("2af")
    assert t.periods == {"fixation": (0, 1), "stimulus": (1, 21), "delay": (21, 21), "decision": (21, 22)}
    b = t.batch(300, 1)
    x, y = b.inputs, b.targets
    assert np.all(x[:21, :, 0] == 1.0) and np.all(x[21:, :, 0] == 0.0)       # fixation off at decision
    assert np.all(x[:1, :, 1:] == 0.0) and np.all(x[21:, :, 1:] == 0.0)       # stimulus only in [1, 21)
    assert np.all(y[:21] == 0) and np.array_equal(y[21], b.info["ground_truth"] + 1)
    assert np.array_equal(b.info["label"], b.info["ground_truth"] + 1)
    assert np.all(b.mask == 1.0)                                               # xent at every step
    assert set(np.unique(b.info["coh"])) == {0.0, 6.4, 12.8, 25.6, 51.2}
    assert set(np.unique(b.info["ground_truth"])) == {0, 1}


def test_2af_noiseless_stimulus_is_the_coherence_code():
    t = get_task("2af", sigma=0.0)
    b = t.batch(200, 2)
    gt, coh = b.info["ground_truth"], b.info["coh"]
    sign = np.where(gt == 0, 1.0, -1.0)                     # cos(0 - theta_gt) = +1 or -1
    expect = np.stack([0.5 + sign * coh / 200, 0.5 - sign * coh / 200], axis=1)
    assert np.allclose(b.inputs[1:21, :, 1:], expect[None], rtol=0, atol=1e-15)


def test_2af_noise_std_is_sigma_over_sqrt_dt():
    for dt, sigma in ((100.0, 1.0), (20.0, 1.0), (100.0, 2.0)):
        t, t0 = get_task("2af", dt=dt, sigma=sigma), get_task("2af", dt=dt, sigma=0.0)
        b, b0 = t.batch(400, 3), t0.batch(400, 3)             # same draws of gt, coh
        s, e = t.periods["stimulus"]
        r = (b.inputs - b0.inputs)[s:e, :, 1:].ravel()
        n, want = r.size, sigma / np.sqrt(dt)
        assert abs(r.mean()) < Z * want / np.sqrt(n)
        assert abs(r.std() - want) < Z * want / np.sqrt(2 * n)
        outside = np.ones(t.T, bool)
        outside[s:e] = False
        assert np.all(b.inputs[outside] == b0.inputs[outside])     # no noise outside the stimulus


def test_2af_other_dt():
    t = get_task("2af", dt=20)
    assert t.periods == {"fixation": (0, 5), "stimulus": (5, 105), "delay": (105, 105),
                         "decision": (105, 110)}
    assert t.T == 110 and t.alpha == pytest.approx(0.1)
    assert get_task("2af", dt=50, tau=100).alpha == 0.5
    assert get_task("2af", dt=30).periods["decision"] == (69, 72)    # floor(D / dt) steps each


@pytest.mark.parametrize("name", ["2af", "dms"])
def test_decision_accuracy_perfect_and_opposite(name):
    t = get_task(name)
    b = t.batch(40, 5)
    assert t.accuracy(onehot_logits(b.targets, 3), b) == 1.0
    opposite = np.where(b.targets == 0, 0, 3 - b.targets)      # 1 <-> 2 in the decision period
    assert t.accuracy(onehot_logits(opposite, 3), b) == 0.0
    fixate = np.zeros_like(b.targets)                           # "fixate" at the decision is wrong
    assert t.accuracy(onehot_logits(fixate, 3), b) == 0.0
    y = onehot_logits(b.targets, 3)
    y[:, :10] = onehot_logits(opposite[:, :10], 3)
    assert t.accuracy(y, b) == 0.75


def test_dms_accuracy_averages_the_decision_period():
    t = get_task("dms")
    b = t.batch(8, 1)
    s, e = t.periods["decision"]                       # 9 steps
    right = onehot_logits(b.targets, 3)
    wrong = onehot_logits(np.where(b.targets == 0, 0, 3 - b.targets), 3)
    y = right.copy()
    y[s:s + 4] = wrong[s:s + 4]                        # 5 of 9 steps right: the mean is right
    assert t.accuracy(y, b) == 1.0
    y = wrong.copy()
    y[e - 1] = right[e - 1]                            # only the last step right: the mean is wrong
    assert t.accuracy(y, b) == 0.0


# ============================================================================ dms

def test_dms_periods_channels_and_labels():
    t = get_task("dms")
    assert t.periods == {"fixation": (0, 3), "sample": (3, 8), "delay": (8, 18), "test": (18, 23),
                         "decision": (23, 32)}
    b = t.batch(300, 2)
    x, y = b.inputs, b.targets
    assert np.all(x[:23, :, 0] == 1.0) and np.all(x[23:, :, 0] == 0.0)
    for a, c in ((0, 3), (8, 18), (23, 32)):
        assert np.all(x[a:c, :, 1:] == 0.0)                           # no stimulus, no noise
    assert np.all(y[:23] == 0) and np.all(y[23:] == b.info["label"][None, :])
    assert np.all(b.mask == 1.0)
    match = b.info["sample_theta"] == b.info["test_theta"]
    assert np.array_equal(b.info["label"], np.where(match, 1, 2))
    assert set(np.unique(b.info["sample_theta"])) == {0.0, np.pi}
    assert abs(match.mean() - 0.5) < Z * 0.5 / np.sqrt(300)


def test_dms_noiseless_ring_code():
    t = get_task("dms", sigma=0.0)
    b = t.batch(100, 4)
    for i in range(100):
        for period, th in (("sample", b.info["sample_theta"][i]), ("test", b.info["test_theta"][i])):
            s, e = t.periods[period]
            want = np.cos(np.array([0.0, np.pi]) - th) * 0.5 + 0.5       # [1, 0] or [0, 1]
            assert np.array_equal(b.inputs[s:e, i, 1:], np.tile(want, (e - s, 1)))
    assert set(np.unique(b.inputs[:, :, 1:])) == {0.0, 1.0}


def test_dms_noise_on_sample_and_test_only():
    t, t0 = get_task("dms"), get_task("dms", sigma=0.0)
    b, b0 = t.batch(500, 8), t0.batch(500, 8)
    r = b.inputs - b0.inputs
    on = np.zeros(t.T, bool)
    on[3:8] = on[18:23] = True
    noise = r[on][:, :, 1:].ravel()
    want = 1.0 / np.sqrt(100.0)
    assert abs(noise.std() - want) < Z * want / np.sqrt(2 * noise.size)
    assert np.all(r[~on] == 0.0) and np.all(r[:, :, 0] == 0.0)


def test_2af_dms_defaults():
    for name, iters in (("2af", 500), ("dms", 1500)):
        d = get_task(name).defaults
        assert d["n_rec"] == 64 and d["batch"] == 32 and d["optimizer"] == "adam"
        assert d["lr"] == 3e-3 and d["iters"] == iters
        assert d["trainable"] == ("W_in", "W", "b", "W_out", "b_out")


# =========================================================================== sine

def test_sine_target_mask_and_inputs():
    t = get_task("sine")
    b = t.batch(3, 0)
    assert b.inputs.shape == (100, 3, 0)
    k = np.arange(100)
    f = lambda s: np.sin(2 * np.pi * s / 100) + 0.5 * np.sin(4 * np.pi * s / 100) + 0.25 * np.sin(8 * np.pi * s / 100)
    assert np.allclose(b.targets[:, 1, 0], f(k + 1), rtol=0, atol=1e-15)      # step k holds t = k + 1
    assert np.array_equal(b.targets[:, 0], b.targets[:, 2])
    assert abs(b.targets[99, 0, 0]) < 1e-12                                      # t = 100: one full period
    assert np.all(b.mask == 1.0)
    # the task copies sine_target(T) into every trial: the same computation
    assert np.array_equal(sine_target(100), b.targets[:, 0, 0])


def test_sine_network_h0_and_defaults():
    t = get_task("sine")
    d = t.defaults
    assert d["lr"] == {"W_in": 0.0, "W": 0.03, "W_out": 0.03} and d["optimizer"] == "sgd"
    assert d["n_rec"] == 50 and d["batch"] == 1 and d["form"] == "rate" and d["gain"] == 1.5
    h0 = t.h0(2, 50)
    assert h0.shape == (2, 50) and np.all(h0 == 0.1)
    net = t.make_network(seed=4)
    assert (net.n_in, net.n_rec, net.n_out, net.alpha, net.form) == (0, 50, 1, 0.1, "rate")
    ref = Network.init(0, 50, 1, gain=1.5, alpha=0.1, form="rate", seed=4)
    # same computation: make_network calls Network.init with these arguments
    assert np.array_equal(net.W, ref.W)                                   # W = 1.5 Z / sqrt(N)
    bound = 0.1 / np.sqrt(50)
    assert np.all(np.abs(net.W_out) <= bound) and np.abs(net.W_out).max() > 0.5 * bound
    assert not np.array_equal(net.W_out, ref.W_out)
    assert np.array_equal(t.make_network(seed=4).W_out, net.W_out)
    assert not np.array_equal(t.make_network(seed=5).W_out, net.W_out)
    u = t.make_network(seed=0, n_rec=2000).W_out.ravel() * np.sqrt(2000) / 0.1   # ~ U(-1, 1)
    assert abs(u.mean()) < Z * np.sqrt(1 / 3 / u.size) and abs(u.var() - 1 / 3) < 0.03


def test_sine_accuracy():
    t = get_task("sine")
    b = t.batch(4, 0)
    assert t.accuracy(b.targets, b) == 1.0
    assert t.accuracy(-b.targets, b) == 0.0
    assert t.accuracy(np.zeros_like(b.targets), b) == 0.0
    y = b.targets.copy()
    y[:, :2] *= 0.5                            # R^2 = 1 - 0.25 = 0.75 < 0.9
    assert t.accuracy(y, b) == 0.5


# ================================================================== bad arguments

@pytest.mark.parametrize("bad", ["nope", "Romo", "", None, 3, "neurogym"])
def test_unknown_task_name(bad):
    with pytest.raises(ValueError, match=r"task=.* is not allowed; choose one of 'romo', '2af', 'dms', 'sine'"):
        get_task(bad)


def test_unknown_option_names_it_and_lists_the_allowed():
    with pytest.raises(ValueError, match=r"task '2af' has no option 'dtt'; allowed options: dt, tau, sigma, cohs"):
        get_task("2af", dtt=100)
    with pytest.raises(ValueError, match=r"task 'sine' has no option 'dt'; allowed options: none"):
        get_task("sine", dt=1)


@pytest.mark.parametrize("name, kwargs, msg", [
    ("2af", dict(dt=0), r"dt=0 is out of range"),
    ("2af", dict(dt=-5), r"dt=-5 is out of range"),
    ("2af", dict(dt=float("nan")), r"dt=nan is out of range"),
    ("2af", dict(dt="100"), r"dt='100' must be a number"),
    ("2af", dict(dt=150), r"dt=150 leaves no step for the 100 ms decision"),
    ("dms", dict(dt=300), r"dt=300 is out of range; allowed \(0, 200\]"),
    ("2af", dict(sigma=-1), r"sigma=-1 is out of range"),
    ("2af", dict(tau=0), r"tau=0 is out of range"),
    ("2af", dict(cohs=[]), r"cohs=\[\] must be a non-empty"),
    ("2af", dict(cohs=["a"]), r"cohs=\['a'\] must be a sequence of numbers"),
])
def test_bad_option_values(name, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        get_task(name, **kwargs)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4", None])
def test_bad_batch_size(bad):
    with pytest.raises(ValueError, match=r"batch_size="):
        get_task("romo").batch(bad, 0)


@pytest.mark.parametrize("bad", [-1, 1.5, "seed", None, True, np.random.RandomState(0)])
def test_bad_rng(bad):
    with pytest.raises(ValueError, match=r"rng="):
        get_task("dms").batch(2, bad)


def test_bad_accuracy_arguments():
    t = get_task("2af")
    b = t.batch(3, 0)
    with pytest.raises(ValueError, match=r"outputs has shape \(22, 3, 2\); expected \(22, 3, 3\)"):
        t.accuracy(np.zeros((22, 3, 2)), b)
    with pytest.raises(ValueError, match=r"batch=dict is not a Batch"):
        t.accuracy(np.zeros((22, 3, 3)), {})


def test_bad_h0_and_network_arguments():
    t = get_task("sine")
    with pytest.raises(ValueError, match=r"batch_size=0"):
        t.h0(0, 5)
    with pytest.raises(ValueError, match=r"n_rec=0"):
        t.h0(1, 0)
    with pytest.raises(ValueError, match=r"gain=-1"):
        get_task("romo").make_network(-1)
    with pytest.raises(ValueError, match=r"form='x' is not allowed"):
        get_task("romo").make_network(1.0, n_rec=4, form="x")


def test_neurogym_task_without_neurogym_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)       # import neurogym -> ImportError
    with pytest.raises(ValueError, match=r'pip install "localrnn\[neurogym\]"'):
        get_task("neurogym:DelayComparison-v0")
    assert list_tasks(neurogym=True) == NATIVE + SPIKING       # listing does not fail


# ============================================================ properties (hypothesis)

@settings(max_examples=30, deadline=None)
@given(B=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_romo_invariants_for_any_seed(B, seed):
    t = get_task("romo")
    b = t.batch(B, seed)
    x, y, m = b.inputs[:, :, 0], b.targets, b.mask[:, :, 0]
    assert np.count_nonzero(x, axis=0).tolist() == [4] * B               # two 2-step pulses
    assert np.all(np.count_nonzero(y, axis=(0, 2)) == 20)                  # one channel, 20 steps
    assert np.all(y[m[:, :, None].repeat(2, 2) == 0] == 0)                 # targets only where masked
    assert np.all(m.sum(0) == 10 + b.info["delay_steps"] + 20)
    assert t.accuracy(y, b) == 1.0


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(["2af", "dms"]), B=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_decision_invariants_for_any_seed(name, B, seed):
    t = get_task(name)
    b = t.batch(B, seed)
    s, e = t.periods["decision"]
    assert np.all(b.targets[:s] == 0) and np.all(b.targets[s:e] == b.info["label"])
    assert np.all(b.inputs[:s, :, 0] == 1) and np.all(b.inputs[s:, :, 0] == 0)
    assert t.accuracy(onehot_logits(b.targets, 3), b) == 1.0


def test_training_draws_equal_default_rng():
    """The Trainer's reseeded generator (training._Draws) starts every batch from the
    state of ``default_rng([seed, stream, i])`` and draws the same batches."""
    from localrnn.tasks import list_tasks
    from localrnn.training import _batch, _Draws, _seed_words

    rng = np.random.default_rng(0)
    rand = [[int(v) for v in rng.integers(0, 2**62, size=n) >> rng.integers(0, 62, size=n)] + [int(n) * 2**70 // 3]
            for n in rng.integers(1, 7, size=200)]
    for ent in [[0], [0, 1, 0], [5, 2, 2**32], [2**64 + 3, 1, 7], [1, 2, 3, 4, 5, 6]] + rand:
        assert _seed_words(ent) == np.random.SeedSequence(ent).generate_state(4, np.uint64).tolist()
    for seed in (0, 3, 2**31 - 1, 2**32, 2**40 + 7, 12345678901234567890):
        for stream in (1, 2):
            for i in (0, 1, 2, 17, 2**32 - 1, 2**32, 10**15):
                assert _Draws.state(seed, stream, i) == \
                    np.random.default_rng([seed, stream, i]).bit_generator.state
    d = _Draws()
    for name in list_tasks():
        task = get_task(name)
        for i in (0, 1, 9):
            a, b = _batch(task, 3, 4, 1, i), d.batch(task, 3, 4, 1, i)
            for k in ("inputs", "targets", "mask"):
                assert np.array_equal(getattr(a, k), getattr(b, k)), (name, i, k)
            assert a.info.keys() == b.info.keys()
            for k in a.info:
                assert np.array_equal(a.info[k], b.info[k]), (name, i, k)
