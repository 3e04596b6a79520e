"""Spiking networks (MODEL.md section 9) against the PyTorch reference and each other.

Why "identical spikes" is the right claim for the forward pass: our kernel sums the
recurrent input over the neurons that spiked (event-driven) and PyTorch multiplies
matrices, so the voltages differ in the last bits (measured below 4e-15 here).  A
spike decision can differ only where |v - A| is below that error.  Every problem
here is checked to keep every voltage at least ``MARGIN`` away from its threshold
(the data are chosen so: Gaussian inputs, never a voltage exactly at threshold), so
any spike that differs is a bug, and the voltages are compared to ``RTOL_EXACT``.
"""
import numpy as np
import pytest
import torch

import torch_ref_spiking as ref
from helpers import RTOL_EXACT, RTOL_F32, assert_grads_close
from localrnn import Network, feedback_matrix
from localrnn.names import PARAM_NAMES as PARAMS
from localrnn.spiking import SpikingNetwork, SpikingOnlineLearner, forward, gradient, trajectory

#: the smallest distance |v - A| the test problems keep from the threshold (their
#: voltages agree to ~1e-15 between the two implementations)
MARGIN = 1e-8
CASES = [(m, r, n) for m in ("lif", "alif") for r in ("subtract", "set") for n in (0, 2)]


def make_net(model="alif", reset="subtract", refractory=2, n_in=5, n_rec=20, n_out=3, seed=0,
             dtype="float64"):
    kw = dict(v_reset=-0.1) if reset == "set" else {}
    return SpikingNetwork.init(n_in, n_rec, n_out, model=model, reset=reset, seed=seed, v_th=0.5,
                               refractory=refractory, n_adaptive=12 if model == "alif" else None,
                               tau_a=30.0, dtype=dtype, **kw)


def make_data(net, T=30, B=3, seed=1, loss="mse"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, net.n_in))
    if loss == "mse":
        y = rng.standard_normal((T, B, net.n_out))
        m = (rng.random((T, B, net.n_out)) < 0.6).astype(float)
    else:
        y = rng.integers(0, net.n_out, size=(T, B))
        m = (rng.random((T, B)) < 0.6).astype(float)
    m.flat[0] = 1.0
    return x, y, m


def check_margin(v, A):
    margin = float(np.min(np.abs(v - A)))
    assert margin > MARGIN, f"test data put a voltage {margin:.1e} from its threshold; choose other data"


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ================================================================== forward pass

@pytest.mark.parametrize("model, reset, n_ref", CASES)
def test_forward_spikes_identical_to_pytorch(model, reset, n_ref):
    net = make_net(model, reset, n_ref)
    x, _, _ = make_data(net)
    v0 = np.random.default_rng(5).uniform(-0.2, 0.2, net.n_rec)
    z, v, A, y = forward(net, x, v0=v0)
    zr, vr, Ar, yr = ref.forward(net, x, v0=np.broadcast_to(v0, (x.shape[1], net.n_rec)))
    check_margin(vr, Ar)
    assert 0.02 < z.mean() < 0.5                       # the network spikes, but not always
    assert np.array_equal(z, zr)
    assert set(np.unique(z)) <= {0.0, 1.0}
    assert rel(v, vr) < RTOL_EXACT and rel(A, Ar) < RTOL_EXACT and rel(y, yr) < RTOL_EXACT


def test_refractory_neurons_stay_silent_for_n_ref_steps():
    net = make_net("lif", "subtract", refractory=3)
    x, _, _ = make_data(net, T=60)
    x *= 3.0                                            # strong drive: neurons would fire often
    z = forward(net, x)[0]
    for b in range(z.shape[1]):
        for n in range(z.shape[2]):
            t = np.flatnonzero(z[:, b, n])
            assert np.all(np.diff(t) > 3)
    assert z.sum() > 20


def test_alif_threshold_is_v_th_plus_beta_b():
    net = make_net("alif", "subtract", 0)
    x, _, _ = make_data(net)
    tr = trajectory(net, x)
    b = np.zeros_like(tr.adaptation[0])
    z_prev = np.zeros_like(b)
    for k in range(x.shape[0]):                         # b_t = rho b_{t-1} + z_{t-1}
        b = net.rho * b + z_prev
        z_prev = tr.spikes[k]
        assert np.allclose(tr.adaptation[k], b, rtol=0, atol=1e-13)
    assert np.allclose(tr.thresholds, net.v_th + net.beta * tr.adaptation, rtol=0, atol=0)
    assert np.all(tr.thresholds[:, :, :8] == net.v_th)   # the first 8 neurons are LIF


