"""OnlineLearner: per-step online learning against a PyTorch loop, and its conventions.

References: ``torch_ref_online.TorchOnline`` (autograd deltas and phi', autograd
Jacobians for RTRL, torch.optim optimisers), and ``localrnn.engine.gradient`` for
the frozen-weights relation.  Tolerance: ``RTOL_EXACT`` (1e-10, helpers.py) relative
to each array's largest entry -- the two sides do the same arithmetic in a different
order; after 50 steps of learning the measured disagreement is ~1e-15.
"""
import numpy as np
import pytest

from helpers import ATOL_UNIT_EXACT, RTOL_EXACT, RTOL_F32, assert_grads_close, scale_atol
from localrnn.engine import gradient
from localrnn.network import Network, feedback_matrix
from localrnn.online import OnlineLearner
from torch_ref_online import PARAMS, TorchOnline

T = 50


def net_and_data(form, loss="mse", B=1, N=8, I=3, O=3, T=T, activation="tanh", seed=0,
                 zero_steps=(5, 17)):
    """A small network with non-zero biases and a stream with partial masks; the steps in
    ``zero_steps`` have an all-zero mask (they must contribute nothing)."""
    net = Network.init(I, N, O, gain=1.3, alpha=0.3, form=form, activation=activation, seed=seed)
    rng = np.random.default_rng(seed + 10)
    net.b[:] = 0.2 * rng.standard_normal(N)
    net.b_out[:] = 0.1 * rng.standard_normal(O)
    x = rng.standard_normal((T, B, I))
    if loss == "mse":
        y = rng.standard_normal((T, B, O))
        m = (rng.random((T, B, O)) > 0.3).astype(float)
    else:
        y = rng.integers(0, O, (T, B))
        m = (rng.random((T, B)) > 0.3).astype(float)
    m[0] = 1.0
    for k in zero_steps:
        if k < T:
            m[k] = 0.0
    return net, x, y, m


def assert_same_params(learner, ref, rtol=RTOL_EXACT):
    assert_grads_close({k: getattr(learner.net, k) for k in PARAMS}, ref.params(), rtol=rtol)


def run_both(learner, ref, x, y, m, noise=None):
    ours, theirs = [], []
    for t in range(x.shape[0]):
        nz = None if noise is None else noise[t]
        ours.append(learner.step(x[t], y[t], m[t], noise=nz))
        theirs.append(ref.step(x[t], y[t], m[t], noise=nz))
    return np.array(ours), np.array(theirs)


def pair(net, rule, lr, optimizer, B, every, loss, feedback=None, trainable=PARAMS, h0=None,
         seed=3, lr_override=None):
    lr = lr if lr_override is None else lr_override
    learner = OnlineLearner(net.copy(), rule=rule, lr=lr, optimizer=optimizer, feedback=feedback,
                            update_every=every, loss=loss, seed=seed, batch_size=B,
                            trainable=trainable, h0=h0)
    F = None if (rule == "rtrl" or learner._symmetric) else learner.feedback
    lrd = lr if isinstance(lr, dict) else {k: lr for k in PARAMS}
    lrd = {k: lrd.get(k, 0.0) for k in PARAMS}
    ref = TorchOnline(net.copy(), rule, lrd, optimizer, F, every, loss, trainable=trainable,
                      batch_size=B, h0=h0)
    return learner, ref


# ---------------------------------------------------------------- against PyTorch

LOCAL = [("rflo", "random"), ("eprop", "symmetric")]


