"""BPTT and e-prop/RFLO batched gradients, N=256, B=32, T=56, float32: ours, the floor, PyTorch.

The floor (:mod:`localrnn.benchmarks.floors`, NumPy under one BLAS thread):
BPTT two step GEMMs (B x N)(N x N) per step + the dW GEMM over T*B rows / T;
e-prop/RFLO one step GEMM + the dW GEMM / T (why: :mod:`localrnn.benchmarks.engine`).
"""
import pytest

from localrnn.benchmarks import floors
from localrnn.benchmarks._timing import torch_threads
from localrnn.benchmarks.engine import problem as make_problem, torch_gradient
from localrnn.engine import gradient

torch = pytest.importorskip("torch")
N, B, T = 256, 32, 56
STATE = {}


@pytest.fixture(scope="module")
def problem():
    return make_problem(N, B, T, "float32")


def _bench(benchmark, fn):
    benchmark.pedantic(fn, rounds=7, iterations=1, warmup_rounds=1)
    return benchmark.stats.stats.min / T


@pytest.mark.benchmark(group="bptt N=256 B=32 T=56 f32")
def test_bptt_ours(benchmark, problem, record_ratio):
    net, x, y, m = problem
    STATE["bptt"] = _bench(benchmark, lambda: gradient(net, x, y, m, rule="bptt"))
    f = floors.bptt_step(N, B, T, "float32")
    record_ratio(f"BPTT: ours/floor = {STATE['bptt'] / f:.2f} (floor {f * 1e6:.1f} us/step; target <= 1.25)")


@pytest.mark.benchmark(group="bptt N=256 B=32 T=56 f32")
def test_bptt_torch(benchmark, problem, record_ratio):
    net, x, y, m = problem
    with torch_threads():
        t = _bench(benchmark, lambda: torch_gradient(net, x, y, m, False))
    record_ratio(f"BPTT: torch/ours = {t / STATE['bptt']:.2f} (target >= 2.5)")


@pytest.mark.benchmark(group="eprop N=256 B=32 T=56 f32")
def test_eprop_ours(benchmark, problem, record_ratio):
    net, x, y, m = problem
    STATE["eprop"] = _bench(benchmark, lambda: gradient(net, x, y, m, rule="eprop"))
    f = floors.local_step(N, B, T, "float32")
    record_ratio(f"e-prop: ours/floor = {STATE['eprop'] / f:.2f} (floor {f * 1e6:.1f} us/step; target <= 1.3)")


@pytest.mark.benchmark(group="eprop N=256 B=32 T=56 f32")
def test_eprop_torch(benchmark, problem, record_ratio):
    net, x, y, m = problem
    with torch_threads():
        t = _bench(benchmark, lambda: torch_gradient(net, x, y, m, True))
    record_ratio(f"e-prop: torch(detach)/ours = {t / STATE['eprop']:.2f} (target >= 2.5)")
