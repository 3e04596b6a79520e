"""Forward pass, loss and batched gradients (BPTT, e-prop) of spiking networks.

Drivers around :mod:`localrnn.kernels.spiking`: every public function validates its
arguments (``ValueError`` naming the bad value), converts arrays to C-contiguous
arrays of the network's dtype, allocates, and calls the kernels (MODEL.md section 9).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

from .._threads import step_blas_limit
from .._validate import check_choice, check_memory_bytes, check_number
from ..engine import loss_value as _loss_value
from ..kernels import backward as _bw
from ..kernels import spiking as _ks
from ..names import LOSSES, SPIKING_RULES
from ..network import feedback_matrix
from ..trajectories import check_inputs as _check_inputs
from ..trajectories import check_state0, check_targets, loss_and_delta
from .network import SpikingNetwork

#: How the batched e-prop gradient is computed: the reverse-time adjoint with the
#: spike's recurrent and reset paths cut (fast), or the eligibility traces forward in
#: time (what the online learner runs; the same number).
METHODS = ("backward", "trace")


@dataclass
class SpikingTrajectory:
    """Everything a backward pass needs from a forward pass (MODEL.md section 9).

    Attributes
    ----------
    inputs : (T, B, I)
    voltages : (T, B, N)
        v_1..v_T (before the reset their spike causes at the next step).
    spikes : (T, B, N)
        z_1..z_T, each 0 or 1.
    psi : (T, B, N)
        The pseudo-derivatives psi_t (0 while refractory).
    adaptation : (T, B, N) or None
        b_1..b_T (ALIF); None for LIF.
    outputs : (T, B, O)
        y_1..y_T of the leaky readout.
    v0 : (B, N)
        The initial voltage.
    """

    inputs: np.ndarray
    voltages: np.ndarray
    spikes: np.ndarray
    psi: np.ndarray
    adaptation: Optional[np.ndarray]
    outputs: np.ndarray
    v0: np.ndarray
    v_th: float = 0.0
    beta: Optional[np.ndarray] = None

    @property
    def thresholds(self) -> np.ndarray:
        """(T, B, N) the thresholds A_t = v_th + beta b_t (v_th for LIF)."""
        if self.adaptation is None:
            return np.full_like(self.voltages, self.v_th)
        return self.v_th + self.beta * self.adaptation


# --------------------------------------------------------------------------- checks

def check_network(net) -> SpikingNetwork:
    if not isinstance(net, SpikingNetwork):
        raise ValueError(f"net is a {type(net).__name__}; expected a SpikingNetwork "
                         "(localrnn.spiking.SpikingNetwork)")
    return net


def check_inputs(net: SpikingNetwork, inputs) -> np.ndarray:
    """``inputs`` as a C-contiguous (T, B, I) array of the network's dtype (T, B >= 1)."""
    return _check_inputs(net, inputs, SpikingNetwork)


def check_v0(net: SpikingNetwork, v0, B: int) -> np.ndarray:
    """The initial voltage as a (B, N) array: zeros if None, an (N,) vector broadcast."""
    return check_state0(net, v0, B, name="v0")


def check_regularizer(reg, reg_rate) -> Tuple[float, float]:
    """(c, f0): the firing-rate regulariser's coefficient (>= 0) and target rate in
    spikes per step, in [0, 1]."""
    c = check_number("reg", reg, lo=0.0)
    f0 = check_number("reg_rate", reg_rate, lo=0.0, hi=1.0)
    return c, f0


def _history_bytes(net: SpikingNetwork, T: int, B: int, arrays: int) -> None:
    it = net.dtype.itemsize
    check_memory_bytes(float(arrays) * T * B * net.n_rec * it,
                       f"T={T}, B={B}, n_rec={net.n_rec}: the spiking trajectory",
                       f"{arrays} arrays of T x B x N")


# --------------------------------------------------------------------------- forward

def run_trajectory(net: SpikingNetwork, x: np.ndarray, v0: np.ndarray) -> SpikingTrajectory:
    """:func:`trajectory` for arrays already checked."""
    T, B, _ = x.shape
    N, O = net.n_rec, net.n_out
    alif = net.model == "alif"
    _history_bytes(net, T, B, 5 if alif else 4)
    V = np.empty((T, B, N), dtype=net.dtype)
    Z = np.empty((T, B, N), dtype=net.dtype)
    PSI = np.empty((T, B, N), dtype=net.dtype)
    BA = np.empty((T, B, N) if alif else (0, 0, 0), dtype=net.dtype)
    Y = np.empty((T, B, O), dtype=net.dtype)
    prm, mode = net.kernel_scalars()
    _ks.forward(x, net.W_in, net.b, net.W, net.W_out, net.b_out, net.beta, prm, mode, v0,
                V, Z, BA, PSI, Y)
    return SpikingTrajectory(x, V, Z, PSI, BA if alif else None, Y, v0, v_th=net.v_th,
                             beta=net.beta)


