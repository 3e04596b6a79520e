"""Online learning per time step: our one-kernel step against a PyTorch per-step loop,
and the RTRL step against its FLOP floor.

* e-prop (current form) and RFLO (rate form) online steps, N = 128, B = 1, float64, SGD
  every step: ``OnlineLearner.step`` (Python call included) against :class:`TorchOnlineStep`,
  the same work written as a PyTorch loop body (forward, loss, traces, learning signal,
  in-place weight updates with fused ``addmm_``/``addr_``; no autograd).  Target: >= 10x.
  The peer is checked to give the same numbers as ours in ``tests/test_online.py``.
* RTRL online step, N = 32, B = 1 (I = 2, so P = N^2 + N I + N = 1120): ``OnlineLearner``
  (rule="rtrl") ``.step`` against one dense ``np.dot(J, M, out)`` of the same sizes, the
  product every RTRL step must do.  Target: ours / floor <= 3.

Floors (NumPy/SciPy BLAS under the same one-thread limit, interleaved with ours):

* e-prop, current form, B = 1: one GEMV ``W r_{t-1}`` (the recurrent input; it
  cannot be batched over time because r_{t-1} depends on it) and one rank-1
  update ``W <- W - eta L_t ebar_t^T`` of the N x N weights (SGD every step: the
  whole matrix is read and written once per step).  The O(N) trace updates and
  the 2 x N readout are left out.
* RFLO, rate form, B = 1: the GEMV plus two N x N rank-1 passes: the trace
  ``p_t = (1 - a) p_{t-1} + a phi'(u_t) h_{t-1}^T`` (an N x N eligibility trace,
  MODEL.md) and the weight update ``W <- W - eta L_t * p_t``.
* RTRL, N = 32: the product ``J_t M_{t-1}`` ((N x N) by (N x P)) every step must
  do to propagate the influence matrix (MODEL.md, RTRL); forming J_t and the
  immediate term are left out.

Timing: each side is called before it is timed (Numba compile excluded); then rounds
of ``number`` calls alternate between ours and the peer, and each side's best round is
kept.  Alternating, and the best round, make the ratio robust to other processes on
a shared machine (a round that was preempted is slow on one side only; the median of
separate runs moved the ratio by +-30% on a loaded 2-core machine).  Our steps run
inside ``step_blas_limit()`` (one BLAS thread, the project's setting for
time-stepping kernels), as does the numpy floor; PyTorch keeps its default threads.
"""
from __future__ import annotations


import numpy as np

from .._threads import step_blas_limit
from ..network import Network, feedback_matrix
from ..online import OnlineLearner
from . import floors
from ._timing import case, interleaved, torch_or_none


