"""Online learning per step: e-prop / RFLO vs a PyTorch per-step loop (N=128, B=1, f64),
RTRL vs its FLOP floor J @ M (N=32); the e-prop/RFLO floors (a GEMV of W and one
or two N x N rank-1 passes, :func:`localrnn.benchmarks.floors.online_step_fn`) too.  The same cases as ``localrnn.benchmarks.online``
(which ``localrnn bench`` prints), here as pytest-benchmark groups; ratios are printed
at the end of the session.  Compile time is excluded (``warmup_rounds``).
"""
import numpy as np
import pytest

from localrnn._threads import step_blas_limit
from localrnn.benchmarks import floors
from localrnn.benchmarks.online import TorchOnlineStep, online_problem
from localrnn.network import feedback_matrix
from localrnn.online import OnlineLearner

STEPS = 200  # steps per round
STATE = {}


def _bench(benchmark, fn):
    def rounds():
        for _ in range(STEPS):
            fn()
    benchmark.pedantic(rounds, rounds=15, iterations=1, warmup_rounds=2)
    return benchmark.stats.stats.min / STEPS


CASES = [("current", "eprop"), ("rate", "rflo")]


@pytest.mark.parametrize("form,rule", CASES)
def test_online_step_ours(benchmark, form, rule):
    net, x, y, m = online_problem(form)
    learner = OnlineLearner(net, rule=rule, lr=1e-3)
    benchmark.group = f"online {rule} step, {form} form, N=128 B=1 f64"
    with step_blas_limit():
        STATE[rule] = _bench(benchmark, lambda: learner.step(x, y, m))


@pytest.mark.parametrize("form,rule", CASES)
def test_online_step_floor(benchmark, record_ratio, form, rule):
    fn = floors.online_step_fn(128, 2 if form == "rate" else 1, "float64")
    benchmark.group = f"online {rule} step, {form} form, N=128 B=1 f64"
    with step_blas_limit():
        t = _bench(benchmark, fn)
    if rule in STATE:
        record_ratio(f"online {rule} step ({form} form, N=128): ours/floor = {STATE[rule] / t:.2f} "
                     f"(floor {t * 1e6:.1f} us; target <= 1.5)")


@pytest.mark.parametrize("form,rule", CASES)
def test_online_step_torch(benchmark, record_ratio, form, rule):
    torch = pytest.importorskip("torch")
    net, x, y, m = online_problem(form)
    F = None if rule == "eprop" else feedback_matrix(net, "random", rule, 0)
    peer = TorchOnlineStep(net, F, 1e-3)
    tx, ty, tm = (torch.from_numpy(a) for a in (x, y, m))
    benchmark.group = f"online {rule} step, {form} form, N=128 B=1 f64"
    t = _bench(benchmark, lambda: peer.step(tx, ty, tm))
    if rule in STATE:
        record_ratio(f"online {rule} step ({form} form, N=128): torch/ours = "
                     f"{t / STATE[rule]:.1f} (target >= 10)")


def test_rtrl_step_ours(benchmark):
    net, x, y, m = online_problem("current", N=32)
    learner = OnlineLearner(net, rule="rtrl", lr=1e-3)
    benchmark.group = "rtrl step vs J @ M, N=32 P=1120 f64"
    with step_blas_limit():
        STATE["rtrl"] = _bench(benchmark, lambda: learner.step(x, y, m))


def test_rtrl_floor_JM(benchmark, record_ratio):
    N, P = 32, 32 * 32 + 32 * 2 + 32
    rng = np.random.default_rng(0)
    J, M, out = rng.standard_normal((N, N)), rng.standard_normal((N, P)), np.empty((N, P))
    benchmark.group = "rtrl step vs J @ M, N=32 P=1120 f64"
    with step_blas_limit():
        t = _bench(benchmark, lambda: np.dot(J, M, out=out))
    if "rtrl" in STATE:
        record_ratio(f"online rtrl step (N=32): ours/(J @ M) = {STATE['rtrl'] / t:.2f} (target <= 3)")
