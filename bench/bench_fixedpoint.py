"""Cost of one MNIST training iteration (N = 300, batch 512): localrnn vs the original's method.

For each rule, in one process and with one BLAS/torch thread each:

* ``localrnn``: converged fixed points (float32, tol 1e-5) + the batched rule
  (:func:`localrnn.fixedpoint.compute_update`);
* ``original (torch)``: the PyTorch method of Zhu & Rosenbaum's code: 500 Euler
  steps of 0.01 from zero, then the rule as a loop over the 512 samples
  (dW1: one 300 x 300 inverse per sample), float32.

Compile time is excluded (one warm-up call each); the median of ``--repeat``
calls is printed, and the ratio.

    python bench/bench_fixedpoint.py [--data ../shared/data/mnist.npz] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def torch_iteration(torch, rule, WT, WxT, RT, X, Y, n_steps=500, eta=0.01):
    """The original's per-iteration work (forward relaxation + per-sample rule)."""
    F = torch.nn.functional
    N = WT.shape[0]
    with torch.no_grad():
        r = torch.zeros(X.shape[0], N)
        xWx = X @ WxT
        for _ in range(n_steps):
            r = r + eta * (-r + torch.tanh(r @ WT + xWx))
        Yhat = r @ RT
        loss = F.cross_entropy(Yhat, Y)
        g = 1.0 - r ** 2
        s = F.softmax(Yhat, dim=1)
        yoh = F.one_hot(Y, num_classes=10)
        W = WT.T
        Id = torch.eye(N)
        dW = torch.zeros(N, N)
        for i in range(X.shape[0]):
            gi = g[i]
            e = RT @ (s[i] - yoh[i])
            if rule == "dW1":
                M = torch.linalg.inv(Id - gi[None, :] * W.T) * gi[:, None]
                dW += torch.outer(M @ e, r[i]) / len(X)
            elif rule == "dW3":
                ImGW = Id - W * gi[:, None]
                dW += torch.outer(gi[None, :] * (Id - gi[None, :] * W) @ e, ImGW.T @ ImGW @ r[i]) / len(X)
            else:
                ImWG = Id - gi[None, :] * W
                dW += torch.outer(ImWG @ e, ImWG.T @ ImWG @ r[i]) / len(X)
    return float(loss), dW


def median_time(fn, repeat):
    fn()                                  # warm-up (compilation, caches)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "mnist.npz"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    a = ap.parse_args(argv)

    from localrnn._threads import step_blas_limit
    from localrnn.data import load_mnist
    from localrnn.fixedpoint import compute_update, mnist_problem

    d = load_mnist(a.data)
    p = mnist_problem(d, n_rec=300, seed=0, dtype="float32", n_train=512, n_test=1)
    U, y = p.U_train, p.y_train
    print(f"one iteration, N = 300, batch 512, float32, 1 thread; median of {a.repeat}")
    print(f"{'rule':6s} {'localrnn':>10s} {'original (torch)':>17s} {'ratio':>7s}")
    torch = None
    if not a.no_torch:
        import torch

        torch.set_num_threads(1)
        WT = torch.tensor(p.W0.T.copy())
        WxT = torch.tensor(p.W_x.T.copy())
        RT = torch.tensor(p.R.T.copy())
        X = torch.tensor(d["x_train"][:512])
        Y = torch.tensor(y)
    for rule in ("dW1", "dW3", "dW4"):
        with step_blas_limit():
            ours = median_time(lambda: compute_update(rule, p.W0, U, p.R, y), a.repeat)
        if torch is None:
            print(f"{rule:6s} {ours * 1e3:8.1f} ms")
            continue
        theirs = median_time(lambda: torch_iteration(torch, rule, WT, WxT, RT, X, Y), max(1, a.repeat // 2))
        print(f"{rule:6s} {ours * 1e3:8.1f} ms {theirs * 1e3:14.0f} ms {theirs / ours:6.0f}x")
    # the relax solver alone, for the record
    from localrnn.fixedpoint import solve_fixed_point

    with step_blas_limit():
        t = median_time(lambda: solve_fixed_point(p.W0, U, method="relax", on_fail="ignore"), 1)
        fp = solve_fixed_point(p.W0, U, method="relax", on_fail="ignore")
        c = median_time(lambda: solve_fixed_point(p.W0, U), a.repeat)
        fc = solve_fixed_point(p.W0, U)
    print(f"solve only: relax (500 steps) {t * 1e3:.0f} ms, residual {fp.max_residual:.2g}; "
          f"converge {c * 1e3:.1f} ms in {fc.n_iter} iterations, residual {fc.max_residual:.2g}")
    print(f"relax vs converged states: max |difference| {np.max(np.abs(fp.r - fc.r)):.3f}")


if __name__ == "__main__":
    main()
