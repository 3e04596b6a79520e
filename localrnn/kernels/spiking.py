"""Spiking networks: LIF / ALIF neurons, BPTT and e-prop (MODEL.md section 9).

Index convention as everywhere: ``X[k]`` is x_{k+1}; ``V[k]``, ``Z[k]`` ... hold the
values after step k+1.  One step of neuron j (z_0 = 0, b_0 = 0, y_0 = 0):

    I_t = W_in x_t + b + W z_{t-1}                    (W has a zero diagonal)
    v_t = alpha v_{t-1} + I_t - v_th z_{t-1}          (reset "subtract", Bellec et al. 2020)
    v_t = alpha (v_reset if z_{t-1} else v_{t-1}) + I_t          (reset "set", NIR's LIF)
    b_t = rho b_{t-1} + z_{t-1},  A_t = v_th + beta_j b_t       (ALIF; LIF: A_t = v_th)
    z_t = H(v_t - A_t) unless refractory (then 0),  H(0) = 0
    psi_t = gamma / v_th * max(0, 1 - |(v_t - A_t) / v_th|)  (0 while refractory)
    y_t = kappa y_{t-1} + (1 - kappa) (W_out z_t + b_out)   (leaky-integrator readout)

A neuron is refractory at step t when it spiked at one of the ``n_ref`` steps before.
Spikes are exactly 0 or 1, so the recurrent input is a sum of columns of W over the
neurons that spiked (event-driven: no GEMM in the forward pass), and input channels
whose value is 0 are skipped (exact: they add nothing).

The scalars travel as two small arrays with named slots: ``prm`` (float64: alpha, rho,
kappa, v_th, v_reset, gamma) and ``mode`` (int64: ALIF flag, reset-set flag, n_ref).
Kernels compute in the arrays' float type: each float64 scalar is rounded once to it
(``1 - kappa`` is computed in float64 first, as ``common.leak_coefs``).

The e-prop eligibility recursions live in one place, :func:`trace_step`, called by
the batched trace form (:func:`eprop_traces`) and by the online learner's step
(:mod:`localrnn.kernels.spiking_online`).
"""
import numpy as np

from .._config import njit
from .backward import signal_row

# slots of ``prm`` (float64) and ``mode`` (int64)
P_ALPHA, P_RHO, P_KAPPA, P_VTH, P_VRESET, P_GAMMA = 0, 1, 2, 3, 4, 5
N_PRM = 6
M_ALIF, M_SET, M_NREF = 0, 1, 2
N_MODE = 3


@njit(inline="always")
def coefs(prm, like):
    """(alpha, rho, kappa, 1 - kappa, v_th, v_reset, gamma / v_th) in the float type of
    the array ``like`` (each rounded once from its float64 value)."""
    t = like.dtype.type
    return (t(prm[P_ALPHA]), t(prm[P_RHO]), t(prm[P_KAPPA]), t(1.0 - prm[P_KAPPA]),
            t(prm[P_VTH]), t(prm[P_VRESET]), t(prm[P_GAMMA] / prm[P_VTH]))


@njit(inline="always")
def add_rows(c, M, d):
    """d += sum_m c[m] M[m], in the order of m, skipping c[m] = 0 (exact: such a row adds
    nothing).  With the spikes as c (0 or 1) this is the event-driven sum of the rows of
    the spiking neurons (``1 * w`` is ``w`` exactly)."""
    N = d.shape[0]
    for m in range(c.shape[0]):
        cm = c[m]
        if cm != 0.0:
            w = M[m]
            for n in range(N):
                d[n] += cm * w[n]


