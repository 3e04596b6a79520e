"""Lyapunov spectrum and gradient flossing (MODEL.md sections 6-7).

Layout.  The k orthonormal vectors of each trial are stored *transposed*:
``Qt[b]`` is a C-contiguous (k, N) array whose rows are the columns of Q.  That is
exactly LAPACK's column-major N x k matrix, ready for the QR, and the
propagation ``A = J Q`` of all trials is one GEMM over B*k rows:

    current form:  A^T = (1 - alpha) Q^T + alpha (Q^T diag(phi'(h_{t-1}))) W^T
    rate form:     A^T = (1 - alpha) Q^T + alpha (Q^T W^T) diag(phi'(u_t))

``X`` (T, B, N) holds the argument of phi' in J_t for step t = s + 1: h_{t-1}
(current form, so ``X[0] = h_0``) or u_t (rate form); in the current form ``Y``
holds the rates phi(X) = r_{t-1}, so phi' needs no second tanh (rate form: ``Y``
is not read).  Steps are numbered t = 1..T; step t is counted in the exponents
when ``t > warm``.
"""
import math

import llvmlite.binding as _llvm
import numpy as np
from numba.core import errors as _errors, types as _types
from numba.extending import get_cython_function_address, overload

from .._config import NJIT_OPTIONS, njit
from .common import RELU, SOFTPLUS, TANH, TANH32, dphi, dphi_from, leak_coefs


@njit(inline="always")
def d2phi(x, code):
    """phi''(x) for every activation code of :mod:`localrnn.kernels.common`.

    The float32 codes get the same formula as their float64 ones (the Lyapunov
    drivers run in float64, so they never pass them, but nothing here depends on it).
    """
    if code == TANH or code == TANH32:
        t = math.tanh(x)
        return -2.0 * t * (1.0 - t * t)
    elif code == RELU:
        return 0.0 * x
    elif code == SOFTPLUS:
        t = math.tanh(0.5 * x)
        return 0.25 * (1.0 - t * t)
    else:  # RETANH, RETANH32
        if x > 0.0:
            t = math.tanh(x)
            return -2.0 * t * (1.0 - t * t)
        return 0.0 * x


# --------------------------------------------------------------------------- QR
# LAPACK's ?geqrf and ?orgqr are called directly, from scipy.linalg.cython_lapack:
# the library Numba's own np.linalg.qr calls (numba/_lapack.c), so the arithmetic
# is that of the np.linalg.qr this replaces, without its per-call costs (a copy to
# Fortran order, fresh Q, R, tau and two LAPACK work arrays with their two
# workspace queries).  Measured here (2 shared cores, best of 15, Numba loop):
# a QR of 256 x 10 took 13-15 us against 16-20 us, LAPACK's own arithmetic being
# ~12 us of it; the Lyapunov step 3-7% less (N = 256, k = 10, B = 1 and 8); the
# kernel's exponents and Q_T came out bit-identical to the np.linalg.qr version
# (same library; the workspace is sized by the same query, so the same blocking).
# The integer arguments are C ints (int32: scipy's cython_lapack is LP64).
# The functions are declared to LLVM as external symbols, not called through
# ctypes function pointers: a ctypes pointer is a process-specific constant, and
# Numba refuses to cache a function that embeds one ("uses dynamic globals"),
# which would recompile the Lyapunov kernel in every process.


def _lapack_function(name: str, n_int_before: int, n_int_after: int, dtype):
    """``name`` from scipy.linalg.cython_lapack as a Numba external function.

    Every argument is a pointer (Fortran convention): ``n_int_before`` integers,
    then the matrix, its leading dimension, tau and work (of ``dtype``), then
    ``n_int_after`` integers (lwork, info).
    """
    symbol = "localrnn_cython_lapack_" + name
    _llvm.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_lapack", name))
    ip, fp = _types.CPointer(_types.int32), _types.CPointer(dtype)
    args = (ip,) * n_int_before + (fp, ip, fp, fp) + (ip,) * n_int_after
    return _types.ExternalFunction(symbol, _types.void(*args))


