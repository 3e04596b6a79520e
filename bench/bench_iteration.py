"""One Romo training iteration (Adam) per rule and dtype: at N=256 against its BLAS floor,
at N = 32, 64, 128 against its arithmetic floor.

Same cases as ``localrnn bench --only iteration`` (:mod:`localrnn.benchmarks.iteration`,
where the floors and the absence of RTRL are explained).
"""
import pytest

from localrnn.benchmarks import floors
from localrnn.benchmarks.iteration import ARITH_TARGET_N, RULES, SMALL_N, romo_flops, romo_trainer


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", RULES)
def test_romo_iteration(benchmark, record_ratio, rule, dtype):
    tr = romo_trainer(rule, dtype)
    N, B, T = tr.config.n_rec, tr.config.batch, tr.task.T
    it = iter(range(10 ** 9))
    benchmark.group = f"Romo iteration N={N} B={B} T={T} {dtype}"
    benchmark.pedantic(lambda: tr.step(next(it)), rounds=7, iterations=1, warmup_rounds=2)
    per_step = floors.bptt_step if rule == "bptt" else floors.local_step
    f = T * per_step(N, B, T, dtype)
    record_ratio(f"Romo iteration {rule} {dtype}: ours/floor = {benchmark.stats.stats.min / f:.2f} "
                 f"(floor {f * 1e3:.2f} ms; target <= 1.3)")


_PEAK = {}


def _peak(dtype):
    """Peak one-thread GEMM rate of ``dtype`` (FLOP/s), best of floors.PEAK_SIZES, once per session."""
    from localrnn._config import step_blas_limit
    from localrnn.benchmarks._timing import time_call

    if dtype not in _PEAK:
        with step_blas_limit():
            _PEAK[dtype] = max(fl / time_call(fn, repeat=5, warmup=2) for fn, fl in floors.peak_gemm_fns(dtype))
    return _PEAK[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("N", SMALL_N)
def test_romo_iteration_small_n(benchmark, record_ratio, N, rule, dtype):
    """Small-N rows of ``localrnn bench``: ours against the arithmetic floor (FLOPs of
    iteration.romo_flops over the peak GEMM rate; here the peak is timed once per
    session, not in alternating rounds: read ``localrnn bench`` for the ratio of record)."""
    tr = romo_trainer(rule, dtype, n_rec=N)
    B, T = tr.config.batch, tr.task.T
    it = iter(range(10 ** 9))
    benchmark.group = f"Romo iteration N={N} B={B} T={T} {dtype}"
    benchmark.pedantic(lambda: tr.step(next(it)), rounds=15, iterations=1, warmup_rounds=3)
    arith = romo_flops(rule, N, B, T) / _peak(dtype)
    record_ratio(f"Romo iteration {rule} N={N} {dtype}: ours/arith = {benchmark.stats.stats.min / arith:.2f} "
                 f"(arith floor {arith * 1e3:.3f} ms" + ("; target <= 2)" if N == ARITH_TARGET_N else ")"))
