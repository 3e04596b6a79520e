"""The spiking tasks (Bellec et al. 2020): batches against their definition, their
networks, and e-prop lowering their loss at a tiny size.

Statistical checks use ``Z = 5`` standard errors (fixed seeds: a pass is a pass).
"""
import numpy as np
import pytest

from localrnn.optim import make_optimizer
from localrnn.spiking import SpikingNetwork, gradient
from localrnn.tasks import get_task
from localrnn.tasks.pattern import PERIODS, sum_of_sines

Z = 5.0
SMALL_CUE = dict(n_cues=3, t_cue=20, t_interval=30, delay=20, t_recall=20)


def test_defaults_are_the_reference_values():
    cue, pat = get_task("cue"), get_task("pattern")
    assert (cue.n_in, cue.n_out, cue.T, cue.dt, cue.loss) == (40, 2, 2250, 1.0, "xent")
    assert (pat.n_in, pat.n_out, pat.T, pat.dt, pat.loss) == (100, 1, 1000, 1.0, "mse")
    d = cue.defaults
    assert (d["n_rec"], d["batch"], d["optimizer"], d["lr"], d["model"]) == (100, 64, "adam", 0.005, "alif")
    n = d["neuron"]
    assert (n["tau_m"], n["v_th"], n["tau_a"], n["refractory"], n["n_adaptive"]) == (20.0, 0.6, 2000.0, 4, 50)
    assert n["beta"] == pytest.approx(1.7 * (1 - np.exp(-1 / 2000)) / (1 - np.exp(-1 / 20)))
    assert d["reg"] == 2.0 and d["reg_rate"] == 0.01
    p = pat.defaults
    assert p["model"] == "lif" and p["feedback"] == "random" and p["neuron"]["v_th"] == 0.03
    c = (1 - np.exp(-1 / 30)) ** 2
    assert p["lr"] == pytest.approx({"W_in": 0.1 * c, "W": 0.1 * c, "W_out": 0.1})
    assert p["reg"] == pytest.approx(0.3)


# ====================================================================== cue

def test_cue_batch_layout_labels_and_mask():
    task = get_task("cue", **SMALL_CUE)
    assert task.T == 3 * 30 + 20 + 20
    b = task.batch(200, np.random.default_rng(0))
    T, B = task.T, 200
    assert b.inputs.shape == (T, B, 40) and b.targets.shape == (T, B) and b.mask.shape == (T, B)
    assert set(np.unique(b.inputs)) == {0.0, 1.0}
    cues, label = b.info["cues"], b.info["label"]
    assert np.array_equal(label, (cues.sum(axis=1) >= 2).astype(int))
    assert np.all(b.targets == label[None, :])
    assert np.all(b.mask[:T - 20] == 0) and np.all(b.mask[T - 20:] == 1)
    assert b.info["t_decision"][0].tolist() == [T - 20, T]
    assert b.info["t_cues"][0].tolist() == [0, 90] and b.info["t_delay"][0].tolist() == [90, T - 20]
    # cue channels fire only on their side, during their cue; recall only at the end
    left, right, recall = b.inputs[:, :, :10], b.inputs[:, :, 10:20], b.inputs[:, :, 20:30]
    for k in range(3):
        s = 10 + 30 * k
        on = slice(s, s + 20)
        side = cues[:, k]
        assert not left[on][:, side == 1].any() and not right[on][:, side == 0].any()
    quiet = np.ones(T, bool)
    for k in range(3):
        quiet[10 + 30 * k:30 + 30 * k] = False
    assert not left[quiet].any() and not right[quiet].any()
    assert not recall[:T - 20].any()


def test_cue_rates_and_majority_probability():
    task = get_task("cue", **SMALL_CUE)
    b = task.batch(400, np.random.default_rng(1))
    p = 0.04
    on = b.inputs[10:30, :, :20]                       # cue 0: its side's 10 channels
    side = b.info["cues"][:, 0]
    x = np.where(side[None, :, None] == 0, on[:, :, :10], on[:, :, 10:])
    assert abs(x.mean() - p) < Z * np.sqrt(p * (1 - p) / x.size)
    noise = b.inputs[:, :, 30:]
    assert abs(noise.mean() - p / 4) < Z * np.sqrt(p / 4 / noise.size)
    rec = b.inputs[-20:, :, 20:30]
    assert abs(rec.mean() - p) < Z * np.sqrt(p * (1 - p) / rec.size)
    # each cue is on the majority side with probability 0.7
    maj = (b.info["cues"] == b.info["majority"][:, None]).mean()
    assert abs(maj - 0.7) < Z * np.sqrt(0.21 / b.info["cues"].size)


