"""Reverse-time recursions: exact BPTT and its truncated (e-prop / RFLO) form.

Both return ``Z`` (T, B, N), the gradient of the loss with respect to the
recurrent drive at each step, so that for either form and either rule

    dL/dW    = sum_k Z_k^T P_k      (P_k: r_{k-1} in the current form, a_{k-1} in the rate form)
    dL/dW_in = sum_k Z_k^T x_k,     dL/db = sum_k Z_k

are single GEMMs over T*B rows (done by the driver; dL/db is summed by the kernels
while Z_k is in cache).

Current form (MODEL.md section 4), adjoint a_k = dL/dh_k:

    a_k = phi'(h_k) * (F delta_k + alpha W^T a_{k+1}) + (1 - alpha) a_{k+1},   Z_k = alpha a_k

Rate form, adjoint g_k = dL/da_k and z_k = dL/du_k:

    g_k = F delta_k + (1 - alpha) g_{k+1} + W^T z_{k+1},   z_k = alpha phi'(u_k) g_k,   Z_k = z_k

With ``F = W_out^T`` and ``truncate = 0`` this is BPTT.  With ``truncate = 1`` the
recurrent Jacobian term (``alpha W^T a_{k+1}`` resp. ``W^T z_{k+1}``) is dropped,
J ~ (1 - alpha) I: the result is the e-prop/RFLO gradient in its offline form, the
backward filter ``abar_k = L_k + (1 - alpha) abar_{k+1}`` of MODEL.md section 5,
identical to summing the eligibility traces forward in time.  With ``truncate = 2``
the leak term goes too (J ~ 0, the whole previous state detached): each step's
gradient is its own, ``abar_k = L_k``.
"""
import numpy as np

from .._config import njit
from .common import RELU, TANH, TANH32, dphi, dphi_from, leak_coefs


@njit(inline="always")
def _dphi_row(h, r, code, out):
    """out = phi'(h) for one (N,) row given r = phi(h), one branch-free loop per activation."""
    N = h.shape[0]
    if code == TANH or code == TANH32:
        one = out.dtype.type(1.0)   # in the rows' float type, as ``dphi_from``
        for n in range(N):
            out[n] = one - r[n] * r[n]
    elif code == RELU:
        for n in range(N):
            out[n] = 1.0 if r[n] > 0.0 else 0.0
    else:
        for n in range(N):
            out[n] = dphi_from(h[n], r[n], code)


@njit(inline="always")
def signal_row(d, FT, out):
    """out = F d for one trial: the learning signal sum_o d_o F[:, o] (``FT`` is F^T, (O, N)).

    O (the number of outputs) is small: a loop over outputs with the vectorised loop
    over neurons inside costs less than a BLAS call per step."""
    O, N = FT.shape
    d0 = d[0]
    for n in range(N):
        out[n] = d0 * FT[0, n]
    for o in range(1, O):
        do = d[o]
        for n in range(N):
            out[n] += do * FT[o, n]


