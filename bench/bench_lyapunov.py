"""Lyapunov spectrum, N=256: k=10 vs PyTorch loops, k=256 vs the LAPACK floor (issue 4).

``pytest bench/bench_lyapunov.py --benchmark-only``; the ratios are printed at the
end of the session.  Same code as ``localrnn bench --only lyapunov``
(:mod:`localrnn.benchmarks.lyapunov`): the same problems, peers and thread counts.
"""
import numpy as np
import pytest

from localrnn._config import step_blas_limit
from localrnn.benchmarks.lyapunov import (_problem, _torch_threads, torch_spectrum,
                                          torch_spectrum_formed_j)
from localrnn.lyapunov import lyapunov_spectrum, random_q0 as _random_q0

torch = pytest.importorskip("torch")
N, T = 256, 1000
WARM = 100
STATE = {}


def _bench(benchmark, fn, rounds):
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    return benchmark.stats.stats.median / T


@pytest.fixture(scope="module")
def small():
    net, x = _problem(N, T, 1)
    return net, x, _random_q0(N, 10, 0, np.float64)


@pytest.mark.benchmark(group="lyapunov N=256 k=10 T=1000")
def test_k10_ours(benchmark, small):
    net, x, q0 = small
    STATE["k10"] = _bench(benchmark, lambda: lyapunov_spectrum(net, x, 10, warmup=WARM, q0=q0), 5)


@pytest.mark.benchmark(group="lyapunov N=256 k=10 T=1000")
@pytest.mark.parametrize("peer", [torch_spectrum_formed_j, torch_spectrum], ids=["formed_J", "lean"])
def test_k10_torch(benchmark, small, peer, record_ratio):
    net, x, q0 = small
    with _torch_threads():
        t = _bench(benchmark, lambda: peer(net, x, q0, WARM), 3)
    record_ratio(f"Lyapunov k=10 ({peer.__name__}): torch/ours = {t / STATE['k10']:.2f} (target >= 5)")


@pytest.mark.benchmark(group="lyapunov N=256 k=256 T=1000")
def test_k256_ours(benchmark):
    net, x = _problem(N, T, 1)
    STATE["k256"] = _bench(benchmark, lambda: lyapunov_spectrum(net, x, N, warmup=WARM), 3)


@pytest.mark.benchmark(group="lyapunov N=256 k=256 T=1000")
def test_k256_lapack_floor(benchmark, record_ratio):
    A = np.random.default_rng(2).standard_normal((N, N))
    with step_blas_limit():
        benchmark.pedantic(lambda: np.linalg.qr(A), rounds=50, iterations=5, warmup_rounds=2)
    qr = benchmark.stats.stats.median
    ratio = STATE["k256"] / qr
    record_ratio(f"Lyapunov k=256: ours / (T x numpy.linalg.qr) = {ratio:.2f} (target <= 1.5)")
