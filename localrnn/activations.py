"""Activation functions: names, integer codes for kernels, NumPy versions.

Kernels choose an activation by an integer code (compiled once, no jitted
functions passed as arguments).  The codes are defined in :mod:`localrnn.names`
(``ACTIVATIONS``, ``FLOAT32_ACTIVATIONS``); :mod:`localrnn.kernels.common` names them
(``TANH`` ... ``RETANH32``) and holds the scalar ``phi`` / ``dphi`` that switch on them.
This module is below the kernels and imports none of them.

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
from .names import ACTIVATIONS, FLOAT32_ACTIVATIONS  # ACTIVATIONS: re-exported


def activation_code(name: str) -> int:
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]


def kernel_code(name: str, dtype) -> int:
    """The code kernels use: float32 networks get the float32 tanh/retanh (codes 4, 5)."""
    code = activation_code(name)
    if np.dtype(dtype) == np.float32 and name in FLOAT32_ACTIVATIONS:
        return FLOAT32_ACTIVATIONS[name]
    return code


def dphi_needs_state(name: str) -> bool:
    """True if phi'(h) cannot be had from r = phi(h) alone (softplus: the kernels take
    the logistic of h); tanh, relu and retanh give phi' from the rate (``dphi_from``),
    so a backward pass of theirs needs the rates only, not the states h_k."""
    activation_code(name)   # checks the name
    return name == "softplus"


def phi(x: np.ndarray, name: str = "tanh") -> np.ndarray:
    """NumPy activation (for drivers, plots and references)."""
    activation_code(name)
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softplus":
        return np.logaddexp(0.0, x)
    return np.maximum(np.tanh(x), 0.0)


def dphi(x: np.ndarray, name: str = "tanh") -> np.ndarray:
    """NumPy derivative of :func:`phi`."""
    activation_code(name)
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "relu":
        return (x > 0).astype(np.result_type(x, np.float32))
    if name == "softplus":
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    t = np.tanh(x)
    return np.where(x > 0, 1.0 - t * t, 0.0).astype(np.result_type(x, np.float32))
