"""Loihi 2 learning rules (``localrnn.neuromorphic.lava``), checked by Lava itself.

Two layers:

* without Lava (always run): the grammar validator, our model of Loihi's fixed-point
  rule evaluation (``accumulate``, ``round_accumulator``) against the integer learner
  (``QuantizedOnlineLearner``) over real runs, and the CLI;
* with Lava (``tests/lava_driver.py`` in the venv of ``.ci/lava-venv``, named by
  ``LOCALRNN_LAVA_PYTHON``; one subprocess for every case, fed JSON): Lava 0.10.0's
  ``Loihi3FLearningRule`` parses every string ``localrnn export --format lava`` and
  ``lava_rules`` / ``lava_rules_for`` can write, agrees with the validator on valid and
  invalid strings, and its ``LearningRuleApplierBitApprox`` (plus the rounding and
  saturation of its learning phase) gives the integer learner's update within the
  bound derived below.  Without the venv these tests skip with the reason; under
  ``CI=true`` they fail instead.

The bound (weights; the tag likewise).  Let ``u`` be the exact three-factor change of a
weight in LSBs (``-lr L_i e_ij`` scaled, from the learner's integers).  Lava floors each
product at its resolution ``2^e`` (the right shift): its accumulator holds exactly
``V = 2^e floor(u / 2^e)``, so ``u - 2^e < V <= u`` -- asserted as an equality.  It then
rounds ``W + V`` stochastically with one random number ``r`` per step: the new weight is
``floor(W + V)`` or that plus 1.  The learner rounds ``u`` to nearest: ``|dW - u| <=
1/2``.  Both saturate to [-256, 255].  So the two new weights differ by less than
``3/2 + 2^e``, i.e. by at most 1 LSB when ``2^e <= 1/2``, for every ``r``.  For the tag
(alpha = 2^-a) the learner rounds twice (the new term, then the leak): ``|dt - u| <=
1/2 + alpha/2``, and Lava's bound is at most 1 LSB when ``alpha/2 + 2^e1 <= 1/2``.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from localrnn.kernels import fixed_online as K
from localrnn.neuromorphic import lava as L
from localrnn.neuromorphic.fixed import QuantizedOnlineLearner
from localrnn.tasks.sine import SineTask

DRIVER = Path(__file__).with_name("lava_driver.py")
#: Random numbers of Lava's stochastic rounding to try (0.5 - 2^-9 makes it round to nearest).
RANDOMS = (0.0, 1 / 3, 0.5 - 2.0 ** -9, 1 - 2.0 ** -9)
#: The integer learner with Loihi's formats (lava_rules_for's docstring), per form.
SPECS = {"current": "w9.6,s12.6,t7.6,l7.6,acc32.12", "rate": "w9.6,s12.6,t9.7,l7.6,acc32.13"}
#: Its rates for W: the scale 2^-3 in both forms (lr = 2^(e + 9 - 6), 2^(e + 8 - 6)).
LR_W = {"current": 1.0, "rate": 0.5}
N_REC, TRIALS = 16, 2


def _cli(args):
    from click.testing import CliRunner

    from localrnn.cli import main
    return CliRunner().invoke(main, args)


# ------------------------------------------------------------------ grammar cases
#: Accepted by both; the products must agree.
BOTH_ACCEPT = [
    "1 * (-2) * x0 * y1 + 1 * 2 * y0 * x1",                     # STDP (Lava's example)
    "2^-2 * 3 * x0 * y1 + 2^-2 * 2 * y0 * x1 - u0 * t * 2",    # R-STDP tag, numbers filled in
    " u0 * t * y2 ", "-2^-6 * u0 * (x1 - 64) * (y2 - 64)", "2^-3 * u0 * x1 * y1 - 2^-3 * u0 * t",
    "3*2^4 * y0 * sgn(w - 10)", "2^8 * u0", "4 * 2^8 * u0", "-8 * u0", "8 * u0", "16 * u0",
    "48 * u2 * t", "u0 * x0", "u9 * t", "u0 * sgn(w)", "u0 * sgn(t + 5)", "u0 * (-2)",
    "x1 * u0", "y0 * x0", "2 * 2 * 2 * 2 * u0", "u0", "y0", "x0 * x0", "u0 * (x1 - 128)",
    "u0 * (x1 + 127)", "u0 * t * 2^0", "+ u0", "u0 * 2^+3", "u0 * 3*2^-2", "2^-7 * u0",
    "-2^-7 * u0", "7 * 2^8 * u0", "-8 * 2^8 * u0", "u0 * (d + 3)", "u0 * sgn(d - 1)",
    "u0 * x2 * y3", "u0 - x0 * y1", "x0 - u0", "u1 * t - u1 * w", "2 ^ 3 * u0",
    "u0*(x1-64)*(y2-64)", "-(2) * u0", "u0 * 12",
]
#: Rejected by both (the words our message must contain).
BOTH_REJECT = [
    ("0.5 * u0 * t", "float"), ("x1 * y1", "no dependency"), ("exp(x1) * u0", "'exp(x1)' in"),
    ("100 * u0 * t", "mantissa"), ("2^-9 * u0 * t", "exponent"),
    ("u0 * u1 * t", "two u dependencies"), ("u0 * (x1 - 64", "unbalanced"), ("", "non-empty"),
    ("2^-9 * 4 * u0 * t", "never rewrites the exponent"), ("2 * 2^-8 * u0", "exponent"),
    ("1 * 2^9 * u0", "exponent"), ("8 * 2^8 * u0", "mantissa"), ("9 * u0", "mantissa"),
    ("x0 * u0", "after the dependency"), ("y0 * u0 * t", "after the dependency"),
    ("u0 * t + u1 * w", "one u<k>"), ("u0 * (x1 + y1)", "not allowed"),
    ("u0 * sgn(x1)", "not allowed"), ("u0 * sgn(-w + 3)", "not allowed"),
    ("u0\t* t", "tab"), ("u0 *\nt", "tab"), ("--u0", "empty factor"), ("u0 * -t", "empty factor"),
    ("u0 * x3", "not allowed"), ("U0 * t", "not allowed"), ("u0 + ", "empty factor"),
    ("u0 * t / 2", "not allowed"), ("(u0 * t)", "not allowed"), ("u0 * +2^3", "empty factor"),
    ("2^3^2 * u0", "not allowed"),
]
#: Accepted by Lava 0.10.0, rejected by us -- on purpose (from Lava's source):
#: (string, our words, why we are right, Lava's reading as (m, e, dep, factors) or None).
LAVA_ONLY = [
    ("u0 * (x1 - 300)", "offset -300", "constants are 8 bits (W_CONST = 8); Lava's Python "
     "model does not check them", None),
    ("u0 * (x1 + 128)", "offset 128", "8-bit constant", None),
    ("u0 * (w - 256)", "offset -256", "8-bit constant", None),
    ("u0 * u0 * t", "two u dependencies", "redundant (u0 * u0 = u0)", None),
    ("u12 * t", "one digit", "Lava reads it as 2 * u1 * t",
     (2, 0, "u1", (("t", 0, False),))),
    ("u0t", "not allowed", "factors are joined by '*'", None),
    ("x1y1 * u0", "not allowed", "factors are joined by '*'", None),
    ("u0 * * t", "empty factor", "a typo", None),
    ("u0 * (x1 - 64) *", "empty factor", "a dangling '*'", None),
    ("u0 ** 2", "empty factor", "Lava reads it as 2 * u0, not u0 squared", (2, 0, "u0", ())),
    ("u0 * 0", "zero scale", "a product that is always 0", None),
    ("u0 * (2^3)", "not allowed", "outside the documented forms (read correctly)", None),
    ("u0 * (x1)", "not allowed", "outside the documented forms (read correctly)", None),
    ("u0 * (64 - x1)", "not allowed", "outside the documented forms (read correctly)",
     (-1, 0, "u0", (("x1", -64, False),))),
    ("u0 * (x1 - 2^3)", "not allowed", "outside the documented forms (read correctly)", None),
    ("u0 * (-x1)", "not allowed", "Lava drops the minus sign", (1, 0, "u0", (("x1", 0, False),))),
    ("u0 * ((x1 - 64))", "not allowed", "Lava drops the factor", (1, 0, "u0", ())),
    ("u0 * (x1 - 64 + 1)", "not allowed", "Lava drops the '+ 1'",
     (1, 0, "u0", (("x1", -64, False),))),
]


def _canon_ours(products):
    return [(p.mantissa, p.exponent, p.dependency,
             tuple((var, c, kind == "sgn") for kind, var, c in p.factors)) for p in products]


def _canon_lava(products):
    return [(m, e, dep + (str(k) if dep == "u" else ""),
             tuple((var, c or 0, bool(sgn)) for var, c, sgn in factors))
            for m, e, dep, k, factors in products]


@pytest.mark.parametrize("s", BOTH_ACCEPT)
def test_validator_accepts(s):
    assert L.validate_rule(s)


@pytest.mark.parametrize("s, words", BOTH_REJECT + [(s, w) for s, w, _, _ in LAVA_ONLY])
def test_validator_rejects(s, words):
    with pytest.raises(ValueError) as e:
        L.validate_rule(s)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_one_u_for_all_rules():
    with pytest.raises(ValueError, match="one u<k>"):
        L.validate_rules({"dt": "u0 * t", "dw": "u1 * t"})


def test_scale_normalised_as_lava_does():
    (p,) = L.validate_rule("1 * (-2) * x0 * y1")
    assert (p.mantissa, p.exponent, p.dependency) == (-2, 0, "x0")
    (p,) = L.validate_rule("48 * u2 * t")          # 48 = 6 * 2^3: the first mantissa in range
    assert (p.mantissa, p.exponent) == (6, 3)
    (p,) = L.validate_rule("-8 * u0")              # |m| > 7 and even: halved
    assert (p.mantissa, p.exponent) == (-4, 1)


# ---------------------------------------------------------- every string we write
def _export_rules():
    """Every rule set ``lava_rules`` writes (rule x form x feedback x scale x alpha x
    tag_frac; the rate form's dt needs alpha >= 2^-(tag_frac - 2)), each distinct set of
    strings once (rule and feedback change only the symbols' text)."""
    out = {}
    for rule in ("eprop", "rflo"):
        for fb in ("symmetric", "random"):
            for e in range(L.EXPONENT[0], L.EXPONENT[1] + 1):
                rs = [L.lava_rules(rule, "current", fb, eta_exponent=e)]
                rs += [L.lava_rules(rule, "rate", fb, alpha=2.0 ** -a, eta_exponent=e, tag_frac=ft)
                       for ft in range(2, 9) for a in range(0, ft - 1)]
                out.update((tuple(sorted(r.strings.items())), r.strings) for r in rs)
    for e in range(L.EXPONENT[0], L.EXPONENT[1] + 1):      # spiking LIF: every tau_out's tag rule
        for tau_out in (1.0, 2.0, 5.0, 10.0, 20.0, 22.0):
            r = L.lava_spiking_rules("lif", tau_out=tau_out, eta_exponent=e)
            out[tuple(sorted(r.strings.items()))] = r.strings
    return list(out.values())


def _cli_rules():
    """The strings the CLI prints, for every rule, form, feedback and a range of alpha."""
    out = []
    for rule in ("eprop", "rflo"):
        for form in ("current", "rate"):
            for fb in ([], ["--feedback", "symmetric"], ["--feedback", "random"]):
                for alpha in ("1", "0.5", "0.125", "0.1", "0.03"):
                    r = _cli(["export", "--rule", rule, "--form", form, "--format", "lava",
                              "--alpha", alpha, *fb])
                    assert r.exit_code == 0, r.output
                    strings = dict(re.findall(r'^(dw|dt) = "(.*)"$', r.output, re.M))
                    assert set(strings) == ({"dw"} if form == "current" else {"dw", "dt"})
                    assert "Loihi3FLearningRule" in r.output
                    out.append(strings)
    for fb in ([], ["--feedback", "random"]):
        for tau in (["--tau-out", "3"], ["--tau-out", "20", "--tau-m", "30"], []):
            r = _cli(["export", "--rule", "eprop", "--model", "lif", "--format", "lava", *fb, *tau])
            assert r.exit_code == 0, r.output
            strings = dict(re.findall(r'^(dw|dt) = "(.*)"$', r.output, re.M))
            assert set(strings) == {"dw", "dt"} and "spiking LIF (reset subtract)" in r.output
            out.append(strings)
    return out


def test_spiking_lava_rules_are_eprops_recursions():
    """The tag rule is ebar <- (1 - 2^-k) ebar + 2^-k psi eps_v in Lava's real-valued
    reading (Loihi's 2^-3 product shift folded into t's scale c = 2^-6 s_x s_y); dw is
    -eta L ebar.  ALIF and reset 'set' are refused (no Loihi form), with the reason."""
    r = L.lava_spiking_rules("lif", tau_m=20.0, tau_out=20.0, eta_exponent=-6)
    assert r.strings == {"dt": "2^-7 * u0 * x1 * y1 - 2^-4 * u0 * t",
                         "dw": "-2^-6 * u0 * t * (y2 - 64)"}
    p = L.validate_rules(r.strings)
    rng = np.random.default_rng(0)
    x1, y1, t = rng.integers(0, 128, 50), rng.integers(0, 128, 50), rng.integers(-200, 200, 50)
    dt = L.evaluate(p["dt"], {"u0": 1, "x1": x1, "y1": y1, "t": t})
    # Lava's float model omits the 2^-3 shift: 2^-7 x1 y1 = 2^-4 (x1 y1 / 8); with the
    # shift (the chip), the tag moves by 2^-4 (x1 y1 / 64 - t)
    np.testing.assert_allclose(dt, 2.0 ** -4 * (x1 * y1 / 8 - t), rtol=1e-15)
    assert L.product_shift(p["dt"][0]) == 3 and L.product_shift(p["dw"][0]) == 5
    for kw, words in ((dict(model="alif"), "eps_a"), (dict(reset="set"), "postsynaptic spike"),
                      (dict(tau_out=40.0), "too long")):
        with pytest.raises(ValueError, match=words):
            L.lava_spiking_rules(**kw)


def test_cli_lava():
    r = _cli(["export", "--rule", "rflo", "--form", "rate", "--format", "lava"])
    assert r.exit_code == 0, r.output
    assert 'dt = "2^-5 * u0 * (x1 - 64) * y1 - 2^-3 * u0 * t"' in r.output
    assert 'dw = "-2^-6 * u0 * t * (y2 - 64)"' in r.output
    for args, words in ((["--rule", "bptt"],
                         "non-local"),
                        (["--rule", "eprop", "--form", "rate", "--alpha", "0.01"], "too small")):
        r = _cli(["export", *args, "--format", "lava"])
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and words in lines[0], r.output


# ----------------------------------------------------------- real runs, recorded
def _record(rule, form):
    """The integer learner on the sine task (N = 16, alpha = 1/8, Loihi's formats) for
    TRIALS trials; per step the integers the Lava rule reads and the learner's result.

    L and phi'(u) are not exposed by the learner: they are read from its state buffer
    with the kernel's row constants (``S_L``, ``S_D``, ``S_H``: fixed_online's docstring).
    """
    task = SineTask()
    net = task.make_network(n_rec=N_REC, seed=0, form=form)
    net.alpha = 0.125
    q = QuantizedOnlineLearner(net, rule, lr={"W": LR_W[form], "W_out": 0.05}, spec=SPECS[form],
                               trainable=("W", "W_out"), h0=task.h0(1, N_REC), lut_bits=12)
    rules = L.lava_rules_for(q)
    batch = task.batch(1, np.random.default_rng(0))
    steps = []
    for _ in range(TRIALS):
        q.reset()
        for k in range(task.T):
            w0, a_prev, p_old = q.weights_int()["W"][0], q._S[K.S_H, 0].copy(), q._E[0].copy()
            q.step(batch.inputs[k], batch.targets[k], batch.mask[k])
            st = {"w0": w0, "w1": q.weights_int()["W"][0], "L": q._S[K.S_L, 0].copy()}
            if form == "current":
                st["e"] = q._E[0, 0, :N_REC].copy()
            else:
                st.update(a_prev=a_prev, d=q._S[K.S_D, 0].copy(), t0=p_old[:, :N_REC],
                          t1=q._E[0][:, :N_REC].copy())
            steps.append(st)
    return {"learner": q, "rules": rules, "products": L.validate_rules(rules.strings),
            "steps": steps, "form": form}


@pytest.fixture(scope="module")
def runs():
    return {(rule, form): _record(rule, form) for rule in ("eprop", "rflo")
            for form in ("current", "rate")}


def _lava_values(st, form, target):
    """The integer state the Lava rule reads (the documented encodings)."""
    off = L.TRACE_OFFSET
    if form == "current":
        return {"u0": 1, "x1": off + st["e"][None, :], "y2": off + st["L"][:, None]}
    return {"u0": 1, "x1": off + st["a_prev"][None, :], "y1": st["d"][:, None],
            "y2": off + st["L"][:, None], "t": st["t1"] if target == "dw" else st["t0"]}


def _exact_floored(run, st, target):
    """The learner's exact (unrounded) change, floored at the rule's resolution 2^e, in
    accumulator units (2^-7 LSB): computed from the learner's integers and constants,
    not from the rule string."""
    q, form = run["learner"], run["form"]
    fm = q.formats
    lf, ft, fa = fm["l"][1], fm["t"][1], fm["acc"][1]
    if target == "dw":
        e = run["products"]["dw"][0].exponent
        trace = st["e"][None, :] if form == "current" else st["t1"]
        g = (st["L"][:, None] * trace) << (fa - lf - ft)          # the learner's gradient sum
        eta_q = int(np.floor(q.lr["W"] * 2.0 ** K.LR_FRAC + 0.5))
        n = q.net.n_out
        eta_t = (2 * eta_q + n) // (2 * n)
        shift = K.LR_FRAC + fa - q.weight_frac["W"] + e       # u / 2^e = -eta_t g / 2^shift
        return ((-eta_t * g) >> shift) << (e + L.ACC_SHIFT)
    # tag: (1 - alpha) t + alpha * c, c = phi'(u_i) a_j in the trace format
    a = int(round(-np.log2(q.alpha_q)))
    e1 = run["products"]["dt"][0].exponent
    sf = fm["s"][1]
    P = st["d"][:, None] * st["a_prev"][None, :]                       # 2^(2 sf) phi' a
    shift = 2 * sf - ft + a + e1                            # alpha c / 2^e1 = P / 2^shift
    return -(st["t0"] << (L.ACC_SHIFT - a)) + ((P >> shift) << (e1 + L.ACC_SHIFT))


def _check_against_learner(run, target, accs, news):
    """Lava's (or our model's) accumulators and new values over every recorded step:
    the accumulator equals the exact change floored at 2^e; every rounding lands within
    1 LSB of the learner's."""
    form, changed, floored = run["form"], 0, 0
    for st, acc, new in zip(run["steps"], accs, news):
        before, after = (st["w0"], st["w1"]) if target == "dw" else (st["t0"], st["t1"])
        exact = _exact_floored(run, st, target)
        np.testing.assert_array_equal(np.asarray(acc) - (before << L.ACC_SHIFT), exact)
        for v in new:
            assert np.abs(np.asarray(v) - after).max() <= 1
        changed += int((after != before).sum())
        floored += int((exact % (2 ** L.ACC_SHIFT) != 0).sum())
    size = len(run["steps"]) * N_REC * N_REC
    # not a comparison of frozen values, and Lava's floor and rounding both matter
    assert changed > 0.02 * size and floored > 0.02 * size, (form, target, changed, floored)


def _model(run, target):
    prods = run["products"][target]
    accs, news = [], []
    for st in run["steps"]:
        init = (st["w0"] if target == "dw" else st["t0"]) << L.ACC_SHIFT
        acc = L.accumulate(prods, _lava_values(st, run["form"], target), init)
        accs.append(acc)
        news.append([L.round_accumulator(acc, "w" if target == "dw" else "t", r) for r in RANDOMS])
    return accs, news


@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("rule", ["eprop", "rflo"])
def test_model_gives_learner_update(runs, rule, form):
    """Without Lava: our model of Loihi's evaluation, fed the learner's integers."""
    run = runs[rule, form]
    assert len(run["steps"]) >= 100
    for target in run["rules"].strings:
        _check_against_learner(run, target, *_model(run, target))


def test_lava_rules_for_needs_loihi_formats():
    net = SineTask().make_network(n_rec=4, seed=0, form="rate")
    net.alpha = 0.125
    for spec, lr, words in (("w8,s12.6,t9.7,l7.6,acc32.13", 0.5, "weight bits 8"),
                            ("w9.6,s12.6,t9.7,l7.6,acc32.13", 0.3, "not a power of two"),
                            ("w9.6,s12.5,t9.7,l7.6,acc32.13", 0.5, "state fractional bits 5"),
                            ("w9.6,s12.6,t9.7,l7.6,acc32.12", 0.5, "at least 13"),
                            ("w9.6,s12.6,t9.7,l7.6,acc32.13", 2.0 ** -20, "outside Loihi's")):
        q = QuantizedOnlineLearner(net.copy(), "eprop", lr={"W": lr}, spec=spec, trainable=("W",))
        with pytest.raises(ValueError, match=words):
            L.lava_rules_for(q)
    q = QuantizedOnlineLearner(net.copy(), "eprop", lr=0.5, spec="w9.6,s12.6,t9.7,l7.6,acc32.13",
                               trainable=("W_out",))
    with pytest.raises(ValueError, match="does not train W"):
        L.lava_rules_for(q)


# --------------------------------------------------------------------- with Lava
def _random_cases(rng, n_rules=30, n_states=3, shape=(5, 6)):
    """Random valid rules (up to three factors, offsets, sgn, x0/y0/u0) and states, some
    at the limits, for the model-equals-Lava check."""
    cases = []
    for _ in range(n_rules):
        rules = {}
        for target in ("dw", "dd", "dt"):
            prods = []
            for _ in range(rng.integers(1, 4)):
                dep = str(rng.choice(["u0", "x0", "y0"]))
                fs = []
                for var in rng.choice(["x1", "x2", "y1", "y2", "y3", "w", "d", "t"],
                                      size=rng.integers(0, 4), replace=False):
                    c = int(rng.integers(-128, 128))
                    kind = rng.integers(0, 3) if var in ("w", "d", "t") else rng.integers(0, 2)
                    fs.append(var if kind == 0 else f"({var} {'+' if c >= 0 else '-'} {abs(c)})"
                              if kind == 1 else f"sgn({var} + {abs(c)})")
                m, e = int(rng.integers(-8, 8)) or 1, int(rng.integers(-7, 9))
                prods.append(("- " if m < 0 else "+ ") + " * ".join([f"{abs(m)}*2^{e}", dep, *fs]))
            rules[target] = " ".join(prods)       # a sign is an operator, never part of m
        states = []
        for _ in range(n_states):
            n_post, n_pre = shape
            st = {"weights": rng.integers(-256, 256, shape), "tag_1": rng.integers(-257, 256, shape),
                  "tag_2": rng.integers(0, 256, shape), "x0": rng.integers(0, 2, n_pre),
                  "y0": rng.integers(0, 2, n_post), "u": 1}
            for tr, n in (("x1", n_pre), ("x2", n_pre), ("y1", n_post), ("y2", n_post),
                          ("y3", n_post)):   # traces at 0, 127 and between
                st[tr] = rng.choice([0, 127, *rng.integers(0, 128, 4)], size=n)
            states.append(st)
        cases.append((rules, states))
    return cases


def _model_step(rules, state):
    """Our model on one driver step: {target: (acc, [new for each random])}."""
    shape = np.asarray(state["weights"]).shape
    vals = {"u0": state.get("u", 1), "x0": np.asarray(state["x0"])[None, :],
            "y0": np.asarray(state["y0"])[:, None], "w": np.asarray(state["weights"]),
            "t": np.asarray(state.get("tag_1", np.zeros(shape, int))),
            "d": np.asarray(state.get("tag_2", np.zeros(shape, int)))}
    for tr in ("x1", "x2"):
        vals[tr] = np.asarray(state.get(tr, np.zeros(shape[1], int)))[None, :]
    for tr in ("y1", "y2", "y3"):
        vals[tr] = np.asarray(state.get(tr, np.zeros(shape[0], int)))[:, None]
    out = {}
    for target, products in L.validate_rules(rules).items():
        var = target[1]
        acc = L.accumulate(products, vals, vals[var] << L.ACC_SHIFT)
        out[target] = (acc, [L.round_accumulator(acc, var, r) for r in RANDOMS])
    return out


def _step_json(st, form, target):
    v = _lava_values(st, form, target)
    d = {"weights": st["w0"], "x1": v["x1"][0], "y2": v["y2"][:, 0]}
    if form == "rate":
        d.update(tag_1=v["t"], y1=v["y1"][:, 0])
    return {k: np.asarray(a).tolist() for k, a in d.items()}


@pytest.fixture(scope="module")
def lava(runs):
    """Lava's answers to every case, from one subprocess (skip or, under CI=true, fail
    without the Lava venv)."""
    py = os.environ.get("LOCALRNN_LAVA_PYTHON")
    reason = None
    if not py:
        reason = ("LOCALRNN_LAVA_PYTHON is not set: build the Lava venv with "
                  "'.ci/lava-venv PATH' and set LOCALRNN_LAVA_PYTHON=PATH/bin/python")
    elif not (os.path.isfile(py) and os.access(py, os.X_OK)):
        reason = f"LOCALRNN_LAVA_PYTHON={py!r} is not an executable file"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no Lava: {reason}")
        pytest.skip(reason)
    parse = ([{"rules": {"dw": s}} for s in BOTH_ACCEPT] +
             [{"rules": {"dw": s}} for s, _ in BOTH_REJECT] +
             [{"rules": {"dw": s}} for s, _, _, _ in LAVA_ONLY] +
             [{"rules": r} for r in _export_rules()] +
             [{"rules": s} for s in _cli_rules()] +
             [{"rules": run["rules"].strings} for run in runs.values()])
    rand = _random_cases(np.random.default_rng(20))
    apply = [{"rules": {t: run["rules"].strings[t]}, "randoms": list(RANDOMS),
              "steps": [_step_json(st, run["form"], t) for st in run["steps"]]}
             for run in runs.values() for t in run["rules"].strings]
    apply += [{"rules": rules, "randoms": list(RANDOMS),
               "steps": [{k: np.asarray(v).tolist() for k, v in s.items()} for s in states]}
              for rules, states in rand]
    proc = subprocess.run([py, str(DRIVER)], input=json.dumps({"parse": parse, "apply": apply}),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert "driver_error" not in out, out["driver_error"]
    n = len(BOTH_ACCEPT) + len(BOTH_REJECT) + len(LAVA_ONLY)
    out["grammar"], out["written"] = out["parse"][:n], out["parse"][n:]
    k = sum(len(run["rules"].strings) for run in runs.values())
    out["runs"], out["random"] = out["apply"][:k], list(zip(rand, out["apply"][k:]))
    return out


def test_lava_version(lava):
    assert lava["versions"]["lava-nc"] == "0.10.0"
    assert lava["versions"]["numpy"].split(".")[0] == "1"


def test_lava_and_validator_agree(lava):
    """Lava rejects what we reject; where both accept, the products are the same; the
    strings only Lava accepts are pinned (with how Lava reads them)."""
    res = iter(lava["grammar"])
    for s in BOTH_ACCEPT:
        r = next(res)
        assert r["ok"], (s, r)
        assert _canon_lava(r["products"]["dw"]) == _canon_ours(L.validate_rule(s)), s
    for s, _ in BOTH_REJECT:
        r = next(res)
        assert not r["ok"], (s, r)
    for s, _, _, reading in LAVA_ONLY:
        r = next(res)
        assert r["ok"], (s, r)
        if reading is not None:
            assert _canon_lava(r["products"]["dw"]) == [reading], (s, r)


def test_lava_parses_every_string_we_write(lava, runs):
    written = _export_rules() + _cli_rules() + [run["rules"].strings for run in runs.values()]
    assert len(written) == len(lava["written"]) > 500
    for rules, r in zip(written, lava["written"]):
        assert r["ok"], (rules, r)
        ours = {t: _canon_ours(p) for t, p in L.validate_rules(rules).items()}
        assert {t: _canon_lava(p) for t, p in r["products"].items()} == ours, rules


@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("rule", ["eprop", "rflo"])
def test_lava_applier_gives_learner_update(lava, runs, rule, form):
    """Lava's LearningRuleApplierBitApprox on the learner's integers at every step: the
    accumulator is the exact change floored at 2^e, bit for bit; Lava's rounding (every
    random number tried) lands within 1 LSB of the learner; our model is Lava's."""
    keys = list(runs)
    k = sum(len(runs[key]["rules"].strings) for key in keys[:keys.index((rule, form))])
    run = runs[rule, form]
    for j, target in enumerate(run["rules"].strings):
        steps = lava["runs"][k + j]["steps"]
        accs = [np.asarray(s[target]["acc"]) for s in steps]
        news = [s[target]["new"] for s in steps]
        _check_against_learner(run, target, accs, news)
        m_accs, m_news = _model(run, target)
        np.testing.assert_array_equal(np.array(accs), np.array(m_accs))
        np.testing.assert_array_equal(np.array(news), np.array(m_news))
        # Lava's floating-point model has no product shift: 2^s times the exact change
        s = L.product_shift(run["products"][target][0])
        st = run["steps"][0]
        fl = np.asarray(steps[0][target]["float"])
        assert np.allclose(fl, L.evaluate(run["products"][target],
                                          _lava_values(st, form, target)), rtol=0, atol=1e-9)
        assert s in (3, 5)


def test_lava_applier_equals_model_on_random_rules(lava):
    """Random rules (offsets, sgn, x0/y0, up to three factors) and states at the limits:
    Lava's accumulator and rounded values equal accumulate / round_accumulator."""
    saturated = 0
    for (rules, states), answer in lava["random"]:
        for state, got in zip(states, answer["steps"]):
            for target, (acc, news) in _model_step(rules, state).items():
                np.testing.assert_array_equal(np.asarray(got[target]["acc"]), acc,
                                              err_msg=rules[target])
                np.testing.assert_array_equal(np.asarray(got[target]["new"]), np.array(news))
                saturated += int((np.abs(acc) >= 2 ** 15 - 1).sum())
    assert saturated > 0   # the accumulator's saturation was exercised
