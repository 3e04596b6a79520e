"""The local rules as Intel Lava (Loihi 2) learning-rule strings, and a validator.

Loihi's learning engine updates a synapse's weight ``w``, delay ``d`` and tag ``t`` with
sums of products (Lava's custom-learning-rule tutorial)::

    dZ = sum_i  S_i * D_i * prod_j F_ij          (Z one of w, d, t)

- ``D_i``, the **dependency**: exactly one per product, ``x0`` (a presynaptic spike),
  ``y0`` (a postsynaptic spike) or ``u<k>`` (every 2^k epochs; one k shared by all rules);
- ``F_ij``, **factors**: the traces ``x1, x2`` (presynaptic), ``y1, y2, y3``
  (postsynaptic; in three-factor mode supplied by the post neuron), the synaptic
  variables ``w, d, t``, each optionally with an integer offset ``(v + C)`` / ``(v - C)``,
  or ``sgn(w|d|t +- C)``, and the spikes ``x0, y0`` as factors;
- ``S_i``, a **scale** ``m * 2^e`` made of integer literals ``m``, ``2^e`` and ``m*2^e``
  (no floats, no functions other than ``sgn``); it must reduce to a mantissa in [-8, 7]
  and an exponent in [-7, 8].

:func:`validate_rule` checks a string against this grammar (written from the tutorial's
description; no Lava code is used).  The ``lava-nc`` package itself requires
Python >= 3.10, < 3.11 and numpy < 2, so it cannot be a localrnn dependency and these
strings are not run through Lava's own parser here.

**Mapping of our rules** (three-factor form ``dW_ij = -eta L_i e_ij``; see
:mod:`.export`).  Loihi traces are unsigned 7-bit (0-127), so signed quantities carry an
offset of 64 (``(x1 - 64)`` is ``64 * e``).  The learning signal L_i arrives from the
post neuron as ``y2`` (offset 64); the learning rate is the scale ``2^e``.

- current form (e-prop / RFLO): the trace is presynaptic, ``e_ij = ebar_j``: ``x1``
  is neuron j's filtered rate (trace decay tau = -1 / ln(1 - alpha) steps, impulse the
  graded payload alpha r_j); ``dw = -2^e * u0 * (x1 - 64) * (y2 - 64)``.
- rate form (e-prop / RFLO): the trace is synaptic, ``e_ij = p_ij``, kept in the tag:
  ``dt = 2^-a * u0 * (x1 - 64) * y1 - 2^-a * u0 * t`` with ``x1`` = a_j, ``y1`` =
  phi'(u_i) (non-negative for tanh), ``alpha ~ 2^-a``; ``dw = -2^e * u0 * t * (y2 - 64)``.

Approximations (say so to a hardware team): alpha must be a power of two for the tag
rule (it is rounded to the nearest one, reported); Loihi's traces decay with a floor
and a stochastic carry, and products saturate at 16 bits; biases are not plastic
through these strings.  RTRL and BPTT are non-local and have no such form.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

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

_LIT_MPOW = re.compile(r"^([+-]?\d+)\*2\^([+-]?\d+)$")
_LIT_POW = re.compile(r"^([+-]?)2\^([+-]?\d+)$")
_LIT_INT = re.compile(r"^[+-]?\d+$")
_U = re.compile(r"^u(\d+)$")
_OFF = re.compile(r"^\((x0|x1|x2|y0|y1|y2|y3|w|d|t)([+-])(\d+)\)$")
_SGN = re.compile(r"^sgn\((w|d|t)(?:([+-])(\d+))?\)$")


@dataclass
class Product:
    """One parsed product: scale m * 2^e (normalised), dependency, factors."""
    mantissa: int
    exponent: int
    dependency: str
    factors: List[tuple] = field(default_factory=list)   # (kind, var, offset)


def _split_terms(s: str) -> List[str]:
    """Split at top-level + and - (not inside parentheses, not an exponent's sign,
    not the sign of a literal right after '*')."""
    terms, cur, depth = [], "", 0
    for k, ch in enumerate(s):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"learning rule {s!r} has an unbalanced ')'")
        if ch in "+-" and depth == 0:
            prev = cur.rstrip()[-1:] if cur.strip() else ""
            if prev and prev not in "^*":
                terms.append(cur)
                cur = ch
                continue
        cur += ch
    if depth != 0:
        raise ValueError(f"learning rule {s!r} has an unbalanced '('")
    terms.append(cur)
    return [t for t in terms if t.strip()]


def _normalise(num: int, exp: int, text: str):
    if num == 0:
        raise ValueError(f"product {text!r} has a zero scale")
    while not MANTISSA[0] <= num <= MANTISSA[1] and num % 2 == 0:
        num //= 2
        exp += 1
    while exp < EXPONENT[0] and num % 2 == 0:       # 4 * 2^-9 = 1 * 2^-7
        num //= 2
        exp += 1
    while exp > EXPONENT[1] and MANTISSA[0] <= num * 2 <= MANTISSA[1]:   # 1 * 2^9 = 2 * 2^8
        num *= 2
        exp -= 1
    if not MANTISSA[0] <= num <= MANTISSA[1] or not EXPONENT[0] <= exp <= EXPONENT[1]:
        raise ValueError(f"product {text!r} has scale {num}*2^{exp}; Loihi needs a mantissa "
                         f"in [{MANTISSA[0]}, {MANTISSA[1]}] and an exponent in "
                         f"[{EXPONENT[0]}, {EXPONENT[1]}]")
    return num, exp


def _parse_product(term: str) -> Product:
    text = term.strip()
    sign = 1
    body = re.sub(r"\s+", "", text)
    if body[:1] in "+-" and not (_LIT_INT.match(body.split("*")[0]) or
                                 _LIT_POW.match(body.split("*")[0])):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    # top-level '*' split, then re-join m*2^e pairs
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
    num, exp = sign, 0
    dep, factors, u_seen = None, [], None
    for tok in toks:
        inner = tok[1:-1] if tok.startswith("(") and tok.endswith(")") and \
            _LIT_INT.match(tok[1:-1]) else tok
        if _LIT_INT.match(inner):
            num *= int(inner)
            continue
        m = _LIT_POW.match(inner)
        if m:
            num *= -1 if m.group(1) == "-" else 1
            exp += int(m.group(2))
            continue
        m = _U.match(tok)
        if m:
            if dep is not None and dep.startswith("u"):
                raise ValueError(f"product {text!r} has two u dependencies")
            if dep is not None:  # an x0/y0 seen first becomes a factor
                factors.append(("var", dep, 0))
            dep = tok
            continue
        if tok in FACTOR_VARS:
            if tok in DEPENDENCIES and dep is None:
                dep = tok
            else:
                factors.append(("var", tok, 0))
            continue
        m = _OFF.match(tok)
        if m:
            c = int(m.group(3)) * (1 if m.group(2) == "+" else -1)
            if not OFFSET[0] <= c <= OFFSET[1]:
                raise ValueError(f"factor {tok!r} has offset {c}; allowed {OFFSET[0]} to {OFFSET[1]}")
            factors.append(("var", m.group(1), c))
            continue
        m = _SGN.match(tok)
        if m:
            c = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
            factors.append(("sgn", m.group(1), c))
            continue
        if re.search(r"\d\.\d|\.\d|\d\.", tok):
            raise ValueError(f"factor {tok!r} in {text!r} is a float; Loihi scales are "
                             "integer literals m, 2^e or m*2^e")
        raise ValueError(f"factor {tok!r} in {text!r} is not allowed; allowed: "
                         f"{', '.join(FACTOR_VARS)}, (v +- C), sgn(w|d|t +- C), u<k>, "
                         "integer literals m, 2^e, m*2^e")
    if dep is None:
        raise ValueError(f"product {text!r} has no dependency; each product needs exactly "
                         "one of x0, y0, u<k>")
    num, exp = _normalise(num, exp, text)
    return Product(num, exp, dep, factors)


def validate_rule(rule: str) -> List[Product]:
    """Parse a Loihi learning-rule string (the right-hand side of dw, dd or dt).

    Returns the products; raises ``ValueError`` (one line) naming the bad part.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError(f"learning rule {rule!r} must be a non-empty string")
    return [_parse_product(t) for t in _split_terms(rule)]


