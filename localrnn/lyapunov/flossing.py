"""Gradient flossing (MODEL.md section 7): the gradient of ``sum_i (lambda_i - target)^2``.

Local (Liu et al. 2024) and exact (Engelken 2023) gradients of the flossing loss
through the QR chain of :mod:`localrnn.lyapunov.spectrum`, and :func:`floss`, Adam
pretraining on W with :class:`localrnn.optim.Adam`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .._threads import step_blas_limit
from .._validate import check_number
from ..activations import activation_code
from ..kernels import lyapunov as _ly
from ..network import Network
from ..optim import Adam
from ..trajectories import check_inputs, check_noise, check_state0, run_trajectory
from .spectrum import (as_float64, check_k, check_q0, check_warmup, jacobian_args,
                       run_qr_chain)

__all__ = ["flossing_gradient", "FlossResult", "floss"]


# --------------------------------------------------------------------------- flossing

def _flossing(net: Network, x: np.ndarray, s0: np.ndarray, nz, has, k: int, local: bool,
              target: float, warm: int, Qt: np.ndarray, keep_q: bool = False):
    """(L, grads, lambda (k,) trial average in QR-column order); ``Qt`` is Q_0^T (B, k, N).

    ``keep_q`` (local only): differentiate through the QR chain's Q_{t-1} as the exact
    gradient does, holding only the state fixed."""
    T, B, N = x.shape[0], x.shape[1], net.n_rec
    tr = run_trajectory(net, x, s0, nz, has)
    X, Y = jacobian_args(net, tr)
    n = T - warm
    if local and not keep_q:
        logsum = run_qr_chain(net, X, Y, Qt.copy(), warm, 1, mode=0)[0]
    else:
        logsum, _, Qs, Rs = run_qr_chain(net, X, Y, Qt, warm, 1, mode=2)
    lam = logsum.mean(axis=0) / n
    L = float(np.sum((lam - target) ** 2))
    c = 2.0 * (lam - target) / (B * n)          # dL / d log R_t[i, i], every counted t, b
    if local and not keep_q:
        # second pass along the same QR chain, now that c is known (memory O(B k N))
        return L, {"W": run_qr_chain(net, X, Y, Qt, warm, 1, mode=1, c=c)[1]}, lam
    code = activation_code(net.activation)
    GW = np.zeros((N, N), dtype=net.dtype)
    SRC = np.empty_like(tr.states)
    G = np.empty_like(tr.states)    # dL/d(recurrent drive) at each step, as in engine.backward
    with step_blas_limit():
        _ly.lyap_backward(X, Y, net.W, net.alpha, net.form == "current", code, Qs, Rs,
                          np.ascontiguousarray(c, dtype=net.dtype), warm, GW, SRC)
        if local:   # keep_q: W's explicit part through the QR chain, the state held fixed
            return L, {"W": GW}, lam
        if net.form == "current":
            _ly.adjoint_current(SRC, X, Y, net.W, net.alpha, code, G)
        else:
            _ly.adjoint_rate(SRC, tr.preacts, net.W, net.alpha, code, G)
        # one-shot GEMMs over T*B rows, also with the step thread count: with two
        # BLAS threads on a loaded 2-core machine this product took 27 ms instead of 2.4
        G2 = G.reshape(T * B, N)
        GW += G2.T @ tr.prev().reshape(T * B, N)
        grads = {"W": GW, "W_in": G2.T @ x.reshape(T * B, net.n_in), "b": G2.sum(axis=0)}
    return L, grads, lam


def flossing_gradient(net: Network, inputs, k: int, local: bool = True, target: float = 0.0,
                      warmup: Optional[int] = None, q0=None, seed: int = 0, h0=None,
                      noise=None, keep_q: bool = False) -> Tuple[float, Dict[str, np.ndarray]]:
    """The flossing loss and its gradient, local or exact (MODEL.md section 7).

    ``L_floss = sum_i (lambda_i - target)^2`` over the first k exponents, with
    lambda_i the per-step exponents of :func:`lyapunov_spectrum` (QR every step)
    averaged over the trials (Engelken 2023, gradient flossing).

    **Local** (``local=True``; Liu et al. 2024): the state and Q_{t-1} are held
    constant at each step, so only J_t's explicit dependence on W is differentiated.
    From ``d log R_ii = [Q_t^T dA R_t^{-1}]_ii`` with ``A = J_t Q_{t-1}``,

        current form:  d log R_t[i,i] / dW = alpha q_{t,i} (phi'(h_{t-1}) * v_{t,i})^T
        rate form:     d log R_t[i,i] / dW = alpha (phi'(u_t) * q_{t,i}) v_{t,i}^T
        v_{t,i} = column i of Q_{t-1} R_t^{-1};
        dL/dW = sum_i 2 (lambda_i - target) / (B (T - T_warm)) sum_{b, t > T_warm} d log R_t[i,i] / dW

    Each term is a product of a postsynaptic and a presynaptic factor at the synapse.
    Only W enters J, so the local gradient has only ``"W"``.  It costs two passes
    along the QR chain (the exponents first, then the gradient) and O(B k N) memory.

    **Local, Q not held** (``local=True, keep_q=True``): the state is held constant at
    each step but Q_{t-1} is not, so the derivative runs back through the QR chain as
    the exact one does (below) and stops at the state: keys ``"W"`` only.  The paper's
    method section says the state is detached; whether Q_{t-1} is too it does not say,
    so this is the other reading, for a bracket.

    **Exact** (``local=False``): the full derivative through the QR chain (including
    the warm-up steps) and through the trajectory, by reverse mode: the QR backward
    formula ``Abar = (Qbar + Q copyltu(R Rbar^T - Qbar^T Q)) R^{-T}`` (Walter &
    Lehmann 2018; thin QR, k <= N), then ``Qbar_{t-1} = J_t^T Abar``, and the
    derivative with respect to phi'(h_{t-1}) (phi'(u_t)), which feeds a BPTT pass of
    the trajectory.  W_in and b move the trajectory, hence J, so their exact
    gradients are returned too: keys ``"W", "W_in", "b"``.  Memory O(T B k N) (every
    Q_t is kept).

    Parameters
    ----------
    net : Network
    inputs : (T, B, I) array
    k : int
        Number of exponents flossed, 1 <= k <= N.
    local : bool
        Local (default) or exact gradient.
    target : float
        The value the exponents are driven to (0: the edge of chaos).
    warmup, q0, seed, h0, noise
        As in :func:`lyapunov_spectrum` (the QR is done every step).
    keep_q : bool
        With ``local=True``: do not hold Q_{t-1} fixed (see above).

    Returns
    -------
    L_floss : float
    grads : dict
        ``{"W"}`` (local) or ``{"W", "W_in", "b"}`` (exact), shapes of the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from localrnn import Network
    >>> net = Network.init(1, 16, 1, gain=0.5, alpha=0.5)
    >>> L, g = flossing_gradient(net, np.zeros((40, 2, 1)), k=2)
    >>> sorted(g), g["W"].shape
    (['W'], (16, 16))
    """
    _check_mode(local, keep_q)
    net = as_float64(net)
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    k = check_k(net, k)
    warm = check_warmup(warmup, T)
    target = check_number("target", target)
    s0 = check_state0(net, h0, B)
    nz, has = check_noise(net, noise, T, B)
    Qt = check_q0(net, q0, k, B, seed)
    L, grads, _ = _flossing(net, x, s0, nz, has, k, bool(local), target, warm, Qt, bool(keep_q))
    return L, grads


def _check_mode(local, keep_q) -> None:
    if not isinstance(local, (bool, np.bool_)):
        raise ValueError(f"local={local!r} must be True or False")
    if not isinstance(keep_q, (bool, np.bool_)):
        raise ValueError(f"keep_q={keep_q!r} must be True or False")
    if keep_q and not local:
        raise ValueError("keep_q=True is a variant of the local gradient; the exact one (local=False) "
                         "never holds Q fixed")


@dataclass
class FlossResult:
    """History of flossing pretraining (:func:`floss`).

    Attributes
    ----------
    exponents : (iters + 1, k) array
        Row i: the exponents (per step, sorted descending, trial average) of the
        network before update i; the last row after the last update.
    loss : (iters + 1,) array
        ``L_floss`` for each row of ``exponents``.
    k, local, target, lr
        The settings used.
    """

    exponents: np.ndarray
    loss: np.ndarray
    k: int
    local: bool
    target: float
    lr: float

    @property
    def lambda_max(self) -> np.ndarray:
        """(iters + 1,) the largest exponent along the run."""
        return self.exponents[:, 0]


def _batch_source(net: Network, task, batch_size: int, rng):
    """A function returning (inputs, h0) for one flossing iteration."""
    if hasattr(task, "batch"):
        def draw():
            inputs = task.batch(batch_size, rng).inputs
            h0 = task.h0(inputs.shape[1], net.n_rec) if hasattr(task, "h0") else None
            return check_inputs(net, inputs), h0
        return draw
    x = check_inputs(net, task)
    return lambda: (x, None)


def floss(net: Network, task, iters: int = 100, k: int = 1, lr: Optional[float] = None,
          local: bool = True, target: float = 0.0, batch_size: int = 16,
          warmup: Optional[int] = None, seed: int = 0,
          callback: Optional[Callable[[int, np.ndarray, float], None]] = None,
          keep_q: bool = False) -> FlossResult:
    """Gradient-flossing pretraining: Adam on ``L_floss`` over W (Engelken 2023; Liu et al. 2024).

    Each iteration draws a batch of trials, computes :func:`flossing_gradient` and
    takes one Adam step on ``net.W`` (in place; the other parameters are left alone,
    as in the papers' pretraining).  Liu et al. (2024) used 100 iterations with the
    local gradient before training with e-prop.

    Parameters
    ----------
    net : Network
        Modified in place.
    task : Task or (T, B, I) array
        A :mod:`localrnn.tasks` task (``task.batch(batch_size, rng).inputs`` and its
        initial state ``task.h0``), or fixed inputs used at every iteration.
    iters : int
        Adam steps (paper: 100).
    k : int
        Exponents flossed (default 1: lambda_max only).
    lr : float, optional
        Adam learning rate; default ``0.01 / N``.  Adam moves every entry of W by
        about ``lr`` per step while the entries are ~g / sqrt(N), so a coherent step
        changes the spectral norm of W by ~``lr * N``: the default keeps that ~1% per
        iteration.  How far 100 iterations move lambda_max depends on k: from g = 0.5
        on the Romo task (batches of 8, seed 0) the default rate brought lambda_max
        from -0.33 to -0.02 with k = 1 (this function's default; N = 32, local), but
        only from -0.35 to -0.23 with k = 10 (the training runs' default ``floss_k``:
        the loss then also pulls the nine other exponents to 0); the study chooses
        its flossing rate by a search (docs/reproduction).  Much
        larger steps overshoot with the local gradient: at lr = 1e-3 and N = 32 it
        reached lambda_max ~ 0 by iteration 30, then kept growing W (it cannot see
        that the larger state saturates phi', which lowers the exponents) and ended
        at -0.40; the exact gradient stayed at 0.
    local : bool
        Local (Liu et al. 2024) or exact (Engelken 2023) gradient.
    target : float
        Value the exponents are driven to.
    keep_q : bool
        The local gradient without holding Q_{t-1} fixed (:func:`flossing_gradient`).
    batch_size : int
        Trials per iteration when ``task`` is a task.
    warmup : int, optional
        As in :func:`lyapunov_spectrum`.
    seed : int
        Seeds the batches (``default_rng(seed)``) and the random Q_0 (the same Q_0
        at every iteration).
    callback : callable, optional
        ``callback(i, exponents, loss)`` after each iteration's gradient (i from 0).

    Returns
    -------
    FlossResult
        The exponent history, one row per iteration plus the final network.

    Examples
    --------
    >>> import numpy as np
    >>> from localrnn import Network
    >>> net = Network.init(1, 16, 1, gain=0.5, alpha=0.5, seed=0)
    >>> hist = floss(net, np.zeros((40, 2, 1)), iters=5, k=1, lr=1e-2)
    >>> hist.exponents.shape
    (6, 1)
    """
    iters = check_number("iters", iters, lo=1, integer=True)
    k = check_k(net, k)
    lr = 0.01 / net.n_rec if lr is None else check_number("lr", lr, lo=0.0, lo_open=True)
    _check_mode(local, keep_q)
    target = check_number("target", target)
    batch_size = check_number("batch_size", batch_size, lo=1, integer=True)
    check_number("seed", seed, lo=0, integer=True)
    rng = np.random.default_rng(seed)
    draw = _batch_source(as_float64(net), task, batch_size, rng)
    opt = Adam({"W": net.W}, lr=lr)
    Q0t = None
    hist, losses = [], []
    for i in range(iters + 1):
        net64 = as_float64(net)  # the current weights (a float64 copy for a float32 net)
        x, h0 = draw()
        T, B, _ = x.shape
        warm = check_warmup(warmup, T)
        if Q0t is None or Q0t.shape[0] != B:
            Q0t = check_q0(net64, None, k, B, seed)
        s0 = check_state0(net64, h0, B)
        nz, has = check_noise(net64, None, T, B)
        if i == iters:   # the final network: exponents only
            X, Y = jacobian_args(net64, run_trajectory(net64, x, s0, nz, has))
            lam = run_qr_chain(net64, X, Y, Q0t.copy(), warm, 1, mode=0)[0].mean(axis=0) / (T - warm)
            L = float(np.sum((lam - target) ** 2))
        else:
            L, grads, lam = _flossing(net64, x, s0, nz, has, k, bool(local), target, warm,
                                      Q0t.copy(), bool(keep_q))
        lam_sorted = np.sort(lam)[::-1]
        hist.append(lam_sorted)
        losses.append(L)
        if i == iters:
            break
        if callback is not None:
            callback(i, lam_sorted, L)
        opt.step({"W": grads["W"]})
    return FlossResult(exponents=np.array(hist), loss=np.array(losses), k=k, local=bool(local),
                       target=target, lr=lr)
