"""``localrnn run`` end to end: files and the numbers in them, resume, bad input, divergence."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn.cli import main
from localrnn.runs import read_metrics
from localrnn.training import TrainConfig, Trainer, evaluate

SMALL = ["--n-rec", "12", "--batch", "4", "--iters", "6", "--eval-every", "3", "--eval-batch", "8"]


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_run_writes_results_with_consistent_numbers(tmp_path):
    out = tmp_path / "r1"
    res = invoke(["run", "romo", "--rule", "rflo", "--gain", "0.5", *SMALL, "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("config.json", "metrics.csv", "weights.npz", "curve.png", "checkpoint.npz"):
        assert (out / f).is_file(), f
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["rule"] == "rflo" and cfg["gain"] == 0.5 and cfg["n_rec"] == 12 and cfg["status"] == "done"
    rows = read_metrics(out / "metrics.csv")
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    assert rows[2]["eval_loss"] is not None and rows[0]["eval_loss"] is None
    # the numbers on disk are what the API computes for the same config
    t = Trainer(TrainConfig(task="romo", rule="rflo", gain=0.5, n_rec=12, batch=4, iters=6,
                            eval_every=3, eval_batch=8))
    r = t.run()
    np.testing.assert_array_equal([m["loss"] for m in r.metrics], [m["loss"] for m in rows])
    with np.load(out / "weights.npz") as w:
        np.testing.assert_array_equal(w["final_W"], r.net.W)
        np.testing.assert_array_equal(w["init_W"], r.init_net.W)
        assert not np.array_equal(w["final_W"], w["init_W"])
        # init W has the requested gain: std * sqrt(N) ~ g (12 units: loose)
        assert 0.2 < w["init_W"].std() * np.sqrt(12) < 0.8
    L, acc, dL = evaluate(r.net, t.task, t.eval_data)
    assert L == pytest.approx(rows[-1]["eval_loss"], rel=1e-12)
    assert acc == pytest.approx(rows[-1]["accuracy"], rel=1e-12)
    assert dL == pytest.approx(rows[-1]["eval_decision_loss"], rel=1e-12)
    # summary line
    assert "final_loss" in res.output and "accuracy" in res.output


def test_run_json_summary(tmp_path):
    res = invoke(["run", "romo", "--rule", "bptt", "--gain", "1.0", *SMALL, "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    rows = read_metrics(tmp_path / "r" / "metrics.csv")
    assert s["final_loss"] == rows[-1]["loss"] and s["iterations"] == 6 and s["rule"] == "bptt"


@pytest.mark.parametrize("rule, online", [("rflo", False), ("bptt", False), ("eprop", True)])
def test_resume_is_bit_identical(tmp_path, rule, online):
    full = tmp_path / "full"
    flag = ["--online"] if online else []
    assert invoke(["run", "romo", "--rule", rule, "--gain", "0.8", *SMALL, *flag,
                   "--out", str(full)]).exit_code == 0
    part = tmp_path / "part"
    cfg = TrainConfig(task="romo", rule=rule, gain=0.8, n_rec=12, batch=4, iters=6, eval_every=3,
                      eval_batch=8, online=online)

    def interrupt(i):
        if i == 4:
            raise KeyboardInterrupt

    r = Trainer(cfg, part).run(on_iteration=interrupt)
    assert r.status == "interrupted" and len(r.metrics) == 4
    assert json.loads((part / "config.json").read_text())["status"] == "interrupted"
    res = invoke(["run", "--resume", str(part)])
    assert res.exit_code == 0, res.output
    with np.load(full / "weights.npz") as a, np.load(part / "weights.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    ra, rb = read_metrics(full / "metrics.csv"), read_metrics(part / "metrics.csv")
    assert [x["loss"] for x in ra] == [x["loss"] for x in rb]
    assert [x["eval_loss"] for x in ra] == [x["eval_loss"] for x in rb]


@pytest.mark.parametrize("args, needle", [
    (["run", "nosuchtask"], "task='nosuchtask'"),
    (["run", "romo", "--rule", "hebb"], "'hebb'"),
    (["run", "romo", "--gain", "-1"], "gain=-1.0 is out of range"),
    (["run", "romo", "--gain", "nan"], "gain=nan must be finite"),
    (["run", "romo", "--n-rec", "0"], "n_rec=0 is out of range"),
    (["run", "romo", "--iters", "0"], "iters=0 is out of range"),
    (["run", "romo", "--lr", "0"], "lr=0.0 is out of range"),
    (["run", "romo", "--lr", "inf"], "lr=inf must be finite"),
    (["run", "romo", "--batch", "abc"], "'abc' is not a valid integer"),
    (["run", "romo", "--rule", "bptt", "--online"], "online=True needs"),
    (["run", "romo", "--rule", "eprop", "--online", "--clip", "0.1"], "clip=0.1 is for the batched rules"),
    (["run", "romo", "--clip", "0"], "clip=0.0 is out of range"),
    (["run", "romo", "--lyap-every", "0"], "lyap_every=0 is out of range"),
    (["run", "--resume", "/nonexistent/dir"], "no config.json"),
    (["run"], "missing TASK"),
])
def test_bad_values_exit_2_with_one_line(args, needle, tmp_path):
    res = CliRunner().invoke(main, args + ["--out", str(tmp_path / "x")] if args[-1] != "--resume" and "--resume" not in args else args)
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [l for l in res.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), res.output
    assert needle in lines[0], lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_divergence_stops_and_keeps_last_good(tmp_path):
    out = tmp_path / "div"
    res = CliRunner().invoke(main, ["run", "romo", "--rule", "bptt", "--gain", "2", "--activation", "relu",
                                    "--optimizer", "sgd", "--lr", "1e12", "--n-rec", "12", "--batch", "4",
                                    "--iters", "20", "--out", str(out)])
    assert res.exit_code == 3, res.output
    assert "diverged" in res.output
    rows = read_metrics(out / "metrics.csv")
    assert len(rows) < 20 and all(np.isfinite(r["loss"]) for r in rows)
    with np.load(out / "weights.npz") as w:
        assert all(np.all(np.isfinite(w[k])) for k in w.files if k.startswith("final_"))
    assert json.loads((out / "config.json").read_text())["status"] == "diverged"


def test_plot_overlays_runs(tmp_path):
    for g in ("0.5", "1.5"):
        assert invoke(["run", "romo", "--gain", g, *SMALL, "--out", str(tmp_path / g)]).exit_code == 0
    res = invoke(["plot", str(tmp_path / "0.5"), str(tmp_path / "1.5"), "--out", str(tmp_path / "c.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.png").stat().st_size > 1000
    res = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "no metrics.csv" in res.output


def test_symmetric_feedback_follows_the_readout():
    """e-prop's F is the *current* W_out^T at every iteration, not the initial one:
    the trainer's 4th update equals Adam applied to gradient(feedback="symmetric")
    computed with the weights after 3 iterations."""
    import localrnn

    cfg = TrainConfig(task="romo", rule="eprop", gain=1.0, n_rec=10, batch=3, iters=3, eval_every=3,
                      eval_batch=4)
    t = Trainer(cfg)
    t.run()
    net = t.net.copy()
    state = {k: np.array(v, copy=True) for k, v in t.learner.state_dict().items()}
    b = t.task.batch(3, np.random.default_rng([0, 1, 3]))     # the batch of iteration 4
    _, g = localrnn.gradient(net, b.inputs, b.targets, b.mask, rule="eprop", feedback="symmetric")
    _, g_init = localrnn.gradient(net, b.inputs, b.targets, b.mask, rule="eprop",
                                  feedback=t.init_net.W_out.T)
    assert not np.allclose(g["W"], g_init["W"])               # W_out has moved: F matters
    opt = localrnn.Adam({k: getattr(net, k) for k in t.config.trainable}, t.config.lr)
    opt.load_state_dict(state)
    opt.step({k: g[k] for k in t.config.trainable})
    t.step(3)
    for k in t.config.trainable:
        np.testing.assert_array_equal(getattr(t.net, k), getattr(net, k))


def test_online_iteration_is_the_learner_over_the_batch():
    """--online: one iteration = the batch's trials streamed through OnlineLearner;
    the reported loss is the mask-weighted mean of the per-step losses."""
    import localrnn

    cfg = TrainConfig(task="romo", rule="rflo", gain=1.0, n_rec=10, batch=3, iters=2, online=True,
                      eval_every=2, eval_batch=4)
    t = Trainer(cfg)
    r = t.run()
    net = t.init_net.copy()
    lr = {k: (t.config.lr if k in t.config.trainable else 0.0) for k in ("W_in", "W", "b", "W_out", "b_out")}
    learner = localrnn.OnlineLearner(net, rule="rflo", lr=lr, optimizer="adam", feedback=t.learner.feedback,
                                     batch_size=3, seed=0)
    for i in range(2):
        b = t.task.batch(3, np.random.default_rng([0, 1, i]))
        learner.reset()
        losses = learner.run(b.inputs, b.targets, b.mask)
        s = b.mask.reshape(b.mask.shape[0], -1).sum(axis=1)
        assert r.metrics[i]["loss"] == pytest.approx((s * losses).sum() / s.sum(), rel=1e-15)
    for k in ("W_in", "W", "W_out"):
        np.testing.assert_array_equal(getattr(net, k), getattr(r.net, k))
    np.testing.assert_array_equal(net.b, r.init_net.b)           # romo does not train biases


TINY = ["--n-rec", "8", "--batch", "2", "--iters", "2", "--eval-batch", "4"]


@pytest.mark.parametrize("task", ["sine", "romo", "2af"])
def test_gain_and_sizes_default_to_the_task(tmp_path, task):
    """`localrnn run sine --rule rflo` trains at the sine task's gain (1.5), not a CLI
    constant; the summary line and config.json show the effective values."""
    from localrnn.tasks import get_task

    d = get_task(task).defaults
    out = tmp_path / task
    res = invoke(["run", task, "--rule", "rflo", *TINY, "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gain"] == d["gain"] and cfg["lr"] == d["lr"] and cfg["optimizer"] == d["optimizer"]
    assert cfg["form"] == d["form"] and cfg["activation"] == d["activation"]
    assert cfg["trainable"] == list(d["trainable"])
    line = [l for l in res.stdout.splitlines() if l.startswith("task ")][0]
    assert f"gain {d['gain']:.4g}," in line and "n_rec 8," in line and "iters 2," in line and "lr " in line
    # the API's default is the task's too
    assert TrainConfig(task=task).resolved().gain == d["gain"]


def test_sine_default_gain_is_1_5_and_an_explicit_gain_wins(tmp_path):
    res = invoke(["run", "sine", "--rule", "rflo", *TINY, "--out", str(tmp_path / "a"), "--json"])
    assert json.loads(res.stdout)["gain"] == 1.5
    with np.load(tmp_path / "a" / "weights.npz") as w:
        # the initial W has the task's gain: the same network as make_network(1.5)
        from localrnn.tasks import get_task

        net = get_task("sine").make_network(1.5, seed=0, n_rec=8)
        np.testing.assert_array_equal(w["init_W"], net.W)  # the same draw twice
    res = invoke(["run", "sine", "--rule", "rflo", "--gain", "0.5", *TINY, "--out", str(tmp_path / "b"), "--json"])
    assert json.loads(res.stdout)["gain"] == 0.5
    assert json.loads((tmp_path / "b" / "config.json").read_text())["gain"] == 0.5


@pytest.mark.parametrize("out, needle", [("/proc/x", "out='/proc/x' cannot be written"),
                                         ("/proc/x/y", "out='/proc/x/y' cannot be written"),
                                         ("FILE/sub", "is not a folder")])
def test_unwritable_out_is_refused_before_any_computation(tmp_path, monkeypatch, out, needle):
    (tmp_path / "FILE").write_text("x")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    needle = needle.replace("FILE", str(tmp_path / "FILE"))

    def no_training(*a, **k):
        raise AssertionError("computation started")

    monkeypatch.setattr(Trainer, "__init__", no_training)
    res = CliRunner().invoke(main, ["run", "romo", *TINY, "--out", out])
    assert res.exit_code == 2, res.output
    lines = [l for l in res.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], res.output


@pytest.mark.parametrize("args, needle", [
    (["--batch", "99999999999"], "batch=99999999999"),
    (["--n-rec", "1000000"], "n_rec=1000000"),
    (["--eval-batch", "99999999999"], "eval_batch=99999999999"),
    (["--iters", "99999999999999"], "iters=99999999999999"),
    (["--rule", "rtrl", "--n-rec", "20000"], "n_rec=20000"),
])
def test_runs_that_cannot_fit_in_memory_are_refused(tmp_path, args, needle):
    from localrnn._validate import physical_memory

    if physical_memory() == 0:
        pytest.skip("physical memory unknown")
    res = CliRunner().invoke(main, ["run", "romo", *args, "--out", str(tmp_path / "x")])
    assert res.exit_code == 2, res.output
    lines = [l for l in res.output.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and "bytes of memory" in lines[0], res.output
    assert not (tmp_path / "x").exists()
