"""Fixed-point (integer) online learning: e-prop and RFLO, both forms, SGD.

Every quantity is an int64 holding a two's-complement fixed-point number: integer ``V``
means the value ``V * 2**-f`` in format ``(bits, f)``, and a stored value is saturated to
``[-2**(bits-1), 2**(bits-1) - 1]``.  The driver is :mod:`localrnn.neuromorphic.fixed`;
``tests/fixed_ref.py`` is a plain-Python reference of the same rules, bit for bit.

Primitives (``x`` an exact integer, ``k`` a shift):

* ``rshift(x, k)``: ``x / 2**k`` rounded.  Nearest: ``(x + 2**(k-1)) >> k`` (ties up,
  towards +inf).  Stochastic: ``(x + u) >> k`` with ``u`` uniform on ``0 .. 2**k - 1``
  (unbiased: ``E = x / 2**k`` exactly), ``u`` the top ``k`` bits of one (``k <= 32``) or
  two (``k > 32``: ``(a << 32 | b)``) PCG32 outputs.  ``k = 0``: ``x``, no draw.
* ``conv(x, k, bits)``: re-scale by ``2**-k`` and saturate -- ``k > 0`` ``sat(rshift(x, k))``,
  ``k <= 0`` ``x << -k`` saturated (computed without overflow).
* ``leak(old, new)``: ``sat(rshift(Kq * old + Aq * new, 15))``, the leaky update
  ``(1 - alpha) old + alpha new`` with ``Aq = round(alpha * 2**15)`` and
  ``Kq = 2**15 - Aq`` (one rounding).
* look-up tables: phi and phi' over the whole state range, ``2**lut_bits + 1`` knots
  ``x_k = smin + k * 2**sh`` (``sh = max(0, s_bits - lut_bits)``), linear interpolation
  between knots rounded to nearest (no draws): ``T[k] + rshift_nearest((T[k+1] - T[k]) *
  rem, sh)`` with ``k = (x - smin) >> sh``, ``rem = (x - smin) & (2**sh - 1)``.

Every format has at most 32 bits and at most 31 fractional bits, so every product of two
stored numbers, every shift (at most 62) and every sum below fits in an int64.
Products of two stored numbers are exact, are
re-scaled into the accumulator format ``acc`` with ``conv`` and summed there, saturating
after every addition, in index order: ``W r`` (j = 0..N-1), then ``W_in x`` (k = 0..I-1),
then the bias.

One step (the order of the loops is the order of the random draws):

1. forward, for each stream b and unit n: the drive in ``acc``; current form
   ``h_n = leak(h_n, conv(drive, fa - fs, s))`` for all n, then ``r_n = phi_lut(h_n)``;
   rate form ``u_n = conv(drive, fa - fs, s)``, ``a_n = leak(a_n, phi_lut(u_n))``;
   then ``y_o = conv(W_out r (or a) + b_out in acc, fa - fs, s)``.
2. error: ``n_t = sum(mask)`` (mask entries 0 or 1); ``e = sat_s(y - y*)``,
   ``delta = mask * conv(e, fs - fl, l)`` (the output error is in the learning-signal
   format ``l``, as the spec defines; b, o ascending); the reported loss is the float
   ``0.5 * sum(mask * (e 2**-fs)**2) / n_t``.  The normalisation ``1/n_t`` goes into the
   learning rate: ``eta_t = (2 eta_q + n_t) // (2 n_t)`` (one integer division per step),
   ``eta_q = round(lr * 2**LR_FRAC)``.
3. learning signal (contributing steps, ``n_t > 0``): ``c = sum_o F_on delta_o`` in acc;
   current form ``L_n = conv(c * phi'_lut(h_n), fa + fs - fl, l)``, rate form
   ``L_n = conv(c, fa - fl, l)``.
4. traces (every step), per stream: current form ``ebar_j = leak(ebar_j, conv(r_prev_j,
   fs - ft, t))``, ``xbar_k`` likewise with ``x_k``, ``bbar = leak(bbar, sat_t(2**ft))``;
   rate form, per unit n with ``d = phi'_lut(u_n)``: ``p_nj = leak(p_nj, conv(d * a_prev_j,
   2 fs - ft, t))``, ``q_nk`` with ``x_k``, ``pb_n = leak(pb_n, conv(d, fs - ft, t))``.
5. SGD (contributing steps, trained parameters with ``eta_q > 0``), element by element:
   ``g = sum_b conv(L_n * trace, fl + ft - fa, acc)`` (saturating, b ascending), then
   ``W = sat_w(W - conv(eta_t * g, LR_FRAC + fa - fW, w))``; order: for n: W row, W_in row,
   b_n; then for o: W_out row (``g = sum_b conv(delta_o * r_j, fl + fs - fa, acc)``, ``a_j``
   in the rate form), b_out_o (``conv(delta_o, fl - fa, acc)``).
6. commit: ``h_prev = h``, ``r_prev = r``.
"""
import numpy as np

