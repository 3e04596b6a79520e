"""Online (streaming) e-prop for spiking networks: one kernel call per time step.

A step does, for B parallel streams sharing one set of weights (MODEL.md section 9):

1. forward:   the neurons (``spiking.neuron_step``) and the leaky readout;
2. loss:      the step's own masked loss, normalised by the step's mask sum (a zero
              mask contributes nothing), ``delta_t``;
3. traces:    e-prop's eligibility vectors and filtered traces (``spiking.trace_step``,
              the same function the batched trace form calls), the readout's filtered
              spikes, and the step's gradient added to the accumulator;
4. optimiser: every ``update_every`` contributing steps, SGD or Adam (the shared
              element-wise kernels of ``optim.py``) on the accumulated sum.

The firing-rate regulariser ``0.5 c sum_j (r_j - f0)^2`` (``hyp[H_REG]`` = c > 0) is
applied online with the rate each neuron has fired at since the streams' last reset:
``rhat_j = sum of z_j over those steps and the B streams / (steps * B)``, which at a
trial's last step is the batched regulariser's r_j.  A contributing step adds
``c (rhat_j - f0) / B * e_t`` for each stream (e-prop's eligibility, as the batched
trace form adds ``c (r_j - f0) / (T B) * e_t``: summed over a fully masked trial with
rhat = r, T times the batched term, as the task term is).

Layout (all allocated by :class:`localrnn.spiking.online.SpikingOnlineLearner`):

    S (12, B, N)   rows S_V v_t, S_BA b_t, S_Z z_t, S_ZP z_{t-1}, S_PSI psi_t,
                   S_PSIP psi_{t-1}, S_L learning signal, S_ZBAR filtered spikes,
                   S_D scratch (row 0: the input drive), S_ZERO zeros, S_ZSUM spikes
                   summed since the reset, S_RG (row 0) the regulariser's dL/dz
    Y (3, B, O)    y_t, delta_t, and [:, :, 0] the readout's filtered 1 (for b_out)
    CNT (B, N)     int64 refractory counters
    EV (B, nv, P), EA (B, N or 0, P), EB (B, N, P)  eps_v, eps_a, ebar over the
                   presynaptic vector [x; 1; z_{t-1}] (P = I + 1 + N)
    G (1 or 3, Ptot)  accumulated gradients, then Adam's m and v, flat in the order
                   of ``PARAM_ORDER`` (W_in, W, b, W_out, b_out)
    ctl (int64), hyp (float64): the slots below

The weights used by a step are those before its update; symmetric feedback passes
``W_out`` itself as F^T, so it follows the readout as it learns.  The recurrent and
input weights are read through transposed views (``W.T``), with the same arithmetic
as the batched forward pass (identical spikes for identical weights).
"""
from .._config import njit
from .backward import signal_row
from .common import mse_delta, xent_delta
from .optim import adam_update, sgd_update
from .spiking import M_ALIF, M_NREF, M_SET, coefs, neuron_step, readout_step, \
    readout_trace_step, trace_step

PARAM_ORDER = ("W_in", "W", "b", "W_out", "b_out")
S_V, S_BA, S_Z, S_ZP, S_PSI, S_PSIP, S_L, S_ZBAR, S_D, S_ZERO, S_ZSUM, S_RG = range(12)
N_S = 12
# ctl slots
C_OPT, C_EVERY, C_COUNT, C_NUPD, C_NSTEP, C_LOSS, C_FRESH, C_TRAIN = 0, 1, 2, 3, 4, 5, 6, 7
C_TRESET = C_TRAIN + 5          # steps since the streams' last reset (the regulariser's rate)
N_CTL = C_TRESET + 1
# hyp slots
H_LR, H_B1, H_B2, H_EPS, H_REG, H_F0 = 0, 5, 6, 7, 8, 9
N_HYP = 10


@njit
def grad_views(G, row, N, I, O):
    """(W_in, W, b, W_out, b_out) views of row ``row`` of G, in PARAM_ORDER."""
    g = G[row]
    o = 0
    gW_in = g[o:o + N * I].reshape((N, I))
    o += N * I
    gW = g[o:o + N * N].reshape((N, N))
    o += N * N
    gb = g[o:o + N]
    o += N
    gW_out = g[o:o + O * N].reshape((O, N))
    o += O * N
    gb_out = g[o:o + O]
    return gW_in, gW, gb, gW_out, gb_out


@njit
def apply_update(W_in, W, b, W_out, b_out, G, ctl, hyp):
    """The optimiser on the accumulated sums (trained parameters with a learning rate
    != 0); then the window is closed (the sums stay readable until the next
    contributing step starts a new window)."""
    ctl[C_NUPD] += 1
    step = float(ctl[C_NUPD])
    o = 0
    params = (W_in.reshape(-1), W.reshape(-1), b, W_out.reshape(-1), b_out)
    for k in range(5):
        p = params[k]
        n = p.shape[0]
        lr = hyp[H_LR + k]
        if ctl[C_TRAIN + k] != 0 and lr != 0.0:
            if ctl[C_OPT] == 0:
                sgd_update(p, G[0, o:o + n], lr)
            else:
                adam_update(p, G[0, o:o + n], G[1, o:o + n], G[2, o:o + n], lr,
                            hyp[H_B1], hyp[H_B2], hyp[H_EPS], step)
        o += n
    ctl[C_COUNT] = 0
    ctl[C_FRESH] = 1


