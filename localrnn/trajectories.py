"""The forward pass with history, its argument checks, the loss and the readout gradient.

The one home of what every driver needs from a forward pass: :mod:`localrnn.engine`
(BPTT, e-prop/RFLO), :mod:`localrnn.rtrl`, :mod:`localrnn.lyapunov` and
:mod:`localrnn.online` import from here, and this module imports no driver (no
import cycle).

* :func:`trajectory` (public, checks its arguments) and :func:`run_trajectory`
  (for arrays already checked) run MODEL.md section 1 and keep the history in a
  :class:`Trajectory`;
* ``check_inputs``, ``check_state0``, ``check_noise``, ``check_targets``: the
  argument checks of every driver (``ValueError`` naming the bad value);
* :func:`loss_and_delta`: MODEL.md section 3, the loss and ``delta_k = dL/dy_k``;
* :func:`readout_gradient`: the exact readout gradient every rule uses,
  ``dL/dW_out = sum_k delta_k p_k^T``, ``dL/db_out = sum_k delta_k``.

The module is ``trajectories`` (plural) because ``localrnn.trajectory`` is the
public function: a submodule of the same name would be shadowed by it
(``import localrnn.trajectory as m`` would bind the function).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ._threads import step_blas_limit
from ._validate import check_array, check_choice, check_labels
from .activations import kernel_code
from .kernels import backward as _bw
from .kernels import forward as _fw
from .kernels import loss as _loss
from .names import LOSSES
from .network import Network

__all__ = ["Trajectory", "trajectory", "run_trajectory", "check_inputs", "check_state0",
           "check_noise", "check_targets", "loss_and_delta", "readout_gradient"]


@dataclass
class Trajectory:
    """Everything a backward pass needs from a forward pass.

    Attributes
    ----------
    inputs : (T, B, I) array
        ``inputs[k]`` is x_{k+1}.
    states : (T, B, N) array or None
        h_1..h_T (current form) or a_1..a_T (rate form).  None only in the current
        form when the driver did not keep them (:func:`run_trajectory` with
        ``keep_states=False``: a gradient whose phi' comes from the rates).
    outputs : (T, B, O) array
    s0 : (B, N) array
        The initial state h_0 (a_0).
    prev0 : (B, N) array
        The presynaptic activity entering step 1: r_0 = phi(h_0) (current form) or
        a_0 (rate form).
    rates : (T, B, N) array or None
        Current form: r_k = phi(h_k).  None in the rate form.
    preacts : (T, B, N) array or None
        Rate form: the pre-activations u_k (a_k = (1 - alpha) a_{k-1} + alpha phi(u_k)).
        None in the current form.

    history : (T + 1, B, N) array or None
        The buffer the forward pass wrote the presynaptic activity into: ``history[0]``
        is ``prev0`` and ``history[1:]`` is :attr:`presyn` (views of it), so the
        activity entering every step is the view ``history[:-1]``
        (:meth:`prev_rows`) -- no shifted copy for the weight gradient.

    Exactly one of ``rates`` and ``preacts`` is set.  :attr:`act` is whichever is
    set (the kernels' second history array, the argument their ``phi'`` needs);
    :attr:`presyn` is what the readout and the next step see.
    """

    inputs: np.ndarray
    states: Optional[np.ndarray]
    outputs: np.ndarray
    s0: np.ndarray
    prev0: np.ndarray
    rates: Optional[np.ndarray] = None
    preacts: Optional[np.ndarray] = None
    history: Optional[np.ndarray] = None

    def __post_init__(self):
        if (self.rates is None) == (self.preacts is None):
            raise ValueError("a Trajectory holds exactly one of rates (current form) and "
                             "preacts (rate form)")
        if self.states is None and self.rates is None:
            raise ValueError("a rate-form Trajectory needs its states (they are the rates "
                             "the readout and the next step see)")

    @property
    def act_is_rate(self) -> bool:
        """True in the current form (``act`` holds rates), False in the rate form."""
        return self.rates is not None

    @property
    def act(self) -> np.ndarray:
        """Rates r_k (current form) or pre-activations u_k (rate form): the array the
        kernels pass to ``phi'``.  Prefer :attr:`rates` / :attr:`preacts`."""
        return self.rates if self.rates is not None else self.preacts

    @property
    def presyn(self) -> np.ndarray:
        """What the readout and the next step see: rates (current form) or states (rate form)."""
        return self.rates if self.rates is not None else self.states

    def prev(self, out=None) -> np.ndarray:
        """(T, B, N) presynaptic activity entering step k: r_{k-1} or a_{k-1}."""
        P = np.empty_like(self.presyn) if out is None else out
        P[0] = self.prev0
        P[1:] = self.presyn[:-1]
        return P

    def prev_rows(self) -> np.ndarray:
        """(T*B, N) presynaptic activity entering each step, row k*B + b: r_{k-1} or
        a_{k-1} of trial b.  A view of :attr:`history` when there is one (do not write
        to it), else a fresh array."""
        T, B, N = self.presyn.shape
        P = self.history[:-1] if self.history is not None else self.prev()
        return P.reshape(T * B, N)

    def copy(self) -> "Trajectory":
        """A copy whose history arrays (states, rates/preacts, outputs) are fresh."""
        hist = None if self.history is None else self.history.copy()
        states = None if self.states is None else self.states.copy()
        rates = None if self.rates is None else self.rates.copy()
        prev0 = self.prev0
        if hist is not None:   # presyn and prev0 stay views of the (copied) history
            prev0 = hist[0]
            if self.rates is not None:
                rates = hist[1:]
            else:
                states = hist[1:]
        return Trajectory(self.inputs, states, self.outputs.copy(), self.s0, prev0, rates=rates,
                          preacts=None if self.preacts is None else self.preacts.copy(),
                          history=hist)


# --------------------------------------------------------------------------- checks

def check_inputs(net: Network, inputs, kind: type = Network) -> np.ndarray:
    """``inputs`` as a C-contiguous (T, B, I) array of the network's dtype (T, B >= 1).

    ``net`` must be a ``kind`` (a rate :class:`Network` unless the caller says
    otherwise: the spiking drivers pass ``SpikingNetwork``), so a driver handed the
    other kind of network fails with one line instead of running the wrong dynamics.
    """
    if not isinstance(net, kind):
        raise ValueError(f"net is a {type(net).__name__}; expected a {kind.__name__} "
                         f"({kind.__module__.rsplit('.', 1)[0]}.{kind.__name__})")
    x = np.asarray(inputs)
    if x.ndim != 3:
        raise ValueError(f"inputs has shape {x.shape}; expected (T, B, I) with I = n_in = {net.n_in}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"inputs has shape {x.shape}; T and B must be at least 1")
    return check_array("inputs", x, (None, None, net.n_in), net.dtype)


def _as_array(name: str, a, shape: tuple, dtype, trusted: bool) -> np.ndarray:
    """``check_array(name, a, shape, dtype)``, or for ``trusted`` arrays (made by the
    package itself: a task's batch) only its conversion, C-contiguous of ``dtype``."""
    return np.ascontiguousarray(a, dtype=dtype) if trusted else check_array(name, a, shape, dtype)


def check_state0(net: Network, h0, B: int, name: str = "h0", trusted: bool = False) -> np.ndarray:
    """The initial state as a (B, N) array: zeros if None, an (N,) state broadcast.
    ``trusted``: converted only, not checked (see :func:`_as_array`)."""
    N = net.n_rec
    if h0 is None:
        return np.zeros((B, N), dtype=net.dtype)
    h = np.asarray(h0)
    if h.ndim == 1:
        h = _as_array(name, h, (N,), net.dtype, trusted)
        return np.ascontiguousarray(np.broadcast_to(h, (B, N)))
    return _as_array(name, h, (B, N), net.dtype, trusted)


def check_noise(net: Network, noise, T: int, B: int):
    """(noise array, has_noise): a (T, B, N) array, or an empty one and False for None."""
    if noise is None:
        return np.zeros((0, 0, 0), dtype=net.dtype), False
    return check_array("noise", noise, (T, B, net.n_rec), net.dtype), True


def check_targets(net: Network, targets, mask, loss: str, T: int, B: int, trusted: bool = False):
    """(targets, mask) for ``loss``: MSE (T, B, O) targets and mask (a (T, B) mask is
    broadcast over outputs); xent (T, B) integer labels and a (T, B) mask.
    ``trusted``: the same conversions, no checks (see :func:`_as_array`)."""
    if not trusted:
        check_choice("loss", loss, LOSSES)
    O, dt = net.n_out, net.dtype
    if loss == "mse":
        y = _as_array("targets", targets, (T, B, O), dt, trusted)
        if mask is None:
            m = np.ones((T, B, O), dtype=dt)
        else:
            m = np.asarray(mask)
            if m.ndim == 2:
                m = _as_array("mask", m, (T, B), dt, trusted)
                m = np.ascontiguousarray(np.broadcast_to(m[:, :, None], (T, B, O)))
            else:
                m = _as_array("mask", m, (T, B, O), dt, trusted)
    else:
        y = (np.ascontiguousarray(targets, dtype=np.int64) if trusted
             else check_labels("targets", targets, (T, B), O))
        m = np.ones((T, B), dtype=dt) if mask is None else _as_array("mask", mask, (T, B), dt, trusted)
    if not trusted and m.size and m.min() < 0:
        raise ValueError(f"mask has a negative entry {float(m.min())!r}; mask entries must be >= 0")
    return y, m


# --------------------------------------------------------------------------- forward

def run_trajectory(net: Network, x: np.ndarray, s0: np.ndarray, noise, has_noise,
                   ws: Optional[Dict[str, np.ndarray]] = None,
                   keep_states: bool = True) -> Trajectory:
    """:func:`trajectory` for arrays already checked (``check_inputs`` etc.).

    ``ws``, if given, supplies the (T + 1, B, N) buffers ``"states"``, ``"act"``
    and the (T, B, O) buffer ``"Y"`` (reused across calls by the gradient driver);
    the trajectory then refers to them (copy it before they are reused).
    ``keep_states=False`` (current form only; the rate form's states are its rates):
    the states h_k are not kept (``Trajectory.states`` is None), for a backward pass
    whose phi' comes from the rates (``activations.dphi_needs_state`` is False).
    The presynaptic activity (rates, or the rate form's states) goes to a (T + 1)-row
    buffer after its initial value (:attr:`Trajectory.history`).
    """
    T, B, _ = x.shape
    N, O = net.n_rec, net.n_out
    code = kernel_code(net.activation, net.dtype)
    if ws is None:
        states = np.empty((T + 1, B, N), dtype=net.dtype)
        act = np.empty((T + 1, B, N), dtype=net.dtype)
        Y = np.empty((T, B, O), dtype=net.dtype)
    else:
        states, act, Y = ws["states"], ws["act"], ws["Y"]
    W_out = np.ascontiguousarray(net.W_out)
    with step_blas_limit():
        if net.form == "current":
            H = states[:T] if keep_states else states[:2]
            _fw.forward_current(x, net.W_in, net.b, net.W, net.alpha, code, s0, noise,
                                has_noise, H, act, W_out, net.b_out, Y)
            rates = act[1:]
            return Trajectory(x, H if keep_states else None, Y, s0, act[0], rates=rates,
                              history=act)
        _fw.forward_rate(x, net.W_in, net.b, net.W, net.alpha, code, s0, noise, has_noise,
                         states, act[:T], W_out, net.b_out, Y)
        A = states[1:]
        return Trajectory(x, A, Y, s0, states[0], preacts=act[:T], history=states)


def trajectory(net: Network, inputs, h0=None, noise=None) -> Trajectory:
    """Run the network (MODEL.md section 1) and keep what a backward pass needs.

    Parameters
    ----------
    net : Network
    inputs : (T, B, I) array
    h0 : (B, N) or (N,) array, optional
        Initial state (zeros by default).
    noise : (T, B, N) array, optional
        Added to the state update at each step (already scaled).

    Returns
    -------
    Trajectory
    """
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    s0 = check_state0(net, h0, B)
    nz, has = check_noise(net, noise, T, B)
    return run_trajectory(net, x, s0, nz, has)


# --------------------------------------------------------------------------- loss

def loss_and_delta(outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, loss: str, out=None):
    """(value, delta) of MODEL.md section 3 for checked, contiguous arrays.

    ``delta_k = dL/dy_k``: ``m (y - y*) / sum(m)`` (MSE) or ``m (softmax(y) - onehot) / sum(m)``
    (xent).
    """
    delta = np.empty_like(outputs) if out is None else out
    if loss == "mse":
        val = _loss.loss_mse(outputs, targets, mask, delta)
    else:
        val = _loss.loss_xent(outputs, targets, mask, delta)
    return float(val), delta


def readout_gradient(delta: np.ndarray, presyn: np.ndarray) -> Dict[str, np.ndarray]:
    """The exact readout gradient of every rule (MODEL.md section 3).

    ``dL/dW_out = sum_{k,b} delta_kb p_kb^T`` and ``dL/db_out = sum_{k,b} delta_kb``,
    with p_k the rates r_k (current form) or the states a_k (rate form): one GEMM
    over the T*B rows.

    Parameters
    ----------
    delta : (T, B, O) array
    presyn : (T, B, N) array (:attr:`Trajectory.presyn`)
    """
    T, B, O = delta.shape
    gW = np.empty((O, presyn.shape[2]), dtype=presyn.dtype)
    gb = np.empty(O, dtype=presyn.dtype)
    _bw.readout_grad(np.ascontiguousarray(delta), np.ascontiguousarray(presyn), gW, gb)
    return {"W_out": gW, "b_out": gb}
