"""Spiking networks (MODEL.md section 9): the batched BPTT and e-prop gradients and the
online e-prop step, against their floors and a PyTorch peer.

The problem is the cue task's network (Bellec et al. 2020): ALIF, N = 100 (50 LIF, 50
adaptive), I = 40 Poisson input channels, O = 2, reset by subtraction, 4 refractory
steps, float64, with inputs of the cue task's statistics (cues at 40 Hz, noise at
10 Hz) and a cross-entropy loss on the last steps.  Batched: B = 16 trials of T = 500
steps (quick: B = 8, T = 200); per time step.  Online: one stream, SGD every step.

**Peers** (PyTorch, single-threaded as ours, :class:`._timing.torch_threads`):

* batched: an explicit loop over time with matrix products and the spike as a
  custom autograd function (Heaviside forward, the pseudo-derivative backward), then
  ``loss.backward()``; for e-prop the spikes are detached where they enter the
  voltage (Bellec et al.'s ``EligALIF``).  tests/test_spiking_bench.py checks that
  its gradients equal ours (1e-10).
* online: :class:`TorchSpikingOnlineStep`, the online learner's step as a PyTorch
  loop body without autograd (the same recursions; tests/test_spiking_bench.py checks
  it against :class:`~localrnn.spiking.SpikingOnlineLearner` step by step).

**Floors** (NumPy/SciPy BLAS under the same one-thread limit, interleaved with ours):

* BPTT gradient, per step: one ``(B x N) @ (N x N)`` GEMM, the adjoint through the
  recurrent weights ``W^T gv_{t+1}``.  Unavoidable: the adjoint of every step depends
  on the next one's through W, and it is dense (the pseudo-derivative is non-zero
  near threshold, not only at spikes).  The forward pass is left out: its recurrent
  input is a sum of columns of W over the neurons that spiked (event-driven), whose
  cost depends on the firing rate; so are the weight gradients (outer products with
  the spikes).  A lower bound: ours can only be above it.
* e-prop gradient, per step: the same GEMM -- the dense recurrent product the
  *forward pass* of a non-event-driven implementation does every step (what the
  peer does).  e-prop itself needs no N x N product at all (no adjoint through W,
  event-driven forward and outer products), so this is not a bound on ours:
  ``ours/floor < 1`` means the event-driven step beats a dense one at this rate.
* online e-prop step: three in-place rank-1 updates of an N x P array (P = I + 1 + N,
  BLAS ``?ger``): the adaptation eligibility ``eps_a``, the filtered trace ``ebar``
  and the weight update ``W -= eta L ebar``.  Unavoidable: online e-prop of an ALIF
  network keeps and updates these N x P per-synapse values every step (MODEL.md
  section 9; LIF with reset "subtract" would need two).  The O(P) presynaptic trace,
  the neurons' update and the readout are left out.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .._config import njit
from .._threads import step_blas_limit
from ..names import PARAM_NAMES
from ..spiking import SpikingNetwork, SpikingOnlineLearner, gradient
from ..tasks import get_task
from . import floors
from ._timing import case, interleaved, torch_or_none, torch_threads

#: The cue task's network, as its defaults make it (Bellec et al.'s).
N_REC = 100


def problem(B: int, T: int, seed: int = 0):
    """The cue network and a batch of B trials cut to their last T steps (the recall
    window within them), float64: (net, x, labels, mask)."""
    task = get_task("cue")
    net = task.make_network(n_rec=N_REC, seed=seed)
    b = task.batch(B, np.random.default_rng([seed, 1, 0]))
    x = np.ascontiguousarray(b.inputs[-T:])
    return net, x, np.ascontiguousarray(b.targets[-T:]), np.ascontiguousarray(b.mask[-T:])


def torch_spiking_gradient(net: SpikingNetwork, x, labels, mask, eprop: bool):
    """The PyTorch peer: a loop over time with autograd (module docstring); returns the
    loss, with the gradients in the tensors' ``.grad``, as a dict of those tensors."""
    import torch

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u > 0).to(u.dtype)

        @staticmethod
        def backward(ctx, g):
            (u,) = ctx.saved_tensors
            return g * net.gamma * torch.clamp(1.0 - torch.abs(u), min=0.0)

    p = {k: torch.tensor(getattr(net, k), requires_grad=True) for k in PARAM_NAMES}
    xs, lab, m = torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(mask)
    T, B, _ = xs.shape
    N = net.n_rec
    beta = torch.from_numpy(net.beta)
    W = p["W"] * (1.0 - torch.eye(N, dtype=xs.dtype))
    v = torch.zeros(B, N, dtype=xs.dtype)
    z = torch.zeros_like(v)
    ba = torch.zeros_like(v)
    count = torch.zeros(B, N, dtype=torch.int64)
    y = torch.zeros(B, net.n_out, dtype=xs.dtype)
    zeros = torch.zeros_like(v)
    drive = xs @ p["W_in"].T + p["b"]          # the input current of every step at once
    ys = []
    for k in range(T):
        zv = z.detach() if eprop else z
        v = net.alpha * v + drive[k] + zv @ W.T - net.v_th * zv
        ba = net.rho * ba + z
        A = net.v_th + beta * ba
        z = torch.where(count > 0, zeros, Spike.apply((v - A) / net.v_th))
        count = torch.where(z.detach() > 0, torch.full_like(count, net.refractory),
                            torch.clamp(count - 1, min=0))
        y = net.kappa * y + (1.0 - net.kappa) * (z @ p["W_out"].T + p["b_out"])
        ys.append(y)
    logp = torch.log_softmax(torch.stack(ys), dim=-1)
    L = -(m * logp.gather(-1, lab[..., None])[..., 0]).sum() / m.sum()
    L.backward()
    return L, p