@pytest.mark.parametrize("rule,feedback", LOCAL)
@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("B,every", [(1, 1), (1, 5), (3, 1), (3, 5)])
def test_local_rules_match_torch_loop(rule, feedback, form, optimizer, B, every):
    loss = "mse" if (B == 1) != (every == 5) else "xent"   # both losses for every B and K
    activation = "tanh" if form == "current" else "softplus"
    net, x, y, m = net_and_data(form, loss, B, activation=activation)
    lr = 0.05 if optimizer == "sgd" else 0.01
    learner, ref = pair(net, rule, lr, optimizer, B, every, loss, feedback=feedback)
    ours, theirs = run_both(learner, ref, x, y, m)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL_EXACT, atol=scale_atol(RTOL_EXACT, theirs))
    assert ours[5] == 0.0 and ours[17] == 0.0
    assert learner.n_updates == ref.n_updates > 0
    assert_same_params(learner, ref)
    np.testing.assert_allclose(learner.state, ref.s.numpy(), rtol=RTOL_EXACT, atol=ATOL_UNIT_EXACT)
    # learning really happened (the comparison is not between two frozen networks)
    assert np.max(np.abs(learner.net.W - net.W)) > 1e-3


@pytest.mark.parametrize("form,activation", [("current", "relu"), ("rate", "retanh")])
@pytest.mark.parametrize("optimizer,B,every,loss", [("sgd", 1, 1, "xent"), ("adam", 3, 5, "mse")])
def test_rtrl_online_matches_torch_loop(form, activation, optimizer, B, every, loss):
    net, x, y, m = net_and_data(form, loss, B, N=6, activation=activation, T=30)
    lr = 0.05 if optimizer == "sgd" else 0.01
    h0 = 0.3 * np.random.default_rng(1).standard_normal((B, 6))
    learner, ref = pair(net, "rtrl", lr, optimizer, B, every, loss, h0=h0)
    ours, theirs = run_both(learner, ref, x, y, m)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL_EXACT, atol=scale_atol(RTOL_EXACT, theirs))
    assert learner.n_updates == ref.n_updates > 0
    assert_same_params(learner, ref)
    assert np.max(np.abs(learner.net.W - net.W)) > 1e-3


def test_rtrl_online_partial_trainable_matches_torch():
    """RTRL with W untrained: the influence matrix holds only the W_in and b columns."""
    net, x, y, m = net_and_data("current", "mse", 2, N=6, T=25)
    tr = ("W_in", "b", "W_out")
    learner, ref = pair(net, "rtrl", 0.05, "sgd", 2, 1, "mse", trainable=tr)
    assert learner.traces["M"].shape == (2, 6, 6 * 3 + 6)
    ours, theirs = run_both(learner, ref, x, y, m)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL_EXACT, atol=scale_atol(RTOL_EXACT, theirs))
    assert_same_params(learner, ref)
    # frozen parameters: no arithmetic touches them
    np.testing.assert_array_equal(learner.net.W, net.W)
    np.testing.assert_array_equal(learner.net.b_out, net.b_out)
    assert sorted(learner.grads) == sorted(tr)


def test_noise_and_initial_state_match_torch():
    net, x, y, m = net_and_data("current", "mse", 3)
    noise = 0.05 * np.random.default_rng(5).standard_normal((T, 3, 8))
    h0 = 0.5 * np.random.default_rng(6).standard_normal(8)
    learner, ref = pair(net, "rflo", 0.05, "sgd", 3, 2, "mse", feedback="random", h0=h0)
    ours, theirs = run_both(learner, ref, x, y, m, noise)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL_EXACT, atol=scale_atol(RTOL_EXACT, theirs))
    assert_same_params(learner, ref)


def test_lr_dict_and_trainable_match_torch():
    net, x, y, m = net_and_data("rate", "mse", 1)
    lr = {"W": 0.05, "W_out": 0.02}  # the others 0: frozen, gradients still accumulated
    learner, ref = pair(net, "eprop", lr, "adam", 1, 1, "mse")
    run_both(learner, ref, x, y, m)
    assert_same_params(learner, ref)
    # frozen parameters (lr 0): no arithmetic touches them
    for k in ("W_in", "b", "b_out"):
        np.testing.assert_array_equal(getattr(learner.net, k), getattr(net, k))
        assert np.any(learner.grads[k])
    assert not np.array_equal(learner.net.W, net.W)


