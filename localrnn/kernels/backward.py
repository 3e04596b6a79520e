"""Reverse-time recursions: exact BPTT and its truncated (e-prop / RFLO) form.

Both return ``Z`` (T, B, N), the gradient of the loss with respect to the
recurrent drive at each step, so that for either form and either rule

    dL/dW    = sum_k Z_k^T P_k      (P_k: r_{k-1} in the current form, a_{k-1} in the rate form)
    dL/dW_in = sum_k Z_k^T x_k,     dL/db = sum_k Z_k

dL/dW is one product over the T*B rows (:func:`weight_grad`); dL/dW_in, dL/db and
the readout's exact gradient (dL/dW_out = sum_k delta_k p_k^T, dL/db_out = sum_k
delta_k) are summed by the backward kernels while each row is in cache (I and O are
small), in reverse time order.

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
from .common import RELU, TANH, TANH32, dphi, dphi_from, leak_coefs, wide_vectors
from .gemm import GRAD_TILE_MAX_N, gemm_nn, gemm_tn, step_tiled


@njit(inline="always")
def signal_row(d, FT, out):
    """out = F d for one trial: the learning signal sum_o d_o F[:, o] (``FT`` is F^T,
    (O, N)), one vectorised loop per output (O is small: cheaper than a BLAS call per
    step).  Also the spiking kernels' learning signal."""
    O, N = FT.shape
    d0 = d[0]
    for n in range(N):
        out[n] = d0 * FT[0, n]
    for o in range(1, O):
        do = d[o]
        for n in range(N):
            out[n] += do * FT[o, n]


@njit(inline="always")
def _signal_row(DELTA, FT, k, i, fb):
    """fb = F delta_k for trial i (:func:`signal_row` of row (k, i))."""
    signal_row(DELTA[k, i], FT, fb)


@njit(inline="always")
def _dphi_row(H, R, code, k, i, dp):
    """dp = phi'(h) for row (k, i) given r = phi(h), one branch-free loop per activation."""
    N = dp.shape[0]
    if code == TANH or code == TANH32:
        one = dp.dtype.type(1.0)   # in the rows' float type, as ``dphi_from``
        for n in range(N):
            dp[n] = one - R[k, i, n] * R[k, i, n]
    elif code == RELU:
        for n in range(N):
            dp[n] = 1.0 if R[k, i, n] > 0.0 else 0.0
    else:
        for n in range(N):
            dp[n] = dphi_from(H[k, i, n], R[k, i, n], code)


@njit(inline="always")
def _input_readout_grads(Z, X, DELTA, S, k, i, gWinT, gWout, gbout):
    """Add row (k, i)'s terms of dL/dW_in (z x^T, as its transpose (I, N)) and of the
    readout's dL/dW_out = sum delta p^T, dL/db_out = sum delta while the row is in cache
    (I and O are small: one vectorised loop each)."""
    N = Z.shape[2]
    for j in range(X.shape[2]):
        xj = X[k, i, j]
        for n in range(N):
            gWinT[j, n] += Z[k, i, n] * xj
    for o in range(DELTA.shape[2]):
        do = DELTA[k, i, o]
        gbout[o] += do
        for n in range(N):
            gWout[o, n] += do * S[k, i, n]


#: Output and input widths whose backward rows run as one fused loop (tanh networks):
#: one loop per (O, I) pair, so that both are constants inside it.
FUSED_OUTPUTS = 3
FUSED_INPUTS = 3


