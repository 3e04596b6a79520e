"""The fixed-point online learner: bit-exact against a plain-Python integer reference,
reproducible, tracking the float learner at 16 bits, rounding and saturation by hand."""
import numpy as np
import pytest

from localrnn.kernels import fixed_online as K
from localrnn.network import Network, feedback_matrix
from localrnn.neuromorphic.fixed import QuantizedOnlineLearner, lut_tables, pcg_seed, quantize_array
from localrnn.online import OnlineLearner

from fixed_ref import PCG32, Arith, reference_run

SPEC_SMALL = "w10.7,s12.8,t10.8,l10.8,acc24.14"


def _data(T, B, I, O, seed=1, masked=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, B, I)) * 0.7
    Y = 0.5 * np.sin(np.arange(T) / 3.0)[:, None, None] * np.ones((T, B, O))
    M = np.ones((T, B, O))
    if masked:
        M[1] = 0.0           # a step that contributes nothing
        M[3, 0, :] = 0.0     # a partial mask: n_t changes
    return X, Y, M


def _net(form, N=4, I=2, O=2, seed=0):
    return Network.init(I, N, O, gain=1.2, alpha=0.3, seed=seed, form=form)


# ------------------------------------------------------------------ bit-exact reference
@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("rule", ["eprop", "rflo"])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_kernel_equals_python_reference(form, rule, rounding):
    net = _net(form)
    T, B = 6, 2
    X, Y, M = _data(T, B, net.n_in, net.n_out)
    h0 = np.random.default_rng(5).uniform(-0.5, 0.5, (B, net.n_rec))
    lr = {"W_in": 0.3, "W": 0.5, "b": 0.2, "W_out": 0.4, "b_out": 0.1}
    spec = SPEC_SMALL + ",round=" + rounding
    q = QuantizedOnlineLearner(net.copy(), rule, lr=lr, spec=spec, batch_size=B, seed=7, h0=h0)
    losses = q.run(X, Y, M)
    F = None if rule == "eprop" else feedback_matrix(net, "random", rule, 7)
    fmt = q.formats
    r_loss, r_w, r_h, r_e = reference_run(net, F, fmt, q.weight_frac, rounding == "stochastic", lr,
                                          q.trainable, 7, X, Y, M, h0=h0)
    np.testing.assert_array_equal(losses, np.array(r_loss))
    wi = q.weights_int()
    for k in ("W_in", "W", "b", "W_out", "b_out"):
        np.testing.assert_array_equal(wi[k][0], np.array(r_w[k]), err_msg=k)
    np.testing.assert_array_equal(q.state_int, np.array(r_h))
    np.testing.assert_array_equal(q.traces_int, np.array(r_e))
    # the run really learned something (the comparison is not between frozen weights)
    assert not np.array_equal(wi["W"][0], quantize_array(net.W, q.weight_frac["W"], fmt["w"][0]))


def test_narrow_formats_saturate_and_still_match_reference():
    """4-bit weights and 5-bit states (range [-2, 2)): saturation happens all the time."""
    net = _net("current")
    net.W_in *= 4.0
    net.alpha = 0.9
    T, B = 6, 2
    X, Y, M = _data(T, B, net.n_in, net.n_out)
    X *= 8.0
    spec = "w4.2,s5.3,t5.4,l5.3,acc12.6,round=stochastic"
    lr = 1.5
    q = QuantizedOnlineLearner(net.copy(), "eprop", lr=lr, spec=spec, batch_size=B, seed=3)
    losses = q.run(X, Y, M)
    r_loss, r_w, r_h, r_e = reference_run(net, None, q.formats, q.weight_frac, True,
                                          {k: lr for k in q.lr}, q.trainable, 3, X, Y, M)
    np.testing.assert_array_equal(losses, np.array(r_loss))
    for k in ("W_in", "W", "b", "W_out", "b_out"):
        np.testing.assert_array_equal(q.weights_int()[k][0], np.array(r_w[k]))
    np.testing.assert_array_equal(q.state_int, np.array(r_h))
    np.testing.assert_array_equal(q.traces_int, np.array(r_e))
    h = q.state_int
    assert ((h == -16) | (h == 15)).any(), h  # some state sits at a limit of s5