# ------------------------------------------------- frozen weights vs batched gradient

@pytest.mark.parametrize("rule", ["eprop", "rflo", "rtrl"])
@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_frozen_online_gradient_is_batched_gradient(rule, form, loss):
    """lr = 0: sum_t s_t g_t = S G, sum_t s_t l_t = S L (s_t: step mask sums, S = sum s_t),
    and with a full mask sum_t g_t = T G (G, L: localrnn.engine.gradient)."""
    Tn, B = 12, 3
    net, x, y, m = net_and_data(form, loss, B, T=Tn, zero_steps=(4,))
    h0 = 0.4 * np.random.default_rng(2).standard_normal((B, 8))
    L_b, G = gradient(net, x, y, m, loss=loss, rule=rule, seed=7, h0=h0)
    s = m.reshape(Tn, -1).sum(axis=1)
    learner = OnlineLearner(net, rule=rule, lr=0.0, loss=loss, batch_size=B, seed=7, h0=h0)
    acc = {k: np.zeros_like(v) for k, v in G.items()}
    loss_sum = 0.0
    for t in range(Tn):
        loss_sum += s[t] * learner.step(x[t], y[t], m[t])
        g = learner.grads  # update_every=1: the step's own contribution g_t
        for k in acc:
            acc[k] += s[t] * g[k]
    S = s.sum()
    np.testing.assert_allclose(loss_sum, S * L_b, rtol=RTOL_EXACT)
    assert_grads_close(acc, {k: S * v for k, v in G.items()})
    # full mask: the plain accumulated sum over a trial (one window of T steps) is T G
    L_f, G_f = gradient(net, x, y, None, loss=loss, rule=rule, seed=7, h0=h0)
    full = OnlineLearner(net, rule=rule, lr=0.0, loss=loss, batch_size=B, seed=7, h0=h0,
                         update_every=Tn)
    losses = full.run(x, y)
    np.testing.assert_allclose(losses.sum(), Tn * L_f, rtol=RTOL_EXACT)
    assert full.n_updates == 1 and full.pending_steps == 0
    assert_grads_close(full.grads, {k: Tn * v for k, v in G_f.items()})
    # lr=0: no arithmetic touches the parameters
    for k in PARAMS:  # frozen means frozen
        np.testing.assert_array_equal(getattr(full.net, k), getattr(net, k))


# ----------------------------------------------------------------- streaming, reset

@pytest.mark.parametrize("rule,form", [("eprop", "current"), ("rflo", "rate"), ("rtrl", "current")])
def test_run_is_step_bit_for_bit(rule, form):
    net, x, y, m = net_and_data(form, "mse", 2, T=20)
    noise = 0.05 * np.random.default_rng(5).standard_normal((20, 2, 8))
    a = OnlineLearner(net.copy(), rule=rule, lr=0.01, optimizer="adam", update_every=3, batch_size=2)
    b = OnlineLearner(net.copy(), rule=rule, lr=0.01, optimizer="adam", update_every=3, batch_size=2)
    la = np.array([a.step(x[t], y[t], m[t], noise=noise[t]) for t in range(20)])
    lb = b.run(x, y, m, noise=noise)
    # same computation: run() loops the per-step functions step() calls, on the same
    # arrays. step() runs outside step_blas_limit and run() inside it; at B = 2, N = 8 the
    # GEMMs are far below OpenBLAS's threading threshold, so both use one thread
    np.testing.assert_array_equal(la, lb)
    for k in PARAMS:
        np.testing.assert_array_equal(getattr(a.net, k), getattr(b.net, k))
    np.testing.assert_array_equal(a.state, b.state)
    assert a.n_steps == b.n_steps == 20


