"""PyTorch references for the Lyapunov spectrum and the flossing loss (MODEL.md 6-7).

Plain loops, one step and one trial at a time, written from the equations and not
from the kernels: the trajectory, J_t, ``torch.linalg.qr`` with the signs fixed so
diag(R) > 0, and the flossing loss, differentiated by autograd.  ``detach=True``
holds the state and Q_{t-1} constant at each step (the local gradient of Liu et
al. 2024); ``detach=False`` is the full derivative (Engelken 2023).
"""
from contextlib import contextmanager

import numpy as np
import torch

ACT = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    # exact softplus (F.softplus is linear above x = 20) and retanh with subgradient 0
    # at x = 0, as localrnn.activations defines them (see tests/torch_ref.py)
    "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),
    "retanh": lambda x: torch.tanh(torch.relu(x)),
}


@contextmanager
def _one_thread():
    """One torch thread for the duration: with two, every tiny ``torch.linalg.qr``
    took ~8 ms instead of ~8 us on a loaded 2-core machine (thread hand-off)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _dphi(name, x):
    """phi'(x) written out (autograd of it gives phi'')."""
    if name == "tanh":
        return 1.0 - torch.tanh(x) ** 2
    if name == "relu":
        return (x > 0).to(x.dtype)
    if name == "softplus":
        return torch.sigmoid(x)
    return torch.where(x > 0, 1.0 - torch.tanh(x) ** 2, torch.zeros_like(x))


def _params(net, requires_grad):
    return {k: torch.tensor(getattr(net, k), dtype=torch.float64, requires_grad=requires_grad)
            for k in ("W", "W_in", "b")}


def _log_r_steps(net, p, inputs, q0, warmup, qr_every, detach, h0=None, detach_q=None):
    """Per trial, per counted QR: log diag(R) (list over trials of (k,) sums) and Q_T."""
    T, B, _ = inputs.shape
    N = net.n_rec
    x = torch.tensor(inputs, dtype=torch.float64)
    a = net.alpha
    phi = ACT[net.activation]
    eye = torch.eye(N, dtype=torch.float64)
    sums, finals = [], []
    for b in range(B):
        h = torch.zeros(N, dtype=torch.float64)
        if h0 is not None:
            h = torch.tensor(h0[b], dtype=torch.float64)
        Q = torch.tensor(q0 if q0.ndim == 2 else q0[b], dtype=torch.float64)
        acc = torch.zeros(Q.shape[1], dtype=torch.float64)
        for t in range(1, T + 1):
            xt = x[t - 1, b]
            if net.form == "current":
                hp = h.detach() if detach else h
                J = (1 - a) * eye + a * p["W"] * _dphi(net.activation, hp)[None, :]
                h = (1 - a) * h + a * (p["W"] @ phi(h) + p["W_in"] @ xt + p["b"])
            else:
                u = p["W"] @ h + p["W_in"] @ xt + p["b"]
                up = u.detach() if detach else u
                J = (1 - a) * eye + a * _dphi(net.activation, up)[:, None] * p["W"]
                h = (1 - a) * h + a * phi(u)
            Qp = Q.detach() if (detach if detach_q is None else detach_q) else Q
            A = J @ Qp
            if (t - warmup) % qr_every == 0 or t == T:
                Q, R = torch.linalg.qr(A)
                s = torch.sign(torch.diagonal(R)).detach()
                Q = Q * s[None, :]
                R = R * s[:, None]
                if t > warmup:
                    acc = acc + torch.log(torch.diagonal(R))
            else:
                Q = A
        sums.append(acc)
        finals.append(Q.detach().numpy())
    return sums, np.array(finals)


def spectrum(net, inputs, q0, warmup, qr_every=1, h0=None):
    """(B, k) exponents per trial, in QR-column order, and Q_T (B, N, k)."""
    p = _params(net, False)
    with torch.no_grad(), _one_thread():
        sums, QT = _log_r_steps(net, p, inputs, q0, warmup, qr_every, False, h0)
    T = inputs.shape[0]
    return np.array([s.numpy() for s in sums]) / (T - warmup), QT


def flossing(net, inputs, q0, warmup, target=0.0, detach=True, h0=None, detach_q=None):
    """(L_floss, {"W", "W_in", "b"} gradients by autograd); ``detach`` holds the state
    (and, unless ``detach_q`` says otherwise, Q_{t-1}) fixed."""
    p = _params(net, True)
    with _one_thread():
        sums, _ = _log_r_steps(net, p, inputs, q0, warmup, 1, detach, h0, detach_q)
        T = inputs.shape[0]
        lam = torch.stack(sums).mean(dim=0) / (T - warmup)
        L = torch.sum((lam - target) ** 2)
        L.backward()
    return float(L.detach()), {k: (v.grad.numpy().copy() if v.grad is not None else np.zeros(v.shape))
                      for k, v in p.items()}
