"""The local rules as Intel Lava (Loihi 2) learning-rule strings, a validator, and a
model of Loihi's fixed-point rule evaluation.

Loihi's learning engine updates a synapse's weight ``w``, delay ``d`` and tag ``t`` with
sums of products (Lava's custom-learning-rule tutorial)::

    dZ = sum_i  S_i * D_i * prod_j F_ij          (Z one of w, d, t)

- ``D_i``, the **dependency**: exactly one per product, ``x0`` (a presynaptic spike),
  ``y0`` (a postsynaptic spike) or ``u<k>`` (every 2^k epochs, k one digit, one k for
  all rules);
- ``F_ij``, **factors**: the traces ``x1, x2`` (presynaptic), ``y1, y2, y3``
  (postsynaptic; in three-factor mode supplied by the post neuron), the synaptic
  variables ``w, d, t``, each optionally with an integer offset ``(v + C)`` / ``(v - C)``
  (C 8 bits), or ``sgn(w|d|t +- C)``, and the spikes ``x0, y0`` as factors;
- ``S_i``, a **scale** ``m * 2^e`` made of integer literals ``m``, ``2^e`` and ``m*2^e``
  (no floats, no functions other than ``sgn``); Lava halves an even mantissa while
  ``|m| > 7`` (and ``e < 8``), then needs ``m`` in [-8, 7] and ``e`` in [-7, 8].

:func:`validate_rule` is the fast check of that grammar, without Lava.  It accepts a
subset of what Lava 0.10.0's parser accepts and rejects everything that parser
rejects; ``tests/test_lava.py`` runs both on the same valid and invalid strings (in an
isolated venv with lava-nc 0.10.0, built by ``.ci/lava-venv``) and checks that every
string both accept parses to the same products.  Lava accepts some spellings this
validator refuses: juxtaposed factors (``u0t``), a repeated ``u0``, ``**``, a zero
scale, offsets beyond 8 bits, and parenthesised forms other than ``(v +- C)``,
several of which Lava misreads (``(-x1)`` loses its sign, ``((x1 - 64))`` is dropped,
``(x1 - 64 + 1)`` drops the ``+ 1``, ``u12`` is read as ``2 * u1``).

**Fixed-point evaluation** (:func:`accumulate`, :func:`round_accumulator`): what Lava's
bit-approximate model (``LearningRuleApplierBitApprox`` and
``LearningConnectionModelBitApproximate``) computes, written from its source; the
tests check it against Lava bit for bit.  ``w``, ``d``, ``t`` are 9-bit signed and
enter a 16-bit accumulator shifted left by 7; each product is the integer
``m * D * prod (v + C)`` (each factor clipped to its width), shifted right (a floor)
by ``s = max(0, sum of factor widths + 4 - 15)`` (widths: traces 7, w/d/t 9, x0/y0
1) and left by ``e + 7``; products and the sum saturate at 16 bits; the result is
rounded stochastically to a multiple of 2^7 and shifted back.  So one unit of a
product changes ``Z`` by ``m 2^(e - s)``, not ``m 2^e``: Lava's floating-point model
(:func:`evaluate`) omits the ``2^-s``, the bit-approximate one (closer to the chip)
has it, and the strings below are scaled for the bit-approximate one.

**Mapping of our rules** (three-factor form ``dW_ij = -eta L_i e_ij``; see
:mod:`.spec`), for :class:`~localrnn.neuromorphic.fixed.QuantizedOnlineLearner`
with Loihi's formats (:func:`lava_rules_for`): traces are unsigned 7-bit (0-127), so
signed quantities carry an offset of 64 (``(x1 - 64)`` is ``64 * ebar``, 6 fractional
bits).  The learning signal L_i arrives from the post neuron as ``y2 = 64 + 64 L_i``
(``Loihi3FLearningRule``: the post neuron supplies y1-y3).

- current form (e-prop / RFLO): the trace is presynaptic, ``e_ij = ebar_j``: ``x1`` is
  neuron j's filtered rate; ``dw = -2^e * u0 * (x1 - 64) * (y2 - 64)`` (``s = 3``):
  ``dW = floor(-(x1 - 64)(y2 - 64) / 8) 2^e`` LSBs, i.e. ``lr = 2^(e + 9 - fw)`` for
  weights with ``fw`` fractional bits.
- rate form (e-prop / RFLO): the trace is synaptic, ``e_ij = p_ij``, kept in the tag as
  ``t = 2^ft p_ij`` (``ft`` = 7 by default, range +-2):
  ``dt = 2^(ft - 9 - a) * u0 * (x1 - 64) * y1 - 2^-a * u0 * t`` with ``x1 = 64 + 64
  a_j``, ``y1 = 64 phi'(u_i)``, ``alpha = 2^-a``; ``dw = -2^e * u0 * t * (y2 - 64)``
  (``s = 5``): ``lr = 2^(e + 1 + ft - fw)``.

What is not the same as on the chip (say so to a hardware team): Lava's model of the
chip floors each product to a multiple of ``2^e`` LSB and rounds the sum
stochastically with one random number per step, our learner rounds the exact change to
nearest (tests/test_lava.py bounds the difference: at most one LSB per step); in Lava's learning phase dw reads the tag before that epoch's dt,
while our learner uses the updated trace; Loihi's traces decay with a floor and a
stochastic carry and take graded impulses rounded to integers (not checked here: only
the rule's evaluation is); alpha must be a power of two for the tag rule; biases are
not plastic through these strings.  RTRL and BPTT are non-local and have no such form.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

#: Dependencies (exactly one per product).
DEPENDENCIES = ("x0", "y0")  # and u<k>
#: Factor variables.
FACTOR_VARS = ("x0", "x1", "x2", "y0", "y1", "y2", "y3", "w", "d", "t")
#: Variables sgn() accepts.
SGN_VARS = ("w", "d", "t")
#: Targets of a rule.
TARGETS = ("dw", "dd", "dt")
MANTISSA = (-8, 7)
EXPONENT = (-7, 8)
#: Offsets C of ``(v +- C)``: 8-bit constants.
OFFSET = (-128, 127)
#: Bit widths Loihi's learning engine gives each factor (the shift of a product counts them).
WIDTH = {"x0": 1, "y0": 1, "x1": 7, "x2": 7, "y1": 7, "y2": 7, "y3": 7, "w": 9, "d": 9, "t": 9}
#: Bits of the scale's mantissa; signed bits of the accumulator.
MANT_BITS, ACC_BITS = 4, 16
#: w, d, t (9-bit signed) enter the 16-bit accumulator shifted left by this.
ACC_SHIFT = ACC_BITS - WIDTH["w"]
#: Saturation of w, d and t after an update (Lava's bit-approximate model).
VAR_RANGE = {"w": (-256, 255), "d": (0, 255), "t": (-257, 255)}
#: The trace offset that makes a signed value of 6 fractional bits an unsigned 7-bit trace.
TRACE_OFFSET = 64
TRACE_FRAC = 6

_LIT_MPOW = re.compile(r"^([+-]?\d+)\*2\^([+-]?\d+)$")
_LIT_POW = re.compile(r"^2\^([+-]?\d+)$")
_LIT_INT = re.compile(r"^[+-]?\d+$")
_U = re.compile(r"^u(\d+)$")
_OFF = re.compile(r"^\((x0|x1|x2|y0|y1|y2|y3|w|d|t)([+-])(\d+)\)$")
_SGN = re.compile(r"^sgn\((w|d|t)(?:([+-])(\d+))?\)$")


@dataclass
class Product:
    """One parsed product: scale ``mantissa * 2^exponent`` (normalised as Lava does),
    dependency (``x0``, ``y0`` or ``u<k>``), factors ``(kind, var, offset)``."""
    mantissa: int
    exponent: int
    dependency: str
    factors: List[tuple] = field(default_factory=list)   # (kind, var, offset)


def _split_terms(s: str) -> List[str]:
    """Split at top-level + and - (not inside parentheses, not an exponent's sign).

    As in Lava, a sign is always an operator: ``u0 * -t`` is the two products
    ``u0 *`` and ``-t``, not a negative factor."""
    terms, cur, depth = [], "", 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"learning rule {s!r} has an unbalanced ')'")
        if ch in "+-" and depth == 0 and cur.strip() and cur.rstrip()[-1] != "^":
            terms.append(cur)
            cur = ch
            continue
        cur += ch
    if depth != 0:
        raise ValueError(f"learning rule {s!r} has an unbalanced '('")
    terms.append(cur)
    return [t for t in terms if t.strip()]


def _normalise(num: int, exp: int, text: str):
    """Lava's normalisation: halve an even mantissa while |m| > 7 and e < 8, then check."""
    if num == 0:
        raise ValueError(f"product {text!r} has a zero scale")
    while abs(num) > MANTISSA[1] and num % 2 == 0 and exp < EXPONENT[1]:
        num //= 2
        exp += 1
    if not MANTISSA[0] <= num <= MANTISSA[1] or not EXPONENT[0] <= exp <= EXPONENT[1]:
        raise ValueError(f"product {text!r} has scale {num}*2^{exp}; Loihi needs a mantissa "
                         f"in [{MANTISSA[0]}, {MANTISSA[1]}] and an exponent in "
                         f"[{EXPONENT[0]}, {EXPONENT[1]}] (Lava halves an even mantissa "
                         "while it is out of range, and never rewrites the exponent)")
    return num, exp


def _top_level_factors(body: str, text: str) -> List[str]:
    toks, cur, depth = [], "", 0
    for ch in body:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "*" and depth == 0:
            toks.append(cur)
            cur = ""
        else:
            cur += ch
    toks.append(cur)
    if any(not t for t in toks):
        raise ValueError(f"product {text!r} has an empty factor")
    return toks


def _parse_product(term: str) -> Product:
    text = term.strip()
    body = text.replace(" ", "")
    if any(ch.isspace() for ch in body):
        raise ValueError(f"product {text!r} has a tab or line break; Lava removes only spaces")
    sign = 1
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    num, exp = sign, 0
    dep, factors = None, []
    for tok in _top_level_factors(body, text):
        inner = tok[1:-1] if tok.startswith("(") and tok.endswith(")") and \
            _LIT_INT.match(tok[1:-1]) else tok
        if _LIT_INT.match(inner):
            num *= int(inner)
            continue
        m = _LIT_MPOW.match(inner)
        if m:
            num *= int(m.group(1))
            exp += int(m.group(2))
            continue
        m = _LIT_POW.match(inner)
        if m:
            exp += int(m.group(1))
            continue
        m = _U.match(tok)
        if m:
            if len(m.group(1)) > 1:
                raise ValueError(f"dependency {tok!r} in {text!r} is not allowed: k in u<k> is "
                                 f"one digit, 0-9 (Lava reads {tok!r} as "
                                 f"{tok[2:]} * u{tok[1]})")
            if dep is not None and dep.startswith("u"):
                raise ValueError(f"product {text!r} has two u dependencies")
            if dep is not None:
                raise ValueError(f"product {text!r} has {tok} after the dependency {dep}; Lava "
                                 "takes the first of x0, y0, u<k> as the dependency and "
                                 "rejects a later u<k>: write u<k> first")
            dep = tok
            continue
        if tok in FACTOR_VARS:
            if tok in DEPENDENCIES and dep is None:
                dep = tok
            else:
                factors.append(("var", tok, 0))
            continue
        for kind, regex in (("var", _OFF), ("sgn", _SGN)):
            m = regex.match(tok)
            if m:
                c = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
                if not OFFSET[0] <= c <= OFFSET[1]:
                    raise ValueError(f"factor {tok!r} has offset {c}; allowed {OFFSET[0]} to "
                                     f"{OFFSET[1]} (8-bit constants)")
                factors.append((kind, m.group(1), c))
                break
        if m:
            continue
        if re.search(r"\d\.\d|\.\d|\d\.", tok):
            raise ValueError(f"factor {tok!r} in {text!r} is a float; Loihi scales are "
                             "integer literals m, 2^e or m*2^e")
        raise ValueError(f"factor {tok!r} in {text!r} is not allowed; allowed: "
                         f"{', '.join(FACTOR_VARS)}, (v +- C), sgn(w|d|t +- C), u<k>, "
                         "integer literals m, (m), 2^e, m*2^e, joined by '*'")
    if dep is None:
        raise ValueError(f"product {text!r} has no dependency; each product needs exactly "
                         "one of x0, y0, u<k>")
    num, exp = _normalise(num, exp, text)
    return Product(num, exp, dep, factors)


def _check_one_u(products: List[Product], where: str) -> None:
    ks = sorted({p.dependency for p in products if p.dependency.startswith("u")})
    if len(ks) > 1:
        raise ValueError(f"{where} use {', '.join(ks)}; Loihi allows one u<k> for all rules")


def validate_rule(rule: str) -> List[Product]:
    """Parse a Loihi learning-rule string (the right-hand side of dw, dd or dt).

    Returns the products; raises ``ValueError`` (one line) naming the bad part.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError(f"learning rule {rule!r} must be a non-empty string")
    products = [_parse_product(t) for t in _split_terms(rule)]
    _check_one_u(products, f"learning rule {rule!r} has products that")
    return products


def validate_rules(rules: Dict[str, str]) -> Dict[str, List[Product]]:
    """Validate several rules (``{"dw": ..., "dt": ...}``); all u<k> must share k."""
    out = {}
    for target, s in rules.items():
        if target not in TARGETS:
            raise ValueError(f"target {target!r} is not allowed; choose one of "
                             f"{', '.join(TARGETS)}")
        out[target] = validate_rule(s)
    _check_one_u([p for ps in out.values() for p in ps], "the rules")
    return out


def evaluate(products: List[Product], values: Dict[str, float]):
    """The real value of a parsed rule, as Lava's floating-point model
    (``LearningRuleApplierFloat``) computes it: sum of ``m 2^e * dependency * factors``,
    no product shift, rounding or saturation (dependencies given too, e.g. ``u0 = 1``;
    values may be broadcastable arrays).  Loihi's fixed-point evaluation is
    :func:`accumulate`."""
    total = 0.0
    for p in products:
        v = p.mantissa * 2.0 ** p.exponent * values[p.dependency]
        for kind, var, c in p.factors:
            x = values[var] + c
            v = v * (np.sign(x) if kind == "sgn" else x)
        total = total + v
    return total


# --------------------------------------------------------------- fixed-point evaluation
def product_shift(p: Product) -> int:
    """The right shift Loihi applies to a product: ``max(0, sum of factor widths + 4 - 15)``
    (``(x1 - 64) * (y2 - 64)``: 3; ``t * (y2 - 64)``: 5; ``t`` alone: 0)."""
    return max(0, sum(WIDTH[var] for _, var, _ in p.factors) + MANT_BITS - (ACC_BITS - 1))


def accumulate(products: List[Product], values: Dict[str, np.ndarray], init=0) -> np.ndarray:
    """The 16-bit accumulator after a rule, as Lava's bit-approximate model computes it.

    ``values``: integer arrays (broadcastable) for the dependency (``u0``, ``x0``, ``y0``:
    0 or 1) and every factor variable (traces 0-127, ``w``/``d``/``t`` 9-bit signed);
    ``init``: the target variable shifted left by :data:`ACC_SHIFT`.  Each product is
    ``m * D * prod clip(v + C)`` (a factor clipped to ``[-2^width, 2^width - 1]``),
    shifted right by :func:`product_shift` (a floor), left by ``e + 7``, saturated to
    ``[-2^15 - 1, 2^15 - 1]`` and added, saturating again.  Products whose integer
    exceeds int32 differ from Lava (it multiplies in int32); ours have at most two
    factors and stay below 2^20.
    """
    lo, hi = -(2 ** (ACC_BITS - 1)) - 1, 2 ** (ACC_BITS - 1) - 1
    acc = np.asarray(init, dtype=np.int64)
    for p in products:
        v = np.int64(p.mantissa) * np.asarray(values[p.dependency], dtype=np.int64)
        for kind, var, c in p.factors:
            x = np.asarray(values[var], dtype=np.int64) + c
            if kind == "sgn":
                x = np.sign(x)
            v = v * np.clip(x, -(2 ** WIDTH[var]), 2 ** WIDTH[var] - 1)
        v = (v >> product_shift(p)) << (p.exponent - EXPONENT[0])
        acc = np.clip(acc + np.clip(v, lo, hi), lo, hi)
    return acc


def round_accumulator(acc, var: str, r: float) -> np.ndarray:
    """The new ``w``, ``d`` or ``t`` from an accumulator (Lava's bit-approximate model):
    ``floor(acc / 2^7)``, plus 1 where the dropped fraction exceeds the step's random
    number ``r`` in [0, 1) (one number for every synapse), saturated to
    :data:`VAR_RANGE` (``d`` is first clipped at 0)."""
    acc = np.asarray(acc, dtype=np.int64)
    if var == "d":
        acc = np.maximum(acc, 0)
    step = 2 ** ACC_SHIFT
    out = (acc >> ACC_SHIFT) + (r * step < (acc & (step - 1)))
    return np.clip(out, *VAR_RANGE[var])


# --------------------------------------------------------------------- our rules
@dataclass
class LavaRules:
    """Rule strings of one local rule and form, with what their symbols hold."""
    rule: str
    form: str
    feedback: str
    strings: Dict[str, str]
    symbols: Dict[str, str]
    traces: Dict[str, str]
    notes: List[str]
    #: The Lava class that takes the strings (the post neuron supplies y1, y2).
    lava_class: str = "Loihi3FLearningRule"

    def to_text(self) -> str:
        lines = [f"# Loihi 2 (Lava) learning rules: {self.rule}, {self.form} form, "
                 f"{self.feedback} feedback; for lava.magma.core.learning.learning_rule."
                 f"{self.lava_class}(dw=..., dt=..., t_epoch=1)", ""]
        lines += [f'{k} = "{v}"' for k, v in self.strings.items()]
        lines += ["", "symbols:"] + [f"  {k}: {v}" for k, v in self.symbols.items()]
        lines += ["trace settings:"] + [f"  {k}: {v}" for k, v in self.traces.items()]
        lines += ["notes:"] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _pow2(e: int) -> str:
    return f"2^{e}"


def lava_rules(rule: str, form: str, feedback: Optional[str] = None, alpha: float = 0.125,
               eta_exponent: int = -6, tag_frac: int = 7) -> LavaRules:
    """The local rule as Loihi learning-rule strings (module docstring), validated.

    Parameters
    ----------
    rule : {"eprop", "rflo"}
    form : {"current", "rate"}
    feedback : {"symmetric", "random"}, optional (rule's default)
    alpha : float in (0, 1]; the rate form's tag rule uses the nearest power of two
        ``2^-a`` (a at most ``tag_frac - 2``).
    eta_exponent : int, the scale ``2^e`` of dw (in [-7, 8]); the learning rate it
        stands for is in the notes.
    tag_frac : int in [0, 8], rate form: the tag holds ``t = 2^tag_frac p_ij``.
    """
    if rule not in ("eprop", "rflo"):
        raise ValueError(f"rule={rule!r} has no Loihi learning-rule form; choose eprop or rflo "
                         "(RTRL and BPTT are non-local)")
    if form not in ("current", "rate"):
        raise ValueError(f"form={form!r} is not allowed; choose current or rate")
    fb = feedback or ("symmetric" if rule == "eprop" else "random")
    if fb not in ("symmetric", "random"):
        raise ValueError(f"feedback={feedback!r} is not allowed; choose symmetric or random")
    if isinstance(alpha, bool) or not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
        raise ValueError(f"alpha={alpha!r} is out of range; allowed (0, 1]")
    for name, v, (lo, hi) in (("eta_exponent", eta_exponent, EXPONENT),
                              ("tag_frac", tag_frac, (0, WIDTH["t"] - 1))):
        if isinstance(v, bool) or not (isinstance(v, int) and lo <= v <= hi):
            raise ValueError(f"{name}={v!r} is out of range; allowed {lo} to {hi}")
    F = "W_out^T" if fb == "symmetric" else "B (fixed random)"
    e = eta_exponent
    gate = "phi'(h_i) " if form == "current" else ""
    signal = {"y2": f"64 + 64 L_i, L_i the learning signal ({gate}(F delta)_i, F = {F}), "
                    "sent by the post neuron (three-factor mode)"}
    notes = ["traces are unsigned 7-bit (0-127): signed values carry the offset 64 "
             "(6 fractional bits)",
             "parsed by lava-nc 0.10.0's Loihi3FLearningRule, and evaluated by its "
             "LearningRuleApplierBitApprox as localrnn.neuromorphic.lava.accumulate does "
             "(tests/test_lava.py)"]
    if form == "current":
        strings = {"dw": f"-{_pow2(e)} * u0 * (x1 - 64) * (y2 - 64)"}
        symbols = {"x1": "64 + 64 ebar_j, the presynaptic filtered rate (e_ij = ebar_j)", **signal}
        tau = -1.0 / math.log(1.0 - alpha) if alpha < 1 else 0.0
        traces = {"x1_tau": f"{tau:.4g} steps (decay 1 - alpha = {1 - alpha:g})",
                  "x1_impulse": "graded payload 2 alpha (64 + 64 r_j) per step "
                                "(ADD_WITH_SATURATION adds payload / 2; not checked with Lava)"}
        notes.append(f"dW_ij = floor(-(x1 - 64)(y2 - 64) / 8) * 2^{e} weight LSBs (Loihi shifts "
                     f"a product of two 7-bit traces right by 3): the rate lr = 2^({e} + 9 - fw) "
                     "for weights with fw fractional bits")
    else:
        a = max(0, round(-math.log2(alpha)))
        e1 = tag_frac - 9 - a
        if e1 < EXPONENT[0]:
            raise ValueError(f"alpha={alpha!r} (2^-{a}) is too small for the tag rule with "
                             f"tag_frac={tag_frac}: it needs the scale 2^{e1}, below 2^-7; "
                             f"allowed alpha >= 2^-{tag_frac - 9 - EXPONENT[0]}")
        strings = {"dt": f"{_pow2(e1)} * u0 * (x1 - 64) * y1 - {_pow2(-a)} * u0 * t",
                   "dw": f"-{_pow2(e)} * u0 * t * (y2 - 64)"}
        symbols = {"x1": "64 + 64 a_j, the presynaptic rate",
                   "y1": "64 phi'(u_i) (>= 0 for tanh)",
                   "t": f"the tag: 2^{tag_frac} p_ij, the synaptic eligibility trace", **signal}
        traces = {"x1": "overwritten with the graded payload each step (no decay)",
                  "y1": "set by the post neuron each step"}
        if 2.0 ** -a != alpha:
            notes.append(f"alpha = {alpha:g} is approximated by 2^-{a} = {2.0 ** -a:g} in the "
                         "tag rule")
        notes.append(f"p_ij,t = (1 - alpha) p_ij,t-1 + alpha phi'(u_i) a_j: the tag update dt, "
                     f"t = 2^{tag_frac} p_ij (Loihi shifts (x1 - 64) * y1 right by 3)")
        notes.append(f"dW_ij = floor(-t (y2 - 64) / 32) * 2^{e} weight LSBs (Loihi shifts a "
                     f"9-bit tag times a 7-bit trace right by 5): the rate lr = "
                     f"2^({e} + {1 + tag_frac} - fw) for weights with fw fractional bits; "
                     "Lava's dw reads the tag before the same epoch's dt")
    validate_rules(strings)
    return LavaRules(rule, form, fb, strings, symbols, traces, notes)


def spiking_lava_reasons(model: str, reset: str) -> List[str]:
    """Why online e-prop of a spiking network (MODEL.md section 9) has no Loihi
    three-factor form (empty: it has one, LIF with reset "subtract")."""
    out = []
    if model == "alif":
        out.append("model alif: its eligibility trace needs eps_a, a second per-synapse trace "
                   "besides ebar, and Loihi's synapse holds only the weight w, the delay d and "
                   "the tag t")
    if reset == "set":
        out.append("reset set: eps_v then depends on the postsynaptic spike (alpha (1 - z_j) "
                   "eps_v), a per-synapse trace besides ebar, not Loihi's presynaptic x1")
    return out


def lava_spiking_rules(model: str = "lif", reset: str = "subtract", feedback: Optional[str] = None,
                       tau_m: float = 20.0, tau_out: float = 20.0,
                       eta_exponent: int = -6) -> LavaRules:
    """Online e-prop of a spiking network (MODEL.md section 9) as Loihi three-factor
    learning-rule strings, validated (:func:`validate_rules`).

    The mapping (LIF, reset "subtract"; time constants in steps):

    - ``x1`` is the presynaptic trace ``s_x eps_v_i`` (decay ``alpha = exp(-1/tau_m)``
      per step, impulse ``s_x`` per presynaptic spike; ``s_x = floor(127 (1 - alpha))``
      keeps it in 7 bits): e-prop's eps_v, which with reset by subtraction does not
      depend on the postsynaptic neuron;
    - the post neuron supplies ``y1 = s_y psi_j`` (the pseudo-derivative,
      ``s_y = 127 v_th / gamma``: 7 bits) and ``y2 = 64 + 64 L_j`` (the learning signal
      ``L_j = (F delta)_j``, the third factor);
    - the tag holds the filtered trace, ``t = c ebar_ji``: ``dt = 2^(-3-k) * u0 * x1 * y1
      - 2^-k * u0 * t`` is ``ebar <- (1 - 2^-k) ebar + 2^-k psi_j eps_v_i`` with the
      readout decay ``kappa = exp(-1/tau_out)`` rounded to ``1 - 2^-k`` (Loihi shifts a
      product of two 7-bit traces right by 3; ``c = 2^-6 s_x s_y``, at most 252);
    - ``dw = -2^e * u0 * t * (y2 - 64)``: ``dW_ji = -eta L_j ebar_ji``.

    The form is e-prop's exactly; the numbers are Loihi's (7-bit traces, power-of-two
    scales, kappa's rounding).  ALIF and reset "set" have no such form
    (:func:`spiking_lava_reasons`): ``ValueError``.
    """
    if model not in ("lif", "alif"):
        raise ValueError(f"model={model!r} is not allowed; choose lif or alif")
    if reset not in ("subtract", "set"):
        raise ValueError(f"reset={reset!r} is not allowed; choose subtract or set")
    why = spiking_lava_reasons(model, reset)
    if why:
        raise ValueError(f"{'; '.join(why)}: no Loihi three-factor form (LIF with reset "
                         "subtract has one)")
    fb = feedback or "symmetric"
    if fb not in ("symmetric", "random"):
        raise ValueError(f"feedback={feedback!r} is not allowed; choose symmetric or random")
    for name, v in (("tau_m", tau_m), ("tau_out", tau_out)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} is out of range; allowed (0, inf) steps")
    if isinstance(eta_exponent, bool) or not (isinstance(eta_exponent, int)
                                              and EXPONENT[0] <= eta_exponent <= EXPONENT[1]):
        raise ValueError(f"eta_exponent={eta_exponent!r} is out of range; allowed {EXPONENT[0]} "
                         f"to {EXPONENT[1]}")
    alpha, kappa = math.exp(-1.0 / tau_m), math.exp(-1.0 / tau_out)
    k = max(0, round(-math.log2(1.0 - kappa)))
    e1 = -3 - k
    if e1 < EXPONENT[0]:
        k_max = -3 - EXPONENT[0]
        longest = -1.0 / math.log(1.0 - 2.0 ** -(k_max + 0.5))
        raise ValueError(f"tau_out={tau_out!r} steps is too long for the tag rule: 1 - kappa = "
                         f"{1 - kappa:.3g} rounds to 2^-{k}, whose scale 2^{e1} is below 2^"
                         f"{EXPONENT[0]}; allowed tau_out below {longest:.3g} steps")
    s_x = max(1, math.floor(127 * (1.0 - alpha)))
    F = "W_out^T" if fb == "symmetric" else "B (fixed random)"
    strings = {"dt": f"{_pow2(e1)} * u0 * x1 * y1 - {_pow2(-k)} * u0 * t",
               "dw": f"-{_pow2(eta_exponent)} * u0 * t * (y2 - 64)"}
    symbols = {"x1": f"{s_x} eps_v_i: the presynaptic eligibility vector (e-prop's eps_v; inputs "
                     "and recurrent spikes alike)",
               "y1": "127 psi_j v_th / gamma: the post neuron's pseudo-derivative (0 while "
                     "refractory), sent by the post neuron",
               "y2": f"64 + 64 L_j, L_j = (F delta)_j the learning signal (F = {F}), sent by "
                     "the post neuron (three-factor mode)",
               "t": f"the tag: c ebar_ji, c = 2^-6 {s_x} (127 v_th / gamma), the readout-"
                    "filtered eligibility trace"}
    traces = {"x1_tau": f"{-1.0 / math.log(alpha):.4g} steps (decay alpha = {alpha:.6g} per step)",
              "x1_impulse": f"{s_x} per presynaptic spike (1/(1 - alpha) spikes in a row stay "
                            "below 127)"}
    notes = ["the form is e-prop's (MODEL.md section 9) exactly: eps_v presynaptic (reset "
             "subtract), psi and L from the post neuron, ebar in the tag; the numbers are "
             "Loihi's: 7-bit traces, power-of-two scales",
             f"kappa = {kappa:.6g} (tau_out = {tau_out:g} steps) is rounded to 1 - 2^-{k} = "
             f"{1 - 2.0 ** -k:.6g} in the tag rule",
             f"dW_ji = floor(-t (y2 - 64) / 32) * 2^{eta_exponent} weight LSBs (Loihi shifts a "
             "9-bit tag times a 7-bit trace right by 5); Lava's dw reads the tag before the "
             "same epoch's dt",
             "biases and the readout are not plastic through these strings; ALIF and reset "
             "'set' have no such form (their eligibility needs a second per-synapse trace)",
             "parsed by lava-nc 0.10.0's Loihi3FLearningRule (tests/test_lava.py); no integer "
             "spiking learner is checked against Lava's applier"]
    validate_rules(strings)
    return LavaRules("eprop", f"spiking {model.upper()} (reset {reset})", fb, strings, symbols,
                     traces, notes)


def lava_rules_text(rule: str, form: str, feedback: Optional[str] = None, **kw) -> str:
    """:func:`lava_rules` as text (the CLI's ``--format lava``)."""
    return lava_rules(rule, form, feedback, **kw).to_text()


def lava_spiking_rules_text(rule: str, model: str, feedback: Optional[str] = None, **kw) -> str:
    """:func:`lava_spiking_rules` as text (``--format lava --model M``); ``rule`` must be
    eprop (BPTT is non-local)."""
    if rule != "eprop":
        raise ValueError(f"rule={rule!r} has no Loihi learning-rule form for spiking networks; "
                         "choose eprop (BPTT is non-local)")
    return lava_spiking_rules(model, feedback=feedback, **kw).to_text()


def lava_rules_for(learner, mask_count: Optional[int] = None) -> LavaRules:
    """The Lava rule whose bit-approximate evaluation is ``learner``'s update of ``W``.

    ``learner`` is a :class:`~localrnn.neuromorphic.fixed.QuantizedOnlineLearner` with
    Loihi's formats: one stream; weights 9 bits (any fractional bits ``fw``); learning
    signal ``l7.6``; traces ``t7.6`` (current form) or ``t9.ft`` (rate form: the tag);
    accumulator with at least ``lf + ft`` fractional bits (so ``L e`` is exact); rate
    form: state with 6 fractional bits (``x1 = 64 + a``, ``y1 = phi'``) and a
    power-of-two alpha.  ``lr["W"] / mask_count`` (``mask_count`` outputs in the loss,
    default all) must be a power of two whose scale falls in [-7, 8].  Raises
    ``ValueError`` naming the first requirement not met.
    """
    from ..kernels.fixed_online import LR_FRAC      # Numba only when mapping a learner
    fm, form = learner.formats, learner.net.form
    need = [("batch_size", learner.batch_size, 1), ("weight bits", fm["w"][0], WIDTH["w"]),
            ("learning-signal format (bits, frac)", tuple(fm["l"]), (7, TRACE_FRAC))]
    if form == "current":
        need.append(("trace format (bits, frac)", tuple(fm["t"]), (7, TRACE_FRAC)))
    else:
        need += [("trace (tag) bits", fm["t"][0], WIDTH["t"]),
                 ("state fractional bits", fm["s"][1], TRACE_FRAC)]
    for what, have, want in need:
        if have != want:
            raise ValueError(f"learner has {what} {have}; Loihi's encoding needs {want}")
    lf, ft = fm["l"][1], fm["t"][1]
    if fm["acc"][1] < lf + ft:
        raise ValueError(f"learner's accumulator has {fm['acc'][1]} fractional bits; Loihi's "
                         f"product L * e is exact, which needs at least {lf + ft}")
    if "W" not in learner.trainable:
        raise ValueError("learner does not train W; the Loihi rule is W's update")
    n = learner.net.n_out if mask_count is None else mask_count
    eta_q = int(np.floor(learner.lr["W"] * 2.0 ** LR_FRAC + 0.5))
    eta_t = (2 * eta_q + n) // (2 * n)
    if eta_t <= 0 or eta_t & (eta_t - 1):
        raise ValueError(f"learner's rate for W, lr={learner.lr['W']!r} over {n} masked "
                         "outputs, is not a power of two; Loihi's scale is 2^e")
    a = -math.log2(learner.alpha_q)
    if form == "rate" and a != int(a):
        raise ValueError(f"learner's alpha {learner.alpha_q!r} is not a power of two; the "
                         "tag rule's decay is 2^-a")
    s = product_shift(Product(1, 0, "u0", [("var", "t" if form == "rate" else "x1", 0),
                                           ("var", "y2", 0)]))
    e = s + int(eta_t).bit_length() - 1 - LR_FRAC - lf - ft + learner.weight_frac["W"]
    if not EXPONENT[0] <= e <= EXPONENT[1]:
        raise ValueError(f"learner's rate for W maps to the scale 2^{e}, outside Loihi's "
                         f"2^{EXPONENT[0]} to 2^{EXPONENT[1]}")
    symmetric = np.array_equal(learner.feedback, learner.net.W_out.T)
    return lava_rules(learner.rule, form, "symmetric" if symmetric else "random",
                      alpha=learner.alpha_q, eta_exponent=e,
                      tag_frac=ft if form == "rate" else 7)


__all__ = ["validate_rule", "validate_rules", "evaluate", "product_shift", "accumulate",
           "round_accumulator", "lava_rules", "lava_rules_text", "lava_rules_for",
           "lava_spiking_rules", "lava_spiking_rules_text", "spiking_lava_reasons",
           "LavaRules", "Product", "WIDTH", "ACC_SHIFT", "VAR_RANGE"]
