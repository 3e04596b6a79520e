"""Online (streaming) learning: one kernel call per time step (MODEL.md section 5, "Online").

A step does, for B parallel streams sharing one set of weights:

1. forward:   s_t from s_{t-1} and x_t (either form), y_t = W_out s'_t + b_out;
2. loss:      the step's own masked loss, normalised by the step's mask sum
              (MODEL.md section 3 applied to one step; a zero mask contributes nothing);
3. traces:    e-prop/RFLO eligibility traces, or the RTRL influence matrices;
4. gradient:  the step's contribution added to the accumulators;
5. optimiser: every ``update_every`` contributing steps, SGD or Adam on the
              accumulated sum (the shared element-wise kernels of ``optim.py``).

All memory lives in arrays owned by the Python learner, laid out by
:mod:`localrnn.kernels.online_layout`: ``ctl`` (int64: codes, counters, offsets),
``hyp`` (float64: alpha, learning rates, Adam constants), the gradient rows ``G`` and
one buffer ``buf``.  Nothing is allocated per step.  ``step`` does one
step and ``run`` streams a whole sequence through the very same function; both losses
share one signature (half the kernels to compile).  Arrays are grouped by role rather
than passed one by one (~45 ns of unboxing per array argument): the learner's working
arrays (S, Y, E, M, J, aux) travel as one flat buffer cut into its six views inside
the kernel (``state_views``, by the table in ``ctl``; a tuple of 35 views passed in took ~25 s
to compile).

With SGD due at a step, the update is applied inside the accumulation loops; with
one-step windows (``update_every=1``) and a local rule the W, W_in, b contributions go
straight into the weights and ``materialise`` writes them into G only when asked.

The trace updates (``trace_step_current`` with ``accumulate_current``, and
``trace_step_rate``) are the only copy of MODEL.md section 5's recursions, on the
extended layout E (ebar, xbar, bbar side by side): the offline trace kernels
(``traces.py``) call them once per step of a stored trajectory.
"""
import numpy as np

from .._config import njit
from ..names import P_B, P_BOUT, P_W, P_WIN, P_WOUT
from .common import apply_phi, as_float_of, dphi_from, leak_coefs, mse_delta, xent_delta
from .online_layout import (C_ACT, C_COUNT, C_EVERY, C_FORM, C_KEEP, C_LAZY, C_LOSS, C_MB, C_MW,
                            C_MWIN, C_NSTEP, C_NUPD, C_OPT, C_PAR, C_PM, C_RULE, C_SEG, C_TRAIN,
                            C_VIEW, H_ALPHA, H_B1, H_B2, H_EPS, H_LR, S_L, S_DRV, S_H, S_HN, S_PRE,
                            S_R, S_RN, V_AUX, V_E, V_J, V_M, V_S, V_Y, VIEW_SLOTS)
from .optim import adam_update, sgd_update
from .rtrl import propagate_current, propagate_rate

# The layout (ctl and hyp slots, S rows, the parts of ``buf``) is defined once, in
# ``online_layout``; the learner fills ``ctl[C_VIEW:]`` from it and ``state_views``
# cuts ``buf`` by that table alone.


@njit
def _part(buf, ctl, v):
    """Part ``v`` of ``buf``, flat, and the slot of its dimensions in ``ctl``."""
    s = C_VIEW + VIEW_SLOTS * v
    o = ctl[s]
    return buf[o:o + ctl[s + 1] * ctl[s + 2] * ctl[s + 3] * ctl[s + 4]], s + 1


@njit
def state_views(buf, ctl):
    """(S, Y, E, M, J, aux): the learner's arrays as C-ordered views of ``buf``, at the
    offsets and with the shapes of the table ``ctl[C_VIEW:]``
    (``online_layout.buffer_layout``, written by ``online_layout.write_views``)."""
    a, d = _part(buf, ctl, V_S)
    S = a.reshape((ctl[d], ctl[d + 1], ctl[d + 2]))
    a, d = _part(buf, ctl, V_Y)
    Y = a.reshape((ctl[d], ctl[d + 1], ctl[d + 2]))
    a, d = _part(buf, ctl, V_E)
    E = a.reshape((ctl[d], ctl[d + 1], ctl[d + 2]))
    a, d = _part(buf, ctl, V_M)
    M = a.reshape((ctl[d], ctl[d + 1], ctl[d + 2], ctl[d + 3]))
    a, d = _part(buf, ctl, V_J)
    J = a.reshape((ctl[d], ctl[d + 1]))
    aux, d = _part(buf, ctl, V_AUX)
    return S, Y, E, M, J, aux


