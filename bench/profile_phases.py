"""Where the time goes: per-phase timings of the hot paths (issue 12), for docs/performance.md.

    PYTHONPATH=. python bench/profile_phases.py [--small] [--json out.json]

Each hot path is timed whole through its public driver (``localrnn.gradient``,
``trajectory``, ``Trainer.step``, ``lyapunov_spectrum``, ``OnlineLearner.step`` /
``.run``), and each of its phases is timed alone as a NumPy re-implementation of the
same arithmetic at the same sizes (preallocated outputs, one BLAS thread:
:func:`localrnn._threads.step_blas_limit`).  The phases' sum against the driver's
total says how much the kernel adds around the unavoidable work.  Medians after a
warm-up (compile excluded).  Times per time step unless marked.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from localrnn import OnlineLearner, gradient, lyapunov_spectrum, trajectory
from localrnn._threads import step_blas_limit
from localrnn.benchmarks import floors
from localrnn.benchmarks._timing import time_call
from localrnn.benchmarks.engine import problem
from localrnn.benchmarks.online import online_problem
from localrnn.lyapunov import random_q0


def _t(fn, repeat=7, number=1):
    with step_blas_limit():
        return time_call(fn, repeat=repeat, number=number, warmup=2)


def batched(rule: str, dtype="float32", N=256, B=32, T=56):
    net, x, y, m = problem(N, B, T, dtype)
    W, WT, W_out = net.W, np.ascontiguousarray(net.W.T), net.W_out
    a = net.alpha
    rows = {}
    rows["driver: gradient()"] = time_call(lambda: gradient(net, x, y, m, rule=rule), repeat=7) / T
    rows["driver: trajectory() (forward only, fresh arrays)"] = time_call(lambda: trajectory(net, x), repeat=7) / T
    rng = np.random.default_rng(0)
    H = rng.standard_normal((T, B, N)).astype(dtype) * 0.5
    R = np.tanh(H)
    Z = rng.standard_normal((T, B, N)).astype(dtype)
    tmp = np.empty((B, N), dtype)
    Y = np.empty((T, B, 2), dtype)
    D = np.empty((T, B, N), dtype)
    gW = np.empty((N, N), dtype)

    def fwd_gemms():
        for t in range(T):
            np.dot(R[t], WT, out=tmp)

    def fwd_full():  # GEMM + leak + input + tanh per step
        h = H[0].copy()
        for t in range(T):
            np.dot(R[t - 1] if t else h, WT, out=tmp)
            np.add(tmp, x[t] @ net.W_in.T, out=tmp)
            np.add(tmp, net.b, out=tmp)
            np.multiply(h, 1 - a, out=h)
            np.multiply(tmp, a, out=tmp)
            np.add(h, tmp, out=h)
            np.tanh(h, out=R[t])

    def bwd_gemms():
        for t in range(T):
            np.dot(Z[t], W, out=tmp)

    rows["numpy: forward step GEMMs (B x N)(N x N)"] = _t(fwd_gemms) / T
    rows["numpy: forward loop (GEMM + input + leak + tanh)"] = _t(fwd_full) / T
    rows["numpy: tanh over (B, N)"] = _t(lambda: np.tanh(H, out=R)) / T
    rows["numpy: phi' = 1 - r^2 over (B, N)"] = _t(lambda: (np.multiply(R, R, out=D), np.subtract(1, D, out=D))) / T
    if rule == "bptt":
        rows["numpy: backward step GEMMs (B x N)(N x N)"] = _t(bwd_gemms) / T
    rows["numpy: dW GEMM over T*B rows / T"] = _t(lambda: np.dot(Z.reshape(-1, N).T, R.reshape(-1, N), out=gW)) / T
    rows["numpy: readout Y = R W_out^T (T*B rows) / T"] = _t(lambda: np.dot(R.reshape(-1, N), W_out.T, out=Y.reshape(-1, 2))) / T
    rows["numpy: dW_out + delta W_out (T*B rows) / T"] = _t(
        lambda: (Y.reshape(-1, 2).T @ R.reshape(-1, N), Y.reshape(-1, 2) @ W_out)) / T
    rows["floor (issue 12 definition)"] = (floors.bptt_step if rule == "bptt" else floors.local_step)(N, B, T, dtype)
    return rows


def romo_iteration(rule="rflo", dtype="float64"):
    from localrnn.benchmarks.iteration import romo_trainer
    from localrnn.optim import make_optimizer

    tr = romo_trainer(rule, dtype)
    c = tr.config
    N, B, T = c.n_rec, c.batch, tr.task.T
    it = iter(range(10 ** 9))
    rows = {"driver: Trainer.step (per iteration)": time_call(lambda: tr.step(next(it)), repeat=7, warmup=2)}
    rng = np.random.default_rng(0)
    rows["task.batch (per iteration)"] = time_call(lambda: tr.task.batch(B, rng), repeat=7)
    b = tr.task.batch(B, rng)
    kw = {"feedback": tr.F} if tr.F is not None else {}
    rows["gradient() on the batch (per iteration)"] = time_call(
        lambda: gradient(tr.net, b.inputs, b.targets, b.mask, rule=rule, **kw), repeat=7)
    g = gradient(tr.net, b.inputs, b.targets, b.mask, rule=rule, **kw)[1]
    params = {k: getattr(tr.net, k).copy() for k in tr.trainable}
    opt = make_optimizer("adam", params, 1e-12)
    rows["Adam step (per iteration)"] = time_call(lambda: opt.step({k: g[k] for k in tr.trainable}), repeat=7)
    rows["finite checks of the gradient (per iteration)"] = time_call(
        lambda: all(np.all(np.isfinite(g[k])) for k in tr.trainable), repeat=7)
    per_step = floors.bptt_step if rule == "bptt" else floors.local_step
    rows["floor (per iteration)"] = T * per_step(N, B, T, dtype)
    return rows


def small_iteration(rule="eprop", dtype="float32", N=64, repeat=300):
    """One Romo iteration at small N (B = 32, T = 56), phase by phase through the same
    kernels and arrays the driver uses (issue 22: why the N = 64 iteration sits above
    twice its arithmetic floor).  Best of ``repeat`` single calls each (stable on a
    shared machine: a call that was preempted is simply not the best).

    Rows (per iteration): the driver ``Trainer.step``; drawing the batch; the forward
    kernel whole (it makes the readout at each step), its recurrent products alone (the
    56 register-tiled step GEMMs of ``forward_current``) and the same plus the drive
    ``[x, 1][W_in^T; b]``, so that the difference is the leak, phi and the readout over
    T*B*N entries; phi alone over as many entries; the readout as a separate pass (for
    comparison, not counted); the loss; the backward kernel; the weight gradient; Adam; the
    finiteness check; and the driver minus the kernels (Python between the calls)."""
    from localrnn._config import njit
    from localrnn.benchmarks.iteration import romo_flops, romo_trainer
    from localrnn.engine import _workspace
    from localrnn.kernels import backward as bw, forward as fw, loss as kl
    from localrnn.kernels.common import TANH, TANH32, tanh32, tanh64
    from localrnn.kernels.gemm import gemm_nn
    from localrnn.optim import all_finite
    from localrnn.trajectories import run_trajectory

    @njit
    def step_gemms(R, WT, pre, Xe, WinTe, d, drive):
        for k in range(R.shape[0] - 1):
            gemm_nn(R[k], WT, pre)
            if drive:
                gemm_nn(Xe[k], WinTe, d)

    @njit
    def phi_only(H, R, f32):
        h, r = H.reshape(H.size), R.reshape(R.size)
        for m in range(h.shape[0]):
            r[m] = tanh32(h[m]) if f32 else tanh64(h[m])

    tr = romo_trainer(rule, dtype, N)
    c = tr.config
    B, T = c.batch, tr.task.T
    net, L = tr.net, tr.learner
    for i in range(3):
        tr.step(i)
    it = iter(range(10, 10 ** 9))

    def best(fn):
        return time_call(fn, repeat=repeat, warmup=2)

    rows = {"driver: Trainer.step": best(lambda: tr.step(next(it)))}
    rows["draw the batch"] = best(lambda: tr._draws.batch(tr.task, B, c.seed, 1, 5))
    b = tr._draws.batch(tr.task, B, c.seed, 1, 5)
    x = np.ascontiguousarray(b.inputs, dtype=net.dtype)
    h0 = tr._h0(B)
    s0 = np.zeros((B, N), net.dtype) if h0 is None else np.ascontiguousarray(np.broadcast_to(h0, (B, N)))
    nz = np.zeros((0, 0, 0), net.dtype)
    ws = _workspace(((T, B, N), net.dtype, net.n_out), ("states", "act", "Y", "G"))
    code = TANH32 if dtype == "float32" else TANH
    H, R = ws["states"][:2], ws["act"]
    with step_blas_limit():
        W_out = np.ascontiguousarray(net.W_out)
        rows["forward kernel (and the readout)"] = best(lambda: fw.forward_current(
            x, net.W_in, net.b, net.W, net.alpha, code, s0, nz, False, H, R, W_out, net.b_out, ws["Y"]))
        WT = np.ascontiguousarray(net.W.T)
        pre, d = np.empty((B, N), net.dtype), np.empty((B, N), net.dtype)
        Xe = np.ones((T, B, net.n_in + 1), net.dtype)
        WinTe = np.ones((net.n_in + 1, N), net.dtype)
        rows["  its recurrent products alone"] = best(lambda: step_gemms(R, WT, pre, Xe, WinTe, d, False))
        rows["  ... and the drive"] = best(lambda: step_gemms(R, WT, pre, Xe, WinTe, d, True))
        rows["  (difference: leak, phi and readout)"] = (rows["forward kernel (and the readout)"]
                                                       - rows["  ... and the drive"])
        Hs = np.ascontiguousarray(ws["states"][:T])
        Rs = np.empty_like(Hs)
        rows["  phi alone over T*B*N entries"] = best(lambda: phi_only(Hs, Rs, dtype == "float32"))
        trj = run_trajectory(net, x, s0, nz, False, ws, keep_states=False)
        rows["  the readout alone, as a separate pass"] = best(lambda: fw.readout(trj.rates, W_out, net.b_out,
                                                                                ws["Y"]))
        tg = np.ascontiguousarray(b.targets, dtype=net.dtype)
        m = np.asarray(b.mask, dtype=net.dtype)
        m = np.ascontiguousarray(np.broadcast_to(m[:, :, None], tg.shape) if m.ndim == 2 else m)
        delta = np.empty_like(tg)
        rows["loss and delta"] = best(lambda: kl.loss_mse(trj.outputs, tg, m, delta))
        F = L.F if getattr(L, "F", None) is not None else net.W_out.T
        FT = np.ascontiguousarray(np.asarray(F).T)
        G = ws["G"]
        g0 = np.empty((0, 0), net.dtype)
        sums = (np.empty(N, net.dtype), np.empty((net.n_in, N), net.dtype),
                np.empty((net.n_out, N), net.dtype), np.empty(net.n_out, net.dtype))
        trunc = 0 if rule == "bptt" else 1
        rows["backward kernel"] = best(lambda: bw.backward_current(delta, trj.rates, trj.rates, s0, x, net.W,
                                                                   FT, net.alpha, code, trunc, False, G,
                                                                   g0, *sums))
        gW = np.empty((N, N), net.dtype)
        P = trj.prev_rows()
        rows["weight gradient"] = best(lambda: bw.weight_grad(G.reshape(T * B, N), P, gW))
        _, g = L._own_loss_and_grads(b, h0)
        grads = {k: g[k] for k in L.trainable}
        rows["finiteness check"] = best(lambda: all_finite(grads.values()))
        zero = {k: np.zeros_like(v) for k, v in grads.items()}
        rows["Adam step"] = best(lambda: L.opt.step(zero))
    # the driver again, last: the best of both (the first may have met a busier moment)
    rows["driver: Trainer.step"] = min(rows["driver: Trainer.step"], best(lambda: tr.step(next(it))))
    kernels = [k for k in rows if not k.startswith(("driver", "  "))]
    rows["driver minus the kernels (Python between calls)"] = rows["driver: Trainer.step"] - sum(
        rows[k] for k in kernels)
    with step_blas_limit():   # one thread, as the kernels
        peak = max(fl / time_call(f, repeat=5, warmup=1) for f, fl in floors.peak_gemm_fns(dtype))
    rows["arithmetic floor (romo_flops / peak GEMM rate)"] = romo_flops(rule, N, B, T) / peak
    return rows


def lyapunov(N=256, k=10, T=1000):
    from localrnn.benchmarks.lyapunov import problem as lyap_problem
    from scipy.linalg import lapack

    net, x = lyap_problem(N, T, 1)
    q0 = random_q0(N, k, 0, np.float64)
    rows = {"driver: lyapunov_spectrum": time_call(lambda: lyapunov_spectrum(net, x, k, warmup=100, q0=q0),
                                                   repeat=5) / T}
    rng = np.random.default_rng(0)
    W = net.W
    Q = np.linalg.qr(rng.standard_normal((N, k)))[0]
    QT = np.ascontiguousarray(Q.T)
    out, outT = np.empty((N, k)), np.empty((k, N))
    h, o = rng.standard_normal(N), np.empty(N)
    rows["numpy: W @ Q (N x N)(N x k)"] = _t(lambda: np.dot(W, Q, out=out), number=50)
    rows["numpy: Q^T @ W^T (k x N)(N x N)"] = _t(lambda: np.dot(QT, W.T, out=outT), number=50)
    rows["numpy: W @ h (GEMV)"] = _t(lambda: np.dot(W, h, out=o), number=100)
    rows["numpy.linalg.qr (N x k)"] = _t(lambda: np.linalg.qr(Q), number=50)
    rows["LAPACK geqrf+orgqr (N x k), scipy"] = floors.qr(N, k)
    rows["LAPACK geqrf only (N x k), scipy"] = _t(lambda: lapack.dgeqrf(Q), number=50)
    return rows


def online(form="current", rule="eprop", N=128, T=500):
    net, x, y, m = online_problem(form, N=N)
    learner = OnlineLearner(net, rule=rule, lr=1e-6)
    X = np.repeat(x[None], T, axis=0)
    Y = np.repeat(y[None], T, axis=0)
    M = np.ones_like(Y)
    rows = {}
    with step_blas_limit():
        rows["driver: OnlineLearner.step (one Python call per step)"] = time_call(
            lambda: learner.step(x, y, m), repeat=9, number=200, warmup=2)
        rows["driver: OnlineLearner.run (T steps in one call) / T"] = time_call(
            lambda: learner.run(X, Y, M), repeat=7, warmup=1) / T
    rows["numpy: GEMV W r (N x N)"] = floors.gemv(N, N)
    rows["scipy: rank-1 update of an N x N array (dger)"] = floors.ger(N, N)
    v, o = np.random.default_rng(0).standard_normal(N), np.empty(N)
    rows["numpy: tanh of N (one ufunc call)"] = _t(lambda: np.tanh(v, out=o), number=200)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the timings here")
    ap.add_argument("--small", action="store_true",
                    help="only the small-network iterations (N = 64, every rule, float32 and float64)")
    a = ap.parse_args(argv)
    import os

    res = {"load_before": os.getloadavg()}
    if a.small:
        for dtype in ("float32", "float64"):
            for rule in ("eprop", "bptt"):
                res[f"Romo iteration {rule} N=64 B=32 T=56 {dtype}"] = small_iteration(rule, dtype)
        res["load_after"] = os.getloadavg()
        return _print(res, a.json)
    res["BPTT gradient N=256 B=32 T=56 float32"] = batched("bptt")
    res["e-prop gradient N=256 B=32 T=56 float32"] = batched("eprop")
    res["Romo iteration rflo float64"] = romo_iteration("rflo", "float64")
    res["Romo iteration bptt float32"] = romo_iteration("bptt", "float32")
    res["Romo iteration bptt float64"] = romo_iteration("bptt", "float64")
    res["Lyapunov N=256 k=10 (per step)"] = lyapunov()
    res["online e-prop step N=128 B=1 float64"] = online("current", "eprop")
    res["online RFLO step N=128 B=1 float64 (rate form)"] = online("rate", "rflo")
    res["load_after"] = os.getloadavg()
    _print(res, a.json)


def _print(res, json_path):
    for name, rows in res.items():
        if not isinstance(rows, dict):
            print(f"{name}: {rows}")
            continue
        print(f"\n## {name}")
        for k, v in rows.items():
            print(f"  {k:60s} {v * 1e6:10.1f} us")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - t:.0f} s)")