@njit(inline="always")
def neuron_step(x, WinT, b, WT, beta, al, rho, vth, vres, gv, alif, setm, nref,
                zp, v, ba, cnt, d, z, psi):
    """One step of one trial's N neurons, state updated in place.

    ``x`` (I,) the input x_t; ``WinT`` (I, N) = W_in^T; ``WT`` (N, N) = W^T (row m is
    column m of W); ``zp`` (N,) the spikes z_{t-1}; ``v``, ``ba`` (N,) v_{t-1}, b_{t-1}
    in, v_t, b_t out; ``cnt`` (N,) int refractory counters; ``d`` (N,) scratch.  Writes
    ``z`` (N,) = z_t and ``psi`` (N,) = psi_t.  ``zp`` and ``z`` may be one array (the
    input drive reads all of zp before any z is written, and neuron n reads zp[n]
    before writing z[n]); the online step keeps them apart because its eligibility
    traces need z_{t-1} after the step.
    """
    N = d.shape[0]
    zero = d.dtype.type(0.0)
    one = d.dtype.type(1.0)
    for n in range(N):
        d[n] = b[n]
    add_rows(x, WinT, d)
    add_rows(zp, WT, d)
    for n in range(N):
        spiked = zp[n] != 0.0
        if setm:
            vn = al * (vres if spiked else v[n]) + d[n]
        else:
            vn = al * v[n] + d[n]
            if spiked:
                vn -= vth
        v[n] = vn
        A = vth
        if alif:
            bn = rho * ba[n] + zp[n]
            ba[n] = bn
            A = vth + beta[n] * bn
        if cnt[n] > 0:
            cnt[n] -= 1
            z[n] = zero
            psi[n] = zero
        else:
            s = one - abs((vn - A) / vth)
            psi[n] = gv * s if s > 0.0 else zero
            if vn > A:
                z[n] = one
                cnt[n] = nref
            else:
                z[n] = zero


@njit(inline="always")
def readout_step(z, W_out, b_out, kap, omk, y):
    """y = kappa y + (1 - kappa) (W_out z + b_out) for one trial (event-driven over z)."""
    O, N = W_out.shape
    for o in range(O):
        s = b_out[o]
        w = W_out[o]
        for n in range(N):
            if z[n] != 0.0:
                s += w[n]
        y[o] = kap * y[o] + omk * s


@njit
def forward(X, W_in, b, W, W_out, b_out, beta, prm, mode, v0, V, Z, BA, PSI, Y):
    """Run T steps for B trials from v_0 = ``v0`` (B, N) (b_0 = 0, z_0 = 0, y_0 = 0).

    Writes voltages ``V``, spikes ``Z`` (0 or 1), pseudo-derivatives ``PSI`` (T, B, N),
    outputs ``Y`` (T, B, O) and, for ALIF, the adaptation ``BA`` (T, B, N) (LIF: pass
    an empty (0, 0, 0) array).
    """
    T, B, I = X.shape
    N = W.shape[0]
    al, rho, kap, omk, vth, vres, gv = coefs(prm, V)
    alif = mode[M_ALIF] != 0
    setm = mode[M_SET] != 0
    nref = mode[M_NREF]
    WinT = np.ascontiguousarray(W_in.T)
    WT = np.ascontiguousarray(W.T)
    v = v0.copy()
    ba = np.zeros((B, N), dtype=V.dtype)
    cnt = np.zeros((B, N), dtype=np.int64)
    z0 = np.zeros(N, dtype=V.dtype)
    y = np.zeros((B, Y.shape[2]), dtype=V.dtype)
    d = np.empty(N, dtype=V.dtype)
    for k in range(T):
        for i in range(B):
            zp = z0 if k == 0 else Z[k - 1, i]
            neuron_step(X[k, i], WinT, b, WT, beta, al, rho, vth, vres, gv, alif, setm, nref,
                        zp, v[i], ba[i], cnt[i], d, Z[k, i], PSI[k, i])
            V[k, i] = v[i]
            if alif:
                BA[k, i] = ba[i]
            readout_step(Z[k, i], W_out, b_out, kap, omk, y[i])
            Y[k, i] = y[i]


