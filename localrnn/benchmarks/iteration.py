"""One whole training iteration on Romo: the unit of cost of every sweep.

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

**Small networks and the arithmetic floor** (:func:`arith_cases`).  The reproduction
runs Romo at N = 64 (and the study's other cells at 32-128), where a step is mostly
per-step overhead and the BLAS floor -- itself T small GEMM calls -- understates what
the hardware can do.  These rows (N = 32, 64, 128, B = 32, T = 56, every rule, float32
and float64) also give the **arithmetic floor**: the iteration's FLOPs
(:func:`romo_flops`, every GEMM-shaped product of the forward pass, the backward pass
and the weight gradients) over the **peak GEMM rate** measured in the same run, in the
same alternating rounds, on the same core: the best rate of one-thread square GEMMs of
the same dtype (:func:`localrnn.benchmarks.floors.peak_gemm_fns`, n = 256, 512, 1024).
Target: the N = 64 iteration within 2x its arithmetic floor.  Timed warm: before each
timed round our iteration runs once untimed, since the peak GEMMs between the rounds
evict its data from the caches, where a training loop, running iterations back to
back, finds them.
"""
from __future__ import annotations

from typing import Dict, List

from . import floors
from .._threads import step_blas_limit
from ._timing import case, interleaved

RULES = ("bptt", "eprop", "rflo")
#: network sizes of the arithmetic-floor rows
SMALL_N = (32, 64, 128)
#: the size whose iteration has a target against its arithmetic floor
ARITH_TARGET_N = 64


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


def romo_flops(rule: str, N: int, B: int, T: int, I: int = 1, O: int = 2) -> float:
    """FLOPs of the GEMM-shaped products of one Romo training iteration (2 per multiply-add).

    Counted, with the shapes of a batch of B trials of T steps, N units, I inputs and
    O outputs:

    * forward, every step: the recurrent input ``r_{k-1} W^T`` (B x N)(N x N), the
      input drive ``x_k W_in^T`` (B x I)(I x N), the readout ``r_k W_out^T`` (B x N)(N x O);
    * backward, every step: the learning signal ``delta_k F^T`` (B x O)(O x N); BPTT
      also the adjoint's ``a_{k+1} W`` (B x N)(N x N) at the T - 1 steps that have a
      successor (e-prop and RFLO drop it: that is their truncation);
    * the weight gradients over the T*B rows: dL/dW (N x TB)(TB x N), dL/dW_in
      (N x TB)(TB x I), dL/dW_out (O x TB)(TB x N).

    Not counted: element-wise work (tanh, phi', the leak, the loss), the sums dL/db
    and dL/db_out, drawing the batch, Adam.  For N = 64, B = 32, T = 56, I = 1, O = 2:
    31.2 MFLOP for e-prop and RFLO, 45.6 MFLOP for BPTT.
    """
    per_row = 2.0 * N * (N + I + O)          # forward: recurrent, drive, readout
    per_row += 2.0 * N * O                   # learning signal
    per_row += 2.0 * N * (N + I + O)         # weight gradients dW, dW_in, dW_out
    flops = T * B * per_row
    if rule == "bptt":
        flops += (T - 1) * B * 2.0 * N * N   # the adjoint's recurrent product
    return flops


def arith_cases(quick: bool = False, sizes=None, rounds=None, peak_sizes=floors.PEAK_SIZES) -> List[Dict]:
    """Romo iterations at small N against both floors: the BLAS floor (as
    :func:`iteration_case`) and the arithmetic floor (module docstring), B = 32,
    T = 56, every rule, float32 and float64.  Per dtype and N, our three iterations, the
    two BLAS floors and the peak GEMMs run in one set of alternating rounds (best
    round of each).  ``sizes`` default :data:`SMALL_N` (``quick``: N = 64 only);
    ``rounds`` default 9 (``quick``: 3)."""
    if sizes is None:
        sizes = (ARITH_TARGET_N,) if quick else SMALL_N
    if rounds is None:
        rounds = 3 if quick else 9
    rows = []
    for dtype in ("float32", "float64"):
        for N in sizes:
            trs = [romo_trainer(rule, dtype, N) for rule in RULES]
            c = trs[0].config
            B, T = c.batch, trs[0].task.T
            I, O = trs[0].task.n_in, trs[0].task.n_out
            its = [iter(range(10 ** 9)) for _ in trs]
            ours = [lambda tr=tr, it=it: tr.step(next(it)) for tr, it in zip(trs, its)]
            blas = [floors.gradient_trial_fn(N, B, T, dtype, exact=True),
                    floors.gradient_trial_fn(N, B, T, dtype, exact=False)]
            peaks = floors.peak_gemm_fns(dtype, peak_sizes)
            fns = ours + blas + [p for p, _ in peaks]
            with step_blas_limit():
                t = interleaved(fns, rounds, warmup=2, rewarm=[True] * 3 + [False] * (len(fns) - 3))
            peak = max(fl / tt for (_, fl), tt in zip(peaks, t[5:]))
            for rule, t_ours in zip(RULES, t[:3]):
                flops = romo_flops(rule, N, B, T, I, O)
                exact = rule == "bptt"
                what = ("T x (2 step GEMMs + dW GEMM / T)" if exact else "T x (1 step GEMM + dW GEMM / T)")
                target = "<= 2x arith floor" if N == ARITH_TARGET_N else "(reported)"
                rows.append(case(f"Romo iteration, {rule} (N={N} B={B} T={T} {dtype}, Adam)", t_ours,
                                 t[3] if exact else t[4], what, None, "none", target, per="iteration",
                                 arith=flops / peak,
                                 arith_name=f"{flops / 1e6:.1f} MFLOP at {peak / 1e9:.1f} GFLOP/s "
                                            f"(peak one-thread {dtype} GEMM)"))
    return rows


def bench_cases(quick: bool = False) -> List[Dict]:
    """One row per rule and dtype at the Romo defaults (``quick``: N = 64, B = 16, 3
    repeats), then the small-N rows with their arithmetic floor (:func:`arith_cases`)."""
    kw = dict(repeat=3, n_rec=64, batch=16) if quick else dict(repeat=7)
    rows = [iteration_case(rule, dtype, **kw) for dtype in ("float32", "float64") for rule in RULES]
    return rows + arith_cases(quick)