# ------------------------------------------------------------------ shared trace steps
# The arithmetic of one trace update, on contiguous rows (so that LLVM vectorises it).
# ``traces.py`` calls them over a stored trajectory.
#
# Gradients are accumulated in place: the first contribution of an update window is
# assigned (no zeroing pass), the others added.  When an SGD update is due at this step,
# the last contribution to a row also applies it, ``theta -= lr * g`` with the completed
# row g -- the arithmetic of ``optim.sgd_update`` fused into the same loop (one pass over
# W instead of three).  ``lr = 0`` means "no update in this call".  The loops take rows
# as contiguous slices and keep branches outside them, so that LLVM vectorises them.

@njit
def leak_in(row, keep, alpha, z):
    """row = keep * row + alpha * z   (e.g. ebar_t = (1 - alpha) ebar_{t-1} + alpha r_{t-1})."""
    for k in range(row.shape[0]):
        row[k] = keep * row[k] + alpha * z[k]


@njit
def acc_block(G, l, e, first, theta, lr, store):
    """G[n, k] = l[n] e[k] (first) or G[n, k] += l[n] e[k], for a (rows, K) block G,
    then theta -= lr * G if lr != 0; ``store=False`` (only with lr != 0) updates theta
    without writing G.  Every branch is taken outside the loops, and the loops index G
    and theta directly, so the inner loops vectorise (a branch or an unused view inside
    cost 30%, a function call per row 4x, at N = 128; per-row views, ``theta[n]``,
    slowed the pass too, see ``trace_step_rate``).  The block is l (rows) by e (K): G may be an empty
    placeholder when it is not written (``store=False``)."""
    rows, K = l.shape[0], e.shape[0]
    if lr == 0.0:
        if first:
            for n in range(rows):
                ln = l[n]
                for k in range(K):
                    G[n, k] = ln * e[k]
        else:
            for n in range(rows):
                ln = l[n]
                for k in range(K):
                    G[n, k] += ln * e[k]
    elif store:
        if first:
            for n in range(rows):
                ln = l[n]
                for k in range(K):
                    v = ln * e[k]
                    G[n, k] = v
                    theta[n, k] -= lr * v
        else:
            for n in range(rows):
                ln = l[n]
                for k in range(K):
                    v = G[n, k] + ln * e[k]
                    G[n, k] = v
                    theta[n, k] -= lr * v
    elif first:
        for n in range(rows):
            ln = l[n]
            for k in range(K):
                theta[n, k] -= lr * (ln * e[k])
    else:
        for n in range(rows):
            ln = l[n]
            for k in range(K):
                theta[n, k] -= lr * (G[n, k] + ln * e[k])


@njit
def acc_vec(g, v, s, first, theta, lr, store):
    """g[n] = v[n] s (first) or g[n] += v[n] s, then theta -= lr * g if lr != 0
    (``store=False``: without writing g, which may then be an empty placeholder)."""
    for n in range(v.shape[0]):
        w = v[n] * s if first else g[n] + v[n] * s
        if store:
            g[n] = w
        if lr != 0.0:
            theta[n] -= lr * w


@njit
def trace_step_current(E, r_prev, x, alpha):
    """Current form, one step for B streams (MODEL.md section 5).  ``E`` (B, 1, N+I+1)
    holds ebar, xbar, bbar side by side for z = [r; x; 1]:

    ebar_t = (1 - alpha) ebar_{t-1} + alpha r_{t-1},  xbar_t likewise with x_t,
    bbar_t = (1 - alpha) bbar_{t-1} + alpha.
    """
    B, N = r_prev.shape
    I = x.shape[1]
    al, keep = leak_coefs(alpha, E)
    for i in range(B):
        row = E[i, 0]
        leak_in(row[:N], keep, al, r_prev[i])
        leak_in(row[N:N + I], keep, al, x[i])
        row[N + I] = keep * row[N + I] + al


