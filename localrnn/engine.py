"""Forward pass, losses and batched gradients: the drivers around the kernels.

Every public function here validates its arguments (``ValueError`` naming the bad
value), converts arrays to C-contiguous arrays of the network's dtype, allocates
outputs, and calls Numba kernels that do the loops over time and trials.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ._config import step_blas_limit
from ._validate import check_array, check_choice, check_labels, check_number
from .activations import kernel_code
from .kernels import backward as _bw
from .kernels import forward as _fw
from .kernels import loss as _loss
from .kernels import traces as _tr
from .network import Network, feedback_matrix

from .names import LOSSES, RULES  # noqa: E402  (re-exported)
METHODS = ("gemm", "trace")


@dataclass
class Trajectory:
    """Everything a backward pass needs from a forward pass.

    ``states`` (T, B, N): h_k (current form) or a_k (rate form); ``act``: rates
    r_k = phi(h_k) (current) or pre-activations u_k (rate); ``outputs`` (T, B, O);
    ``s0`` the initial state; ``prev0`` the presynaptic activity at k = 0
    (r_0 = phi(h_0) in the current form, a_0 in the rate form).
    """

    inputs: np.ndarray
    states: np.ndarray
    act: np.ndarray
    outputs: np.ndarray
    s0: np.ndarray
    prev0: np.ndarray

    @property
    def presyn(self) -> np.ndarray:
        """What the readout and the next step see: rates (current form) or states (rate form)."""
        return self.act if self.act_is_rate else self.states

    act_is_rate: bool = True

    def prev(self, out=None) -> np.ndarray:
        """(T, B, N) presynaptic activity entering step k: r_{k-1} or a_{k-1}."""
        P = np.empty_like(self.states) if out is None else out
        P[0] = self.prev0
        P[1:] = self.presyn[:-1]
        return P


# --------------------------------------------------------------------------- workspace

_WS = threading.local()


def _workspace(key, names) -> Dict[str, np.ndarray]:
    """Reusable (T, B, N)-sized buffers for :func:`gradient`, one set per thread and shape.

    Fresh multi-megabyte arrays are fresh pages from the OS on every call, and the
    first touch of each page faults: for the Romo batch that cost ~25% of a BPTT
    gradient here.  Buffers never leave :func:`gradient` (a returned trajectory is
    copied).  At most four shapes are kept per thread.
    """
    cache = getattr(_WS, "cache", None)
    if cache is None:
        cache = _WS.cache = {}
    bufs = cache.get(key)
    if bufs is None:
        if len(cache) >= 4:
            cache.clear()
        shape, dtype = key[0], key[1]
        bufs = cache[key] = {n: np.empty(shape if n != "Y" else shape[:2] + (key[2],), dtype=dtype)
                             for n in names}
    return bufs


# --------------------------------------------------------------------------- checks

def check_inputs(net: Network, inputs) -> np.ndarray:
    x = np.asarray(inputs)
    if x.ndim != 3:
        raise ValueError(f"inputs has shape {x.shape}; expected (T, B, I) with I = n_in = {net.n_in}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"inputs has shape {x.shape}; T and B must be at least 1")
    return check_array("inputs", x, (None, None, net.n_in), net.dtype)


def check_state0(net: Network, h0, B: int, name: str = "h0") -> np.ndarray:
    N = net.n_rec
    if h0 is None:
        return np.zeros((B, N), dtype=net.dtype)
    h = np.asarray(h0)
    if h.ndim == 1:
        h = check_array(name, h, (N,), net.dtype)
        return np.ascontiguousarray(np.broadcast_to(h, (B, N)))
    return check_array(name, h, (B, N), net.dtype)


def check_noise(net: Network, noise, T: int, B: int):
    if noise is None:
        return np.zeros((0, 0, 0), dtype=net.dtype), False
    return check_array("noise", noise, (T, B, net.n_rec), net.dtype), True


def check_targets(net: Network, targets, mask, loss: str, T: int, B: int):
    check_choice("loss", loss, LOSSES)
    O = net.n_out
    if loss == "mse":
        y = check_array("targets", targets, (T, B, O), net.dtype)
        if mask is None:
            m = np.ones((T, B, O), dtype=net.dtype)
        else:
            m = np.asarray(mask)
            if m.ndim == 2:
                m = check_array("mask", m, (T, B), net.dtype)
                m = np.ascontiguousarray(np.broadcast_to(m[:, :, None], (T, B, O)))
            else:
                m = check_array("mask", m, (T, B, O), net.dtype)
    else:
        y = check_labels("targets", targets, (T, B), O)
        m = (np.ones((T, B), dtype=net.dtype) if mask is None
             else check_array("mask", mask, (T, B), net.dtype))
    if m.size and m.min() < 0:
        raise ValueError(f"mask has a negative entry {float(m.min())!r}; mask entries must be >= 0")
    return y, m


# --------------------------------------------------------------------------- forward

def _trajectory(net: Network, x: np.ndarray, s0: np.ndarray, noise, has_noise, ws=None) -> Trajectory:
    T, B, _ = x.shape
    N, O = net.n_rec, net.n_out
    code = kernel_code(net.activation, net.dtype)
    if ws is None:
        states = np.empty((T, B, N), dtype=net.dtype)
        act = np.empty((T, B, N), dtype=net.dtype)
        Y = np.empty((T, B, O), dtype=net.dtype)
        D = np.empty((T, B, N), dtype=net.dtype)
    else:
        states, act, Y, D = ws["states"], ws["act"], ws["Y"], ws["D"]
    with step_blas_limit():
        _fw.input_drive(x, net.W_in, net.b, D)
        if net.form == "current":
            r0 = _fw.forward_current(D, net.W, net.alpha, code, s0, noise, has_noise, states, act)
            _fw.readout(act, net.W_out, net.b_out, Y)
            return Trajectory(x, states, act, Y, s0, r0, act_is_rate=True)
        _fw.forward_rate(D, net.W, net.alpha, code, s0, noise, has_noise, states, act)
        _fw.readout(states, net.W_out, net.b_out, Y)
        return Trajectory(x, states, act, Y, s0, s0, act_is_rate=False)


def trajectory(net: Network, inputs, h0=None, noise=None) -> Trajectory:
    """Run the network and keep what a backward pass needs (see :class:`Trajectory`)."""
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    s0 = check_state0(net, h0, B)
    nz, has = check_noise(net, noise, T, B)
    return _trajectory(net, x, s0, nz, has)


def forward(net: Network, inputs, h0=None, noise=None) -> Tuple[np.ndarray, np.ndarray]:
    """Run the RNN over a batch of trials (MODEL.md section 1).

    Parameters
    ----------
    net : Network
    inputs : (T, B, I) array
        ``inputs[k]`` is x_{k+1}.
    h0 : (B, N) or (N,) array, optional
        Initial state h_0 (a_0 in the rate form); zeros by default.
    noise : (T, B, N) array, optional
        Added to the state update at each step (already scaled: sigma_rec sqrt(alpha) xi).

    Returns
    -------
    states : (T, B, N)
        h_1..h_T (current form) or a_1..a_T (rate form).
    outputs : (T, B, O)
        y_k = W_out r_k + b_out (current) or W_out a_k + b_out (rate).

    Examples
    --------
    >>> net = Network.init(1, 8, 2, gain=1.0, alpha=0.5)
    >>> states, outputs = forward(net, np.zeros((5, 3, 1)))
    >>> states.shape, outputs.shape
    ((5, 3, 8), (5, 3, 2))
    """
    tr = trajectory(net, inputs, h0, noise)
    return tr.states, tr.outputs


def make_noise(net: Network, T: int, B: int, sigma: float, rng) -> Optional[np.ndarray]:
    """``sigma * sqrt(alpha) * xi`` with xi ~ N(0, 1), drawn from ``rng`` (None if sigma = 0)."""
    sigma = check_number("sigma_rec", sigma, lo=0.0)
    if sigma == 0.0:
        return None
    rng = np.random.default_rng(rng)
    return (sigma * np.sqrt(net.alpha) * rng.standard_normal((T, B, net.n_rec))).astype(net.dtype)


# --------------------------------------------------------------------------- loss

def loss_and_delta(outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, loss: str, out=None):
    """(value, delta) of MODEL.md section 3 for checked, contiguous arrays."""
    delta = np.empty_like(outputs) if out is None else out
    if loss == "mse":
        val = _loss.loss_mse(outputs, targets, mask, delta)
    else:
        val = _loss.loss_xent(outputs, targets, mask, delta)
    return float(val), delta


def loss_value(net: Network, outputs, targets, mask=None, loss: str = "mse") -> float:
    """The masked loss of MODEL.md section 3 for given outputs."""
    y = np.asarray(outputs)
    if y.ndim != 3:
        raise ValueError(f"outputs has shape {y.shape}; expected (T, B, O)")
    T, B, _ = y.shape
    y = check_array("outputs", y, (T, B, net.n_out), net.dtype)
    tg, m = check_targets(net, targets, mask, loss, T, B)
    return loss_and_delta(y, tg, m, loss)[0]


# --------------------------------------------------------------------------- gradients

def _grads_from_Z(net: Network, tr: Trajectory, Z: np.ndarray, delta: np.ndarray,
                  P=None) -> Dict[str, np.ndarray]:
    T, B, N = Z.shape
    Z2 = Z.reshape(T * B, N)
    P2 = tr.prev(P).reshape(T * B, N)
    X2 = tr.inputs.reshape(T * B, net.n_in)
    D2 = delta.reshape(T * B, net.n_out)
    S2 = tr.presyn.reshape(T * B, N)
    return {
        "W_in": Z2.T @ X2,
        "W": Z2.T @ P2,
        "b": Z2.sum(axis=0),
        "W_out": D2.T @ S2,
        "b_out": D2.sum(axis=0),
    }


def backward(net: Network, tr: Trajectory, delta: np.ndarray, F: np.ndarray, truncate: bool,
             out=None):
    """Z (T, B, N) and dL/ds_0 from a trajectory (see :mod:`localrnn.kernels.backward`)."""
    code = kernel_code(net.activation, net.dtype)
    Z = np.empty_like(tr.states) if out is None else out
    g0 = np.empty_like(tr.s0)
    FT = np.ascontiguousarray(F.T)
    with step_blas_limit():
        if net.form == "current":
            _bw.backward_current(delta, tr.states, tr.act, tr.s0, net.W, FT, net.alpha, code, truncate, Z, g0)
        else:
            _bw.backward_rate(delta, tr.act, net.W, FT, net.alpha, code, truncate, Z, g0)
    return Z, g0


def _local_traces(net: Network, tr: Trajectory, delta: np.ndarray, F: np.ndarray):
    code = kernel_code(net.activation, net.dtype)
    N, I = net.n_rec, net.n_in
    gW = np.zeros((N, N), dtype=net.dtype)
    gW_in = np.zeros((N, I), dtype=net.dtype)
    gb = np.zeros(N, dtype=net.dtype)
    FT = np.ascontiguousarray(F.T)
    if net.form == "current":
        _tr.traces_current(delta, tr.states, tr.act, tr.prev0, tr.inputs, FT, net.alpha, code,
                           gW, gW_in, gb)
    else:
        _tr.traces_rate(delta, tr.act, tr.states, tr.prev0, tr.inputs, FT, net.alpha, code,
                        gW, gW_in, gb)
    T, B, _ = delta.shape
    D2 = delta.reshape(T * B, net.n_out)
    S2 = tr.presyn.reshape(T * B, N)
    return {"W_in": gW_in, "W": gW, "b": gb, "W_out": D2.T @ S2, "b_out": D2.sum(axis=0)}


def gradient(net: Network, inputs, targets, mask=None, loss: str = "mse", rule: str = "bptt",
             feedback=None, seed: int = 0, h0=None, noise=None, method: str = "gemm",
             return_h0: bool = False, return_trajectory: bool = False):
    """Loss and its gradient (exact or local) over a batch of trials.

    Parameters
    ----------
    net : Network
    inputs : (T, B, I) array
    targets : (T, B, O) array for ``loss="mse"``; (T, B) integer labels for ``"xent"``
    mask : (T, B, O) or (T, B) array (mse), (T, B) array (xent); all ones if None
    loss : {"mse", "xent"}
        Masked MSE or per-step softmax cross-entropy, normalised by ``sum(mask)``
        (MODEL.md section 3).
    rule : {"bptt", "rtrl", "eprop", "rflo"}
        ``bptt``/``rtrl``: the exact gradient (the same number, two algorithms).
        ``eprop``/``rflo``: the truncated local rule, J ~ (1 - alpha) I (Bellec et al.
        2020; Murray 2019), learning signal ``F delta``.
    feedback : None, "symmetric", "random" or (N, O) array
        F for the local rules; None means the rule's default (symmetric for e-prop,
        random for RFLO).  ``"random"`` draws B ~ N(0, 1/O) from ``seed``.
    seed : int
        Seed of the random feedback matrix.
    h0 : (B, N) or (N,) array, optional
    noise : (T, B, N) array, optional
    method : {"gemm", "trace"}
        For the local rules: the offline backward filter with one GEMM (fast), or
        the online eligibility-trace recursion forward in time (same number).
    return_h0 : bool
        Add ``grads["h0"] = dL/dh_0`` (B, N) (exact rules only).
    return_trajectory : bool
        Also return the :class:`Trajectory` (states, outputs).

    Returns
    -------
    loss_value : float
    grads : dict
        Keys ``"W_in", "W", "b", "W_out", "b_out"``; shapes of the parameters.
        Readout weights always get their exact gradient.

    Examples
    --------
    >>> net = Network.init(1, 16, 2, gain=1.0, alpha=0.5)
    >>> x = np.ones((10, 4, 1)); y = np.zeros((10, 4, 2))
    >>> L, g = gradient(net, x, y, rule="eprop")
    >>> sorted(g)
    ['W', 'W_in', 'W_out', 'b', 'b_out']
    """
    check_choice("rule", rule, RULES)
    check_choice("method", method, METHODS)
    check_choice("loss", loss, LOSSES)
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    tg, m = check_targets(net, targets, mask, loss, T, B)
    s0 = check_state0(net, h0, B)
    nz, has = check_noise(net, noise, T, B)
    local = rule in ("eprop", "rflo")
    if local:
        F = feedback_matrix(net, feedback, rule, seed)
    elif feedback is not None and not (isinstance(feedback, str) and feedback == "symmetric"):
        raise ValueError(f"feedback={feedback!r} is only for the local rules (eprop, rflo); "
                         f"rule={rule!r} is exact and uses W_out^T")
    if return_h0 and local:
        raise ValueError(f"return_h0=True is only for the exact rules (bptt, rtrl), not rule={rule!r}")
    with step_blas_limit():
        return _gradient(net, x, tg, m, loss, rule, local, F if local else None, s0, nz, has,
                         method, return_h0, return_trajectory)


def _gradient(net, x, tg, m, loss, rule, local, F, s0, nz, has, method, return_h0,
              return_trajectory):
    if rule == "rtrl":
        from .rtrl import rtrl_gradient  # exact online reference, O(N^4) per step
        L, grads, tr = rtrl_gradient(net, x, tg, m, loss, s0, nz, has)
        if return_h0:
            # RTRL's sensitivities do not carry h_0; the adjoint gives it exactly.
            _, delta = loss_and_delta(tr.outputs, tg, m, loss)
            grads["h0"] = backward(net, tr, delta, np.ascontiguousarray(net.W_out.T), False)[1]
        return (L, grads, tr) if return_trajectory else (L, grads)

    T, B, _ = x.shape
    ws = _workspace(((T, B, net.n_rec), net.dtype, net.n_out), ("states", "act", "Y", "Z", "P", "D"))
    tr = _trajectory(net, x, s0, nz, has, ws)
    L, delta = loss_and_delta(tr.outputs, tg, m, loss)
    if local and method == "trace":
        grads = _local_traces(net, tr, delta, F)
    else:
        if not local:
            F = np.ascontiguousarray(net.W_out.T)
        Z, g0 = backward(net, tr, delta, F, truncate=local, out=ws["Z"])
        grads = _grads_from_Z(net, tr, Z, delta, P=ws["P"])
        if return_h0:
            grads["h0"] = g0
    if return_trajectory:
        tr = Trajectory(tr.inputs, tr.states.copy(), tr.act.copy(), tr.outputs.copy(), tr.s0,
                        tr.prev0, act_is_rate=tr.act_is_rate)
        return L, grads, tr
    return L, grads
