"""Native 2af / dms against neurogym's own environments, and the neurogym adapter.

Skipped with a reason when neurogym (optional extra) is not installed.

Comparisons:
* periods in steps and trial length, at dt = 100 and dt = 20 ms;
* number and meaning of the input channels and classes (neurogym's space names);
* noiseless inputs value for value (neurogym is float32: tolerance 1e-7) and the
  labels step for step, for every trial condition (forced through ``new_trial``'s
  keyword arguments, as neurogym allows);
* noise: per trial, per period, per channel means and the noise std, ours vs
  neurogym's, within ``Z = 5`` standard errors of the difference (trial means are
  independent across trials; steps within a trial are not, so the unit is a trial).
"""
import warnings

import numpy as np
import pytest

ngym = pytest.importorskip("neurogym", reason='neurogym is optional: pip install "localrnn[neurogym]"')

from packaging.version import Version  # noqa: E402  (a dependency of pytest)

from localrnn.tasks import get_task  # noqa: E402

Z = 5.0
F32 = 1e-7      # neurogym builds observations in float32 (values here are <= 1.5)
NG_VERSION = Version(ngym.__version__)


def ng_env(env_id, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*render_modes", category=UserWarning)
        env = ngym.make(env_id, **kwargs).unwrapped
    env.seed(0)
    return env


def ng_trial(env, **kwargs):
    trial = env.new_trial(**kwargs)
    return trial, np.asarray(env.ob, dtype=np.float64), np.asarray(env.gt)


def ng_periods(env):
    return {p: (int(env.start_ind[p]), int(env.end_ind[p])) for p in env.start_ind}


def as_list(v):
    return list(v) if isinstance(v, (range, list, tuple, np.ndarray)) else v


CASES = [("2af", "PerceptualDecisionMaking-v0"), ("dms", "DelayMatchSample-v0")]


# ====================================================================== structure

@pytest.mark.parametrize("name, env_id", CASES)
@pytest.mark.parametrize("dt", [100, 20])
def test_same_periods_in_steps_and_trial_length(name, env_id, dt):
    task, env = get_task(name, dt=dt), ng_env(env_id, dt=dt)
    _, ob, gt = ng_trial(env)
    assert task.periods == ng_periods(env)
    assert task.T == ob.shape[0] == gt.shape[0]
    assert tuple(task.period_names) == tuple(env.start_ind)


@pytest.mark.parametrize("name, env_id", CASES)
def test_same_channels_and_classes(name, env_id):
    task, env = get_task(name), ng_env(env_id)
    assert task.n_in == env.observation_space.shape[0]
    assert task.n_out == env.action_space.n
    assert {k: as_list(v) for k, v in env.observation_space.name.items()} == task.channels
    assert {k: as_list(v) for k, v in env.action_space.name.items()} == task.classes
    assert task.loss == "xent" and task.dt == env.dt


@pytest.mark.parametrize("name, env_id", CASES)
def test_same_noise_scale(name, env_id):
    for dt in (100, 20):
        assert get_task(name, dt=dt).noise_std == pytest.approx(ng_env(env_id, dt=dt).sigma, rel=1e-15)


# =============================================================== noiseless values

def test_2af_noiseless_inputs_and_labels_match_for_every_condition():
    task, env = get_task("2af", sigma=0.0), ng_env("PerceptualDecisionMaking-v0", sigma=0.0)
    b = task.batch(400, 0)
    fix, dec = task.periods["fixation"], task.periods["decision"]
    for gt in (0, 1):
        for coh in env.cohs:
            i = np.flatnonzero((b.info["ground_truth"] == gt) & (b.info["coh"] == coh))[0]
            _, ob, label = ng_trial(env, ground_truth=gt, coh=coh)
            assert np.allclose(b.inputs[:, i, 1:], ob[:, 1:], rtol=0, atol=F32), (gt, coh)
            # integer labels and 0/1 fixation values: no arithmetic
            assert np.array_equal(b.targets[:, i], label), (gt, coh)
            for s, e in (fix, dec):     # fixation channel: equal where both versions agree
                assert np.array_equal(b.inputs[s:e, i, 0], ob[s:e, 0])


def test_2af_fixation_channel_before_the_decision():
    """TASKS.md (and neurogym before 2.3): fixation input 1 until the decision period.
    neurogym 2.3 sets it only in its fixation period; anything else is a change to look at."""
    task, env = get_task("2af", sigma=0.0), ng_env("PerceptualDecisionMaking-v0", sigma=0.0)
    s, e = task.periods["stimulus"]
    _, ob, _ = ng_trial(env)
    ours = task.batch(1, 0).inputs[s:e, 0, 0]
    assert np.all(ours == 1.0)
    assert np.all(ob[s:e, 0] == 1.0) or np.all(ob[s:e, 0] == 0.0)


@pytest.mark.xfail(NG_VERSION >= Version("2.3"), strict=True,
                   reason="neurogym 2.3 switches the 2af fixation input off after the fixation period; "
                          "TASKS.md keeps it on until the decision (as neurogym did before)")
def test_2af_fixation_channel_equals_neurogym_over_the_whole_trial():
    task, env = get_task("2af", sigma=0.0), ng_env("PerceptualDecisionMaking-v0", sigma=0.0)
    _, ob, _ = ng_trial(env)
    assert np.array_equal(task.batch(1, 0).inputs[:, 0, 0], ob[:, 0])


def test_dms_noiseless_inputs_and_labels_match_for_every_condition():
    task, env = get_task("dms", sigma=0.0), ng_env("DelayMatchSample-v0", sigma=0.0)
    b = task.batch(200, 0)
    for label in (1, 2):
        for theta in (0.0, np.pi):
            i = np.flatnonzero((b.info["label"] == label) & (b.info["sample_theta"] == theta))[0]
            trial, ob, gt = ng_trial(env, ground_truth=label, sample_theta=theta)
            assert np.allclose(b.inputs[:, i], ob, rtol=0, atol=F32), (label, theta)
            assert np.array_equal(b.targets[:, i], gt), (label, theta)
            assert np.isclose(b.info["test_theta"][i], trial["test_theta"], atol=1e-12)


# ===================================================================== statistics

def trial_means(x, periods):
    """(B, n_periods * I): each trial's mean input per period and channel."""
    cols = [x[s:e].mean(axis=0) for s, e in periods.values() if e > s]
    return np.concatenate(cols, axis=1)


@pytest.mark.parametrize("name, env_id, n", [("2af", "PerceptualDecisionMaking-v0", 600),
                                             ("dms", "DelayMatchSample-v0", 400)])
def test_input_statistics_match_neurogym(name, env_id, n):
    task, env = get_task(name), ng_env(env_id)
    env.seed(123)
    obs, gts = [], []
    for _ in range(n):
        _, ob, gt = ng_trial(env)
        obs.append(ob)
        gts.append(gt)
    theirs = np.stack(obs, axis=1)                     # (T, n, I)
    b = task.batch(n, 123)
    ours = b.inputs
    if name == "2af":          # the known fixation difference (tested above): compare the rest
        s, e = task.periods["stimulus"]
        assert np.all(theirs[s:e, :, 0] == 0.0) or np.all(theirs[s:e, :, 0] == 1.0)
        theirs[s:e, :, 0] = ours[s:e, :, 0]
    # Means per period and channel: trials are the independent unit.
    a, c = trial_means(ours, task.periods), trial_means(theirs, task.periods)
    se = np.sqrt(a.var(axis=0, ddof=1) / n + c.var(axis=0, ddof=1) / n)
    diff = np.abs(a.mean(axis=0) - c.mean(axis=0))
    constant = se == 0                                  # fixation channel, silent periods
    assert np.all(diff[constant] < F32)
    assert np.all(diff <= Z * se + F32), (diff, se)
    # Noise std: within-trial deviation from the trial's own period mean (the signal is
    # constant within a period), pooled; ddof per trial = 1.
    stim = [p for p in task.periods if p in ("stimulus", "sample", "test")]
    for p in stim:
        s, e = task.periods[p]
        k = e - s
        for x, label in ((ours, "ours"), (theirs, "neurogym")):
            r = x[s:e, :, 1:] - x[s:e, :, 1:].mean(axis=0, keepdims=True)
            dof = (k - 1) * r.shape[1] * r.shape[2]
            sd = np.sqrt((r ** 2).sum() / dof)
            assert abs(sd - task.noise_std) < Z * task.noise_std / np.sqrt(2 * dof), (p, label, sd)
    # Labels: 0 before the decision, the answer (1 or 2) throughout it, in both.
    s, e = task.periods["decision"]
    g = np.stack(gts, axis=1)
    for y in (b.targets, g):
        assert np.all(y[:s] == 0) and np.all(np.isin(y[s:e], (1, 2)))
        assert np.all(y[s:e] == y[s])
    assert abs((b.targets[s] == 1).mean() - (g[s] == 1).mean()) < Z * np.sqrt(0.5 / n)


# ======================================================================== adapter

def test_adapter_sizes_and_defaults_match_the_native_task():
    for name, env_id in CASES:
        ng, native = get_task("neurogym:" + env_id), get_task(name)
        assert (ng.n_in, ng.n_out, ng.T, ng.dt, ng.alpha, ng.loss, ng.time_unit) == \
            (native.n_in, native.n_out, native.T, native.dt, native.alpha, native.loss, native.time_unit)
        assert ng.name == "neurogym:" + env_id and "\n" not in ng.description
        assert ng.period_names == native.period_names


def test_adapter_batch_is_the_envs_trials_seeded_from_the_rng():
    task = get_task("neurogym:DelayComparison-v0")
    b = task.batch(5, np.random.default_rng(42))
    env = ng_env("DelayComparison-v0", dt=100)
    env.seed(int(np.random.default_rng(42).integers(0, 2**31 - 1)))
    for i in range(5):
        _, ob, gt = ng_trial(env)
        # the adapter copies neurogym's arrays for the same seed: the same computation
        assert np.array_equal(b.inputs[:, i], ob) and np.array_equal(b.targets[:, i], gt)
    assert b.inputs.dtype == np.float64 and b.targets.dtype == np.int64
    assert np.all(b.mask == 1.0)
    assert b.info["t_decision"].tolist() == [[25, 26]] * 5
    assert np.array_equal(b.info["label"], b.info["ground_truth"])


def test_adapter_reproducible_and_seed_dependent():
    task = get_task("neurogym:PerceptualDecisionMaking-v0", dt=50)
    a, b, c = task.batch(8, 3), task.batch(8, 3), task.batch(8, 4)
    assert a.inputs.tobytes() == b.inputs.tobytes() and a.targets.tobytes() == b.targets.tobytes()
    assert not np.array_equal(a.inputs, c.inputs)
    assert task.T == 44 and task.alpha == 0.25


def test_adapter_pads_variable_length_trials():
    task = get_task("neurogym:PerceptualDecisionMakingDelayResponse-v0")
    b = task.batch(16, 1)
    L = b.info["length"]
    assert len(np.unique(L)) > 1 and b.T == L.max() == task.T
    for i in range(16):
        assert np.all(b.mask[: L[i], i] == 1.0) and np.all(b.mask[L[i]:, i] == 0.0)
        assert np.all(b.inputs[L[i]:, i] == 0.0) and np.all(b.targets[L[i]:, i] == 0)
        s, e = b.info["t_decision"][i]
        assert e == L[i] and np.all(b.targets[s:e, i] == b.info["label"][i])


def test_adapter_accuracy_perfect_and_opposite():
    task = get_task("neurogym:DelayComparison-v0")
    b = task.batch(30, 0)
    eye = 10.0 * np.eye(3)
    assert task.accuracy(eye[b.targets], b) == 1.0
    assert task.accuracy(eye[np.where(b.targets == 0, 0, 3 - b.targets)], b) == 0.0


def test_adapter_make_network_and_bad_arguments():
    task = get_task("neurogym:DelayComparison-v0", dt=100, tau=100)
    net = task.make_network(1.0, n_rec=8)
    assert (net.n_in, net.n_out, net.alpha) == (2, 3, 1.0)
    with pytest.raises(ValueError, match=r"neurogym env 'NoSuchTask-v0' is not registered; choose one of .*'DelayComparison-v0'"):
        get_task("neurogym:NoSuchTask-v0")
    with pytest.raises(ValueError, match=r"env_kwargs must not hold 'dt'"):
        get_task("neurogym:DelayComparison-v0", env_kwargs={"dt": 20})
    with pytest.raises(ValueError, match=r"not accepted by DelayComparison-v0"):
        get_task("neurogym:DelayComparison-v0", env_kwargs={"bogus": 1})
    with pytest.raises(ValueError, match=r"has no option 'seq_len'"):
        get_task("neurogym:DelayComparison-v0", seq_len=10)
    with pytest.raises(ValueError, match=r"dt=300 is out of range"):
        get_task("neurogym:DelayComparison-v0", dt=300)