def test_alif_with_zero_beta_is_lif():
    lif = make_net("lif", "subtract", 1)
    alif = SpikingNetwork(**{**{f: getattr(lif, f) for f in ("W_in", "W", "b", "W_out", "b_out",
                                                            "reset", "dt", "tau_m", "v_th",
                                                            "refractory")},
                             "beta": np.zeros(lif.n_rec), "model": "alif"})
    x, y, m = make_data(lif)
    assert np.array_equal(forward(lif, x)[0], forward(alif, x)[0])
    for rule in ("bptt", "eprop"):
        assert_grads_close(gradient(alif, x, y, m, rule=rule)[1], gradient(lif, x, y, m, rule=rule)[1])


def test_forward_is_bit_identical_when_repeated():
    net = make_net()
    x, y, m = make_data(net)
    a = gradient(net, x, y, m, rule="bptt")
    b = gradient(net, x, y, m, rule="bptt")
    assert a[0] == b[0] and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


# ================================================================== gradients

@pytest.mark.parametrize("model, reset, n_ref", CASES)
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_bptt_equals_autograd(model, reset, n_ref, loss):
    net = make_net(model, reset, n_ref)
    x, y, m = make_data(net, loss=loss)
    v0 = np.random.default_rng(6).uniform(-0.2, 0.2, (x.shape[1], net.n_rec))
    L, g = gradient(net, x, y, m, loss=loss, rule="bptt", v0=v0)
    Lr, gr, zr, vr, Ar = ref.grads(net, x, y, m, kind=loss, v0=v0)
    check_margin(vr, Ar)
    assert abs(L - Lr) <= RTOL_EXACT * abs(Lr)
    assert_grads_close(g, gr)
    assert np.all(np.diag(g["W"]) == 0.0)


@pytest.mark.parametrize("model, reset, n_ref", CASES)
def test_eprop_equals_autograd_with_the_spikes_into_the_voltage_detached(model, reset, n_ref):
    net = make_net(model, reset, n_ref)
    x, y, m = make_data(net)
    L, g = gradient(net, x, y, m, rule="eprop")
    Lr, gr, zr, vr, Ar = ref.grads(net, x, y, m, eprop=True)
    check_margin(vr, Ar)
    assert abs(L - Lr) <= RTOL_EXACT * abs(Lr)
    assert_grads_close(g, gr)
    # not the exact gradient: the equality above is about e-prop, not BPTT
    gb = gradient(net, x, y, m, rule="bptt")[1]
    assert rel(g["W"], gb["W"]) > 1e-2


@pytest.mark.parametrize("reset", ["subtract", "set"])
def test_eprop_keeps_the_adaptation_path(reset):
    """Bellec's detaches are exactly the spikes into the voltage: detaching the spikes
    into the adaptation as well drops eps_a and gives another gradient."""
    net = make_net("alif", reset, 1)
    x, y, m = make_data(net)
    g = gradient(net, x, y, m, rule="eprop")[1]
    gr = ref.grads(net, x, y, m, eprop=True, detach_adaptation=True)[1]
    assert rel(g["W_in"], gr["W_in"]) > 1e-2


@pytest.mark.parametrize("rule", ["bptt", "eprop"])
def test_regularizer_gradient_equals_autograd(rule):
    net = make_net("alif", "subtract", 2)
    x, y, m = make_data(net)
    L, g = gradient(net, x, y, m, rule=rule, reg=0.7, reg_rate=0.05)
    Lr, gr, *_ = ref.grads(net, x, y, m, eprop=rule == "eprop", reg=0.7, reg_rate=0.05)
    assert abs(L - Lr) <= RTOL_EXACT * abs(Lr)
    assert_grads_close(g, gr)
    assert L > gradient(net, x, y, m, rule=rule)[0]


