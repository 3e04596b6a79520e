"""Timing helpers and the row format of every benchmark case.

Timing: warm-up first (compile time excluded), then the best (minimum) of repeats --
on a shared machine a round that was preempted is slow for reasons that are not the
code's, and the best round is what the code costs; ``best=False`` gives the median.
Every row carries three times -- ours, the floor (the BLAS/LAPACK work the case
cannot avoid, timed with NumPy in the same run under the same BLAS thread limit,
see :mod:`localrnn.benchmarks.floors`) and the peer (PyTorch) -- and two ratios:
``ours_over_floor`` (lower is better, 1 is the hardware's BLAS) and
``peer_over_ours`` (speed-up against the peer, higher is better) -- and
``peer_over_floor``, the largest speed-up any implementation doing the floor's work
could show against this peer on this machine: a peer target above it cannot be met.
Rows with an **arithmetic floor** (the case's FLOPs over the peak GEMM rate measured in
the same rounds, :mod:`localrnn.benchmarks.iteration`) also carry ``arith_s`` and
``ours_over_arith``.
"""
from __future__ import annotations

import time
from statistics import median


def time_call(fn, repeat: int = 7, number: int = 1, warmup: int = 1, best: bool = True) -> float:
    """Best (or median) seconds per call of ``fn()`` over ``repeat`` rounds of ``number`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return min(times) if best else median(times)


class torch_threads:
    """Run the PyTorch peer with ``n`` intra-op threads (restored afterwards).

    Our kernels run BLAS with ``LOCALRNN_STEP_BLAS_THREADS`` threads (default 1), so
    the peer gets the same count: ratios compare algorithms, not thread counts.
    """

    def __init__(self, n=None):
        from .._threads import step_blas_threads

        self.n = n if n is not None else max(step_blas_threads(), 1)

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)
        return False


def torch_or_none():
    try:
        import torch  # noqa: F401

        return torch
    except ImportError:
        return None


def case(name, ours, floor, floor_name, peer, peer_name, target, per="step", arith=None,
         arith_name=None):
    """A result row (times in seconds per ``per``: "step" or "iteration").

    ``ours_over_floor = ours / floor``, ``peer_over_ours = peer / ours`` and
    ``peer_over_floor = peer / floor`` (the bound of peer/ours); ``None`` where the
    floor or the peer was not timed (e.g. PyTorch not installed).  ``arith``: the
    arithmetic floor in seconds (FLOPs over the measured peak GEMM rate; ``arith_name``
    says what was counted), giving ``ours_over_arith``; ``None`` for rows without one.
    """
    return {"name": name, "per": per,
            "ours_s": ours, "floor_s": floor, "floor": floor_name,
            "peer_s": peer, "peer": peer_name,
            "ours_over_floor": None if floor is None else ours / floor,
            "peer_over_ours": None if peer is None else peer / ours,
            "peer_over_floor": None if peer is None or floor is None else peer / floor,
            "arith_s": arith, "arith": arith_name,
            "ours_over_arith": None if arith is None else ours / arith,
            "target": target}


def interleaved(fns, rounds: int, number: int = 1, warmup: int = 1, rewarm=None):
    """Best seconds per call of each ``fn()``, rounds of ``number`` calls alternating between them.

    Every function is called ``warmup`` times first (compile, caches).  Alternating the
    rounds puts ours, the floor and the peer under the same load on a shared machine:
    a preempted round is slow on one side only, and the best round of each side is kept.
    ``rewarm`` (one bool per function): call that function once, untimed, right before
    each of its rounds -- for a case timed beside a large GEMM that evicts its data from
    the caches, which the case, run back to back as in training, would find there.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    best = [float("inf")] * len(fns)
    rewarm = [False] * len(fns) if rewarm is None else list(rewarm)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            if rewarm[i]:
                fn()
            t = time.perf_counter()
            for _ in range(number):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t) / number)
    return best
