"""Real-time recurrent learning: the influence matrix M_t = ds_t/dtheta (MODEL.md section 4).

``M`` is N x P for the recurrent-side parameters theta = (W, W_in, b).  Its columns are
blocks in that order, each row-major: column ``oW + i*N + k`` is W[i, k], column
``oWin + i*I + m`` is W_in[i, m], column ``ob + i`` is b[i].  A block whose offset is
-1 is absent (that parameter is not trained; the online learner drops it).

Current form (state h, rate r = phi(h)):

    M_t = J_t M_{t-1} + alpha E_t,      J_t = (1 - alpha) I + alpha W diag(phi'(h_{t-1}))
    E_t = d(W r_{t-1} + W_in x_t + b)/dtheta: row i holds r_{t-1}^T in the columns of
          W[i, :], x_t^T in those of W_in[i, :] and 1 in the column of b[i]
    dL/dtheta = sum_t c_t^T M_t,        c_t = phi'(h_t) * (W_out^T delta_t)

Rate form (state a, u_t = W a_{t-1} + W_in x_t + b, a_t = (1-alpha) a_{t-1} + alpha phi(u_t)):
differentiating, da_t/dtheta = (1 - alpha) M_{t-1} + alpha phi'(u_t) * (W M_{t-1} + du_t/dtheta),

    M_t = J_t M_{t-1} + alpha diag(phi'(u_t)) E_t,   J_t = (1 - alpha) I + alpha diag(phi'(u_t)) W
    E_t: row i holds a_{t-1}^T, x_t^T and 1 (same columns as above)
    dL/dtheta = sum_t c_t^T M_t,        c_t = W_out^T delta_t          (y_t = W_out a_t + b_out)

Structure used: J_t is formed explicitly (N^2, from one phi' per unit), then ``M_t =
J_t @ M_{t-1}`` is one dense (N x N) @ (N x P) BLAS product -- the FLOP floor of RTRL --
and the immediate term is added sparsely (O(P): each row touches its own N + I + 1
columns).  ``M_in`` and ``M_out`` are two buffers used in turn (no copy).  Exact
arithmetic (no fastmath): with BPTT this is the project's 1e-10 agreement check.
"""
import numpy as np

from .._config import njit
from .common import dphi, dphi_from, leak_coefs


@njit
def propagate_current(M_in, M_out, J, d, W, h_prev, r_prev, x, alpha, code, oW, oWin, ob):
    """One current-form step for one trial: M_out = J_t M_in + alpha E_t.

    ``h_prev`` is h_{t-1} (N,), ``r_prev`` = phi(h_{t-1}), ``x`` = x_t (I,).
    ``J`` (N, N) and ``d`` (N,) are scratch.  phi' comes from the stored rate
    (:func:`~localrnn.kernels.common.dphi_from`), as in the backward kernels.
    """
    N = W.shape[0]
    I = x.shape[0]
    al, keep = leak_coefs(alpha, W)
    for j in range(N):
        d[j] = al * dphi_from(h_prev[j], r_prev[j], code)
    for i in range(N):
        for j in range(N):
            J[i, j] = W[i, j] * d[j]
        J[i, i] += keep
    np.dot(J, M_in, M_out)
    if oW >= 0:
        for i in range(N):
            base = oW + i * N
            for k in range(N):
                M_out[i, base + k] += al * r_prev[k]
    if oWin >= 0:
        for i in range(N):
            base = oWin + i * I
            for m in range(I):
                M_out[i, base + m] += al * x[m]
    if ob >= 0:
        for i in range(N):
            M_out[i, ob + i] += al


@njit
def propagate_rate(M_in, M_out, J, d, W, u, a_prev, x, alpha, code, oW, oWin, ob):
    """One rate-form step for one trial: M_out = J_t M_in + alpha diag(phi'(u_t)) E_t.

    ``u`` is u_t (N,), ``a_prev`` = a_{t-1}, ``x`` = x_t.  ``J``, ``d`` scratch.
    """
    N = W.shape[0]
    I = x.shape[0]
    al, keep = leak_coefs(alpha, W)
    for i in range(N):
        d[i] = al * dphi(u[i], code)
    for i in range(N):
        di = d[i]
        for j in range(N):
            J[i, j] = di * W[i, j]
        J[i, i] += keep
    np.dot(J, M_in, M_out)
    if oW >= 0:
        for i in range(N):
            base = oW + i * N
            di = d[i]
            for k in range(N):
                M_out[i, base + k] += di * a_prev[k]
    if oWin >= 0:
        for i in range(N):
            base = oWin + i * I
            di = d[i]
            for m in range(I):
                M_out[i, base + m] += di * x[m]
    if ob >= 0:
        for i in range(N):
            M_out[i, ob + i] += d[i]


@njit
def _has_error(delta_row):
    for o in range(delta_row.shape[0]):
        if delta_row[o] != 0.0:
            return True
    return False


@njit
def rtrl_trajectory(DELTA, S, ACT, s0, prev0, X, W, W_out, alpha, code, rate_form, g):
    """Exact gradient of (W, W_in, b) by RTRL over a stored trajectory.

    ``S`` (T, B, N) states (h or a), ``ACT`` rates r (current) or pre-activations u
    (rate form), ``s0``/``prev0`` (B, N) the initial state and presynaptic activity
    (h_0 and r_0, or a_0 twice).  ``g`` (P,) with P = N^2 + N I + N, layout
    (W, W_in, b), is incremented by sum_{t,b} c_t^T M_t.  One M per trial, trials in
    turn: memory 2 N P, time T B (N^2 P + N P).
    """
    T, B, N = S.shape
    I = X.shape[2]
    P = g.shape[0]
    dt = W.dtype
    M = np.zeros((2, N, P), dtype=dt)
    J = np.empty((N, N), dtype=dt)
    d = np.empty(N, dtype=dt)
    c = np.empty(N, dtype=dt)
    tmp = np.empty(P, dtype=dt)
    oW, oWin, ob = 0, N * N, N * N + N * I
    for bi in range(B):
        M[:] = 0.0
        par = 0
        for k in range(T):
            if rate_form:
                ap = s0[bi] if k == 0 else S[k - 1, bi]
                propagate_rate(M[par], M[1 - par], J, d, W, ACT[k, bi], ap, X[k, bi], alpha,
                               code, oW, oWin, ob)
            else:
                hp = s0[bi] if k == 0 else S[k - 1, bi]
                rp = prev0[bi] if k == 0 else ACT[k - 1, bi]
                propagate_current(M[par], M[1 - par], J, d, W, hp, rp, X[k, bi], alpha, code,
                                  oW, oWin, ob)
            par = 1 - par
            if not _has_error(DELTA[k, bi]):
                continue
            np.dot(DELTA[k, bi], W_out, c)
            if not rate_form:
                for n in range(N):
                    c[n] *= dphi_from(S[k, bi, n], ACT[k, bi, n], code)
            np.dot(c, M[par], tmp)
            for p in range(P):
                g[p] += tmp[p]