# (m, n, a, lda, tau, work, lwork, info) and (m, n, k, a, lda, tau, work, lwork, info)
_GEQRF = {_types.float64: _lapack_function("dgeqrf", 2, 2, _types.float64),
          _types.float32: _lapack_function("sgeqrf", 2, 2, _types.float32)}
_ORGQR = {_types.float64: _lapack_function("dorgqr", 3, 2, _types.float64),
          _types.float32: _lapack_function("sorgqr", 3, 2, _types.float32)}

# the integer arguments, all in one int32 array ``iw`` of a QR workspace
_M, _N, _LDA, _LWORK, _INFO = 0, 1, 2, 3, 4


def lapack_geqrf(At, iw, tau, work):
    """``?geqrf`` on the column-major ``iw[0] x iw[1]`` matrix stored as ``At`` (Numba only)."""
    raise NotImplementedError("called from Numba-compiled code only")


def lapack_orgqr(At, iw, tau, work):
    """``?orgqr`` (Q of ``iw[1]`` reflectors) in ``At`` (Numba only)."""
    raise NotImplementedError("called from Numba-compiled code only")


def _routine(table, At):
    """The LAPACK routine of ``table`` for the dtype of ``At`` (a typing-time lookup)."""
    fn = table.get(getattr(At, "dtype", None))
    if fn is None:
        raise _errors.TypingError(f"qr_pos: float64 or float32 arrays only, got {At}")
    return fn


@overload(lapack_geqrf, jit_options=NJIT_OPTIONS)
def _geqrf_impl(At, iw, tau, work):
    fn = _routine(_GEQRF, At)

    def impl(At, iw, tau, work):
        fn(iw[_M:].ctypes, iw[_N:].ctypes, At.ctypes, iw[_LDA:].ctypes, tau.ctypes,
           work.ctypes, iw[_LWORK:].ctypes, iw[_INFO:].ctypes)
    return impl


@overload(lapack_orgqr, jit_options=NJIT_OPTIONS)
def _orgqr_impl(At, iw, tau, work):
    fn = _routine(_ORGQR, At)

    def impl(At, iw, tau, work):
        fn(iw[_M:].ctypes, iw[_N:].ctypes, iw[_N:].ctypes, At.ctypes, iw[_LDA:].ctypes,
           tau.ctypes, work.ctypes, iw[_LWORK:].ctypes, iw[_INFO:].ctypes)
    return impl


@njit
def qr_workspace(At):
    """Work arrays for :func:`qr_pos` of matrices shaped like ``At`` (k, N), k <= N.

    Returns ``(tau, work, iw)``: tau (k,), work of the size LAPACK's workspace
    query asks for (the larger of ?geqrf's and ?orgqr's optimum, as np.linalg.qr
    uses, so the blocking and hence the rounding are the same), and the int32
    arguments (m = N, n = k, lda = N, lwork, info).  ``At`` is not modified.
    """
    k, N = At.shape
    if k < 1 or k > N:
        raise ValueError("qr_workspace: need 1 <= k <= N for a (k, N) array")
    tau = np.empty(k, dtype=At.dtype)
    work = np.empty(1, dtype=At.dtype)
    iw = np.zeros(5, dtype=np.int32)
    iw[_M] = N
    iw[_N] = k
    iw[_LDA] = N
    iw[_LWORK] = -1
    lapack_geqrf(At, iw, tau, work)
    lwork = max(k, int(work[0]))
    lapack_orgqr(At, iw, tau, work)
    lwork = max(lwork, int(work[0]))
    if iw[_INFO] != 0:
        raise ValueError("qr_workspace: LAPACK rejected an argument of the workspace query")
    iw[_LWORK] = lwork
    return tau, np.empty(lwork, dtype=At.dtype), iw


