"""Run folders: RunDir's files, append-only metrics across crashes, a full disk.

Bit-identity (``assert_array_equal``) is asserted only between the same
computation run twice: an uninterrupted run and the same run crashed and resumed.
"""
import errno
import os
import tempfile

import numpy as np
import pytest
from click.testing import CliRunner

import localrnn.io as lio
from localrnn.cli import main
from localrnn.runs import METRIC_FIELDS, RunDir, check_writable_dir, metrics_csv, probe_inputs, read_metrics
from localrnn.tasks import get_task
from localrnn._validate import physical_memory
from localrnn.training import TrainConfig, Trainer, estimate_memory

CFG = dict(task="romo", rule="rflo", gain=0.8, n_rec=10, batch=3, iters=9, eval_every=2,
           eval_batch=4, checkpoint_every=3)


class Crash(BaseException):
    """Stands for kill -9: not caught by the trainer, nothing saved after it."""


def _rows(n):
    return [{"iteration": i + 1, "loss": 0.5 / (i + 1), "eval_loss": None if i % 2 else 0.25,
             "accuracy": None if i % 2 else 0.5, "seconds": 0.001, "train_accuracy": None,
             "lambda_max": None, "eval_decision_loss": None if i % 2 else 0.125}
            for i in range(n)]


def test_metrics_append_truncate_and_read(tmp_path):
    rd = RunDir(tmp_path / "r")
    rd.path.mkdir()
    rd.start_metrics()
    rd.append_metrics(_rows(3))
    rd.append_metrics(_rows(5)[3:])
    assert rd.read_metrics() == _rows(5)
    assert (rd.path / "metrics.csv").read_text() == metrics_csv(_rows(5))
    rd.truncate_metrics(2)
    assert rd.read_metrics() == _rows(2)
    with pytest.raises(ValueError, match="holds 2 complete rows"):
        rd.truncate_metrics(4)
    # a row cut short by a crash is ignored by readers and cut by truncate
    with open(rd.path / "metrics.csv", "a") as f:
        f.write("3,0.1,")
    assert rd.read_metrics() == _rows(2)
    rd.truncate_metrics(2)
    assert (rd.path / "metrics.csv").read_text() == metrics_csv(_rows(2))


def test_metrics_of_an_older_version_are_rewritten_on_truncate(tmp_path):
    rd = RunDir(tmp_path)
    old = "iteration,loss,eval_loss,accuracy,seconds\n1,0.5,,,0.1\n2,0.4,0.3,1.0,0.1\n3,0.2,,,0.1\n"
    (tmp_path / "metrics.csv").write_text(old)
    rd.truncate_metrics(2)
    rows = rd.read_metrics()
    assert [r["iteration"] for r in rows] == [1, 2] and rows[1]["accuracy"] == 1.0
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == ",".join(METRIC_FIELDS)


def test_append_failure_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    rd = RunDir(tmp_path)
    rd.start_metrics()
    rd.append_metrics(_rows(2))
    before = (tmp_path / "metrics.csv").read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("localrnn.runs.os.fsync", no_space)
    with pytest.raises(OSError) as e:
        rd.append_metrics(_rows(4)[2:])
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "metrics.csv")
    assert (tmp_path / "metrics.csv").read_bytes() == before


