"""``localrnn sweep`` / :func:`localrnn.sweep.run_sweep`: executors, resume, failures, bad grids.

Every cell is tiny (Romo, N = 8, batch 4, 3 iterations); process and Dask start-up
dominate, so one Dask LocalCluster serves the module.
"""
import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn import sweep as sw
from localrnn.cli import main
from localrnn.sweep import Grid, load_grid, make_cells, read_summary, run_sweep
from localrnn.training import TrainConfig, Trainer

TINY = dict(task="romo", n_rec=8, batch=4, iters=3, eval_batch=8)
GRID = dict(TINY, rule=["rflo", "bptt"], gain=[0.5, 1.5], seed=[0, 1], align=True, lyapunov=True)
#: the executor comparisons: 2 rules x 2 gains (seeds vary in the resume test)
GRID4 = dict(GRID, seed=3)
#: columns that legitimately differ between two runs of the same cell
TIMING = ("seconds",)


def assert_single_threaded_workers(out, rows):
    """Every cell ran in a process started with WORKER_ENV: one BLAS and one Numba thread."""
    for r in rows:
        w = json.loads((out / "cells" / r["name"] / "cell.json").read_text())["worker"]
        assert w["env"] == sw.WORKER_ENV and w["blas_threads"] == [1] and w["numba_threads"] == 1, w


def numbers(path):
    """summary.csv rows without the timing columns, as raw strings (exact comparison)."""
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def weights(folder):
    with np.load(folder / "weights.npz") as w:
        return {k: w[k] for k in w.files}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return run_sweep(Grid.from_dict(GRID4), out), out


@pytest.fixture(scope="module")
def dask_client():
    """One LocalCluster for the module, started as ``--dask-local 2`` starts it."""
    pytest.importorskip("distributed")
    client = sw.local_dask_client(2)
    yield client
    client.close()
    client.cluster.close()


# ---------------------------------------------------------------------------- grid and names

def test_grid_cells_names_and_order():
    g = Grid.from_dict(dict(TINY, rule=["rflo", "eprop"], gain=[0.5, 1], lr=2e-4, seed=[0, 1]))
    names = [c.name for c in g.cells()]
    assert len(g) == 8 and len(set(names)) == 8
    assert names[0] == "romo-rflo-g0.5-s0" and names[-1] == "romo-eprop-g1.0-s1"
    c = g.cells()[1]
    assert c.params == dict(TINY, rule="rflo", gain=0.5, lr=2e-4, seed=1)
    # deterministic, and distinct floats give distinct names
    assert [c.name for c in Grid.from_dict(dict(TINY, lr=[2e-4, 2.0000001e-4])).cells()] == \
        ["romo-rflo-lr0.0002", "romo-rflo-lr0.00020000001"]


def test_make_cells_names_by_what_varies_and_rejects_duplicates():
    cells = make_cells([dict(TINY, rule="rflo", lr=1e-3, seed=0), dict(TINY, rule="rflo", lr=1e-3, seed=1),
                        dict(TINY, rule="bptt", lr=5e-3, seed=0)], align=True)
    assert [c.name for c in cells] == ["romo-rflo-lr0.001-s0", "romo-rflo-lr0.001-s1",
                                       "romo-bptt-lr0.005-s0"]
    assert all(c.align for c in cells)
    with pytest.raises(ValueError, match="folder name"):
        make_cells([dict(TINY, seed=0), dict(TINY, seed=0)])


def test_every_trainconfig_field_declares_the_kind_of_its_values():
    """A grid checks its values by the kind each TrainConfig field declares in its metadata
    (names.KIND); a field added without one would be unsweepable, so it fails here."""
    from dataclasses import fields

    from localrnn.names import KIND, VALUE_KINDS

    undeclared = [f.name for f in fields(TrainConfig) if f.metadata.get(KIND) not in VALUE_KINDS]
    assert not undeclared, (f"TrainConfig fields without metadata={{KIND: ...}} (one of "
                            f"{', '.join(VALUE_KINDS)}): {undeclared}")


def test_example_grid_file_loads():
    from pathlib import Path

    g = load_grid(Path(__file__).parent.parent / "examples" / "sweep_romo.toml")
    assert len(g) == len(g.cells()) > 1 and g.align


# ---------------------------------------------------------------------------- executors