def trajectory(net: SpikingNetwork, inputs, v0=None) -> SpikingTrajectory:
    """Run the network over a batch of trials and keep the whole history.

    Parameters
    ----------
    net : SpikingNetwork
    inputs : (T, B, I) array
        ``inputs[k]`` is x_{k+1}.
    v0 : (B, N) or (N,) array, optional
        Initial membrane voltage (zeros by default); b_0 = 0, z_0 = 0, y_0 = 0.

    Returns
    -------
    SpikingTrajectory
    """
    check_network(net)
    x = check_inputs(net, inputs)
    return run_trajectory(net, x, check_v0(net, v0, x.shape[1]))


def forward(net: SpikingNetwork, inputs, v0=None):
    """Spikes, voltages, thresholds and outputs of a batch of trials (MODEL.md section 9).

    Returns
    -------
    spikes, voltages, thresholds : (T, B, N) arrays
    outputs : (T, B, O) array

    Examples
    --------
    >>> net = SpikingNetwork.init(3, 8, 2, model="alif", seed=0)
    >>> z, v, A, y = forward(net, np.ones((5, 2, 3)))
    >>> z.shape, y.shape
    ((5, 2, 8), (5, 2, 2))
    """
    tr = trajectory(net, inputs, v0)
    return tr.spikes, tr.voltages, tr.thresholds, tr.outputs


# --------------------------------------------------------------------------- gradient

def _rate_gradient(Z: np.ndarray, c: float, f0: float) -> Tuple[float, np.ndarray]:
    """The firing-rate regulariser ``0.5 c sum_j (r_j - f0)^2``, r_j the mean of z_j over
    steps and trials, and its gradient with respect to each z_tbj, ``c (r_j - f0) / (T B)``."""
    T, B, N = Z.shape
    if c == 0.0:
        return 0.0, np.zeros(N, dtype=Z.dtype)
    r = Z.reshape(T * B, N).mean(axis=0, dtype=np.float64)
    err = r - f0
    return 0.5 * c * float(np.dot(err, err)), (c * err / (T * B)).astype(Z.dtype)


def _grads_from_adjoint(net: SpikingNetwork, tr: SpikingTrajectory, G: np.ndarray,
                        YH: np.ndarray, gb: np.ndarray) -> Dict[str, np.ndarray]:
    """The five gradients from ``G = dL/dv`` and ``YH = (1 - kappa) x readout adjoint``:
    sums of outer products, event-driven over the spikes and the non-zero inputs."""
    N, I, O = net.n_rec, net.n_in, net.n_out
    gWT = np.zeros((N, N), dtype=net.dtype)
    _ks.spike_outer(G, tr.spikes, 1, gWT)
    gWinT = np.zeros((I, N), dtype=net.dtype)
    _ks.spike_outer(G, tr.inputs, 0, gWinT)
    gW = np.ascontiguousarray(gWT.T)
    np.fill_diagonal(gW, 0.0)
    gW_out = np.empty((O, N), dtype=net.dtype)
    gb_out = np.empty(O, dtype=net.dtype)
    _bw.readout_grad(YH, tr.spikes, gW_out, gb_out)
    return {"W_in": np.ascontiguousarray(gWinT.T), "W": gW, "b": gb, "W_out": gW_out,
            "b_out": gb_out}


def _trace_grads(net: SpikingNetwork, tr: SpikingTrajectory, delta: np.ndarray, FT: np.ndarray,
                 rg: np.ndarray) -> Dict[str, np.ndarray]:
    N, I, O = net.n_rec, net.n_in, net.n_out
    dt = net.dtype
    g = {"W_in": np.zeros((N, I), dt), "W": np.zeros((N, N), dt), "b": np.zeros(N, dt),
         "W_out": np.zeros((O, N), dt), "b_out": np.zeros(O, dt)}
    prm, mode = net.kernel_scalars()
    nv = N if net.reset == "set" else 1
    if not rg.any():
        rg = rg[:0]                  # no regulariser: the kernel skips its term
    _ks.eprop_traces(delta, tr.inputs, tr.spikes, tr.psi, FT, net.beta, prm, mode, rg, nv,
                     g["W_in"], g["b"], g["W"], g["W_out"], g["b_out"])
    return g


class GradientTerms(NamedTuple):
    """What :func:`gradient_terms` returns."""

    #: the task loss (MODEL.md section 3) of the batch
    loss: float
    #: the firing-rate regulariser's value (0 when off)
    reg_loss: float
    #: ``"W_in", "W", "b", "W_out", "b_out"``: the gradient of ``loss + reg_loss``
    grads: Dict[str, np.ndarray]
    trajectory: SpikingTrajectory


