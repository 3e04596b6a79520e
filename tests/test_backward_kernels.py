"""The current-form backward kernel against a NumPy reference in the kernel's own order.

``kernels.backward.backward_current`` runs tanh networks with up to 3 outputs and 3
inputs through one fused loop per row (``_fused_row``) and every other case through
separate loops (``_generic_row``); both claim the operations of the reference below,
in its order, so the results must agree bit for bit: the adjoint, Z, dL/db, dL/dW_in
and the readout's dL/dW_out and dL/db_out, truncated (e-prop/RFLO) and exact (BPTT,
whose recurrent products come from ``kernels.gemm.gemm_nn``, tested in test_gemm.py).
"""
import numpy as np
import pytest

from localrnn.kernels import backward as bw
from localrnn.kernels import gemm
from localrnn.kernels.common import RELU, TANH, TANH32


def reference(D, R, X, W, FT, alpha, truncate, relu):
    dt = R.dtype.type
    T, B, N = R.shape
    O, I = FT.shape[0], X.shape[2]
    al, keep = dt(alpha), dt(1.0 - alpha)
    a_next = np.zeros((B, N), R.dtype)
    rec = np.zeros((B, N), R.dtype)
    Z = np.empty_like(R)
    gb = np.zeros(N, R.dtype)
    gWinT = np.zeros((I, N), R.dtype)
    gWout = np.zeros((O, N), R.dtype)
    gbout = np.zeros(O, R.dtype)
    for k in range(T - 1, -1, -1):
        exact = not truncate and k < T - 1
        if exact:
            gemm.gemm_nn(a_next.copy(), W, rec)
        for i in range(B):
            r = R[k, i]
            fb = D[k, i, 0] * FT[0]
            for o in range(1, O):
                fb = fb + D[k, i, o] * FT[o]
            dp = np.where(r > 0, dt(1), dt(0)) if relu else dt(1) - r * r
            if exact:
                a = dp * (fb + al * rec[i]) + keep * a_next[i]
            else:
                a = dp * fb + keep * a_next[i]
            a_next[i] = a
            z = al * a
            Z[k, i] = z
            gb = gb + z
            for j in range(I):
                gWinT[j] = gWinT[j] + z * X[k, i, j]
            for o in range(O):
                gbout[o] = gbout[o] + D[k, i, o]
                gWout[o] = gWout[o] + D[k, i, o] * r
    return Z, gb, gWinT, gWout, gbout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("O,I", [(1, 0), (2, 1), (3, 3), (4, 1), (2, 5)])
@pytest.mark.parametrize("truncate", [True, False])
@pytest.mark.parametrize("relu", [False, True])
def test_backward_current_is_its_reference_bit_for_bit(dtype, O, I, truncate, relu):
    rng = np.random.default_rng(O * 100 + I * 10 + truncate)
    T, B, N = 6, 3, 19
    D = (rng.standard_normal((T, B, O)) * 0.1).astype(dtype)
    H = rng.standard_normal((T, B, N)).astype(dtype)
    R = np.maximum(H, 0) if relu else np.tanh(H).astype(dtype)
    X = rng.standard_normal((T, B, I)).astype(dtype)
    W = (rng.standard_normal((N, N)) / np.sqrt(N)).astype(dtype)
    FT = rng.standard_normal((O, N)).astype(dtype)
    code = RELU if relu else (TANH32 if dtype == np.float32 else TANH)
    Z = np.empty((T, B, N), dtype)
    sums = (np.empty(N, dtype), np.empty((I, N), dtype), np.empty((O, N), dtype), np.empty(O, dtype))
    bw.backward_current(D, H, R, np.zeros((B, N), dtype), X, W, FT, 0.3, code, truncate, False, Z,
                        np.empty((0, 0), dtype), *sums)
    ref = reference(D, R, X, W, FT, 0.3, truncate, relu)
    for got, want, name in zip((Z,) + sums, ref, ("Z", "gb", "gWinT", "gWout", "gbout")):
        np.testing.assert_array_equal(got, want, err_msg=name)
