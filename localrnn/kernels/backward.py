"""Reverse-time recursions: exact BPTT and its truncated (e-prop / RFLO) form.

Both return ``Z`` (T, B, N), the gradient of the loss with respect to the
recurrent drive at each step, so that for either form and either rule

    dL/dW    = sum_k Z_k^T P_k      (P_k: r_{k-1} in the current form, a_{k-1} in the rate form)
    dL/dW_in = sum_k Z_k^T x_k,     dL/db = sum_k Z_k

are single GEMMs over T*B rows (done by the driver).

Current form (MODEL.md section 4), adjoint a_k = dL/dh_k:

    a_k = phi'(h_k) * (F delta_k + alpha W^T a_{k+1}) + (1 - alpha) a_{k+1},   Z_k = alpha a_k

Rate form, adjoint g_k = dL/da_k and z_k = dL/du_k:

    g_k = F delta_k + (1 - alpha) g_{k+1} + W^T z_{k+1},   z_k = alpha phi'(u_k) g_k,   Z_k = z_k

With ``F = W_out^T`` and ``truncate = False`` this is BPTT.  With ``truncate =
True`` the recurrent Jacobian term (``alpha W^T a_{k+1}`` resp. ``W^T z_{k+1}``) is
dropped, J ~ (1 - alpha) I: the result is the e-prop/RFLO gradient in its offline
form, the backward filter ``abar_k = L_k + (1 - alpha) abar_{k+1}`` of MODEL.md
section 5, identical to summing the eligibility traces forward in time.
"""
import numpy as np

from .._config import njit
from .common import RELU, TANH, TANH32, dphi, dphi_from


@njit
def _dphi_rows(H, R, code, out):
    """out = phi'(H) for a (B, N) block, one branch-free loop per activation."""
    B, N = H.shape
    if code == TANH or code == TANH32:
        for i in range(B):
            for n in range(N):
                out[i, n] = 1.0 - R[i, n] * R[i, n]
    elif code == RELU:
        for i in range(B):
            for n in range(N):
                out[i, n] = 1.0 if R[i, n] > 0.0 else 0.0
    else:
        for i in range(B):
            for n in range(N):
                out[i, n] = dphi_from(H[i, n], R[i, n], code)


@njit
def backward_current(DELTA, H, R, h0, W, FT, alpha, code, truncate, Z, g0):
    """Current-form adjoint.  ``FT`` is F^T (O, N); ``R = phi(H)``.  Writes Z and g0 = dL/dh_0."""
    T, B, N = H.shape
    fb = np.empty((B, N), dtype=H.dtype)
    rec = np.zeros((B, N), dtype=H.dtype)
    dp = np.empty((B, N), dtype=H.dtype)
    a_next = np.zeros((B, N), dtype=H.dtype)
    keep = 1.0 - alpha
    for k in range(T - 1, -1, -1):
        np.dot(DELTA[k], FT, fb)
        _dphi_rows(H[k], R[k], code, dp)
        Zk = Z[k]
        if (not truncate) and k < T - 1:
            np.dot(a_next, W, rec)  # (W^T a)^T = a^T W
            for i in range(B):
                for n in range(N):
                    a = dp[i, n] * (fb[i, n] + alpha * rec[i, n]) + keep * a_next[i, n]
                    a_next[i, n] = a
                    Zk[i, n] = alpha * a
        else:
            for i in range(B):
                for n in range(N):
                    a = dp[i, n] * fb[i, n] + keep * a_next[i, n]
                    a_next[i, n] = a
                    Zk[i, n] = alpha * a
    # dL/dh_0 (exact form: through W and the leak)
    np.dot(a_next, W, rec)
    for i in range(B):
        for n in range(N):
            g0[i, n] = dphi(h0[i, n], code) * alpha * rec[i, n] + keep * a_next[i, n]


@njit
def backward_rate(DELTA, U, W, FT, alpha, code, truncate, Z, g0):
    """Rate-form adjoint.  ``U`` holds pre-activations.  Writes Z and g0 = dL/da_0."""
    T, B, N = U.shape
    fb = np.empty((B, N), dtype=U.dtype)
    rec = np.zeros((B, N), dtype=U.dtype)
    g_next = np.zeros((B, N), dtype=U.dtype)
    keep = 1.0 - alpha
    for k in range(T - 1, -1, -1):
        np.dot(DELTA[k], FT, fb)
        if (not truncate) and k < T - 1:
            np.dot(Z[k + 1], W, rec)
        Zk = Z[k]
        Uk = U[k]
        for i in range(B):
            for n in range(N):
                g = fb[i, n] + keep * g_next[i, n]
                if (not truncate) and k < T - 1:
                    g += rec[i, n]
                g_next[i, n] = g
                Zk[i, n] = alpha * dphi(Uk[i, n], code) * g
    np.dot(Z[0], W, rec)
    for i in range(B):
        for n in range(N):
            g0[i, n] = keep * g_next[i, n] + rec[i, n]
