"""The operation-count tables of one online step (MODEL.md sections 1-5): every state
variable, every update equation with its counts (polynomials in N, I, O, T) and the
locality of its terms, what is communicated, the three-factor form and the notes, per
rule and form.  :func:`step_tables` gives them; :mod:`.step` evaluates them.

**Counting convention.**  The counts are those of the kernel's arithmetic, not of the
naive equation: a length-K dot product counts K multiplies and K - 1 adds (adding to an
initial zero is not an operation), a product with the constant 1 is not counted, and
constants of the step, ``1 - alpha`` and ``alpha``, are stored (not recomputed).  A
subtraction is an add.  ``tests/test_export.py`` checks every count against an
instrumented NumPy step that counts its own operations and reproduces the learner's
one-step result to 1e-12.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from ...kernels.online_layout import trace_blocks
from ...names import LOCAL_RULES
from .poly import I, N, O, T, Poly

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


def count_ops(**kw) -> Dict[str, Poly]:
    """The counts of one equation by kind (:data:`OPS` but the shift), 0 where not given."""
    return {k: Poly.of(kw.get(k, 0)) for k in OPS if k != "shift"}


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
            out = out * Poly.of(d)
        return out


@dataclass
class Equation:
    """One update equation with its operation counts and the locality of its terms."""
    phase: str
    text: str
    ops: Dict[str, Poly]
    locality: List[Tuple[str, str]]
    note: str = ""


P = N * N + N * I + N       # recurrent-side parameters W, W_in, b


def _dot(rows, k):
    """``rows`` dot products of length ``k``: k mul, k - 1 add each."""
    return dict(mul=rows * k, add=rows * (k - 1))


def _forward(form) -> List[Equation]:
    if form == "current":
        return [
            Equation("forward", "W r_{t-1}", count_ops(**_dot(N, N)),
                     [("r_{t-1,j}", "pre"), ("W_ij r_j", "synapse"), ("sum_j", "post")]),
            Equation("forward", "W_in x_t", count_ops(**_dot(N, I)),
                     [("x_{t,k}", "pre"), ("sum_k", "post")]),
            Equation("forward", "h_t = (1 - alpha) h_{t-1} + alpha (W r_{t-1} + W_in x_t + b)",
                     count_ops(mul=2 * N, add=3 * N), [("h_t", "post"), ("alpha", "global")]),
            Equation("forward", "r_t = phi(h_t)", count_ops(phi=N), [("r_t", "post")]),
            Equation("readout", "y_t = W_out r_t + b_out", count_ops(mul=O * N, add=O * N),
                     [("y_t", "output"), ("r_t", "pre")]),
        ]
    return [
        Equation("forward", "W a_{t-1}", count_ops(**_dot(N, N)),
                 [("a_{t-1,j}", "pre"), ("W_ij a_j", "synapse"), ("sum_j", "post")]),
        Equation("forward", "W_in x_t", count_ops(**_dot(N, I)),
                 [("x_{t,k}", "pre"), ("sum_k", "post")]),
        Equation("forward", "u_t = W a_{t-1} + W_in x_t + b", count_ops(add=2 * N), [("u_t", "post")]),
        Equation("forward", "phi(u_t)", count_ops(phi=N), [("phi(u_t)", "post")]),
        Equation("forward", "a_t = (1 - alpha) a_{t-1} + alpha phi(u_t)",
                 count_ops(mul=2 * N, add=N), [("a_t", "post"), ("alpha", "global")]),
        Equation("readout", "y_t = W_out a_t + b_out", count_ops(mul=O * N, add=O * N),
                 [("y_t", "output"), ("a_t", "pre")]),
    ]


def delta_equations() -> List[Equation]:
    """The output error of one step (MSE with a mask): every online step, rate or spiking."""
    return [Equation("error", "delta_t = m_t (y_t - y*_t) / s_t,  s_t = sum_o m_to",
                     count_ops(mul=2 * O, add=2 * O - 1, div=1), [("delta_t", "output")],
                     "the division is one reciprocal 1/s_t per step (a constant without a "
                     "mask); the loss value itself is monitoring and not counted")]


def _readout_update(form) -> List[Equation]:
    s = "r_t" if form == "current" else "a_t"
    return [
        Equation("update", f"W_out <- W_out - eta delta_t {s}^T", count_ops(mul=2 * O * N, add=O * N),
                 [("delta_t", "output"), (s, "pre")],
                 "the code forms the gradient delta_o s_j, then theta -= eta * g"),
        Equation("update", "b_out <- b_out - eta delta_t", count_ops(mul=O, add=O),
                 [("delta_t", "output")]),
    ]


def _signal(form, F="F") -> List[Equation]:
    if form == "current":
        return [Equation("learning signal", f"L_t = phi'(h_t) * ({F} delta_t)",
                         count_ops(mul=O * N + N, add=(O - 1) * N, dphi=N),
                         [("delta_t", "output"), (f"{F}_io", "third"), ("phi'(h_t,i)", "post"),
                          ("L_t,i", "third")],
                         "phi' is evaluated from the stored rate (tanh: 1 - r^2) without a "
                         "second transcendental")]
    return [Equation("learning signal", f"L_t = {F} delta_t", count_ops(**_dot(N, O)),
                     [("delta_t", "output"), (f"{F}_io", "third"), ("L_t,i", "third")])]


def _local(form) -> List[Equation]:
    if form == "current":
        return [
            Equation("trace", "ebar_t = (1 - alpha) ebar_{t-1} + alpha r_{t-1}",
                     count_ops(mul=2 * N, add=N), [("ebar_j", "pre")],
                     "one trace per presynaptic neuron, shared by its N synapses "
                     "(e_ij = ebar_j): O(N) memory, not the naive O(N^2)"),
            Equation("trace", "xbar_t = (1 - alpha) xbar_{t-1} + alpha x_t",
                     count_ops(mul=2 * I, add=I), [("xbar_k", "pre")]),
            Equation("trace", "bbar_t = (1 - alpha) bbar_{t-1} + alpha", count_ops(mul=1, add=1),
                     [("bbar", "global")]),
            Equation("update", "W <- W - eta L_t ebar_t^T", count_ops(mul=2 * N * N, add=N * N),
                     [("L_t,i", "third"), ("ebar_j", "pre"), ("W_ij", "synapse")],
                     "fused into one pass, W_ij -= eta * (L_i ebar_j); precomputing eta L_i "
                     "per neuron would save N^2 - N multiplies (the code does not)"),
            Equation("update", "W_in <- W_in - eta L_t xbar_t^T", count_ops(mul=2 * N * I, add=N * I),
                     [("L_t,i", "third"), ("xbar_k", "pre"), ("W_in,ik", "synapse")]),
            Equation("update", "b <- b - eta L_t bbar_t", count_ops(mul=2 * N, add=N),
                     [("L_t,i", "third"), ("bbar", "global")]),
        ]
    return [
        Equation("trace", "d_t = alpha phi'(u_t)", count_ops(mul=N, dphi=N), [("d_t,i", "post")],
                 "phi' from the stored phi(u_t) (tanh: 1 - phi^2)"),
        Equation("trace", "p_ij,t = (1 - alpha) p_ij,t-1 + d_i,t a_j,t-1",
                 count_ops(mul=2 * N * N, add=N * N),
                 [("d_i", "post"), ("a_j,t-1", "pre"), ("p_ij", "synapse")],
                 "alpha is folded into d_i once per neuron: 2 multiplies per synapse, "
                 "not the naive 3"),
        Equation("trace", "q_ik,t = (1 - alpha) q_ik,t-1 + d_i,t x_k,t",
                 count_ops(mul=2 * N * I, add=N * I),
                 [("d_i", "post"), ("x_k", "pre"), ("q_ik", "synapse")]),
        Equation("trace", "pb_i,t = (1 - alpha) pb_i,t-1 + d_i,t", count_ops(mul=N, add=N),
                 [("pb_i", "post")]),
        Equation("update", "W_ij <- W_ij - eta L_i,t p_ij,t", count_ops(mul=2 * N * N, add=N * N),
                 [("L_t,i", "third"), ("p_ij", "synapse")],
                 "fused with the trace update in the same pass over the synapse's row"),
        Equation("update", "W_in,ik <- W_in,ik - eta L_i,t q_ik,t", count_ops(mul=2 * N * I, add=N * I),
                 [("L_t,i", "third"), ("q_ik", "synapse")]),
        Equation("update", "b_i <- b_i - eta L_i,t pb_i,t", count_ops(mul=2 * N, add=N),
                 [("L_t,i", "third"), ("pb_i", "post")]),
    ]


def _rtrl(form) -> List[Equation]:
    if form == "current":
        d = Equation("sensitivity", "d = alpha phi'(h_{t-1})", count_ops(mul=N, dphi=N),
                     [("d_j", "pre")], "phi' of the previous state, from r_{t-1}")
        J = Equation("sensitivity", "J_t = (1 - alpha) I + W diag(d)", count_ops(mul=N * N, add=N),
                     [("J_t", "non-local")])
        imm = [Equation("sensitivity", "M_t[i, W_ij] += alpha r_{t-1,j}", count_ops(mul=N * N, add=N * N),
                        [("r_j", "pre")], "the code multiplies alpha r_j for each of the N rows"),
               Equation("sensitivity", "M_t[i, W_in,ik] += alpha x_t,k", count_ops(mul=N * I, add=N * I),
                        [("x_k", "pre")]),
               Equation("sensitivity", "M_t[i, b_i] += alpha", count_ops(add=N), [("b_i", "post")])]
    else:
        d = Equation("sensitivity", "d = alpha phi'(u_t)", count_ops(mul=N, dphi=N), [("d_i", "post")],
                     "phi' evaluated from u_t")
        J = Equation("sensitivity", "J_t = (1 - alpha) I + diag(d) W", count_ops(mul=N * N, add=N),
                     [("J_t", "non-local")])
        imm = [Equation("sensitivity", "M_t[i, W_ij] += d_i a_{t-1,j}", count_ops(mul=N * N, add=N * N),
                        [("d_i", "post"), ("a_j", "pre")]),
               Equation("sensitivity", "M_t[i, W_in,ik] += d_i x_t,k", count_ops(mul=N * I, add=N * I),
                        [("d_i", "post"), ("x_k", "pre")]),
               Equation("sensitivity", "M_t[i, b_i] += d_i", count_ops(add=N), [("d_i", "post")])]
    return [d, J,
            Equation("sensitivity", "M_t = J_t M_{t-1}   (N x N times N x P, P = N^2 + NI + N)",
                     count_ops(mul=N * N * P, add=N * (N - 1) * P),
                     [("M_t", "non-local")],
                     "O(N^4) per step: every neuron's sensitivity row mixes all others'"),
            *imm,
            Equation("gradient", "g_t = c_t^T M_t,  c_t = L_t", count_ops(mul=P * N, add=P * (N - 1)),
                     [("c_t", "third"), ("M_t", "non-local")]),
            Equation("update", "theta <- theta - eta g_t   (W, W_in, b)", count_ops(mul=P, add=P),
                     [("g_t", "non-local")])]


def _bptt(form) -> Tuple[List[Equation], List[Equation]]:
    """BPTT (MODEL.md section 4): the equations of one step (forward, then backward) and
    those done once per trial."""
    s = "r" if form == "current" else "a"
    if form == "current":
        adj, dW, dW_in, db = "a_t", "G_W", "G_Win", "G_b"   # dL/dtheta = alpha G (once per trial)
        back_text = "a_t = phi'(h_t) * (W_out^T delta_t + alpha W^T a_{t+1}) + (1 - alpha) a_{t+1}"
        back_locality = [("W^T a_{t+1}", "non-local"), ("a_{t+1}", "non-local")]
        back_note = ("needs the future (a_{t+1}) and the transposed recurrent weights "
                     "(weight transport); a_{T+1} = 0")
        scale = "dL/dW = alpha G_W,  dL/dW_in = alpha G_Win,  dL/db = alpha G_b"
    else:
        adj, dW, dW_in, db = "c_t", "dL/dW", "dL/dW_in", "dL/db"
        back_text = ("c_t = alpha phi'(u_t) * g_t,  g_t = W_out^T delta_t + W^T c_{t+1} + "
                     "(1 - alpha) g_{t+1}")
        back_locality = [("W^T c_{t+1}", "non-local"), ("g_{t+1}", "non-local")]
        back_note = ("g_t = dL/da_t, derived from MODEL.md section 1 (rate form): needs the "
                     "future and W^T; g_{T+1} = c_{T+1} = 0")
        scale = None
    back = Equation("backward", back_text,
                    count_ops(mul=O * N + N * N + 3 * N, add=(O - 1) * N + N * (N - 1) + 2 * N, dphi=N),
                    back_locality, back_note)
    grads = [Equation("gradient", f"{dW} += {adj} {s}_{{t-1}}^T", count_ops(mul=N * N, add=N * N),
                      [(adj, "non-local"), (f"{s}_j", "pre")]),
             Equation("gradient", f"{dW_in} += {adj} x_t^T", count_ops(mul=N * I, add=N * I),
                      [(adj, "non-local"), ("x_k", "pre")]),
             Equation("gradient", f"{db} += {adj}", count_ops(add=N), [(adj, "non-local")])]
    step = [Equation("error", "delta_t = m_t (y_t - y*_t) / S", count_ops(mul=2 * O, add=O),
                     [("delta_t", "output")], "S = sum_{t,o} m_to, once per trial; the gradient "
                     "sums below start from zero and count T adds per entry"),
            back, *grads,
            Equation("gradient", f"dL/dW_out += delta_t {s}_t^T,  dL/db_out += delta_t",
                     count_ops(mul=O * N, add=O * N + O), [("delta_t", "output")])]
    trial = [Equation("error", "S = sum_{t,o} m_to,  1 / S", count_ops(add=T * O - 1, div=1),
                      [("S", "global")])]
    if form == "current":
        trial.insert(0, Equation("forward", "r_0 = phi(h_0)", count_ops(phi=N), [("r_0", "post")]))
    if scale:
        trial.append(Equation("gradient", scale, count_ops(mul=P), [("alpha", "global")]))
    trial.append(Equation("update", "theta <- theta - eta dL/dtheta  (all five parameters)",
                          count_ops(mul=P + O * N + O, add=P + O * N + O), [("dL/dtheta", "non-local")]))
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
    if rule in LOCAL_RULES and feedback == "random":
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
    if rule in LOCAL_RULES:
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


def feedback_communication(feedback: str):
    """The communication row of a local rule's feedback F (rate or spiking)."""
    if feedback == "symmetric":
        return ("feedback F = W_out^T to the neurons (weight transport)", O * N, "w",
                "W_out changes every step, so the copy is refreshed every step")
    return ("feedback F (random, fixed)", Poly.const(0), "w",
            "stored at the neurons once (N x O); nothing per step")