from .._config import njit
from ..names import P_B, P_BOUT, P_W, P_WIN, P_WOUT, PARAM_NAMES

#: fractional bits of the leak constants Aq, Kq (alpha in 1.15, as ReckOn's leak)
ALPHA_FRAC = 15
#: fractional bits of the learning-rate multiplier eta_q = round(lr * 2**LR_FRAC)
LR_FRAC = 30

# ctl slots (int64); the convention of kernels/online_layout.py: plain module-level
# integers, one name per slot for the kernels and the driver; per-parameter blocks in
# localrnn.names.PARAM_NAMES order (then F), indexed by names.P_WIN ... P_BOUT and P_F
C_FORM = 0          # 0 current, 1 rate
C_ROUND = 1         # 0 nearest, 1 stochastic
C_SB, C_SF = 2, 3   # state format
C_TB, C_TF = 4, 5   # trace format
C_LB, C_LF = 6, 7   # learning-signal format
C_AB, C_AF = 8, 9   # accumulator format
C_WB = 10           # weight bits (all weight arrays)
C_WF = 11           # 6 fractional bits: W_in, W, b, W_out, b_out, F (PARAM_NAMES + F)
C_AQ = 17           # round(alpha * 2**15)
C_ETA = 18          # 5 learning-rate multipliers (0: not trained), PARAM_NAMES
C_LUTSH = 23        # LUT segment shift
C_NSTEP = 24        # steps taken
C_NUPD = 25         # contributing steps (= SGD updates)
N_CTL = 26

#: the feedback matrix's slot, after the five parameters
P_F = len(PARAM_NAMES)

# rows of S (7, B, N)
S_H, S_R, S_HN, S_RN, S_U, S_L, S_D = 0, 1, 2, 3, 4, 5, 6
N_S = 7

_M32 = np.uint64(0xFFFFFFFF)
_PCG_MULT = np.uint64(6364136223846793005)


@njit
def pcg32(rng):
    """Next 32-bit output (as int64) of the PCG32 (XSH-RR) stream ``rng = [state, inc]``."""
    old = rng[0]
    rng[0] = old * _PCG_MULT + rng[1]
    xs = (((old >> np.uint64(18)) ^ old) >> np.uint64(27)) & _M32
    rot = old >> np.uint64(59)
    out = ((xs >> rot) | (xs << ((np.uint64(32) - rot) & np.uint64(31)))) & _M32
    return np.int64(out)


@njit
def draw_bits(rng, k):
    """Uniform integer on 0 .. 2**k - 1 (1 <= k <= 62): the top k bits of one or two draws."""
    if k <= 32:
        return pcg32(rng) >> (32 - k)
    a = pcg32(rng)
    b = pcg32(rng)
    return (a << (k - 32)) | (b >> (64 - k))   # the top k bits of (a << 32 | b), no overflow


@njit
def rshift(x, k, mode, rng):
    """x / 2**k rounded (k >= 1): nearest (ties up) or stochastic; see the module notes."""
    if mode == 0:
        return (x + (np.int64(1) << (k - 1))) >> k
    return (x + draw_bits(rng, k)) >> k


