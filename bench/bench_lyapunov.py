"""Lyapunov spectrum, N=256: k=10 vs PyTorch loops and its floor, k=256 vs its floor (issue 4).

Floors per step (:func:`localrnn.benchmarks.lyapunov.floor_step`): W @ Q + W @ h + QR of N x k.

``pytest bench/bench_lyapunov.py --benchmark-only``; the ratios are printed at the
end of the session.  Same code as ``localrnn bench --only lyapunov``
(:mod:`localrnn.benchmarks.lyapunov`): the same problems, peers and thread counts.
"""
import numpy as np
import pytest

from localrnn.benchmarks.lyapunov import (problem, _torch_threads, floor_step, torch_spectrum,
                                          torch_spectrum_formed_j)
from localrnn import lyapunov_spectrum
from localrnn.lyapunov import random_q0

torch = pytest.importorskip("torch")
N, T = 256, 1000
WARM = 100
STATE = {}


def _bench(benchmark, fn, rounds):
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    return benchmark.stats.stats.min / T


@pytest.fixture(scope="module")
def small():
    net, x = problem(N, T, 1)
    return net, x, random_q0(N, 10, 0, np.float64)


@pytest.mark.benchmark(group="lyapunov N=256 k=10 T=1000")
def test_k10_ours(benchmark, small, record_ratio):
    net, x, q0 = small
    STATE["k10"] = _bench(benchmark, lambda: lyapunov_spectrum(net, x, 10, warmup=WARM, q0=q0), 5)
    f = floor_step(N, 10, 1)
    record_ratio(f"Lyapunov k=10: ours/floor = {STATE['k10'] / f:.2f} (floor {f * 1e6:.1f} us/step; "
                 "target <= 1.3)")


@pytest.mark.benchmark(group="lyapunov N=256 k=10 T=1000")
@pytest.mark.parametrize("peer", [torch_spectrum_formed_j, torch_spectrum], ids=["formed_J", "lean"])
def test_k10_torch(benchmark, small, peer, record_ratio):
    net, x, q0 = small
    with _torch_threads():
        t = _bench(benchmark, lambda: peer(net, x, q0, WARM), 3)
    record_ratio(f"Lyapunov k=10 ({peer.__name__}): torch/ours = {t / STATE['k10']:.2f} (target >= 5)")


@pytest.mark.benchmark(group="lyapunov N=256 k=256 T=1000")
def test_k256_ours(benchmark, record_ratio):
    net, x = problem(N, T, 1)
    STATE["k256"] = _bench(benchmark, lambda: lyapunov_spectrum(net, x, N, warmup=WARM), 3)
    f = floor_step(N, N, 1)
    record_ratio(f"Lyapunov k=256: ours/floor = {STATE['k256'] / f:.2f} (floor {f * 1e3:.2f} ms/step: "
                 "W @ Q + W @ h + qr(N x N); target <= 1.5)")