@njit
def qr_pos(At, R, ws):
    """QR of A = At^T (N x k, stored as the C-contiguous k x N ``At``) in place.

    On return ``At`` holds Q^T and ``R`` (k, k) the triangular factor with a
    positive diagonal: LAPACK's geqrf + orgqr on ``At`` itself (a C-contiguous
    k x N array is LAPACK's column-major N x k matrix; no copy), then where
    R_ii < 0 the column i of Q and the row i of R change sign, which makes the
    factorisation the unique one with diag(R) > 0 (for A of full rank).
    ``ws = qr_workspace(At)``, made once for any number of QRs of this shape.
    LAPACK was faster than an unblocked Householder QR of our own at every k >= 2
    we timed (N = 256: about 1.5x at k = 10, 6x at k = 256), so there is one path.

    Raises ``np.linalg.LinAlgError`` if ``At`` holds an inf or NaN (as
    ``np.linalg.qr`` did; the drivers turn it into a FloatingPointError).
    """
    tau, work, iw = ws
    k, N = At.shape
    if N != iw[_M] or k != iw[_N] or not At.flags.c_contiguous:
        raise ValueError("qr_pos: At is not a C-contiguous array of the workspace's shape")
    for i in range(k):
        row = At[i]
        for n in range(N):
            if not math.isfinite(row[n]):
                raise np.linalg.LinAlgError("Array must not contain infs or NaNs.")
    lapack_geqrf(At, iw, tau, work)
    if iw[_INFO] != 0:
        raise ValueError("qr_pos: LAPACK ?geqrf rejected an argument")
    # R is the upper triangle of the column-major result: R[i, c] = At[c, i]
    for i in range(k):
        for c in range(i):
            R[i, c] = 0.0
        for c in range(i, k):
            R[i, c] = At[c, i]
    lapack_orgqr(At, iw, tau, work)
    if iw[_INFO] != 0:
        raise ValueError("qr_pos: LAPACK ?orgqr rejected an argument")
    for i in range(k):
        if R[i, i] < 0.0:
            for c in range(i, k):
                R[i, c] = -R[i, c]
            row = At[i]
            for n in range(N):
                row[n] = -row[n]


# --------------------------------------------------------------------------- forward

@njit
def jac_gains(Xs, Ys, current, code, Dt):
    """Dt = phi'(Xs) (B, N): from the rates ``Ys`` in the current form."""
    B, N = Xs.shape
    for b in range(B):
        for n in range(N):
            if current:
                Dt[b, n] = dphi_from(Xs[b, n], Ys[b, n], code)
            else:
                Dt[b, n] = dphi(Xs[b, n], code)