@njit
def accumulate_current(E, L, gW, gW_in, gb, W, W_in, b, trW, trIn, trb, first, lrW, lrIn, lrb,
                       direct):
    """gW += L^T ebar, gW_in += L^T xbar, gb += L^T bbar over the B streams (assigned if
    ``first``); the learning rates, if not 0, apply SGD with the completed sums, which
    are then not stored for the parameters whose bit is set in ``direct``."""
    B, N = L.shape
    I = gW_in.shape[1]
    for i in range(B):
        f = first and i == 0
        last = i == B - 1
        row = E[i, 0]
        if trW:
            acc_block(gW, L[i], row[:N], f, W, lrW if last else as_float_of(lrW, 0.0),
                      not (last and direct & 1))
        if trIn:
            acc_block(gW_in, L[i], row[N:N + I], f, W_in, lrIn if last else as_float_of(lrIn, 0.0),
                      not (last and direct & 2))
        if trb:
            acc_vec(gb, L[i], row[N + I], f, b, lrb if last else as_float_of(lrb, 0.0),
                    not (last and direct & 4))


@njit
def materialise(E, S, G, ctl):
    """Write into G the gradient sums of the last step that went straight into the
    weights (bits of ``ctl[C_LAZY]``), from its learning signal and traces, with the
    arithmetic of the accumulation; clears the bits."""
    bits = ctl[C_LAZY]
    if bits == 0:
        return
    L = S[S_L]
    B, N = L.shape
    I = E.shape[2] - N - 1
    gW = _grad2(G, ctl, P_W, N, N)
    gW_in = _grad2(G, ctl, P_WIN, N, I)
    gb = _grad1(G, ctl, P_B, N)
    slot = 1 if ctl[C_KEEP] else 0   # current form: where the contribution's traces are
    for i in range(B):
        f = i == 0
        if ctl[C_FORM] == 1:
            Ei = E[i]
            for n in range(N):
                row = Ei[n]
                ln = L[i, n]
                if bits & 1:
                    g = gW[n]
                    for k in range(N):
                        g[k] = ln * row[k] if f else g[k] + ln * row[k]
                if bits & 2:
                    g = gW_in[n]
                    for k in range(I):
                        g[k] = ln * row[N + k] if f else g[k] + ln * row[N + k]
                if bits & 4:
                    gb[n] = ln * row[N + I] if f else gb[n] + ln * row[N + I]
        else:
            row = E[i, slot]
            if bits & 1:
                acc_block(gW, L[i], row[:N], f, gW, 0.0, True)
            if bits & 2:
                acc_block(gW_in, L[i], row[N:N + I], f, gW_in, 0.0, True)
            if bits & 4:
                acc_vec(gb, L[i], row[N + I], f, gb, 0.0, True)
    ctl[C_LAZY] = 0