@njit
def backward_current(DELTA, H, R, h0, W, FT, alpha, code, truncate, want_g0, Z, g0, gb):
    """Current-form adjoint.  ``FT`` is F^T (O, N); ``R = phi(H)``; ``truncate`` 0 (exact),
    1 (recurrent term dropped) or 2 (whole state detached), see the module notes.

    Writes Z, gb = dL/db = sum_k Z_k (summed while Z_k is in cache) and, if
    ``want_g0``, g0 = dL/dh_0 (one more (B x N)(N x N) product and phi'(h_0): a whole
    step's GEMM, skipped when the caller does not return dL/dh_0).
    """
    T, B, N = H.shape
    fb = np.empty(N, dtype=H.dtype)
    dp = np.empty(N, dtype=H.dtype)
    rec = np.zeros((B, N), dtype=H.dtype)
    a_next = np.zeros((B, N), dtype=H.dtype)
    al, keep = leak_coefs(alpha, W)
    kt = keep if truncate < 2 else keep - keep   # the leak kept by the truncated forms
    gb[:] = 0.0
    for k in range(T - 1, -1, -1):
        exact = truncate == 0 and k < T - 1
        if exact:
            np.dot(a_next, W, rec)  # (W^T a)^T = a^T W
        Zk, Dk, Hk, Rk = Z[k], DELTA[k], H[k], R[k]
        for i in range(B):
            signal_row(Dk[i], FT, fb)
            _dphi_row(Hk[i], Rk[i], code, dp)
            an, zr, rr = a_next[i], Zk[i], rec[i]
            if exact:
                for n in range(N):
                    a = dp[n] * (fb[n] + al * rr[n]) + keep * an[n]
                    an[n] = a
                    z = al * a
                    zr[n] = z
                    gb[n] += z
            else:
                for n in range(N):
                    a = dp[n] * fb[n] + kt * an[n]
                    an[n] = a
                    z = al * a
                    zr[n] = z
                    gb[n] += z
    if not want_g0:
        return
    # dL/dh_0 (exact form: through W and the leak)
    np.dot(a_next, W, rec)
    for i in range(B):
        for n in range(N):
            g0[i, n] = dphi(h0[i, n], code) * al * rec[i, n] + keep * a_next[i, n]


@njit
def backward_rate(DELTA, U, W, FT, alpha, code, truncate, want_g0, Z, g0, gb):
    """Rate-form adjoint.  ``U`` holds pre-activations.  Writes Z, gb = dL/db = sum_k Z_k
    and, if ``want_g0``, g0 = dL/da_0 (one more step GEMM)."""
    T, B, N = U.shape
    fb = np.empty(N, dtype=U.dtype)
    dp = np.empty(N, dtype=U.dtype)
    rec = np.zeros((B, N), dtype=U.dtype)
    g_next = np.zeros((B, N), dtype=U.dtype)
    al, keep = leak_coefs(alpha, W)
    kt = keep if truncate < 2 else keep - keep   # the leak kept by the truncated forms
    gb[:] = 0.0
    for k in range(T - 1, -1, -1):
        exact = truncate == 0 and k < T - 1
        if exact:
            np.dot(Z[k + 1], W, rec)
        Zk, Dk, Uk = Z[k], DELTA[k], U[k]
        for i in range(B):
            signal_row(Dk[i], FT, fb)
            u = Uk[i]
            for n in range(N):
                dp[n] = dphi(u[n], code)
            gn, zr, rr = g_next[i], Zk[i], rec[i]
            if exact:
                for n in range(N):
                    g = fb[n] + keep * gn[n] + rr[n]
                    gn[n] = g
                    z = al * dp[n] * g
                    zr[n] = z
                    gb[n] += z
            else:
                for n in range(N):
                    g = fb[n] + kt * gn[n]
                    gn[n] = g
                    z = al * dp[n] * g
                    zr[n] = z
                    gb[n] += z
    if not want_g0:
        return
    np.dot(Z[0], W, rec)
    for i in range(B):
        for n in range(N):
            g0[i, n] = keep * g_next[i, n] + rec[i, n]


@njit
def readout_grad(DELTA, P, gW, gb):
    """gW = sum_{k,b} delta_kb p_kb^T (O, N) and gb = sum_{k,b} delta_kb (O,).

    O is small (the outputs): one pass over P, accumulating into the O rows of gW
    (vectorised over N), instead of a BLAS GEMM whose M = O is too small for its
    blocking (it packs all of P for two rows: ~8x slower here at O = 2)."""
    T, B, O = DELTA.shape
    N = P.shape[2]
    gW[:] = 0.0
    gb[:] = 0.0
    for k in range(T):
        Dk, Pk = DELTA[k], P[k]
        for i in range(B):
            p = Pk[i]
            for o in range(O):
                d = Dk[i, o]
                gb[o] += d
                g = gW[o]
                for n in range(N):
                    g[n] += d * p[n]
