"""The operation-count tables of one online e-prop step of a spiking network (MODEL.md
section 9; :class:`localrnn.spiking.SpikingOnlineLearner`, the kernel
:mod:`localrnn.kernels.spiking_online`), in the form of :mod:`.tables`.

The kernels are event-driven: a spike adds a column of W to its targets' input (no
multiply: a spike is exactly 1) and a row of W_out to the readout, so those counts
are written in K (neurons that spiked at the step before) and S (neurons that spike
now).  The counts are the kernel's arithmetic when every input is non-zero (graded
inputs: ``W_in x_t`` multiplies), no neuron is refractory and every neuron's
pseudo-derivative is inside its window (``|v - A| < v_th``): the most work a step does
for given K and S.  A refractory neuron skips its pseudo-derivative, a zero input its
column.  ``tests/test_export.py`` checks every count against an instrumented NumPy
step that reproduces the learner's step to 1e-12.
"""
from __future__ import annotations

from typing import Dict, List

from .poly import I, K, N, O, Poly, S
from .tables import Equation, Variable, count_ops, delta_equations, feedback_communication

#: Presynaptic entries per neuron: the inputs, the constant 1 (for b), the spikes.
P_PRE = I + 1 + N


def _forward(model: str, reset: str) -> List[Equation]:
    eqs = [
        Equation("forward", "I_t = b + W_in x_t", count_ops(mul=N * I, add=N * I),
                 [("x_t,k", "pre"), ("W_in,jk", "synapse"), ("sum_k", "post")]),
        Equation("forward", "I_t += W z_{t-1}  (a column of W per spike)", count_ops(add=K * N),
                 [("z_{t-1,i}", "pre"), ("W_ji", "synapse"), ("sum_i", "post")],
                 "event-driven: K spikes add K columns, no multiply (a spike is 1)"),
    ]
    if reset == "subtract":
        eqs.append(Equation("forward", "v_t = alpha v_{t-1} + I_t - v_th z_{t-1}",
                            count_ops(mul=N, add=N + K), [("v_t,j", "post"), ("alpha", "global")],
                            "the reset subtracts v_th from the K neurons that spiked"))
    else:
        eqs.append(Equation("forward", "v_t = alpha (v_reset if z_{t-1} else v_{t-1}) + I_t",
                            count_ops(mul=N, add=N), [("v_t,j", "post"), ("alpha", "global")]))
    if model == "alif":
        eqs.append(Equation("forward", "b_t = rho b_{t-1} + z_{t-1},  A_t = v_th + beta b_t",
                            count_ops(mul=2 * N, add=2 * N), [("b_t,j", "post"), ("beta_j", "post")]))
    A = "A_t" if model == "alif" else "v_th"
    eqs.append(Equation("forward", f"z_t = H(v_t - {A}),  psi_t = gamma/v_th max(0, 1 - |(v_t - {A})/v_th|)",
                        count_ops(mul=N, add=2 * N, div=N), [("z_t,j", "post"), ("psi_t,j", "post")],
                        "the comparison and |.| are not counted; a refractory neuron skips this "
                        "(z = psi = 0)"))
    eqs.append(Equation("readout", "y_t = kappa y_{t-1} + (1 - kappa)(W_out z_t + b_out)",
                        count_ops(mul=2 * O, add=O * S + O), [("y_t", "output"), ("z_t,j", "pre")],
                        "event-driven: S spikes add S columns of W_out"))
    return eqs


def _traces(model: str, reset: str, reg: bool = False) -> List[Equation]:
    nv = N if reset == "set" else Poly.const(1)
    eqs = []
    if model == "alif":
        eqs.append(Equation(
            "trace", "eps_a_ji = (rho - beta_j psi_{t-1,j}) eps_a_ji + psi_{t-1,j} eps_v_ji",
            count_ops(mul=N + 2 * N * P_PRE, add=N + N * P_PRE),
            [("psi_{t-1,j}", "post"), ("eps_v", "pre" if reset == "subtract" else "synapse"),
             ("eps_a_ji", "synapse")],
            "uses psi_{t-1} and eps_v_{t-1}: it is updated first"))
    if reset == "subtract":
        eqs.append(Equation("trace", "eps_v_i = alpha eps_v_i + p_t,i,  p_t = [x_t; 1; z_{t-1}]",
                            count_ops(mul=P_PRE, add=P_PRE), [("eps_v_i", "pre")],
                            "one trace per presynaptic entry, shared by its N synapses"))
    else:
        eqs.append(Equation("trace", "eps_v_ji = alpha (1 - z_{t-1,j}) eps_v_ji + p_t,i",
                            count_ops(mul=nv * P_PRE, add=nv * P_PRE),
                            [("z_{t-1,j}", "post"), ("p_t,i", "pre"), ("eps_v_ji", "synapse")],
                            "the reset to v_reset makes eps_v depend on the postsynaptic spike"))
    if model == "alif":
        e = Equation("trace", "e_ji = psi_t,j (eps_v_ji - beta_j eps_a_ji)",
                     count_ops(mul=2 * N * P_PRE, add=N * P_PRE),
                     [("psi_t,j", "post"), ("eps_a_ji", "synapse")])
    else:
        e = Equation("trace", "e_ji = psi_t,j eps_v_ji", count_ops(mul=N * P_PRE),
                     [("psi_t,j", "post"), ("eps_v", "pre" if reset == "subtract" else "synapse")])
    eqs += [e,
            Equation("trace", "ebar_ji = kappa ebar_ji + (1 - kappa) e_ji",
                     count_ops(mul=2 * N * P_PRE, add=N * P_PRE), [("ebar_ji", "synapse")],
                     "per synapse: the readout's filter makes the trace synaptic even when "
                     "eps_v is presynaptic"),
            Equation("update", "g_ji = L_j ebar_ji + rg_j e_ji;  W, W_in, b <- . - eta g" if reg else
                     "g_ji = L_j ebar_ji;  W, W_in, b <- . - eta g",
                     count_ops(mul=(3 if reg else 2) * N * P_PRE, add=(2 if reg else 1) * N * P_PRE),
                     [("L_j", "third"), ("ebar_ji", "synapse"), ("W_ji", "synapse")]
                     + ([("rg_j", "post"), ("e_ji", "synapse")] if reg else []),
                     "the kernel forms g for every presynaptic entry (W's diagonal too, not "
                     "stored) and then applies SGD to W_in, b and every entry of W"
                     + ("; the regulariser's term uses the unfiltered e_ji of this step" if reg else ""))]
    return eqs


