"""Grids of fixed-point runs (localrnn.fixedpoint.experiment): the API the CLI wraps."""
import csv
import json
import re

import numpy as np
import pytest

from localrnn.fixedpoint import linear_problem, mnist_problem, train_linear, train_mnist
from localrnn.fixedpoint.experiment import (PAPER_LRS_LINEAR, PAPER_LRS_MNIST, grid_runs, linear_grid,
                                            mnist_grid)


def fake_data(rng, n_train=64, n_test=20):
    return dict(x_train=rng.random((n_train, 784)), y_train=rng.integers(0, 10, n_train),
                x_test=rng.random((n_test, 784)), y_test=rng.integers(0, 10, n_test))


# --------------------------------------------------------------------------- grid_runs
def test_grid_runs_forms():
    assert grid_runs(["dW1", "dW3"], [0.1, 1], "linear") == [("dW1", 0.1), ("dW1", 1.0), ("dW3", 0.1), ("dW3", 1.0)]
    assert grid_runs(["dW3", "dW1"], {"dW1": [0.2], "dW3": [0.5, 0.1]}, "mnist") == \
        [("dW3", 0.5), ("dW3", 0.1), ("dW1", 0.2)]
    assert grid_runs(["dW2"], "paper", "linear") == [("dW2", v) for v in PAPER_LRS_LINEAR]
    assert grid_runs(["dW4", "dW1"], "paper", "mnist") == \
        [("dW4", v) for v in PAPER_LRS_MNIST["dW4"]] + [("dW1", v) for v in PAPER_LRS_MNIST["dW1"]]
    assert grid_runs("dW3", 0.25, "mnist") == [("dW3", 0.25)]


