"""Forward dynamics of the leaky rate RNN, both forms (MODEL.md section 1).

Index convention: ``X[k]`` is the input x_{k+1}; ``S[k]`` is the state after step
k+1 (h_{k+1} or a_{k+1}); the initial state ``s0`` is h_0 (a_0).
"""
import numpy as np
from numba import float32

from .._config import njit
from .common import (RELU, TANH, TANH32, apply_phi, leak_coefs, phi, tanh32, tanh32_finish, tanh32_reduce,
                     tanh64, tanh64_finish, tanh64_reduce, wide_vectors)
from .gemm import DOT_ROWS, gemm_nn, row_dot, row_dots, step_tiled


@njit
def _extended_inputs(X, W_in, b):
    """(Xe, WinTe): the inputs with a constant-1 channel appended, (T, B, I + 1), and
    [W_in^T; b], (I + 1, N): the drive W_in x_k + b of a whole step is then one small
    product ``Xe[k] @ WinTe`` (:func:`localrnn.kernels.gemm.gemm_nn`).  Its sum runs
    over the channels in order, one multiply-add each, then adds b: for one input
    channel exactly ``x_0 w_0 + b``, as a separate multiply and add."""
    T, B, I = X.shape
    N = b.shape[0]
    Xe = np.empty((T, B, I + 1), dtype=b.dtype)
    for k in range(T):
        for i in range(B):
            for j in range(I):
                Xe[k, i, j] = X[k, i, j]
            Xe[k, i, I] = 1.0
    WinTe = np.empty((I + 1, N), dtype=b.dtype)
    for j in range(I):
        for n in range(N):
            WinTe[j, n] = W_in[n, j]
    for n in range(N):
        WinTe[I, n] = b[n]
    return Xe, WinTe


@njit(inline="always")
def _apply_phi_flat(x, code, out):
    """out = phi(x) for 1-D arrays, one branch-free loop per activation."""
    if code == TANH32:
        for m in range(x.shape[0]):
            out[m] = tanh32(x[m])
    elif code == TANH:
        for m in range(x.shape[0]):
            out[m] = tanh64(x[m])
    elif code == RELU:
        for m in range(x.shape[0]):
            out[m] = max(x[m], 0.0)
    else:
        for m in range(x.shape[0]):
            out[m] = phi(x[m], code)


@njit(inline="always")
def _tanh_scratch(n, W, code):
    """Buffers for tanh's two passes over a step (``tanh32_reduce``/``tanh32_finish``
    in kernels/common.py; one pass's chain of dependent operations is too long for
    enough elements to be in flight): the reduced arguments r (float32's in W's
    dtype, exactly; float64's in float64) and the exponents ki (int32), n each for
    the code in use, empty otherwise."""
    n32 = n if code == TANH32 else 0
    n64 = n if code == TANH else 0
    return (np.empty(n32, dtype=W.dtype), np.empty(n64, dtype=np.float64),
            np.empty(n32 + n64, dtype=np.int32))


@njit
def forward_current(X, W_in, b, W, alpha, code, h0, noise, has_noise, H, R, W_out, b_out, Y):
    """Current form: h_k = (1-a) h_{k-1} + a (W r_{k-1} + W_in x_k + b) + noise_k.

    Writes the rates ``R`` (T + 1, B, N): ``R[0] = r_0 = phi(h_0)``, ``R[k] = phi(h_k)``,
    and the states ``H``.  ``H`` is (T, B, N) to keep every state, or (2, B, N) to keep
    only the last two (h_k goes to ``H[k % len(H)]``): a gradient whose phi' comes from
    the rates needs no state history, and not writing it saves a (T, B, N) stream out
    of cache.  The outputs ``Y`` (T, B, O): ``Y[k-1] = r_k W_out^T + b_out``, made at step
    k while r_k is in cache (:func:`_readout_step`, as :func:`readout`).

    Per step: the recurrent product ``r_{k-1} W^T`` (register-tiled for N <=
    STEP_TILE_MAX_N, BLAS above), the drive ``[x_k, 1] [W_in^T; b]``
    (:func:`_extended_inputs`), then the leak and phi over the whole (B, N) step as
    one flat loop each: no per-row loops, views or calls (at N = 64 their set-up cost
    more than a row's arithmetic).
    """
    wide_vectors()
    T, B, I = X.shape
    N = W.shape[0]
    nH = H.shape[0]
    apply_phi(h0, code, R[0])
    pre = np.empty((B, N), dtype=W.dtype)
    d = np.empty((B, N), dtype=W.dtype)
    Xe, WinTe = _extended_inputs(X, W_in, b)
    al, keep = leak_coefs(alpha, W)
    tiled = step_tiled(W)
    WT = np.ascontiguousarray(W.T) if tiled else np.empty((0, 0), dtype=W.dtype)
    pf = pre.reshape(B * N)
    df = d.reshape(B * N)
    rb, rb64, kb = _tanh_scratch(B * N, W, code)
    for k in range(T):
        if tiled:
            gemm_nn(R[k], WT, pre)
        else:
            np.dot(R[k], W.T, pre)
        gemm_nn(Xe[k], WinTe, d)
        hp = (h0 if k == 0 else H[(k - 1) % nH]).reshape(B * N)
        hk = H[k % nH].reshape(B * N)
        rk = R[k + 1].reshape(B * N)
        if has_noise:
            nk = noise[k].reshape(B * N)
            for m in range(B * N):
                hk[m] = (keep * hp[m] + al * (pf[m] + df[m])) + nk[m]
            _apply_phi_flat(hk, code, rk)
        elif code == TANH32:
            for m in range(B * N):
                h = keep * hp[m] + al * (pf[m] + df[m])
                hk[m] = h
                rb[m], kb[m] = tanh32_reduce(h)
            for m in range(B * N):
                rk[m] = tanh32_finish(hk[m], float32(rb[m]), kb[m])
        elif code == TANH:
            for m in range(B * N):
                h = keep * hp[m] + al * (pf[m] + df[m])
                hk[m] = h
                rb64[m], kb[m] = tanh64_reduce(h)
            for m in range(B * N):
                rk[m] = tanh64_finish(hk[m], rb64[m], kb[m])
        else:
            for m in range(B * N):
                hk[m] = keep * hp[m] + al * (pf[m] + df[m])
            _apply_phi_flat(hk, code, rk)
        _readout_step(R[k + 1], W_out, b_out, Y[k])