def _regulariser() -> List[Equation]:
    return [Equation(
        "regulariser", "zsum_j += z_t,j;  rg_j = c (zsum_j / n_t - f0)",
        count_ops(mul=N, add=S + N, div=N),
        [("zsum_j", "post"), ("n_t", "global"), ("c, f0", "global"), ("rg_j", "post")],
        "the firing-rate regulariser 0.5 c sum_j (r_j - f0)^2 online: zsum_j counts neuron j's "
        "spikes since the last reset (event-driven: the S neurons that spiked add 1), n_t the "
        "steps since then; zsum_j / n_t is the rate so far, at a trial's last step the batched "
        "regulariser's r_j.  rg_j is its dL/dz_j, the regulariser's learning signal")]


def _readout() -> List[Equation]:
    return [
        Equation("trace", "zbar_t = kappa zbar_{t-1} + (1 - kappa) z_t,  obar likewise with 1",
                 count_ops(mul=N + 1, add=N + 1), [("zbar_j", "pre")],
                 "the readout's filtered spikes, for W_out's exact gradient; (1 - kappa) z_t "
                 "is the stored constant (1 - kappa) where z = 1: no multiply"),
        Equation("update", "W_out <- W_out - eta delta_t zbar_t^T,  b_out <- b_out - eta delta_t obar_t",
                 count_ops(mul=2 * O * N + 2 * O, add=O * N + O), [("delta_t", "output"), ("zbar_j", "pre")]),
    ]


def _variables(model: str, reset: str, feedback: str, reg: bool = False) -> List[Variable]:
    nv = (N,) if reset == "set" else ()
    v = [Variable("W_in", (N, I), "per synapse", "w", True, "input weights"),
         Variable("W", (N, N), "per synapse", "w", True, "recurrent weights (zero diagonal)"),
         Variable("b", (N,), "per neuron", "w", True, "constant input current"),
         Variable("W_out", (O, N), "per readout synapse", "w", True, "readout weights"),
         Variable("b_out", (O,), "per output", "w", True, "readout bias")]
    if feedback == "random":
        v.append(Variable("F", (N, O), "per neuron (row j)", "w", True, "fixed random feedback weights"))
    v += [Variable("v", (N,), "per neuron", "s", True, "membrane voltage v_t"),
          Variable("z", (N,), "per neuron", "s", True, "spikes z_{t-1} (1 bit each)"),
          Variable("psi", (N,), "per neuron", "s", True, "pseudo-derivative psi_{t-1} (for eps_a)"
                   if model == "alif" else "pseudo-derivative psi_t"),
          Variable("refractory", (N,), "per neuron", "s", True, "steps left silent (a counter)")]
    if model == "alif":
        v += [Variable("b_adapt", (N,), "per neuron", "s", True, "threshold adaptation b_t"),
              Variable("beta", (N,), "per neuron", "w", True, "adaptation strength (constant)")]
    v += [Variable("y", (O,), "per output", "s", True, "leaky readout y_t"),
          Variable("zbar", (N,), "per neuron (presynaptic)", "s", True,
                   "readout-filtered spikes (W_out's gradient)"),
          Variable("obar", (), "global", "s", True, "readout-filtered 1 (b_out's gradient)"),
          Variable("eps_v", (*nv, I + 1 + N), "per synapse" if nv else "per presynaptic entry", "t",
                   True, "eligibility vector eps_v"),
          ]
    if model == "alif":
        v.append(Variable("eps_a", (N, I + 1 + N), "per synapse", "t", True, "adaptation eligibility eps_a"))
    if reg:
        v += [Variable("zsum", (N,), "per neuron", "s", True, "spikes since the last reset (the "
                       "regulariser's count)"),
              Variable("n_t", (), "global", "s", True, "steps since the last reset"),
              Variable("c", (), "global", "w", True, "regulariser strength (constant)"),
              Variable("f0", (), "global", "w", True, "regulariser's target rate per step (constant)"),
              Variable("rg", (N,), "per neuron", "l", False, "regulariser's learning signal rg_j")]
    v += [Variable("ebar", (N, I + 1 + N), "per synapse", "t", True, "filtered eligibility trace"),
          Variable("x", (I,), "per input", "s", False, "input x_t"),
          Variable("I_t", (N,), "per neuron", "acc", False, "input current"),
          Variable("delta", (O,), "per output", "l", False, "output error delta_t"),
          Variable("L", (N,), "per neuron", "l", False, "learning signal L_t = F delta_t"),
          Variable("grad", (N * (I + 1 + N) + O * N + O,), "per parameter", "acc", False,
                   "the step's gradient (formed, then applied)")]
    return v