@pytest.mark.parametrize("rules, lrs, kind, match", [
    ([], [0.1], "linear", "rules is empty"),
    (["dW4"], [0.1], "linear", "rules: 'dW4' is not a rule; choose from dW1, dW2, dW3"),
    (["dW1", "dW1"], [0.1], "mnist", "names a rule twice"),
    (["dW1"], [0.0], "mnist", "learning rate 0.0 of rule dW1 must be > 0"),
    (["dW1"], [float("inf")], "mnist", "learning rate inf of rule dW1 must be > 0 and finite"),
    (["dW1"], [float("nan")], "mnist", "learning rate nan of rule dW1"),
    (["dW1"], [], "mnist", "lrs is empty"),
    (["dW1", "dW3"], {"dW1": [0.1]}, "mnist", "lrs gives no learning rates for dW3"),
    (["dW1"], {"dW1": [0.1], "dW4": [1]}, "mnist", "lrs names 'dW4', which is not in rules (dW1)"),
    (["bptt"], "paper", "mnist", "no learning-rate grid for 'bptt'"),
    (["dW1"], "papers", "mnist", "lrs='papers' is not allowed"),
    (["dW1"], [0.1], "cifar", "kind='cifar' is not allowed"),
])
def test_grid_runs_refuses_bad_values(rules, lrs, kind, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        grid_runs(rules, lrs, kind)


# --------------------------------------------------------------------------- linear
def test_linear_grid_is_train_linear_per_run(tmp_path):
    runs = grid_runs(["dW1", "dW2"], [0.1, 1.0], "linear")
    seen = []
    res = linear_grid(runs, n=9, m=4, iters=12, eig_every=5, seed=2,
                      callback=lambda i, k, loss: seen.append((i, k)))
    p = linear_problem(9, 4, seed=2)
    assert seen[-1] == (3, 12) and len(seen) == 4 * 12
    for (rule, lr), run in zip(runs, res.runs):
        ref = train_linear(p, rule, lr, 12, eig_every=5)
        # the same computation: train_linear with the same problem and arguments, same thread limit
        np.testing.assert_array_equal(run.loss, ref.loss)
        np.testing.assert_array_equal(run.W, ref.W)
    table = res.table()
    assert [(t["rule"], t["lr"]) for t in table] == runs
    finite = [t for t in table if np.isfinite(t["final_loss"])]
    assert res.best()["final_loss"] == min(t["final_loss"] for t in finite)
    cols, rows = res.metrics()
    assert cols == ["rule", "lr", "iteration", "loss", "max_re_eig"] and len(rows) == 4 * 13
    out = res.write(tmp_path / "lin", header=dict(command="test"))
    cfg = json.loads((out / "config.json").read_text())
    assert list(cfg)[0] == "command" and cfg["runs"] == [list(r) for r in runs] and cfg["iters"] == 12
    with open(out / "summary.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    with np.load(out / "weights.npz") as w:
        np.testing.assert_array_equal(w["W_dW2_lr0.1"], res.runs[2].W)    # a copy of the array
    assert (out / "fixedpoint.png").stat().st_size > 0


def test_linear_grid_in_workers_equals_this_process():
    """The grid on the package's executors: two worker processes give the runs of one,
    bit for bit (the same computation: each run limits its BLAS the same way), and every
    step's progress report comes back from the workers."""
    runs = grid_runs(["dW1", "dW2", "dW3"], [0.1], "linear")
    seen1, seen2 = [], []
    a = linear_grid(runs, n=9, m=4, iters=6, eig_every=2, callback=lambda *r: seen1.append(r))
    b = linear_grid(runs, n=9, m=4, iters=6, eig_every=2, jobs=2, callback=lambda *r: seen2.append(r))
    for ra, rb in zip(a.runs, b.runs):
        np.testing.assert_array_equal(ra.loss, rb.loss)
        np.testing.assert_array_equal(ra.W, rb.W)
    assert len(seen1) == 3 * 6 and sorted(seen1) == sorted(seen2)
    with pytest.raises(ValueError, match="jobs=0 is out of range"):
        linear_grid(runs, n=9, m=4, iters=6, jobs=0)


def test_linear_grid_refuses_bad_values():
    with pytest.raises(ValueError, match="rule 'dW4' is not a rule of the linear example"):
        linear_grid([("dW4", 0.1)], n=4, m=2, iters=2)
    with pytest.raises(ValueError, match="iters=0 is out of range"):
        linear_grid([("dW1", 0.1)], n=4, m=2, iters=0)
    with pytest.raises(ValueError, match="runs is empty"):
        linear_grid([], n=4, m=2, iters=2)


# --------------------------------------------------------------------------- mnist
def test_mnist_grid_is_train_mnist_per_run(rng):
    p = mnist_problem(fake_data(rng), n_rec=8, dtype="float64")
    runs = grid_runs(["dW3", "dW4"], [0.1], "mnist")
    res = mnist_grid(p, runs, jobs=1, batch=16, epochs=1, eig_every=2)
    for (rule, lr), run in zip(runs, res.runs):
        ref = train_mnist(p, rule, lr, batch=16, epochs=1, eig_every=2)
        # the same computation: train_mnist with the same problem and arguments, same thread limit
        np.testing.assert_array_equal(run.W, ref.W)
        assert run.test == ref.test
    assert res.jobs == 1 and res.settings["batch"] == 16 and "rule" not in res.settings
    s = res.summary()
    assert s["runs"] == 2 and (s["rule"], s["lr"]) == (res.best()["rule"], res.best()["lr"])
    cols, rows = res.metrics()
    assert len(rows) == 2 * 4 and cols[:4] == ["rule", "lr", "iteration", "epoch"]


def test_mnist_grid_checks_every_run_before_the_first_starts(rng):
    p = mnist_problem(fake_data(rng), n_rec=8, dtype="float64")
    calls = []
    with pytest.raises(ValueError, match="needs solver='relax'"):
        mnist_grid(p, [("dW3", 0.1), ("bptt", 0.1)], jobs=1, batch=16, epochs=1,
                   callback=lambda *a: calls.append(a))
    with pytest.raises(ValueError, match="batch=100 is larger than the 64 training images"):
        mnist_grid(p, [("dW3", 0.1)], jobs=1, batch=100, callback=lambda *a: calls.append(a))
    with pytest.raises(ValueError, match="jobs=0 is out of range"):
        mnist_grid(p, [("dW3", 0.1)], jobs=0)
    assert calls == []


def test_runs_too_large_for_the_machine_are_refused_before_allocating(rng):
    with pytest.raises(ValueError, match=r"iters=99999999999 \(1 runs\) would need about .* bytes of memory, more than .* bytes allowed"):
        linear_grid([("dW1", 0.1)], n=4, m=2, iters=99999999999)
    with pytest.raises(ValueError, match=r"n_rec=10000000000 would need about"):
        mnist_problem(fake_data(rng), n_rec=10**10)
    p = mnist_problem(fake_data(rng), n_rec=8)
    with pytest.raises(ValueError, match=r"epochs=10000000000000 would need about"):
        mnist_grid(p, [("dW3", 0.1)], jobs=1, batch=16, epochs=10**13)
    with pytest.raises(ValueError, match=r"rule bptt with n_steps=\d+ would need about"):
        mnist_grid(p, [("bptt", 0.1)], jobs=1, batch=16, solver="relax", n_steps=10**18)


def test_the_grid_figure_lives_in_plotting():
    import localrnn.fixedpoint.experiment as fp
    import localrnn.plotting as plotting

    assert fp.plot_fixedpoint_grid is plotting.plot_fixedpoint_grid
    assert "plot_fixedpoint_grid" in plotting.__all__
