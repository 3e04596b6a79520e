"""A whole batched gradient (BPTT, or e-prop/RFLO's offline filter) in one compiled call.

:func:`batch_gradient` calls the same kernels in the same order as the drivers of
:mod:`localrnn.engine` (``run_trajectory``, ``loss_and_delta``, ``backward``,
``_grads_from_drive``), on the same arrays, so it gives the same numbers bit for bit.
What it saves is the Python between them: at N = 64 (Romo, B = 32, float32) the
drivers' conversions, views, buffers and result dict cost ~50 us of a ~620 us
gradient, about the cost of the whole backward kernel.  Only the training loop's own
batches come here (:func:`localrnn.engine.own_gradient`); every public function keeps
its checked path.
"""
import numpy as np

from .._config import njit
from .backward import backward_current, backward_rate, weight_grad
from .forward import forward_current, forward_rate
from .loss import loss_mse, loss_xent


@njit
def batch_gradient(X, W_in, b, W, alpha, code, s0, W_out, b_out, rate_form, keep_states,
                   xent, targets, labels, mask3, mask2, F, symmetric, truncate,
                   states, act, Y, DELTA, G):
    """``(loss, dL/dW_in, dL/dW, dL/db, dL/dW_out, dL/db_out)`` of one batch, no noise.

    ``X`` (T, B, I) the inputs; ``s0`` (B, N) the initial state; ``rate_form`` picks
    the form, ``keep_states`` (current form) whether the states h_k are kept (a phi'
    that needs them); ``xent`` picks the loss: ``targets``/``mask3`` (T, B, O) for
    MSE, ``labels`` (T, B) int64 and ``mask2`` (T, B) for cross-entropy (the other
    pair is unused).  ``F`` (N, O) the learning signal's matrix, or with ``symmetric``
    W_out^T (BPTT, symmetric e-prop); ``truncate`` the backward kernels' code.
    ``states``, ``act`` (T + 1, B, N), ``Y``, ``DELTA`` (T, B, O) and ``G`` (T, B, N):
    the driver's workspace (:func:`localrnn.engine._workspace`), overwritten.
    """
    T, B, _ = X.shape
    N = W.shape[0]
    I = W_in.shape[1]
    O = W_out.shape[0]
    dt = W.dtype
    gb = np.empty(N, dtype=dt)
    gWinT = np.empty((I, N), dtype=dt)
    gWout = np.empty((O, N), dtype=dt)
    gbout = np.empty(O, dtype=dt)
    gW = np.empty((N, N), dtype=dt)
    nz = np.zeros((0, 0, 0), dtype=dt)
    g0 = np.empty((0, 0), dtype=dt)
    FT = np.ascontiguousarray(W_out) if symmetric else np.ascontiguousarray(F.T)
    if rate_form:
        forward_rate(X, W_in, b, W, alpha, code, s0, nz, False, states, act[:T], W_out, b_out, Y)
    elif keep_states:
        forward_current(X, W_in, b, W, alpha, code, s0, nz, False, states[:T], act, W_out, b_out, Y)
    else:
        forward_current(X, W_in, b, W, alpha, code, s0, nz, False, states[:2], act, W_out, b_out, Y)
    if xent:
        L = loss_xent(Y, labels, mask2, DELTA)
    else:
        L = loss_mse(Y, targets, mask3, DELTA)
    if rate_form:
        backward_rate(DELTA, act[:T], states[1:], X, W, FT, alpha, code, truncate, False, G, g0,
                      gb, gWinT, gWout, gbout)
        P = states[:T]
    else:
        H = states[:T] if keep_states else act[1:]
        backward_current(DELTA, H, act[1:], s0, X, W, FT, alpha, code, truncate, False, G, g0,
                         gb, gWinT, gWout, gbout)
        P = act[:T]
    weight_grad(G.reshape(T * B, N), P.reshape(T * B, N), gW)
    return L, np.ascontiguousarray(gWinT.T), gW, gb, gWout, gbout
