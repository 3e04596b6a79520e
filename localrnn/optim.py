"""SGD and Adam in NumPy/Numba, updating parameter arrays in place.

Both take a dict of parameter arrays (e.g. ``net.params()``) and a dict of
gradients with the same keys.  ``lr`` is a number or a dict name -> number; a
parameter whose learning rate is 0, or that is not in ``params``, is frozen.
:func:`check_lr` is the one check of a learning rate, used here and by
:class:`localrnn.online.OnlineLearner`.
"""
from __future__ import annotations

from typing import Dict, Mapping, Union

import numpy as np

from ._validate import check_choice, check_number
from .kernels.optim import adam_update, all_finite5, sgd_update

from .names import OPTIMIZERS  # noqa: E402  (re-exported)


def check_lr(lr, names, *, allow_zero: bool = False) -> Dict[str, float]:
    """A learning rate, number or dict name -> number, as a dict over ``names``.

    Dict entries must be >= 0: 0 (or a missing name) freezes that parameter, which
    is how a dict lr trains some parameters and not others.  A single number must be
    > 0, because a scalar 0 freezes everything and is almost always a mistake;
    ``allow_zero=True`` accepts it where freezing everything is a documented mode
    (:class:`localrnn.online.OnlineLearner`, whose gradients are still accumulated
    and readable with all rates 0).  Unknown names in a dict are an error.
    """
    names = list(names)
    if isinstance(lr, Mapping):
        unknown = sorted(set(lr) - set(names))
        if unknown:
            raise ValueError(f"lr has unknown parameter names {unknown}; allowed {', '.join(names)}")
        return {k: check_number(f"lr[{k!r}]", lr.get(k, 0.0), lo=0.0) for k in names}
    v = check_number("lr", lr, lo=0.0, lo_open=not allow_zero)
    return {k: v for k in names}


class _Optimizer:
    """Shared loop: step counter, learning rates, frozen parameters skipped."""

    def __init__(self, params: Dict[str, np.ndarray], lr):
        self.params = params
        self.lr = check_lr(lr, params)
        self.step_count = 0

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        self.step_count += 1
        for k, p in self.params.items():
            lr = self.lr[k]
            if lr != 0.0:
                self._update(k, p.reshape(-1),
                             np.ascontiguousarray(grads[k], dtype=p.dtype).reshape(-1), lr)

    def _update(self, name, theta, grad, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> Dict[str, np.ndarray]:
        return {"step_count": np.array(self.step_count)}

    def load_state_dict(self, d) -> None:
        self.step_count = int(d["step_count"])


class SGD(_Optimizer):
    """Plain gradient descent: ``theta -= lr * grad``."""

    def __init__(self, params: Dict[str, np.ndarray], lr: Union[float, Mapping] = 1e-3):
        super().__init__(params, lr)

    def _update(self, name, theta, grad, lr):
        sgd_update(theta, grad, lr)


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015), arithmetic as in ``torch.optim.Adam`` (no weight decay)."""

    def __init__(self, params: Dict[str, np.ndarray], lr: Union[float, Mapping] = 1e-3,
                 betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.beta1 = check_number("beta1", betas[0], lo=0.0, hi=1.0, hi_open=True)
        self.beta2 = check_number("beta2", betas[1], lo=0.0, hi=1.0, hi_open=True)
        self.eps = check_number("eps", eps, lo=0.0)
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def _update(self, name, theta, grad, lr):
        adam_update(theta, grad, self.m[name].reshape(-1), self.v[name].reshape(-1), lr,
                    self.beta1, self.beta2, self.eps, float(self.step_count))

    def state_dict(self) -> Dict[str, np.ndarray]:
        d = {"step_count": np.array(self.step_count)}
        for k in self.params:
            d["m_" + k] = self.m[k]
            d["v_" + k] = self.v[k]
        return d

    def load_state_dict(self, d) -> None:
        self.step_count = int(d["step_count"])
        for k in self.params:
            self.m[k][...] = d["m_" + k]
            self.v[k][...] = d["v_" + k]


_EMPTY: Dict[np.dtype, np.ndarray] = {}


def all_finite(arrays) -> bool:
    """``all(np.all(np.isfinite(a)) for a in arrays)``: one compiled call
    (:func:`localrnn.kernels.optim.all_finite5`) for up to five arrays of one float
    dtype (a network's parameters or gradients), NumPy's otherwise."""
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        return True
    dt = arrays[0].dtype
    if len(arrays) > 5 or dt.kind != "f" or any(a.dtype != dt or a.ndim == 0 for a in arrays):
        return all(np.all(np.isfinite(a)) for a in arrays)
    e = _EMPTY.get(dt)
    if e is None:
        e = _EMPTY[dt] = np.empty(0, dtype=dt)
    arrays += [e] * (5 - len(arrays))
    return bool(all_finite5(*arrays))


def make_optimizer(name: str, params: Dict[str, np.ndarray], lr, **kwargs):
    """``"sgd"`` or ``"adam"`` over ``params``."""
    check_choice("optimizer", name, OPTIMIZERS)
    return SGD(params, lr) if name == "sgd" else Adam(params, lr, **kwargs)