@njit
def backward(DELTA, V, Z, PSI, W, FT, beta, prm, mode, truncate, rg, G, YH, gbias):
    """Reverse-time adjoint of :func:`forward`: BPTT, or e-prop with ``truncate``.

    ``DELTA`` (T, B, O) is dL/dy_t; ``FT`` (O, N) is F^T (W_out for BPTT); ``rg`` (N,)
    a direct gradient dL/dz_t added at every step (the firing-rate regulariser; zeros
    for none).  Per step, from t = T down (next-step adjoints 0 at t = T):

        yh_t = delta_t + kappa yh_{t+1}                       (readout adjoint)
        dz_t = (1 - kappa) F yh_t + rg + gb_{t+1}
               + [exact] W^T gv_{t+1} + c_t gv_{t+1}           (c_t = -v_th, or
                                                                 alpha (v_reset - v_t) for "set")
        gv_t = psi_t dz_t + l_t gv_{t+1}    (l_t = alpha, or alpha (1 - z_t) for "set")
        gb_t = -beta psi_t dz_t + rho gb_{t+1}                 (ALIF)

    ``truncate`` drops the bracket (the spike's paths through the recurrent weights and
    the reset): the e-prop gradient in its offline form (MODEL.md section 9).  Writes
    ``G[k] = gv_{k+1}`` = dL/dv (T, B, N), ``YH[k] = (1 - kappa) yh_{k+1}`` (T, B, O) and
    ``gbias = sum G``.  The parameter gradients are then sums of outer products:
    dL/dW_in = sum G_k x_k^T, dL/dW = sum G_k z_{k-1}^T (``spike_outer``), dL/dW_out =
    sum YH_k z_k^T, dL/db_out = sum YH_k (``backward.readout_grad``).
    """
    T, B, N = V.shape
    O = DELTA.shape[2]
    al, rho, kap, omk, vth, vres, gv_ = coefs(prm, V)
    alif = mode[M_ALIF] != 0
    setm = mode[M_SET] != 0
    gvn = np.zeros((B, N), dtype=V.dtype)
    gbn = np.zeros((B, N), dtype=V.dtype)
    yh = np.zeros((B, O), dtype=V.dtype)
    rec = np.zeros((B, N), dtype=V.dtype)
    fb = np.empty(N, dtype=V.dtype)
    gbias[:] = 0.0
    for k in range(T - 1, -1, -1):
        exact = (not truncate) and k < T - 1
        if exact:
            np.dot(gvn, W, rec)   # (W^T gv)^T = gv^T W
        for i in range(B):
            yhr = YH[k, i]
            for o in range(O):
                yv = DELTA[k, i, o] + kap * yh[i, o]
                yh[i, o] = yv
                yhr[o] = omk * yv
            signal_row(yhr, FT, fb)
            gr, br, rr = gvn[i], gbn[i], rec[i]
            Vk, Zk, Pk, Gk = V[k, i], Z[k, i], PSI[k, i], G[k, i]
            for n in range(N):
                g1 = gr[n]
                dz = fb[n] + rg[n]
                if alif:
                    dz += br[n]
                if exact:
                    dz += rr[n]
                    if setm:
                        dz += al * (vres - Vk[n]) * g1
                    else:
                        dz -= vth * g1
                ps = Pk[n]
                if setm and Zk[n] != 0.0:
                    g = ps * dz
                else:
                    g = ps * dz + al * g1
                if alif:
                    br[n] = rho * br[n] - beta[n] * ps * dz
                gr[n] = g
                Gk[n] = g
                gbias[n] += g


@njit
def spike_outer(G, P, shift, outT):
    """outT[m, :] += sum over (k, i) of P[k - shift, i, m] * G[k, i, :], skipping P = 0.

    With ``P = Z`` (spikes) and ``shift = 1``: dL/dW^T = sum_k z_{k-1} G_k^T; with the
    inputs and ``shift = 0``: dL/dW_in^T.  Event-driven: the cost is the number of
    non-zero entries of P times N (a dense GEMM would be T B N^2).
    """
    T, B, N = G.shape
    M = P.shape[2]
    for k in range(shift, T):
        for i in range(B):
            p = P[k - shift, i]
            g = G[k, i]
            for m in range(M):
                pm = p[m]
                if pm != 0.0:
                    row = outT[m]
                    for n in range(N):
                        row[n] += pm * g[n]


# ----------------------------------------------------------------------- e-prop traces