@pytest.mark.parametrize("model, reset", [("lif", "subtract"), ("alif", "set")])
def test_eprop_random_feedback_equals_autograd(model, reset):
    net = make_net(model, reset, 1)
    x, y, m = make_data(net)
    F = np.random.default_rng(3).standard_normal((net.n_rec, net.n_out))
    g = gradient(net, x, y, m, rule="eprop", feedback=F)[1]
    assert_grads_close(g, ref.grads(net, x, y, m, eprop=True, F=F)[1])
    # "random" draws the same B as localrnn.feedback_matrix, from the seed
    g1 = gradient(net, x, y, m, rule="eprop", feedback="random", seed=4)[1]
    g2 = gradient(net, x, y, m, rule="eprop", feedback=feedback_matrix(net, "random", "eprop", 4))[1]
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)


@pytest.mark.parametrize("model, reset, n_ref", CASES)
def test_eprop_traces_equal_the_backward_form(model, reset, n_ref):
    """The eligibility traces forward in time (the online learner's recursions) and the
    truncated adjoint backward in time are the same number."""
    net = make_net(model, reset, n_ref)
    x, y, m = make_data(net)
    F = np.random.default_rng(3).standard_normal((net.n_rec, net.n_out))
    for fb in (None, F):
        a = gradient(net, x, y, m, rule="eprop", feedback=fb, reg=0.3, reg_rate=0.1)
        b = gradient(net, x, y, m, rule="eprop", feedback=fb, reg=0.3, reg_rate=0.1, method="trace")
        assert a[0] == b[0]
        assert_grads_close(b[1], a[1], rtol=1e-12)


def test_float32_runs_agree_with_float64():
    net = make_net("alif", "subtract", 2)
    net32 = net.astype("float32")
    x, y, m = make_data(net)
    x32 = x.astype(np.float32)                          # the same inputs in both runs
    z, v, A, _ = forward(net, x32)
    z32, v32, A32, _ = forward(net32, x32)
    assert float(np.min(np.abs(v - A))) > 1e-4         # well away from threshold for float32
    assert z32.dtype == np.float32 and np.array_equal(z, z32)
    assert rel(v32, v) < RTOL_F32
    for rule in ("bptt", "eprop"):
        g = gradient(net, x32, y, m, rule=rule)[1]
        g32 = gradient(net32, x32, y, m, rule=rule)[1]
        assert all(g32[k].dtype == np.float32 for k in g32)
        assert_grads_close(g32, g, rtol=RTOL_F32)


# ================================================================== online learner

@pytest.mark.parametrize("model, reset, n_ref", CASES)
def test_online_sum_equals_batched_eprop(model, reset, n_ref):
    """Frozen weights: sum_t s_t g_t = S G (s_t the step's mask sum)."""
    net = make_net(model, reset, n_ref)
    x, y, m = make_data(net, B=2)
    L, G = gradient(net, x, y, m, rule="eprop")
    learner = SpikingOnlineLearner(net, lr=0.0, batch_size=2)
    s = m.sum(axis=(1, 2))
    acc = {k: 0.0 for k in G}
    for k in range(x.shape[0]):
        learner.step(x[k], y[k], m[k])
        if s[k] > 0:
            for p, gp in learner.grads.items():
                acc[p] = acc[p] + s[k] * gp
    assert_grads_close({k: v / s.sum() for k, v in acc.items()}, G)


def test_online_random_feedback_equals_batched():
    net = make_net("alif", "subtract", 2)
    x, y, _ = make_data(net, B=2)
    G = gradient(net, x, y, None, rule="eprop", feedback="random", seed=4)[1]
    learner = SpikingOnlineLearner(net, lr=0.0, feedback="random", seed=4, batch_size=2,
                                   update_every=x.shape[0])   # one window: the trial
    learner.run(x, y)
    assert np.array_equal(learner.feedback, feedback_matrix(net, "random", "eprop", 4))
    assert_grads_close({k: v / x.shape[0] for k, v in learner.grads.items()}, G)


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_online_sgd_update_at_the_trial_end_is_batched_eprop(loss):
    """Full mask, SGD, one update after T steps: W <- W - lr T G (G the batched e-prop
    gradient with the same weights); the step losses average to the batch loss."""
    net = make_net("alif", "set", 1)
    x, y, _ = make_data(net, B=2, loss=loss)
    T = x.shape[0]
    L, G = gradient(net, x, y, None, loss=loss, rule="eprop")
    before = {k: v.copy() for k, v in net.params().items()}
    learner = SpikingOnlineLearner(net, lr=0.01, loss=loss, update_every=T, batch_size=2)
    losses = learner.run(x, y)
    assert learner.n_updates == 1 and learner.pending_steps == 0
    assert abs(losses.mean() - L) <= 1e-12 * L
    assert_grads_close({k: (before[k] - v) / (0.01 * T) for k, v in net.params().items()}, G,
                       rtol=1e-11)   # W - W' loses the digits of W the update leaves: 1e-13 measured


