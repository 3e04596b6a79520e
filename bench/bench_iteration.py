"""One Romo training iteration (N=256, B=32, T=56, Adam) per rule and dtype, against its floor.

Same cases as ``localrnn bench --only iteration`` (:mod:`localrnn.benchmarks.iteration`,
where the floor and the absence of RTRL are explained).
"""
import pytest

from localrnn.benchmarks import floors
from localrnn.benchmarks.iteration import RULES, romo_trainer


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