def test_cue_batches_are_seeded_and_advance_the_generator():
    task = get_task("cue", **SMALL_CUE)
    a, b = task.batch(8, 3), task.batch(8, np.random.default_rng(3))
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)
    rng = np.random.default_rng(3)
    first, second = task.batch(8, rng), task.batch(8, rng)
    assert not np.array_equal(first.inputs, second.inputs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_cues=4), "n_cues=4 must be odd"),
    (dict(n_in=42), "n_in=42 must be a multiple of 4"),
    (dict(t_interval=50), "t_interval=50 is out of range"),
    (dict(p_majority=0.4), "p_majority=0.4 is out of range"),
    (dict(delay=-1), "delay=-1 is out of range"),
    (dict(rate=-3.0), "rate=-3.0 is out of range"),
    (dict(speed=2), "task 'cue' has no option 'speed'"),
])
def test_cue_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_task("cue", **kwargs)


# ====================================================================== pattern

def test_pattern_target_and_frozen_input():
    task = get_task("pattern")
    b1, b2 = task.batch(2, 0), task.batch(1, 99)
    assert np.array_equal(b1.inputs[:, 0], b2.inputs[:, 0])     # frozen: the rng is not used
    assert np.array_equal(b1.inputs[:, 0], b1.inputs[:, 1])
    y = b1.targets[:, 0, 0]
    assert y[0] == 0.0 and np.max(np.abs(y)) == pytest.approx(1.0)
    rate = b1.inputs[:, 0].mean()
    assert abs(rate - 0.05) < Z * np.sqrt(0.05 * 0.95 / b1.inputs[:, 0].size)
    # the reference's formula, written out for one sinusoid
    s = sum_of_sines(1000, [1.0], [0.5], periods=[200])
    ref = np.sin(np.linspace(0.5, 2 * np.pi * 5 + 0.5, 1000))
    ref = ref - ref[0]
    assert np.allclose(s, ref / np.max(np.abs(ref)), rtol=0, atol=1e-15)
    assert len(PERIODS) == 4
    assert not np.array_equal(get_task("pattern", seed=1).target, task.target)
    assert task.accuracy(b1.targets, b1) == 1.0 and task.accuracy(-b1.targets, b1) == 0.0


# ====================================================================== networks

def test_make_network_uses_the_reference_neurons():
    cue = get_task("cue")
    net = cue.make_network(seed=0)
    assert isinstance(net, SpikingNetwork) and net.model == "alif" and net.n_rec == 100
    assert np.count_nonzero(net.beta) == 50 and net.refractory == 4 and net.v_th == 0.6
    small = cue.make_network(n_rec=20)
    assert np.count_nonzero(small.beta) == 10            # the reference's half, at this size
    lif = cue.make_network(model="lif")
    assert lif.model == "lif" and not lif.beta.any()
    pat = get_task("pattern")
    a, b = pat.make_network(seed=2), SpikingNetwork.init(100, 100, 1, seed=2, tau_m=30.0,
                                                          tau_out=30.0, v_th=0.03)
    c = 1 - a.alpha
    assert np.array_equal(a.W, b.W * c) and np.array_equal(a.W_in, b.W_in * c)
    assert np.array_equal(a.W_out, b.W_out)


@pytest.mark.parametrize("kwargs, match", [
    (dict(form="current"), "form='current' is an option of rate networks; task 'cue'"),
    (dict(activation="tanh"), "activation='tanh' is an option of rate networks"),
    (dict(v_th=-1.0), "v_th=-1.0 is out of range"),
    (dict(reset="sometimes"), "reset='sometimes' is not allowed"),
])
def test_make_network_rejects_rate_options_and_bad_neuron_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_task("cue").make_network(**kwargs)


# ====================================================================== learning

def _train(task, net, iters, B, seed=0, rule="eprop"):
    d = task.defaults
    opt = make_optimizer(d["optimizer"], {k: getattr(net, k) for k in d["trainable"]}, d["lr"])
    held = task.batch(32, np.random.default_rng([seed, 2]))

    def held_loss():
        return gradient(net, held.inputs, held.targets, held.mask, loss=task.loss, rule=rule)[0]

    before = held_loss()
    for i in range(iters):
        b = task.batch(B, np.random.default_rng([seed, 1, i]))
        _, g = gradient(net, b.inputs, b.targets, b.mask, loss=task.loss, rule=rule,
                        feedback=d["feedback"], seed=seed, reg=d["reg"], reg_rate=d["reg_rate"])
        opt.step(g)
    return before, held_loss()


def test_eprop_lowers_the_cue_loss():
    task = get_task("cue", **SMALL_CUE)
    net = task.make_network(seed=0, n_rec=40)
    before, after = _train(task, net, 40, B=32)
    # ln 2 = 0.693 at chance; 0.32-0.42 measured after 40 iterations (seeds 0-2)
    assert before > 0.68 and after < 0.55, (before, after)


def test_eprop_lowers_the_pattern_loss():
    task = get_task("pattern", T=300)
    net = task.make_network(seed=0, n_rec=50)
    before, after = _train(task, net, 100, B=1)
    assert after < 0.2 * before, (before, after)   # 0.25 -> 0.013-0.021 measured (seeds 0-2)