def test_online_adam_matches_torch_adam_on_the_accumulated_gradient():
    net = make_net("lif", "subtract", 0)
    x, y, _ = make_data(net, B=1, T=12)
    T = x.shape[0]
    init = net.copy()
    learner = SpikingOnlineLearner(net, lr=1e-3, optimizer="adam", update_every=T)
    learner.run(x, y)
    G = gradient(init, x, y, None, rule="eprop")[1]
    params = {k: torch.tensor(v.copy()) for k, v in init.params().items()}
    opt = torch.optim.Adam(list(params.values()), lr=1e-3)
    for k, p in params.items():
        p.grad = torch.tensor(T * G[k])
    opt.step()
    for k, p in params.items():
        assert np.allclose(getattr(net, k), p.detach().numpy(), rtol=0, atol=1e-12), k


def test_online_run_equals_steps_and_resume_is_bit_identical():
    net_a, net_b = make_net(), make_net()
    x, y, m = make_data(net_a, B=2, T=20)
    a = SpikingOnlineLearner(net_a, lr=0.02, optimizer="adam", update_every=3, batch_size=2)
    la = list(a.run(x, y, m))
    a.reset()                                           # a restored learner starts new trials
    la += list(a.run(x, y, m))
    b = SpikingOnlineLearner(net_b, lr=0.02, optimizer="adam", update_every=3, batch_size=2)
    lb = [b.step(x[k], y[k], m[k]) for k in range(x.shape[0])]
    state = b.state_dict()
    c = SpikingOnlineLearner(net_b, lr=0.02, optimizer="adam", update_every=3, batch_size=2)
    c.load_state_dict(state)
    lb += list(c.run(x, y, m))
    assert la == lb
    assert all(np.array_equal(getattr(net_a, k), getattr(net_b, k)) for k in net_a.params())
    assert a.n_updates > 3 and np.all(np.diag(net_a.W) == 0.0)


def test_online_xent_steps_equal_run():
    nets = [make_net("lif", "set", 1), make_net("lif", "set", 1)]
    x, y, m = make_data(nets[0], B=2, loss="xent")
    a = SpikingOnlineLearner(nets[0], lr=0.05, loss="xent", batch_size=2, update_every=4)
    b = SpikingOnlineLearner(nets[1], lr=0.05, loss="xent", batch_size=2, update_every=4)
    la = list(a.run(x, y, m))
    lb = [b.step(x[k], y[k], m[k]) for k in range(x.shape[0])]
    assert la == lb and a.n_updates == b.n_updates > 2
    assert all(np.array_equal(getattr(nets[0], k), getattr(nets[1], k)) for k in PARAMS)
    with pytest.raises(ValueError, match="target has label 3"):
        b.step(x[0], np.array([0, 3]))


def test_online_trainable_subset_and_memory():
    net = make_net("alif", "subtract", 0)
    W_in = net.W_in.copy()
    learner = SpikingOnlineLearner(net, lr=0.05, trainable=["W", "W_out"])
    x, y, _ = make_data(net, B=1)
    learner.run(x, y)
    assert np.array_equal(net.W_in, W_in) and set(learner.grads) == {"W", "W_out"}
    mem = learner.memory()
    N, I = net.n_rec, net.n_in
    assert mem["traces_per_stream"] == (1 + 2 * N) * (I + 1 + N) + N + 1
    assert learner.memory_per_synapse() == pytest.approx((1 + 2 * N) / N)


# ================================================================== construction and checks

def test_init_is_seeded_and_masks_self_connections():
    a = SpikingNetwork.init(3, 10, 2, model="alif", n_adaptive=4, seed=7)
    b = SpikingNetwork.init(3, 10, 2, model="alif", n_adaptive=4, seed=7)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in a.params())
    assert np.all(np.diag(a.W) == 0) and np.count_nonzero(a.W) == 90
    assert list(a.beta) == [0.0] * 6 + [1.6] * 4
    assert a.alpha == np.exp(-1 / 20) and a.kappa == np.exp(-1 / 20) and a.rho == np.exp(-1 / 200)


