"""Spiking networks through the training loop: the config, the learners, the run folder,
``--resume`` and the ``localrnn run`` options (issue 21, phase 2)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn.cli import main
from localrnn.learners import Learner, clip_grad_norm
from localrnn.optim import make_optimizer
from localrnn.runs import RunDir, read_metrics
from localrnn.spiking import (SpikingBatchLearner, SpikingNetwork, SpikingOnlineLearner,
                              gradient, gradient_terms)
from localrnn.tasks import get_task
from localrnn.training import TrainConfig, Trainer, evaluate

#: a cue task short enough for a test (T = 3 * 30 + 20 + 20 = 130 steps)
SMALL_CUE = dict(n_cues=3, t_cue=20, t_interval=30, delay=20, t_recall=20)
TINY = ["--n-rec", "8", "--batch", "2", "--iters", "4", "--eval-every", "2", "--eval-batch", "4"]


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def small(**kw):
    base = dict(task="cue", task_kwargs=SMALL_CUE, n_rec=16, batch=4, iters=4, eval_every=2,
                eval_batch=8)
    base.update(kw)
    return TrainConfig(**base)


# ============================================================================ config

def test_spiking_tasks_resolve_to_their_reference_settings():
    c = TrainConfig(task="cue").resolved()
    d = get_task("cue").defaults
    assert (c.rule, c.model, c.feedback, c.optimizer, c.lr, c.batch) == ("eprop", "alif", "symmetric",
                                                                         "adam", 0.005, 64)
    assert (c.reg, c.reg_rate) == (2.0, 0.01)
    assert c.form is None and c.activation is None and c.truncation is None
    # the complete neuron options the run uses, the task's where not given
    assert {k: c.neuron[k] for k in d["neuron"]} == d["neuron"]
    assert c.neuron["v_reset"] == 0.0
    p = TrainConfig(task="pattern").resolved()
    assert (p.rule, p.model, p.feedback, p.optimizer) == ("eprop", "lif", "random", "sgd")
    assert "beta" not in p.neuron and p.reg == pytest.approx(0.3)
    # resolving twice changes nothing (a sweep compares resolved configs)
    assert c.resolved().to_json() == c.to_json()
    # a rate task still resolves to rflo, and no spiking option
    r = TrainConfig(task="romo").resolved()
    assert r.rule == "rflo" and r.model is None and r.neuron == {} and r.reg is None


def test_the_neuron_table_overrides_the_task_and_scales_n_adaptive():
    c = TrainConfig(task="cue", n_rec=40, neuron={"v_th": 0.4, "refractory": 0}).resolved()
    assert c.neuron["v_th"] == 0.4 and c.neuron["refractory"] == 0
    assert c.neuron["n_adaptive"] == 20                 # the reference's half, at N = 40
    lif = TrainConfig(task="cue", model="lif").resolved()
    assert lif.model == "lif" and "beta" not in lif.neuron
    net = Trainer(TrainConfig(task="cue", n_rec=40, neuron={"v_th": 0.4}, iters=1)).net
    assert isinstance(net, SpikingNetwork) and net.v_th == 0.4
    assert np.count_nonzero(net.beta) == 20


def test_online_runs_take_the_tasks_online_regulariser_and_rate():
    c = TrainConfig(task="cue", online=True).resolved()
    assert c.reg == 0.0 and c.reg_rate == 0.01 and c.lr == 4e-5   # cue's online values
    assert TrainConfig(task="cue", online=True, reg=0).resolved().reg == 0.0
    p, pb = TrainConfig(task="pattern", online=True).resolved(), TrainConfig(task="pattern").resolved()
    assert p.reg == pb.reg == 0.3                                  # pattern's reg, online too
    assert p.lr == {k: v / 1000 for k, v in pb.lr.items()}        # 1/T of the batched rates
    tr = Trainer(TrainConfig(task="cue", online=True, reg=1.5, reg_rate=0.02, n_rec=12, batch=2,
                             iters=1, task_kwargs={"delay": 10}))
    assert (tr.config.reg, tr.config.reg_rate) == (1.5, 0.02)
    assert (tr.learner.reg, tr.learner.reg_rate) == (1.5, 0.02)      # the learner applies it


@pytest.mark.parametrize("kw, needle", [
    (dict(task="cue", form="rate"), "form='rate' is an option of rate networks; task 'cue'"),
    (dict(task="cue", activation="relu"), "activation='relu' is an option of rate networks"),
    (dict(task="cue", quantize="w8"), "quantize='w8' is an option of rate networks"),
    (dict(task="cue", floss_iters=2), "floss_iters=2 is an option of rate networks"),
    (dict(task="cue", floss_mode="exact"), "floss_mode='exact' is an option of rate networks"),
    (dict(task="cue", lyapunov=True), "lyapunov=True is an option of rate networks"),
    (dict(task="cue", lyap_every=3), "lyap_every=3 is an option of rate networks"),
    (dict(task="cue", rescale_to=0.0), "rescale_to=0.0 is an option of rate networks"),
    (dict(task="cue", truncation="state"), "truncation='state' is an option of rate networks"),
    (dict(task="cue", rule="rflo"), "rule='rflo' is not allowed for task 'cue' (a spiking network)"),
    (dict(task="pattern", rule="rtrl"), "choose one of bptt, eprop"),
    (dict(task="cue", rule="bptt", online=True), "eprop, not rule='bptt'"),
    (dict(task="cue", rule="bptt", feedback="random"), "feedback='random' is only for the local rules"),
    (dict(task="cue", online=True, reg=-1.0), "reg=-1.0"),
    (dict(task="cue", model="izh"), "model='izh' is not allowed"),
    (dict(task="cue", neuron={"v_th": 0}), "v_th=0 is out of range"),
    (dict(task="cue", neuron={"v_th": -1.0}), "v_th=-1.0 is out of range"),
    (dict(task="cue", neuron={"tau_m": 0.0}), "tau_m=0.0 is out of range"),
    (dict(task="cue", neuron={"refractory": -1}), "refractory=-1 is out of range"),
    (dict(task="cue", neuron={"refractory": 1.5}), "refractory=1.5 must be an integer"),
    (dict(task="cue", neuron={"reset": "set", "v_reset": 0.9}), "v_reset=0.9 is out of range"),
    (dict(task="cue", neuron={"v_reset": -0.1}), "v_reset=-0.1 is only for reset='set'"),
    (dict(task="cue", neuron={"dt": 0.5}), "neuron option dt=0.5 is not allowed: dt is the time step"),
    (dict(task="cue", neuron={"nosuch": 1}), "neuron option='nosuch' is not allowed"),
    (dict(task="cue", model="lif", neuron={"beta": 1.0}), "beta=1.0 is only for model='alif'"),
    (dict(task="cue", neuron={"n_adaptive": 200}), "n_adaptive=200 is out of range"),
    (dict(task="cue", reg=-1.0), "reg=-1.0 is out of range"),
    (dict(task="cue", reg_rate=2.0), "reg_rate=2.0 is out of range"),
    (dict(task="romo", model="lif"), "model='lif' is an option of spiking networks; task 'romo'"),
    (dict(task="romo", reg=1.0), "reg=1.0 is an option of spiking networks"),
    (dict(task="sine", reg_rate=0.1), "reg_rate=0.1 is an option of spiking networks"),
    (dict(task="romo", neuron={"v_th": 1.0}), "v_th=1.0 is an option of spiking networks"),
])
def test_bad_spiking_settings_are_one_line_errors(kw, needle):
    with pytest.raises(ValueError) as e:
        TrainConfig(**kw).resolved()
    assert needle in str(e.value) and "\n" not in str(e.value)


# ============================================================================ learners

def test_make_learner_picks_the_spiking_learners():
    batched = Trainer(small())
    assert isinstance(batched.learner, SpikingBatchLearner) and isinstance(batched.learner, Learner)
    online = Trainer(small(online=True))
    assert isinstance(online.learner, SpikingOnlineLearner) and isinstance(online.learner, Learner)
    assert online.learner.batch_size == 4


def test_batch_learner_is_the_gradient_then_the_optimiser():
    """One learn() = spiking.gradient (with the regulariser) + Adam, bit for bit; it
    returns the task loss, without the regulariser."""
    task = get_task("cue", **SMALL_CUE)
    net = task.make_network(n_rec=16, seed=1)
    ref = net.copy()
    L = SpikingBatchLearner(net, rule="eprop", lr=0.01, optimizer="adam", loss="xent",
                            trainable=("W_in", "W", "W_out"), reg=2.0, reg_rate=0.01)
    opt = make_optimizer("adam", {k: getattr(ref, k) for k in ("W_in", "W", "W_out")}, 0.01)
    for i in range(3):
        b = task.batch(4, np.random.default_rng([0, 1, i]))
        t = gradient_terms(ref, b.inputs, b.targets, b.mask, loss="xent", rule="eprop", reg=2.0,
                           reg_rate=0.01)
        opt.step({k: t.grads[k] for k in ("W_in", "W", "W_out")})
        assert L.learn(b) == t.loss and t.reg_loss > 0
        for k in ("W_in", "W", "b", "W_out", "b_out"):
            np.testing.assert_array_equal(getattr(net, k), getattr(ref, k))
    kw = dict(loss="xent", rule="eprop", reg=2.0, reg_rate=0.01)
    t = gradient_terms(ref, b.inputs, b.targets, b.mask, **kw)
    Lfull, g = gradient(ref, b.inputs, b.targets, b.mask, **kw)
    assert Lfull == t.loss + t.reg_loss
    for k in g:
        np.testing.assert_array_equal(g[k], t.grads[k])


def test_batch_learner_clips_like_the_rate_learner():
    task = get_task("pattern", T=50, n_in=20)
    net = task.make_network(n_rec=12, seed=0)
    ref = net.copy()
    b = task.batch(2, 0)
    L = SpikingBatchLearner(net, rule="bptt", lr=0.1, optimizer="sgd", clip=1e-3)
    L.learn(b)
    _, g = gradient(ref, b.inputs, b.targets, b.mask, rule="bptt")
    clipped, norm = clip_grad_norm(g, 1e-3)
    assert norm > 1e-3 and L.last_norm == norm              # the clip was active
    for k in g:
        np.testing.assert_array_equal(getattr(net, k), getattr(ref, k) - 0.1 * clipped[k])


def test_random_feedback_is_drawn_once_from_the_seed():
    task = get_task("pattern", T=40, n_in=10)
    net = task.make_network(n_rec=10, seed=0)
    L = SpikingBatchLearner(net.copy(), rule="eprop", feedback="random", seed=3)
    from localrnn import feedback_matrix
    np.testing.assert_array_equal(L.feedback, feedback_matrix(net, "random", "eprop", 3))
    with pytest.raises(ValueError, match="rule='rflo'"):
        SpikingBatchLearner(net, rule="rflo")
    with pytest.raises(ValueError, match="expected a SpikingNetwork"):
        SpikingBatchLearner(Trainer(TrainConfig(task="romo", n_rec=4)).net)


def test_online_learner_learn_streams_the_batch():
    """learn() of the online learner = reset + run over the batch; the loss is the
    mask-weighted trial loss (the recall window of the cue task)."""
    task = get_task("cue", **SMALL_CUE)
    net = task.make_network(n_rec=12, seed=0)
    ref = net.copy()
    b = task.batch(3, 0)
    a = SpikingOnlineLearner(net, lr=1e-3, optimizer="adam", loss="xent", batch_size=3)
    r = SpikingOnlineLearner(ref, lr=1e-3, optimizer="adam", loss="xent", batch_size=3)
    loss = a.learn(b)
    losses = r.run(b.inputs, b.targets, b.mask)
    s = b.mask.sum(axis=1)
    assert loss == pytest.approx(float((s * losses).sum() / s.sum()), rel=1e-14)
    for k in ("W_in", "W", "W_out"):
        np.testing.assert_array_equal(getattr(net, k), getattr(ref, k))


# ============================================================================ runs

@pytest.mark.parametrize("online", [False, True])
def test_a_run_trains_and_its_folder_reloads_the_network(tmp_path, online):
    t = Trainer(small(online=online), tmp_path / "r")
    r = t.run()
    assert r.status == "done" and len(r.metrics) == 4
    assert not np.array_equal(r.net.W, r.init_net.W)
    rd = RunDir(tmp_path / "r")
    for which, net in (("final", r.net), ("init", r.init_net)):
        back = rd.load_network(which)
        assert isinstance(back, SpikingNetwork) and back.options() == net.options()
        for k in ("W_in", "W", "b", "W_out", "b_out", "beta"):
            np.testing.assert_array_equal(getattr(back, k), getattr(net, k))
    cfg = rd.read_config()
    assert cfg["model"] == "alif" and cfg["neuron"]["v_th"] == 0.6
    rows = read_metrics(tmp_path / "r" / "metrics.csv")
    L, acc, dL = evaluate(r.net, t.task, t.eval_data)
    assert L == rows[-1]["eval_loss"] and acc == rows[-1]["accuracy"]
    assert dL == rows[-1]["eval_decision_loss"]            # the recall window is the whole mask
    assert r.summary()["model"] == "alif"


def test_evaluate_is_the_spiking_forward_pass_and_the_task_score():
    t = Trainer(small())
    from localrnn.spiking import trajectory
    from localrnn.engine import loss_value
    tr = trajectory(t.net, t.eval_data.inputs)
    ev = evaluate(t.net, t.task, t.eval_data)
    assert ev.accuracy == t.task.accuracy(tr.outputs, t.eval_data)
    assert ev.loss == loss_value(t.net, tr.outputs, t.eval_data.targets, t.eval_data.mask, "xent")


def test_a_cue_run_learns():
    """e-prop on the short cue task: the held-out loss falls and the accuracy rises
    above chance (seed 0; the numbers are a pass/fail of learning, not a benchmark)."""
    r = Trainer(TrainConfig(task="cue", task_kwargs=SMALL_CUE, n_rec=40, batch=32, iters=40,
                            eval_every=40, eval_batch=128, lr=0.01)).run()
    first = Trainer(TrainConfig(task="cue", task_kwargs=SMALL_CUE, n_rec=40, iters=1, eval_batch=128))
    L0, acc0, _ = evaluate(first.net, first.task, first.eval_data)
    assert r.metrics[-1]["eval_loss"] < 0.8 * L0
    assert r.metrics[-1]["accuracy"] >= 0.75 > acc0 + 0.1


@pytest.mark.parametrize("extra", [[], ["--online"], ["--rule", "bptt", "--model", "lif"]])
def test_resume_of_a_spiking_run_is_bit_identical(tmp_path, extra):
    full = tmp_path / "full"
    assert invoke(["run", "cue", *TINY, *extra, "--out", str(full)]).exit_code == 0
    part = tmp_path / "part"
    kw = dict(online="--online" in extra)
    if "--rule" in extra:
        kw.update(rule="bptt", model="lif")
    cfg = TrainConfig(task="cue", n_rec=8, batch=2, iters=4, eval_every=2, eval_batch=4, **kw)

    def interrupt(i):
        if i == 3:
            raise KeyboardInterrupt

    assert Trainer(cfg, part).run(on_iteration=interrupt).status == "interrupted"
    res = invoke(["run", "--resume", str(part)])
    assert res.exit_code == 0, res.output
    with np.load(full / "weights.npz") as a, np.load(part / "weights.npz") as b:
        assert sorted(a.files) == sorted(b.files) and "neuron" in a.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    ra, rb = read_metrics(full / "metrics.csv"), read_metrics(part / "metrics.csv")
    assert [x["loss"] for x in ra] == [x["loss"] for x in rb]
    assert [x["eval_loss"] for x in ra] == [x["eval_loss"] for x in rb]


# ============================================================================ CLI

def test_cli_run_takes_the_neuron_options(tmp_path):
    out = tmp_path / "r"
    res = invoke(["run", "cue", *TINY, "--model", "lif", "--reset", "set", "--v-reset", "-0.1",
                  "--v-th", "0.5", "--tau-m", "30", "--tau-out", "10", "--refractory", "2",
                  "--reg", "0.5", "--reg-rate", "0.02", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert (s["task"], s["rule"], s["model"]) == ("cue", "eprop", "lif")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["neuron"] == dict(reset="set", tau_m=30.0, tau_a=2000.0, tau_out=10.0, v_th=0.5,
                                 gamma=0.3, v_reset=-0.1, refractory=2)
    assert (cfg["reg"], cfg["reg_rate"]) == (0.5, 0.02)
    net = RunDir(out).load_network()
    assert (net.model, net.reset, net.v_reset, net.refractory, net.tau_out) == ("lif", "set", -0.1, 2, 10.0)
    a = invoke(["run", "cue", *TINY, "--model", "alif", "--beta", "0.5", "--n-adaptive", "3",
                "--tau-a", "100", "--out", str(tmp_path / "a")])
    assert a.exit_code == 0, a.output
    net = RunDir(tmp_path / "a").load_network()
    assert net.tau_a == 100.0 and net.beta.tolist() == [0.0] * 5 + [0.5] * 3


@pytest.mark.parametrize("args, needle", [
    (["run", "romo", "--v-th", "1"], "v_th=1.0 is an option of spiking networks; task 'romo'"),
    (["run", "romo", "--model", "lif"], "model='lif' is an option of spiking networks"),
    (["run", "sine", "--reg", "1"], "reg=1.0 is an option of spiking networks"),
    (["run", "cue", "--form", "rate"], "form='rate' is an option of rate networks; task 'cue'"),
    (["run", "cue", "--lyapunov"], "lyapunov=True is an option of rate networks"),
    (["run", "cue", "--v-th", "0"], "v_th=0.0 is out of range"),
    (["run", "cue", "--v-th", "-0.5"], "v_th=-0.5 is out of range"),
    (["run", "cue", "--refractory", "-1"], "refractory=-1 is out of range"),
    (["run", "cue", "--tau-m", "0"], "tau_m=0.0 is out of range"),
    (["run", "cue", "--rule", "rflo"], "rule='rflo' is not allowed for task 'cue'"),
    (["run", "cue", "--online", "--rule", "bptt"], "not rule='bptt'"),
    (["run", "pattern", "--beta", "1"], "beta=1.0 is only for model='alif'"),
])
def test_cli_bad_spiking_options_are_one_error_line(args, needle):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0], res.stderr
    assert "Traceback" not in res.output


def test_gradient_alignment_of_a_spiking_network():
    """cos(e-prop, BPTT) of spiking gradients (what a sweep's --align records): the
    readout is exact in e-prop (cosine 1), the recurrent side is not; BPTT with itself is 1."""
    from localrnn.alignment import gradient_alignment
    task = get_task("cue", **SMALL_CUE)
    net = task.make_network(n_rec=20, seed=0)
    a = gradient_alignment(net, task, "eprop", batch=8)
    assert a["W_out"] == pytest.approx(1.0, abs=1e-12) and a["b_out"] == pytest.approx(1.0, abs=1e-12)
    assert 0.0 < a["recurrent"] < 0.999
    assert gradient_alignment(net, task, "bptt", batch=8)["all"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="rule='rflo'"):
        gradient_alignment(net, task, "rflo", batch=8)


def test_plot_spiking_trial_draws_the_trial_and_the_curve(tmp_path):
    from localrnn.plotting import plot_spiking_trial, save_figure
    t = Trainer(small(iters=2, eval_every=1), tmp_path / "r")
    r = t.run()
    b = t.eval_data
    from localrnn.spiking import forward
    z, _, _, y = forward(r.net, b.inputs)
    fig = plot_spiking_trial(b.inputs[:, 0], z[:, 0], y[:, 0], window=b.info["t_decision"][0],
                             labels=["left", "right"], adaptive_from=8, metrics=r.metrics, title="t")
    assert len(fig.axes) == 5                      # inputs, spikes, readout, loss (+ accuracy)
    n_spikes = len(fig.axes[1].collections[0].get_offsets())
    assert n_spikes == int(z[:, 0].sum())         # one mark per spike
    assert save_figure(fig, tmp_path / "f.png").stat().st_size > 0


@pytest.mark.parametrize("args", [["lyapunov", "--task", "cue", "--gain", "1"],
                                  ["lyapunov", "--task", "pattern", "--gains", "1,2"], ["lyapunov", "RUN"]])
def test_lyapunov_refuses_spiking_tasks_in_one_line(tmp_path, args):
    Trainer(small(iters=1), tmp_path / "r").run()
    args = [str(tmp_path / "r") if a == "RUN" else a for a in args]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and res.stderr.count("Error:") == 1, res.output
    assert "trains a spiking network" in res.stderr
