"""Slow, obvious PyTorch references for the engine (tests only).

Written directly from MODEL.md, independent of the kernels: an explicit Python
loop over time with torch ops, autograd for the exact gradient, and for the local
rules the two changes that define them:

* e-prop / RFLO truncation: the recurrent input is computed from a *detached*
  presynaptic activity (``W r_{t-1}.detach()`` resp. ``W a_{t-1}.detach()``), so
  autograd follows only the leak, J ~ (1 - alpha) I (Liu et al. 2024, appendix);
* feedback: the readout's backward pass sends ``F delta`` instead of
  ``W_out^T delta`` to the state, while ``W_out`` still gets its exact gradient.
"""
import torch

ACT = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    # exact log(1 + e^x): torch's F.softplus returns x itself above threshold=20, an
    # error of log1p(e^-x) ~ 2e-9 at x = 20 that showed up as a 1e-10 "disagreement"
    # (checked against a 50-digit mpmath gradient: ours was right to 3e-16)
    "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),
    # max(tanh x, 0) written as tanh(relu x): the same function, and its subgradient at
    # x = 0 is 0, the convention of localrnn.activations (relu'(0) = 0 likewise)
    "retanh": lambda x: torch.tanh(torch.relu(x)),
}


class _Readout(torch.autograd.Function):
    """y = s W_out^T + b_out whose backward to s uses F (N, O) instead of W_out^T."""

    @staticmethod
    def forward(ctx, s, W_out, b_out, F):
        ctx.save_for_backward(s, F)
        return s @ W_out.T + b_out

    @staticmethod
    def backward(ctx, gy):
        s, F = ctx.saved_tensors
        return gy @ F.T, gy.T @ s, gy.sum(0), None


def to_torch(net, requires_grad=True):
    return {k: torch.tensor(getattr(net, k), requires_grad=requires_grad)
            for k in ("W_in", "W", "b", "W_out", "b_out")}


def run(net, params, x, h0=None, noise=None, truncate=False, F=None):
    """Outputs (T, B, O) and states (T, B, N) in torch, building the autograd graph.

    ``truncate``: False (exact), True (the recurrent input from a detached presynaptic
    activity: e-prop / RFLO) or ``"state"`` (the whole previous state detached, leak
    included: ``truncation="state"``)."""
    act = ACT[net.activation]
    alpha = net.alpha
    x = torch.as_tensor(x)
    T, B, _ = x.shape
    N = net.n_rec
    s = torch.zeros(B, N, dtype=x.dtype) if h0 is None else torch.as_tensor(h0).clone()
    if F is not None:
        F = torch.as_tensor(F)
    ys, ss = [], []
    for k in range(T):
        if truncate == "state":
            s = s.detach()
        if net.form == "current":
            r_prev = act(s)
            rec = (r_prev.detach() if truncate else r_prev) @ params["W"].T
            s = (1 - alpha) * s + alpha * (rec + x[k] @ params["W_in"].T + params["b"])
            if noise is not None:
                s = s + torch.as_tensor(noise[k])
            out_in = act(s)
        else:
            a_prev = s
            u = (a_prev.detach() if truncate else a_prev) @ params["W"].T + x[k] @ params["W_in"].T + params["b"]
            s = (1 - alpha) * a_prev + alpha * act(u)
            if noise is not None:
                s = s + torch.as_tensor(noise[k])
            out_in = s
        if F is None:
            y = out_in @ params["W_out"].T + params["b_out"]
        else:
            y = _Readout.apply(out_in, params["W_out"], params["b_out"], F)
        ys.append(y)
        ss.append(s)
    return torch.stack(ys), torch.stack(ss)


def loss(y, targets, mask, kind):
    if kind == "mse":
        t = torch.as_tensor(targets)
        m = torch.as_tensor(mask)
        if m.ndim == 2:
            m = m[:, :, None].expand_as(y)
        return 0.5 * (m * (y - t) ** 2).sum() / m.sum()
    labels = torch.as_tensor(targets)
    m = torch.as_tensor(mask)
    logp = torch.log_softmax(y, dim=-1)
    picked = logp.gather(-1, labels[..., None])[..., 0]
    return -(m * picked).sum() / m.sum()


def grads(net, x, targets, mask, kind="mse", truncate=False, F=None, h0=None, noise=None):
    """(loss, grads dict of numpy arrays) by autograd."""
    params = to_torch(net)
    y, _ = run(net, params, x, h0=h0, noise=noise, truncate=truncate, F=F)
    L = loss(y, targets, mask, kind)
    L.backward()
    return float(L.detach()), {k: p.grad.numpy() for k, p in params.items()}