def online_problem(form: str, N: int = 128, I: int = 2, O: int = 2, seed: int = 0):
    """A network and one step's (x, target, mask) for B = 1, float64."""
    net = Network.init(I, N, O, gain=1.0, alpha=0.2, form=form, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((1, I))
    y = rng.standard_normal((1, O))
    m = np.ones((1, O))
    return net, x, y, m


class TorchOnlineStep:
    """PyTorch per-step loop body equal to ``OnlineLearner(net, rule, optimizer="sgd",
    update_every=1, loss="mse")`` with one learning rate (tanh networks)."""

    def __init__(self, net: Network, F: np.ndarray, lr: float, batch_size: int = 1):
        import torch

        self.torch = torch
        t = lambda a: torch.tensor(np.array(a, dtype=np.float64))  # noqa: E731
        self.W_in, self.W, self.b = t(net.W_in), t(net.W), t(net.b)
        self.W_out, self.b_out = t(net.W_out), t(net.b_out)
        self.symmetric = F is None
        self.FT = None if F is None else t(F.T)
        self.lr = float(lr)
        self.alpha = net.alpha
        self.rate = net.form == "rate"
        B, N, I = batch_size, net.n_rec, net.n_in
        z = lambda *s: torch.zeros(*s, dtype=torch.float64)  # noqa: E731
        self.h = z(B, N)
        self.r = torch.tanh(self.h)
        if self.rate:
            self.p, self.q, self.pb = z(B, N, N), z(B, N, I), z(B, N)
        else:
            self.ebar, self.xbar, self.bbar = z(B, N), z(B, I), z(B, 1)

    def step(self, x, y, m):
        torch = self.torch
        a, keep, lr = self.alpha, 1.0 - self.alpha, self.lr
        with torch.no_grad():
            FT = self.W_out if self.symmetric else self.FT
            if self.rate:
                u = torch.addmm(torch.addmm(self.b, x, self.W_in.T), self.h, self.W.T)
                phi_u = torch.tanh(u)
                hn = keep * self.h + a * phi_u
                yhat = torch.addmm(self.b_out, hn, self.W_out.T)
            else:
                pre = torch.addmm(torch.addmm(self.b, x, self.W_in.T), self.r, self.W.T)
                hn = keep * self.h + a * pre
                rn = torch.tanh(hn)
                yhat = torch.addmm(self.b_out, rn, self.W_out.T)
            e = yhat - y
            s = m.sum()
            delta = m * e / s
            loss = 0.5 * (m * e * e).sum() / s
            L = delta @ FT
            if self.rate:
                d = a * (1.0 - phi_u * phi_u)
                self.p.mul_(keep).add_(d[:, :, None] * self.h[:, None, :])
                self.q.mul_(keep).add_(d[:, :, None] * x[:, None, :])
                self.pb.mul_(keep).add_(d)
                self.W.sub_(lr * (L[:, :, None] * self.p).sum(0))
                self.W_in.sub_(lr * (L[:, :, None] * self.q).sum(0))
                self.b.sub_(lr * (L * self.pb).sum(0))
                S = hn
            else:
                L = L * (1.0 - rn * rn)
                self.ebar.mul_(keep).add_(self.r, alpha=a)
                self.xbar.mul_(keep).add_(x, alpha=a)
                self.bbar.mul_(keep).add_(a)
                self.W.addmm_(L.T, self.ebar, alpha=-lr)
                self.W_in.addmm_(L.T, self.xbar, alpha=-lr)
                self.b.sub_(lr * (L * self.bbar).sum(0))
                self.r = rn
                S = rn
            self.W_out.addmm_(delta.T, S, alpha=-lr)
            self.b_out.sub_(lr * delta.sum(0))
            self.h = hn
            return loss.item()


def _online_case(form, rule, quick):
    net, x, y, m = online_problem(form)
    N = net.n_rec
    lr = 1e-3
    learner = OnlineLearner(net.copy(), rule=rule, lr=lr)
    rounds, number = (10, 200) if quick else (20, 300)
    n_rank1 = 2 if form == "rate" else 1
    fns = [lambda: learner.step(x, y, m), floors.online_step_fn(N, n_rank1, "float64")]
    torch = torch_or_none()
    if torch is not None:
        F = None if rule == "eprop" else feedback_matrix(net, "random", rule, 0)
        ref = TorchOnlineStep(net.copy(), F, lr)
        tx, ty, tm = (torch.from_numpy(a) for a in (x, y, m))
        fns.append(lambda: ref.step(tx, ty, tm))
    with step_blas_limit():
        times = interleaved(fns, rounds, number)
    ours, floor, peer = times[0], times[1], (times[2] if len(times) > 2 else None)
    fb = "symmetric" if rule == "eprop" else "random"
    name = f"online {rule} step, {form} form, {fb} feedback (N={N} B=1 f64 SGD)"
    fname = "GEMV (NxN)N + " + ("2 NxN rank-1 passes (trace, W)" if n_rank1 == 2 else "rank-1 update of W")
    return case(name, ours, floor, fname, peer, "torch per-step loop, no autograd",
                "<= 1.5x floor, >= 10x peer")


def _rtrl_case(quick):
    N, I = 32, 2
    net, x, y, m = online_problem("current", N=N, I=I)
    learner = OnlineLearner(net.copy(), rule="rtrl", lr=1e-3)
    P = N * N + N * I + N
    rng = np.random.default_rng(0)
    J = rng.standard_normal((N, N))
    M = rng.standard_normal((N, P))
    out = np.empty((N, P))
    rounds, number = (10, 30) if quick else (20, 100)
    with step_blas_limit():
        ours, floor = interleaved([lambda: learner.step(x, y, m), lambda: np.dot(J, M, out=out)],
                                  rounds, number)
    name = f"online rtrl step (N={N} P={P} B=1 f64 SGD)"
    return case(name, ours, floor, "J @ M: (NxN)(NxP) GEMM", None, "none", "<= 3x floor")


def bench_cases(quick: bool = False):
    """Rows for ``localrnn bench``: online e-prop and RFLO steps (floor, PyTorch), RTRL (floor)."""
    return [
        _online_case("current", "eprop", quick),
        _online_case("rate", "rflo", quick),
        _rtrl_case(quick),
    ]