@njit
def trace_step_rate(E, u, phi_u, a_prev, x, L, alpha, code, d, gW, gW_in, gb, W, W_in, b,
                    mode_W, mode_in, mode_b, first, lrW, lrIn, lrb, direct):
    """Rate form, one step for B streams, fused with the gradient accumulation.  ``E``
    (B, N, N+I+1) holds p, q, pb side by side for z = [a; x; 1]:

    p_ij,t = (1 - alpha) p_ij,t-1 + alpha phi'(u_i,t) a_j,t-1   (q with x_t, pb with 1),
    gW_ij += L_i,t p_ij,t  (likewise gW_in, gb; assigned if ``first``).

    ``mode_*``: 0 leaves that trace alone (parameter not trained), 1 updates the trace,
    2 updates it and accumulates ``L * trace``.  ``phi_u`` = phi(u) (for phi'), ``d`` (N,)
    scratch.  Learning rates and ``direct`` as in ``accumulate_current``; an SGD update
    without ``direct`` is applied in the same loop that completes the row of G.

    One pass over each row of E (p, q and pb together), loops written out: Numba does
    not inline calls between kernels, and a call per row costs more than the row.  The
    loops index the 2-d/3-d arrays directly rather than through per-row views
    (``W[n]``), which made this function ~40% slower at N = 128 (8.8 against 6.4 us per
    call, best of 40 in a loop), and the branches on ``first`` and ``direct`` are taken
    outside the inner loops over k.
    """
    B, N = u.shape
    I = x.shape[1]
    al, keep = leak_coefs(alpha, E)
    c = N + I
    for i in range(B):
        f = first and i == 0
        last = i == B - 1
        lw = lrW if last else as_float_of(lrW, 0.0)
        li = lrIn if last else as_float_of(lrIn, 0.0)
        lb = lrb if last else as_float_of(lrb, 0.0)
        dW = last and (direct & 1) != 0
        dIn = last and (direct & 2) != 0
        db = last and (direct & 4) != 0
        for n in range(N):
            d[n] = al * dphi_from(u[i, n], phi_u[i, n], code)
        for n in range(N):
            dn = d[n]
            ln = L[i, n]
            if mode_W == 2:
                if dW:                      # W -= lw * (g + L p), g not stored
                    if f:
                        for k in range(N):
                            p = keep * E[i, n, k] + dn * a_prev[i, k]
                            E[i, n, k] = p
                            W[n, k] -= lw * (ln * p)
                    else:
                        for k in range(N):
                            p = keep * E[i, n, k] + dn * a_prev[i, k]
                            E[i, n, k] = p
                            W[n, k] -= lw * (gW[n, k] + ln * p)
                elif lw != 0.0:             # g (+)= L p, then W -= lw * g
                    if f:
                        for k in range(N):
                            p = keep * E[i, n, k] + dn * a_prev[i, k]
                            E[i, n, k] = p
                            v = ln * p
                            gW[n, k] = v
                            W[n, k] -= lw * v
                    else:
                        for k in range(N):
                            p = keep * E[i, n, k] + dn * a_prev[i, k]
                            E[i, n, k] = p
                            v = gW[n, k] + ln * p
                            gW[n, k] = v
                            W[n, k] -= lw * v
                elif f:                     # g = L p
                    for k in range(N):
                        p = keep * E[i, n, k] + dn * a_prev[i, k]
                        E[i, n, k] = p
                        gW[n, k] = ln * p
                else:                       # g += L p
                    for k in range(N):
                        p = keep * E[i, n, k] + dn * a_prev[i, k]
                        E[i, n, k] = p
                        gW[n, k] = gW[n, k] + ln * p
            elif mode_W == 1:
                for k in range(N):
                    E[i, n, k] = keep * E[i, n, k] + dn * a_prev[i, k]
            if mode_in == 2:                # I is small: scalar loop
                for k in range(I):
                    p = keep * E[i, n, N + k] + dn * x[i, k]
                    E[i, n, N + k] = p
                    w = ln * p if f else gW_in[n, k] + ln * p
                    if not dIn:
                        gW_in[n, k] = w
                    if li != 0.0:
                        W_in[n, k] -= li * w
            elif mode_in == 1:
                for k in range(I):
                    E[i, n, N + k] = keep * E[i, n, N + k] + dn * x[i, k]
            if mode_b >= 1:
                v = keep * E[i, n, c] + dn
                E[i, n, c] = v
                if mode_b == 2:
                    w = ln * v if f else gb[n] + ln * v
                    if not db:
                        gb[n] = w
                    if lb != 0.0:
                        b[n] -= lb * w


@njit
def add_outer(G, L, S, first, theta, lr):
    """G (+)= L^T S for (B, n) L and (B, m) S (a readout gradient), then SGD if lr != 0."""
    B = L.shape[0]
    for bi in range(B):
        step = lr if bi == B - 1 else as_float_of(lr, 0.0)
        f = first and bi == 0
        rows, K = G.shape
        for n in range(rows):  # G[n] += L[bi, n] S[bi]: rows of G are outputs
            g, th, ln, sb = G[n], theta[n], L[bi, n], S[bi]
            if f:
                for k in range(K):
                    g[k] = ln * sb[k]
            else:
                for k in range(K):
                    g[k] += ln * sb[k]
            if step != 0.0:
                for k in range(K):
                    th[k] -= step * g[k]


@njit
def add_rows(g, L, first, theta, lr):
    """g (+)= sum over rows of L, then SGD if lr != 0."""
    B = L.shape[0]
    for bi in range(B):
        step = lr if bi == B - 1 else as_float_of(lr, 0.0)
        acc_vec(g, L[bi], 1.0, first and bi == 0, theta, step, True)


# ------------------------------------------------------------------------- one step

