"""Lyapunov-spectrum benchmarks: ours against PyTorch loops and against LAPACK.

Cases of issue 4, each timed in the same process with compile time excluded
(:func:`localrnn.benchmarks._timing.interleaved`: one warm-up call each, then alternating
rounds of ours, the floor and the peers, best round of each):

* ``N = 256, k = 10, T = 1000``, one trial (and, in the full run, 8 trials as
  ``localrnn lyapunov`` uses): :func:`localrnn.lyapunov_spectrum`
  against two PyTorch loops of the same algorithm (trajectory and tangent vectors
  advanced together, all trials batched, ``torch.linalg.qr``, signs fixed, no
  autograd): :func:`torch_spectrum_formed_j`, which forms J_t as MODEL.md section
  6 writes it and as Vogt et al. (2022)'s ``calc_LEs_an`` does, and
  :func:`torch_spectrum`, a leaner loop that applies J_t to Q without forming it.
  Target: 5x faster.  Both loops spend most of a step in the N x N by N x k
  product (so does ours: one BLAS GEMM for all trials, then LAPACK per trial); what
  we save is PyTorch's per-operation overhead and, against the first loop, forming
  J_t.
* ``N = 256, k = 256, T = 1000``: the full spectrum against its floor (below: an
  N x N GEMM and the LAPACK QR of an N x N matrix per step).  Target: within 1.5x.

Floors (:mod:`localrnn.benchmarks.floors`, per step): for B trials of k
tangent vectors, ``W @ Q`` ((N x N) by (N x k*B), the Jacobian applied to the
tangent vectors; J_t Q = (1 - a) Q + a W (phi' * Q), and any method needs the
N^2 k multiply-adds of W with Q), the state update ``W @ h`` ((B x N) by (N x N);
the trajectory must advance) and B QR factorisations of N x k (the
re-orthonormalisation the spectrum is defined by; Benettin/Shimada-Nagashima,
MODEL.md section 6).  For the full spectrum k = N.  Element-wise work (phi',
the leak, log|diag R|) is left out.

Ours and the floor are timed over the same number of steps per call (T), in
alternating rounds with the peers (5 rounds with 8 trials, where a round of the
J-forming peer takes ~3 s): the 8-trial row once timed the floor on 200-step calls
against ours on 1000-step calls in 3 rounds, and measured 1.5-1.8 in some runs of
``localrnn bench`` against 1.1 alone (docs/performance.md).

Every timing uses the same number of threads: ``LOCALRNN_STEP_BLAS_THREADS``
(default 1; see :mod:`localrnn._threads`) limits our kernels' BLAS, NumPy's BLAS
during the floor, and ``torch.set_num_threads`` during the peers.

``python -m localrnn.benchmarks.lyapunov [--quick]`` prints the table.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Dict, List

import numpy as np

from .._threads import step_blas_limit, step_blas_threads
from ..lyapunov import lyapunov_spectrum, random_q0
from ..network import Network
from . import floors
from ._timing import case, interleaved, torch_or_none


def problem(N: int, T: int, B: int, seed: int = 0):
    net = Network.init(1, N, 1, gain=1.5, alpha=0.5, seed=seed)
    x = np.random.default_rng(seed + 1).standard_normal((T, B, 1))
    return net, x


def torch_spectrum(net: Network, inputs: np.ndarray, q0: np.ndarray, warmup: int) -> np.ndarray:
    """Lean PyTorch peer: (B, k) exponents per trial, QR-column order (current form, tanh).

    J_t is applied to Q without being formed: ``(1 - a) Q + a W (phi' * Q)``.
    """
    import torch

    with torch.no_grad():
        W = torch.from_numpy(net.W)
        W_in = torch.from_numpy(net.W_in)
        b = torch.from_numpy(net.b)
        x = torch.from_numpy(np.ascontiguousarray(inputs))
        T, B, _ = x.shape
        a = net.alpha
        h = torch.zeros(B, net.n_rec, dtype=torch.float64)
        Q = torch.from_numpy(q0).expand(B, -1, -1).clone()
        acc = torch.zeros(B, q0.shape[1], dtype=torch.float64)
        for t in range(T):
            r = torch.tanh(h)
            d = 1.0 - r * r                                   # phi'(h_{t-1})
            h = (1 - a) * h + a * (r @ W.T + x[t] @ W_in.T + b)
            A = (1 - a) * Q + a * torch.matmul(W, d[:, :, None] * Q)
            Q, R = torch.linalg.qr(A)
            diag = torch.diagonal(R, dim1=-2, dim2=-1)
            Q = Q * torch.sign(diag)[:, None, :]
            if t >= warmup:
                acc += torch.log(torch.abs(diag))
        return (acc / (T - warmup)).numpy()


def torch_spectrum_formed_j(net: Network, inputs: np.ndarray, q0: np.ndarray, warmup: int) -> np.ndarray:
    """PyTorch peer as the literature writes it: J_t formed, then ``qr(J_t Q)``.

    ``J_t = (1 - a) I + a W diag(phi'(h_{t-1}))`` for every trial (B, N, N), the
    batched product with Q, ``torch.linalg.qr``, the signs of diag(R) moved into Q
    with a diagonal matrix (the structure of Vogt et al. 2022's ``calc_LEs_an``).
    """
    import torch

    with torch.no_grad():
        W = torch.from_numpy(net.W)
        W_in = torch.from_numpy(net.W_in)
        b = torch.from_numpy(net.b)
        x = torch.from_numpy(np.ascontiguousarray(inputs))
        T, B, _ = x.shape
        a = net.alpha
        eye = torch.eye(net.n_rec, dtype=torch.float64)
        h = torch.zeros(B, net.n_rec, dtype=torch.float64)
        Q = torch.from_numpy(q0).expand(B, -1, -1).clone()
        acc = torch.zeros(B, q0.shape[1], dtype=torch.float64)
        for t in range(T):
            r = torch.tanh(h)
            d = 1.0 - r * r
            h = (1 - a) * h + a * (r @ W.T + x[t] @ W_in.T + b)
            J = (1 - a) * eye + a * W[None] * d[:, None, :]
            q, R = torch.linalg.qr(torch.matmul(J, Q))
            s = torch.diag_embed(torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)))
            Q = q @ s
            if t >= warmup:
                acc += torch.log(torch.diagonal(s @ R, dim1=-2, dim2=-1))
        return (acc / (T - warmup)).numpy()


class _torch_threads:
    """``torch.set_num_threads(n)`` for the duration (n = the step BLAS threads)."""

    def __init__(self):
        self.n = step_blas_threads()

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        if self.n > 0:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def floor_step(N: int, k: int, B: int) -> float:
    """Seconds per step of the unavoidable work (float64): W @ Q, W @ h, B QRs of N x k."""
    wh = floors.gemv(N, N) if B == 1 else floors.gemm(B, N, N, "float64")
    return floors.gemm(N, N, k * B, "float64") + wh + B * floors.qr(N, k)


def cases_vs_torch(N: int = 256, k: int = 10, T: int = 1000, B: int = 1, repeat: int = 5) -> List[Dict]:
    """Our spectrum against both PyTorch loops (which must agree with it to 1e-8), with its
    floor; ours, the floor and the peers timed in alternating rounds (best round of each)."""
    net, x = problem(N, T, B)
    warm = min(T // 10, 100)
    q0 = random_q0(N, k, 0, np.float64)
    # the floor runs as many steps per call as ours (T): equal timing windows, so one
    # slow phase of a shared machine cannot fall on ours' longer calls only
    steps = T
    fns = [lambda: lyapunov_spectrum(net, x, k, warmup=warm, q0=q0), floors.lyapunov_steps_fn(N, k, B, steps)]
    fname = f"W@Q (NxN)(Nx{k * B}) + W@h + {B} qr(Nx{k})"
    size = f"N={N} k={k} T={T} B={B}"
    target = "<= 1.3x floor, >= 5x peer"
    peers = [(torch_spectrum_formed_j, "torch loop, J_t formed (Vogt et al. 2022)"),
             (torch_spectrum, "torch loop, J_t Q without forming J_t")]
    has_torch = torch_or_none() is not None
    if has_torch:
        lam = lyapunov_spectrum(net, x, k, warmup=warm, q0=q0).exponents
        for fn, name in peers:
            err = float(np.max(np.abs(np.sort(fn(net, x, q0, warm).mean(axis=0))[::-1] - lam)))
            if err > 1e-8:
                raise AssertionError(f"the PyTorch peer {name!r} disagrees with ours by {err:.3g}")
            fns.append(lambda fn=fn: fn(net, x, q0, warm))
    with step_blas_limit(), (_torch_threads() if has_torch else nullcontext()):
        t = interleaved(fns, repeat)
    ours, floor = t[0] / T, t[1] / steps
    if not has_torch:
        return [case(f"Lyapunov spectrum ({size})", ours, floor, fname, None, name, target) for _, name in peers]
    return [case(f"Lyapunov spectrum ({size})", ours, floor, fname, t[2 + i] / T, name, target)
            for i, (_, name) in enumerate(peers)]


def case_vs_lapack(N: int = 256, T: int = 1000, repeat: int = 3) -> Dict:
    """The full spectrum (k = N) against its floor: W @ Q (N x N by N x N) + W @ h + qr(N x N)."""
    net, x = problem(N, T, 1)
    warm = min(T // 10, 100)
    steps = min(T, 50)
    with step_blas_limit():
        ours, floor = interleaved([lambda: lyapunov_spectrum(net, x, N, warmup=warm),
                                   floors.lyapunov_steps_fn(N, N, 1, steps)], repeat)
    return case(f"Lyapunov spectrum, full (N={N} k={N} T={T})", ours / T, floor / steps,
                "W@Q (NxN)(NxN) + W@h + qr(NxN)", None, "none", "<= 1.5x floor")


def bench_cases(quick: bool = False) -> List[Dict]:
    """The benchmark rows of issue 4 (format: :func:`localrnn.benchmarks._timing.case`).

    ``quick=True`` shortens T (200 and 50 steps) and the repeats, for a smoke run.
    """
    if quick:
        return cases_vs_torch(T=200, repeat=3) + [case_vs_lapack(T=50, repeat=2)]
    return cases_vs_torch() + cases_vs_torch(B=8, repeat=5) + [case_vs_lapack()]


def format_rows(rows: List[Dict]) -> str:
    f = lambda v, d=2: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    lines = []
    for r in rows:
        peer = "n/a" if r["peer_s"] is None else f"{r['peer_s'] * 1e6:.1f} us"
        lines.append(f"{r['name']}: ours {r['ours_s'] * 1e6:.1f} us/step, floor "
                     f"{r['floor_s'] * 1e6:.1f} us ({r['floor']}), ours/floor {f(r['ours_over_floor'])}, "
                     f"peer {peer} ({r['peer']}), peer/ours {f(r['peer_over_ours'])}, target {r['target']}")
    lines.append(f"threads: {step_blas_threads()} (LOCALRNN_STEP_BLAS_THREADS)")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(format_rows(bench_cases(quick="--quick" in sys.argv[1:])))