@pytest.mark.parametrize("rule,form", [("eprop", "current"), ("rflo", "rate"), ("rtrl", "rate")])
def test_reset_keeps_weights_optimizer_and_partial_window(rule, form):
    """Two trials with a reset between them: equal to the PyTorch loop with the same
    semantics (state and traces zeroed; weights, Adam moments and the partial window kept)."""
    net, x, y, m = net_and_data(form, "mse", 2, T=24, zero_steps=())
    learner, ref = pair(net, rule, 0.02, "adam", 2, 4, "mse")
    run_both(learner, ref, x[:10], y[:10], m[:10])
    assert learner.pending_steps == 2 and learner.n_updates == 2
    W_before = learner.net.W.copy()
    learner.reset()
    ref.reset()
    assert not np.any(learner.state)
    assert all(not np.any(v) for v in learner.traces.values())
    # reset() does no arithmetic on the weights
    np.testing.assert_array_equal(learner.net.W, W_before)
    assert learner.pending_steps == 2 and learner.n_updates == 2
    run_both(learner, ref, x[10:], y[10:], m[10:])
    assert learner.n_updates == ref.n_updates == 6
    assert_same_params(learner, ref)
    # flush applies a partial window once
    assert learner.pending_steps == 0
    assert learner.flush() is False
    learner.step(x[0], y[0], m[0])
    ref.step(x[0], y[0], m[0])
    assert learner.flush() is True
    ref.apply()
    assert learner.pending_steps == 0 and learner.n_updates == ref.n_updates == 7
    assert_same_params(learner, ref)