@njit
def _adjoint_loop(A, W, out, n):
    """``n`` products ``A @ W`` through SciPy's BLAS (``np.dot`` in Numba)."""
    for _ in range(n):
        np.dot(A, W, out)


def step_gemms_fn(N: int, B: int, T: int):
    """A closure doing T GEMMs ``(B x N) @ (N x N)`` (float64), through the faster of
    NumPy's and SciPy's BLAS (:func:`localrnn.benchmarks.floors.fastest`)."""
    rng = np.random.default_rng(0)
    A, W, out = rng.standard_normal((B, N)), rng.standard_normal((N, N)), np.empty((B, N))

    def numpy_loop():
        for _ in range(T):
            np.dot(A, W, out=out)

    return floors.fastest([numpy_loop, lambda: _adjoint_loop(A, W, out, T)])


def rank1_passes_fn(n: int, k: int, passes: int):
    """A closure doing ``passes`` in-place rank-1 updates of n x k arrays (BLAS ``dger``)."""
    from scipy.linalg import blas

    rng = np.random.default_rng(0)
    As = [np.asfortranarray(rng.standard_normal((n, k))) for _ in range(passes)]
    x, y = rng.standard_normal(n), rng.standard_normal(k)

    def run():
        for A in As:
            blas.dger(1e-12, x, y, a=A, overwrite_a=1)

    return run


class TorchSpikingOnlineStep:
    """The online e-prop step of :class:`~localrnn.spiking.SpikingOnlineLearner`
    (one stream, reset "subtract", symmetric feedback, SGD every step, W_in, W, W_out
    trained as in the cue task; MSE with a full mask) as a PyTorch loop body without
    autograd."""

    def __init__(self, net: SpikingNetwork, lr: float):
        import torch

        self.torch, self.net, self.lr = torch, net, float(lr)
        t = lambda a: torch.tensor(np.array(a, dtype=np.float64))  # noqa: E731
        self.W_in, self.W, self.b, self.W_out, self.b_out = (t(getattr(net, k)) for k in PARAM_NAMES)
        self.beta = t(net.beta)
        N, I = net.n_rec, net.n_in
        P = I + 1 + N
        z = lambda *s: torch.zeros(*s, dtype=torch.float64)  # noqa: E731
        self.v, self.ba, self.zp, self.psip, self.zbar = z(N), z(N), z(N), z(N), z(N)
        self.count = torch.zeros(N, dtype=torch.int64)
        self.y = z(net.n_out)
        self.ev, self.ea, self.eb = z(P), z(N, P), z(N, P)
        self.offdiag = 1.0 - torch.eye(N, dtype=torch.float64)

    def step(self, x, target):
        torch, net = self.torch, self.net
        al, rho, kap = net.alpha, net.rho, net.kappa
        I = net.n_in
        with torch.no_grad():
            zp = self.zp
            v = al * self.v + self.W_in @ x + self.b + self.W @ zp - net.v_th * zp
            self.ba = rho * self.ba + zp
            A = net.v_th + self.beta * self.ba
            s = 1.0 - torch.abs((v - A) / net.v_th)
            refr = self.count > 0
            psi = torch.where(refr, torch.zeros_like(v), net.gamma / net.v_th * torch.clamp(s, min=0.0))
            z = torch.where(refr, torch.zeros_like(v), (v > A).to(v.dtype))
            self.count = torch.where(z > 0, torch.full_like(self.count, net.refractory),
                                     torch.clamp(self.count - 1, min=0))
            self.y = kap * self.y + (1.0 - kap) * (self.W_out @ z + self.b_out)
            err = self.y - target
            delta = err / err.shape[0]
            L = self.W_out.T @ delta
            # eligibility: eps_a (uses psi_{t-1}, eps_v_{t-1}), eps_v, e, ebar
            self.ea.mul_((rho - self.beta * self.psip)[:, None]).add_(self.psip[:, None] * self.ev[None, :])
            self.ev.mul_(al)
            self.ev[:I] += x
            self.ev[I] += 1.0
            self.ev[I + 1:] += zp
            e = psi[:, None] * (self.ev[None, :] - self.beta[:, None] * self.ea)
            self.eb.mul_(kap).add_(e, alpha=1.0 - kap)
            self.zbar.mul_(kap).add_(z, alpha=1.0 - kap)
            g = L[:, None] * self.eb
            self.W_in.sub_(self.lr * g[:, :I])
            self.W.sub_(self.lr * g[:, I + 1:] * self.offdiag)
            self.W_out.sub_(self.lr * torch.outer(delta, self.zbar))
            self.v, self.zp, self.psip = v, z, psi
        return float(0.5 * (err * err).sum() / err.shape[0])


