"""Multi-core throughput: a small grid of Romo training runs with 1 and with 2 worker processes.

``localrnn bench --throughput [--quick]`` (:func:`run_throughput`).  Each worker is a
``multiprocessing`` *spawn* process started with ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` = 1 (one core
each, as a sweep worker runs); it builds a :class:`localrnn.Trainer` per grid point
(``TrainConfig(task="romo", rule=..., seed=...)``, the task's defaults) and takes
``iters`` training iterations (``Trainer.step``).  Workers first warm up (kernels
loaded from Numba's cache, one iteration) and wait at a common start signal, so the
timed interval holds only training iterations; they then pull grid points from a
shared queue until it is empty.  Throughput = iterations done / wall time; the
ratio 2 workers : 1 worker is the multi-core speed-up (ideal 2 on two idle cores).

The machine's load (``os.getloadavg``) is recorded before and after each
measurement: on a shared machine other processes take cores from the workers and
the ratio falls; quote it with its load.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Callable, Dict, List, Optional

from .._threads import worker_env


def _worker(jobs, results, ready, start, iters, n_rec, batch):
    from localrnn.training import TrainConfig, Trainer

    def trainer(rule, seed, dtype):
        return Trainer(TrainConfig(task="romo", rule=rule, seed=seed, dtype=dtype, gain=1.0,
                                   n_rec=n_rec, batch=batch, eval_batch=1))

    for rule in ("bptt", "eprop", "rflo"):            # warm-up: load every kernel
        for dtype in ("float32", "float64"):
            trainer(rule, 10 ** 6, dtype).step(0)
    ready.put(os.getpid())
    start.wait()
    done, busy = 0, 0.0
    while True:
        try:
            job = jobs.get(timeout=0.05)
        except Exception:
            break
        t = time.perf_counter()
        tr = trainer(*job)
        for i in range(iters):
            tr.step(i)
        busy += time.perf_counter() - t
        done += iters
    results.put((os.getpid(), done, busy))


def grid(quick: bool) -> List[tuple]:
    """(rule, seed, dtype) grid points: every rule, two seeds (one in ``quick``), float64."""
    seeds = (0,) if quick else (0, 1)
    pts = [(rule, seed, "float64") for seed in seeds for rule in ("bptt", "eprop", "rflo")]
    return pts + [(rule, 7, "float32") for rule in (("eprop",) if quick else ("bptt", "eprop", "rflo"))]


def measure(workers: int, quick: bool = False) -> Dict:
    """Iterations per second of the grid with ``workers`` spawn processes."""
    iters, n_rec, batch = (6, 64, 16) if quick else (20, None, None)
    ctx = mp.get_context("spawn")
    jobs, results, ready, start = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    pts = grid(quick)
    for p in pts:
        jobs.put(p)
    with worker_env():  # single-threaded BLAS/Numba in the children, as sweep workers are
        procs = [ctx.Process(target=_worker, args=(jobs, results, ready, start, iters, n_rec, batch))
                 for _ in range(workers)]
        for p in procs:
            p.start()
    for _ in procs:
        ready.get(timeout=600)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    start.set()
    res = [results.get(timeout=3600) for _ in procs]
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    for p in procs:
        p.join()
    done = sum(r[1] for r in res)
    if done != iters * len(pts):
        raise RuntimeError(f"workers did {done} iterations, the grid has {iters * len(pts)}")
    return {"workers": workers, "iterations": done, "wall_s": wall, "iters_per_s": done / wall,
            "busy_s": [r[2] for r in res], "load_before": load0, "load_after": load1,
            "grid": [list(p) for p in pts], "iters_per_point": iters}


def run_throughput(quick: bool = False, echo: Optional[Callable] = print, repeat: Optional[int] = None) -> Dict:
    """1-worker and 2-worker throughput and their ratio (``repeat`` alternating pairs, default
    1 with ``quick`` and 3 otherwise; the best of each is kept, the least disturbed by other
    processes)."""
    repeat = repeat or (1 if quick else 3)
    say = echo or (lambda *_: None)
    one, two = [], []
    for _ in range(repeat):
        one.append(measure(1, quick))
        two.append(measure(2, quick))
        say(f"1 worker {one[-1]['iters_per_s']:.1f} it/s (load {one[-1]['load_before'][0]:.2f}), "
            f"2 workers {two[-1]['iters_per_s']:.1f} it/s (load {two[-1]['load_before'][0]:.2f})")
    b1 = max(one, key=lambda r: r["iters_per_s"])
    b2 = max(two, key=lambda r: r["iters_per_s"])
    ratio = b2["iters_per_s"] / b1["iters_per_s"]
    say(f"throughput ratio 2 workers / 1 worker = {ratio:.2f} (target >= 1.8; cores: {os.cpu_count()})")
    return {"one_worker": one, "two_workers": two, "ratio": ratio, "cpu_count": os.cpu_count()}