@pytest.mark.parametrize("kwargs, match", [
    (dict(v_th=0.0), "v_th=0.0 is out of range"),
    (dict(v_th=-1.0), "v_th=-1.0 is out of range"),
    (dict(refractory=-1), "refractory=-1 is out of range"),
    (dict(refractory=1.5), "refractory=1.5 must be an integer"),
    (dict(dt=0.0), "dt=0.0 is out of range"),
    (dict(tau_m=-5.0), "tau_m=-5.0 is out of range"),
    (dict(tau_out=0), "tau_out=0 is out of range"),
    (dict(reset="zero"), "reset='zero' is not allowed"),
    (dict(model="izhikevich"), "model='izhikevich' is not allowed"),
    (dict(gamma=0.0), "gamma=0.0 is out of range"),
    (dict(reset="set", v_reset=0.5), "v_reset=0.5 is out of range"),
    (dict(v_reset=-0.1), "v_reset=-0.1 is only for reset='set'"),
    (dict(beta=1.0), "beta=1.0 is only for model='alif'"),
    (dict(model="alif", beta=-1.0), "beta=-1.0 is out of range"),
    (dict(model="alif", n_adaptive=11), "n_adaptive=11 is out of range"),
    (dict(dtype="float16"), "dtype='float16' is not allowed"),
])
def test_bad_options_name_the_value(kwargs, match):
    kw = dict(v_th=0.5)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace("[", r"\[")):
        SpikingNetwork.init(2, 10, 1, **kw)


def test_bad_arrays_and_gradient_arguments():
    net = make_net()
    x, y, m = make_data(net)
    W = net.W.copy()
    W[1, 1] = 0.5
    with pytest.raises(ValueError, match=r"self-connection W\[1, 1\] = 0.5"):
        SpikingNetwork(**{**net.params(), "W": W, "beta": net.beta, "model": "alif"})
    bad = [
        (dict(rule="rflo"), "rule='rflo' is not allowed"),
        (dict(rule="bptt", feedback="random"), "only for rule='eprop'"),
        (dict(rule="bptt", method="trace"), "method='trace' is only for rule='eprop'"),
        (dict(method="gemm"), "method='gemm' is not allowed"),
        (dict(reg=-1.0), "reg=-1.0 is out of range"),
        (dict(reg_rate=2.0), "reg_rate=2.0 is out of range"),
        (dict(loss="hinge"), "loss='hinge' is not allowed"),
        (dict(v0=np.zeros(3)), "v0 has shape"),
    ]
    for kw, match in bad:
        with pytest.raises(ValueError, match=match):
            gradient(net, x, y, m, **kw)
    with pytest.raises(ValueError, match="inputs has shape"):
        gradient(net, x[:, :, :2], y, m)
    with pytest.raises(ValueError, match="inputs has a non-finite value"):
        forward(net, np.full_like(x, np.nan))
    rate = Network.init(5, 20, 3)
    with pytest.raises(ValueError, match=r"net is a Network; expected a SpikingNetwork \(localrnn.spiking"):
        gradient(rate, x, y, m)
    import localrnn
    for rate_driver in (lambda: localrnn.gradient(net, x, y, m), lambda: localrnn.forward(net, x),
                        lambda: localrnn.lyapunov_spectrum(net, x, 1)):
        with pytest.raises(ValueError, match=r"net is a SpikingNetwork; expected a Network \(localrnn"):
            rate_driver()
    with pytest.raises(ValueError, match="net is a Network"):
        SpikingOnlineLearner(rate)
    learner = SpikingOnlineLearner(net)
    with pytest.raises(ValueError, match="noise is not supported"):
        learner.step(x[0, :1], y[0, :1], noise=np.zeros((1, net.n_rec)))
    with pytest.raises(ValueError, match="rule='bptt' is not allowed"):
        SpikingOnlineLearner(net, rule="bptt")
    with pytest.raises(ValueError, match="mask has a negative entry"):
        learner.step(x[0, :1], y[0, :1], -np.ones((1, net.n_out)))