def test_rundir_reads_what_the_trainer_wrote(tmp_path):
    r = Trainer(TrainConfig(**CFG), tmp_path).run()
    rd = RunDir(tmp_path)
    assert rd.status == "done" and rd.exists()
    cfg = rd.read_config()
    assert cfg["gain"] == 0.8 and cfg["n_rec"] == 10 and cfg["status"] == "done"
    np.testing.assert_array_equal(rd.load_network("final").W, r.net.W)
    np.testing.assert_array_equal(rd.load_network("init").W, r.init_net.W)
    assert rd.read_checkpoint()["iteration"] == 9
    assert rd.read_lyapunov() is None
    rows = rd.read_metrics()
    assert [m["iteration"] for m in rows] == list(range(1, 10))
    # held-out and training-batch accuracy at the eval iterations (2, 4, 6, 8 and the last)
    ev = [m["iteration"] for m in rows if m["train_accuracy"] is not None]
    assert ev == [2, 4, 6, 8, 9] == [m["iteration"] for m in rows if m["accuracy"] is not None]
    assert all(0.0 <= m["train_accuracy"] <= 1.0 for m in rows if m["train_accuracy"] is not None)
    s = rd.summary()
    assert s["iterations"] == 9 and s["final_loss"] == rows[-1]["loss"] and s["status"] == "done"
    with pytest.raises(ValueError, match="choose 'init' or 'final'"):
        rd.load_network("middle")
    with pytest.raises(ValueError, match="no weights.npz"):
        RunDir(tmp_path / "nope").load_network()


def test_probe_inputs_are_the_documented_stream():
    task = get_task("romo")
    x = probe_inputs(task, 4)
    want = task.batch(8, np.random.default_rng([4, 3, 0])).inputs
    np.testing.assert_array_equal(x, want)  # the same draw twice
    assert RunDir.probe_inputs(task, 4, trials=3).shape == (task.T, 3, task.n_in)