def _batched_case(rule: str, quick: bool, torch):
    B, T = (8, 200) if quick else (16, 500)
    net, x, lab, m = problem(B, T)
    rounds = 3 if quick else 5
    fns = [lambda: gradient(net, x, lab, m, loss="xent", rule=rule), step_gemms_fn(N_REC, B, T)]
    if torch is not None:
        fns.append(lambda: torch_spiking_gradient(net, x, lab, m, eprop=rule == "eprop"))
    with step_blas_limit(), (torch_threads() if torch is not None else nullcontext()):
        times = interleaved(fns, rounds)
    ours, floor = times[0] / T, times[1] / T
    peer = times[2] / T if len(times) > 2 else None
    name = f"spiking {'BPTT' if rule == 'bptt' else 'e-prop'} gradient (ALIF N={N_REC} B={B} T={T} float64)"
    fname = ("1 adjoint GEMM (BxN)(NxN) per step" if rule == "bptt" else
             "1 dense forward GEMM (BxN)(NxN) per step (not a bound: e-prop needs none)")
    target = "none yet (first measurement)"
    return case(name, ours, floor, fname, peer, "torch autograd loop, spike as autograd.Function",
                target)


def online_problem(seed: int = 0):
    """The cue network, one trial's inputs (T, 1, I) and one-hot targets (T, 1, 2) of
    its label, float64 (the online rows use MSE: the learner's checked fast path)."""
    task = get_task("cue")
    net = task.make_network(n_rec=N_REC, seed=seed)
    b = task.batch(1, np.random.default_rng([seed, 1, 0]))
    y = np.zeros((task.T, 1, task.n_out))
    y[:, 0, b.targets[0, 0]] = 1.0
    return net, b.inputs, y


def _online_case(quick: bool, torch):
    net, xs, ys = online_problem()
    lr = 1e-4
    learner = SpikingOnlineLearner(net.copy(), lr={"W_in": lr, "W": lr, "W_out": lr},
                                   trainable=("W_in", "W", "W_out"))
    P = net.n_in + 1 + net.n_rec
    T = xs.shape[0]
    state = {"ours": 0, "peer": 0}

    def ours():
        k = state["ours"] = (state["ours"] + 1) % T
        learner.step(xs[k], ys[k])

    fns = [ours, rank1_passes_fn(net.n_rec, P, 3)]
    if torch is not None:
        peer = TorchSpikingOnlineStep(net.copy(), lr)
        tx, ty = torch.from_numpy(xs[:, 0]), torch.from_numpy(ys[:, 0])

        def peer_step():
            k = state["peer"] = (state["peer"] + 1) % T
            peer.step(tx[k], ty[k])

        fns.append(peer_step)
    rounds, number = (8, 100) if quick else (15, 300)
    with step_blas_limit(), (torch_threads() if torch is not None else nullcontext()):
        times = interleaved(fns, rounds, number)
    name = f"online spiking e-prop step (ALIF N={N_REC} I={net.n_in} B=1 f64 SGD)"
    return case(name, times[0], times[1], f"3 rank-1 passes over N x P (P={P}: eps_a, ebar, W)",
                times[2] if len(times) > 2 else None, "torch per-step loop, no autograd",
                "none yet (first measurement)")


def bench_cases(quick: bool = False):
    """Rows for ``localrnn bench``: the spiking BPTT and e-prop gradients (per step) and
    the online spiking e-prop step, each with its floor and the PyTorch peer."""
    torch = torch_or_none()
    return [_batched_case("bptt", quick, torch), _batched_case("eprop", quick, torch),
            _online_case(quick, torch)]


__all__ = ["bench_cases", "problem", "online_problem", "torch_spiking_gradient", "TorchSpikingOnlineStep",
           "step_gemms_fn", "rank1_passes_fn"]