@njit(inline="always")
def trace_step(x, zp, psi, psip, L, rg, beta, al, rho, kap, omk, alif, setm,
               ev, ea, eb, gW_in, gb, gW):
    """One step of e-prop's eligibility recursions for one trial, accumulating gradients.

    Presynaptic vector p_t = [x_t (I); 1; z_{t-1} (N)] (columns of W_in, b, W).  With
    ``psip`` = psi_{t-1} (zeros at t = 1) and ``L`` the learning signal F delta_t:

        eps_a_t = (rho - beta psi_{t-1}) eps_a_{t-1} + psi_{t-1} eps_v_{t-1}   (ALIF)
        eps_v_t = alpha eps_v_{t-1} + p_t          (reset "set": alpha (1 - z_{t-1,j}))
        e_t     = psi_t (eps_v_t - beta eps_a_t)
        ebar_t  = kappa ebar_{t-1} + (1 - kappa) e_t
        g      += L_t ebar_t + rg e_t

    ``rg`` (N,) is the regulariser's dL/dz; an empty array means none (the online
    learner's case): the term is then not computed at all.
    ``ev`` is (1, P) with reset "subtract" (eps_v does not depend on the postsynaptic
    neuron) and (N, P) with "set"; ``ea`` (N, P) (ALIF; unused otherwise) and ``eb``
    (N, P).  The diagonal of W's gradient is not accumulated (self-connections are
    masked).
    """
    N = eb.shape[0]
    I = x.shape[0]
    P = eb.shape[1]
    nv = ev.shape[0]
    zero = eb.dtype.type(0.0)
    one = eb.dtype.type(1.0)
    reg = rg.shape[0] != 0
    if alif:
        for j in range(N):
            c1 = rho - beta[j] * psip[j]
            c2 = psip[j]
            evr = ev[0] if nv == 1 else ev[j]
            ear = ea[j]
            for q in range(P):
                ear[q] = c1 * ear[q] + c2 * evr[q]
    for j in range(nv):
        lk = al
        if setm and zp[j] != 0.0:
            lk = zero
        evr = ev[j]
        for q in range(I):
            evr[q] = lk * evr[q] + x[q]
        evr[I] = lk * evr[I] + one
        for m in range(N):
            evr[I + 1 + m] = lk * evr[I + 1 + m] + zp[m]
    for j in range(N):
        ps = psi[j]
        Lj = L[j]
        rj = rg[j] if reg else zero
        bj = beta[j]
        evr = ev[0] if nv == 1 else ev[j]
        ebr = eb[j]
        ear = ea[j] if alif else ebr
        for q in range(P):
            if alif:
                e = ps * (evr[q] - bj * ear[q])
            else:
                e = ps * evr[q]
            f = kap * ebr[q] + omk * e
            ebr[q] = f
            gq = Lj * f + rj * e if reg else Lj * f
            if q < I:
                gW_in[j, q] += gq
            elif q == I:
                gb[j] += gq
            elif q - I - 1 != j:
                gW[j, q - I - 1] += gq


@njit(inline="always")
def readout_trace_step(z, delta, kap, omk, zbar, obar, gW_out, gb_out):
    """zbar = kappa zbar + (1 - kappa) z, obar likewise with 1; gW_out += delta zbar^T,
    gb_out += delta obar (the readout's exact forward-mode gradient).  Returns obar."""
    N = z.shape[0]
    for n in range(N):
        zbar[n] = kap * zbar[n] + omk * z[n]
    obar = kap * obar + omk
    for o in range(delta.shape[0]):
        d = delta[o]
        if d != 0.0:
            g = gW_out[o]
            for n in range(N):
                g[n] += d * zbar[n]
            gb_out[o] += d * obar
    return obar


@njit
def eprop_traces(DELTA, X, Z, PSI, FT, beta, prm, mode, rg, nv,
                 gW_in, gb, gW, gW_out, gb_out):
    """The e-prop gradient forward in time over a stored trajectory, with the online
    learner's recursions (:func:`trace_step`, :func:`readout_trace_step`).  Accumulates
    into the five gradient arrays (the driver passes zeros); ``nv`` is 1 (reset
    "subtract") or N (reset "set"), the rows of eps_v."""
    T, B, N = Z.shape
    I = X.shape[2]
    P = I + 1 + N
    al, rho, kap, omk, vth, vres, gv = coefs(prm, Z)
    alif = mode[M_ALIF] != 0
    setm = mode[M_SET] != 0
    ev = np.zeros((nv, P), dtype=Z.dtype)
    ea = np.zeros((N if alif else 0, P), dtype=Z.dtype)
    eb = np.zeros((N, P), dtype=Z.dtype)
    zbar = np.zeros(N, dtype=Z.dtype)
    z0 = np.zeros(N, dtype=Z.dtype)
    L = np.empty(N, dtype=Z.dtype)
    for i in range(B):
        ev[:] = 0.0
        ea[:] = 0.0
        eb[:] = 0.0
        zbar[:] = 0.0
        obar = Z.dtype.type(0.0)
        for k in range(T):
            dl = DELTA[k, i]
            signal_row(dl, FT, L)
            zp = z0 if k == 0 else Z[k - 1, i]
            pp = z0 if k == 0 else PSI[k - 1, i]
            trace_step(X[k, i], zp, PSI[k, i], pp, L, rg, beta, al, rho, kap, omk, alif, setm,
                       ev, ea, eb, gW_in, gb, gW)
            obar = readout_trace_step(Z[k, i], dl, kap, omk, zbar, obar, gW_out, gb_out)