@pytest.mark.parametrize("crash_in", ["loop", "checkpoint"])
def test_crash_then_resume_is_bit_identical_with_one_row_per_iteration(tmp_path, monkeypatch, crash_in):
    """A run crashed mid-way (a BaseException the trainer does not catch, as kill -9
    leaves it) and resumed ends with the weights, optimiser state and metrics of an
    uninterrupted run, one row per iteration.  ``checkpoint``: the crash comes after
    the metrics rows of iteration 6 were appended but before its checkpoint, so the
    file holds rows the checkpoint does not: resume must cut them."""
    full = Trainer(TrainConfig(**CFG), tmp_path / "full").run()
    part = tmp_path / "part"
    if crash_in == "loop":
        def crash(i):
            if i == 7:
                raise Crash
        with pytest.raises(Crash):
            Trainer(TrainConfig(**CFG), part).run(on_iteration=crash)
        assert RunDir(part).read_checkpoint()["iteration"] == 6
        assert len(read_metrics(part / "metrics.csv")) == 6
    else:
        real = RunDir.write_checkpoint
        calls = []

        def crash_at_second_checkpoint(self, iteration, net, opt_state):
            calls.append(iteration)
            if iteration == 6:
                raise Crash
            return real(self, iteration, net, opt_state)

        monkeypatch.setattr(RunDir, "write_checkpoint", crash_at_second_checkpoint)
        with pytest.raises(Crash):
            Trainer(TrainConfig(**CFG), part).run()
        monkeypatch.setattr(RunDir, "write_checkpoint", real)
        assert calls == [0, 3, 6]
        assert RunDir(part).read_checkpoint()["iteration"] == 3
        assert len(read_metrics(part / "metrics.csv")) == 6  # 3 rows beyond the checkpoint
    t = Trainer.resume(part)
    assert t.start_iter == RunDir(part).read_checkpoint()["iteration"]
    r = t.run()
    assert r.status == "done"
    rows = read_metrics(part / "metrics.csv")
    assert [m["iteration"] for m in rows] == list(range(1, 10))
    want = read_metrics(tmp_path / "full" / "metrics.csv")
    for k in ("loss", "eval_loss", "accuracy", "train_accuracy"):
        assert [m[k] for m in rows] == [m[k] for m in want], k
    with np.load(tmp_path / "full" / "weights.npz") as a, np.load(part / "weights.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(r.net.W, full.net.W)


class _DiskFull:
    """Stands in for ``os``/``tempfile`` inside :mod:`localrnn.io`: ``fsync`` of the
    ``fail_at``-th temporary file written for ``name`` fails with ENOSPC (the real write
    path runs: temporary file, fsync, clean-up)."""

    def __init__(self, name, fail_at):
        self.name, self.fail_at, self.seen, self.fd, self.failures = name, fail_at, 0, None, 0

    def install(self, monkeypatch):
        outer = self

        class _Tempfile:
            def __getattr__(self, k):
                return getattr(tempfile, k)

            def mkstemp(self, prefix="", **kw):
                fd, p = tempfile.mkstemp(prefix=prefix, **kw)
                if prefix.startswith("." + outer.name + "."):
                    outer.seen += 1
                    if outer.seen == outer.fail_at:
                        outer.fd = fd
                return fd, p

        class _Os:
            def __getattr__(self, k):
                return getattr(os, k)

            def fsync(self, fd):
                if fd == outer.fd:
                    outer.fd = None
                    outer.failures += 1
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return os.fsync(fd)

        monkeypatch.setattr(lio, "tempfile", _Tempfile())
        monkeypatch.setattr(lio, "os", _Os())


SMALL = ["--rule", "rflo", "--gain", "0.8", "--n-rec", "10", "--batch", "3", "--iters", "9",
         "--eval-every", "2", "--eval-batch", "4", "--checkpoint-every", "3"]


@pytest.mark.parametrize("name", ["checkpoint.npz", "weights.npz"])
@pytest.mark.parametrize("via", ["api", "cli"])
def test_full_disk_loses_nothing_and_resume_works(tmp_path, monkeypatch, name, via):
    """The disk fills up while the state after iteration 6 is saved (the third write of
    ``name``: iterations 0, 3, 6): the state of iteration 3 stays intact and loadable,
    the error names the file and the cause (CLI: one line, exit 4), and once space is
    back --resume ends bit-identical to an uninterrupted run."""
    full = Trainer(TrainConfig(**CFG), tmp_path / "full").run()
    out = tmp_path / "part"
    disk = _DiskFull(name, fail_at=3)
    disk.install(monkeypatch)
    if via == "api":
        with pytest.raises(OSError) as e:
            Trainer(TrainConfig(**CFG), out).run()
        assert e.value.errno == errno.ENOSPC and e.value.filename == str(out / name)
    else:
        res = CliRunner().invoke(main, ["run", "romo", *SMALL, "--out", str(out)])
        assert res.exit_code == 4, res.output
        lines = [l for l in res.stderr.splitlines() if l.startswith("Error")]
        assert len(lines) == 1 and lines[0].startswith(f"Error: cannot write {out / name}: "
                                                       "No space left on device (disk full"), res.stderr
        assert "Traceback" not in res.output
    monkeypatch.undo()
    assert disk.failures == 1
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]  # no temporary file left
    rd = RunDir(out)
    assert rd.read_checkpoint()["iteration"] == 3  # the previous checkpoint, loadable
    rd.load_network("final"), rd.load_network("init")
    assert rd.read_config()["status"] == "running"
    # space is back: resume ends where an uninterrupted run ends, one row per iteration
    res = CliRunner().invoke(main, ["run", "--resume", str(out)])
    assert res.exit_code == 0, res.output
    assert [m["iteration"] for m in read_metrics(out / "metrics.csv")] == list(range(1, 10))
    with np.load(tmp_path / "full" / "weights.npz") as a, np.load(out / "weights.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(RunDir(out).load_network("final").W_out, full.net.W_out)


def test_memory_estimate_refuses_what_cannot_fit():
    c = TrainConfig(task="romo", rule="rtrl", n_rec=16, batch=4, iters=5).resolved()
    est = estimate_memory(c)
    assert est["total"] == sum(v for k, v in est.items() if k != "total")
    N, P = 16, 16 * 16 + 16 * 1 + 16
    assert est["rtrl"] == 2 * N * P * 8 and est["weights"] >= 8 * P * 8
    if physical_memory() == 0:
        pytest.skip("physical memory unknown")
    with pytest.raises(ValueError, match=r"batch=99999999999, n_rec=16: the run would need about"):
        TrainConfig(task="romo", rule="bptt", n_rec=16, batch=99999999999).resolved()
    with pytest.raises(ValueError, match=r"iters=10000000000000: .* bytes allowed"):
        TrainConfig(task="romo", n_rec=16, iters=10 ** 13).resolved()


def test_check_writable_dir(tmp_path):
    assert check_writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # nothing created
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        check_writable_dir(tmp_path / "f" / "sub")
    with pytest.raises(ValueError, match="cannot be written"):
        check_writable_dir("/proc/localrnn-test")
    with pytest.raises(ValueError, match="empty"):
        check_writable_dir("")


def test_curve_png_has_loss_and_accuracy_panels(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from localrnn.plotting import plot_run

    r = Trainer(TrainConfig(**CFG), tmp_path).run()
    assert (tmp_path / "curve.png").stat().st_size > 1000
    fig = plot_run(r.metrics, label="rflo")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
    labels = [ln.get_label() for ln in acc_ax.lines]
    assert labels == ["rflo (eval)", "rflo (train)"]
    ev = [(m["iteration"], m["accuracy"]) for m in r.metrics if m["accuracy"] is not None]
    np.testing.assert_array_equal(acc_ax.lines[0].get_xydata(), np.array(ev, dtype=float))
    plt.close(fig)


def test_ctrl_c_while_rows_are_appended_writes_each_row_once(tmp_path, monkeypatch):
    """Ctrl-C inside the metrics append of a checkpoint (after the rows reached the
    file, before fsync returned): the trainer saves and stops; the rows are on disk
    once each, and resume completes the run."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell metrics.csv's descriptor")
    real_fsync, hit = os.fsync, []

    def interrupted_once(fd):
        if not hit and os.readlink(f"/proc/self/fd/{fd}").endswith("metrics.csv") \
                and os.fstat(fd).st_size > len(",".join(METRIC_FIELDS)) + 1:
            hit.append(fd)
            raise KeyboardInterrupt
        return real_fsync(fd)

    monkeypatch.setattr("localrnn.runs.os.fsync", interrupted_once)
    r = Trainer(TrainConfig(**CFG), tmp_path).run()
    monkeypatch.undo()
    assert hit and r.status == "interrupted" and len(r.metrics) == 3
    assert [m["iteration"] for m in read_metrics(tmp_path / "metrics.csv")] == [1, 2, 3]
    Trainer.resume(tmp_path).run()
    assert [m["iteration"] for m in read_metrics(tmp_path / "metrics.csv")] == list(range(1, 10))


def test_plot_false_draws_no_curve_and_old_folders_resume_with_the_default(tmp_path):
    """``plot`` round-trips through config.json; a folder written before the key existed
    resumes with ``plot=True``; the numbers do not depend on it."""
    small = dict(CFG, iters=4, checkpoint_every=1)

    def ctrl_c_at(k):
        def hook(i):
            if i == k:
                raise KeyboardInterrupt
        return hook

    a = Trainer(TrainConfig(**small, plot=False), tmp_path / "a").run(on_iteration=ctrl_c_at(2))
    assert a.status == "interrupted" and not (tmp_path / "a" / "curve.png").exists()
    cfg = RunDir(tmp_path / "a").read_config()
    assert cfg["plot"] is False
    t = Trainer.resume(tmp_path / "a")
    assert t.config.plot is False
    done = t.run()
    assert done.status == "done" and not (tmp_path / "a" / "curve.png").exists()

    # an older folder: config.json without "plot"
    Trainer(TrainConfig(**small), tmp_path / "b").run(on_iteration=ctrl_c_at(2))
    d = RunDir(tmp_path / "b").read_config()
    del d["plot"]
    lio.atomic_write_json(tmp_path / "b" / "config.json", d)
    t = Trainer.resume(tmp_path / "b")
    assert t.config.plot is True
    old = t.run()
    assert old.status == "done" and (tmp_path / "b" / "curve.png").is_file()
    np.testing.assert_array_equal(old.net.W, done.net.W)  # same run (same config) twice
    with pytest.raises(ValueError, match="plot='no'"):
        TrainConfig(**small, plot="no").resolved()


def test_rundir_is_public():
    import localrnn

    assert localrnn.RunDir is RunDir and "RunDir" in localrnn.__all__


def test_one_memory_check_for_runs_and_fixed_point_grids(monkeypatch):
    """``check_memory_bytes`` is the one place with the fraction and the message."""
    import localrnn._validate as v

    monkeypatch.setattr(v, "physical_memory", lambda: 1000)
    v.check_memory_bytes(800, "x=1")  # 80% of 1000 fits
    with pytest.raises(ValueError) as e:
        v.check_memory_bytes(801, "x=2", "part 700")
    assert str(e.value) == ("x=2 would need about 801 bytes of memory (part 700), more than the 800 bytes "
                            "allowed (80% of 1e+03 physical); use smaller values")
    with pytest.raises(ValueError, match="x=3 would need about inf bytes"):
        v.check_memory_bytes(10 ** 400, "x=3")
    # both callers go through it: a tiny run and a tiny linear grid are refused on a 1000-byte machine
    from localrnn.fixedpoint.experiment import linear_grid

    with pytest.raises(ValueError, match=r"n_rec=16: the run would need about .* \(80% of 1e\+03"):
        TrainConfig(task="romo", n_rec=16, batch=2, iters=2).resolved()
    with pytest.raises(ValueError, match=r"n=4, m=2, iters=2 \(1 runs\) would need about .* \(80% of 1e\+03"):
        linear_grid([("dW1", 0.1)], n=4, m=2, iters=2)
    monkeypatch.setattr(v, "physical_memory", lambda: 0)  # unknown: nothing refused
    v.check_memory_bytes(10 ** 30, "x=4")


def test_a_folder_of_another_kind_is_refused_in_one_line(tmp_path):
    """A fixed-point grid's folder has config.json and metrics.csv too, of another schema:
    RunDir, ``localrnn plot``, ``localrnn lyapunov`` and ``--resume`` say so instead of
    misreading it; a training run is not a fixed-point folder either."""
    from localrnn.fixedpoint.experiment import linear_experiment

    fp = linear_experiment(["dW1"], [0.1], n=4, m=2, iters=2, out=tmp_path / "fp").out
    assert RunDir(fp).stored_kind() == "fixedpoint-linear"
    assert RunDir(fp, kind="fixedpoint-linear").read_config()["iters"] == 2
    expected = (f"RUN_DIR {str(fp)!r} holds a 'fixedpoint-linear' result (written by 'localrnn "
                "fixedpoint linear'), not a 'train' one; give a folder written by 'localrnn run'")
    with pytest.raises(ValueError) as e:
        RunDir(fp).read_metrics()
    assert str(e.value) == expected
    for args in (["plot", str(fp), "--out", str(tmp_path / "c.png")], ["lyapunov", str(fp)],
                 ["run", "--resume", str(fp)]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        lines = [line for line in res.output.splitlines() if line]
        assert len(lines) == 1 and "holds a 'fixedpoint-linear' result" in lines[0], (args, res.output)
    assert not (tmp_path / "c.png").exists()

    Trainer(TrainConfig(**CFG, plot=False), tmp_path / "run").run()
    assert RunDir(tmp_path / "run").stored_kind() == "train"
    with pytest.raises(ValueError, match="holds a 'train' result"):
        RunDir(tmp_path / "run", kind="fixedpoint-mnist").read_config()
    with pytest.raises(ValueError, match="kind='nosuch' is not allowed"):
        RunDir(tmp_path / "run", kind="nosuch")
