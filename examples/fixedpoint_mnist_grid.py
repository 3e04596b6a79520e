"""The MNIST grid of Zhu & Rosenbaum (2023): 3 rules x 5 learning rates, timed.

The same computation as

    localrnn fixedpoint mnist --data DATA --rules dW1,dW3,dW4 --lrs paper --out OUT

(N = 300, batch 512, 3 epochs, plain SGD, the original's learning-rate grids,
float32, converged fixed points), through the API
(:func:`localrnn.fixedpoint.experiment.mnist_grid`), and prints the table of
docs/fixedpoint.md: final loss and accuracy on the whole training set, test
accuracy, max Re eig(W) for each rule and learning rate, with the wall-clock and
CPU time and the machine's load average (the 2-core development machine is shared).

    python examples/fixedpoint_mnist_grid.py [--data ../shared/data/mnist.npz] [--jobs 2]
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

from localrnn.data import load_mnist
from localrnn.fixedpoint import mnist_problem
from localrnn.fixedpoint.experiment import grid_runs, mnist_grid

ROOT = Path(__file__).resolve().parents[1]


def _fmt(v, fmt):
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "mnist.npz"))
    ap.add_argument("--out", default=None, help="results folder [runs/fixedpoint-grid-<time>]")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes [CPUs]")
    ap.add_argument("--n-train", type=int, default=None, help="use the first K training images [all]")
    ap.add_argument("--n-test", type=int, default=None, help="use the first K test images [all]")
    a = ap.parse_args(argv)
    out = a.out or str(ROOT / "runs" / time.strftime("fixedpoint-grid-%Y%m%d-%H%M%S"))

    runs = grid_runs(["dW1", "dW3", "dW4"], "paper", "mnist")
    problem = mnist_problem(load_mnist(a.data, dtype="float32"), n_rec=300, gain=0.5, seed=0,
                            dtype="float32", n_train=a.n_train, n_test=a.n_test)
    print(f"{len(runs)} runs: N = 300, batch 512, 3 epochs, SGD, float32, converged fixed points", flush=True)
    load0 = os.getloadavg()
    c0, t0 = os.times(), time.perf_counter()
    res = mnist_grid(problem, runs, jobs=a.jobs, batch=512, epochs=3)
    wall, c1 = time.perf_counter() - t0, os.times()
    # this process and its (joined) worker processes
    cpu = sum(getattr(c1, k) - getattr(c0, k) for k in ("user", "system", "children_user", "children_system"))
    load1 = os.getloadavg()
    res.write(out, header=dict(command="examples/fixedpoint_mnist_grid.py", data=str(Path(a.data).resolve())))
    print(f"\nwall {wall:.0f} s, CPU {cpu:.0f} s (all processes), load average "
          f"{load0[0]:.1f} at start, {load1[0]:.1f} at end, {os.cpu_count()} CPUs; results in {out}\n")
    print("| rule | lr | final train loss | train acc | test acc | max Re eig(W) | run s |")
    print("|---|---|---|---|---|---|---|")
    for r in res.table():
        div = f" (diverged at {r['diverged_at']})" if r["diverged_at"] is not None else ""
        print(f"| {r['rule']} | {r['lr']:g} | {_fmt(r['final_train_loss'], '.4f')}{div} | "
              f"{_fmt(r['train_accuracy'], '.4f')} | {_fmt(r['test_accuracy'], '.4f')} | "
              f"{_fmt(r['max_re_eig'], '.3f')} | {r['seconds']:.0f} |")
    bad = sum(r["unconverged"] + r["adjoint_unconverged"] + r["eval_unconverged"] for r in res.table())
    print(f"\nunconverged fixed points or adjoint solves over all runs: {bad}")
    return res


if __name__ == "__main__":
    main()
