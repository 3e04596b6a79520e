"""The engine against PyTorch autograd, finite differences, and itself."""
import numpy as np
import pytest

from localrnn import Network
from localrnn.engine import forward, gradient, loss_value
from localrnn.network import feedback_matrix

from helpers import RTOL_EXACT, RTOL_F32, assert_grads_close, make_problem

torch = pytest.importorskip("torch", reason="PyTorch is the reference; install the 'test' extra")
import torch_ref  # noqa: E402

FORMS = ["current", "rate"]
ACTS = ["tanh", "relu", "softplus", "retanh"]


def net_for(form, act="tanh", gain=1.3, alpha=0.4, seed=3, n_in=2, n_rec=7, n_out=3):
    net = Network.init(n_in, n_rec, n_out, gain=gain, alpha=alpha, activation=act, form=form, seed=seed)
    r = np.random.default_rng(seed + 100)
    net.b[:] = 0.3 * r.standard_normal(n_rec)       # non-zero biases exercise every term
    net.b_out[:] = 0.2 * r.standard_normal(n_out)
    return net


# ------------------------------------------------------------------ forward

@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_torch(form, act, rng):
    net = net_for(form, act)
    x, _, _ = make_problem(rng)
    h0 = 0.5 * rng.standard_normal((4, 7))
    noise = 0.1 * rng.standard_normal((9, 4, 7))
    states, outputs = forward(net, x, h0=h0, noise=noise)
    with torch.no_grad():
        y_ref, s_ref = torch_ref.run(net, torch_ref.to_torch(net, False), x, h0=h0, noise=noise)
    np.testing.assert_allclose(states, s_ref.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(outputs, y_ref.numpy(), rtol=0, atol=1e-12)


def test_forward_without_inputs_and_h0_broadcast():
    net = Network.init(0, 5, 1, gain=1.5, alpha=0.1, form="rate", seed=2)
    x = np.zeros((4, 2, 0))
    s, y = forward(net, x, h0=0.1 * np.ones(5))
    with torch.no_grad():
        y_ref, s_ref = torch_ref.run(net, torch_ref.to_torch(net, False), x, h0=0.1 * np.ones((2, 5)))
    np.testing.assert_allclose(s, s_ref.numpy(), atol=1e-14)
    # two rows of one GEMM per step: BLAS may round them in different micro-kernel tiles, so
    # equal only to rounding; each is within 1e-14 of the reference above, hence 2e-14 apart
    np.testing.assert_allclose(s[:, 0], s[:, 1], rtol=0, atol=2e-14)


# ------------------------------------------------------------------ exact gradients

@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_bptt_matches_autograd(form, loss, act, rng):
    net = net_for(form, act)
    x, y, m = make_problem(rng, loss=loss)
    h0 = 0.3 * rng.standard_normal((4, 7))
    L, g = gradient(net, x, y, m, loss=loss, rule="bptt", h0=h0)
    L_ref, g_ref = torch_ref.grads(net, x, y, m, kind=loss, h0=h0)
    assert abs(L - L_ref) <= RTOL_EXACT * abs(L_ref)
    assert_grads_close(g, g_ref)


@pytest.mark.parametrize("form", FORMS)
def test_bptt_h0_gradient_matches_autograd(form, rng):
    net = net_for(form)
    x, y, m = make_problem(rng)
    h0 = 0.3 * rng.standard_normal((4, 7))
    _, g = gradient(net, x, y, m, rule="bptt", h0=h0, return_h0=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    yy, _ = torch_ref.run(net, torch_ref.to_torch(net, False), x, h0=h0_t)
    torch_ref.loss(yy, y, m, "mse").backward()
    np.testing.assert_allclose(g["h0"], h0_t.grad.numpy(), rtol=RTOL_EXACT, atol=1e-15)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_bptt_matches_central_differences(form, loss, rng):
    net = net_for(form, "tanh", n_rec=5)
    x, y, m = make_problem(rng, n_rec=5, T=6, B=2, loss=loss)
    _, g = gradient(net, x, y, m, loss=loss, rule="bptt")
    eps = 1e-6
    for name in ("W_in", "W", "b", "W_out", "b_out"):
        p = getattr(net, name)
        flat = p.reshape(-1)
        fd = np.empty(flat.size)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            lp = loss_value(net, forward(net, x)[1], y, m, loss)
            flat[i] = old - eps
            lm = loss_value(net, forward(net, x)[1], y, m, loss)
            flat[i] = old
            fd[i] = (lp - lm) / (2 * eps)
        # central differences: truncation O(eps^2) and rounding O(1e-16/eps) ~ 1e-10
        np.testing.assert_allclose(g[name].reshape(-1), fd, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ local rules

@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("act", ["tanh", "retanh"])
def test_eprop_symmetric_matches_detached_autograd(loss, act, rng):
    """MODEL.md 5: current-form e-prop == autograd with W r_{t-1}.detach()."""
    net = net_for("current", act)
    x, y, m = make_problem(rng, loss=loss)
    L, g = gradient(net, x, y, m, loss=loss, rule="eprop", feedback="symmetric")
    L_ref, g_ref = torch_ref.grads(net, x, y, m, kind=loss, truncate=True)
    assert abs(L - L_ref) <= RTOL_EXACT * abs(L_ref)
    assert_grads_close(g, g_ref)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("rule", ["eprop", "rflo"])
def test_whole_state_truncation_matches_autograd_with_the_state_detached(form, loss, rule, rng):
    """truncation="state" == autograd with h_{t-1} (a_{t-1}) detached in the leak and the
    recurrent input alike (the one-step reading of ``h.detach()``), either feedback."""
    net = net_for(form)
    x, y, m = make_problem(rng, loss=loss)
    F = feedback_matrix(net, "random" if rule == "rflo" else "symmetric", rule, seed=3)
    L, g = gradient(net, x, y, m, loss=loss, rule=rule, feedback=F, truncation="state")
    L_ref, g_ref = torch_ref.grads(net, x, y, m, kind=loss, truncate="state", F=F)
    assert abs(L - L_ref) <= RTOL_EXACT * abs(L_ref)
    assert_grads_close(g, g_ref)
    # and it is another gradient than the recurrent truncation's (the leak matters)
    _, g_rec = gradient(net, x, y, m, loss=loss, rule=rule, feedback=F)
    assert not np.allclose(g_rec["W"], g["W"])
    np.testing.assert_array_equal(g_rec["W_out"], g["W_out"])   # the readout is the same computation


def test_truncation_is_checked(rng):
    net = net_for("current")
    x, y, m = make_problem(rng)
    with pytest.raises(ValueError, match="truncation='state' is only for the local rules"):
        gradient(net, x, y, m, rule="bptt", truncation="state")
    with pytest.raises(ValueError, match="method='gemm'"):
        gradient(net, x, y, m, rule="eprop", truncation="state", method="trace")
    with pytest.raises(ValueError, match="truncation='full' is not allowed"):
        gradient(net, x, y, m, rule="eprop", truncation="full")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_rflo_random_feedback_matches_swapped_backward(form, loss, rng):
    net = net_for(form)
    x, y, m = make_problem(rng, loss=loss)
    F = feedback_matrix(net, "random", "rflo", seed=7)
    L, g = gradient(net, x, y, m, loss=loss, rule="rflo", feedback="random", seed=7)
    _, g_ref = torch_ref.grads(net, x, y, m, kind=loss, truncate=True, F=F)
    assert_grads_close(g, g_ref)
    # an explicit array is used as F
    _, g2 = gradient(net, x, y, m, loss=loss, rule="rflo", feedback=F)
    assert_grads_close(g2, g_ref)


def test_rule_defaults_and_feedback_seed(rng):
    net = net_for("current")
    x, y, m = make_problem(rng)
    _, ge = gradient(net, x, y, m, rule="eprop")
    _, gs = gradient(net, x, y, m, rule="rflo", feedback="symmetric")
    # same computation: for a current-form net rflo and e-prop run the same backward filter
    # and readout code with the same F = W_out^T (the rule name only picks F), same thread limit
    assert_grads_close(ge, gs, rtol=0.0)                      # same rule, same F
    _, gr1 = gradient(net, x, y, m, rule="rflo", seed=1)
    _, gr1b = gradient(net, x, y, m, rule="rflo", seed=1)
    _, gr2 = gradient(net, x, y, m, rule="rflo", seed=2)
    # a rerun: same call, same seed
    assert_grads_close(gr1, gr1b, rtol=0.0)                   # B drawn from the seed
    assert not np.allclose(gr1["W"], gr2["W"])
    assert not np.allclose(gr1["W"], ge["W"])                  # random != symmetric
    # same computation: the readout gradient reads the same trajectory and delta,
    # whatever the feedback matrix
    np.testing.assert_array_equal(gr1["W_out"], ge["W_out"])   # readout exact either way


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_trace_form_equals_gemm_form(form, act, loss, rng):
    net = net_for(form, act)
    x, y, m = make_problem(rng, loss=loss)
    h0 = 0.2 * rng.standard_normal((4, 7))
    for fb in ("symmetric", "random"):
        _, g_gemm = gradient(net, x, y, m, loss=loss, rule="eprop", feedback=fb, h0=h0)
        _, g_tr = gradient(net, x, y, m, loss=loss, rule="eprop", feedback=fb, h0=h0, method="trace")
        assert_grads_close(g_tr, g_gemm, rtol=1e-12)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("rule", ["bptt", "eprop"])
def test_gradient_is_the_same_whether_or_not_states_and_h0_gradient_are_kept(form, act, rule, rng):
    """Without a returned trajectory the current form keeps only the last two states when
    phi' comes from the rates, and dL/dh_0 is computed only when asked: the same
    arithmetic on the same numbers, so the same bits as the call that keeps everything."""
    net = net_for(form, act)
    x, y, m = make_problem(rng)
    h0 = 0.2 * rng.standard_normal((x.shape[1], net.n_rec))
    L1, g1 = gradient(net, x, y, m, rule=rule, h0=h0)
    L2, g2, tr = gradient(net, x, y, m, rule=rule, h0=h0, return_trajectory=True)
    assert tr.states.shape == tr.outputs.shape[:2] + (net.n_rec,)
    runs = [(L2, g2)]
    if rule == "bptt":
        runs.append(gradient(net, x, y, m, rule=rule, h0=h0, return_h0=True))
        assert runs[-1][1]["h0"].shape == h0.shape
    for L, g in runs:
        assert L == L1
        for k in g1:
            np.testing.assert_array_equal(g[k], g1[k])


def test_backward_refuses_a_trajectory_without_states_when_phi_prime_needs_them(rng):
    from localrnn.engine import backward
    from localrnn.trajectories import loss_and_delta, run_trajectory

    net = net_for("current", "softplus")
    x, y, m = make_problem(rng)
    s0 = np.zeros((x.shape[1], net.n_rec))
    tr = run_trajectory(net, x, s0, np.zeros((0, 0, 0)), False, keep_states=False)
    assert tr.states is None
    _, delta = loss_and_delta(tr.outputs, y, m, "mse")
    with pytest.raises(ValueError, match=r"activation='softplus': phi' needs the states"):
        backward(net, tr, delta, np.ascontiguousarray(net.W_out.T), False)


def test_local_rule_is_exact_when_W_is_zero(rng):
    """With W = 0 the dropped Jacobian term is zero: e-prop == BPTT (W's own gradient aside)."""
    for form in FORMS:
        net = net_for(form)
        net.W[:] = 0.0
        x, y, m = make_problem(rng)
        _, gb = gradient(net, x, y, m, rule="bptt")
        _, ge = gradient(net, x, y, m, rule="eprop")
        assert_grads_close(ge, gb, rtol=1e-12)


def test_all_zero_mask_gives_zero_loss_and_gradient(rng):
    net = net_for("current")
    x, y, _ = make_problem(rng)
    L, g = gradient(net, x, y, np.zeros_like(y))
    # exact by construction: every term is multiplied by a zero mask
    assert L == 0.0
    assert all(np.all(v == 0) for v in g.values())


# ------------------------------------------------------------------ float32

@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("rule", ["bptt", "eprop", "rflo"])
def test_float32_agrees_with_float64(form, rule, rng):
    net64 = net_for(form, gain=0.9)
    net32 = net64.astype("float32")
    x, y, m = make_problem(rng, T=20)
    L64, g64 = gradient(net64, x, y, m, rule=rule)
    L32, g32 = gradient(net32, x, y, m, rule=rule)
    assert g32["W"].dtype == np.float32
    s64, _ = forward(net64, x)
    s32, _ = forward(net32, x)
    assert s32.dtype == np.float32
    # forward: single-precision round-off (6e-8) grown over 20 contracting steps
    np.testing.assert_allclose(s32, s64, rtol=0, atol=1e-5)
    assert abs(L32 - L64) <= 1e-5 * abs(L64)
    assert_grads_close(g32, g64, rtol=RTOL_F32)


@pytest.mark.parametrize("form", FORMS)
def test_float32_leak_is_float32_arithmetic(form):
    """A float32 network leaks in float32: alpha and 1 - alpha rounded once, products and
    sums in float32 (as PyTorch with float32 tensors).  With W = 0 (no GEMM) and relu
    (exact) the step is element-wise, so the states must equal a NumPy float32 recursion
    bit for bit -- and differ from the same recursion with float64 coefficients (the
    arithmetic before), which shows the comparison can tell the two apart."""
    net = net_for(form, act="relu", alpha=0.3, n_in=1, n_rec=8, n_out=1).astype("float32")
    net.W[...] = 0.0
    x = np.random.default_rng(0).standard_normal((40, 3, 1)).astype(np.float32)
    s, _ = forward(net, x)

    def recursion(al, keep):
        h, out = np.zeros((3, 8), np.float32), []
        for k in range(len(x)):
            drive = x[k, :, 0:1] * net.W_in[:, 0] + net.b          # float32, the kernel's order
            z = drive if form == "current" else np.maximum(drive, np.float32(0))
            h = (keep * h + al * z).astype(np.float32)
            out.append(h)
        return np.array(out)

    f32 = recursion(np.float32(net.alpha), np.float32(1.0 - net.alpha))
    f64 = recursion(np.float64(net.alpha), np.float64(1.0 - net.alpha))
    assert s.dtype == f32.dtype == np.float32
    np.testing.assert_array_equal(s, f32)
    assert np.any(f64 != f32)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, match", [
    (dict(rule="sgd"), r"rule='sgd'.*'bptt'"),
    (dict(loss="l1"), r"loss='l1'"),
    (dict(feedback="mirror", rule="eprop"), r"feedback='mirror'"),
    (dict(feedback=np.ones((3, 3)), rule="eprop"), r"feedback has shape"),
    (dict(method="fast"), r"method='fast'"),
    (dict(feedback="random", rule="bptt"), r"only for the local rules"),
])
def test_bad_arguments_raise(kwargs, match, rng):
    net = net_for("current")
    x, y, m = make_problem(rng)
    with pytest.raises(ValueError, match=match):
        gradient(net, x, y, m, **kwargs)


def test_bad_shapes_and_values_raise(rng):
    net = net_for("current")
    x, y, m = make_problem(rng)
    with pytest.raises(ValueError, match=r"inputs has shape \(9, 4, 3\)"):
        gradient(net, np.zeros((9, 4, 3)), y, m)
    with pytest.raises(ValueError, match=r"targets has shape"):
        gradient(net, x, y[:, :, :2], m)
    xbad = x.copy(); xbad[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"inputs has a non-finite value nan at index \(3, 1, 0\)"):
        forward(net, xbad)
    with pytest.raises(ValueError, match=r"labels are 0..2"):
        gradient(net, x, np.full((9, 4), 3), np.ones((9, 4)), loss="xent")
    with pytest.raises(ValueError, match=r"mask has a negative entry"):
        gradient(net, x, y, -m)
    with pytest.raises(ValueError, match=r"h0 has shape"):
        forward(net, x, h0=np.zeros((2, 7)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(gain=-0.1), r"gain=-0.1 is out of range; allowed \[0.0, inf\]"),
    (dict(alpha=0.0), r"alpha=0.0 is out of range; allowed \(0.0, 1.0\]"),
    (dict(alpha=1.5), r"alpha=1.5 is out of range"),
    (dict(gain=float("nan")), r"gain=nan must be finite"),
    (dict(activation="sigmoid"), r"activation='sigmoid'"),
    (dict(form="spiking"), r"form='spiking'"),
    (dict(dtype="float16"), r"dtype='float16'"),
    (dict(n_rec=0), r"n_rec=0 is out of range"),
])
def test_bad_network_init_raises(kwargs, match):
    args = dict(n_in=1, n_rec=4, n_out=2, gain=1.0, alpha=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Network.init(**args)


def test_init_is_seeded_and_scaled():
    a = Network.init(1, 200, 2, gain=0.7, alpha=0.5, seed=4)
    b = Network.init(1, 200, 2, gain=0.7, alpha=0.5, seed=4)
    c = Network.init(1, 200, 2, gain=0.7, alpha=0.5, seed=5)
    # a rerun: same seed, same draws
    np.testing.assert_array_equal(a.W, b.W)
    assert not np.array_equal(a.W, c.W)
    np.testing.assert_allclose(np.linalg.norm(a.W_in, axis=0), np.sqrt(200))
    np.testing.assert_allclose(np.linalg.norm(a.W_out, axis=1), 1 / np.sqrt(200))
    # W = g Z / sqrt(N): entry variance g^2 / N
    assert abs(a.W.std() * np.sqrt(200) - 0.7) < 0.02
    assert np.all(a.b == 0) and np.all(a.b_out == 0)


def test_a_gain_whose_weights_overflow_is_refused():
    """A hostile gain (issue 8) is one ValueError naming it, never a silent inf in W."""
    with pytest.raises(ValueError, match=r"gain=1e\+308 is too large"):
        Network.init(1, 4, 1, gain=1e308)
    assert np.all(np.isfinite(Network.init(1, 4, 1, gain=1e3).W))


def test_step_blas_limit_is_reentrant_and_restores_the_outer_count():
    """Nested limits keep the outermost one; the last exit restores the original count."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from localrnn._threads import step_blas_limit, step_blas_threads

    if step_blas_threads() <= 0:
        pytest.skip("LOCALRNN_STEP_BLAS_THREADS=0: the limit is a no-op")

    def blas_threads():
        return sorted({d["num_threads"] for d in threadpoolctl.threadpool_info()
                       if d["user_api"] == "blas"})

    before = blas_threads()
    with step_blas_limit():
        inside = blas_threads()
        with step_blas_limit():
            assert blas_threads() == inside
        assert blas_threads() == inside          # the inner exit did not restore
    assert blas_threads() == before
    assert inside == [step_blas_threads()]
