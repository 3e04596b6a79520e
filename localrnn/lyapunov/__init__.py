"""Lyapunov spectra, gradient flossing and gain sweeps (MODEL.md sections 6-7).

=====================  ==========================================================
module                 contents
=====================  ==========================================================
``spectrum``           :func:`lyapunov_spectrum`, :class:`LyapunovResult`, the
                       Jacobian-QR chain driver and its checks, :func:`random_q0`
``flossing``           :func:`flossing_gradient` (local and exact), :func:`floss`,
                       :class:`FlossResult`
``gain``               :func:`lambda_max_vs_gain`, :class:`GainSweep`
=====================  ==========================================================

Every public name is re-exported here: ``from localrnn.lyapunov import X`` works
for all of them.  The figures live in :mod:`localrnn.plotting`; ``plot_spectrum``
and ``plot_lambda_vs_gain`` here are deprecated wrappers.
"""
from __future__ import annotations

import warnings

from .flossing import FlossResult, floss, flossing_gradient
from .gain import GainSweep, lambda_max_vs_gain
from .spectrum import (Q0_ORTHO_TOL, LyapunovResult, default_warmup, lyapunov_spectrum,
                       random_q0)

__all__ = ["LyapunovResult", "lyapunov_spectrum", "flossing_gradient", "FlossResult", "floss",
           "GainSweep", "lambda_max_vs_gain", "plot_spectrum", "plot_lambda_vs_gain",
           "default_warmup", "random_q0", "Q0_ORTHO_TOL"]


def _deprecated(name: str) -> None:
    warnings.warn(f"localrnn.lyapunov.{name} moved to localrnn.plotting.{name}; "
                  "import it from there", DeprecationWarning, stacklevel=3)


def plot_spectrum(result: LyapunovResult, ax=None, per_time: bool = False, label=None, **kw):
    """Deprecated: use :func:`localrnn.plotting.plot_spectrum` (same arguments)."""
    _deprecated("plot_spectrum")
    from ..plotting import plot_spectrum as impl
    return impl(result, ax=ax, per_time=per_time, label=label, **kw)


def plot_lambda_vs_gain(sweep: GainSweep, ax=None, label=None, **kw):
    """Deprecated: use :func:`localrnn.plotting.plot_lambda_vs_gain` (same arguments)."""
    _deprecated("plot_lambda_vs_gain")
    from ..plotting import plot_lambda_vs_gain as impl
    return impl(sweep, ax=ax, label=label, **kw)
