"""Forward pass, losses and batched gradients: the drivers around the kernels.

Every public function here validates its arguments (``ValueError`` naming the bad
value), converts arrays to C-contiguous arrays of the network's dtype, allocates
outputs, and calls Numba kernels that do the loops over time and trials.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

import numpy as np

from ._threads import step_blas_limit
from ._validate import check_array, check_choice, check_number
from .activations import dphi_needs_state, kernel_code
from .kernels import backward as _bw
from .kernels import gradient as _gr
from .kernels import traces as _tr
from .names import LOCAL_RULES, LOSSES, RULES, TRUNCATIONS  # noqa: F401  (RULES: re-exported)
from .network import Network, feedback_matrix
from .rtrl import rtrl_gradient
# Re-exported: these lived here before localrnn.trajectories was their home.
from .trajectories import (Trajectory, check_inputs, check_noise, check_state0,  # noqa: F401
                         check_targets, loss_and_delta, readout_gradient, run_trajectory,
                         trajectory)
METHODS = ("gemm", "trace")


# --------------------------------------------------------------------------- workspace

_WS = threading.local()


def _workspace(key, names) -> Dict[str, np.ndarray]:
    """Reusable buffers for :func:`gradient`, one set per thread and shape: (T + 1, B, N)
    for ``"states"`` and ``"act"`` (the forward pass writes the presynaptic history
    after its initial row, :attr:`Trajectory.history`), (T, B, O) for ``"Y"`` and
    ``"delta"``, (T, B, N) for the rest.

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
        (T, B, N), dtype, O = key
        shapes = {"states": (T + 1, B, N), "act": (T + 1, B, N), "Y": (T, B, O), "delta": (T, B, O)}
        bufs = cache[key] = {n: np.empty(shapes.get(n, (T, B, N)), dtype=dtype) for n in names}
    return bufs


# --------------------------------------------------------------------------- forward

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

def _grads_from_drive(net: Network, tr: Trajectory, G: np.ndarray, sums) -> Dict[str, np.ndarray]:
    """The five gradients from ``G_k = dL/d(recurrent drive at step k)`` (T, B, N) and
    the sums the backward kernel made while each row was in cache (``sums``: dL/db,
    (dL/dW_in)^T, dL/dW_out, dL/db_out, see :func:`backward`).

    ``dL/dW = sum_k G_k^T P_k`` with ``P_k`` = r_{k-1} (a_{k-1}): one product over the
    T*B rows of G and of the trajectory's history (a view, no shifted copy), through
    ``kernels.backward.weight_grad`` (register-tiled at small N, BLAS above).
    """
    T, B, N = G.shape
    gb, gWinT, gWout, gbout = sums
    gW = np.empty((N, N), dtype=G.dtype)
    _bw.weight_grad(G.reshape(T * B, N), tr.prev_rows(), gW)
    return {"W_in": np.ascontiguousarray(gWinT.T), "W": gW, "b": gb, "W_out": gWout, "b_out": gbout}


#: ``truncate`` codes of the backward kernels (:mod:`localrnn.kernels.backward`)
EXACT_CODE = 0
TRUNCATE_CODE = {"recurrent": 1, "state": 2}


def backward(net: Network, tr: Trajectory, delta: np.ndarray, F: np.ndarray, truncate: int,
             out=None, want_g0: bool = True):
    """``(G, dL/ds_0, sums)``: G (T, B, N) the gradient with respect to the recurrent
    drive at each step (the kernels' ``Z``, see :mod:`localrnn.kernels.backward`), the
    initial state's gradient (None unless ``want_g0``: it costs one more step GEMM)
    and the sums made in the same pass, ``(dL/db, (dL/dW_in)^T, dL/dW_out, dL/db_out)``
    (the readout's exact gradient, whatever the rule).  ``truncate``: :data:`EXACT_CODE`
    (BPTT) or a value of :data:`TRUNCATE_CODE`."""
    code = kernel_code(net.activation, net.dtype)
    G = np.empty_like(tr.presyn) if out is None else out
    g0 = np.empty_like(tr.s0) if want_g0 else np.empty((0, 0), dtype=net.dtype)
    N, I, O = net.n_rec, net.n_in, net.n_out
    sums = (np.empty(N, dtype=net.dtype), np.empty((I, N), dtype=net.dtype),
            np.empty((O, N), dtype=net.dtype), np.empty(O, dtype=net.dtype))
    FT = np.ascontiguousarray(F.T)
    with step_blas_limit():
        if net.form == "current":
            if tr.states is None and dphi_needs_state(net.activation):
                raise ValueError(f"activation={net.activation!r}: phi' needs the states h_k, "
                                 "and this trajectory did not keep them (keep_states=False)")
            # without states (phi' from the rates) the kernel never reads H: pass the rates
            H = tr.states if tr.states is not None else tr.rates
            _bw.backward_current(delta, H, tr.rates, tr.s0, tr.inputs, net.W, FT, net.alpha, code,
                                 int(truncate), want_g0, G, g0, *sums)
        else:
            _bw.backward_rate(delta, tr.preacts, tr.states, tr.inputs, net.W, FT, net.alpha, code,
                              int(truncate), want_g0, G, g0, *sums)
    return G, (g0 if want_g0 else None), sums