# ------------------------------------------------------------------ reproducibility
@pytest.mark.parametrize("form", ["current", "rate"])
def test_same_seed_same_integers(form):
    net = _net(form)
    X, Y, M = _data(8, 2, net.n_in, net.n_out)
    out = []
    for _ in range(2):
        q = QuantizedOnlineLearner(net.copy(), "rflo", lr=0.3, spec=SPEC_SMALL + ",round=stochastic",
                                   batch_size=2, seed=11)
        q.run(X, Y, M)
        q.reset()
        losses = q.run(X, Y, M)
        out.append((losses, q.weights_int(), q.traces_int))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    for k in out[0][1]:
        np.testing.assert_array_equal(out[0][1][k][0], out[1][1][k][0])
    np.testing.assert_array_equal(out[0][2], out[1][2])
    # another seed draws other roundings
    q = QuantizedOnlineLearner(net.copy(), "rflo", lr=0.3, spec=SPEC_SMALL + ",round=stochastic",
                               batch_size=2, seed=12)
    q.run(X, Y, M)
    q.reset()
    q.run(X, Y, M)
    assert not np.array_equal(q.weights_int()["W"][0], out[0][1]["W"][0])


def test_run_equals_steps_and_state_dict_resumes():
    net = _net("current")
    X, Y, M = _data(6, 2, net.n_in, net.n_out)
    spec = SPEC_SMALL + ",round=stochastic"
    a = QuantizedOnlineLearner(net.copy(), "eprop", lr=0.3, spec=spec, batch_size=2, seed=2)
    la = a.run(X, Y, M)
    b = QuantizedOnlineLearner(net.copy(), "eprop", lr=0.3, spec=spec, batch_size=2, seed=2)
    lb = [b.step(X[t], Y[t], M[t]) for t in range(3)]
    sd = b.state_dict()
    c = QuantizedOnlineLearner(net.copy(), "eprop", lr=0.3, spec=spec, batch_size=2, seed=99)
    c.load_state_dict(sd)
    c._S[...] = b._S  # the streams' state is not in a state dict: carry it over by hand
    c._E[...] = b._E
    lb += [c.step(X[t], Y[t], M[t]) for t in range(3, 6)]
    np.testing.assert_array_equal(la, np.array(lb))
    for k, (v, s) in a.weights_int().items():
        np.testing.assert_array_equal(v, c.weights_int()[k][0])
        np.testing.assert_array_equal(getattr(a.net, k), v * s)  # the float view
    n = c.to_network()
    np.testing.assert_array_equal(n.W, c.weights_int()["W"][0] * c.weights_int()["W"][1])