def test_serial_cells_are_ordinary_run_folders(serial):
    res, out = serial
    assert res.counts() == {"cells": 4, "done": 4, "skipped": 0, "diverged": 0, "failed": 0}
    assert res.path == out / "summary.csv" and res.ok
    rows = read_summary(res.path)
    assert [r["name"] for r in rows] == ["romo-rflo-g0.5", "romo-rflo-g1.5", "romo-bptt-g0.5",
                                         "romo-bptt-g1.5"]
    r0 = rows[0]
    assert r0["rule"] == "rflo" and r0["gain"] == 0.5 and r0["seed"] == 3 and r0["status"] == "done"
    assert r0["feedback"] == "random" and r0["iterations"] == 3 and r0["error"] is None
    for k in ("final_loss", "eval_loss", "accuracy", "lambda_max_before_flossing",
              "lambda_max_after_training", "align_init", "align_final", "align_init_recurrent",
              "seconds"):
        assert isinstance(r0[k], float) and np.isfinite(r0[k]), k
    assert r0["lambda_max_after_flossing"] is None  # no flossing asked
    assert abs(r0["align_init_W_out"] - 1.0) < 1e-12 and r0["align_init_recurrent"] < 0.99
    bp = rows[2]
    assert bp["rule"] == "bptt" and abs(bp["align_init"] - 1.0) < 1e-12 and bp["feedback"] is None
    # the rows returned are the rows written
    assert [{k: v for k, v in r.items()} for r in res.rows] == rows
    # a cell folder is what a direct run of the same config writes
    folder = out / "cells" / r0["name"]
    assert {"config.json", "metrics.csv", "weights.npz", "lyapunov.json", "cell.json"} <= \
        {p.name for p in folder.iterdir()}
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["status"] == "done" and cfg["n_rec"] == 8
    # cells draw no curve.png (plot=False unless the grid asks); plot is no summary column
    assert cfg["plot"] is False and not (folder / "curve.png").exists()
    assert "plot" not in r0
    assert Grid.from_dict(dict(TINY, plot=True)).cells()[0].config().plot is True
    direct = Trainer(TrainConfig(**Grid.from_dict(GRID4).cells()[0].params)).run()
    w = weights(folder)
    np.testing.assert_array_equal(w["final_W"], direct.net.W)
    np.testing.assert_array_equal(w["final_W_out"], direct.net.W_out)
    assert r0["final_loss"] == direct.metrics[-1]["loss"]


def test_processes_give_identical_results(serial, tmp_path):
    res_s, out_s = serial
    res = run_sweep(Grid.from_dict(GRID4), tmp_path, workers=2)
    assert res.counts()["done"] == 4
    assert_single_threaded_workers(tmp_path, res.rows)
    assert numbers(res.path) == numbers(res_s.path)
    for r in res.rows:
        a, b = weights(out_s / "cells" / r["name"]), weights(tmp_path / "cells" / r["name"])
        assert sorted(a) == sorted(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_dask_gives_identical_results(serial, dask_client, tmp_path):
    res_s, out_s = serial
    # by address, as `--scheduler tcp://...` does for an existing cluster
    res = run_sweep(Grid.from_dict(GRID4), tmp_path, scheduler=dask_client.scheduler.address)
    assert res.counts()["done"] == 4
    assert_single_threaded_workers(tmp_path, res.rows)
    assert numbers(res.path) == numbers(res_s.path)
    for r in res.rows:
        a, b = weights(out_s / "cells" / r["name"]), weights(tmp_path / "cells" / r["name"])
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_dask_missing_is_one_line(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ValueError, match=r'pip install "localrnn\[dask\]"'):
        run_sweep(Grid.from_dict(dict(TINY)), tmp_path / "out", dask_local=1)
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # default 30 s
        with pytest.raises(ValueError, match="scheduler='tcp://127.0.0.1:1'.*cannot connect"):
            run_sweep(Grid.from_dict(dict(TINY)), tmp_path, scheduler="tcp://127.0.0.1:1")


def test_two_executors_at_once_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="one executor"):
        run_sweep(Grid.from_dict(dict(TINY)), tmp_path, workers=2, dask_local=2)


# ---------------------------------------------------------------------------- resume and failures

