"""Named tolerances and helpers shared by the tests.

Tolerances (stumpy-style, with reasons):
* ``RTOL_EXACT = 1e-10``: float64 agreement between independent exact
  computations (kernels vs PyTorch, RTRL vs BPTT): only summation order differs.
* ``RTOL_F32 = 1e-5``: float32 kernels vs float64 over T ~ 20 steps of a
  contracting network; single precision has ~6e-8 unit round-off, amplified by
  the recursion and by cancellation in gradient sums (measured 2.6e-7 at most here).
* ``ATOL_UNIT_EXACT = 1e-10``: the absolute form of ``RTOL_EXACT`` for float64
  quantities of order one that pass through zero, where a relative test means nothing
  (Lyapunov exponents per step, entries of an orthonormal Q, network states in
  (-1, 1)): 1e-10 of their scale, 1.
* :func:`scale_atol`: for arrays with entries near zero (the loss of a step whose mask
  is zero is exactly 0), the absolute tolerance that makes ``rtol`` relative to the
  array's largest magnitude.
"""
import os
from pathlib import Path

import numpy as np
import pytest

RTOL_EXACT = 1e-10
RTOL_F32 = 1e-5
ATOL_UNIT_EXACT = 1e-10


def scale_atol(rtol: float, ref) -> float:
    """``rtol`` times the largest magnitude in ``ref``: an absolute tolerance on the
    scale of the array, for its entries near zero."""
    return rtol * float(np.max(np.abs(ref)))


def assert_grads_close(g1, g2, rtol=RTOL_EXACT, keys=("W_in", "W", "b", "W_out", "b_out")):
    """Every array agrees to ``rtol`` relative to its own largest entry."""
    for k in keys:
        a, b = np.asarray(g1[k]), np.asarray(g2[k])
        assert a.shape == b.shape, (k, a.shape, b.shape)
        if a.size == 0:
            continue
        scale = max(np.max(np.abs(b)), 1e-300)
        err = np.max(np.abs(a - b)) / scale
        assert err <= rtol, f"{k}: relative error {err:.3e} > {rtol:.1e}"


def make_problem(rng, n_in=2, n_rec=7, n_out=3, T=9, B=4, loss="mse", partial_mask=True):
    x = rng.standard_normal((T, B, n_in))
    if loss == "mse":
        y = rng.standard_normal((T, B, n_out))
        m = (rng.random((T, B, n_out)) < 0.6).astype(float) if partial_mask else np.ones((T, B, n_out))
    else:
        y = rng.integers(0, n_out, size=(T, B))
        m = (rng.random((T, B)) < 0.6).astype(float) if partial_mask else np.ones((T, B))
    m.flat[0] = 1.0
    return x, y, m


#: The real MNIST file the data and fixed-point tests read (outside the repository).
SHARED_MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist.npz"


def shared_file(path: Path) -> Path:
    """``path`` if it exists.  Missing: the calling test is skipped on a developer's
    machine and fails under ``CI=true`` (CI must run it, never skip it quietly)."""
    if Path(path).is_file():
        return Path(path)
    msg = f"{path} is not present"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (CI=true: this test must run, not be skipped)")
    pytest.skip(msg)