def validate_rules(rules: Dict[str, str]) -> Dict[str, List[Product]]:
    """Validate several rules (``{"dw": ..., "dt": ...}``); all u<k> must share k."""
    out, ks = {}, set()
    for target, s in rules.items():
        if target not in TARGETS:
            raise ValueError(f"target {target!r} is not allowed; choose one of {', '.join(TARGETS)}")
        out[target] = validate_rule(s)
        ks |= {p.dependency for p in out[target] if p.dependency.startswith("u")}
    if len(ks) > 1:
        raise ValueError(f"the rules use {', '.join(sorted(ks))}; Loihi allows one u<k> for all rules")
    return out


def evaluate(products: List[Product], values: Dict[str, float]) -> float:
    """The real value of a parsed rule for given variables (dependencies included, e.g.
    ``u0 = 1``): sum of m 2^e * dependency * factors, no rounding or saturation."""
    total = 0.0
    for p in products:
        v = p.mantissa * 2.0 ** p.exponent * values[p.dependency]
        for kind, var, c in p.factors:
            x = values[var] + c
            v *= (x > 0) - (x < 0) if kind == "sgn" else x
        total += v
    return total


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

    def to_text(self) -> str:
        lines = [f"# Loihi 2 (Lava) learning rules: {self.rule}, {self.form} form, "
                 f"{self.feedback} feedback", ""]
        lines += [f'{k} = "{v}"' for k, v in self.strings.items()]
        lines += ["", "symbols:"] + [f"  {k}: {v}" for k, v in self.symbols.items()]
        lines += ["trace settings:"] + [f"  {k}: {v}" for k, v in self.traces.items()]
        lines += ["notes:"] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def lava_rules(rule: str, form: str, feedback: Optional[str] = None, alpha: float = 0.125,
               eta_exponent: int = -6) -> LavaRules:
    """The local rule as Loihi learning-rule strings (module docstring), validated.

    Parameters
    ----------
    rule : {"eprop", "rflo"}
    form : {"current", "rate"}
    feedback : {"symmetric", "random"}, optional (rule's default)
    alpha : float in (0, 1]; the rate form's tag rule uses the nearest power of two.
    eta_exponent : int, the learning-rate scale 2^eta_exponent (in [-7, 8]).
    """
    if rule not in ("eprop", "rflo"):
        raise ValueError(f"rule={rule!r} has no Loihi learning-rule form; choose eprop or rflo "
                         "(RTRL and BPTT are non-local)")
    if form not in ("current", "rate"):
        raise ValueError(f"form={form!r} is not allowed; choose current or rate")
    fb = feedback or ("symmetric" if rule == "eprop" else "random")
    if fb not in ("symmetric", "random"):
        raise ValueError(f"feedback={feedback!r} is not allowed; choose symmetric or random")
    if not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
        raise ValueError(f"alpha={alpha!r} is out of range; allowed (0, 1]")
    if not (isinstance(eta_exponent, int) and EXPONENT[0] <= eta_exponent <= EXPONENT[1]):
        raise ValueError(f"eta_exponent={eta_exponent!r} is out of range; allowed "
                         f"{EXPONENT[0]} to {EXPONENT[1]}")
    F = "W_out^T" if fb == "symmetric" else "B (fixed random)"
    e = eta_exponent
    signal = {"y2": f"64 + 64 L_i, L_i the learning signal "
                    f"({'phi' + chr(39) + '(h_i) ' if form == 'current' else ''}(F delta)_i, F = {F}), "
                    "sent by the post neuron (three-factor mode)"}
    notes = ["traces are unsigned 7-bit (0-127): signed values carry the offset 64",
             "lava-nc needs Python < 3.11 and numpy < 2: these strings are checked by "
             "localrnn's grammar validator, not by Lava's parser"]
    if form == "current":
        strings = {"dw": f"-2^{e} * u0 * (x1 - 64) * (y2 - 64)"}
        symbols = {"x1": "64 + 64 ebar_j, the presynaptic filtered rate (e_ij = ebar_j)", **signal}
        tau = -1.0 / math.log(1.0 - alpha) if alpha < 1 else 0.0
        traces = {"x1_tau": f"{tau:.4g} steps (decay 1 - alpha = {1 - alpha:g})",
                  "x1_impulse": "graded payload alpha r_j per step (scaled by 64)"}
        notes.append(f"dW_ij = -eta L_i ebar_j with eta = 2^{e} * 64 * 64 in weight units per "
                     "unit L and ebar")
    else:
        a = max(0, round(-math.log2(alpha)))
        strings = {"dt": f"2^-{a} * u0 * (x1 - 64) * y1 - 2^-{a} * u0 * t",
                   "dw": f"-2^{e} * u0 * t * (y2 - 64)"}
        symbols = {"x1": "64 + 64 a_j, the presynaptic rate",
                   "y1": "64 phi'(u_i) (>= 0 for tanh)",
                   "t": "the tag: p_ij, the synaptic eligibility trace (x 64 * 64)", **signal}
        traces = {"x1": "overwritten with the graded payload each step (no decay)",
                  "y1": "set by the post neuron each step"}
        if 2.0 ** -a != alpha:
            notes.append(f"alpha = {alpha:g} is approximated by 2^-{a} = {2.0 ** -a:g} in the "
                         "tag rule")
        notes.append("p_ij,t = (1 - alpha) p_ij,t-1 + alpha phi'(u_i) a_j: the tag update dt "
                     "(t = 64 * 64 p_ij); dW_ij = -eta L_i p_ij: the weight update dw, with "
                     f"eta = 2^{e} * 64^3 in weight units per unit L and p")
    validate_rules(strings)
    return LavaRules(rule, form, fb, strings, symbols, traces, notes)


def lava_rules_text(rule: str, form: str, feedback: Optional[str] = None, **kw) -> str:
    """:func:`lava_rules` as text (the CLI's ``--format lava``)."""
    return lava_rules(rule, form, feedback, **kw).to_text()


__all__ = ["validate_rule", "validate_rules", "evaluate", "lava_rules", "lava_rules_text",
           "LavaRules", "Product"]