def _local_traces(net: Network, tr: Trajectory, delta: np.ndarray, F: np.ndarray):
    code = kernel_code(net.activation, net.dtype)
    N, I = net.n_rec, net.n_in
    gW = np.zeros((N, N), dtype=net.dtype)
    gW_in = np.zeros((N, I), dtype=net.dtype)
    gb = np.zeros(N, dtype=net.dtype)
    FT = np.ascontiguousarray(F.T)
    if net.form == "current":
        _tr.traces_current(delta, tr.states, tr.rates, tr.prev0, tr.inputs, FT, net.alpha, code,
                           gW, gW_in, gb)
    else:
        _tr.traces_rate(delta, tr.preacts, tr.states, tr.prev0, tr.inputs, FT, net.alpha, code,
                        gW, gW_in, gb)
    grads = {"W_in": gW_in, "W": gW, "b": gb}
    grads.update(readout_gradient(delta, tr.presyn))
    return grads


def gradient(net: Network, inputs, targets, mask=None, loss: str = "mse", rule: str = "bptt",
             feedback=None, seed: int = 0, h0=None, noise=None, method: str = "gemm",
             return_h0: bool = False, return_trajectory: bool = False,
             truncation: str = "recurrent"):
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
    truncation : {"recurrent", "state"}
        What the local rules drop (:data:`localrnn.names.TRUNCATIONS`): the recurrent
        term of the Jacobian (e-prop, RFLO: the default), or the whole previous state
        (``"state"``: each step's own gradient, the one-step reading of a
        ``h.detach()`` implementation; ``method="gemm"`` only).  The exact rules take
        only the default.

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
    check_choice("truncation", truncation, TRUNCATIONS)
    if truncation != "recurrent":
        if rule not in LOCAL_RULES:
            raise ValueError(f"truncation={truncation!r} is only for the local rules (eprop, rflo); "
                             f"rule={rule!r} is exact")
        if method != "gemm":
            raise ValueError(f"truncation={truncation!r} is computed by method='gemm', not "
                             f"method={method!r}")
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    tg, m = check_targets(net, targets, mask, loss, T, B)
    s0 = check_state0(net, h0, B)
    nz, has = check_noise(net, noise, T, B)
    local = rule in LOCAL_RULES
    if local:
        F = feedback_matrix(net, feedback, rule, seed)
    elif feedback is not None and not (isinstance(feedback, str) and feedback == "symmetric"):
        raise ValueError(f"feedback={feedback!r} is only for the local rules (eprop, rflo); "
                         f"rule={rule!r} is exact and uses W_out^T")
    if return_h0 and local:
        raise ValueError(f"return_h0=True is only for the exact rules (bptt, rtrl), not rule={rule!r}")
    with step_blas_limit():
        return _gradient(net, x, tg, m, loss, rule, local, F if local else None, s0, nz, has,
                         method, return_h0, return_trajectory, truncation)


_NO_NOISE = {}
_EMPTY = {}
#: the gradient drivers' workspace buffers (:func:`_workspace`)
_WS_NAMES = ("states", "act", "Y", "delta", "G")


def _empty_targets(dt):
    """Placeholders for the loss's unused pair in :func:`kernels.gradient.batch_gradient`:
    (0, 0, 0) and (0, 0) arrays of ``dt`` and a (0, 0) int64 array, made once per dtype."""
    e = _EMPTY.get(dt)
    if e is None:
        e = _EMPTY[dt] = (np.zeros((0, 0, 0), dtype=dt), np.zeros((0, 0), dtype=dt),
                          np.zeros((0, 0), dtype=np.int64))
    return e


