"""How the cost of one time step grows: time and memory of every rule over N and T.

``localrnn bench --scaling [--quick] [--out DIR]`` (:func:`run_scaling`) times one
step of every rule -- batched ``gradient`` with BPTT, RTRL, e-prop and RFLO (time of
one call over T), and the online learner's step (:class:`localrnn.OnlineLearner`)
with e-prop (current form), RFLO (rate form, its N x N trace) and RTRL -- and
measures memory, over a range of N (at fixed T) and of T (at fixed N).  RTRL
stops where it stays practical (N <= 64; 32 in ``--quick``) and sweeps T at N = 16.

Memory
    *Batched* (a whole trial): the peak of the bytes the driver allocates during one
    ``gradient`` call, measured with :mod:`tracemalloc` (NumPy reports its buffers to
    it) on the first call of a shape new to the driver's workspace (so that the
    reused (T, B, N) buffers are counted), after a warm-up call of another shape
    (compilation excluded).  Arrays allocated inside Numba kernels are invisible to
    tracemalloc; the analytic count :func:`batched_bytes_analytic` (the buffers the
    driver allocates, from :mod:`localrnn.engine`: three (T, B, N) arrays -- states,
    rates, adjoint -- the (T, B, O) outputs and output error, the gradients and one
    N x N temporary) is printed beside it as a cross-check.
    *Online* (held per step, and for a whole trial: the same, nothing grows with T):
    the ``nbytes`` of every array the learner holds (its attributes and its network's
    parameters), cross-checked against :meth:`OnlineLearner.memory` (floats by role).

Exponents
    ``fit_exponent``: least squares of log y on log x over the upper part of the
    range (the last half of the points, at least three), where the leading term
    dominates.  Theoretical slopes (per step, fixed B): BPTT, e-prop, RFLO time
    N^2 (B x N by N x N GEMMs); RTRL time N^4 (J M, N x N by N x P, P ~ N^2); batched
    memory N T B + N^2 (the trajectory is stored for the backward pass; the dW GEMM
    method of the local rules stores it too), RTRL memory 2 N P ~ N^3 (one trial at
    a time); online e-prop memory N^2 (the weights; its traces are O(N)), online
    RFLO N^2 (the N x N trace), online RTRL N^3 (the influence matrix).  For
    batched memory the theory line is the analytic count's slope over the same
    range (both terms matter at these sizes).  Versus T: time per step T^0, batched
    memory T^1, online memory T^0.

Outputs (written atomically): ``time.png`` and ``memory.png`` (log-log; vs N and vs
T, measured points, fitted and theoretical slopes), ``scaling.json`` (every point
and fit) and ``exponents.md`` (the table of fitted vs theoretical exponents).
"""
from __future__ import annotations

import math
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from .. import io as lio
from .._threads import step_blas_limit
from ..plotting import plot_scaling, save_figure
from ..plotting.scaling import QUANTITIES
from ..kernels.gemm import GRAD_TILE_MAX_N
from ._timing import time_call

#: (label, mode, rule, form)
SERIES = (
    ("BPTT (batched)", "batched", "bptt", "current"),
    ("RTRL (batched)", "batched", "rtrl", "current"),
    ("e-prop (batched)", "batched", "eprop", "current"),
    ("RFLO (batched)", "batched", "rflo", "current"),
    ("e-prop (online)", "online", "eprop", "current"),
    ("RFLO (online)", "online", "rflo", "rate"),
    ("RTRL (online)", "online", "rtrl", "current"),
)

#: theoretical exponents in N (time per step; online memory) and in T
THEORY_TIME_N = {"bptt": 2, "eprop": 2, "rflo": 2, "rtrl": 4}
THEORY_MEM_N_ONLINE = {"eprop": 2, "rflo": 2, "rtrl": 3}