@njit
def forward_rate(X, W_in, b, W, alpha, code, a0, noise, has_noise, A, U, W_out, b_out, Y):
    """Rate form: u_k = W a_{k-1} + W_in x_k + b;  a_k = (1-a) a_{k-1} + a phi(u_k) + noise_k.

    Writes the states ``A`` (T + 1, B, N): ``A[0] = a_0``, ``A[k] = a_k``, and the
    pre-activations ``U`` (T, B, N).  Per step as :func:`forward_current`: the
    recurrent product, the drive, then u and a over the whole step, one flat loop each,
    and the outputs ``Y[k-1] = a_k W_out^T + b_out``.
    """
    wide_vectors()
    T, B, I = X.shape
    N = W.shape[0]
    d = np.empty((B, N), dtype=W.dtype)
    Xe, WinTe = _extended_inputs(X, W_in, b)
    al, keep = leak_coefs(alpha, W)
    tiled = step_tiled(W)
    WT = np.ascontiguousarray(W.T) if tiled else np.empty((0, 0), dtype=W.dtype)
    df = d.reshape(B * N)
    rb, rb64, kb = _tanh_scratch(B * N, W, code)
    A[0] = a0
    for k in range(T):
        if tiled:
            gemm_nn(A[k], WT, U[k])
        else:
            np.dot(A[k], W.T, U[k])
        gemm_nn(Xe[k], WinTe, d)
        uk = U[k].reshape(B * N)
        ap = A[k].reshape(B * N)
        ak = A[k + 1].reshape(B * N)
        if code == TANH32:
            for m in range(B * N):
                u = uk[m] + df[m]
                uk[m] = u
                rb[m], kb[m] = tanh32_reduce(u)
            for m in range(B * N):
                ak[m] = keep * ap[m] + al * tanh32_finish(uk[m], float32(rb[m]), kb[m])
        elif code == TANH:
            for m in range(B * N):
                u = uk[m] + df[m]
                uk[m] = u
                rb64[m], kb[m] = tanh64_reduce(u)
            for m in range(B * N):
                ak[m] = keep * ap[m] + al * tanh64_finish(uk[m], rb64[m], kb[m])
        else:
            for m in range(B * N):
                uk[m] = uk[m] + df[m]
            for m in range(B * N):
                ak[m] = keep * ap[m] + al * phi(uk[m], code)
        if has_noise:
            nk = noise[k].reshape(B * N)
            for m in range(B * N):
                ak[m] += nk[m]
        _readout_step(A[k + 1], W_out, b_out, Y[k])


@njit(inline="always")
def _readout_step(S, W_out, b_out, Yk):
    """Yk = S @ W_out^T + b_out for one step's (B, N) rates (or states): each entry one
    :func:`row_dot` (kernels/gemm.py: vectorised over N in an order fixed by its
    definition), plus b_out.  ``DOT_ROWS`` rows at a time (:func:`row_dots`: the
    same sums, their chains overlapped; a one-row sum is latency-bound), the rest
    one by one."""
    B = S.shape[0]
    Bq = B - B % DOT_ROWS
    for i in range(0, Bq, DOT_ROWS):
        for o in range(W_out.shape[0]):
            ys = row_dots(S, i, W_out, o)
            for r in range(DOT_ROWS):
                Yk[i + r, o] = ys[r] + b_out[o]
    for i in range(Bq, B):
        for o in range(W_out.shape[0]):
            Yk[i, o] = row_dot(S, i, W_out, o) + b_out[o]


@njit
def readout(S, W_out, b_out, Y):
    """Y[k] = S[k] @ W_out^T + b_out for S (T, B, N), W_out (O, N) C-contiguous: the
    readout the forward kernels make at each step (:func:`_readout_step`, the same
    numbers), for the rates of a trajectory already run.

    O (the outputs) is small: one :func:`row_dot` per entry; a BLAS GEMM with O columns
    packs all of S for two outputs.
    """
    wide_vectors()
    for k in range(S.shape[0]):
        _readout_step(S[k], W_out, b_out, Y[k])
