"""Forward dynamics of the leaky rate RNN, both forms (MODEL.md section 1).

Index convention: ``X[k]`` is the input x_{k+1}; ``S[k]`` is the state after step
k+1 (h_{k+1} or a_{k+1}); the initial state ``s0`` is h_0 (a_0).
"""
import numpy as np

from .._config import njit
from .common import apply_phi, phi


@njit
def input_drive(X, W_in, b, D):
    """D[k] = X[k] @ W_in^T + b for all steps at once: one GEMM over T*B rows."""
    T, B, I = X.shape
    N = W_in.shape[0]
    D2 = D.reshape(T * B, N)
    if I > 0:
        np.dot(X.reshape(T * B, I), W_in.T, D2)
    else:
        D2[:] = 0.0
    for i in range(T * B):
        for n in range(N):
            D2[i, n] += b[n]


@njit
def forward_current(D, W, alpha, code, h0, noise, has_noise, H, R):
    """Current form: h_k = (1-a) h_{k-1} + a (W r_{k-1} + W_in x_k + b) + noise_k.

    ``D`` is the input drive from :func:`input_drive`.  Writes states ``H`` (T, B, N)
    and rates ``R = phi(H)``.  Returns r_0 = phi(h_0).
    """
    T, B, N = D.shape
    r0 = np.empty((B, N), dtype=W.dtype)
    apply_phi(h0, code, r0)
    pre = np.empty((B, N), dtype=W.dtype)
    keep = 1.0 - alpha
    for k in range(T):
        if k == 0:
            np.dot(r0, W.T, pre)
            hp = h0
        else:
            np.dot(R[k - 1], W.T, pre)
            hp = H[k - 1]
        Hk = H[k]
        Dk = D[k]
        # separate, branch-free loops so LLVM can vectorise them
        for i in range(B):
            for n in range(N):
                Hk[i, n] = keep * hp[i, n] + alpha * (pre[i, n] + Dk[i, n])
        if has_noise:
            for i in range(B):
                for n in range(N):
                    Hk[i, n] += noise[k, i, n]
        apply_phi(Hk, code, R[k])
    return r0


@njit
def forward_rate(D, W, alpha, code, a0, noise, has_noise, A, U):
    """Rate form: u_k = W a_{k-1} + W_in x_k + b;  a_k = (1-a) a_{k-1} + a phi(u_k) + noise_k.

    ``D`` is the input drive from :func:`input_drive`.  Writes states ``A`` (T, B, N)
    and pre-activations ``U``.
    """
    T, B, N = D.shape
    keep = 1.0 - alpha
    for k in range(T):
        Uk = U[k]
        if k == 0:
            np.dot(a0, W.T, Uk)
            ap = a0
        else:
            np.dot(A[k - 1], W.T, Uk)
            ap = A[k - 1]
        Ak = A[k]
        Dk = D[k]
        for i in range(B):
            for n in range(N):
                u = Uk[i, n] + Dk[i, n]
                Uk[i, n] = u
                v = keep * ap[i, n] + alpha * phi(u, code)
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