@pytest.mark.parametrize("form,rule", [("current", "eprop"), ("rate", "rflo")])
@pytest.mark.parametrize("B", [1, 3])
def test_grads_with_sgd_every_step(form, rule, B):
    """SGD with update_every=1 puts W, W_in, b contributions straight into the weights;
    ``grads`` still returns what was applied, after zero-mask steps and a reset too."""
    net, x, y, m = net_and_data(form, "mse", B, T=20, zero_steps=(5, 6, 12))
    learner, ref = pair(net, rule, 0.05, "sgd", B, 1, "mse",
                        lr_override={"W": 0.05, "W_in": 0.05, "b": 0.0, "W_out": 0.05, "b_out": 0.05})
    for t in range(20):
        if t == 9:
            learner.reset()
            ref.reset()
        learner.step(x[t], y[t], m[t])
        ref.step(x[t], y[t], m[t])
        assert_grads_close(learner.grads, ref.applied)
    assert_same_params(learner, ref)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_state_dict_round_trip(optimizer):
    """A learner restored from state_dict() (weights copied, new trials) continues exactly
    like the original after reset(): accumulators, Adam moments and counters carried."""
    net, x, y, m = net_and_data("rate", "mse", 2, T=20, zero_steps=())
    a = OnlineLearner(net.copy(), rule="rflo", lr=0.02, optimizer=optimizer, update_every=3,
                      batch_size=2, trainable=["W", "b", "W_out"])
    a.run(x[:7], y[:7], m[:7])  # 2 updates, 1 pending step
    d = a.state_dict()
    assert d["step_count"] == 2 and d["pending"] == 1 and d["n_steps"] == 7
    assert sorted(d) == sorted(["step_count", "pending", "n_steps"] + [
        f"{r}_{k}" for r in (("acc", "m", "v") if optimizer == "adam" else ("acc",))
        for k in ("W", "b", "W_out")])
    b = OnlineLearner(a.net.copy(), rule="rflo", lr=0.02, optimizer=optimizer, update_every=3,
                      batch_size=2, trainable=["W", "b", "W_out"])
    b.load_state_dict(d)
    a.reset()
    la, lb = a.run(x[7:], y[7:], m[7:]), b.run(x[7:], y[7:], m[7:])
    # same computation: a resume (same kernel, same state, same inputs, same thread limit)
    np.testing.assert_array_equal(la, lb)
    for k in PARAMS:
        np.testing.assert_array_equal(getattr(a.net, k), getattr(b.net, k))
    assert a.n_updates == b.n_updates == 6
    with pytest.raises(ValueError, match=r"state dict is missing \['acc_W'\]"):
        b.load_state_dict({k: v for k, v in d.items() if k != "acc_W"})
    with pytest.raises(ValueError, match=r"acc_b has shape \(3,\); expected \(8\)"):
        b.load_state_dict({**d, "acc_b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"pending=3 is out of range"):
        b.load_state_dict({**d, "pending": np.array(3)})


def test_reset_to_h0():
    net, x, y, m = net_and_data("current", "mse", 2)
    h0 = np.arange(8.0) / 10
    learner = OnlineLearner(net, rule="eprop", lr=0.01, batch_size=2, h0=h0)
    # copies of h0: no arithmetic
    np.testing.assert_array_equal(learner.state, np.tile(h0, (2, 1)))
    learner.step(x[0], y[0])
    learner.reset()
    np.testing.assert_array_equal(learner.state, np.tile(h0, (2, 1)))
    h1 = np.ones((2, 8))
    learner.reset(h1)
    np.testing.assert_array_equal(learner.state, h1)


def test_zero_mask_step_changes_no_weight():
    net, x, y, _ = net_and_data("rate", "xent", 2)
    learner = OnlineLearner(net.copy(), rule="rflo", lr=0.1, optimizer="adam", loss="xent",
                            batch_size=2)
    before = {k: getattr(learner.net, k).copy() for k in PARAMS}
    s0 = learner.state
    loss = learner.step(x[0], y[0], np.zeros(2))
    assert loss == 0.0 and learner.n_updates == 0 and learner.pending_steps == 0
    for k in PARAMS:
        # a zero mask: no update is applied
        np.testing.assert_array_equal(getattr(learner.net, k), before[k])
    assert not np.array_equal(learner.state, s0)  # the network still ran
    assert np.any(learner.traces["q"])            # and its traces still moved (a_0 = 0: p stays 0)


# ---------------------------------------------------------------- feedback, memory

def test_feedback_symmetric_follows_readout_random_is_fixed():
    net, x, y, m = net_and_data("current", "mse", 1)
    sym = OnlineLearner(net.copy(), rule="eprop", lr=0.1)
    rnd = OnlineLearner(net.copy(), rule="rflo", lr=0.1, seed=11)
    F0 = rnd.feedback
    # a rerun: same seed, same draw; the feedback arrays below are copies
    np.testing.assert_array_equal(F0, feedback_matrix(net, "random", "rflo", 11))
    for t in range(10):
        sym.step(x[t], y[t], m[t])
        rnd.step(x[t], y[t], m[t])
    np.testing.assert_array_equal(sym.feedback, sym.net.W_out.T)
    assert not np.array_equal(sym.net.W_out, net.W_out)
    np.testing.assert_array_equal(rnd.feedback, F0)
    F = np.random.default_rng(0).standard_normal((8, 3))
    arr = OnlineLearner(net.copy(), rule="eprop", lr=0.1, feedback=F)
    np.testing.assert_array_equal(arr.feedback, F)


def test_memory_per_synapse():
    N, I = 16, 3
    cur = Network.init(I, N, 2, form="current")
    rate = Network.init(I, N, 2, form="rate")
    assert OnlineLearner(cur, rule="eprop").memory_per_synapse() == pytest.approx(1 / N)
    assert OnlineLearner(rate, rule="rflo").memory_per_synapse() == 1.0
    assert OnlineLearner(cur, rule="rtrl").memory_per_synapse() == N
    mem = OnlineLearner(cur, rule="rtrl", trainable=["W"], optimizer="adam", update_every=2).memory()
    P, O = N * N, 2
    # workspace: 6 N + 2 O per-step vectors, d and the two P products, J (N x N), and
    # the second influence buffer (N x P: J M is not computed in place)
    assert mem == {"state_per_stream": N, "traces_per_stream": N ** 3, "synapses": N * N,
                   "readout": 0, "accumulator": N * N, "optimizer": 2 * N * N,
                   "workspace": 6 * N + 2 * O + (N + 2 * P) + N * N + N * P}
    ro = 2 * N + 2
    # SGD every step, one stream, current form: no recurrent accumulator, only the
    # N + I + 1 traces of the last contribution (for ``grads``)
    mem = OnlineLearner(cur, rule="eprop").memory()
    assert mem["accumulator"] == ro + N + I + 1 and mem["readout"] == ro
    # the rate form keeps the recurrent sums: its N x N traces move on at every step
    mem = OnlineLearner(rate, rule="rflo").memory()
    assert mem["accumulator"] == ro + N * (N + I + 1) and mem["readout"] == ro
    assert mem["optimizer"] == 0
    assert mem["traces_per_stream"] == mem["synapses"] == N * (N + I + 1)


@pytest.mark.parametrize("rule,form,optimizer,every,B,trainable", [
    ("eprop", "current", "sgd", 1, 1, None),
    ("eprop", "current", "sgd", 1, 1, ["W", "b_out"]),
    ("eprop", "current", "sgd", 1, 2, None),
    ("rflo", "rate", "sgd", 1, 1, None),
    ("rflo", "current", "adam", 2, 3, ["W_in", "W_out"]),
    ("rtrl", "current", "sgd", 1, 2, None),
    ("rtrl", "rate", "adam", 1, 1, ["b", "W"]),
])
def test_memory_counts_every_float_held(rule, form, optimizer, every, B, trainable):
    """memory() adds up to the floats of the arrays the learner holds (its own, not the
    network's parameters), and G holds only the parameters that accumulate."""
    net = Network.init(3, 8, 2, form=form)
    learner = OnlineLearner(net, rule=rule, optimizer=optimizer, update_every=every,
                            batch_size=B, trainable=trainable)
    mem = learner.memory()
    held = sum(a.nbytes for a in (learner._S, learner._Y, learner._E, learner._M, learner._J,
                                  learner._aux, learner._G))
    floats = B * (mem["state_per_stream"] + mem["traces_per_stream"]) + mem["accumulator"] \
        + mem["optimizer"] + mem["workspace"]
    assert held == 8 * floats
    sizes = {"W_in": 8 * 3, "W": 8 * 8, "b": 8, "W_out": 2 * 8, "b_out": 2}
    trained = [k for k in sizes if trainable is None or k in trainable]
    keep = rule != "rtrl" and form == "current" and optimizer == "sgd" and B == 1
    rec = [k for k in trained if k in ("W", "W_in", "b")]
    held_sums = sum(sizes[k] for k in trained if not (keep and k in rec))
    assert learner._G.shape[1] == held_sums


def test_direct_contributions_without_accumulator_match_full_layout():
    """An e-prop learner (one stream, SGD every step) keeps no recurrent accumulator;
    after load_state_dict (or a learning rate of 0) it holds one.  Both do the same
    arithmetic on the weights, and ``grads`` / ``state_dict`` rebuild the same sums, also
    after zero-mask steps and a reset -- so they agree exactly."""
    net, x, y, m = net_and_data("current", "mse", 1)
    a = OnlineLearner(net.copy(), rule="eprop", lr=0.05)
    b = OnlineLearner(net.copy(), rule="eprop", lr=0.05)
    assert a.memory()["accumulator"] == b.memory()["accumulator"]
    b.load_state_dict(b.state_dict())       # now holds G for W, W_in, b
    assert b.memory()["accumulator"] > a.memory()["accumulator"]
    for t in range(x.shape[0]):
        if t == 11:
            a.reset()
            b.reset()
        la, lb = a.step(x[t], y[t], m[t]), b.step(x[t], y[t], m[t])
        assert la == lb
        if t % 4 == 0:
            for k, v in a.grads.items():
                np.testing.assert_array_equal(v, b.grads[k])
    for k in PARAMS:
        np.testing.assert_array_equal(getattr(a.net, k), getattr(b.net, k))
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])
    # a learning rate of 0 needs the accumulator: the learner switches to it
    a.set_lr({"W": 0.0, "W_in": 0.05, "b": 0.05, "W_out": 0.05, "b_out": 0.05})
    b.set_lr({"W": 0.0, "W_in": 0.05, "b": 0.05, "W_out": 0.05, "b_out": 0.05})
    assert a.memory()["accumulator"] == b.memory()["accumulator"]
    for t in range(5):
        a.step(x[t], y[t], m[t])
        b.step(x[t], y[t], m[t])
    for k, v in a.grads.items():
        np.testing.assert_array_equal(v, b.grads[k])


