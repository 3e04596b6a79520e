"""Forward dynamics of the leaky rate RNN, both forms (MODEL.md section 1).

Index convention: ``X[k]`` is the input x_{k+1}; ``S[k]`` is the state after step
k+1 (h_{k+1} or a_{k+1}); the initial state ``s0`` is h_0 (a_0).
"""
import numpy as np

from .._config import njit
from .common import RELU, TANH, TANH32, apply_phi, leak_coefs, phi, tanh32, tanh64, wide_vectors
from .gemm import STEP_TILE_MAX_N, gemm_nn, row_dot


#: Inputs up to this many channels are summed in the time loop (vectorised over
#: neurons, while the step's block is in cache); wider inputs get one BLAS call per step.
SMALL_INPUT = 8


@njit(inline="always")
def _drive_row(X, WinT, b, k, i, d, out):
    """out = W_in x_{k+1} + b for trial i: the input drive of one row.

    Few channels (I <= SMALL_INPUT): summed in channel order, ``x_0 w_0 + x_1 w_1 +
    ... + b`` (for I = 1 that is exactly the old one-term GEMM plus b).  More
    channels: ``d`` holds the step's BLAS product ``X[k] W_in^T`` and b is added.
    """
    I, N = WinT.shape
    if I == 0:
        for n in range(N):
            out[n] = b[n]
    elif I <= SMALL_INPUT:
        x0 = X[k, i, 0]
        for n in range(N):
            out[n] = x0 * WinT[0, n]
        for j in range(1, I):
            xj = X[k, i, j]
            for n in range(N):
                out[n] += xj * WinT[j, n]
        for n in range(N):
            out[n] += b[n]
    else:
        for n in range(N):
            out[n] = d[i, n] + b[n]


#: Input widths whose drive is summed inside the leak's loop (one loop per width, so
#: the width is a constant there); other widths build the drive row first.
INLINE_INPUTS = 3


@njit(inline="always")
def _h(Hk, hp, pre, X, WinT, b, drow, k, i, n, nin, keep, al):
    """h = (1-a) h_prev + a (W r_prev + W_in x + b) for unit n of trial i, stored in ``Hk``.

    ``nin`` is a literal at every call: 0..INLINE_INPUTS sums the drive here as
    ``((x_0 w_0 + x_1 w_1) + ...) + b``, the order of :func:`_drive_row`; -1 takes
    the row ``drow`` that :func:`_drive_row` wrote.
    """
    if nin == -1:
        dr = drow[n]
    elif nin == 0:
        dr = b[n]
    else:
        dr = X[k, i, 0] * WinT[0, n]
        if nin >= 2:
            dr += X[k, i, 1] * WinT[1, n]
        if nin >= 3:
            dr += X[k, i, 2] * WinT[2, n]
        dr += b[n]
    h = keep * hp[i, n] + al * (pre[i, n] + dr)
    Hk[i, n] = h
    return h


@njit(inline="always")
def _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, nin, act, keep, al):
    """One row of the current form: h (:func:`_h`) and r = phi(h) in one loop (``nin`` and
    ``act`` literals: TANH32, TANH, or -1 for h alone)."""
    N = pre.shape[1]
    if act == TANH32:
        for n in range(N):
            Rk[i, n] = tanh32(_h(Hk, hp, pre, X, WinT, b, drow, k, i, n, nin, keep, al))
    elif act == TANH:
        for n in range(N):
            Rk[i, n] = tanh64(_h(Hk, hp, pre, X, WinT, b, drow, k, i, n, nin, keep, al))
    else:
        for n in range(N):
            _h(Hk, hp, pre, X, WinT, b, drow, k, i, n, nin, keep, al)


@njit(inline="always")
def _step_rows(Hk, Rk, hp, pre, X, WinT, b, d, drow, noise, has_noise, k, keep, al, code):
    """All rows of step k: h_k and r_k = phi(h_k) (current form).

    Indexes the step's arrays directly, one loop per (input width, activation) with
    no branch inside: at N = 64 a view or a call per row, a drive row, or a runtime
    branch in the loop cost more than the row's arithmetic (forward pass of the Romo
    batch 0.49 -> 0.29 ms in float32).  Noise, other activations and wider inputs
    take two passes (h, then phi of the row while it is in L1).
    """
    B, N = pre.shape
    I = WinT.shape[0]
    fused = not has_noise and (code == TANH32 or code == TANH) and I <= INLINE_INPUTS
    for i in range(B):
        if fused:
            if code == TANH32:
                if I == 1:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 1, TANH32, keep, al)
                elif I == 0:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 0, TANH32, keep, al)
                elif I == 2:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 2, TANH32, keep, al)
                else:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 3, TANH32, keep, al)
            else:
                if I == 1:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 1, TANH, keep, al)
                elif I == 0:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 0, TANH, keep, al)
                elif I == 2:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 2, TANH, keep, al)
                else:
                    _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, 3, TANH, keep, al)
            continue
        _drive_row(X, WinT, b, k, i, d, drow)
        _row(Hk, Rk, hp, pre, X, WinT, b, drow, k, i, -1, -1, keep, al)
        if has_noise:
            for n in range(N):
                Hk[i, n] += noise[k, i, n]
        if code == TANH32:
            for n in range(N):
                Rk[i, n] = tanh32(Hk[i, n])
        elif code == TANH:
            for n in range(N):
                Rk[i, n] = tanh64(Hk[i, n])
        elif code == RELU:
            for n in range(N):
                Rk[i, n] = max(Hk[i, n], 0.0)
        else:
            for n in range(N):
                Rk[i, n] = phi(Hk[i, n], code)