@njit
def _forward(W_in, W, b, W_out, b_out, S, Y, ctl, hyp, x, noise):
    """New state into S[S_HN] (and rates into S[S_RN]); u_t into S[S_PRE] (rate form); y_t."""
    B, N = S.shape[1], S.shape[2]
    I = x.shape[1]
    O = Y.shape[2]
    al, keep = leak_coefs(hyp[H_ALPHA], S)
    code = ctl[C_ACT]
    has_noise = noise.shape[0] > 0
    h, r, hn, rn, drv, pre = S[S_H], S[S_R], S[S_HN], S[S_RN], S[S_DRV], S[S_PRE]
    y = Y[0]
    if I > 0:
        np.dot(x, W_in.T, drv)
    else:
        drv[:] = 0.0
    # separate, branch-free loops (as in forward.py) so that LLVM can vectorise them
    if ctl[C_FORM] == 1:
        np.dot(h, W.T, pre)
        for i in range(B):
            for n in range(N):
                pre[i, n] = pre[i, n] + (drv[i, n] + b[n])
        apply_phi(pre, code, rn)  # rn: phi(u_t), scratch in the rate form
        for i in range(B):
            for n in range(N):
                hn[i, n] = keep * h[i, n] + al * rn[i, n]
        if has_noise:
            for i in range(B):
                for n in range(N):
                    hn[i, n] += noise[i, n]
        np.dot(hn, W_out.T, y)
    else:
        np.dot(r, W.T, pre)
        for i in range(B):
            for n in range(N):
                hn[i, n] = keep * h[i, n] + al * (pre[i, n] + (drv[i, n] + b[n]))
        if has_noise:
            for i in range(B):
                for n in range(N):
                    hn[i, n] += noise[i, n]
        apply_phi(hn, code, rn)
        np.dot(rn, W_out.T, y)
    for i in range(B):
        for o in range(O):
            y[i, o] += b_out[o]


@njit
def _grad2(G, ctl, k, rows, cols):
    """Parameter k's accumulator (rows, cols) in G's first row; (0, cols) if not held."""
    o = ctl[C_SEG + k]
    if o < 0:
        return G[0, 0:0].reshape((0, cols))
    return G[0, o:o + rows * cols].reshape((rows, cols))


@njit
def _grad1(G, ctl, k, n):
    o = ctl[C_SEG + k]
    if o < 0:
        return G[0, 0:0]
    return G[0, o:o + n]


@njit
def _apply_one(theta, G, ctl, hyp, k, adam, step):
    o = ctl[C_SEG + k]
    if ctl[C_TRAIN + k] == 0 or hyp[H_LR + k] == 0.0 or o < 0:
        return
    n = theta.shape[0]
    lr = hyp[H_LR + k]
    if adam:
        adam_update(theta, G[0, o:o + n], G[1, o:o + n], G[2, o:o + n], lr, hyp[H_B1],
                    hyp[H_B2], hyp[H_EPS], step)
    else:
        sgd_update(theta, G[0, o:o + n], lr)


@njit
def _apply(W_in, W, b, W_out, b_out, G, ctl, hyp, skip_rec, skip_ro):
    """The optimiser on the accumulated window (parameters already updated in the
    accumulation loops skipped); the window starts again."""
    nupd = ctl[C_NUPD] + 1
    ctl[C_NUPD] = nupd
    ctl[C_COUNT] = 0
    adam = ctl[C_OPT] == 1
    step = float(nupd)
    if not skip_rec:
        _apply_one(W.reshape(W.size), G, ctl, hyp, P_W, adam, step)
        _apply_one(W_in.reshape(W_in.size), G, ctl, hyp, P_WIN, adam, step)
        _apply_one(b, G, ctl, hyp, P_B, adam, step)
    if not skip_ro:
        _apply_one(W_out.reshape(W_out.size), G, ctl, hyp, P_WOUT, adam, step)
        _apply_one(b_out, G, ctl, hyp, P_BOUT, adam, step)