def test_interrupted_sweep_resumes_without_redoing_cells(serial, tmp_path, monkeypatch):
    res_s, _ = serial
    grid = Grid.from_dict(GRID4)
    seen = []

    def stop_after_two(row):
        seen.append(row["name"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, tmp_path, on_result=stop_after_two)
    partial = read_summary(tmp_path / "summary.csv")
    assert [r["name"] for r in partial] == seen  # what finished is on disk
    mtimes = {n: (tmp_path / "cells" / n / "weights.npz").stat().st_mtime_ns for n in seen}

    ran = []
    real = sw.run_cell

    def counting(cell):
        ran.append(cell.name)
        return real(cell)

    monkeypatch.setattr(sw.cells, "run_cell", counting)
    res = run_sweep(grid, tmp_path)
    assert res.skipped == 2 and res.done == 2 and sorted(ran) == sorted(set(c.name for c in grid.cells()) - set(seen))
    for n in seen:
        assert (tmp_path / "cells" / n / "weights.npz").stat().st_mtime_ns == mtimes[n]
    # the completed summary is the uninterrupted sweep's, skipped rows rebuilt from folders
    assert numbers(res.path) == numbers(res_s.path)
    # a third run does nothing
    ran.clear()
    res3 = run_sweep(grid, tmp_path)
    assert ran == [] and res3.skipped == 4 and numbers(res3.path) == numbers(res_s.path)


def test_failed_and_diverged_cells_are_recorded_and_the_rest_finish(tmp_path, monkeypatch, capfd):
    real_run = Trainer.run

    def flaky(self, *a, **k):
        if self.config.seed == 1:
            raise RuntimeError("boom\nsecond line")
        return real_run(self, *a, **k)

    monkeypatch.setattr(Trainer, "run", flaky)
    cells = make_cells([dict(TINY, seed=0), dict(TINY, seed=1),
                        dict(TINY, seed=2, optimizer="sgd", lr=1e300)])
    reports = []
    res = run_sweep(cells, tmp_path, progress=lambda *a: reports.append(a))
    assert (res.done, res.failed, res.diverged) == (1, 1, 1) and not res.ok
    assert reports == [(0, 3, "")] + [(k, 3, f"{c.name}: {status}") for k, (c, status) in
                                       enumerate(zip(cells, ("done", "failed", "diverged")), 1)]
    assert capfd.readouterr().err == ""  # the library draws no progress bar
    rows = {r["seed"]: r for r in read_summary(res.path)}
    assert rows[0]["status"] == "done"
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "RuntimeError: boom"
    assert rows[2]["status"] == "diverged" and "non-finite" in rows[2]["error"]
    # a rerun retries only the failed cell (diverged is a result, not retried)
    monkeypatch.setattr(Trainer, "run", real_run)
    res2 = run_sweep(cells, tmp_path)
    assert (res2.skipped, res2.done, res2.failed) == (2, 1, 0) and res2.ok
    assert capfd.readouterr().err == ""
    assert [r["status"] for r in res2.rows] == ["done", "done", "diverged"]
    assert res2.rows[1]["error"] is None


def test_folder_with_other_settings_is_not_reused(tmp_path):
    run_sweep(Grid.from_dict(dict(TINY, seed=[0, 1])), tmp_path)
    # a cell written before the plot key existed (config.json without it) is still this cell
    cfg_path = tmp_path / "cells" / "romo-rflo-s0" / "config.json"
    d = json.loads(cfg_path.read_text())
    del d["plot"]
    cfg_path.write_text(json.dumps(d))
    again = run_sweep(Grid.from_dict(dict(TINY, seed=[0, 1])), tmp_path)
    assert again.counts()["skipped"] == 2
    with pytest.raises(ValueError, match="iters=3"):
        run_sweep(Grid.from_dict(dict(TINY, seed=[0, 1], iters=4)), tmp_path)


# ---------------------------------------------------------------------------- CLI

def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize("text, words", [
    ('gian = [0.5, 1.0]', ["'gian'", "allowed", "gain"]),
    ('task = "romoo"', ["task='romoo'", "'romo'"]),
    ('gain = ["high", 1.0]', ["'gain'", "a number"]),
    ('seed = []', ["'seed'", "empty"]),
])
def test_bad_grid_file_is_one_error_line_before_anything_runs(tmp_path, text, words):
    grid = tmp_path / "g.toml"
    grid.write_text('rule = ["rflo", "bptt"]\n' + text + "\n")
    out = tmp_path / "out"
    res = invoke(["sweep", str(grid), "--out", str(out)])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists()


def test_cli_quick_grid_and_exit_codes(tmp_path, monkeypatch):
    out = tmp_path / "q"
    args = ["sweep", "--task", "romo", "--rules", "rflo,bptt", "--seeds", "0", "--iters", "2",
            "--n-rec", "6", "--batch", "3", "--out", str(out), "--json"]
    res = invoke(args)
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["cells"] == 2 and d["done"] == 2 and d["summary"] == str(out / "summary.csv")
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["romo-bptt", "romo-rflo"]
    res = invoke(args)
    assert json.loads(res.output)["skipped"] == 2
    # a failing cell: exit code 3 and a one-line error naming it
    def broken(self, *a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(Trainer, "run", broken)
    res = CliRunner().invoke(main, args[:-3] + ["--out", str(tmp_path / "f")], catch_exceptions=False)
    assert res.exit_code == 3
    assert "Error: 2 cell(s) failed" in res.output


@pytest.mark.parametrize("text, kind, want", [
    ("0.5, 1,1.5", float, [0.5, 1.0, 1.5]), ("rflo,bptt", str, ["rflo", "bptt"]), ("3", int, [3]),
    ("", float, "--x='' is empty"), ("1,,2", int, "--x='1,,2': an empty entry"),
    ("1,x", float, "--x='1,x': 'x' is not a number"), ("1.5", int, "'1.5' is not an integer"),
    ("1,nan", float, "'nan' is not finite"), ("rflo,", str, "an empty entry"),
])
def test_the_one_comma_list_parser(text, kind, want):
    """Every command reads a comma list with cli._common.parse_list: typed entries, or one
    line naming the option and the entry."""
    from localrnn.cli._common import parse_list

    if isinstance(want, list):
        assert parse_list("--x", text, kind) == want
    else:
        with pytest.raises(ValueError) as e:
            parse_list("--x", text, kind)
        assert want in str(e.value) and "\n" not in str(e.value)


def test_task_bar_opens_at_the_first_report_and_a_new_one_at_each_zero(capsys):
    """The CLI's bar for the library's progress callback: nothing before the library's
    first report (a refused call prints only its error), one bar per sweep of a study;
    disabled, nothing at all.  (Without a terminal click prints the label only.)"""
    from localrnn.cli._common import TaskBar

    with TaskBar("sweep") as bar:
        assert capsys.readouterr().err == ""
        for report in [(0, 2, ""), (1, 2, "a: done"), (2, 2, "b: done"), (0, 1, ""), (1, 1, "c: done")]:
            bar(*report)
    assert capsys.readouterr().err.splitlines() == ["sweep", "sweep"]
    with TaskBar("sweep", enabled=False) as bar:
        bar(0, 1, "")
    assert capsys.readouterr().err == ""


def test_cli_bad_quick_option_is_exit_2(tmp_path):
    res = invoke(["sweep", "--task", "romo", "--seeds", "0,x", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--seeds" in res.output and "'x'" in res.output
    res = invoke(["sweep", "--rules", "rflo"])
    assert res.exit_code == 2 and "--task" in res.output


def test_ctrl_c_inside_a_cell_stops_the_sweep(tmp_path, monkeypatch):
    """Trainer.run turns Ctrl-C into status "interrupted"; the sweep must stop, not go on."""
    real_run = Trainer.run

    def interrupted(self, *a, **k):
        if self.config.seed == 1:
            def ctrl_c(i):
                raise KeyboardInterrupt
            k["on_iteration"] = ctrl_c
        return real_run(self, *a, **k)

    monkeypatch.setattr(Trainer, "run", interrupted)
    cells = make_cells([dict(TINY, seed=0), dict(TINY, seed=1), dict(TINY, seed=2)])
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cells, tmp_path)
    assert [r["name"] for r in read_summary(tmp_path / "summary.csv")] == ["romo-rflo-s0"]
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["romo-rflo-s0"]


# ---------------------------------------------------------------------------- the folder

def test_summary_rows_are_typed_by_their_columns(tmp_path):
    """read_summary types each value by its column (the TrainConfig field's declared kind,
    or the result column's), not by its look: a task named "123" stays a string."""
    from localrnn.sweep import status_counts, summary_columns, write_summary

    row = {k: None for k in summary_columns()}
    row.update(name="123", task="123", rule="rflo", gain=1.0, lr={"W": 0.1, "W_out": 0.01}, seed=7,
               online=True, trainable=["W", "W_out"], task_kwargs={"T": 10}, iterations=3,
               final_loss=0.1 + 0.2, status="done", error="a, b")
    other = dict(row, name="x", lr=2e-4, online=False, trainable=None, status="failed")
    write_summary(tmp_path / "s.csv", [row, other])
    back = read_summary(tmp_path / "s.csv")
    assert back == [row, other]
    assert [type(back[0][k]) for k in ("task", "lr", "seed", "online", "trainable", "task_kwargs",
                                       "iterations", "final_loss")] == \
        [str, dict, int, bool, list, dict, int, float]
    assert back[0]["final_loss"] == 0.1 + 0.2 and back[1]["lr"] == 2e-4 and back[1]["eval_loss"] is None
    assert status_counts(back) == {"done": 1, "failed": 1}


def test_sweep_folder_reads_rows_and_cells_through_one_reader(serial):
    res, out = serial
    sd = sw.SweepDir(out)
    assert sd.rows() == read_summary(res.path) and sd.status_counts() == {"done": 4}
    assert sd.cell_names() == sorted(r["name"] for r in res.rows)
    rd = sd.run_dir(res.rows[0]["name"])
    assert rd.read_cell_record()["status"] == "done" and rd.read_config()["seed"] == 3
    assert sw.SweepDir(out / "nothing").rows() == []


def _hold_lock_code(folder):
    return ("import sys, time\nfrom localrnn.sweep import SweepDir\n"
            f"with SweepDir({str(folder)!r}).lock():\n    print('locked', flush=True)\n    time.sleep(600)\n")


def test_a_second_sweep_into_a_folder_in_use_is_refused_until_the_holder_dies(tmp_path):
    """Another process holds the folder: the sweep (API and CLI) refuses with one line and
    writes nothing; once the holder is killed (SIGKILL: no cleanup of its own runs), the
    kernel has released the lock and the sweep runs."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", _hold_lock_code(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=rf"is in use by another sweep \(process {holder.pid}\)"):
            run_sweep(Grid.from_dict(dict(TINY)), tmp_path)
        res = CliRunner().invoke(main, ["sweep", "--task", "romo", "--iters", "1", "--n-rec", "4",
                                        "--out", str(tmp_path)])
        assert res.exit_code == 2
        assert [line for line in res.output.splitlines() if line] == \
            [f"Error: out={str(tmp_path)!r} is in use by another sweep (process {holder.pid}); wait "
             "for it to finish or give another folder"]
        assert not (tmp_path / "cells").exists() and not (tmp_path / "summary.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_sweep(Grid.from_dict(dict(TINY)), tmp_path).done == 1


def test_the_lock_is_held_for_the_sweep_and_released_after(tmp_path):
    seen = []

    def try_again(row):  # a second sweep from inside the first, in the same process
        with pytest.raises(ValueError, match="in use by another sweep"):
            run_sweep(Grid.from_dict(dict(TINY)), tmp_path)
        seen.append(row["name"])

    run_sweep(Grid.from_dict(dict(TINY, seed=[0, 1])), tmp_path, on_result=try_again)
    assert seen == ["romo-rflo-s0", "romo-rflo-s1"]
    with sw.SweepDir(tmp_path).lock():  # released at the end
        pass


def _square_plus_shared(x, ctx):
    """A task for the executor tests (module level: workers unpickle it by name)."""
    if x == 3:
        raise RuntimeError("three")
    if ctx.report is not None:
        ctx.report(("saw", x))
    return x * x + ctx.shared


@pytest.mark.parametrize("workers", [1, 2])
def test_executors_share_one_object_deliver_messages_and_return_errors(workers):
    msgs = []
    with sw.open_executor(workers=workers, shared=10) as ex:
        out = {i: (r, e) for i, r, e in ex.imap(_square_plus_shared, [1, 2, 3, 4], on_message=msgs.append)}
    assert {i: r for i, (r, e) in out.items() if e is None} == {0: 11, 1: 14, 3: 26}
    assert isinstance(out[2][1], RuntimeError) and str(out[2][1]) == "three"
    assert sorted(msgs) == [("saw", 1), ("saw", 2), ("saw", 4)]