def gradient_terms(net: SpikingNetwork, inputs, targets, mask=None, loss: str = "mse",
                   rule: str = "bptt", feedback=None, seed: int = 0, v0=None,
                   method: str = "backward", reg: float = 0.0,
                   reg_rate: float = 0.0) -> GradientTerms:
    """:func:`gradient` with its parts apart: the task loss, the regulariser's value,
    the gradients (of their sum) and the trajectory (same arguments as :func:`gradient`).
    A training run records the task loss (comparable with its evaluation loss) and
    descends the sum."""
    check_network(net)
    check_choice("rule", rule, SPIKING_RULES)
    check_choice("loss", loss, LOSSES)
    check_choice("method", method, METHODS)
    c, f0 = check_regularizer(reg, reg_rate)
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    tg, m = check_targets(net, targets, mask, loss, T, B)
    s0 = check_v0(net, v0, B)
    if rule == "eprop":
        F = feedback_matrix(net, feedback, rule, seed)
    else:
        if feedback is not None and not (isinstance(feedback, str) and feedback == "symmetric"):
            raise ValueError(f"feedback={feedback!r} is only for rule='eprop'; rule='bptt' is "
                             "exact and uses W_out^T")
        if method != "backward":
            raise ValueError(f"method={method!r} is only for rule='eprop'; rule='bptt' runs "
                             "backward in time")
        F = net.W_out.T
    FT = np.ascontiguousarray(F.T)
    tr = run_trajectory(net, x, s0)
    L, delta = loss_and_delta(tr.outputs, tg, m, loss)
    Lreg, rg = _rate_gradient(tr.spikes, c, f0)
    if rule == "eprop" and method == "trace":
        grads = _trace_grads(net, tr, delta, FT, rg)
    else:
        _history_bytes(net, T, B, 6 if net.model == "alif" else 5)
        G = np.empty_like(tr.voltages)
        YH = np.empty_like(tr.outputs)
        gb = np.empty(net.n_rec, dtype=net.dtype)
        prm, mode = net.kernel_scalars()
        with step_blas_limit():
            _ks.backward(delta, tr.voltages, tr.spikes, tr.psi, net.W, FT, net.beta, prm, mode,
                         rule == "eprop", rg, G, YH, gb)
        grads = _grads_from_adjoint(net, tr, G, YH, gb)
    return GradientTerms(L, Lreg, grads, tr)


def gradient(net: SpikingNetwork, inputs, targets, mask=None, loss: str = "mse",
             rule: str = "bptt", feedback=None, seed: int = 0, v0=None,
             method: str = "backward", reg: float = 0.0, reg_rate: float = 0.0,
             return_trajectory: bool = False):
    """Loss and its gradient, BPTT or e-prop, over a batch of trials (MODEL.md section 9).

    Parameters
    ----------
    net : SpikingNetwork
    inputs : (T, B, I) array
    targets : (T, B, O) array (``"mse"``) or (T, B) integer labels (``"xent"``)
    mask : (T, B, O) or (T, B) array (mse), (T, B) array (xent); all ones if None
    loss : {"mse", "xent"}
        On the readout's output y_t, normalised by ``sum(mask)`` (MODEL.md section 3).
    rule : {"bptt", "eprop"}
        ``bptt``: the gradient of the loss with the spike's derivative replaced by the
        pseudo-derivative psi (through every path).  ``eprop``: Bellec et al. (2020),
        the same gradient with the spike's paths into other neurons' voltages (through
        W) and into its own reset cut, learning signal ``F delta``.
    feedback : None, "symmetric", "random" or (N, O) array
        F for e-prop (default symmetric, W_out^T); ``"random"`` draws B ~ N(0, 1/O) from
        ``seed`` (:func:`localrnn.feedback_matrix`).
    seed : int
        Seed of the random feedback.
    v0 : (B, N) or (N,) array, optional
        Initial voltage.
    method : {"backward", "trace"}
        e-prop only: the reverse-time adjoint (fast) or the eligibility traces forward
        in time (the online learner's recursions); the same number.
    reg, reg_rate : float
        Firing-rate regulariser ``0.5 reg sum_j (r_j - reg_rate)^2`` (r_j: neuron j's
        spikes per step, averaged over steps and trials), added to the loss; 0 = off.
        Bellec et al. use it in both tutorials.
    return_trajectory : bool
        Also return the :class:`SpikingTrajectory`.

    Returns
    -------
    loss_value : float
        The task loss plus the regulariser.
    grads : dict
        ``"W_in", "W", "b", "W_out", "b_out"`` (W's diagonal is 0).

    Examples
    --------
    >>> net = SpikingNetwork.init(2, 16, 1, model="alif", seed=0)
    >>> x = np.ones((10, 4, 2)); y = np.zeros((10, 4, 1))
    >>> L, g = gradient(net, x, y, rule="eprop")
    >>> sorted(g)
    ['W', 'W_in', 'W_out', 'b', 'b_out']
    """
    t = gradient_terms(net, inputs, targets, mask, loss, rule, feedback, seed, v0, method, reg,
                       reg_rate)
    if return_trajectory:
        return t.loss + t.reg_loss, t.grads, t.trajectory
    return t.loss + t.reg_loss, t.grads


def loss_value(net: SpikingNetwork, outputs, targets, mask=None, loss: str = "mse") -> float:
    """The masked loss (MODEL.md section 3) of given outputs (no regulariser)."""
    return _loss_value(check_network(net), outputs, targets, mask, loss)


__all__ = ["SpikingTrajectory", "trajectory", "forward", "gradient", "gradient_terms", "GradientTerms",
           "loss_value", "METHODS"]