@njit(inline="always")
def _fused_row(DELTA, R, X, FT, rec, k, i, a_next, Z, gb, gWinT, gWout, gbout, al, keep, O, I, exact):
    """One row (k, i) of the current-form adjoint for tanh (phi' = 1 - r^2), with its
    learning signal, dL/db, dL/dW_in and the readout's gradients, in one loop.

    ``O``, ``I`` (<= 3) and ``exact`` (0 or 1: an integer, because Numba kept a bool
    literal as a run-time branch here and the loop ran 5x slower) are literals at every
    call, so the loop has no branch inside; each quantity is computed as in the separate loops of
    :func:`_generic_row` (same operations, same order: the same bits).  One loop
    instead of seven per row: at N = 64 the loop set-ups (LLVM's alias checks between
    the many arrays) cost more than the row's arithmetic.
    """
    N = R.shape[2]
    one = R.dtype.type(1.0)
    d0 = DELTA[k, i, 0]
    d1 = DELTA[k, i, 1] if O >= 2 else d0
    d2 = DELTA[k, i, 2] if O >= 3 else d0
    x0 = X[k, i, 0] if I >= 1 else d0
    x1 = X[k, i, 1] if I >= 2 else d0
    x2 = X[k, i, 2] if I >= 3 else d0
    for n in range(N):
        r = R[k, i, n]
        fb = d0 * FT[0, n]
        if O >= 2:
            fb += d1 * FT[1, n]
        if O >= 3:
            fb += d2 * FT[2, n]
        if exact == 1:
            a = (one - r * r) * (fb + al * rec[i, n]) + keep * a_next[i, n]
        else:
            a = (one - r * r) * fb + keep * a_next[i, n]
        a_next[i, n] = a
        z = al * a
        Z[k, i, n] = z
        gb[n] += z
        if I >= 1:
            gWinT[0, n] += z * x0
        if I >= 2:
            gWinT[1, n] += z * x1
        if I >= 3:
            gWinT[2, n] += z * x2
        gWout[0, n] += d0 * r
        if O >= 2:
            gWout[1, n] += d1 * r
        if O >= 3:
            gWout[2, n] += d2 * r
    gbout[0] += d0
    if O >= 2:
        gbout[1] += d1
    if O >= 3:
        gbout[2] += d2


@njit(inline="always")
def _fused_rows(DELTA, R, X, FT, rec, k, a_next, Z, gb, gWinT, gWout, gbout, al, keep, O, exact):
    """All rows of step k through :func:`_fused_row`, the input width made a literal
    (``O`` and ``exact`` are literals at the call).  The width is tested once per step,
    outside the loop over rows (inside it, the 4-way branch around the inlined loops
    cost the vectorisation: 5x slower)."""
    I = X.shape[2]
    B = DELTA.shape[1]
    if I == 1:
        for i in range(B):
            _fused_row(DELTA, R, X, FT, rec, k, i, a_next, Z, gb, gWinT, gWout, gbout, al, keep, O, 1, exact)
    elif I == 0:
        for i in range(B):
            _fused_row(DELTA, R, X, FT, rec, k, i, a_next, Z, gb, gWinT, gWout, gbout, al, keep, O, 0, exact)
    elif I == 2:
        for i in range(B):
            _fused_row(DELTA, R, X, FT, rec, k, i, a_next, Z, gb, gWinT, gWout, gbout, al, keep, O, 2, exact)
    else:
        for i in range(B):
            _fused_row(DELTA, R, X, FT, rec, k, i, a_next, Z, gb, gWinT, gWout, gbout, al, keep, O, 3, exact)


@njit(inline="always")
def _fused_step(DELTA, R, X, FT, rec, k, a_next, Z, gb, gWinT, gWout, gbout, al, keep, exact):
    """Step k through :func:`_fused_rows`, the output width made a literal (``exact`` is
    an integer literal at the call)."""
    O = FT.shape[0]
    if O == 2:
        _fused_rows(DELTA, R, X, FT, rec, k, a_next, Z, gb, gWinT, gWout, gbout, al, keep, 2, exact)
    elif O == 1:
        _fused_rows(DELTA, R, X, FT, rec, k, a_next, Z, gb, gWinT, gWout, gbout, al, keep, 1, exact)
    else:
        _fused_rows(DELTA, R, X, FT, rec, k, a_next, Z, gb, gWinT, gWout, gbout, al, keep, 3, exact)


