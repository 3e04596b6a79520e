"""One step spec as a markdown page (``localrnn export --format md``)."""
from __future__ import annotations

from ..quantspec import QUANTITY_DOC
from .poly import Poly
from .tables import OPS


def step_markdown(spec) -> str:
    """The page of a :class:`~localrnn.neuromorphic.spec.StepSpec`: its state variables,
    equations with operation counts and locality, memory, communication, three-factor
    form and notes."""
    q = spec.quant
    net = (f"{spec.model.upper()} neurons (reset {spec.reset}"
           + (f", firing-rate regulariser c = {spec.reg:g})" if spec.reg else ")")
           if spec.model is not None else f"{spec.form} form")
    title = f"{spec.rule}, {net}, N={spec.n_rec}, I={spec.n_in}, O={spec.n_out}"
    if spec.rule == "bptt":
        title += f", T={spec.T}"
    lines = [f"# One time step: {title}", "",
             f"Precision: `{q.to_string()}`; feedback: {spec.feedback}.", ""]
    lines += ["## State variables", "",
              "| variable | shape | scope | quantity | bits | kept | meaning |",
              "|---|---|---|---|---|---|---|"]
    for v in spec.variables:
        shape = " x ".join(f"{Poly.of(d)}={spec.ev(d)}" if Poly.of(d).terms and
                           str(Poly.of(d)) != str(spec.ev(d)) else str(spec.ev(d))
                           for d in v.shape) or "scalar"
        lines.append(f"| `{v.name}` | {shape} | {v.scope} | {v.quantity} | "
                     f"{q.bits(v.quantity)} | {'yes' if v.kept else 'no'} | {v.doc} |")
    lines += ["", "## Update equations and operation counts", "",
              "| # | phase | equation | " + " | ".join(OPS) + " | locality |",
              "|---|---|---|" + "---|" * len(OPS) + "---|"]
    for k, e in enumerate(spec.equations, 1):
        c = spec.equation_counts(e)
        loc = "; ".join(f"{t}: {l}" for t, l in e.locality)
        lines.append(f"| {k} | {e.phase} | `{e.text}` | " + " | ".join(str(c[o]) for o in OPS)
                     + f" | {loc} |")
    tot = spec.op_counts()
    lines.append("| | **total** | | " + " | ".join(f"**{tot[o]}**" for o in OPS) + " | |")
    notes = [(k, e.note) for k, e in enumerate(spec.equations, 1) if e.note]
    if notes:
        lines += [""] + [f"- ({k}) {n}" for k, n in notes]
    if spec.per_trial:
        lines += ["", f"Once per trial (T = {spec.T} steps):", "",
                  "| phase | equation | " + " | ".join(OPS) + " |",
                  "|---|---|" + "---|" * len(OPS)]
        for e in spec.per_trial:
            c = spec.equation_counts(e)
            lines.append(f"| {e.phase} | `{e.text}` | " + " | ".join(str(c[o]) for o in OPS) + " |")
        tt = spec.trial_op_counts()
        lines.append("| **trial total** | T x step + once per trial | "
                     + " | ".join(f"**{tt[o]}**" for o in OPS) + " |")
    mem = spec.memory_bits()
    lines += ["", "## Memory", "",
              "| quantity | bits kept between steps |", "|---|---|"]
    for qq, doc in QUANTITY_DOC.items():
        lines.append(f"| {qq} ({doc}) | {mem[qq]} |")
    lines += [f"| **total** | **{mem['total']}** |", "",
              f"Transient bits within the step: {mem['transient']}.  "
              f"Recurrent-side synapses (W, W_in, b): {spec.n_synapses}; trace words per "
              f"synapse {spec.trace_words_per_synapse():.6g}; bits of weights and traces per "
              f"synapse {spec.memory_per_synapse_bits():.6g}.", ""]
    lines += ["## Communication per step", "", "| what | values | bits | note |", "|---|---|---|---|"]
    for w, c, qq, n in spec.communication:
        lines.append(f"| {w} | {spec.ev(c)} | {spec.ev(c) * q.bits(qq)} | {n} |")
    if spec.three_factor:
        tf = spec.three_factor
        lines += ["", "## Three-factor form", "", f"`{tf['form']}`", "",
                  f"- trace (eligibility) `{tf['trace_symbol']}`: {tf['trace']}",
                  f"- broadcast signal `{tf['signal_symbol']}`: {tf['signal']}"]
    if spec.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in spec.notes]
    return "\n".join(lines) + "\n"


__all__ = ["step_markdown"]