def own_gradient(net: Network, inputs, targets, mask, loss: str, rule: str, F, h0=None,
                 truncation: str = "recurrent"):
    """``(loss, grads)`` as :func:`gradient` (``method="gemm"``, no noise), for arrays
    the package itself just made: a training batch drawn by the run's task, the
    learner's own ``F`` (the (N, O) feedback array of a local rule, None for an exact
    one) and ``h0`` (None or (B, N)/(N,) of the task's).

    :func:`gradient`'s own conversions (``check_targets``/``check_state0`` with
    ``trusted=True``: C-contiguous arrays of the network's dtype, a (T, B) mse mask
    broadcast over the outputs, int64 labels), so the same arrays and the same
    numbers, without the checks: no shape, finiteness or choice checks (a training
    iteration paid ~30-50 us for them).  BPTT, e-prop and RFLO then run as one compiled
    call (:func:`localrnn.kernels.gradient.batch_gradient`: :func:`_gradient`'s kernels
    in its order on its workspace, without the Python between them); RTRL through
    :func:`_gradient`.  Only :class:`localrnn.Trainer`'s iterations call it
    (``BatchLearner._learn_own``); everything public goes through :func:`gradient`.
    """
    dt = net.dtype
    x = np.ascontiguousarray(inputs, dtype=dt)
    T, B, _ = x.shape
    tg, m = check_targets(net, targets, mask, loss, T, B, trusted=True)
    s0 = check_state0(net, h0, B, trusted=True)
    local = F is not None
    if rule == "rtrl":
        nz = _NO_NOISE.get(dt)
        if nz is None:
            nz = _NO_NOISE[dt] = np.zeros((0, 0, 0), dtype=dt)
        with step_blas_limit():
            return _gradient(net, x, tg, m, loss, rule, local, F, s0, nz, False, "gemm", False,
                             False, truncation)
    # one compiled call: the kernels _gradient calls, in its order, on its buffers
    ws = _workspace(((T, B, net.n_rec), dt, net.n_out), _WS_NAMES)
    e3, e2, e_lab = _empty_targets(dt)
    xent = loss != "mse"
    with step_blas_limit():
        L, gWin, gW, gb, gWout, gbout = _gr.batch_gradient(
            x, net.W_in, net.b, net.W, net.alpha, kernel_code(net.activation, dt), s0,
            net.W_out, net.b_out, net.form == "rate", dphi_needs_state(net.activation), xent,
            e3 if xent else tg, tg if xent else e_lab, e3 if xent else m, m if xent else e2,
            net.W_out if F is None else F, F is None,
            TRUNCATE_CODE[truncation] if local else EXACT_CODE,
            ws["states"], ws["act"], ws["Y"], ws["delta"], ws["G"])
    return float(L), {"W_in": gWin, "W": gW, "b": gb, "W_out": gWout, "b_out": gbout}


def _gradient(net, x, tg, m, loss, rule, local, F, s0, nz, has, method, return_h0,
              return_trajectory, truncation="recurrent"):
    if rule == "rtrl":
        L, grads, tr = rtrl_gradient(net, x, tg, m, loss, s0, nz, has)
        if return_h0:
            # RTRL's sensitivities do not carry h_0; the adjoint gives it exactly.
            _, delta = loss_and_delta(tr.outputs, tg, m, loss)
            grads["h0"] = backward(net, tr, delta, np.ascontiguousarray(net.W_out.T), EXACT_CODE)[1]
        return (L, grads, tr) if return_trajectory else (L, grads)

    T, B, _ = x.shape
    ws = _workspace(((T, B, net.n_rec), net.dtype, net.n_out), _WS_NAMES)
    # the states h_k are needed by the trace method, a returned trajectory and a phi'
    # that does not come from the rates; otherwise only the rates are kept
    keep = return_trajectory or method == "trace" or dphi_needs_state(net.activation)
    tr = run_trajectory(net, x, s0, nz, has, ws, keep_states=keep)
    L, delta = loss_and_delta(tr.outputs, tg, m, loss, out=ws["delta"])
    if local and method == "trace":
        grads = _local_traces(net, tr, delta, F)
    else:
        if not local:
            F = np.ascontiguousarray(net.W_out.T)
        code = TRUNCATE_CODE[truncation] if local else EXACT_CODE
        G, g0, sums = backward(net, tr, delta, F, truncate=code, out=ws["G"], want_g0=return_h0)
        grads = _grads_from_drive(net, tr, G, sums)
        if return_h0:
            grads["h0"] = g0
    if return_trajectory:
        return L, grads, tr.copy()
    return L, grads