@njit
def forward_current(X, W_in, b, W, alpha, code, h0, noise, has_noise, H, R):
    """Current form: h_k = (1-a) h_{k-1} + a (W r_{k-1} + W_in x_k + b) + noise_k.

    Writes the rates ``R`` (T + 1, B, N): ``R[0] = r_0 = phi(h_0)``, ``R[k] = phi(h_k)``,
    and the states ``H``.  ``H`` is (T, B, N) to keep every state, or (2, B, N) to keep only the last two
    (h_k goes to ``H[k % len(H)]``): a gradient whose phi' comes from the rates
    needs no state history, and not writing it saves a (T, B, N) stream out of cache.
    One pass per step: the recurrent GEMM, then per trial the input drive, the
    leak and phi of the row while it is in L1 (no (T, B, N) drive array).
    """
    wide_vectors()
    T, B, I = X.shape
    N = W.shape[0]
    nH = H.shape[0]
    WinT = np.ascontiguousarray(W_in.T)
    apply_phi(h0, code, R[0])
    pre = np.empty((B, N), dtype=W.dtype)
    d = np.empty((B, N), dtype=W.dtype)
    drow = np.empty(N, dtype=W.dtype)
    al, keep = leak_coefs(alpha, W)
    tiled = N <= STEP_TILE_MAX_N
    WT = np.ascontiguousarray(W.T) if tiled else np.empty((0, 0), dtype=W.dtype)
    for k in range(T):
        rp = R[k]
        hp = h0 if k == 0 else H[(k - 1) % nH]
        if tiled:
            gemm_nn(rp, WT, pre)
        else:
            np.dot(rp, W.T, pre)
        if I > SMALL_INPUT:
            np.dot(X[k], W_in.T, d)
        Hk = H[k % nH]
        Rk = R[k + 1]
        _step_rows(Hk, Rk, hp, pre, X, WinT, b, d, drow, noise, has_noise, k, keep, al, code)


@njit
def forward_rate(X, W_in, b, W, alpha, code, a0, noise, has_noise, A, U):
    """Rate form: u_k = W a_{k-1} + W_in x_k + b;  a_k = (1-a) a_{k-1} + a phi(u_k) + noise_k.

    Writes the states ``A`` (T + 1, B, N): ``A[0] = a_0``, ``A[k] = a_k``, and the
    pre-activations ``U`` (T, B, N).  Per row: u, then a in one branch-free loop per
    activation, then the noise (no per-row views).  Step products register-tiled for
    N <= STEP_TILE_MAX_N (kernels/gemm.py), BLAS above.
    """
    wide_vectors()
    T, B, I = X.shape
    N = W.shape[0]
    WinT = np.ascontiguousarray(W_in.T)
    d = np.empty((B, N), dtype=W.dtype)
    drow = np.empty(N, dtype=W.dtype)
    al, keep = leak_coefs(alpha, W)
    tiled = N <= STEP_TILE_MAX_N
    WT = np.ascontiguousarray(W.T) if tiled else np.empty((0, 0), dtype=W.dtype)
    A[0] = a0
    for k in range(T):
        Uk = U[k]
        ap = A[k]
        if tiled:
            gemm_nn(ap, WT, Uk)
        else:
            np.dot(ap, W.T, Uk)
        if I > SMALL_INPUT:
            np.dot(X[k], W_in.T, d)
        Ak = A[k + 1]
        for i in range(B):
            _drive_row(X, WinT, b, k, i, d, drow)
            for n in range(N):
                Uk[i, n] = Uk[i, n] + drow[n]
            if code == TANH32:
                for n in range(N):
                    Ak[i, n] = keep * ap[i, n] + al * tanh32(Uk[i, n])
            elif code == TANH:
                for n in range(N):
                    Ak[i, n] = keep * ap[i, n] + al * tanh64(Uk[i, n])
            else:
                for n in range(N):
                    Ak[i, n] = keep * ap[i, n] + al * phi(Uk[i, n], code)
            if has_noise:
                for n in range(N):
                    Ak[i, n] += noise[k, i, n]


@njit
def readout(S, W_out, b_out, Y):
    """Y[k] = S[k] @ W_out^T + b_out for S (T, B, N), W_out (O, N) C-contiguous.

    O (the outputs) is small: each of the T*B*O entries is one :func:`row_dot`
    (kernels/gemm.py: vectorised over N in an order fixed by its definition), plus
    b_out; a BLAS GEMM with O columns packs all of S for two outputs.
    """
    wide_vectors()
    T, B, N = S.shape
    O = W_out.shape[0]
    S2 = S.reshape(T * B, N)
    Y2 = Y.reshape(T * B, O)
    for r in range(T * B):
        for o in range(O):
            Y2[r, o] = row_dot(S2, r, W_out, o) + b_out[o]
