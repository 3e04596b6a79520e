"""Real-time recurrent learning (Williams & Zipser 1989): the exact gradient, forward in time.

The batched driver behind ``localrnn.engine.gradient(rule="rtrl")``.  The per-step
recursion lives in :mod:`localrnn.kernels.rtrl` and is shared with the online
learner (:class:`localrnn.online.OnlineLearner` with ``rule="rtrl"``).

Influence matrix ``M_t = ds_t/dtheta`` (N x P, theta = (W, W_in, b), P = N^2 + N I + N):

current form (MODEL.md section 4)::

    M_t = J_t M_{t-1} + alpha E_t,           J_t = (1 - alpha) I + alpha W diag(phi'(h_{t-1}))
    dL/dtheta = sum_t c_t^T M_t,             c_t = phi'(h_t) * (W_out^T delta_t)

rate form (derived from MODEL.md section 1, not written there)::

    M_t = J_t M_{t-1} + alpha diag(phi'(u_t)) E_t,   J_t = (1 - alpha) I + alpha diag(phi'(u_t)) W
    dL/dtheta = sum_t c_t^T M_t,             c_t = W_out^T delta_t

where row i of the immediate term E_t holds the presynaptic activity (r_{t-1} or a_{t-1})
in the columns of W[i, :], x_t in those of W_in[i, :] and 1 in the column of b[i].
M_0 = 0 (the initial state does not depend on theta).  The readout gets its exact
gradient ``sum_t delta_t r_t^T`` (or ``a_t``) as in every rule.

Cost: O(N^2 P) = O(N^4) time per step and trial, 2 N P memory (one trial at a time).
The result equals BPTT's to rounding (tests hold it to 1e-10 relative in float64).
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ._threads import step_blas_limit
from .activations import kernel_code
from .kernels.rtrl import rtrl_trajectory
from .network import Network
from .trajectories import Trajectory, loss_and_delta, readout_gradient, run_trajectory


def rtrl_gradient(net: Network, x: np.ndarray, tg: np.ndarray, m: np.ndarray, loss: str,
                  s0: np.ndarray, nz: np.ndarray, has: bool
                  ) -> Tuple[float, Dict[str, np.ndarray], Trajectory]:
    """Loss, exact gradient and trajectory by RTRL, for arrays already checked.

    Parameters
    ----------
    net : Network
    x : (T, B, I) inputs, ``x[k]`` = x_{k+1}
    tg, m : targets and mask as returned by :func:`localrnn.trajectories.check_targets`
    loss : {"mse", "xent"}
    s0 : (B, N) initial state
    nz, has : noise array and whether it is used (:func:`localrnn.trajectories.check_noise`)

    Returns
    -------
    loss_value : float
    grads : dict with keys "W_in", "W", "b", "W_out", "b_out"
    tr : Trajectory

    Examples
    --------
    >>> from localrnn.engine import gradient
    >>> net = Network.init(1, 4, 1, seed=0)
    >>> x = np.ones((3, 2, 1)); y = np.zeros((3, 2, 1))
    >>> L1, g1 = gradient(net, x, y, rule="rtrl")
    >>> L2, g2 = gradient(net, x, y, rule="bptt")
    >>> bool(np.allclose(g1["W"], g2["W"], rtol=1e-12, atol=0))
    True
    """
    tr = run_trajectory(net, x, s0, nz, has)
    L, delta = loss_and_delta(tr.outputs, tg, m, loss)
    N, I = net.n_rec, net.n_in
    g = np.zeros(N * N + N * I + N, dtype=net.dtype)
    rate_form = net.form == "rate"
    with step_blas_limit():  # per-step GEMMs: see localrnn._threads
        rtrl_trajectory(delta, tr.states, tr.act, tr.s0, tr.prev0, tr.inputs, net.W, net.W_out,
                        net.alpha, kernel_code(net.activation, net.dtype), rate_form, g)
    grads = {
        "W_in": g[N * N:N * N + N * I].reshape(N, I).copy(),
        "W": g[:N * N].reshape(N, N).copy(),
        "b": g[N * N + N * I:].copy(),
    }
    grads.update(readout_gradient(delta, tr.presyn))
    return L, grads, tr