# ------------------------------------------------------------------ tracking the float engine
@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("rule", ["eprop", "rflo"])
@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_16_bit_engine_tracks_float_engine(form, rule, rounding):
    """w16.13, s16.12, t16.14, l16.14, acc32.24, 4097-knot tables (lut_bits=12), T=50, lr=1.

    Error budget for a weight after T steps: each step's update is rounded once,
    |error| <= 1 LSB_w (stochastic; 1/2 nearest), so T LSB_w = 50 * 2**-13 = 6.1e-3 in
    all; the states, traces and learning signal carry relative errors ~ LSB_s/|value|
    (2**-12 / 0.1 ~ 2.4e-3) into each gradient, i.e. into the weight change D itself:
    2% of max|D| covers them with room (measured: at most 3.1e-3).  tol = T LSB_w +
    0.02 max|D| per array.  Some array's float change D exceeds 10 tol, so a wrong sign
    or a dropped term fails.
    """
    net = _net(form, N=8, I=2, O=1)
    net.alpha = 0.25   # exactly representable in 1.15
    T, B = 50, 2
    X, Y, _ = _data(T, B, 2, 1, masked=False)
    spec = "w16.13,s16.12,t16.14,l16.14,acc32.24,round=" + rounding
    q = QuantizedOnlineLearner(net.copy(), rule, lr=1.0, spec=spec, batch_size=B, lut_bits=12)
    lq = q.run(X, Y)
    f = OnlineLearner(net.copy(), rule, lr=1.0, batch_size=B)
    lf = f.run(X, Y)
    ratio = 0.0
    for k in ("W", "W_in", "W_out", "b", "b_out"):
        D = np.abs(getattr(f.net, k) - getattr(net, k)).max()
        tol = T * 2.0 ** -13 + 0.02 * D
        err = np.abs(getattr(q.net, k) - getattr(f.net, k)).max()
        assert err <= tol, (k, err, tol)
        ratio = max(ratio, D / tol)
    assert ratio > 10, ratio  # some parameter moved by more than 10 tolerances
    # per-step losses: outputs differ by ~ LSB_s-sized state errors times |W_out| sums
    np.testing.assert_allclose(lq, lf, atol=2e-3, rtol=0.02)


# ------------------------------------------------------------------ primitives by hand
RNG0 = np.zeros(2, dtype=np.uint64)


def test_nearest_rounding_by_hand():
    # x / 2**k rounded to nearest, ties up
    assert K.rshift(np.int64(5), 1, 0, RNG0) == 3      # 2.5 -> 3
    assert K.rshift(np.int64(-5), 1, 0, RNG0) == -2    # -2.5 -> -2 (ties toward +inf)
    assert K.rshift(np.int64(7), 2, 0, RNG0) == 2      # 1.75 -> 2
    assert K.rshift(np.int64(-7), 2, 0, RNG0) == -2    # -1.75 -> -2
    assert K.rshift(np.int64(-6), 2, 0, RNG0) == -1    # -1.5 -> -1
    assert K.conv(np.int64(1000), 3, 8, 0, RNG0) == 125
    assert K.conv(np.int64(1024), 3, 8, 0, RNG0) == 127        # 128 saturates at 2**7 - 1
    assert K.conv(np.int64(-1028), 3, 8, 0, RNG0) == -128      # -128.5 -> -128
    assert K.conv(np.int64(-1040), 3, 8, 0, RNG0) == -128      # -130 saturates
    # left shifts saturate without overflowing int64
    assert K.conv(np.int64(3), -5, 8, 0, RNG0) == 96
    assert K.conv(np.int64(4), -5, 8, 0, RNG0) == 127
    assert K.conv(np.int64(-4), -5, 8, 0, RNG0) == -128
    assert K.conv(np.int64(-5), -5, 8, 0, RNG0) == -128
    assert K.conv(np.int64(2 ** 40), -40, 32, 0, RNG0) == 2 ** 31 - 1
    assert K.conv(np.int64(-1), -62, 32, 0, RNG0) == -2 ** 31
    # the extreme products of two 32-bit words stay exact
    big = np.int64(-2 ** 31) * np.int64(-2 ** 31)
    assert big == 2 ** 62
    assert K.conv(big, 62, 32, 0, RNG0) == 1
    # saturating accumulation at the limits
    assert K.sat(np.int64(127) + 1, 8) == 127
    assert K.sat(np.int64(-128) - 1, 8) == -128
    # leak: 0.75 * 100 + 0.25 * 41 = 85.25 -> 85 (alpha = 0.25: Aq = 8192)
    assert K.leak(np.int64(100), np.int64(41), 8192, 8, 0, RNG0) == 85
    assert K.leak(np.int64(127), np.int64(127), 8192, 8, 0, RNG0) == 127
    assert quantize_array([0.5, -0.5, 1.0, -2.0, 3.0], 2, 4).tolist() == [2, -2, 4, -8, 7]


