"""Forward dynamics of the leaky rate RNN, both forms (MODEL.md section 1).

Index convention: ``X[k]`` is the input x_{k+1}; ``S[k]`` is the state after step
k+1 (h_{k+1} or a_{k+1}); the initial state ``s0`` is h_0 (a_0).
"""
import numpy as np

from .._config import njit
from .common import apply_phi, leak_coefs, phi


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


@njit
def forward_current(X, W_in, b, W, alpha, code, h0, noise, has_noise, H, R):
    """Current form: h_k = (1-a) h_{k-1} + a (W r_{k-1} + W_in x_k + b) + noise_k.

    Writes rates ``R = phi(H)`` (T, B, N) and states ``H``; returns r_0 = phi(h_0).
    ``H`` is (T, B, N) to keep every state, or (2, B, N) to keep only the last two
    (h_k goes to ``H[k % len(H)]``): a gradient whose phi' comes from the rates
    needs no state history, and not writing it saves a (T, B, N) stream out of cache.
    One pass per step: the recurrent GEMM, then per trial the input drive, the
    leak and phi of the row while it is in L1 (no (T, B, N) drive array).
    """
    T, B, I = X.shape
    N = W.shape[0]
    nH = H.shape[0]
    WinT = np.ascontiguousarray(W_in.T)
    r0 = np.empty((B, N), dtype=W.dtype)
    apply_phi(h0, code, r0)
    pre = np.empty((B, N), dtype=W.dtype)
    d = np.empty((B, N), dtype=W.dtype)
    drow = np.empty(N, dtype=W.dtype)
    al, keep = leak_coefs(alpha, W)
    for k in range(T):
        if k == 0:
            np.dot(r0, W.T, pre)
            hp = h0
        else:
            np.dot(R[k - 1], W.T, pre)
            hp = H[(k - 1) % nH]
        if I > SMALL_INPUT:
            np.dot(X[k], W_in.T, d)
        Hk = H[k % nH]
        Rk = R[k]
        for i in range(B):
            _drive_row(X, WinT, b, k, i, d, drow)
            hr, pr, qr = Hk[i], pre[i], hp[i]
            # separate, branch-free loops so LLVM can vectorise them
            for n in range(N):
                hr[n] = keep * qr[n] + al * (pr[n] + drow[n])
            if has_noise:
                for n in range(N):
                    hr[n] += noise[k, i, n]
            apply_phi(Hk[i:i + 1], code, Rk[i:i + 1])
    return r0


@njit
def forward_rate(X, W_in, b, W, alpha, code, a0, noise, has_noise, A, U):
    """Rate form: u_k = W a_{k-1} + W_in x_k + b;  a_k = (1-a) a_{k-1} + a phi(u_k) + noise_k.

    Writes states ``A`` (T, B, N) and pre-activations ``U``.
    """
    T, B, I = X.shape
    N = W.shape[0]
    WinT = np.ascontiguousarray(W_in.T)
    d = np.empty((B, N), dtype=W.dtype)
    drow = np.empty(N, dtype=W.dtype)
    al, keep = leak_coefs(alpha, W)
    for k in range(T):
        Uk = U[k]
        if k == 0:
            np.dot(a0, W.T, Uk)
            ap = a0
        else:
            np.dot(A[k - 1], W.T, Uk)
            ap = A[k - 1]
        if I > SMALL_INPUT:
            np.dot(X[k], W_in.T, d)
        Ak = A[k]
        for i in range(B):
            _drive_row(X, WinT, b, k, i, d, drow)
            for n in range(N):
                u = Uk[i, n] + drow[n]
                Uk[i, n] = u
                v = keep * ap[i, n] + al * phi(u, code)
                if has_noise:
                    v += noise[k, i, n]
                Ak[i, n] = v


@njit
def readout(S, W_out, b_out, Y):
    """Y[k] = S[k] @ W_out^T + b_out, one GEMM over T*B rows."""
    T, B, N = S.shape
    O = W_out.shape[0]
    Y2 = Y.reshape(T * B, O)
    np.dot(S.reshape(T * B, N), W_out.T, Y2)
    for i in range(T * B):
        for o in range(O):
            Y2[i, o] += b_out[o]