@njit
def sat(x, bits):
    hi = (np.int64(1) << (bits - 1)) - 1
    lo = -(np.int64(1) << (bits - 1))
    if x > hi:
        return hi
    if x < lo:
        return lo
    return x


@njit
def conv(x, k, bits, mode, rng):
    """Re-scale x by 2**-k into a ``bits``-wide format, rounding and saturating."""
    if k > 0:
        return sat(rshift(x, k, mode, rng), bits)
    if k == 0:
        return sat(x, bits)
    s = -k
    half = np.int64(1) << (bits - 1)
    hi = (half - 1) >> s if s < 63 else 0
    lo = -(half >> s) if s < 63 else 0
    if x > hi:
        return half - 1
    if x < lo:
        return -half
    return x << s


@njit
def leak(old, new, aq, bits, mode, rng):
    """sat(rshift((2**15 - aq) old + aq new, 15)): (1 - alpha) old + alpha new."""
    kq = (np.int64(1) << 15) - aq
    return sat(rshift(kq * old + aq * new, 15, mode, rng), bits)


@njit
def lut(tab, x, smin, sh):
    """Linear interpolation in a knot table (nearest rounding, no draws)."""
    z = x - smin
    k = z >> sh
    if sh == 0:
        return tab[k]
    rem = z & ((np.int64(1) << sh) - 1)
    t0 = tab[k]
    return t0 + (((tab[k + 1] - t0) * rem + (np.int64(1) << (sh - 1))) >> sh)


@njit
def _drive(W, W_in, b, n, z, x, fz, ctl, rng):
    """sum_j W_nj z_j + sum_k W_in_nk x_k + b_n in the accumulator (saturating)."""
    mode = ctl[C_ROUND]
    ab, af, sf = ctl[C_AB], ctl[C_AF], ctl[C_SF]
    fW, fIn, fb = ctl[C_WF + P_W], ctl[C_WF + P_WIN], ctl[C_WF + P_B]
    acc = np.int64(0)
    for j in range(z.shape[0]):
        acc = sat(acc + conv(W[n, j] * z[j], fW + fz - af, ab, mode, rng), ab)
    for k in range(x.shape[0]):
        acc = sat(acc + conv(W_in[n, k] * x[k], fIn + sf - af, ab, mode, rng), ab)
    acc = sat(acc + conv(b[n], fb - af, ab, mode, rng), ab)
    return acc


@njit
def _forward(W_in, W, b, W_out, b_out, S, Y, lutab, ctl, rng, x):
    B, N = S.shape[1], S.shape[2]
    O = Y.shape[2]
    mode = ctl[C_ROUND]
    sb, sf, ab, af = ctl[C_SB], ctl[C_SF], ctl[C_AB], ctl[C_AF]
    aq = ctl[C_AQ]
    smin = -(np.int64(1) << (sb - 1))
    sh = ctl[C_LUTSH]
    rate = ctl[C_FORM] == 1
    fO, fbO = ctl[C_WF + P_WOUT], ctl[C_WF + P_BOUT]
    for i in range(B):
        h, hn, rn, u = S[S_H, i], S[S_HN, i], S[S_RN, i], S[S_U, i]
        z = h if rate else S[S_R, i]
        for n in range(N):
            acc = _drive(W, W_in, b, n, z, x[i], sf, ctl, rng)
            if rate:
                u[n] = conv(acc, af - sf, sb, mode, rng)
                rn[n] = lut(lutab[0], u[n], smin, sh)
                hn[n] = leak(h[n], rn[n], aq, sb, mode, rng)
            else:
                hn[n] = leak(h[n], conv(acc, af - sf, sb, mode, rng), aq, sb, mode, rng)
        if not rate:
            for n in range(N):
                rn[n] = lut(lutab[0], hn[n], smin, sh)
        src = hn if rate else rn
        for o in range(O):
            acc = np.int64(0)
            for j in range(N):
                acc = sat(acc + conv(W_out[o, j] * src[j], fO + sf - af, ab, mode, rng), ab)
            acc = sat(acc + conv(b_out[o], fbO - af, ab, mode, rng), ab)
            Y[0, i, o] = conv(acc, af - sf, sb, mode, rng)