def test_reference_primitives_agree_with_kernel_on_hand_cases():
    A = Arith(False, None)
    assert A.div_pow2(5, 1) == 3 and A.div_pow2(-5, 1) == -2 and A.div_pow2(-7, 2) == -2
    assert A.conv(1024, 3, 8) == 127 and A.conv(4, -5, 8) == 127 and A.conv(-5, -5, 8) == -128
    # PCG32 matches the published first outputs of pcg32_srandom(42, 54)
    p = PCG32(42, 54)
    assert [p.next() for _ in range(3)] == [0xa15c02b7, 0x7b47f409, 0xba1d3330]
    rng = pcg_seed(42, 54)
    assert [int(K.pcg32(rng)) for _ in range(3)] == [0xa15c02b7, 0x7b47f409, 0xba1d3330]


@pytest.mark.parametrize("x,k", [(5, 1), (-5, 1), (1, 4), (-1000001, 7), (123456789, 40)])
def test_stochastic_rounding_unbiased(x, k):
    n = 200_000
    rng = pcg_seed(123)
    out = K.stochastic_round_many(np.int64(x), k, n, rng)
    exact = x / 2 ** k
    lo = np.floor(exact)
    assert set(np.unique(out).tolist()) <= {lo, lo + 1}       # only the two neighbours
    p = exact - lo
    se = np.sqrt(p * (1 - p) / n) if 0 < p < 1 else 0.0
    assert abs(out.mean() - exact) <= 4 * se + 1e-15, (out.mean(), exact, se)


def test_lut_interpolation_by_hand():
    tab, sh = lut_tables("tanh", 8, 4, lut_bits=4)     # knots every 2**4 LSB = 1.0
    assert sh == 4 and tab.shape == (2, 17)
    # knot at x = 0 (index 8): tanh(0) = 0, tanh'(0) = 1 -> 16
    assert tab[0, 8] == 0 and tab[1, 8] == 16
    # tanh(1) = 0.7616 -> round(12.19) = 12; halfway to x = 1 (8 LSB): 0 + (12*8 + 8) >> 4 = 6
    assert tab[0, 9] == 12
    assert K.lut(tab[0], np.int64(8), np.int64(-128), np.int64(4)) == 6
    assert K.lut(tab[0], np.int64(16), np.int64(-128), np.int64(4)) == 12
    assert K.lut(tab[0], np.int64(127), np.int64(-128), np.int64(4)) == tab[0, 15] + (
        ((tab[0, 16] - tab[0, 15]) * 15 + 8) >> 4)


def test_bad_inputs_are_one_line_errors():
    net = _net("current")
    with pytest.raises(ValueError, match="w40"):
        QuantizedOnlineLearner(net, "eprop", spec="w40,s16")
    with pytest.raises(ValueError, match="bad field 'x8'"):
        QuantizedOnlineLearner(net, "eprop", spec="x8,s16")
    with pytest.raises(ValueError, match="rule"):
        QuantizedOnlineLearner(net, "rtrl", spec="w8,s16")
    q = QuantizedOnlineLearner(net, "eprop", spec="w8,s16", batch_size=1)
    with pytest.raises(ValueError, match="0 and 1 only"):
        q.run(np.zeros((2, 1, 2)), np.zeros((2, 1, 2)), np.full((2, 1, 2), 0.5))
    with pytest.raises(ValueError, match="lr"):
        QuantizedOnlineLearner(net, "eprop", lr=3.0, spec="w8,s16")


# ------------------------------------------------------------------ training and the CLI
def _cli(args):
    from click.testing import CliRunner

    from localrnn.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize("spec,field", [("w8,s16,x12", "'x12'"), ("w8,s99", "'s99'"),
                                        ("w8.9,s16", "'w8.9'"), ("w8,round=up", "round=up")])