@njit
def lyap_forward(X, Y, W, alpha, current, code, Qt, warm, qr_every, mode, c,
                 logsum, GW, Qs, Rs):
    """Propagate Q along the trajectory with a QR every ``qr_every`` steps.

    ``Qt`` (B, k, N): Q_0^T on entry, Q_T^T on return.  A QR happens at step t
    when ``(t - warm) % qr_every == 0`` or ``t == T``, so one falls on ``t = warm``
    and the counted QRs cover exactly the steps ``warm < t <= T``.  ``logsum``
    (B, k) receives the sum of log R_ii over the counted QRs.

    ``mode`` 0: spectrum only.  1: also the local flossing gradient
    ``GW += sum_{t > warm} sum_b alpha * G_t H_t^T`` with, per trial,
    ``G = Q_t diag(c)``, ``H = diag(phi') Q_{t-1} R_t^{-1}`` (current form) or
    ``G = diag(phi') Q_t diag(c)``, ``H = Q_{t-1} R_t^{-1}`` (rate form) (MODEL.md
    section 7; needs ``qr_every == 1``).  2: store Q_t^T in ``Qs`` (T + 1, B, k, N)
    and R_t in ``Rs`` (T, B, k, k) for the exact backward pass (``qr_every == 1``).
    """
    T, B, N = X.shape
    k = Qt.shape[1]
    BK = B * k
    Q2 = Qt.reshape(BK, N)
    # the propagation's product is W (N x N) times the B*k vectors as columns (N x BK),
    # row-major, the product the floor times (floors.lyapunov_steps_fn): the transposed
    # orientation Q^T W^T, (BK x N)(N x N), took 51 against 27 us for B = 1 with this
    # machine's OpenBLAS kernels (SkylakeX) and 3-6% longer with Haswell/Zen's
    ST = np.empty((N, BK), dtype=Qt.dtype)
    P = np.empty((N, BK), dtype=Qt.dtype)
    Wc = np.ascontiguousarray(W)
    Dt = np.empty((B, N), dtype=Qt.dtype)
    R = np.empty((k, k), dtype=Qt.dtype)
    ws = qr_workspace(Qt[0])
    al, keep = leak_coefs(alpha, W)
    if mode == 1:
        Qprev = np.empty((BK, N), dtype=Qt.dtype)
        # G and H rows of several steps are gathered, then one GEMM adds them to GW
        cap = BK * max(1, 64 // BK)
        Gb = np.empty((cap, N), dtype=Qt.dtype)
        Hb = np.empty((cap, N), dtype=Qt.dtype)
        tmp = np.empty((N, N), dtype=Qt.dtype)
        fill = 0
    if mode == 2:
        Qs[0] = Qt
    for s in range(T):
        t = s + 1
        Xs = X[s]
        jac_gains(Xs, Y[s], current, code, Dt)
        if mode == 1:
            Qprev[:, :] = Q2
        if current:
            for n in range(N):
                for b in range(B):
                    d = Dt[b, n]
                    for i in range(k):
                        ST[n, b * k + i] = Q2[b * k + i, n] * d
            np.dot(Wc, ST, P)                  # P[:, r] = W (phi' * q_r)
            for r in range(BK):
                for n in range(N):
                    Q2[r, n] = keep * Q2[r, n] + al * P[n, r]
        else:
            for n in range(N):
                for r in range(BK):
                    ST[n, r] = Q2[r, n]
            np.dot(Wc, ST, P)                  # P[:, r] = W q_r
            for b in range(B):
                for i in range(k):
                    r = b * k + i
                    for n in range(N):
                        Q2[r, n] = keep * Q2[r, n] + al * Dt[b, n] * P[n, r]
        ph = (t - warm) % qr_every
        if ph < 0:
            ph += qr_every
        if ph != 0 and t != T:
            continue
        counted = t > warm
        for b in range(B):
            Qb = Qt[b]
            qr_pos(Qb, R, ws)
            if counted:
                for i in range(k):
                    logsum[b, i] += math.log(R[i, i])
            if mode == 2:
                Rs[s, b] = R
            if mode == 1 and counted:
                # H^T = R^{-T} Q_{t-1}^T by forward substitution (R^T is lower triangular)
                base = fill + b * k
                for i in range(k):
                    h = Hb[base + i]
                    qp = Qprev[b * k + i]
                    for n in range(N):
                        h[n] = qp[n]
                    for j in range(i):
                        rji = R[j, i]
                        hj = Hb[base + j]
                        for n in range(N):
                            h[n] -= rji * hj[n]
                    inv = 1.0 / R[i, i]
                    for n in range(N):
                        h[n] *= inv
                for i in range(k):
                    g = Gb[base + i]
                    qrow = Qb[i]
                    ci = al * c[i]
                    if current:
                        h = Hb[base + i]
                        for n in range(N):
                            g[n] = ci * qrow[n]
                            h[n] *= Dt[b, n]
                    else:
                        for n in range(N):
                            g[n] = ci * Dt[b, n] * qrow[n]
        if mode == 2:
            Qs[t] = Qt
        if mode == 1 and counted:
            fill += BK
            if fill == cap or t == T:
                np.dot(Gb[:fill].T, Hb[:fill], tmp)
                for i in range(N):
                    for j in range(N):
                        GW[i, j] += tmp[i, j]
                fill = 0


# --------------------------------------------------------------------------- exact backward

@njit
def lyap_backward(X, Y, W, alpha, current, code, Qs, Rs, c, warm, GW, SRC):
    """Reverse pass of the exact flossing gradient through the QR chain.

    With ``L = sum_i (lambda_i - target)^2`` and ``c_i = dL/d log R_t[i, i]`` (the
    same for every counted step and trial), each step t = T..1 does, per trial:

    1. QR backward (A = QR, thin, Walter & Lehmann 2018; the formula torch uses):
       ``Rbar = diag(c / diag(R))`` on counted steps (0 during warm-up),
       ``M = R Rbar^T - Qbar^T Q``, ``F = copyltu(M)`` (lower triangle mirrored),
       ``Abar = (Qbar + Q F) R^{-T}``.
    2. Through A = J_t Q_{t-1}:  ``Qbar_{t-1} = J_t^T Abar``;
       ``GW += alpha Abar (phi' * Q_{t-1})^T`` (current) or
       ``alpha (phi' * Abar) Q_{t-1}^T`` (rate);  and the derivative with respect to
       phi'(X_t), times phi''(X_t), written to ``SRC[s]`` (dL/dh_{t-1} in the current
       form, dL/du_t in the rate form) for the trajectory's own adjoint pass.

    ``Qs`` (T + 1, B, k, N) and ``Rs`` (T, B, k, k) come from ``lyap_forward`` mode 2.
    """
    T, B, N = X.shape
    k = Qs.shape[2]
    BK = B * k
    al, keep = leak_coefs(alpha, W)
    Qbar = np.zeros((BK, N), dtype=W.dtype)    # Qbar_t^T, rows per trial
    Abar = np.empty((BK, N), dtype=W.dtype)
    Yq = np.empty((k, N), dtype=W.dtype)
    S = np.empty((BK, N), dtype=W.dtype)
    P = np.empty((BK, N), dtype=W.dtype)
    WQ = np.empty((BK, N), dtype=W.dtype)
    M = np.empty((k, k), dtype=W.dtype)
    F = np.empty((k, k), dtype=W.dtype)
    Dt = np.empty((B, N), dtype=W.dtype)
    tmp = np.empty((N, N), dtype=W.dtype)
    # the rank-B*k terms of GW of several steps are gathered, then one GEMM adds them
    # (a GEMM with an inner dimension of a few is several times slower per flop)
    cap = BK * max(1, 64 // BK)
    Lb = np.empty((cap, N), dtype=W.dtype)
    Rb_ = np.empty((cap, N), dtype=W.dtype)
    fill = 0
    for s in range(T - 1, -1, -1):
        t = s + 1
        counted = t > warm
        Xs = X[s]
        jac_gains(Xs, Y[s], current, code, Dt)
        for b in range(B):
            Qb = Qs[t, b]
            Rb = Rs[s, b]
            Qbar_b = Qbar[b * k:(b + 1) * k]
            np.dot(Qbar_b, Qb.T, M)                 # (Qbar^T Q)[i, j] = qbar_i . q_j
            for i in range(k):
                for j in range(k):
                    v = -M[i, j]
                    if counted:
                        v += Rb[i, j] * (c[j] / Rb[j, j])
                    M[i, j] = v
            for i in range(k):
                for j in range(k):
                    F[i, j] = M[i, j] if i >= j else M[j, i]
            np.dot(F, Qb, Yq)                        # (Q F)^T = F Q^T, F symmetric
            for i in range(k):
                for n in range(N):
                    Yq[i, n] += Qbar_b[i, n]
            # Abar^T = R^{-1} Yq by back substitution
            for i in range(k - 1, -1, -1):
                a = Abar[b * k + i]
                for n in range(N):
                    a[n] = Yq[i, n]
                for j in range(i + 1, k):
                    rij = Rb[i, j]
                    aj = Abar[b * k + j]
                    for n in range(N):
                        a[n] -= rij * aj[n]
                inv = 1.0 / Rb[i, i]
                for n in range(N):
                    a[n] *= inv
        Qp = Qs[s].reshape(BK, N)                   # Q_{t-1}^T
        SRCs = SRC[s]
        if current:
            for b in range(B):
                for i in range(k):
                    r = b * k + i
                    for n in range(N):
                        S[r, n] = Qp[r, n] * Dt[b, n]
            np.dot(Abar, W, P)                      # (W^T Abar)^T
            Lb[fill:fill + BK] = Abar
            Rb_[fill:fill + BK] = S
            for b in range(B):
                for n in range(N):
                    acc = 0.0
                    for i in range(k):
                        acc += P[b * k + i, n] * Qp[b * k + i, n]
                    SRCs[b, n] = al * acc * d2phi(Xs[b, n], code)
                for i in range(k):
                    r = b * k + i
                    for n in range(N):
                        Qbar[r, n] = keep * Abar[r, n] + al * Dt[b, n] * P[r, n]
        else:
            for b in range(B):
                for i in range(k):
                    r = b * k + i
                    for n in range(N):
                        S[r, n] = Abar[r, n] * Dt[b, n]
            np.dot(S, W, P)                         # (W^T (phi' * Abar))^T
            Lb[fill:fill + BK] = S
            Rb_[fill:fill + BK] = Qp
            np.dot(Qp, W.T, WQ)                     # (W Q_{t-1})^T
            for b in range(B):
                for n in range(N):
                    acc = 0.0
                    for i in range(k):
                        acc += Abar[b * k + i, n] * WQ[b * k + i, n]
                    SRCs[b, n] = al * acc * d2phi(Xs[b, n], code)
            for r in range(BK):
                for n in range(N):
                    Qbar[r, n] = keep * Abar[r, n] + al * P[r, n]
        fill += BK
        if fill == cap or s == 0:
            np.dot(Lb[:fill].T, Rb_[:fill], tmp)
            for i in range(N):
                for j in range(N):
                    GW[i, j] += al * tmp[i, j]
            fill = 0


@njit
def adjoint_current(SRC, H, Rt, W, alpha, code, Z):
    """Trajectory adjoint with a direct source on every state (current form).

    ``g_T = 0``;  ``g_{t-1} = SRC_{t-1} + (1 - alpha) g_t + phi'(h_{t-1}) (alpha W^T g_t)``
    with ``SRC[s] = dL/dh_s`` (direct part), ``H[s] = h_s`` and ``Rt[s] = r_s`` for
    s = 0..T-1 (the ``X``, ``Y`` arrays of the spectrum).  Writes ``Z[s] = alpha g_{s+1}`` so that
    dW = sum_s Z_s^T r_s, dW_in = sum_s Z_s^T x_{s+1}, db = sum_s Z_s; returns g_0.
    """
    T, B, N = SRC.shape
    g = np.zeros((B, N), dtype=W.dtype)
    rec = np.empty((B, N), dtype=W.dtype)
    al, keep = leak_coefs(alpha, W)
    for s in range(T - 1, -1, -1):
        Zs = Z[s]
        for b in range(B):
            for n in range(N):
                Zs[b, n] = al * g[b, n]
        np.dot(g, W, rec)
        Hs = H[s]
        Rs = Rt[s]
        Ss = SRC[s]
        for b in range(B):
            for n in range(N):
                d = dphi_from(Hs[b, n], Rs[b, n], code)
                g[b, n] = Ss[b, n] + keep * g[b, n] + d * al * rec[b, n]
    return g


@njit
def adjoint_rate(SRC, U, W, alpha, code, Z):
    """Trajectory adjoint with a direct source on every pre-activation (rate form).

    ``abar_T = 0``;  ``ubar_t = alpha phi'(u_t) abar_t + SRC_t``;
    ``abar_{t-1} = (1 - alpha) abar_t + W^T ubar_t``.  Writes ``Z[s] = ubar_{s+1}``
    (dW = sum_s Z_s^T a_s, dW_in = sum_s Z_s^T x_{s+1}, db = sum_s Z_s); returns abar_0.
    """
    T, B, N = SRC.shape
    g = np.zeros((B, N), dtype=W.dtype)
    rec = np.empty((B, N), dtype=W.dtype)
    al, keep = leak_coefs(alpha, W)
    for s in range(T - 1, -1, -1):
        Zs = Z[s]
        Us = U[s]
        Ss = SRC[s]
        for b in range(B):
            for n in range(N):
                Zs[b, n] = al * dphi(Us[b, n], code) * g[b, n] + Ss[b, n]
        np.dot(Zs, W, rec)
        for b in range(B):
            for n in range(N):
                g[b, n] = keep * g[b, n] + rec[b, n]
    return g
