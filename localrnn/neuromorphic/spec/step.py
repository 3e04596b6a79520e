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
neuromorphic mode.  The loss *value* (monitoring only) is not counted.  The counting
convention is :mod:`.tables`'.  Shifts: 0 in float64; in fixed point one rescaling
shift per multiply (the product of two fixed-point words carries the sum of their
fractional bits and is shifted back into a format) -- the nominal cost of a
straightforward integer implementation, not measured.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ...names import FEEDBACKS, FORMS, LOCAL_RULES, RESETS, RULES, SPIKING_MODELS
from ..quantspec import QUANTITY_DOC, QuantSpec
from .markdown import step_markdown
from .poly import Poly
from .spiking import spiking_step_tables
from .tables import DEFAULT_T, OPS, Equation, Variable, step_tables


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
    #: spiking networks (MODEL.md section 9): the neuron model and reset (None: a rate network)
    model: Optional[str] = None
    reset: Optional[str] = None
    #: a spiking step's firing-rate regulariser strength c (0: none)
    reg: float = 0.0

    # ----- evaluation
    @property
    def sizes(self) -> Dict[str, int]:
        """The sizes the formulas are evaluated at; a spiking step's events K and S at
        their most, N (every neuron spiking)."""
        return dict(N=self.n_rec, I=self.n_in, O=self.n_out, T=self.T or 0, K=self.n_rec,
                    S=self.n_rec)

    def ev(self, p) -> int:
        return Poly.of(p)(**self.sizes)

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
        spiking = {} if self.model is None else {"model": self.model, "reset": self.reset, "reg": self.reg}
        return {
            "rule": self.rule, "form": self.form, **spiking, "n_rec": self.n_rec, "n_in": self.n_in,
            "n_out": self.n_out, "T": self.T, "feedback": self.feedback,
            "quantize": self.quant.to_string(), "rounding": self.quant.rounding,
            "state_variables": [
                {"name": v.name, "shape": [self.ev(d) for d in v.shape],
                 "shape_formula": [str(Poly.of(d)) for d in v.shape], "scope": v.scope,
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
                {"what": w, "values": self.ev(c), "values_formula": str(Poly.of(c)),
                 "bits": self.ev(c) * self.quant.bits(q), "note": n}
                for w, c, q, n in self.communication],
            "three_factor": self.three_factor,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        """The spec as a markdown page (:func:`~localrnn.neuromorphic.spec.markdown.step_markdown`)."""
        return step_markdown(self)


def step_spec(rule: str, form: str, n_rec: int, n_in: int, n_out: int, quantize=None,
              feedback: Optional[str] = None, T: Optional[int] = None,
              model: Optional[str] = None, reset: Optional[str] = None, reg: float = 0.0) -> StepSpec:
    """The spec of one time step of the online learner.

    Parameters
    ----------
    rule : {"rflo", "eprop", "rtrl", "bptt"}
    form : {"current", "rate"}
        Rate networks; ignored (written as ``"spiking"``) with ``model``.
    n_rec, n_in, n_out : int >= 1
    quantize : str or QuantSpec, optional
        Word lengths for the memory accounting (:mod:`.quantspec`); float64 if None.
    feedback : {"symmetric", "random"}, optional
        Local rules only; default e-prop symmetric, RFLO random.
    T : int, optional
        BPTT's trial length (default ``DEFAULT_T``).
    model : {"lif", "alif"}, optional
        A spiking network's step instead (MODEL.md section 9): online e-prop of
        :class:`localrnn.spiking.SpikingOnlineLearner` (:mod:`.spiking`); ``rule`` must
        be eprop.
    reset : {"subtract", "set"}, optional
        The spiking network's reset (default subtract).
    reg : float >= 0
        A spiking step's firing-rate regulariser strength c (``SpikingOnlineLearner(reg=c)``);
        0 (default) leaves it out.  The counts do not depend on its value.

    Returns
    -------
    StepSpec
    """
    if model is not None:
        return _spiking_spec(rule, n_rec, n_in, n_out, quantize, feedback, T, model, reset, reg)
    if reset is not None:
        raise ValueError(f"reset={reset!r} is for spiking networks; give model='lif' or 'alif'")
    if reg not in (0, None):
        raise ValueError(f"reg={reg!r} (the firing-rate regulariser) is for spiking networks; give "
                         "model='lif' or 'alif'")
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is not allowed; choose one of {', '.join(RULES)}")
    if form not in FORMS:
        raise ValueError(f"form={form!r} is not allowed; choose one of {', '.join(FORMS)}")
    _check_sizes(n_rec, n_in, n_out)
    q = QuantSpec.parse(quantize)
    if rule in LOCAL_RULES:
        fb = feedback or ("symmetric" if rule == "eprop" else "random")
        if fb not in FEEDBACKS:
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

    t = step_tables(rule, form, fb)
    return StepSpec(rule, form, n_rec, n_in, n_out, q, fb, t["variables"], t["equations"],
                    t["communication"], t["three_factor"], t["notes"],
                    T if rule == "bptt" else None, t["per_trial"])


def _check_sizes(n_rec, n_in, n_out) -> None:
    for name, val in (("n_rec", n_rec), ("n_in", n_in), ("n_out", n_out)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise ValueError(f"{name}={val!r} must be an integer >= 1")


def _spiking_spec(rule, n_rec, n_in, n_out, quantize, feedback, T, model, reset, reg) -> StepSpec:
    if model not in SPIKING_MODELS:
        raise ValueError(f"model={model!r} is not allowed; choose one of {', '.join(SPIKING_MODELS)}")
    reset = "subtract" if reset is None else reset
    if reset not in RESETS:
        raise ValueError(f"reset={reset!r} is not allowed; choose one of {', '.join(RESETS)}")
    if rule != "eprop":
        raise ValueError(f"rule={rule!r} has no online step for spiking networks; choose eprop "
                         "(BPTT runs backward in time)")
    if T is not None:
        raise ValueError(f"T={T!r} is only for rule='bptt' (the online rules keep no history)")
    _check_sizes(n_rec, n_in, n_out)
    q = QuantSpec.parse(quantize)
    fb = feedback or "symmetric"
    if fb not in FEEDBACKS:
        raise ValueError(f"feedback={feedback!r} is not allowed; choose symmetric or random")
    reg = 0.0 if reg is None else reg
    if isinstance(reg, bool) or not isinstance(reg, (int, float)) or not math.isfinite(reg) or reg < 0:
        raise ValueError(f"reg={reg!r} must be a finite number >= 0 (the firing-rate regulariser's "
                         "strength; 0: none)")
    t = spiking_step_tables(model, reset, fb, reg > 0)
    return StepSpec(rule, "spiking", n_rec, n_in, n_out, q, fb, t["variables"], t["equations"],
                    t["communication"], t["three_factor"], t["notes"], None, [], model, reset,
                    float(reg))


__all__ = ["step_spec", "StepSpec"]
