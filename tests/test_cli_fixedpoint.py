"""``localrnn fixedpoint linear|mnist`` end to end: the numbers in the files, grids, errors."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn.cli import main
from localrnn.data import load_mnist
from localrnn.fixedpoint import linear_problem, mnist_problem, train_linear, train_mnist

SMALL = ["--n-rec", "16", "--batch", "32", "--epochs", "2", "--n-train", "96", "--n-test", "40",
         "--eig-every", "2", "--jobs", "1"]


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    return float("nan") if v == "" else float(v)


@pytest.fixture
def fake_npz(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "fake.npz"
    np.savez(path, x_train=rng.integers(0, 256, (120, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 120), x_test=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, 50))
    return path


# --------------------------------------------------------------------------- linear
def test_linear_single_run_files_hold_the_api_numbers(tmp_path):
    out = tmp_path / "lin"
    res = invoke(["fixedpoint", "linear", "--rule", "dW2", "--lr", "0.3", "--n", "12", "--m", "6",
                  "--iters", "30", "--eig-every", "10", "--seed", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("config.json", "metrics.csv", "summary.csv", "weights.npz", "fixedpoint.png"):
        assert (out / f).is_file(), f
    run = train_linear(linear_problem(12, 6, seed=4), "dW2", 0.3, 30, eig_every=10)
    rows = read_csv(out / "metrics.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(31))
    np.testing.assert_array_equal([float(r["loss"]) for r in rows], run.loss)
    eig = {int(r["iteration"]): float(r["max_re_eig"]) for r in rows if r["max_re_eig"]}
    assert eig == dict(zip(run.eig_iter.tolist(), run.max_re_eig.tolist()))
    with np.load(out / "weights.npz") as w:
        np.testing.assert_array_equal(w["W_dW2_lr0.3"], run.W)
        np.testing.assert_array_equal(w["X"], linear_problem(12, 6, seed=4).X)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "fixedpoint-linear" and cfg["runs"] == [["dW2", 0.3]]
    assert cfg["problem"]["n"] == 12 and cfg["seed"] == 4 and cfg["iters"] == 30
    line = res.output.strip().splitlines()[-1]
    assert line.startswith("rule dW2, lr 0.3, final_loss ") and f"out {out}" in line
    assert f"{run.loss[-1]:.4g}" in line


def test_linear_grid_json(tmp_path):
    res = invoke(["fixedpoint", "linear", "--rules", "dW1,dW3", "--lrs", "0.1,1", "--lrs", "0.3", "--n", "10",
                  "--m", "5", "--iters", "20", "--out", str(tmp_path / "g"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["runs"] == 3 and [(t["rule"], t["lr"]) for t in s["table"]] == [("dW1", 0.1), ("dW1", 1.0), ("dW3", 0.3)]
    summ = read_csv(tmp_path / "g" / "summary.csv")
    assert [num(r["final_loss"]) for r in summ] == [t["final_loss"] for t in s["table"]]
    assert s["final_loss"] == min(t["final_loss"] for t in s["table"])
    assert len(read_csv(tmp_path / "g" / "metrics.csv")) == 3 * 21


def test_default_out_is_a_new_run_folder(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)   # click's isolated_filesystem is deprecated in click 8.5
    args = ["fixedpoint", "linear", "--n", "5", "--m", "3", "--iters", "3"]
    assert runner.invoke(main, args).exit_code == 0
    assert runner.invoke(main, args).exit_code == 0
    dirs = sorted(Path("runs").iterdir())
    assert len(dirs) == 2 and all(d.name.startswith("fixedpoint-") for d in dirs)
    assert all((d / "metrics.csv").is_file() for d in dirs)


# --------------------------------------------------------------------------- mnist
def test_mnist_files_hold_the_api_numbers(tmp_path, fake_npz):
    out = tmp_path / "m"
    res = invoke(["fixedpoint", "mnist", "--data", str(fake_npz), "--rule", "dW1", "--lr", "0.05",
                  *SMALL, "--dtype", "float64", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("config.json", "metrics.csv", "summary.csv", "weights.npz", "fixedpoint.png"):
        assert (out / f).is_file(), f
    p = mnist_problem(load_mnist(fake_npz, dtype="float64"), n_rec=16, dtype="float64", n_train=96, n_test=40)
    run = train_mnist(p, "dW1", 0.05, batch=32, epochs=2, eig_every=2)
    rows = read_csv(out / "metrics.csv")
    assert len(rows) == 6 and [int(r["epoch"]) for r in rows] == [0, 0, 0, 1, 1, 1]
    for key in ("loss", "accuracy", "max_re_eig", "max_residual"):
        np.testing.assert_array_equal([num(r[key]) for r in rows], run.history[key])
    assert all(int(r["n_unconverged"]) == 0 for r in rows)
    (summ,) = read_csv(out / "summary.csv")
    assert float(summ["test_accuracy"]) == run.test["accuracy"]
    assert float(summ["final_train_loss"]) == run.train["loss"]
    assert float(summ["max_re_eig"]) == run.max_re_eig
    with np.load(out / "weights.npz") as w:
        np.testing.assert_array_equal(w["W_dW1_lr0.05"], run.W)
        np.testing.assert_array_equal(w["W0"], p.W0)
        assert not np.array_equal(w["W_dW1_lr0.05"], w["W0"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["problem"] == p.config and cfg["train"]["solver"] == "converge"
    assert cfg["data"] == str(fake_npz.resolve())
    line = res.output.strip().splitlines()[-1]
    assert "test_accuracy" in line and "train_accuracy" in line and "max_re_eig" in line


def test_mnist_grid_in_workers_equals_sequential(tmp_path, fake_npz):
    args = ["fixedpoint", "mnist", "--data", str(fake_npz), "--rules", "dW3,dW4", "--lrs", "0.1,0.3",
            *SMALL, "--no-train-eval", "--json"]
    r1 = invoke(args + ["--jobs", "1", "--out", str(tmp_path / "a")])
    r2 = invoke(args + ["--jobs", "2", "--out", str(tmp_path / "b")])
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    s1, s2 = json.loads(r1.output), json.loads(r2.output)
    for s in (s1, s2):
        assert s["runs"] == 4 and [(t["rule"], t["lr"]) for t in s["table"]] == \
            [("dW3", 0.1), ("dW3", 0.3), ("dW4", 0.1), ("dW4", 0.3)]
    with np.load(tmp_path / "a" / "weights.npz") as a, np.load(tmp_path / "b" / "weights.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_mnist_relax_solver_and_bptt(tmp_path, fake_npz):
    out = tmp_path / "rx"
    res = invoke(["fixedpoint", "mnist", "--data", str(fake_npz), "--rules", "dW3,bptt", "--lrs", "0.1",
                  *SMALL, "--solver", "relax", "--n-steps", "30", "--eta-d", "0.1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_csv(out / "metrics.csv")
    # 30 steps of 0.1 stop short of the fixed point: the residual says so
    assert all(int(r["n_unconverged"]) == 32 and num(r["max_residual"]) > 1e-3 for r in rows)
    assert int(rows[0]["solver_iter"]) == 30


def test_mnist_real_data_learns(tmp_path, shared_mnist):
    """dW3 on a 3072-image subset, N = 48, 48 iterations: well above chance (10%) on held-out images."""
    res = invoke(["fixedpoint", "mnist", "--data", str(shared_mnist), "--rule", "dW3", "--lr", "0.25",
                  "--n-rec", "48", "--batch", "128", "--epochs", "2", "--n-train", "3072",
                  "--n-test", "1000", "--out", str(tmp_path / "real"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["test_accuracy"] > 0.3 and s["unconverged"] == 0      # chance is 0.1
    rows = read_csv(tmp_path / "real" / "metrics.csv")
    first, last = np.mean([num(r["loss"]) for r in rows[:3]]), np.mean([num(r["loss"]) for r in rows[-3:]])
    assert last < 0.9 * first


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("extra, match", [
    (["--rules", "dW1,dW9"], "rules: 'dW9' is not a rule"),
    (["--lr", "0"], "learning rate 0.0 of rule dW3 must be > 0"),
    (["--lr", "-0.1"], "must be > 0"),
    (["--lrs", "0.1,nan"], "'nan' is not finite"),
    (["--lrs", "0.1,abc"], "'abc' is not a number"),
    (["--rules", "dW1,dW3", "--lrs", "0.1", "--lrs", "0.2", "--lrs", "0.3"],
     "--lrs is given 3 times for 2 rule(s) (dW1, dW3)"),
    (["--rules", "dW1,,dW3"], "--rules='dW1,,dW3': an empty entry"),
    (["--n-rec", "0"], "n_rec=0 is out of range"),
    (["--epochs", "0"], "epochs=0 is out of range"),
    (["--rule", "bptt"], "needs solver='relax'"),
    (["--rule", "dW2"], "Invalid value for '--rule'"),
    (["--batch", "1000"], "batch=1000 is larger than the 96 training images"),
    (["--tol", "-1"], "tol=-1.0 is out of range"),
])
def test_mnist_bad_values_are_one_line_exit_2(tmp_path, fake_npz, extra, match):
    res = CliRunner().invoke(main, ["fixedpoint", "mnist", "--data", str(fake_npz), *SMALL, *extra,
                                    "--out", str(tmp_path / "x")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0], res.output


def test_mnist_missing_or_broken_data_is_one_line_exit_2(tmp_path, fake_npz):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(fake_npz.read_bytes()[:200])
    for path, match in ((tmp_path / "none.npz", "no such file or folder"),
                        (broken, "not a readable .npz file")):
        res = CliRunner().invoke(main, ["fixedpoint", "mnist", "--data", str(path), "--out", str(tmp_path / "x")])
        assert res.exit_code == 2
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0], res.output
    assert not (tmp_path / "x").exists()          # nothing is written for a failed start


@pytest.mark.parametrize("extra, match", [
    (["--rules", "dW4"], "'dW4' is not a rule"),
    (["--n", "0"], "n=0 is out of range"),
    (["--iters", "0"], "iters=0 is out of range"),
    (["--lrs", "1", "--lrs", "2"], "--lrs is given 2 times for 1 rule(s) (dW3)"),
    (["--lrs", "dW1:1"], "'dW1:1' is not a number"),
])
def test_linear_bad_values_are_one_line_exit_2(tmp_path, extra, match):
    res = CliRunner().invoke(main, ["fixedpoint", "linear", "--n", "5", "--m", "3", *extra])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0], res.output


def test_out_that_cannot_be_a_folder_is_refused_before_computing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = CliRunner().invoke(main, ["fixedpoint", "linear", "--n", "5", "--m", "3", "--iters", "2",
                                    "--out", str(blocker / "run")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --out=") and "is not a folder" in lines[0], res.output
