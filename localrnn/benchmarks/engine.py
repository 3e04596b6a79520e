"""Batched gradients per time step: BPTT and e-prop/RFLO against PyTorch autograd.

The PyTorch peer is the natural implementation: an explicit loop over time with
``torch.tanh`` and matrix products, ``loss.backward()`` (BPTT), and for the local
rule the same loop with the recurrent input computed from a detached rate
(Liu et al. 2024's e-prop).  Same sizes, same dtype, same thread count (both
single-threaded by default, see :class:`._timing.torch_threads`).

Floors (:mod:`localrnn.benchmarks.floors`, NumPy under the same BLAS thread limit):

* **BPTT**, per step: two ``(B x N) @ (N x N)`` GEMMs -- the forward recurrent
  input ``r_{t-1} W^T`` and the backward adjoint ``z_t W`` -- plus the
  weight-gradient GEMM ``dW = sum_t z_t^T r_{t-1}`` over all T*B rows, divided by
  T.  Unavoidable: every step's state depends on the previous one through W (no
  batching over time), the adjoint likewise backwards, and dW needs one
  multiply-add per (row, i, j).  The readout and input GEMMs (O, I = 2, 1 << N)
  and every element-wise pass (tanh, leak, phi') are left out: the floor is a
  lower bound.
* **e-prop/RFLO** (batched), per step: one step GEMM (the forward pass; the
  learning signal ``F delta_t`` needs no recurrent product, the backward filter
  is element-wise) plus the same dW GEMM over T*B rows, divided by T.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .._threads import step_blas_limit

from ..engine import gradient
from ..names import PARAM_NAMES
from ..network import Network
from . import floors
from ._timing import case, interleaved, torch_or_none, torch_threads


def problem(N, B, T, dtype, seed=0):
    net = Network.init(1, N, 2, gain=1.0, alpha=0.5, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, 1)).astype(dtype)
    y = rng.standard_normal((T, B, 2)).astype(dtype)
    m = np.ones((T, B, 2), dtype=dtype)
    return net, x, y, m


def torch_gradient(net, x, y, m, truncate):
    """The PyTorch peer: autograd through the loop (detached recurrent input if ``truncate``)."""
    import torch

    p = {k: torch.tensor(getattr(net, k), requires_grad=True) for k in PARAM_NAMES}
    x = torch.from_numpy(x)
    y = torch.from_numpy(y)
    m = torch.from_numpy(m)
    a = net.alpha
    T, B, _ = x.shape
    h = torch.zeros(B, net.n_rec, dtype=x.dtype)
    r = torch.tanh(h)
    outs = []
    for k in range(T):
        rr = r.detach() if truncate else r
        h = (1 - a) * h + a * (rr @ p["W"].T + x[k] @ p["W_in"].T + p["b"])
        r = torch.tanh(h)
        outs.append(r @ p["W_out"].T + p["b_out"])
    out = torch.stack(outs)
    L = 0.5 * (m * (out - y) ** 2).sum() / m.sum()
    L.backward()
    return L


def bench_cases(quick: bool = False, dtypes=("float32",)):
    """Rows (format: :func:`localrnn.benchmarks._timing.case`): BPTT and e-prop/RFLO per step.

    Ours, the floor and the peer are timed in alternating rounds
    (:func:`localrnn.benchmarks._timing.interleaved`), best round of each.
    """
    torch = torch_or_none()
    N, B, T = (128, 16, 56) if quick else (256, 32, 56)
    rounds = 3 if quick else 7
    rows = []
    for dtype in dtypes:
        net, x, y, m = problem(N, B, T, dtype)
        fns = [lambda: gradient(net, x, y, m, rule="bptt"), lambda: gradient(net, x, y, m, rule="eprop"),
               floors.gradient_trial_fn(N, B, T, dtype, exact=True),
               floors.gradient_trial_fn(N, B, T, dtype, exact=False)]
        if torch is not None:
            fns += [lambda: torch_gradient(net, x, y, m, False), lambda: torch_gradient(net, x, y, m, True)]
        with step_blas_limit(), (torch_threads() if torch is not None else nullcontext()):
            t = [v / T for v in interleaved(fns, rounds)]
        ours_bptt, ours_eprop, f_bptt, f_local = t[:4]
        peer_bptt, peer_eprop = (t[4], t[5]) if torch is not None else (None, None)
        size = f"N={N} B={B} T={T} {dtype}"
        rows.append(case(f"BPTT gradient ({size})", ours_bptt, f_bptt,
                         "2 step GEMMs (BxN)(NxN) + dW GEMM over T*B rows / T",
                         peer_bptt, "torch autograd", "<= 1.25x floor, >= 2.5x peer"))
        rows.append(case(f"e-prop/RFLO gradient ({size})", ours_eprop, f_local,
                         "1 step GEMM (BxN)(NxN) + dW GEMM over T*B rows / T",
                         peer_eprop, "torch autograd, detached rate", "<= 1.3x floor, >= 2.5x peer"))
    return rows
