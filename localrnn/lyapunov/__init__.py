"""Lyapunov spectra, gradient flossing and gain sweeps (MODEL.md sections 6-7).

=====================  ==========================================================
module                 contents
=====================  ==========================================================
``spectrum``           :func:`lyapunov_spectrum`, :class:`LyapunovResult`, the
                       Jacobian-QR chain driver and its checks, :func:`random_q0`
``flossing``           :func:`flossing_gradient` (local and exact), :func:`floss`,
                       :class:`FlossResult`
``gain``               :func:`lambda_max_vs_gain`, :class:`GainSweep`,
                       :func:`rescale_to_lambda` (W scaled until lambda_max hits a target)
=====================  ==========================================================

Every public name is re-exported here: ``from localrnn.lyapunov import X`` works
for all of them.  The figures live in :mod:`localrnn.plotting` (``plot_spectrum``,
``plot_lambda_vs_gain``).
"""
from __future__ import annotations

from .flossing import FlossResult, floss, flossing_gradient
from .gain import GainSweep, Rescaled, lambda_max_vs_gain, rescale_to_lambda
from .spectrum import (Q0_ORTHO_TOL, LyapunovResult, default_warmup, lyapunov_spectrum,
                       random_q0)

__all__ = ["LyapunovResult", "lyapunov_spectrum", "flossing_gradient", "FlossResult", "floss",
           "GainSweep", "lambda_max_vs_gain", "Rescaled", "rescale_to_lambda", "default_warmup",
           "random_q0", "Q0_ORTHO_TOL"]