@njit
def _learn(W_in, W, b, W_out, b_out, FT, S, Y, E, M, J, aux, G, ctl, hyp, x, contributing):
    """Traces, the step's gradient contribution, the optimiser when due; commit the state."""
    B, N = S.shape[1], S.shape[2]
    I = x.shape[1]
    O = Y.shape[2]
    alpha = hyp[H_ALPHA]
    code = ctl[C_ACT]
    rate_form = ctl[C_FORM] == 1
    local = ctl[C_RULE] == 0
    trW, trIn, trb = ctl[C_TRAIN + P_W], ctl[C_TRAIN + P_WIN], ctl[C_TRAIN + P_B]
    h, r, hn, rn, pre, L = S[S_H], S[S_R], S[S_HN], S[S_RN], S[S_PRE], S[S_L]
    dl = Y[1]
    gW = _grad2(G, ctl, P_W, N, N)
    gW_in = _grad2(G, ctl, P_WIN, N, I)
    gb = _grad1(G, ctl, P_B, N)
    first = ctl[C_COUNT] == 0                              # first contribution of a window
    due = contributing and ctl[C_COUNT] + 1 >= ctl[C_EVERY]  # the optimiser runs this step
    fuse = due and ctl[C_OPT] == 0                         # SGD inside the accumulation
    # learning rates in the parameters' dtype, as ``optim.sgd_update`` rounds them
    t = W.dtype.type
    lW = t(hyp[H_LR + P_W] if fuse else 0.0)
    lIn = t(hyp[H_LR + P_WIN] if fuse else 0.0)
    lb = t(hyp[H_LR + P_B] if fuse else 0.0)
    lOut = t(hyp[H_LR + P_WOUT] if fuse else 0.0)
    lbOut = t(hyp[H_LR + P_BOUT] if fuse else 0.0)
    # One-step windows with SGD (local rules): the step's W, W_in, b contributions go
    # straight into the weights without being stored (one pass over W fewer); G gets
    # them only if asked (``materialise``: before the traces move on, or on request).
    direct = 0
    if local and fuse and ctl[C_EVERY] == 1:
        direct = (1 if (trW and lW != 0.0) else 0) | (2 if (trIn and lIn != 0.0) else 0) \
            | (4 if (trb and lb != 0.0) else 0)
    keep = ctl[C_KEEP] != 0
    if local and ctl[C_LAZY] != 0 and not contributing and not keep:
        materialise(E, S, G, ctl)
    if contributing:
        # learning signal: phi'(h_t) * (F delta_t) (current form) or F delta_t (rate form)
        # (a loop: O is small, and a BLAS call costs more than the product here)
        for i in range(B):
            for n in range(N):
                L[i, n] = 0.0
            for o in range(O):
                do = dl[i, o]
                Fo = FT[o]
                for n in range(N):
                    L[i, n] += do * Fo[n]
        if not rate_form:
            for i in range(B):
                for n in range(N):
                    L[i, n] *= dphi_from(hn[i, n], rn[i, n], code)
    if local:
        if rate_form:
            acc = 2 if contributing else 1
            trace_step_rate(E, pre, rn, h, x, L, alpha, code, aux, gW, gW_in, gb, W, W_in, b,
                            acc * trW, acc * trIn, acc * trb, first, lW, lIn, lb, direct)
        else:
            trace_step_current(E, r, x, alpha)
            if contributing:
                accumulate_current(E, L, gW, gW_in, gb, W, W_in, b, trW, trIn, trb, first,
                                   lW, lIn, lb, direct)
                if keep:  # the traces this contribution used, for ``materialise``
                    for i in range(B):
                        E[i, 1, :] = E[i, 0, :]
    elif ctl[C_PM] > 0:
        PM = ctl[C_PM]
        d, gv, gt = aux[:N], aux[N:N + PM], aux[N + PM:N + 2 * PM]
        par = ctl[C_PAR]
        oW, oIn, ob = ctl[C_MW], ctl[C_MWIN], ctl[C_MB]
        for i in range(B):
            if rate_form:
                propagate_rate(M[par, i], M[1 - par, i], J, d, W, pre[i], h[i], x[i], alpha,
                               code, oW, oIn, ob)
            else:
                propagate_current(M[par, i], M[1 - par, i], J, d, W, h[i], r[i], x[i], alpha,
                                  code, oW, oIn, ob)
        par = 1 - par
        ctl[C_PAR] = par
        if contributing:
            # sum_b c_b^T M_b with c = L (F = W_out^T)
            np.dot(L[0], M[par, 0], gv)
            for i in range(1, B):
                np.dot(L[i], M[par, i], gt)
                for k in range(PM):
                    gv[k] += gt[k]
            for blk, pk, n in ((oW, P_W, N * N), (oIn, P_WIN, N * I), (ob, P_B, N)):
                if blk >= 0:
                    o = ctl[C_SEG + pk]
                    if first:
                        for k in range(n):
                            G[0, o + k] = gv[blk + k]
                    else:
                        for k in range(n):
                            G[0, o + k] += gv[blk + k]
    if contributing:
        ctl[C_LAZY] = direct
        if ctl[C_TRAIN + P_WOUT]:
            add_outer(_grad2(G, ctl, P_WOUT, O, N), dl, hn if rate_form else rn, first, W_out,
                      lOut)
        if ctl[C_TRAIN + P_BOUT]:
            add_rows(_grad1(G, ctl, P_BOUT, O), dl, first, b_out, lbOut)
        ctl[C_COUNT] += 1
        if due:
            _apply(W_in, W, b, W_out, b_out, G, ctl, hyp, fuse and local, fuse)
    h[:] = hn
    if not rate_form:
        r[:] = rn
    ctl[C_NSTEP] += 1


