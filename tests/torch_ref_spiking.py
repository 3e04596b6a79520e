"""A slow, obvious PyTorch reference for the spiking networks (tests only).

Written from docs/MODEL.md section 9, independently of the Numba kernels: a Python
loop over time with torch ops, the spike as a custom autograd function (Heaviside
forward, the pseudo-derivative ``gamma * max(0, 1 - |u|)`` of the scaled voltage
``u = (v - A) / v_th`` backward, straight through), refractoriness as a counter, and
autograd for every gradient.  The two e-prop changes, as Bellec et al.'s code makes
them (``EligALIF`` with ``stop_z_gradients=True``):

* the spikes z_{t-1} that enter the voltage -- through W (other neurons) and through
  the reset (the neuron's own) -- are detached; the spikes that drive the neuron's own
  adaptation b_t = rho b_{t-1} + z_{t-1} are not (``detach_adaptation=True`` detaches
  those too, which is *not* e-prop: the tests show it differs);
* the readout's backward pass sends ``F (dL/dy)`` to the spikes instead of
  ``W_out^T (dL/dy)`` (random feedback), while W_out gets its exact gradient.
"""
import numpy as np
import torch

from torch_ref import _Readout as FeedbackLinear   # z W_out^T + b_out, backward to z through F

PARAMS = ("W_in", "W", "b", "W_out", "b_out")


class SpikeFn(torch.autograd.Function):
    """z = H(u) (H(0) = 0) with dz/du = gamma * max(0, 1 - |u|)."""

    @staticmethod
    def forward(ctx, u, gamma):
        ctx.save_for_backward(u)
        ctx.gamma = gamma
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, gz):
        (u,) = ctx.saved_tensors
        return gz * ctx.gamma * torch.clamp(1.0 - torch.abs(u), min=0.0), None


def to_torch(net, dtype=torch.float64, requires_grad=True):
    return {k: torch.tensor(np.asarray(getattr(net, k)), dtype=dtype, requires_grad=requires_grad)
            for k in PARAMS}


def run(net, params, x, v0=None, eprop=False, detach_adaptation=False, F=None):
    """(outputs, spikes, voltages, thresholds), each stacked over time, with the graph."""
    x = torch.as_tensor(np.asarray(x), dtype=params["W"].dtype)
    T, B, _ = x.shape
    N = net.n_rec
    dt = x.dtype
    alpha, rho, kappa = net.alpha, net.rho, net.kappa
    beta = torch.as_tensor(np.asarray(net.beta), dtype=dt)
    mask = 1.0 - torch.eye(N, dtype=dt)
    W = params["W"] * mask                                   # no self-connections
    v = torch.zeros(B, N, dtype=dt) if v0 is None else torch.tensor(np.array(v0), dtype=dt)
    z = torch.zeros(B, N, dtype=dt)
    b = torch.zeros(B, N, dtype=dt)
    count = torch.zeros(B, N, dtype=torch.int64)
    y = torch.zeros(B, net.n_out, dtype=dt)
    Fm = None if F is None else torch.as_tensor(np.asarray(F), dtype=dt)
    ys, zs, vs, As = [], [], [], []
    for k in range(T):
        zv = z.detach() if eprop else z                      # spikes into the voltage
        zb = z.detach() if detach_adaptation else z          # spikes into the adaptation
        I = x[k] @ params["W_in"].T + params["b"] + zv @ W.T
        if net.reset == "subtract":
            v = alpha * v + I - net.v_th * zv
        else:
            v = alpha * ((1.0 - zv) * v + zv * net.v_reset) + I
        if net.model == "alif":
            b = rho * b + zb
            A = net.v_th + beta * b
        else:
            A = torch.full_like(v, net.v_th)
        refractory = count > 0
        u = (v - A) / net.v_th
        z = torch.where(refractory, torch.zeros_like(v), SpikeFn.apply(u, net.gamma))
        count = torch.where(z.detach() > 0, torch.full_like(count, net.refractory),
                            torch.clamp(count - 1, min=0))
        if Fm is None:
            r = z @ params["W_out"].T + params["b_out"]
        else:
            r = FeedbackLinear.apply(z, params["W_out"], params["b_out"], Fm)
        y = kappa * y + (1.0 - kappa) * r
        ys.append(y)
        zs.append(z)
        vs.append(v)
        As.append(A)
    return torch.stack(ys), torch.stack(zs), torch.stack(vs), torch.stack(As)


def task_loss(y, targets, mask, kind):
    if kind == "mse":
        t = torch.as_tensor(np.asarray(targets), dtype=y.dtype)
        m = torch.as_tensor(np.asarray(mask), dtype=y.dtype)
        if m.ndim == 2:
            m = m[:, :, None].expand_as(y)
        return 0.5 * (m * (y - t) ** 2).sum() / m.sum()
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    m = torch.as_tensor(np.asarray(mask), dtype=y.dtype)
    logp = torch.log_softmax(y, dim=-1)
    return -(m * logp.gather(-1, labels[..., None])[..., 0]).sum() / m.sum()


def grads(net, x, targets, mask, kind="mse", eprop=False, detach_adaptation=False, F=None,
          v0=None, reg=0.0, reg_rate=0.0):
    """(loss, grads dict of numpy arrays, spikes, voltages, thresholds) by autograd."""
    params = to_torch(net)
    y, z, v, A = run(net, params, x, v0=v0, eprop=eprop, detach_adaptation=detach_adaptation, F=F)
    L = task_loss(y, targets, mask, kind)
    if reg:
        rate = z.mean(dim=(0, 1))
        L = L + 0.5 * reg * ((rate - reg_rate) ** 2).sum()
    L.backward()
    g = {k: p.grad.numpy() for k, p in params.items()}
    return float(L.detach()), g, z.detach().numpy(), v.detach().numpy(), A.detach().numpy()


def forward(net, x, v0=None):
    """(spikes, voltages, thresholds, outputs) as numpy arrays, no graph."""
    with torch.no_grad():
        y, z, v, A = run(net, to_torch(net, requires_grad=False), x, v0=v0)
    return z.numpy(), v.numpy(), A.numpy(), y.numpy()