def test_float32_learner_tracks_float64():
    net, x, y, m = net_and_data("current", "mse", 2, T=20)
    l64 = OnlineLearner(net.copy(), rule="eprop", lr=0.05, batch_size=2)
    l32 = OnlineLearner(net.astype("float32"), rule="eprop", lr=0.05, batch_size=2)
    a = l64.run(x, y, m)
    b = l32.run(x, y, m)
    assert l32.net.W.dtype == np.float32
    # measured: 3e-7 relative (float32 arithmetic over 20 steps of learning)
    np.testing.assert_allclose(b, a, rtol=RTOL_F32, atol=scale_atol(RTOL_F32, a))
    assert_grads_close({k: getattr(l32.net, k) for k in PARAMS},
                       {k: getattr(l64.net, k) for k in PARAMS}, rtol=RTOL_F32)


def test_bench_peer_does_the_same_work():
    """The PyTorch peer timed by the benchmark computes what the learner computes."""
    pytest.importorskip("torch")
    from localrnn.benchmarks.online import TorchOnlineStep, online_problem
    import torch

    for form, rule in (("current", "eprop"), ("rate", "rflo")):
        net, x, y, m = online_problem(form, N=12)
        learner = OnlineLearner(net.copy(), rule=rule, lr=0.05)
        F = None if rule == "eprop" else learner.feedback
        peer = TorchOnlineStep(net.copy(), F, 0.05)
        tx, ty, tm = (torch.from_numpy(a) for a in (x, y, m))
        for _ in range(20):
            a = learner.step(x, y, m)
            b = peer.step(tx, ty, tm)
        assert a == pytest.approx(b, rel=RTOL_EXACT)
        assert_grads_close({k: getattr(learner.net, k) for k in PARAMS},
                           {k: getattr(peer, k).numpy() for k in PARAMS})


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("kwargs,match", [
    (dict(rule="bptt"), "rule='bptt'.*'eprop', 'rflo', 'rtrl'"),
    (dict(optimizer="rmsprop"), "optimizer='rmsprop'.*'sgd', 'adam'"),
    (dict(loss="bce"), "loss='bce'.*'mse', 'xent'"),
    (dict(update_every=0), r"update_every=0 is out of range; allowed \[1, inf\]"),
    (dict(update_every=2.5), "update_every=2.5 must be an integer"),
    (dict(lr=-1.0), r"lr=-1.0 is out of range; allowed \[0.0, inf\]"),
    (dict(lr={"V": 1.0}), r"lr has unknown parameter names \['V'\]"),
    (dict(lr={"W": float("nan")}), "lr\\['W'\\]=nan must be finite"),
    (dict(feedback="weird"), "feedback='weird'.*'symmetric', 'random'"),
    (dict(rule="rtrl", feedback="random"), "feedback='random' is not allowed for rule='rtrl'"),
    (dict(feedback=np.ones((3, 3))), r"feedback has shape \(3, 3\); expected \(8, 3\)"),
    (dict(batch_size=0), r"batch_size=0 is out of range; allowed \[1, inf\]"),
    (dict(trainable=["W", "V"]), "trainable entry='V'.*'W_in', 'W', 'b', 'W_out', 'b_out'"),
    (dict(trainable="W"), "trainable='W' must be a list of names"),
    (dict(h0=np.zeros(5)), r"h0 has shape \(5,\); expected \(8\)"),
    (dict(optimizer="adam", betas=(0.9, 1.0)), r"beta2=1.0 is out of range"),
    (dict(seed=-1), r"seed=-1 is out of range"),
])
def test_bad_constructor_arguments(kwargs, match):
    net = Network.init(3, 8, 3)
    with pytest.raises(ValueError, match=match):
        OnlineLearner(net, **kwargs)