@njit(inline="always")
def _generic_row(DELTA, H, R, X, FT, rec, code, k, i, fb, dp, a_next, Z, gb, gWinT, gWout, gbout,
                 al, keep, exact):
    """One row (k, i) of the current-form adjoint, any activation and width: the
    learning signal, phi', the adjoint, then the input and readout sums, one loop each."""
    N = R.shape[2]
    _signal_row(DELTA, FT, k, i, fb)
    _dphi_row(H, R, code, k, i, dp)
    if exact:
        for n in range(N):
            a = dp[n] * (fb[n] + al * rec[i, n]) + keep * a_next[i, n]
            a_next[i, n] = a
            z = al * a
            Z[k, i, n] = z
            gb[n] += z
    else:
        for n in range(N):
            a = dp[n] * fb[n] + keep * a_next[i, n]
            a_next[i, n] = a
            z = al * a
            Z[k, i, n] = z
            gb[n] += z
    _input_readout_grads(Z, X, DELTA, R, k, i, gWinT, gWout, gbout)


@njit(inline="always")
def _scratch(A, W, gWinT, gWout):
    """The backward kernels' set-up: the row scratch (fb, dp) and the sums (gb, gWinT,
    gWout, gbout, zeroed) side by side in one block, the step product's output and the
    adjoint carried between steps (rec, nxt, zero), W as a C-contiguous array for the
    tiled step product and whether it is used.

    One block, because these small arrays are written at every row: allocated apart (the
    caller's sums, the kernel's scratch), two of them could sit a multiple of 4 KB apart,
    and then every row's loads wait on the stores to the other (4K aliasing): the e-prop
    backward pass at N = 64 (float64) took 86-114 us depending on where the caller's sums
    happened to be, and ~40 us more with sums freshly allocated per call than with the
    same sums kept.  In one block of (3 + I + O) N + O entries (3 KB at N = 64, I = 1,
    O = 2, float64) no two of them alias.  :func:`_sums_out` copies the sums to the
    caller's arrays (the same numbers)."""
    B, N = A.shape[1], A.shape[2]
    I, O = gWinT.shape[0], gWout.shape[0]
    blk = np.zeros((3 + I + O) * N + O, dtype=A.dtype)
    fb, dp, gb = blk[:N], blk[N:2 * N], blk[2 * N:3 * N]
    gWinT_l = blk[3 * N:(3 + I) * N].reshape(I, N)
    gWout_l = blk[(3 + I) * N:(3 + I + O) * N].reshape(O, N)
    gbout_l = blk[(3 + I + O) * N:]
    return (fb, dp, gb, gWinT_l, gWout_l, gbout_l, np.zeros((B, N), dtype=A.dtype),
            np.zeros((B, N), dtype=A.dtype), np.ascontiguousarray(W), step_tiled(W))


@njit(inline="always")
def _sums_out(src, gb, gWinT, gWout, gbout):
    """The sums made in :func:`_scratch`'s block, copied to the caller's arrays."""
    gb[:] = src[0]
    gWinT[:] = src[1]
    gWout[:] = src[2]
    gbout[:] = src[3]


