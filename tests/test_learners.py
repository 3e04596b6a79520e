"""The learner contract (localrnn.learners), gradient clipping, lambda_max during training,
and the online learner's one buffer layout (kernels/online_layout.py)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn import Network, OnlineLearner, get_task, lyapunov_spectrum
from localrnn.cli import main
from localrnn.engine import gradient
from localrnn.kernels import online_layout as L
from localrnn.learners import (BatchLearner, Learner, StreamingLearner, TrainingDiverged, clip_grad_norm,
                               grad_norm, trial_loss)
from localrnn.names import PARAM_NAMES
from localrnn.neuromorphic.fixed import QuantizedOnlineLearner
from localrnn.optim import SGD
from localrnn.runs import RunDir, probe_inputs, read_metrics
from localrnn.training import TrainConfig, Trainer, estimate_memory, make_learner

#: float64 / float32 unit round-off: a clipped norm may exceed the threshold by a few of these
EPS64, EPS32 = float(np.finfo(np.float64).eps), float(np.finfo(np.float32).eps)
CFG = dict(task="romo", gain=0.8, n_rec=12, batch=4, iters=6, eval_every=3, eval_batch=8)


def _batch(seed=0, B=4):
    return get_task("romo").batch(B, np.random.default_rng(seed))


# ----------------------------------------------------------------------------- the contract

@pytest.mark.parametrize("make", [
    lambda net: BatchLearner(net, rule="bptt"),
    lambda net: OnlineLearner(net, rule="eprop", batch_size=4),
    lambda net: QuantizedOnlineLearner(net, rule="rflo", batch_size=4, lr=0.2),
])
def test_every_learner_keeps_the_contract(make):
    net = Network.init(1, 8, 2, seed=0)
    learner = make(net)
    assert isinstance(learner, Learner) and learner.net is net
    w0 = net.copy()
    loss = learner.learn(_batch(), None)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert not all(np.array_equal(getattr(net, k), getattr(w0, k)) for k in PARAM_NAMES)
    sd = learner.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    learner.load_state_dict(sd)
    assert all(isinstance(v, np.ndarray) for v in learner.saved_arrays().values())


def test_quantized_learner_saves_its_integer_weights():
    q = QuantizedOnlineLearner(Network.init(1, 8, 2, seed=0), rule="eprop", spec="w8,s16,t12,acc32")
    saved = q.saved_arrays()
    assert sorted(saved) == sorted([f"int_{k}" for k in PARAM_NAMES] + [f"scale_{k}" for k in PARAM_NAMES])
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(saved[f"int_{k}"] * saved[f"scale_{k}"], getattr(q.net, k))
    assert BatchLearner(Network.init(1, 4, 2)).saved_arrays() == {}
    assert OnlineLearner(Network.init(1, 4, 2)).saved_arrays() == {}
    assert not hasattr(q, "flush") and not hasattr(q, "optimizer")


def test_streamed_learn_is_reset_run_and_trial_loss():
    """learn = reset(h0), run over the batch, the mask-weighted trial loss."""
    net = Network.init(1, 8, 2, seed=1)
    a, b = OnlineLearner(net.copy(), rule="rflo", batch_size=4), OnlineLearner(net.copy(), rule="rflo", batch_size=4)
    bt = _batch(3)
    la = a.learn(bt)
    b.reset()
    losses = b.run(bt.inputs, bt.targets, bt.mask)
    s = bt.mask.reshape(bt.mask.shape[0], -1).sum(axis=1)
    assert la == trial_loss(losses, bt.mask) == float((s * losses).sum() / s.sum())
    np.testing.assert_array_equal(a.net.W, b.net.W)
    assert trial_loss(np.ones(3), np.zeros((3, 2, 1))) == 0.0


def test_a_new_streaming_learner_needs_only_reset_and_run():
    class Constant(StreamingLearner):
        net = None

        def reset(self, h0=None):
            self.h0 = h0

        def run(self, inputs, targets, mask):
            return np.full(inputs.shape[0], 2.0)

        def state_dict(self):
            return {}

        def load_state_dict(self, d):
            pass

    c = Constant()
    assert isinstance(c, Learner) and c.learn(_batch()) == 2.0 and c.saved_arrays() == {}

    class Diverging(Constant):
        def run(self, inputs, targets, mask):
            return np.full(inputs.shape[0], np.nan)

    with pytest.raises(TrainingDiverged, match="non-finite loss"):
        Diverging().learn(_batch())


def test_trainer_chooses_the_learner_once_and_names_the_iteration_of_a_divergence():
    assert type(make_learner(TrainConfig(**CFG).resolved(), Network.init(1, 12, 2), "mse")) is BatchLearner
    t = Trainer(TrainConfig(**CFG, rule="eprop", online=True))
    assert type(t.learner) is OnlineLearner
    t = Trainer(TrainConfig(**CFG, rule="rflo", online=True, quantize="w16,s16,t16,l16,acc32"))
    assert type(t.learner) is QuantizedOnlineLearner
    t = Trainer(TrainConfig(**CFG, rule="bptt"))
    t.net.W[0, 0] = np.nan
    with pytest.raises(TrainingDiverged, match=r"^iteration 3: non-finite loss or gradient"):
        t.step(2)


# ----------------------------------------------------------------------------- clipping

@pytest.mark.parametrize("dtype, eps", [(np.float64, EPS64), (np.float32, EPS32)])
def test_clipped_norm_is_the_threshold_and_the_direction_is_kept(dtype, eps):
    net = Network.init(1, 10, 2, seed=2, dtype=dtype)
    bt = _batch(1)
    _, g = gradient(net, bt.inputs, bt.targets, bt.mask, rule="bptt")
    n0 = grad_norm(g)
    clipped, n = clip_grad_norm(g, 0.5 * n0)
    assert n == n0
    # the norm after clipping is the threshold, up to rounding in the gradients' dtype
    assert grad_norm(clipped) <= 0.5 * n0 * (1 + 8 * eps)
    assert grad_norm(clipped) == pytest.approx(0.5 * n0, rel=8 * eps)
    for k in g:
        assert clipped[k].dtype == g[k].dtype
        np.testing.assert_array_equal(clipped[k], g[k] * g[k].dtype.type(0.5 * n0 / n0))
    same, n = clip_grad_norm(g, n0)                 # at (or below) the threshold: untouched
    assert all(same[k] is g[k] for k in g)


def test_clipping_below_the_threshold_changes_no_bit_and_above_it_scales_the_update():
    net = Network.init(1, 10, 2, seed=4)
    a = BatchLearner(net.copy(), rule="bptt", optimizer="sgd", lr=0.1)
    b = BatchLearner(net.copy(), rule="bptt", optimizer="sgd", lr=0.1, clip=1e9)
    for i in range(3):
        assert a.learn(_batch(i)) == b.learn(_batch(i))
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(getattr(a.net, k), getattr(b.net, k))
    # above it: the SGD update of the scaled gradient
    c = BatchLearner(net.copy(), rule="bptt", optimizer="sgd", lr=0.1, clip=1e-3)
    ref = net.copy()
    bt = _batch(7)
    _, g = gradient(ref, bt.inputs, bt.targets, bt.mask, rule="bptt")
    g, n = clip_grad_norm(g, 1e-3)
    assert n > 1e-3
    SGD({k: getattr(ref, k) for k in PARAM_NAMES}, 0.1).step(g)
    c.learn(bt)
    assert c.last_norm == n
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(getattr(c.net, k), getattr(ref, k))


@pytest.mark.parametrize("kw, match", [
    (dict(clip=0.0), r"clip=0.0 is out of range"),
    (dict(clip=-1), r"clip=-1 is out of range"),
    (dict(clip=float("nan")), r"clip=nan must be finite"),
    (dict(clip=1.0, online=True, rule="eprop"), r"clip=1.0 is for the batched rules \(online=False\)"),
    (dict(lyap_every=0), r"lyap_every=0 is out of range"),
])
def test_bad_clip_and_lyap_every_are_one_line(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{**CFG, **kw}).resolved()


# ----------------------------------------------------------------------------- lambda_max

def test_lambda_max_every_k_iterations_is_the_probe_exponent_of_the_weights():
    t = Trainer(TrainConfig(**CFG, rule="rflo", lyap_every=3))
    res = t.run()
    col = [m["lambda_max"] for m in res.metrics]
    assert [v is None for v in col] == [True, True, False, True, True, False]
    task = t.task
    x = probe_inputs(task, 0)
    h0 = task.h0(x.shape[1], 12)
    lam = lyapunov_spectrum(res.net, x, k=1, seed=0, h0=h0).exponents[0]
    assert col[-1] == lam                      # the same computation on the final weights
    assert res.summary()["lambda_max"] == lam


def test_cli_records_clip_and_lyap_every_and_resume_stays_bit_identical(tmp_path):
    args = ["--n-rec", "12", "--batch", "4", "--iters", "6", "--eval-every", "3", "--eval-batch", "8",
            "--gain", "0.8", "--clip", "0.03", "--lyap-every", "2"]
    full = tmp_path / "full"
    res = CliRunner().invoke(main, ["run", "romo", "--rule", "bptt", *args, "--out", str(full), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["clip"] == 0.03 and np.isfinite(summary["lambda_max"])
    cfg = RunDir(full).read_config()
    assert cfg["clip"] == 0.03 and cfg["lyap_every"] == 2
    header = (full / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "lambda_max" in header
    rows = read_metrics(full / "metrics.csv")
    assert [r["lambda_max"] is not None for r in rows] == [False, True] * 3
    # clipping was active on some iterations and not on others (0.03 is inside the range)
    t = Trainer(TrainConfig(**CFG, rule="bptt", clip=0.03))
    norms = []
    for i in range(6):
        t.step(i)
        norms.append(t.learner.last_norm)
    assert min(norms) < 0.03 < max(norms)

    part = tmp_path / "part"

    def interrupt(i):
        if i == 3:
            raise KeyboardInterrupt

    r = Trainer(TrainConfig(**CFG, rule="bptt", clip=0.03, lyap_every=2), part).run(on_iteration=interrupt)
    assert r.status == "interrupted"
    assert CliRunner().invoke(main, ["run", "--resume", str(part)]).exit_code == 0
    with np.load(full / "weights.npz") as a, np.load(part / "weights.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    rp = read_metrics(part / "metrics.csv")
    for f in ("loss", "eval_loss", "lambda_max"):
        assert [x[f] for x in rows] == [x[f] for x in rp], f
    # the column's starting value (before the first update) is kept in lyapunov.json, once
    start = RunDir(full).read_lyapunov()["lambda_max_start"]
    assert start == RunDir(part).read_lyapunov()["lambda_max_start"] and np.isfinite(start)


# ----------------------------------------------------------------------------- the layout

@pytest.mark.parametrize("rule, form, opt, B, trainable", [
    ("eprop", "current", "sgd", 1, None), ("rflo", "rate", "adam", 3, None),
    ("rtrl", "current", "sgd", 2, ["W", "b", "W_out"]), ("rtrl", "rate", "adam", 1, ["W_in"]),
])
def test_the_learner_buffer_is_the_layout(rule, form, opt, B, trainable):
    net = Network.init(3, 7, 2, form=form)
    lrn = OnlineLearner(net, rule=rule, optimizer=opt, batch_size=B, trainable=trainable)
    lay = lrn._layout()
    assert lrn._buf.size == lay.size
    views = (lrn._S, lrn._Y, lrn._E, lrn._M, lrn._J, lrn._aux)
    for part, v, shape, off in zip(L.BUFFER_PARTS, views, lay.shapes, lay.offsets):
        assert v.shape == tuple(shape), part
        if v.size:
            assert np.shares_memory(v, lrn._buf) and v.ctypes.data == lrn._buf.ctypes.data + 8 * off
    assert set(lrn.traces) == {b[0] for b in L.trace_blocks(rule, form, 7, 3, lrn._PM)}


@pytest.mark.parametrize("rule, form, B", [("eprop", "current", 1), ("rflo", "current", 2), ("rflo", "rate", 3),
                                          ("rtrl", "current", 2)])
def test_memory_estimate_of_an_online_run_is_its_learners_buffer(rule, form, B):
    cfg = TrainConfig(task="romo", rule=rule, form=form, n_rec=9, batch=B, iters=2, online=True,
                      optimizer="sgd").resolved()
    t = Trainer(cfg)
    part = estimate_memory(cfg)["rtrl" if rule == "rtrl" else "traces"]
    keep_row = 0 if t.learner._ctl[L.C_KEEP] or form == "rate" or rule == "rtrl" else B * (9 + 1 + 1) * 8
    assert part == t.learner._buf.nbytes + keep_row   # the estimate assumes the kept row


def test_layout_counts_with_symbols():
    """The hardware spec counts with symbols: the layout is arithmetic on its arguments."""
    from localrnn.neuromorphic.spec.poly import Poly

    N, I, O = (Poly.sym(s) for s in ("N", "I", "O"))
    lay = L.buffer_layout("eprop", "current", 1, N, I, O, 0)
    assert lay.size(N=5, I=2, O=3) == L.buffer_layout("eprop", "current", 1, 5, 2, 3, 0).size
    names = [b[0] for b in L.trace_blocks("rflo", "rate", N, I, 0)]
    assert names == ["p", "q", "pb"]


_OWN_RULES = [("bptt", None, "recurrent"), ("rtrl", None, "recurrent"), ("eprop", None, "recurrent"),
              ("eprop", "random", "state"), ("rflo", None, "recurrent")]
_OWN_CASES = [r + fa for fa in [("current", "tanh"), ("rate", "tanh"), ("current", "softplus"),
                                ("rate", "relu")]
              for r in _OWN_RULES if r[0] != "rtrl" or fa == ("current", "tanh")]


@pytest.mark.parametrize("rule,feedback,truncation,form,activation", _OWN_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_own_gradient_path_equals_public(rule, feedback, truncation, dtype, form, activation):
    """The Trainer's path (BatchLearner._learn_own, engine.own_gradient: conversions
    without checks, then one compiled call, kernels/gradient.py) gives gradient()'s
    numbers bit for bit: both forms, a phi' from the rates and one from the states
    (softplus), mse with (T, B, O) and (T, B) masks, xent labels, h0 None, (N,) and (B, N)."""
    from types import SimpleNamespace

    from localrnn.engine import gradient, own_gradient
    from localrnn.learners import BatchLearner

    T, B, I, N, O = 6, 3, 2, 5, 2
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I))
    cases = [("mse", 0.5 * rng.standard_normal((T, B, O)), (rng.random((T, B, O)) > 0.3) * 1.0),
             ("mse", 0.5 * rng.standard_normal((T, B, O)), (rng.random((T, B)) > 0.3) * 1.0),
             ("mse", 0.5 * rng.standard_normal((T, B, O)), None),
             ("xent", rng.integers(0, O, size=(T, B)), (rng.random((T, B)) > 0.3) * 1.0)]
    for loss, y, m in cases:
        for h0 in (None, 0.1 * rng.standard_normal(N), 0.1 * rng.standard_normal((B, N))):
            nets = [Network.init(I, N, O, gain=1.2, seed=3, dtype=dtype, form=form,
                                 activation=activation) for _ in range(2)]
            ls = [BatchLearner(n, rule=rule, feedback=feedback, loss=loss, seed=4,
                               truncation=truncation, optimizer="adam", lr=0.01) for n in nets]
            b = SimpleNamespace(inputs=x, targets=y, mask=m)
            h = None if h0 is None else np.asarray(h0, dtype=dtype)
            for _ in range(3):
                assert ls[0].learn(b, h) == ls[1]._learn_own(b, h)
            for k in ("W_in", "W", "b", "W_out", "b_out"):
                assert np.array_equal(getattr(nets[0], k), getattr(nets[1], k)), (loss, k)
            F = None if rule in ("bptt", "rtrl") else (
                np.ascontiguousarray(nets[0].W_out.T) if isinstance(ls[0].feedback, str) else ls[0].feedback)
            kw = {} if ls[0].feedback is None else {"feedback": ls[0].feedback}
            if truncation != "recurrent":
                kw["truncation"] = truncation
            L1, g1 = gradient(nets[0], x, y, m, loss=loss, rule=rule, h0=h, **kw)
            L2, g2 = own_gradient(nets[0], x, y, m, loss, rule, F, h, truncation)
            assert L1 == L2 and all(np.array_equal(g1[k], g2[k]) for k in g1)


def test_summary_gives_the_median_step_time_beside_the_wall_time_per_iteration():
    """A first iteration that compiles kernels (minutes on a cold cache) makes the wall
    time per iteration say little about speed; the median of the steps' own times does."""
    from localrnn.training import TrainConfig, Trainer

    res = Trainer(TrainConfig(task="sine", rule="rflo", n_rec=4, iters=5, eval_every=5)).run()
    secs = [m["seconds"] for m in res.metrics]
    res.metrics[0]["seconds"] = 1e3                        # as if the first had compiled
    s = res.summary()
    assert s["median_step_seconds"] == pytest.approx(float(np.median([1e3] + secs[1:])))
    assert s["median_step_seconds"] < 1e3 and s["seconds_per_iter"] > 0