def fit_exponent(x, y, upper: float = 0.5, min_points: int = 3) -> Dict[str, float]:
    """Exponent p and prefactor c of ``y ~ c x^p``: least squares of log y on log x
    over the upper part of the range (the last ``upper`` fraction of the points by x,
    at least ``min_points``).

    Returns ``{"slope": p, "prefactor": c, "x_from": .., "x_to": .., "n_points": ..}``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    if len(x) < 2:
        raise ValueError(f"need at least 2 points to fit an exponent, got {len(x)}")
    o = np.argsort(x)
    x, y = x[o], y[o]
    n = min(len(x), max(min_points, int(np.ceil(upper * len(x)))))
    lx, ly = np.log(x[-n:]), np.log(y[-n:])
    A = np.stack([lx, np.ones_like(lx)], axis=1)
    (p, lc), *_ = np.linalg.lstsq(A, ly, rcond=None)
    return {"slope": float(p), "prefactor": float(np.exp(lc)), "x_from": float(x[-n]),
            "x_to": float(x[-1]), "n_points": int(n)}


# ------------------------------------------------------------------ problems

def _net(N: int, form: str, seed: int = 0, I: int = 1, O: int = 2):
    from ..network import Network

    return Network.init(I, N, O, gain=1.0, alpha=0.5, form=form, seed=seed)


def _batch(T: int, B: int, I: int = 1, O: int = 2, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, I)), rng.standard_normal((T, B, O)), np.ones((T, B, O))


def batched_bytes_analytic(N: int, T: int, B: int, rule: str, I: int = 1, O: int = 2,
                           itemsize: int = 8) -> int:
    """Bytes of the buffers the batched driver allocates for one ``gradient`` call.

    BPTT, e-prop, RFLO (``method="gemm"``): the workspace of three (T, B, N) arrays
    (states and rates with one more row each, the initial one: (T + 1, B, N); the
    states buffer is allocated even when the forward keeps only two of its rows; the
    adjoint Z), the (T, B, O) outputs and output error, and the gradients (N^2 + N I +
    N + O N + O; dL/dW_in twice, as the backward kernel's (I, N) sum and its transpose).
    In float64 at even N <= ``GRAD_TILE_MAX_N`` the tiled weight gradient also sums in a
    transient N x N buffer of its own, padded by up to g = gcd(8 N, 4096) bytes to place
    it away from its operands' 4K alias (kernels/gemm.py, ``gemm_tn``).
    RTRL: the trajectory (three (T, B, N) arrays and the outputs) and two N x P
    influence matrices (one trial at a time), P = N^2 + N I + N, plus the gradients.
    """
    P = N * N + N * I + N
    grads = P + O * N + O
    if rule == "rtrl":
        return itemsize * (3 * T * B * N + 2 * T * B * O + 2 * N * P + grads)
    sums = 0
    g = math.gcd(N * itemsize, 4096)
    if itemsize == 8 and N <= GRAD_TILE_MAX_N and g >= 2 * itemsize:
        sums = N * N + g // itemsize
    return itemsize * (3 * T * B * N + 2 * B * N + 2 * T * B * O + grads + N * I + sums)


def _time(fn: Callable, repeat: int) -> float:
    """Best seconds per call after a warm-up call; calls batched to >= ~2 ms per round."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(2e-3 / once))
    if once > 0.5:                       # long calls (RTRL at the top of its range): fewer rounds
        repeat = min(repeat, 2)
    return float(time_call(fn, repeat=repeat, number=number, warmup=0))


def _peak_bytes(fn: Callable) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
    finally:
        tracemalloc.stop()
    return int(peak)


def _learner_bytes(learner) -> int:
    """nbytes of every distinct array the learner holds (attributes, network parameters)."""
    seen, total = [], 0

    def add(a):
        nonlocal total
        if isinstance(a, np.ndarray) and a.size and not any(np.shares_memory(a, b) for b in seen):
            seen.append(a)
            total += a.nbytes

    for v in vars(learner).values():
        if isinstance(v, dict):
            for u in v.values():
                add(u)
        elif isinstance(v, (list, tuple)):
            for u in v:
                add(u)
        else:
            add(v)
    for k in ("W_in", "W", "b", "W_out", "b_out"):
        add(getattr(learner.net, k))
    return total


def measure_batched(rule: str, N: int, T: int, B: int, repeat: int) -> Dict:
    from ..engine import gradient

    x, y, m = _batch(T, B)
    net = _net(N, "current")
    mem = _peak_bytes(lambda: gradient(net, x, y, m, rule=rule))  # first call of this shape
    t = _time(lambda: gradient(net, x, y, m, rule=rule), repeat) / T
    return {"N": N, "T": T, "B": B, "time_s": t, "memory_bytes": mem,
            "memory_analytic_bytes": batched_bytes_analytic(N, T, B, rule)}


def measure_online(rule: str, form: str, N: int, T: int, repeat: int) -> Dict:
    from ..online import OnlineLearner

    net = _net(N, form)
    learner = OnlineLearner(net, rule=rule, lr=1e-6)
    x, y, m = (a[0] for a in _batch(1, 1))
    with step_blas_limit():
        t = _time(lambda: learner.step(x, y, m), repeat)
    floats = sum(learner.memory().values())
    return {"N": N, "T": T, "B": 1, "time_s": t, "memory_bytes": _learner_bytes(learner),
            "memory_analytic_bytes": 8 * int(floats)}


def _warm(repeat: int) -> None:
    """Compile / load every kernel on a shape no measurement uses."""
    for _, mode, rule, form in SERIES:
        if mode == "batched":
            measure_batched(rule, 5, 3, 2, 1)
        else:
            measure_online(rule, form, 5, 1, 1)


def run_scaling(out="bench-scaling", quick: bool = False, echo: Optional[Callable] = print) -> Dict:
    """Measure, fit, draw and write (see the module docstring).  Returns the JSON document."""
    if quick:
        Ns, Ns_rtrl, T_fixed, Ts, N_fixed, B, repeat = [16, 32, 64, 128], [8, 16, 32], 20, [10, 20, 40, 80], 32, 4, 3
    else:
        Ns, Ns_rtrl, T_fixed, Ts, N_fixed, B, repeat = ([16, 32, 64, 128, 256, 512, 1024], [8, 16, 32, 64], 50,
                                                        [25, 50, 100, 200, 400, 800], 128, 8, 5)
    say = echo or (lambda *_: None)
    out = Path(out)
    t_start = time.perf_counter()
    _warm(repeat)
    series = []
    for label, mode, rule, form in SERIES:
        ns = Ns_rtrl if rule == "rtrl" else Ns
        n_fixed = 16 if rule == "rtrl" else N_fixed   # RTRL's T sweep at a size where it is cheap
        pts_N, pts_T = [], []
        for N in ns:
            pts_N.append(measure_batched(rule, N, T_fixed, B, repeat) if mode == "batched"
                         else measure_online(rule, form, N, T_fixed, repeat))
        for T in Ts:
            pts_T.append(measure_batched(rule, n_fixed, T, B, repeat) if mode == "batched"
                         else measure_online(rule, form, n_fixed, T, repeat))
        s = {"label": label, "mode": mode, "rule": rule, "form": form, "vs_N": pts_N, "vs_T": pts_T,
             "T_fixed": T_fixed, "N_fixed": n_fixed, "B": B if mode == "batched" else 1}
        s["fits"] = _fits(s)
        series.append(s)
        say(f"{label:18s} done ({time.perf_counter() - t_start:.0f} s)")
    fits = [dict(label=s["label"], **s["fits"]) for s in series]
    doc = {"quick": quick, "Ns": Ns, "Ns_rtrl": Ns_rtrl, "Ts": Ts, "series": series, "fits": fits,
           "blas_threads_note": "one BLAS thread (LOCALRNN_STEP_BLAS_THREADS)",
           "seconds": time.perf_counter() - t_start}
    out.mkdir(parents=True, exist_ok=True)
    lio.atomic_write_json(out / "scaling.json", doc)
    table = exponents_table(fits)
    lio.atomic_write_text(out / "exponents.md", table + "\n")
    _figures(series, out)
    say(table)
    say(f"wrote {out / 'time.png'}, {out / 'memory.png'}, {out / 'scaling.json'}, {out / 'exponents.md'}")
    return doc


def _fits(s: Dict) -> Dict:
    rule, mode = s["rule"], s["mode"]
    N = [p["N"] for p in s["vs_N"]]
    T = [p["T"] for p in s["vs_T"]]
    f = {
        "time_vs_N": fit_exponent(N, [p["time_s"] for p in s["vs_N"]])["slope"],
        "time_vs_N_theory": float(THEORY_TIME_N[rule]),
        "memory_vs_N": fit_exponent(N, [p["memory_bytes"] for p in s["vs_N"]])["slope"],
        "time_vs_T": fit_exponent(T, [p["time_s"] for p in s["vs_T"]])["slope"],
        "time_vs_T_theory": 0.0,
        "memory_vs_T": fit_exponent(T, [p["memory_bytes"] for p in s["vs_T"]])["slope"],
    }
    if mode == "batched":
        f["memory_vs_N_theory"] = fit_exponent(N, [p["memory_analytic_bytes"] for p in s["vs_N"]])["slope"]
        f["memory_vs_T_theory"] = fit_exponent(T, [p["memory_analytic_bytes"] for p in s["vs_T"]])["slope"]
    else:
        f["memory_vs_N_theory"] = float(THEORY_MEM_N_ONLINE[rule])
        f["memory_vs_T_theory"] = 0.0
    return f


def exponents_table(fits: List[Dict]) -> str:
    """Markdown table of fitted (theory) exponents, one row per series."""
    cols = ("time_vs_N", "memory_vs_N", "time_vs_T", "memory_vs_T")
    lines = ["| rule | time ~ N^p | memory ~ N^p | time/step ~ T^p | memory ~ T^p |",
             "|---|---|---|---|---|"]
    for f in fits:
        cells = [f"{f[c]:.2f} ({f[c + '_theory']:.2f})" for c in cols]
        lines.append(f"| {f['label']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("fitted exponent (theoretical), least squares over the upper half of each range")
    return "\n".join(lines)


def _figures(series: List[Dict], out: Path) -> None:
    """``time.png`` and ``memory.png`` (:func:`localrnn.plotting.plot_scaling`)."""
    for qty in QUANTITIES:
        save_figure(plot_scaling(series, qty), out / f"{qty}.png")