@njit
def _sgd(theta, idx, g, eta, fw, ctl, rng):
    """theta[idx] = sat_w(theta[idx] - conv(eta * g, LR_FRAC + fa - fw, w))."""
    wb = ctl[C_WB]
    d = conv(eta * g, LR_FRAC + ctl[C_AF] - fw, wb, ctl[C_ROUND], rng)
    theta[idx] = sat(theta[idx] - d, wb)


@njit
def _step(W_in, W, b, W_out, b_out, FT, S, Y, E, lutab, ctl, rng, x, target, mask):
    B, N = S.shape[1], S.shape[2]
    I = x.shape[1]
    O = Y.shape[2]
    mode = ctl[C_ROUND]
    sb, sf = ctl[C_SB], ctl[C_SF]
    tb, tf = ctl[C_TB], ctl[C_TF]
    lb, lf = ctl[C_LB], ctl[C_LF]
    ab, af = ctl[C_AB], ctl[C_AF]
    aq = ctl[C_AQ]
    smin = -(np.int64(1) << (sb - 1))
    sh = ctl[C_LUTSH]
    rate = ctl[C_FORM] == 1
    _forward(W_in, W, b, W_out, b_out, S, Y, lutab, ctl, rng, x)
    # ---- error and loss
    norm = np.int64(0)
    for i in range(B):
        for o in range(O):
            norm += mask[i, o]
    loss = 0.0
    scale = 2.0 ** (-sf)
    for i in range(B):
        for o in range(O):
            if mask[i, o] != 0:
                e = sat(Y[0, i, o] - target[i, o], sb)
                Y[1, i, o] = conv(e, sf - lf, lb, mode, rng)   # delta, in the l format
                ev = e * scale
                loss += 0.5 * ev * ev
            else:
                Y[1, i, o] = 0
    contributing = norm > 0
    if contributing:
        loss /= norm
    # ---- learning signal
    L = S[S_L]
    if contributing:
        fF = ctl[C_WF + P_F]
        for i in range(B):
            for n in range(N):
                acc = np.int64(0)
                for o in range(O):
                    acc = sat(acc + conv(FT[o, n] * Y[1, i, o], fF + lf - af, ab, mode, rng), ab)
                if rate:
                    L[i, n] = conv(acc, af - lf, lb, mode, rng)
                else:
                    dp = lut(lutab[1], S[S_HN, i, n], smin, sh)
                    L[i, n] = conv(acc * dp, af + sf - lf, lb, mode, rng)
    # ---- traces
    one_t = sat(np.int64(1) << tf, tb)
    for i in range(B):
        if rate:
            a_prev, u, d = S[S_H, i], S[S_U, i], S[S_D, i]
            for n in range(N):
                d[n] = lut(lutab[1], u[n], smin, sh)
            for n in range(N):
                row = E[i, n]
                dn = d[n]
                for j in range(N):
                    row[j] = leak(row[j], conv(dn * a_prev[j], 2 * sf - tf, tb, mode, rng), aq, tb,
                                  mode, rng)
                for k in range(I):
                    row[N + k] = leak(row[N + k], conv(dn * x[i, k], 2 * sf - tf, tb, mode, rng),
                                      aq, tb, mode, rng)
                row[N + I] = leak(row[N + I], conv(dn, sf - tf, tb, mode, rng), aq, tb, mode, rng)
        else:
            row = E[i, 0]
            r_prev = S[S_R, i]
            for j in range(N):
                row[j] = leak(row[j], conv(r_prev[j], sf - tf, tb, mode, rng), aq, tb, mode, rng)
            for k in range(I):
                row[N + k] = leak(row[N + k], conv(x[i, k], sf - tf, tb, mode, rng), aq, tb, mode,
                                  rng)
            row[N + I] = leak(row[N + I], one_t, aq, tb, mode, rng)
    # ---- SGD
    if contributing:
        ctl[C_NUPD] += 1
        eta = np.zeros(5, dtype=np.int64)
        for p in range(5):
            q = ctl[C_ETA + p]
            eta[p] = (2 * q + norm) // (2 * norm) if q > 0 else 0
        lk = lf + tf - af
        Wf, Inf, bf = W.reshape(W.size), W_in.reshape(W_in.size), b
        for n in range(N):
            if eta[P_W] > 0:
                for j in range(N):
                    g = np.int64(0)
                    for i in range(B):
                        e = E[i, n, j] if rate else E[i, 0, j]
                        g = sat(g + conv(L[i, n] * e, lk, ab, mode, rng), ab)
                    _sgd(Wf, n * N + j, g, eta[P_W], ctl[C_WF + P_W], ctl, rng)
            if eta[P_WIN] > 0:
                for k in range(I):
                    g = np.int64(0)
                    for i in range(B):
                        e = E[i, n, N + k] if rate else E[i, 0, N + k]
                        g = sat(g + conv(L[i, n] * e, lk, ab, mode, rng), ab)
                    _sgd(Inf, n * I + k, g, eta[P_WIN], ctl[C_WF + P_WIN], ctl, rng)
            if eta[P_B] > 0:
                g = np.int64(0)
                for i in range(B):
                    e = E[i, n, N + I] if rate else E[i, 0, N + I]
                    g = sat(g + conv(L[i, n] * e, lk, ab, mode, rng), ab)
                _sgd(bf, n, g, eta[P_B], ctl[C_WF + P_B], ctl, rng)
        Of = W_out.reshape(W_out.size)
        src = S[S_HN] if rate else S[S_RN]
        for o in range(O):
            if eta[P_WOUT] > 0:
                for j in range(N):
                    g = np.int64(0)
                    for i in range(B):
                        g = sat(g + conv(Y[1, i, o] * src[i, j], lf + sf - af, ab, mode, rng), ab)
                    _sgd(Of, o * N + j, g, eta[P_WOUT], ctl[C_WF + P_WOUT], ctl, rng)
            if eta[P_BOUT] > 0:
                g = np.int64(0)
                for i in range(B):
                    g = sat(g + conv(Y[1, i, o], lf - af, ab, mode, rng), ab)
                _sgd(b_out, o, g, eta[P_BOUT], ctl[C_WF + P_BOUT], ctl, rng)
    # ---- commit
    for i in range(B):
        for n in range(N):
            S[S_H, i, n] = S[S_HN, i, n]
            S[S_R, i, n] = S[S_RN, i, n]
    ctl[C_NSTEP] += 1
    return loss