def _communication(rule, form, feedback):
    s = "r_{t-1}" if form == "current" else "a_{t-1}"
    c = [(f"{s}: each neuron's output to its N targets", N, "s", "forward pass; every rule"),
         ("x_t: each input to the N neurons", I, "s", "forward pass"),
         ("delta_t: output errors broadcast to every neuron", O, "l",
          "O values, each received by N neurons")]
    if rule in LOCAL_RULES:
        c.append(feedback_communication(feedback))
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
    if rule not in LOCAL_RULES:
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
    if rule in LOCAL_RULES:
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


def step_tables(rule: str, form: str, feedback: str) -> Dict:
    """The tables of one step of ``rule`` in ``form`` with ``feedback`` (checked by the
    caller, :func:`localrnn.neuromorphic.spec.step_spec`): ``equations`` (per step, in
    order), ``per_trial`` (BPTT's once-per-trial equations), ``variables``,
    ``communication`` (what, count, quantity, note), ``three_factor`` (None for the exact
    rules) and ``notes``."""
    eqs, trial = _forward(form), []
    if rule in LOCAL_RULES:
        eqs += delta_equations() + _signal(form, "F") + _local(form) + _readout_update(form)
    elif rule == "rtrl":
        eqs += delta_equations() + _signal(form, "W_out^T") + _rtrl(form) + _readout_update(form)
    else:
        step, trial = _bptt(form)
        eqs += step
    return dict(equations=eqs, per_trial=trial, variables=_variables(rule, form, feedback),
                communication=_communication(rule, form, feedback),
                three_factor=_three_factor(rule, form, feedback), notes=_notes(rule, form, feedback))


__all__ = ["step_tables", "delta_equations", "count_ops", "feedback_communication", "Variable", "Equation", "OPS", "OPS_DOC", "LOCALITY",
           "DEFAULT_T", "P"]