@pytest.mark.parametrize("n_in, n_rec, T, B", [(0, 1, 1, 1), (1, 1, 4, 1), (0, 3, 5, 2)])
def test_smallest_shapes_equal_autograd(n_in, n_rec, T, B):
    net = SpikingNetwork.init(n_in, n_rec, 1, model="alif", seed=2, v_th=0.3, refractory=1)
    net.b[:] = 0.35                                     # a constant drive (no inputs)
    x = np.random.default_rng(0).standard_normal((T, B, n_in))
    y = np.ones((T, B, 1))
    for rule in ("bptt", "eprop"):
        L, g = gradient(net, x, y, rule=rule)
        Lr, gr, zr, vr, Ar = ref.grads(net, x, y, np.ones((T, B, 1)), eprop=rule == "eprop")
        check_margin(vr, Ar)
        assert abs(L - Lr) <= RTOL_EXACT * abs(Lr)
        assert_grads_close(g, gr)


def test_empty_mask_gives_zero_loss_and_gradient():
    net = make_net()
    x, y, m = make_data(net)
    L, g = gradient(net, x, y, np.zeros_like(m), rule="eprop", method="trace")
    assert L == 0.0 and all(not np.any(v) for v in g.values())


# ================================================================== online regulariser

@pytest.mark.parametrize("model, reset", [("lif", "subtract"), ("alif", "set")])
def test_online_regulariser_adds_the_rate_term_with_the_rate_since_the_reset(model, reset):
    """SpikingOnlineLearner(reg=c): a contributing step adds c (rhat_j - f0) / B * e_t per
    stream, rhat_j the rate since the last reset over all streams.  Checked against the
    same sum written out from the learner's spikes and its traces (e_t recovered from
    ebar_t = kappa ebar_{t-1} + (1 - kappa) e_t), with learning rates 0 and one window, as
    the difference of the accumulated gradients with and without the regulariser;
    steps whose mask is all zero add nothing; a reset starts the rate again."""
    c, f0 = 0.8, 0.05
    nets = [make_net(model, reset, 0), make_net(model, reset, 0)]
    N, I, B = nets[0].n_rec, nets[0].n_in, 3
    on, off = (SpikingOnlineLearner(n, lr=0.0, update_every=10 ** 6, batch_size=B, reg=r,
                                    reg_rate=f0) for n, r in zip(nets, (c, 0.0)))
    kap = nets[0].kappa
    want = {"W_in": np.zeros((N, I)), "b": np.zeros(N), "W": np.zeros((N, N))}
    used = 0
    for trial in range(2):
        x, y, m = make_data(nets[0], T=25, B=B, seed=trial + 3)
        m[5:8] = 0.0                                  # steps that contribute nothing
        zsum = np.zeros(N)
        eb0 = on.traces["ebar"]
        for t in range(x.shape[0]):
            on.step(x[t], y[t], m[t])
            off.step(x[t], y[t], m[t])
            zsum += on.spikes.sum(axis=0)
            eb1 = on.traces["ebar"]
            e = (eb1 - kap * eb0) / (1 - kap)          # (B, N, P): e_t of each stream
            eb0 = eb1
            if m[t].sum() > 0:
                rg = c * (zsum / ((t + 1) * B) - f0) / B
                g = np.einsum("j,bjp->jp", rg, e)
                want["W_in"] += g[:, :I]
                want["b"] += g[:, I]
                want["W"] += g[:, I + 1:]
                used += 1
        on.reset()
        off.reset()
    np.fill_diagonal(want["W"], 0.0)
    assert used == 2 * (25 - 3) and np.abs(want["W"]).max() > 1e-4     # the term is not 0
    got, base = on.grads, off.grads
    for k, w in want.items():
        d = got[k] - base[k]
        np.testing.assert_allclose(d, w, rtol=1e-8, atol=1e-10 * np.abs(got[k]).max())
    for k in ("W_out", "b_out"):                      # the readout's gradient has no rate term
        np.testing.assert_array_equal(got[k], base[k])


def test_online_regulariser_is_checked():
    net = make_net("lif", "subtract", 0)
    with pytest.raises(ValueError, match="reg=-0.5"):
        SpikingOnlineLearner(net, reg=-0.5)
    with pytest.raises(ValueError, match="reg_rate=2"):
        SpikingOnlineLearner(net, reg=1.0, reg_rate=2)