@njit
def step(W_in, W, b, W_out, b_out, FT, S, Y, E, lutab, ctl, rng, x, target, mask):
    """One integer online step; x (B, I), target (B, O) in the state format, mask (B, O)
    of 0/1.  Returns the step's loss (float, from the integers)."""
    return _step(W_in, W, b, W_out, b_out, FT, S, Y, E, lutab, ctl, rng, x, target, mask)


@njit
def run(W_in, W, b, W_out, b_out, FT, S, Y, E, lutab, ctl, rng, X, TG, MK, losses):
    """T steps of ``step`` in one call; ``losses[k]`` gets step k's loss."""
    for k in range(X.shape[0]):
        losses[k] = _step(W_in, W, b, W_out, b_out, FT, S, Y, E, lutab, ctl, rng, X[k], TG[k],
                          MK[k])


@njit
def phi_lut(tab, x, smin, sh):
    """Vectorised LUT evaluation (for the driver's reset and tests)."""
    out = np.empty_like(x)
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    for k in range(xf.shape[0]):
        of[k] = lut(tab, xf[k], smin, sh)
    return out


@njit
def stochastic_round_many(x, k, n, rng):
    """n stochastic roundings of x / 2**k (for the unbiasedness test)."""
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = rshift(x, k, 1, rng)
    return out