@njit
def _step(W_in, W, b, W_out, b_out, FT, S, Y, E, M, J, aux, G, ctl, hyp, x, target, labels, mask,
          noise):
    """One step.  MSE (``ctl[C_LOSS] == 0``): ``target`` and ``mask`` (B, O), ``labels``
    unused; cross-entropy: ``labels`` (B,) int64, ``mask`` (B, 1), ``target`` unused.
    (One signature for both losses halves the kernels to compile.)"""
    _forward(W_in, W, b, W_out, b_out, S, Y, ctl, hyp, x, noise)
    norm = 0.0
    for i in range(mask.shape[0]):
        for o in range(mask.shape[1]):
            norm += mask[i, o]
    loss = 0.0
    if norm != 0.0:
        if ctl[C_LOSS] == 0:
            loss = mse_delta(Y[0], target, mask, norm, Y[1])
        else:
            loss = xent_delta(Y[0], labels, mask[:, 0], norm, Y[1])
    _learn(W_in, W, b, W_out, b_out, FT, S, Y, E, M, J, aux, G, ctl, hyp, x, norm != 0.0)
    return loss


# ----------------------------------------------------------------------- entry points

@njit
def step(W_in, W, b, W_out, b_out, FT, buf, G, ctl, hyp, x, target, labels, mask, noise):
    """One online step: x (B, I); MSE: target and mask (B, O); cross-entropy: labels (B,)
    int64 and mask (B, 1); the other target argument is a dummy.  noise (B, N) or (0, 0).
    ``buf`` holds S, Y, E, M, J, aux (``state_views``).  Returns the step's loss.  The
    same function as each step of ``run``."""
    S, Y, E, M, J, aux = state_views(buf, ctl)
    return _step(W_in, W, b, W_out, b_out, FT, S, Y, E, M, J, aux, G, ctl, hyp, x, target, labels,
                 mask, noise)


@njit
def run(W_in, W, b, W_out, b_out, FT, buf, G, ctl, hyp, X, TG, LB, MK, NZ, losses):
    """T online steps in one call; ``losses[k]`` gets step k's loss.  X (T, B, I); TG and
    MK (T, B, O) with LB (0, 0) for MSE; LB (T, B) int64 and MK (T, B, 1) with TG
    (0, 0, 0) for cross-entropy; NZ (T, B, N) or (0, 0, 0).  Each step is the function
    ``step`` calls, so streaming and stepping give the same numbers."""
    S, Y, E, M, J, aux = state_views(buf, ctl)
    empty = np.zeros((0, 0), dtype=S.dtype)
    tg0 = np.zeros((0, 0), dtype=TG.dtype)
    lb0 = np.zeros(0, dtype=LB.dtype)
    for k in range(X.shape[0]):
        nz = NZ[k] if NZ.shape[0] > 0 else empty
        tg = TG[k] if TG.shape[0] > 0 else tg0
        lb = LB[k] if LB.shape[0] > 0 else lb0
        losses[k] = _step(W_in, W, b, W_out, b_out, FT, S, Y, E, M, J, aux, G, ctl, hyp, X[k],
                          tg, lb, MK[k], nz)


@njit
def flush(W_in, W, b, W_out, b_out, G, ctl, hyp):
    """Apply a partial window now (if any step contributed since the last update)."""
    if ctl[C_COUNT] > 0:
        _apply(W_in, W, b, W_out, b_out, G, ctl, hyp, False, False)
        return True
    return False
