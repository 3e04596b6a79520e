"""One time step of the online learner as a hardware spec (issue 11, part a).

:func:`step_spec` lists, for one time step of :class:`localrnn.online.OnlineLearner`
(MODEL.md sections 1-5; the kernel :mod:`localrnn.kernels.online`), in order:

- every state variable (per neuron, per synapse, per output, global) with its shape,
  its word length at a chosen :class:`~localrnn.neuromorphic.quantspec.QuantSpec`, and
  whether it is kept between steps;
- every update equation, in MODEL.md's notation, with its operation counts
  (multiplies, adds, divisions, activation and derivative evaluations -- table look-ups
  in fixed point -- and rescaling shifts) and the locality of its terms;
- memory in bits (total, and traces per synapse), what must be communicated, and the
  three-factor form ``dW_ij = -eta * L_i * e_ij`` of the local rules.

**The step counted.**  One stream (B = 1), MSE loss with a mask, plain SGD applied
every step (``update_every=1``), all five parameters trained, no noise: the streaming
neuromorphic mode.  The loss *value* (monitoring only) is not counted.

**Counting convention.**  The counts are those of the kernel's arithmetic, not of the
naive equation: a length-K dot product counts K multiplies and K - 1 adds (adding to an
initial zero is not an operation), a product with the constant 1 is not counted, and
constants of the step, ``1 - alpha`` and ``alpha``, are stored (not recomputed).  A
subtraction is an add.  ``tests/test_export.py`` checks every count against an
instrumented NumPy step that counts its own operations and reproduces the learner's
one-step result to 1e-12.  Shifts: 0 in float64; in fixed point one rescaling shift per
multiply (the product of two fixed-point words carries the sum of their fractional bits
and is shifted back into a format) -- the nominal cost of a straightforward integer
implementation, not measured.

Counts are polynomials in N, I, O (and T for BPTT): :class:`Poly`.  The same
definitions render ``docs/neuromorphic.md`` (:func:`render_neuromorphic_doc`;
``python -m localrnn.neuromorphic.export --write-doc`` rewrites the generated part).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..kernels.online_layout import trace_blocks
from ..names import FORMS, RULES
from .quantspec import QUANTITY_DOC, QuantSpec

#: Operation kinds counted per equation.
OPS = ("mul", "add", "div", "phi", "dphi", "shift")
OPS_DOC = {"mul": "multiplies", "add": "adds (and subtractions)", "div": "divisions",
           "phi": "activation evaluations (table look-ups in fixed point)",
           "dphi": "derivative evaluations (table look-ups in fixed point)",
           "shift": "rescaling shifts (fixed point only)"}
#: BPTT's trial length when none is given.
DEFAULT_T = 100
#: Locality labels.
LOCALITY = {
    "pre": "presynaptic: a quantity of the sending neuron j (or input k)",
    "post": "postsynaptic: a quantity of the receiving neuron i",
    "synapse": "at the synapse ij: its weight or trace, from pre and post quantities only",
    "third": "third factor: a per-neuron signal broadcast from the output error",
    "output": "at the readout (output units)",
    "non-local": "needs quantities of other neurons' synapses, or of the future",
    "global": "a constant or scalar of the whole network",
}

_SYMS = ("N", "I", "O", "T")


# ------------------------------------------------------------------------ polynomials
class Poly:
    """A polynomial with integer coefficients in N, I, O, T (the counts' formulas).

    ``Poly.sym("N") ** 2 + 3 * Poly.sym("N")`` prints as ``N^2 + 3N`` and
    ``p(N=5, I=2, O=3)`` evaluates it.
    """

    __slots__ = ("terms",)

    def __init__(self, terms=None):
        self.terms = {k: v for k, v in (terms or {}).items() if v != 0}

    @classmethod
    def sym(cls, name):
        e = [0] * len(_SYMS)
        e[_SYMS.index(name)] = 1
        return cls({tuple(e): 1})

    @classmethod
    def const(cls, c):
        return cls({(0,) * len(_SYMS): int(c)})

    @staticmethod
    def _p(x):
        return x if isinstance(x, Poly) else Poly.const(x)

    def __add__(self, other):
        other = self._p(other)
        t = dict(self.terms)
        for k, v in other.terms.items():
            t[k] = t.get(k, 0) + v
        return Poly(t)

    __radd__ = __add__

    def __neg__(self):
        return Poly({k: -v for k, v in self.terms.items()})

    def __sub__(self, other):
        return self + (-self._p(other))

    def __rsub__(self, other):
        return self._p(other) - self

    def __mul__(self, other):
        other = self._p(other)
        t = {}
        for k1, v1 in self.terms.items():
            for k2, v2 in other.terms.items():
                k = tuple(a + b for a, b in zip(k1, k2))
                t[k] = t.get(k, 0) + v1 * v2
        return Poly(t)

    __rmul__ = __mul__

    def __pow__(self, n):
        out = Poly.const(1)
        for _ in range(n):
            out = out * self
        return out

    def __eq__(self, other):
        return isinstance(other, (Poly, int)) and self.terms == self._p(other).terms

    def __hash__(self):
        return hash(tuple(sorted(self.terms.items())))

    def __call__(self, **vals) -> int:
        total = 0
        for k, v in self.terms.items():
            term = v
            for s, e in zip(_SYMS, k):
                if e:
                    term *= vals[s] ** e
            total += term
        return int(total)

    def __str__(self):
        if not self.terms:
            return "0"
        keys = sorted(self.terms, key=lambda k: (-sum(k), [-e for e in k]))
        out = []
        for k in keys:
            v = self.terms[k]
            mono = "*".join(s + (f"^{e}" if e > 1 else "") for s, e in zip(_SYMS, k) if e)
            mag = abs(v)
            body = (str(mag) if mag != 1 or not mono else "") + mono if mag == 1 or not mono \
                else f"{mag}{mono}"
            out.append(("- " if v < 0 else "+ ") + body)
        s = " ".join(out)
        return s[2:] if s.startswith("+ ") else "-" + s[2:]

    __repr__ = __str__


N, I, O, T = (Poly.sym(s) for s in _SYMS)


def _ops(**kw) -> Dict[str, Poly]:
    return {k: Poly._p(kw.get(k, 0)) for k in OPS if k != "shift"}


# ---------------------------------------------------------------------- data classes
@dataclass
class Variable:
    """A state variable of the step."""
    name: str
    shape: Tuple          # of Poly / int, symbolic
    scope: str            # per neuron, per synapse, per output, per input, global
    quantity: str         # w, s, t, l, acc (QuantSpec quantity)
    kept: bool            # kept between steps (memory) or a transient of the step
    doc: str

    def size(self) -> Poly:
        out = Poly.const(1)
        for d in self.shape:
            out = out * Poly._p(d)
        return out


@dataclass
class Equation:
    """One update equation with its operation counts and the locality of its terms."""
    phase: str
    text: str
    ops: Dict[str, Poly]
    locality: List[Tuple[str, str]]
    note: str = ""


@dataclass
class StepSpec:
    """The spec of one time step; see the module docstring.  Build with :func:`step_spec`."""
    rule: str
    form: str
    n_rec: int
    n_in: int
    n_out: int
    quant: QuantSpec
    feedback: str
    variables: List[Variable]
    equations: List[Equation]
    communication: List[Tuple[str, Poly, str, str]]   # (what, count, quantity, note)
    three_factor: Optional[Dict[str, str]]
    notes: List[str]
    T: Optional[int] = None
    per_trial: List[Equation] = field(default_factory=list)

    # ----- evaluation
    @property
    def sizes(self) -> Dict[str, int]:
        return dict(N=self.n_rec, I=self.n_in, O=self.n_out, T=self.T or 0)

    def ev(self, p) -> int:
        return Poly._p(p)(**self.sizes)

    def op_counts(self) -> Dict[str, int]:
        """Total operations of the step, by kind (``OPS``)."""
        tot = {k: 0 for k in OPS}
        for e in self.equations:
            for k, v in e.ops.items():
                tot[k] += self.ev(v)
        tot["shift"] = 0 if self.quant.is_float64 else tot["mul"]
        return tot

    def trial_op_counts(self) -> Dict[str, int]:
        """BPTT: operations of a whole trial, T per-step counts plus the once-per-trial
        equations (:attr:`per_trial`); the online rules: T = 1 step."""
        step = self.op_counts()
        tot = {k: (self.T or 1) * v for k, v in step.items()}
        for e in self.per_trial:
            for k, v in self.equation_counts(e).items():
                tot[k] += v
        return tot

    def equation_counts(self, eq: Equation) -> Dict[str, int]:
        c = {k: self.ev(v) for k, v in eq.ops.items()}
        c["shift"] = 0 if self.quant.is_float64 else c["mul"]
        return c

    def memory_bits(self) -> Dict[str, int]:
        """Bits of the variables kept between steps, by quantity, and ``total``;
        ``transient`` the bits of the step's temporaries."""
        out = {q: 0 for q in QUANTITY_DOC}
        trans = 0
        for v in self.variables:
            bits = self.ev(v.size()) * self.quant.bits(v.quantity)
            if v.kept:
                out[v.quantity] += bits
            else:
                trans += bits
        out["total"] = sum(out[q] for q in QUANTITY_DOC)
        out["transient"] = trans
        return out

    @property
    def n_synapses(self) -> int:
        """Trained recurrent-side synapses: W, W_in and b entries, N (N + I + 1)."""
        return self.n_rec * (self.n_rec + self.n_in + 1)

    def trace_words_per_synapse(self) -> float:
        """Trace words (eligibility traces, RTRL's influence matrix) per synapse, the
        quantity of ``OnlineLearner.memory_per_synapse`` (0 for BPTT, whose learning state
        is the stored trajectory, counted with the states)."""
        words = sum(self.ev(v.size()) for v in self.variables if v.kept and v.quantity == "t")
        return words / self.n_synapses

    def memory_per_synapse_bits(self) -> float:
        """Kept bits of weights W, W_in, b and of the traces, per recurrent-side synapse."""
        rec = sum(self.ev(v.size()) * self.quant.bits(v.quantity) for v in self.variables
                  if v.kept and (v.quantity == "t" or v.name in ("W", "W_in", "b")))
        return rec / self.n_synapses

    # ----- output
    def to_dict(self) -> dict:
        return {
            "rule": self.rule, "form": self.form, "n_rec": self.n_rec, "n_in": self.n_in,
            "n_out": self.n_out, "T": self.T, "feedback": self.feedback,
            "quantize": self.quant.to_string(), "rounding": self.quant.rounding,
            "state_variables": [
                {"name": v.name, "shape": [self.ev(d) for d in v.shape],
                 "shape_formula": [str(Poly._p(d)) for d in v.shape], "scope": v.scope,
                 "quantity": v.quantity, "bits": self.quant.bits(v.quantity),
                 "frac_bits": self.quant.frac(v.quantity), "kept_between_steps": v.kept,
                 "doc": v.doc} for v in self.variables],
            "equations": [
                {"phase": e.phase, "equation": e.text, "ops": self.equation_counts(e),
                 "ops_formula": {k: str(v) for k, v in e.ops.items()},
                 "locality": [{"term": t, "locality": loc} for t, loc in e.locality],
                 "note": e.note} for e in self.equations],
            "ops_total": self.op_counts(),
            "per_trial_equations": [
                {"phase": e.phase, "equation": e.text, "ops": self.equation_counts(e),
                 "ops_formula": {k: str(v) for k, v in e.ops.items()}, "note": e.note}
                for e in self.per_trial],
            "ops_trial_total": self.trial_op_counts() if self.per_trial else None,
            "memory_bits": self.memory_bits(),
            "synapses": self.n_synapses,
            "trace_words_per_synapse": self.trace_words_per_synapse(),
            "memory_bits_per_synapse": self.memory_per_synapse_bits(),
            "communication": [
                {"what": w, "values": self.ev(c), "values_formula": str(Poly._p(c)),
                 "bits": self.ev(c) * self.quant.bits(q), "note": n}
                for w, c, q, n in self.communication],
            "three_factor": self.three_factor,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        q = self.quant
        title = f"{self.rule}, {self.form} form, N={self.n_rec}, I={self.n_in}, O={self.n_out}"
        if self.rule == "bptt":
            title += f", T={self.T}"
        lines = [f"# One time step: {title}", "",
                 f"Precision: `{q.to_string()}`; feedback: {self.feedback}.", ""]
        lines += ["## State variables", "",
                  "| variable | shape | scope | quantity | bits | kept | meaning |",
                  "|---|---|---|---|---|---|---|"]
        for v in self.variables:
            shape = " x ".join(f"{Poly._p(d)}={self.ev(d)}" if Poly._p(d).terms and
                               str(Poly._p(d)) != str(self.ev(d)) else str(self.ev(d))
                               for d in v.shape) or "scalar"
            lines.append(f"| `{v.name}` | {shape} | {v.scope} | {v.quantity} | "
                         f"{q.bits(v.quantity)} | {'yes' if v.kept else 'no'} | {v.doc} |")
        lines += ["", "## Update equations and operation counts", "",
                  "| # | phase | equation | " + " | ".join(OPS) + " | locality |",
                  "|---|---|---|" + "---|" * len(OPS) + "---|"]
        for k, e in enumerate(self.equations, 1):
            c = self.equation_counts(e)
            loc = "; ".join(f"{t}: {l}" for t, l in e.locality)
            lines.append(f"| {k} | {e.phase} | `{e.text}` | " + " | ".join(str(c[o]) for o in OPS)
                         + f" | {loc} |")
        tot = self.op_counts()
        lines.append("| | **total** | | " + " | ".join(f"**{tot[o]}**" for o in OPS) + " | |")
        notes = [(k, e.note) for k, e in enumerate(self.equations, 1) if e.note]
        if notes:
            lines += [""] + [f"- ({k}) {n}" for k, n in notes]
        if self.per_trial:
            lines += ["", f"Once per trial (T = {self.T} steps):", "",
                      "| phase | equation | " + " | ".join(OPS) + " |",
                      "|---|---|" + "---|" * len(OPS)]
            for e in self.per_trial:
                c = self.equation_counts(e)
                lines.append(f"| {e.phase} | `{e.text}` | " + " | ".join(str(c[o]) for o in OPS) + " |")
            tt = self.trial_op_counts()
            lines.append("| **trial total** | T x step + once per trial | "
                         + " | ".join(f"**{tt[o]}**" for o in OPS) + " |")
        mem = self.memory_bits()
        lines += ["", "## Memory", "",
                  "| quantity | bits kept between steps |", "|---|---|"]
        for qq, doc in QUANTITY_DOC.items():
            lines.append(f"| {qq} ({doc}) | {mem[qq]} |")
        lines += [f"| **total** | **{mem['total']}** |", "",
                  f"Transient bits within the step: {mem['transient']}.  "
                  f"Recurrent-side synapses (W, W_in, b): {self.n_synapses}; trace words per "
                  f"synapse {self.trace_words_per_synapse():.6g}; bits of weights and traces per "
                  f"synapse {self.memory_per_synapse_bits():.6g}.", ""]
        lines += ["## Communication per step", "", "| what | values | bits | note |", "|---|---|---|---|"]
        for w, c, qq, n in self.communication:
            lines.append(f"| {w} | {self.ev(c)} | {self.ev(c) * q.bits(qq)} | {n} |")
        if self.three_factor:
            tf = self.three_factor
            lines += ["", "## Three-factor form", "", f"`{tf['form']}`", "",
                      f"- trace (eligibility) `{tf['trace_symbol']}`: {tf['trace']}",
                      f"- broadcast signal `{tf['signal_symbol']}`: {tf['signal']}"]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- definitions
P = N * N + N * I + N       # recurrent-side parameters W, W_in, b


def _dot(rows, k):
    """``rows`` dot products of length ``k``: k mul, k - 1 add each."""
    return dict(mul=rows * k, add=rows * (k - 1))


def _forward(form) -> List[Equation]:
    if form == "current":
        return [
            Equation("forward", "W r_{t-1}", _ops(**_dot(N, N)),
                     [("r_{t-1,j}", "pre"), ("W_ij r_j", "synapse"), ("sum_j", "post")]),
            Equation("forward", "W_in x_t", _ops(**_dot(N, I)),
                     [("x_{t,k}", "pre"), ("sum_k", "post")]),
            Equation("forward", "h_t = (1 - alpha) h_{t-1} + alpha (W r_{t-1} + W_in x_t + b)",
                     _ops(mul=2 * N, add=3 * N), [("h_t", "post"), ("alpha", "global")]),
            Equation("forward", "r_t = phi(h_t)", _ops(phi=N), [("r_t", "post")]),
            Equation("readout", "y_t = W_out r_t + b_out", _ops(mul=O * N, add=O * N),
                     [("y_t", "output"), ("r_t", "pre")]),
        ]
    return [
        Equation("forward", "W a_{t-1}", _ops(**_dot(N, N)),
                 [("a_{t-1,j}", "pre"), ("W_ij a_j", "synapse"), ("sum_j", "post")]),
        Equation("forward", "W_in x_t", _ops(**_dot(N, I)),
                 [("x_{t,k}", "pre"), ("sum_k", "post")]),
        Equation("forward", "u_t = W a_{t-1} + W_in x_t + b", _ops(add=2 * N), [("u_t", "post")]),
        Equation("forward", "phi(u_t)", _ops(phi=N), [("phi(u_t)", "post")]),
        Equation("forward", "a_t = (1 - alpha) a_{t-1} + alpha phi(u_t)",
                 _ops(mul=2 * N, add=N), [("a_t", "post"), ("alpha", "global")]),
        Equation("readout", "y_t = W_out a_t + b_out", _ops(mul=O * N, add=O * N),
                 [("y_t", "output"), ("a_t", "pre")]),
    ]


def _delta() -> List[Equation]:
    return [Equation("error", "delta_t = m_t (y_t - y*_t) / s_t,  s_t = sum_o m_to",
                     _ops(mul=2 * O, add=2 * O - 1, div=1), [("delta_t", "output")],
                     "the division is one reciprocal 1/s_t per step (a constant without a "
                     "mask); the loss value itself is monitoring and not counted")]


def _readout_update(form) -> List[Equation]:
    s = "r_t" if form == "current" else "a_t"
    return [
        Equation("update", f"W_out <- W_out - eta delta_t {s}^T", _ops(mul=2 * O * N, add=O * N),
                 [("delta_t", "output"), (s, "pre")],
                 "the code forms the gradient delta_o s_j, then theta -= eta * g"),
        Equation("update", "b_out <- b_out - eta delta_t", _ops(mul=O, add=O),
                 [("delta_t", "output")]),
    ]


def _signal(form, F="F") -> List[Equation]:
    if form == "current":
        return [Equation("learning signal", f"L_t = phi'(h_t) * ({F} delta_t)",
                         _ops(mul=O * N + N, add=(O - 1) * N, dphi=N),
                         [("delta_t", "output"), (f"{F}_io", "third"), ("phi'(h_t,i)", "post"),
                          ("L_t,i", "third")],
                         "phi' is evaluated from the stored rate (tanh: 1 - r^2) without a "
                         "second transcendental")]
    return [Equation("learning signal", f"L_t = {F} delta_t", _ops(**_dot(N, O)),
                     [("delta_t", "output"), (f"{F}_io", "third"), ("L_t,i", "third")])]


def _local(form) -> List[Equation]:
    if form == "current":
        return [
            Equation("trace", "ebar_t = (1 - alpha) ebar_{t-1} + alpha r_{t-1}",
                     _ops(mul=2 * N, add=N), [("ebar_j", "pre")],
                     "one trace per presynaptic neuron, shared by its N synapses "
                     "(e_ij = ebar_j): O(N) memory, not the naive O(N^2)"),
            Equation("trace", "xbar_t = (1 - alpha) xbar_{t-1} + alpha x_t",
                     _ops(mul=2 * I, add=I), [("xbar_k", "pre")]),
            Equation("trace", "bbar_t = (1 - alpha) bbar_{t-1} + alpha", _ops(mul=1, add=1),
                     [("bbar", "global")]),
            Equation("update", "W <- W - eta L_t ebar_t^T", _ops(mul=2 * N * N, add=N * N),
                     [("L_t,i", "third"), ("ebar_j", "pre"), ("W_ij", "synapse")],
                     "fused into one pass, W_ij -= eta * (L_i ebar_j); precomputing eta L_i "
                     "per neuron would save N^2 - N multiplies (the code does not)"),
            Equation("update", "W_in <- W_in - eta L_t xbar_t^T", _ops(mul=2 * N * I, add=N * I),
                     [("L_t,i", "third"), ("xbar_k", "pre"), ("W_in,ik", "synapse")]),
            Equation("update", "b <- b - eta L_t bbar_t", _ops(mul=2 * N, add=N),
                     [("L_t,i", "third"), ("bbar", "global")]),
        ]
    return [
        Equation("trace", "d_t = alpha phi'(u_t)", _ops(mul=N, dphi=N), [("d_t,i", "post")],
                 "phi' from the stored phi(u_t) (tanh: 1 - phi^2)"),
        Equation("trace", "p_ij,t = (1 - alpha) p_ij,t-1 + d_i,t a_j,t-1",
                 _ops(mul=2 * N * N, add=N * N),
                 [("d_i", "post"), ("a_j,t-1", "pre"), ("p_ij", "synapse")],
                 "alpha is folded into d_i once per neuron: 2 multiplies per synapse, "
                 "not the naive 3"),
        Equation("trace", "q_ik,t = (1 - alpha) q_ik,t-1 + d_i,t x_k,t",
                 _ops(mul=2 * N * I, add=N * I),
                 [("d_i", "post"), ("x_k", "pre"), ("q_ik", "synapse")]),
        Equation("trace", "pb_i,t = (1 - alpha) pb_i,t-1 + d_i,t", _ops(mul=N, add=N),
                 [("pb_i", "post")]),
        Equation("update", "W_ij <- W_ij - eta L_i,t p_ij,t", _ops(mul=2 * N * N, add=N * N),
                 [("L_t,i", "third"), ("p_ij", "synapse")],
                 "fused with the trace update in the same pass over the synapse's row"),
        Equation("update", "W_in,ik <- W_in,ik - eta L_i,t q_ik,t", _ops(mul=2 * N * I, add=N * I),
                 [("L_t,i", "third"), ("q_ik", "synapse")]),
        Equation("update", "b_i <- b_i - eta L_i,t pb_i,t", _ops(mul=2 * N, add=N),
                 [("L_t,i", "third"), ("pb_i", "post")]),
    ]


def _rtrl(form) -> List[Equation]:
    if form == "current":
        d = Equation("sensitivity", "d = alpha phi'(h_{t-1})", _ops(mul=N, dphi=N),
                     [("d_j", "pre")], "phi' of the previous state, from r_{t-1}")
        J = Equation("sensitivity", "J_t = (1 - alpha) I + W diag(d)", _ops(mul=N * N, add=N),
                     [("J_t", "non-local")])
        imm = [Equation("sensitivity", "M_t[i, W_ij] += alpha r_{t-1,j}", _ops(mul=N * N, add=N * N),
                        [("r_j", "pre")], "the code multiplies alpha r_j for each of the N rows"),
               Equation("sensitivity", "M_t[i, W_in,ik] += alpha x_t,k", _ops(mul=N * I, add=N * I),
                        [("x_k", "pre")]),
               Equation("sensitivity", "M_t[i, b_i] += alpha", _ops(add=N), [("b_i", "post")])]
    else:
        d = Equation("sensitivity", "d = alpha phi'(u_t)", _ops(mul=N, dphi=N), [("d_i", "post")],
                     "phi' evaluated from u_t")
        J = Equation("sensitivity", "J_t = (1 - alpha) I + diag(d) W", _ops(mul=N * N, add=N),
                     [("J_t", "non-local")])
        imm = [Equation("sensitivity", "M_t[i, W_ij] += d_i a_{t-1,j}", _ops(mul=N * N, add=N * N),
                        [("d_i", "post"), ("a_j", "pre")]),
               Equation("sensitivity", "M_t[i, W_in,ik] += d_i x_t,k", _ops(mul=N * I, add=N * I),
                        [("d_i", "post"), ("x_k", "pre")]),
               Equation("sensitivity", "M_t[i, b_i] += d_i", _ops(add=N), [("d_i", "post")])]
    return [d, J,
            Equation("sensitivity", "M_t = J_t M_{t-1}   (N x N times N x P, P = N^2 + NI + N)",
                     _ops(mul=N * N * P, add=N * (N - 1) * P),
                     [("M_t", "non-local")],
                     "O(N^4) per step: every neuron's sensitivity row mixes all others'"),
            *imm,
            Equation("gradient", "g_t = c_t^T M_t,  c_t = L_t", _ops(mul=P * N, add=P * (N - 1)),
                     [("c_t", "third"), ("M_t", "non-local")]),
            Equation("update", "theta <- theta - eta g_t   (W, W_in, b)", _ops(mul=P, add=P),
                     [("g_t", "non-local")])]


def _bptt(form) -> Tuple[List[Equation], List[Equation]]:
    """BPTT (MODEL.md section 4): the equations of one step (forward, then backward) and
    those done once per trial."""
    s = "r" if form == "current" else "a"
    if form == "current":
        back = Equation("backward",
                        "a_t = phi'(h_t) * (W_out^T delta_t + alpha W^T a_{t+1}) + (1 - alpha) a_{t+1}",
                        _ops(mul=O * N + N * N + 3 * N, add=(O - 1) * N + N * (N - 1) + 2 * N, dphi=N),
                        [("W^T a_{t+1}", "non-local"), ("a_{t+1}", "non-local")],
                        "needs the future (a_{t+1}) and the transposed recurrent weights "
                        "(weight transport); a_{T+1} = 0")
        grads = [Equation("gradient", "G_W += a_t r_{t-1}^T", _ops(mul=N * N, add=N * N),
                          [("a_t", "non-local"), ("r_j", "pre")]),
                 Equation("gradient", "G_Win += a_t x_t^T", _ops(mul=N * I, add=N * I),
                          [("a_t", "non-local"), ("x_k", "pre")]),
                 Equation("gradient", "G_b += a_t", _ops(add=N), [("a_t", "non-local")])]
        scale = "dL/dW = alpha G_W,  dL/dW_in = alpha G_Win,  dL/db = alpha G_b"
    else:
        back = Equation("backward",
                        "c_t = alpha phi'(u_t) * g_t,  g_t = W_out^T delta_t + W^T c_{t+1} + (1 - alpha) g_{t+1}",
                        _ops(mul=O * N + N * N + 3 * N, add=(O - 1) * N + N * (N - 1) + 2 * N, dphi=N),
                        [("W^T c_{t+1}", "non-local"), ("g_{t+1}", "non-local")],
                        "g_t = dL/da_t, derived from MODEL.md section 1 (rate form): needs the "
                        "future and W^T; g_{T+1} = c_{T+1} = 0")
        grads = [Equation("gradient", "dL/dW += c_t a_{t-1}^T", _ops(mul=N * N, add=N * N),
                          [("c_t", "non-local"), ("a_j", "pre")]),
                 Equation("gradient", "dL/dW_in += c_t x_t^T", _ops(mul=N * I, add=N * I),
                          [("c_t", "non-local"), ("x_k", "pre")]),
                 Equation("gradient", "dL/db += c_t", _ops(add=N), [("c_t", "non-local")])]
        scale = None
    step = [Equation("error", "delta_t = m_t (y_t - y*_t) / S", _ops(mul=2 * O, add=O),
                     [("delta_t", "output")], "S = sum_{t,o} m_to, once per trial; the gradient "
                     "sums below start from zero and count T adds per entry"),
            back, *grads,
            Equation("gradient", f"dL/dW_out += delta_t {s}_t^T,  dL/db_out += delta_t",
                     _ops(mul=O * N, add=O * N + O), [("delta_t", "output")])]
    trial = [Equation("error", "S = sum_{t,o} m_to,  1 / S", _ops(add=T * O - 1, div=1),
                      [("S", "global")])]
    if form == "current":
        trial.insert(0, Equation("forward", "r_0 = phi(h_0)", _ops(phi=N), [("r_0", "post")]))
    if scale:
        trial.append(Equation("gradient", scale, _ops(mul=P), [("alpha", "global")]))
    trial.append(Equation("update", "theta <- theta - eta dL/dtheta  (all five parameters)",
                          _ops(mul=P + O * N + O, add=P + O * N + O), [("dL/dtheta", "non-local")]))
    return step, trial


#: scope, quantity, kept, meaning of each trace block (``online_layout.trace_blocks``)
_TRACE_DOC = {
    "ebar": ("per neuron (presynaptic)", "t", True, "filtered presynaptic rate; e_ij = ebar_j"),
    "xbar": ("per input", "t", True, "filtered input"),
    "bbar": ("global", "t", True, "filtered constant 1"),
    "p": ("per synapse", "t", True, "eligibility trace of W"),
    "q": ("per synapse", "t", True, "eligibility trace of W_in"),
    "pb": ("per neuron", "t", True, "eligibility trace of b"),
}


def _variables(rule, form, feedback) -> List[Variable]:
    s = "h" if form == "current" else "a"
    v = [Variable("W_in", (N, I), "per synapse", "w", True, "input weights"),
         Variable("W", (N, N), "per synapse", "w", True, "recurrent weights"),
         Variable("b", (N,), "per neuron", "w", True, "recurrent bias"),
         Variable("W_out", (O, N), "per readout synapse", "w", True, "readout weights"),
         Variable("b_out", (O,), "per output", "w", True, "readout bias")]
    if rule in ("eprop", "rflo") and feedback == "random":
        v.append(Variable("F", (N, O), "per neuron (row i)", "w", True,
                          "fixed random feedback weights"))
    if form == "current":
        v += [Variable("h", (N,), "per neuron", "s", True, "state h_{t-1} -> h_t"),
              Variable("r", (N,), "per neuron", "s", True,
                        "rate phi(h); the code keeps r_{t-1} (derivable from h)")]
    else:
        v += [Variable("a", (N,), "per neuron", "s", True, "state a_{t-1} -> a_t")]
    v += [Variable("x", (I,), "per input", "s", False, "input x_t"),
          Variable("W_in x", (N,), "per neuron", "acc", False, "input drive"),
          Variable("W " + ("r" if form == "current" else "a"), (N,), "per neuron", "acc", False,
                   "recurrent drive" + ("" if form == "current" else "; then u_t")),
          ]
    if form == "rate":
        v.append(Variable("phi(u)", (N,), "per neuron", "s", False, "phi(u_t)"))
    v += [Variable("y", (O,), "per output", "s", False, "output y_t"),
          Variable("delta", (O,), "per output", "l", False, "output error delta_t")]
    if rule != "bptt":
        v.append(Variable("L", (N,), "per neuron", "l", False,
                          "learning signal L_t" + (" (c_t of RTRL)" if rule == "rtrl" else "")))
    if rule in ("eprop", "rflo"):
        if form == "rate":
            v.append(Variable("d", (N,), "per neuron", "s", False, "alpha phi'(u_t)"))
        # the traces as the learner lays them out (kernels/online_layout.py)
        v += [Variable(name, shape, *_TRACE_DOC[name])
              for name, shape, _, _ in trace_blocks(rule, form, N, I, 0)]
        v.append(Variable("grad readout", (O * N + O,), "per readout synapse", "acc", False,
                          "gradient delta s^T, delta (formed, then applied)"))
    elif rule == "rtrl":
        (_, shape, _, _), = trace_blocks(rule, form, N, I, P)
        v += [Variable("M", shape, "per neuron x parameter", "t", True,
                       "influence matrix dh_t/dtheta (the code double-buffers it: 2 N P)"),
              Variable("M (second buffer)", shape, "per neuron x parameter", "t", False,
                       "M_{t-1} while M_t is formed"),
              Variable("J", (N, N), "per synapse", "acc", False, "Jacobian J_t"),
              Variable("d", (N,), "per neuron", "s", False, "alpha phi'"),
              Variable("g", (P + O * N + O,), "per parameter", "acc", False, "step gradient")]
    else:
        v += [Variable("trajectory " + s, (T, N), "per neuron x step", "s", True,
                       f"stored states {s}_1..{s}_T (rates derived): the learning state"),
              Variable("trajectory x", (T, I), "per input x step", "s", True, "stored inputs"),
              Variable("adjoint", (N,), "per neuron", "l", False, "a_t (backward state)"),
              Variable("grad", (P + O * N + O,), "per parameter", "acc", True,
                       "gradient sums over the trial")]
    return v


def _communication(rule, form, feedback):
    s = "r_{t-1}" if form == "current" else "a_{t-1}"
    c = [(f"{s}: each neuron's output to its N targets", N, "s", "forward pass; every rule"),
         ("x_t: each input to the N neurons", I, "s", "forward pass"),
         ("delta_t: output errors broadcast to every neuron", O, "l",
          "O values, each received by N neurons")]
    if rule in ("eprop", "rflo"):
        if feedback == "symmetric":
            c.append(("feedback F = W_out^T to the neurons (weight transport)", O * N, "w",
                      "W_out changes every step, so the copy is refreshed every step"))
        else:
            c.append(("feedback F (random, fixed)", Poly.const(0), "w",
                      "stored at the neurons once (N x O); nothing per step"))
        c.append(("L_t,i: each neuron's learning signal to its N + I + 1 incoming synapses",
                  N, "l", "local to neuron i"))
    elif rule == "rtrl":
        c.append(("M_{t-1} rows to every neuron (J_t M_{t-1})", N * P, "t",
                  "each neuron needs all others' sensitivity rows: non-local"))
        c.append(("W_out^T delta_t", O * N, "w", "c_t needs the readout weights (exact, symmetric)"))
    else:
        c.append(("the stored trajectory, replayed backwards", T * (N + I), "s",
                  "after the trial; memory grows with T"))
        c.append(("W^T and W_out^T for the backward pass", N * N + O * N, "w",
                  "weight transport"))
    return c


def _three_factor(rule, form, feedback):
    if rule not in ("eprop", "rflo"):
        return None
    F = "W_out^T" if feedback == "symmetric" else "B (random)"
    if form == "current":
        return {"form": "dW_ij = -eta * L_i * e_ij,  e_ij = ebar_j,  L_i = phi'(h_i) (F delta)_i",
                "trace_symbol": "e_ij = ebar_j",
                "trace": "presynaptic: neuron j's rate filtered with (1 - alpha); one per "
                         "presynaptic neuron (inputs: xbar_k, bias: bbar)",
                "signal_symbol": "L_i",
                "signal": f"broadcast third factor (F delta)_i with F = {F}, gated by the "
                          "postsynaptic phi'(h_i)"}
    return {"form": "dW_ij = -eta * L_i * e_ij,  e_ij = p_ij,  L_i = (F delta)_i",
            "trace_symbol": "e_ij = p_ij",
            "trace": "synaptic: filtered product of postsynaptic phi'(u_i) and presynaptic "
                     "a_j (q_ik with x_k, pb_i with 1)",
            "signal_symbol": "L_i",
            "signal": f"broadcast third factor (F delta)_i with F = {F}"}


def _notes(rule, form, feedback):
    n = ["One stream (B = 1), MSE with a mask, SGD every step (update_every=1), all five "
         "parameters trained, no noise.  Counts are the kernel's arithmetic "
         "(kernels/online.py), checked against an instrumented NumPy step "
         "(tests/test_export.py); a length-K dot product is K multiplies and K - 1 adds.",
         "Shifts: one rescaling shift per multiply in fixed point (nominal), none in float64."]
    if rule in ("eprop", "rflo"):
        n.append(f"{rule} with {feedback} feedback; e-prop and RFLO share the step and differ "
                 "only in the default feedback (e-prop symmetric, RFLO random).")
    if rule == "rtrl":
        n.append("RTRL is exact and non-local: the N x P influence matrix (P = N^2 + NI + N, "
                 "N^3 + N^2 I + N^2 words) is the learning state; O(N^4) multiplies per step.")
    if rule == "bptt":
        n.append("BPTT is not an online rule: it stores the trajectory (T (N + I) words, "
                 "growing with T), runs backward in time from the trial's end, and needs W^T "
                 "(weight transport).  Its step counts are MODEL.md section 4's equations, forward "
                 "plus backward, plus the once-per-trial part; checked against an instrumented "
                 "NumPy BPTT (tests/test_export.py), not the batched kernels/backward.py.")
    return n


def step_spec(rule: str, form: str, n_rec: int, n_in: int, n_out: int, quantize=None,
              feedback: Optional[str] = None, T: Optional[int] = None) -> StepSpec:
    """The spec of one time step of the online learner.

    Parameters
    ----------
    rule : {"rflo", "eprop", "rtrl", "bptt"}
    form : {"current", "rate"}
    n_rec, n_in, n_out : int >= 1
    quantize : str or QuantSpec, optional
        Word lengths for the memory accounting (:mod:`.quantspec`); float64 if None.
    feedback : {"symmetric", "random"}, optional
        Local rules only; default e-prop symmetric, RFLO random.
    T : int, optional
        BPTT's trial length (default ``DEFAULT_T``).

    Returns
    -------
    StepSpec
    """
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is not allowed; choose one of {', '.join(RULES)}")
    if form not in FORMS:
        raise ValueError(f"form={form!r} is not allowed; choose one of {', '.join(FORMS)}")
    for name, val in (("n_rec", n_rec), ("n_in", n_in), ("n_out", n_out)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise ValueError(f"{name}={val!r} must be an integer >= 1")
    q = QuantSpec.parse(quantize)
    if rule in ("eprop", "rflo"):
        fb = feedback or ("symmetric" if rule == "eprop" else "random")
        if fb not in ("symmetric", "random"):
            raise ValueError(f"feedback={feedback!r} is not allowed; choose symmetric or random")
    else:
        if feedback not in (None, "symmetric"):
            raise ValueError(f"feedback={feedback!r} is not allowed for rule={rule!r} "
                             "(exact, uses W_out^T); choose symmetric or leave it out")
        fb = "symmetric"
    if rule == "bptt":
        T = DEFAULT_T if T is None else T
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"T={T!r} must be an integer >= 1")
    elif T is not None:
        raise ValueError(f"T={T!r} is only for rule='bptt' (the online rules keep no history)")

    eqs, trial = _forward(form), []
    if rule in ("eprop", "rflo"):
        eqs += _delta() + _signal(form, "F") + _local(form) + _readout_update(form)
    elif rule == "rtrl":
        eqs += _delta() + _signal(form, "W_out^T") + _rtrl(form) + _readout_update(form)
    else:
        step, trial = _bptt(form)
        eqs += step
    return StepSpec(rule, form, n_rec, n_in, n_out, q, fb, _variables(rule, form, fb), eqs,
                    _communication(rule, form, fb), _three_factor(rule, form, fb),
                    _notes(rule, form, fb), T if rule == "bptt" else None, trial)


# ---------------------------------------------------------------------- the docs page
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "neuromorphic.md"
DOC_EXAMPLE = dict(n_rec=100, n_in=2, n_out=1)
DOC_QUANT = "w8,s16,t12,l16,acc32"


def _formula_table(rule, form) -> List[str]:
    sp = step_spec(rule, form, 1, 1, 1)
    out = [f"#### {rule}, {form} form" + (f" (feedback default: {sp.feedback})"
                                            if rule in ("eprop", "rflo") else ""), "",
           "| # | phase | equation | " + " | ".join(o for o in OPS if o != "shift") + " | locality |",
           "|---|---|---|" + "---|" * (len(OPS) - 1) + "---|"]
    tot = {k: Poly() for k in OPS if k != "shift"}
    for k, e in enumerate(sp.equations, 1):
        for o in tot:
            tot[o] = tot[o] + e.ops[o]
        loc = "; ".join(f"{t}: {l}" for t, l in e.locality)
        out.append(f"| {k} | {e.phase} | `{e.text}` | " + " | ".join(str(e.ops[o]) for o in tot)
                   + f" | {loc} |")
    out.append("| | **total** | | " + " | ".join(f"**{tot[o]}**" for o in tot) + " | |")
    notes = [(k, e.note) for k, e in enumerate(sp.equations, 1) if e.note]
    out += [""] + [f"- ({k}) {n}" for k, n in notes]
    if sp.per_trial:
        out += ["", "Once per trial:", "", "| phase | equation | "
                + " | ".join(o for o in OPS if o != "shift") + " |",
                "|---|---|" + "---|" * (len(OPS) - 1)]
        for e in sp.per_trial:
            out.append(f"| {e.phase} | `{e.text}` | " + " | ".join(str(e.ops[o]) for o in tot) + " |")
    mem = {}
    for v in sp.variables:
        if v.kept:
            mem[v.quantity] = mem.get(v.quantity, Poly()) + v.size()
    out += ["", "Words kept between steps: " + "; ".join(
        f"{QUANTITY_DOC[q]} ({q}) {mem[q]}" for q in QUANTITY_DOC if q in mem) + "."]
    if sp.three_factor:
        tf = sp.three_factor
        out += ["", f"Three-factor form: `{tf['form']}`; trace `{tf['trace_symbol']}` is "
                f"{tf['trace']}; `{tf['signal_symbol']}` is the {tf['signal']}."]
    out.append("")
    return out


def render_neuromorphic_doc() -> str:
    """The generated part of ``docs/neuromorphic.md`` (between the markers), from the
    definitions :func:`step_spec` uses."""
    from .quantspec import INT_BITS, MAX_BITS, MIN_BITS
    lines = [BEGIN,
             "<!-- generated by localrnn.neuromorphic.export.render_neuromorphic_doc(); "
             "regenerate with: python -m localrnn.neuromorphic.export --write-doc -->", "",
             "### The quantisation spec", "",
             "`QTY BITS[.FRAC]` fields, comma-separated, plus `round=nearest|stochastic` "
             "(default nearest); `float64` or no spec means every quantity in float64.",
             f"BITS includes the sign bit ({MIN_BITS} to {MAX_BITS}); FRAC is the number of "
             "fractional bits (0 to BITS-1), so the integer k stands for k * 2^-FRAC.  "
             "A quantity left out stays float64.", "",
             "| quantity | meaning | default FRAC |", "|---|---|---|"]
    for q, doc in QUANTITY_DOC.items():
        dflt = "BITS // 2" if q == "acc" else f"BITS - 1 - {INT_BITS[q]}"
        lines.append(f"| `{q}` | {doc} | {dflt} |")
    lines += ["", "Example: `w8,s16,t12,acc32` = `" + QuantSpec.parse("w8,s16,t12,acc32").to_string()
              + "`.", "",
              "### What is counted", "",
              "One time step of `OnlineLearner` (kernels/online.py): one stream, MSE with a "
              "mask, plain SGD applied every step, all five parameters trained, no noise.  "
              "Counts are the kernel's arithmetic: a length-K dot product is K multiplies and "
              "K - 1 adds; products with 1 are not counted; 1 - alpha is a stored constant.  "
              "Every count of e-prop, RFLO and RTRL (both forms) is checked by "
              "`tests/test_export.py` against an instrumented NumPy step that reproduces the "
              "learner's one-step result to 1e-12.  BPTT's counts are MODEL.md section 4's "
              "equations (per step, and once per trial), checked against an instrumented "
              "NumPy BPTT whose gradient equals `localrnn.gradient(rule='bptt')` (not the "
              "batched kernel's own arithmetic).  Shifts (not in the tables) are "
              "0 in float64 and, nominally, one per multiply in fixed point.", "",
              "Operation kinds: " + "; ".join(f"`{k}` {v}" for k, v in OPS_DOC.items()) + ".",
              "Locality labels: " + "; ".join(f"`{k}` {v}" for k, v in LOCALITY.items()) + ".", "",
              "### Per-step equations and counts (formulas in N, I, O; T for BPTT)", ""]
    for rule in ("eprop", "rflo", "rtrl", "bptt"):
        for form in FORMS:
            if rule == "rflo":
                continue  # the same step as eprop; only the feedback default differs
            lines += _formula_table(rule, form)
    lines += ["RFLO's step is e-prop's step with random feedback (F = B fixed: N O more words "
              "of weights stored, no weight transport per step); the counts are equal.", "",
              f"### Example: N = {DOC_EXAMPLE['n_rec']}, I = {DOC_EXAMPLE['n_in']}, "
              f"O = {DOC_EXAMPLE['n_out']} (BPTT with T = {DEFAULT_T})", "",
              f"Computed by `localrnn export` (float64, and `{DOC_QUANT}`).", "",
              "| rule | form | mul | add | div | phi | dphi | trace words / synapse "
              "| kept bits float64 | kept bits " + DOC_QUANT + " |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for rule in ("eprop", "rflo", "rtrl", "bptt"):
        for form in FORMS:
            a = step_spec(rule, form, **DOC_EXAMPLE)
            b = step_spec(rule, form, **DOC_EXAMPLE, quantize=DOC_QUANT)
            c = a.op_counts()
            lines.append(f"| {rule} | {form} | {c['mul']} | {c['add']} | {c['div']} | {c['phi']} | "
                         f"{c['dphi']} | {a.trace_words_per_synapse():.4g} | "
                         f"{a.memory_bits()['total']} | {b.memory_bits()['total']} |")
    lines += ["", END]
    return "\n".join(lines)


def generated_part(text: str) -> str:
    """The text between (and including) the markers of a page; ValueError if absent."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"the page has no {BEGIN} ... {END} block")
    return text[i:j + len(END)]


def write_doc(path=DOC_PATH) -> Path:
    """Replace the generated part of ``docs/neuromorphic.md`` (atomically)."""
    from ..io import atomic_write_text
    path = Path(path)
    text = path.read_text() if path.exists() else f"# Neuromorphic export\n\n{BEGIN}\n{END}\n"
    old = generated_part(text)
    atomic_write_text(path, text.replace(old, render_neuromorphic_doc()))
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--write-doc"]:
        print(write_doc())
        return 0
    print("usage: python -m localrnn.neuromorphic.export --write-doc", file=sys.stderr)
    return 2


__all__ = ["step_spec", "StepSpec", "Variable", "Equation", "Poly", "OPS", "LOCALITY",
           "DEFAULT_T", "render_neuromorphic_doc", "generated_part", "write_doc"]

if __name__ == "__main__":
    sys.exit(main())
