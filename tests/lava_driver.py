"""Runs inside the Lava venv (``.ci/lava-venv``), never in the test suite's process.

Reads one JSON request on stdin, answers one JSON object on stdout.  It imports
lava-nc and numpy < 2 only (no localrnn), so the suite's process stays free of both.

Request::

    {"parse": [{"rules": {"dw": "...", "dt": "..."}, "kind": "3F" | "2F"}, ...],
     "apply": [{"rules": {...}, "randoms": [r, ...],
                "steps": [{"weights": [[..]], "tag_1": [[..]], "tag_2": [[..]], "x0": [..],
                           "y0": [..], "x1": [..], "x2": [..], "y1": [..], "y2": [..],
                           "y3": [..], "u": 1}, ...]}, ...]}   (absent: zeros; u: 1)

Answer::

    {"versions": {...},
     "parse": [{"ok": true, "products": {"dw": [[mant, exp, dep, k, [[var, C, sgn]..]]..]}}
               or {"ok": false, "error": "ValueError: ..."}, ...],
     "apply": [{"steps": [{"dw": {"acc": [[..]], "new": [[[..]]..], "float": [[..]]}, ...}]}]}

For each step and target the answer holds ``acc``, the output of Lava's
``LearningRuleApplierBitApprox.apply`` started from the variable shifted into the
16-bit accumulator (as ``LearningConnectionModelBitApproximate._apply_learning_rules``
does), ``float`` (first step only), the ``LearningRuleApplierFloat`` change, and
``new``: the variable after the rest of that method's pipeline (accumulator
saturation, stochastic rounding with each of the given random numbers in [0, 1), the
shift back, saturation), all by Lava's own functions.
"""
import json
import sys
import traceback
from importlib.metadata import version
from types import SimpleNamespace

import numpy as np
from lava.magma.core.learning.constants import W_ACCUMULATOR_S, W_SYN_VAR_S
from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule
from lava.magma.core.learning.learning_rule_applier import (LearningRuleApplierBitApprox,
                                                              LearningRuleApplierFloat)
from lava.magma.core.model.py.connection import LearningConnectionModelBitApproximate as Model
from lava.utils.weightutils import SignMode

TARGET_VAR = {"dw": "weights", "dd": "tag_2", "dt": "tag_1"}
RULE_CLASS = {"2F": Loihi2FLearningRule, "3F": Loihi3FLearningRule}


def _rule(rules, kind="3F"):
    return RULE_CLASS[kind](**rules, rng_seed=0)


def parse(case):
    try:
        rule = _rule(case["rules"], case.get("kind", "3F"))
    except Exception as e:        # Lava raises ValueError, AttributeError, TypeError, ...
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    out = {}
    for target, ps in rule.active_product_series.items():
        out[target] = [[p.s_mantissa, p.s_exp - 7, p.dependency, p.decimate_exponent,
                        [[f.state_var, f.const, f.is_sgn] for f in p.factors]]
                       for p in ps.products]
    return {"ok": True, "products": out}


def _args(step, shape):
    """Lava's applier arguments; a trace's value is the same for every dependency."""
    n_post, n_pre = shape
    args = {"shape": shape, "u": int(step.get("u", 1)),
            "x0": np.array(step.get("x0", np.zeros(n_pre)), dtype=bool)[None, :],
            "y0": np.array(step.get("y0", np.zeros(n_post)), dtype=bool)[:, None]}
    for name in ("weights", "tag_1", "tag_2"):
        args[name] = np.array(step.get(name, np.zeros(shape)), dtype=int)
    for dep in ("x0", "y0", "u"):
        for tr in ("x1", "x2"):
            args[f"{tr}_{dep}"] = np.array(step.get(tr, np.zeros(n_pre)), dtype=int)[None, :]
        for tr in ("y1", "y2", "y3"):
            args[f"{tr}_{dep}"] = np.array(step.get(tr, np.zeros(n_post)), dtype=int)[:, None]
    return args


def apply(case):
    rule = _rule(case["rules"])
    fake = SimpleNamespace(sign_mode=SignMode.MIXED)     # what the two saturations read
    appliers = {t: (LearningRuleApplierBitApprox(ps), LearningRuleApplierFloat(ps))
                for t, ps in rule.active_product_series.items()}
    steps = []
    for i, step in enumerate(case["steps"]):
        shape = tuple(np.array(step["weights"]).shape)
        args = _args(step, shape)
        res = {}
        for target, (bit, flo) in appliers.items():
            name = TARGET_VAR[target]
            shift = W_ACCUMULATOR_S - W_SYN_VAR_S[name]
            acc = bit.apply(args[name] << shift, **args)
            new = []
            for r in case.get("randoms", []):
                v = Model._saturate_synaptic_variable_accumulator(fake, name, acc.copy())
                v = Model._stochastic_round_synaptic_variable(name, v, r)
                new.append(Model._saturate_synaptic_variable(fake, name, v >> shift).tolist())
            res[target] = {"acc": acc.tolist(), "new": new}
            if i == 0:    # the floating-point model, on the first step only (it is slow)
                fl = flo.apply(np.zeros(shape), np=np,
                               **{k: v for k, v in args.items() if k != "shape"})
                res[target]["float"] = np.asarray(fl, float).tolist()
        steps.append(res)
    return {"steps": steps}


def main():
    req = json.load(sys.stdin)
    out = {"versions": {"lava-nc": version("lava-nc"), "numpy": np.__version__,
                        "python": sys.version.split()[0]}}
    try:
        out["parse"] = [parse(c) for c in req.get("parse", [])]
        out["apply"] = [apply(c) for c in req.get("apply", [])]
    except Exception:             # a driver bug: report it whole, the test fails on it
        out["driver_error"] = traceback.format_exc()
    sys.stdout.write(json.dumps(out))    # one write, by the C encoder (json.dump is slow)


if __name__ == "__main__":
    main()