def test_bad_net():
    with pytest.raises(ValueError, match="net is a dict; expected a localrnn.Network"):
        OnlineLearner({"W": np.eye(3)})


def test_bad_step_and_run_arguments():
    net = Network.init(3, 8, 3)
    learner = OnlineLearner(net, batch_size=2)
    with pytest.raises(ValueError, match=r"x has shape \(3,\); expected 2 dimensions \(2, 3\)"):
        learner.step(np.zeros(3), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"target has shape \(2, 2\); expected \(2, 3\)"):
        learner.step(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x has a non-finite value nan"):
        learner.step([[np.nan] * 3] * 2, np.zeros((2, 3)))   # converted input: checked
    with pytest.raises(ValueError, match="inputs has a non-finite value nan"):
        learner.run(np.full((4, 2, 3), np.nan), np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match="mask has a negative entry -1.0"):
        learner.step(np.zeros((2, 3)), np.zeros((2, 3)), -np.ones(2))
    with pytest.raises(ValueError, match=r"noise has shape \(2, 3\); expected \(2, 8\)"):
        learner.step(np.zeros((2, 3)), np.zeros((2, 3)), noise=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="inputs has 4 streams.*batch_size=2"):
        learner.run(np.zeros((5, 4, 3)), np.zeros((5, 4, 3)))
    assert learner.n_steps == 0  # nothing ran
    xent = OnlineLearner(net, loss="xent", batch_size=2)
    with pytest.raises(ValueError, match=r"target has label 3; allowed labels are 0..2"):
        xent.step(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target has label -1; allowed labels are 0..2"):
        xent.step(np.zeros((2, 3)), np.array([-1, 0], dtype=np.int32))
    with pytest.raises(ValueError, match="targets has label 5"):
        xent.run(np.zeros((2, 2, 3)), np.full((2, 2), 5))
    assert xent.n_steps == 0


def test_mask_per_stream_broadcasts_over_outputs():
    net, x, y, _ = net_and_data("current", "mse", 2)
    a = OnlineLearner(net.copy(), lr=0.1, batch_size=2)
    b = OnlineLearner(net.copy(), lr=0.1, batch_size=2)
    ms = np.array([1.0, 0.0])
    la = a.step(x[0], y[0], ms)
    lb = b.step(x[0], y[0], np.repeat(ms[:, None], 3, axis=1))
    # same computation: the (B,) mask is broadcast to (B, O) before the kernel runs
    assert la == lb
    np.testing.assert_array_equal(a.net.W, b.net.W)


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_step_fast_path_and_checked_path_agree(loss):
    """``step`` with arrays of the compiled types goes straight to the entry point;
    lists are validated and go through the dispatcher.  Same compiled function, so the
    losses and weights must be bit-identical -- and each learner must have taken its path."""
    net = Network.init(2, 16, 3, gain=1.2, seed=0)
    fast = OnlineLearner(net.copy(), rule="eprop", lr=0.05, loss=loss)
    checked = OnlineLearner(net.copy(), rule="eprop", lr=0.05, loss=loss)
    rng = np.random.default_rng(1)
    for _ in range(25):
        x = rng.standard_normal((1, 2))
        tgt = rng.standard_normal((1, 3)) if loss == "mse" else rng.integers(0, 3, size=1)
        assert fast.step(x, tgt) == checked.step(x.tolist(), tgt.tolist())
    assert fast._entry is not None and checked._entry is None
    for k in PARAMS:
        np.testing.assert_array_equal(getattr(fast.net, k), getattr(checked.net, k))
    assert fast.n_steps == checked.n_steps == 25
