"""Activation functions: names, integer codes for kernels, NumPy versions.

Kernels choose an activation by an integer code (compiled once, no jitted
functions passed as arguments); :mod:`localrnn.kernels.common` names the codes
(``TANH`` ... ``RETANH32``) and holds the scalar ``phi`` / ``dphi`` that switch on them.

=========  ====  ==========================  =============================
name       code  phi(x)                      phi'(x)
=========  ====  ==========================  =============================
tanh       0     tanh(x)                     1 - tanh(x)^2
relu       1     max(x, 0)                   1 if x > 0 else 0
softplus   2     log(1 + e^x)                1 / (1 + e^-x)
retanh     3     max(tanh(x), 0)             1 - tanh(x)^2 if x > 0 else 0
=========  ====  ==========================  =============================
"""
from __future__ import annotations

import numpy as np

from ._validate import check_choice
from .kernels.common import RELU, RETANH, RETANH32, SOFTPLUS, TANH, TANH32

from .names import ACTIVATIONS  # noqa: E402  (re-exported)


def activation_code(name: str) -> int:
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]


def kernel_code(name: str, dtype) -> int:
    """The code kernels use: float32 networks get the float32 tanh/retanh (codes 4, 5)."""
    code = activation_code(name)
    if np.dtype(dtype) == np.float32 and code in (TANH, RETANH):
        return TANH32 if code == TANH else RETANH32
    return code


def dphi_needs_state(name: str) -> bool:
    """True if phi'(h) cannot be had from r = phi(h) alone (softplus: the kernels take
    the logistic of h); tanh, relu and retanh give phi' from the rate (``dphi_from``),
    so a backward pass of theirs needs the rates only, not the states h_k."""
    return activation_code(name) == SOFTPLUS


def phi(x: np.ndarray, name: str = "tanh") -> np.ndarray:
    """NumPy activation (for drivers, plots and references)."""
    code = activation_code(name)
    if code == TANH:
        return np.tanh(x)
    if code == RELU:
        return np.maximum(x, 0.0)
    if code == SOFTPLUS:
        return np.logaddexp(0.0, x)
    return np.maximum(np.tanh(x), 0.0)


def dphi(x: np.ndarray, name: str = "tanh") -> np.ndarray:
    """NumPy derivative of :func:`phi`."""
    code = activation_code(name)
    if code == TANH:
        return 1.0 - np.tanh(x) ** 2
    if code == RELU:
        return (x > 0).astype(np.result_type(x, np.float32))
    if code == SOFTPLUS:
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    t = np.tanh(x)
    return np.where(x > 0, 1.0 - t * t, 0.0).astype(np.result_type(x, np.float32))
