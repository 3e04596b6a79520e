"""One whole training iteration on the Romo defaults: the unit of cost of every sweep.

``localrnn.Trainer(TrainConfig(task="romo", rule=...)).step(i)`` with the task's
defaults (N = 256, B = 32, T = 56, Adam, trainable W_in, W, W_out): the batch is
drawn, the trajectory run, the loss and gradient computed, the gradient checked
for finiteness and the Adam step taken -- everything a sweep pays per iteration.
Timed in float32 and float64 for bptt, eprop and rflo (ours and the floor in
alternating rounds, best round of each, after warm-up; compile time excluded).

**RTRL is not timed** at these sizes: P = N^2 + N I + N = 66,048 parameters per
neuron's sensitivity, the influence matrix is N x P per trial (16.9 M floats; 4.3
GB in float64 for B = 32) and its propagation ``J_t M_{t-1}`` costs 2 N^2 P =
8.7 GFLOP per trial and step, i.e. about 15.6 TFLOP per iteration (hours on this
machine).  RTRL's cost is measured where it is practical in
:mod:`localrnn.benchmarks.scaling` and the online RTRL row.

Floor, per iteration: T times the per-step floor of the rule's gradient
(:func:`localrnn.benchmarks.floors.bptt_step` for BPTT: two step GEMMs + the dW
GEMM over T*B rows / T; :func:`~localrnn.benchmarks.floors.local_step` for
e-prop/RFLO: one step GEMM + the dW GEMM / T).  The sum of the unavoidable GEMMs
of the iteration; drawing the batch, the loss, the readout (O = 2) and the Adam
update (element-wise over the 2 N^2-ish parameters) come on top of it, so the
ratio also shows what the iteration adds around the gradient.  No PyTorch peer
is timed for the whole iteration (its gradient is the peer in the per-step rows).
"""
from __future__ import annotations

from typing import Dict, List

from . import floors
from .._threads import step_blas_limit
from ._timing import case, interleaved

RULES = ("bptt", "eprop", "rflo")


def romo_trainer(rule: str, dtype: str, n_rec=None, batch=None):
    """A :class:`localrnn.Trainer` on the Romo task's defaults (nothing written to disk)."""
    from ..tasks import get_task
    from ..training import TrainConfig, Trainer

    gain = get_task("romo").defaults.get("gain", 1.0)
    return Trainer(TrainConfig(task="romo", rule=rule, gain=gain, dtype=dtype, n_rec=n_rec,
                               batch=batch, eval_batch=1))


def iteration_case(rule: str, dtype: str, repeat: int = 7, n_rec=None, batch=None) -> Dict:
    """Our iteration and its floor, timed in alternating rounds (best round of each)."""
    tr = romo_trainer(rule, dtype, n_rec, batch)
    c = tr.config
    N, B, T = c.n_rec, c.batch, tr.task.T
    it = iter(range(10 ** 9))
    floor_fn = floors.gradient_trial_fn(N, B, T, dtype, exact=rule == "bptt")
    with step_blas_limit():
        ours, floor = interleaved([lambda: tr.step(next(it)), floor_fn], repeat, warmup=2)
    what = "T x (2 step GEMMs + dW GEMM / T)" if rule == "bptt" else "T x (1 step GEMM + dW GEMM / T)"
    return case(f"Romo iteration, {rule} (N={N} B={B} T={T} {dtype}, Adam)", ours, floor, what,
                None, "none", "<= 1.3x floor", per="iteration")


def bench_cases(quick: bool = False) -> List[Dict]:
    """One row per rule and dtype (``quick``: N = 64, B = 16, 3 repeats)."""
    kw = dict(repeat=3, n_rec=64, batch=16) if quick else dict(repeat=7)
    return [iteration_case(rule, dtype, **kw) for dtype in ("float32", "float64") for rule in RULES]