def test_cli_bad_spec_is_one_error_line(spec, field, capsys):
    from localrnn.cli import main

    with pytest.raises(SystemExit) as e:
        main(["run", "romo", "--rule", "rflo", "--online", "--quantize", spec, "--n-rec", "4",
              "--iters", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error:") and field in err[0], err


def test_run_romo_quantized_writes_integer_weights(tmp_path):
    out = tmp_path / "q"
    _cli(["run", "romo", "--rule", "rflo", "--online", "--quantize", "w12,s16,t12,l16,acc32",
          "--n-rec", "6", "--batch", "2", "--iters", "2", "--eval-every", "1", "--eval-batch", "4",
          "--out", str(out)])
    import json

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["quantize"] == "w12,s16,t12,l16,acc32" and cfg["optimizer"] == "sgd"
    with np.load(out / "weights.npz") as w:
        for k in ("W_in", "W", "b", "W_out", "b_out"):
            assert w["int_" + k].dtype == np.int64
            assert np.abs(w["int_" + k]).max() <= 2 ** 11
            np.testing.assert_array_equal(w["int_" + k] * w["scale_" + k], w["final_" + k])
        assert float(w["scale_W"]) == 2.0 ** -9     # w12: 12 - 1 sign - 2 integer bits
        assert not np.array_equal(w["int_W"] * w["scale_W"], w["init_W"])  # it learned
    for name in ("metrics.csv", "checkpoint.npz", "curve.png"):
        assert (out / name).is_file()


def test_quantize_needs_online_local_sgd():
    from localrnn.training import TrainConfig

    with pytest.raises(ValueError, match="needs online=True"):
        TrainConfig(task="romo", rule="rflo", quantize="w8,s16").resolved()
    with pytest.raises(ValueError, match="needs online=True"):
        TrainConfig(task="romo", rule="rflo", online=True, optimizer="adam",
                    quantize="w8,s16").resolved()


def test_quantized_run_resumes_bit_identical(tmp_path):
    """Ctrl-C and --resume give the same integers as one uninterrupted run (the integer
    weights and the rounding stream are in the checkpoint)."""
    from localrnn.runs import read_metrics
    from localrnn.training import TrainConfig, Trainer

    cfg = dict(task="romo", rule="eprop", gain=0.8, n_rec=6, batch=2, iters=4, eval_every=2,
               eval_batch=4, online=True, quantize="w10,s14,t10,l12,acc24,round=stochastic")
    full = Trainer(TrainConfig(**cfg), tmp_path / "full").run()
    assert full.status == "done"

    def interrupt(i):
        if i == 2:
            raise KeyboardInterrupt

    part = tmp_path / "part"
    assert Trainer(TrainConfig(**cfg), part).run(on_iteration=interrupt).status == "interrupted"
    assert Trainer.resume(part).run().status == "done"
    with np.load(tmp_path / "full" / "weights.npz") as a, np.load(part / "weights.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    ra, rb = read_metrics(tmp_path / "full" / "metrics.csv"), read_metrics(part / "metrics.csv")
    assert [x["loss"] for x in ra] == [x["loss"] for x in rb]


def test_mask_shapes_and_given_feedback_matrix():
    """(T, B) masks broadcast over outputs, a (B,) mask works in step, and a given F is
    rounded into the weight format (the same integers as feedback='random' with that F)."""
    net = _net("rate")
    X, Y, M = _data(4, 2, net.n_in, net.n_out)
    F = feedback_matrix(net, "random", "rflo", 0)
    a = QuantizedOnlineLearner(net.copy(), "rflo", lr=0.3, spec=SPEC_SMALL, batch_size=2, feedback=F)
    b = QuantizedOnlineLearner(net.copy(), "rflo", lr=0.3, spec=SPEC_SMALL, batch_size=2)
    np.testing.assert_array_equal(a.feedback, b.feedback)
    la = a.run(X, Y, M[:, :, 0])
    lb = [b.step(X[t], Y[t], M[t, :, 0]) for t in range(4)]
    np.testing.assert_array_equal(la, np.array(lb))
    np.testing.assert_array_equal(a.weights_int()["W"][0], b.weights_int()["W"][0])