def _communication(feedback: str):
    c = [("z_{t-1}: each spike to its N targets", K, "s", "K events of one bit; forward pass"),
         ("x_t: each input to the N neurons", I, "s", "forward pass"),
         ("z_t: each spike to the O outputs", S, "s", "S events of one bit; readout"),
         ("delta_t: output errors broadcast to every neuron", O, "l",
          "O values, each received by N neurons")]
    c.append(feedback_communication(feedback))
    c.append(("L_t,j: each neuron's learning signal to its I + 1 + N incoming synapses", N, "l",
              "local to neuron j"))
    return c


def _three_factor(model: str, reset: str, feedback: str, reg: bool = False) -> Dict[str, str]:
    F = "W_out^T" if feedback == "symmetric" else "B (random)"
    e = "psi_j (eps_v - beta_j eps_a_ji)" if model == "alif" else "psi_j eps_v"
    where = "eps_v_i (presynaptic)" if reset == "subtract" else "eps_v_ji (per synapse)"
    term = " + rg_j * e_ji" if reg else ""
    return {"form": f"dW_ji = -eta * (L_j * ebar_ji{term}),  ebar = kappa-filtered e_ji = {e},  "
                    f"L_j = (F delta)_j" + (",  rg_j = c (rate_j - f0)" if reg else ""),
            "trace_symbol": "ebar_ji",
            "trace": f"synaptic: the postsynaptic pseudo-derivative psi_j times {where}"
                     + (" minus beta_j eps_a_ji (per synapse)" if model == "alif" else "")
                     + ", filtered with the readout's decay kappa",
            "signal_symbol": "L_j",
            "signal": f"broadcast third factor (F delta)_j with F = {F}"}


def _notes(model: str, reset: str, feedback: str, reg: bool = False) -> List[str]:
    return [
        "One stream (B = 1), MSE with a mask, SGD every step (update_every=1), all five "
        "parameters trained, "
        + ("the firing-rate regulariser on (SpikingOnlineLearner(reg=c, reg_rate=f0)), every step "
           "contributing" if reg else "no firing-rate regulariser")
        + ": SpikingOnlineLearner's step (kernels/spiking_online.py), checked against an "
        "instrumented NumPy step (tests/test_export_spiking.py).",
        "Event-driven: K = spikes of the step before (recurrent input), S = spikes of this "
        "step (readout); the numbers evaluate them at K = S = N, the most a step can have.  "
        "At the cue task's 10 Hz (dt = 1 ms), K and S are about N / 100.",
        "The counts assume every input non-zero, no neuron refractory and every "
        "pseudo-derivative in its window: the most work for given K and S.",
        f"e-prop (Bellec et al. 2020) with {feedback} feedback; {model.upper()} neurons, reset "
        f"{reset}.  Memory per synapse: {'eps_a, ' if model == 'alif' else ''}ebar"
        f"{', eps_v' if reset == 'set' else ''} per synapse"
        f"{' and eps_v per presynaptic entry' if reset == 'subtract' else ''}.",
    ]


def spiking_step_tables(model: str, reset: str, feedback: str, reg: bool = False) -> Dict:
    """The tables of one online e-prop step of a ``model`` network with ``reset``
    (checked by the caller, :func:`localrnn.neuromorphic.spec.step_spec`): the keys of
    :func:`.tables.step_tables`.  ``reg``: with the firing-rate regulariser (its
    strength does not change the counts)."""
    eqs = (_forward(model, reset) + delta_equations()
           + [Equation("learning signal", "L_t = F delta_t", count_ops(mul=N * O, add=N * (O - 1)),
                       [("delta_t", "output"), ("F_jo", "third"), ("L_t,j", "third")])]
           + (_regulariser() if reg else [])
           + _traces(model, reset, reg) + _readout())
    return dict(equations=eqs, per_trial=[], variables=_variables(model, reset, feedback, reg),
                communication=_communication(feedback),
                three_factor=_three_factor(model, reset, feedback, reg),
                notes=_notes(model, reset, feedback, reg))


__all__ = ["spiking_step_tables", "P_PRE"]
