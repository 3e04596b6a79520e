"""Activation functions: names, integer codes for kernels, NumPy versions.

Kernels choose an activation by an integer code (compiled once, no jitted
functions passed as arguments); :mod:`localrnn.kernels.common` holds the scalar
``phi`` / ``dphi`` that switch on the code.

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

from .names import ACTIVATIONS  # noqa: E402  (re-exported)


def activation_code(name: str) -> int:
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]


def kernel_code(name: str, dtype) -> int:
    """The code kernels use: float32 networks get the float32 tanh/retanh (codes 4, 5)."""
    code = activation_code(name)
    if np.dtype(dtype) == np.float32 and code in (0, 3):
        return 4 if code == 0 else 5
    return code


def phi(x: np.ndarray, name: str = "tanh") -> np.ndarray:
    """NumPy activation (for drivers, plots and references)."""
    code = activation_code(name)
    if code == 0:
        return np.tanh(x)
    if code == 1:
        return np.maximum(x, 0.0)
    if code == 2:
        return np.logaddexp(0.0, x)
    return np.maximum(np.tanh(x), 0.0)


def dphi(x: np.ndarray, name: str = "tanh") -> np.ndarray:
    """NumPy derivative of :func:`phi`."""
    code = activation_code(name)
    if code == 0:
        return 1.0 - np.tanh(x) ** 2
    if code == 1:
        return (x > 0).astype(np.result_type(x, np.float32))
    if code == 2:
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    t = np.tanh(x)
    return np.where(x > 0, 1.0 - t * t, 0.0).astype(np.result_type(x, np.float32))