@njit
def backward_current(DELTA, H, R, h0, X, W, FT, alpha, code, truncate, want_g0, Z, g0, gb,
                     gWinT, gWout, gbout):
    """Current-form adjoint.  ``FT`` is F^T (O, N); ``R = phi(H)``; ``X`` the inputs;
    ``truncate`` 0 (exact), 1 (recurrent term dropped) or 2 (the whole state detached).

    Writes Z and, summed over the trajectory while each row is in cache: gb = dL/db =
    sum_k Z_k, gWinT = (dL/dW_in)^T = sum_k x_k Z_k^T (I, N), and the readout's
    gWout = sum_k delta_k r_k^T, gbout = sum_k delta_k (reverse time order).  If
    ``want_g0``, g0 = dL/dh_0 (one more (B x N)(N x N) product and phi'(h_0): a whole
    step's GEMM, skipped when the caller does not return dL/dh_0).  The step products
    ``a W`` are register-tiled for N <= STEP_TILE_MAX_N (kernels/gemm.py), BLAS above.
    """
    wide_vectors()
    T, B, N = R.shape
    fb, dp, sb, sWinT, sWout, sbout, rec, a_next, Wc, tiled = _scratch(R, W, gWinT, gWout)
    O = FT.shape[0]
    fused = (code == TANH or code == TANH32) and 1 <= O <= FUSED_OUTPUTS and X.shape[2] <= FUSED_INPUTS
    al, keep = leak_coefs(alpha, W)
    kt = keep if truncate < 2 else keep - keep   # the leak the truncated steps keep
    for k in range(T - 1, -1, -1):
        exact = truncate == 0 and k < T - 1
        if exact:
            if tiled:
                gemm_nn(a_next, Wc, rec)  # (W^T a)^T = a^T W
            else:
                np.dot(a_next, W, rec)
        if fused and exact:
            _fused_step(DELTA, R, X, FT, rec, k, a_next, Z, sb, sWinT, sWout, sbout, al, keep, 1)
        elif fused:
            _fused_step(DELTA, R, X, FT, rec, k, a_next, Z, sb, sWinT, sWout, sbout, al, kt, 0)
        else:
            for i in range(B):
                _generic_row(DELTA, H, R, X, FT, rec, code, k, i, fb, dp, a_next, Z, sb, sWinT, sWout,
                             sbout, al, keep if exact else kt, exact)
    _sums_out((sb, sWinT, sWout, sbout), gb, gWinT, gWout, gbout)
    if not want_g0:
        return
    # dL/dh_0 (exact form: through W and the leak)
    np.dot(a_next, W, rec)
    for i in range(B):
        for n in range(N):
            g0[i, n] = dphi(h0[i, n], code) * al * rec[i, n] + keep * a_next[i, n]


@njit
def backward_rate(DELTA, U, S, X, W, FT, alpha, code, truncate, want_g0, Z, g0, gb,
                  gWinT, gWout, gbout):
    """Rate-form adjoint.  ``U`` holds pre-activations, ``S`` the states a_k (what the
    readout sees), ``X`` the inputs.  Writes Z and the sums of :func:`backward_current`
    (gb, gWinT, and the readout's gWout, gbout from the states), and, if ``want_g0``,
    g0 = dL/da_0 (one more step GEMM)."""
    wide_vectors()
    T, B, N = U.shape
    fb, dp, sb, sWinT, sWout, sbout, rec, g_next, Wc, tiled = _scratch(U, W, gWinT, gWout)
    al, keep = leak_coefs(alpha, W)
    kt = keep if truncate < 2 else keep - keep   # the leak the truncated steps keep
    for k in range(T - 1, -1, -1):
        exact = truncate == 0 and k < T - 1
        if exact:
            if tiled:
                gemm_nn(Z[k + 1], Wc, rec)
            else:
                np.dot(Z[k + 1], W, rec)
        for i in range(B):
            _signal_row(DELTA, FT, k, i, fb)
            for n in range(N):
                dp[n] = dphi(U[k, i, n], code)
            if exact:
                for n in range(N):
                    g = fb[n] + keep * g_next[i, n] + rec[i, n]
                    g_next[i, n] = g
                    z = al * dp[n] * g
                    Z[k, i, n] = z
                    sb[n] += z
            else:
                for n in range(N):
                    g = fb[n] + kt * g_next[i, n]
                    g_next[i, n] = g
                    z = al * dp[n] * g
                    Z[k, i, n] = z
                    sb[n] += z
            _input_readout_grads(Z, X, DELTA, S, k, i, sWinT, sWout, sbout)
    _sums_out((sb, sWinT, sWout, sbout), gb, gWinT, gWout, gbout)
    if not want_g0:
        return
    np.dot(Z[0], W, rec)
    for i in range(B):
        for n in range(N):
            g0[i, n] = keep * g_next[i, n] + rec[i, n]


@njit
def weight_grad(G, P, gW):
    """gW = G^T P = sum over the T*B rows of G_r^T p_r: dL/dW from the drive gradient G
    and the presynaptic activity P (both (T*B, N), C-contiguous).  Register-tiled for
    N <= GRAD_TILE_MAX_N (a sequential sum over the rows, kernels/gemm.py), one BLAS GEMM
    above."""
    wide_vectors()
    if gW.shape[0] <= GRAD_TILE_MAX_N:
        gemm_tn(G, P, gW)
    else:
        np.dot(G.T, P, gW)


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