@njit
def step(W_in, b, W, W_out, b_out, FT, beta, prm, mode, ctl, hyp, S, Y, CNT, EV, EA, EB, G,
         x, tg, lb, m):
    """One step for all B streams; returns the step's loss (0 if its mask sums to 0).

    ``x`` (B, I); MSE: ``tg`` (B, O) targets, ``m`` (B, O) mask, ``lb`` unused;
    cross-entropy: ``lb`` (B,) labels, ``m`` (B, 1) mask, ``tg`` unused.
    """
    B, N = S.shape[1], S.shape[2]
    I = x.shape[1]
    O = W_out.shape[0]
    al, rho, kap, omk, vth, vres, gv = coefs(prm, S)
    alif = mode[M_ALIF] != 0
    setm = mode[M_SET] != 0
    nref = mode[M_NREF]
    V, BA, Z, ZP, PSI, PSIP = S[S_V], S[S_BA], S[S_Z], S[S_ZP], S[S_PSI], S[S_PSIP]
    L, ZBAR, d, zero = S[S_L], S[S_ZBAR], S[S_D, 0], S[S_ZERO, 0]
    ZSUM, rgv = S[S_ZSUM], S[S_RG, 0]
    y, delta, obar = Y[0], Y[1], Y[2]
    ZP[:] = Z
    PSIP[:] = PSI
    WinT, WT = W_in.T, W.T
    for i in range(B):
        neuron_step(x[i], WinT, b, WT, beta, al, rho, vth, vres, gv, alif, setm, nref,
                    ZP[i], V[i], BA[i], CNT[i], d, Z[i], PSI[i])
        readout_step(Z[i], W_out, b_out, kap, omk, y[i])
    # the step's loss and delta_t = dl_t/dy_t
    mse = ctl[C_LOSS] == 0
    s = 0.0
    if mse:
        for i in range(B):
            for o in range(O):
                s += m[i, o]
    else:
        for i in range(B):
            s += m[i, 0]
    loss = 0.0
    if s > 0.0:
        if mse:
            loss = mse_delta(y, tg, m, s, delta)
        else:
            loss = xent_delta(y, lb, m[:, 0], s, delta)
        if ctl[C_FRESH] != 0:   # a new window starts: the applied sums are cleared
            G[0, :] = 0.0
            ctl[C_FRESH] = 0
    else:
        delta[:] = 0.0
    # the regulariser: each neuron's rate since the reset, its dL/dz (contributing steps)
    c = hyp[H_REG]
    reg = c != 0.0 and s > 0.0
    ctl[C_TRESET] += 1
    if c != 0.0:
        for i in range(B):
            for j in range(N):
                ZSUM[i, j] += Z[i, j]
        if reg:
            nobs = float(ctl[C_TRESET] * B)
            for j in range(N):
                zs = 0.0
                for i in range(B):
                    zs += ZSUM[i, j]
                rgv[j] = c * (zs / nobs - hyp[H_F0]) / B
    rg = rgv if reg else zero[:0]
    # learning signal L = F delta, traces, and the gradient (zero when not contributing)
    for i in range(B):
        signal_row(delta[i], FT, L[i])
    gW_in, gW, gb, gW_out, gb_out = grad_views(G, 0, N, I, O)
    for i in range(B):
        trace_step(x[i], ZP[i], PSI[i], PSIP[i], L[i], rg, beta, al, rho, kap, omk, alif,
                   setm, EV[i], EA[i], EB[i], gW_in, gb, gW)
        obar[i, 0] = readout_trace_step(Z[i], delta[i], kap, omk, ZBAR[i], obar[i, 0],
                                        gW_out, gb_out)
    ctl[C_NSTEP] += 1
    if s > 0.0:
        ctl[C_COUNT] += 1
        if ctl[C_COUNT] >= ctl[C_EVERY]:
            apply_update(W_in, W, b, W_out, b_out, G, ctl, hyp)
    return loss


@njit
def run(W_in, b, W, W_out, b_out, FT, beta, prm, mode, ctl, hyp, S, Y, CNT, EV, EA, EB, G,
        X, TG, LB, M, losses):
    """:func:`step` for k = 0..T-1 on ``X[k]``, ``TG[k]``, ``LB[k]``, ``M[k]``; writes the
    per-step losses.  (The unused one of TG and LB has shape (T, 0, 0) resp. (T, 0).)"""
    for k in range(X.shape[0]):
        losses[k] = step(W_in, b, W, W_out, b_out, FT, beta, prm, mode, ctl, hyp, S, Y, CNT,
                         EV, EA, EB, G, X[k], TG[k], LB[k], M[k])
