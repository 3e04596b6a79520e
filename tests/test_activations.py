"""The kernels' own tanh against libm: the ulp bounds the module docstring of
localrnn/kernels/common.py states (its formula is ours, so its accuracy is ours to test)."""
import numpy as np
import pytest

from localrnn._config import njit
from localrnn.kernels.common import RETANH, RETANH32, TANH, TANH32, apply_phi, leak_coefs, tanh32, tanh64


@njit
def _phi_rows(x, code, out):
    apply_phi(x, code, out)


def _points(dtype):
    """Dense over the range that matters, log-spaced down to the smallest normals, both
    signs, the saturation point and beyond, zeros and infinities."""
    tiny = np.finfo(dtype).tiny
    pos = np.concatenate([np.linspace(0.0, 25.0, 400_001), np.geomspace(tiny, 25.0, 200_000),
                          [1e3, 1e30, np.finfo(dtype).max, np.inf]])
    return np.concatenate([pos, -pos]).astype(dtype)


def _ulp_error(got, ref, dtype):
    """|got - ref| in units of the spacing of ``dtype`` at |ref| (ref in float64)."""
    sp = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / sp


@pytest.mark.parametrize("dtype,code,bound", [(np.float64, TANH, 4.0), (np.float32, TANH32, 3.0)])
def test_tanh_is_within_its_ulp_bound_of_libm(dtype, code, bound):
    x = _points(dtype)
    out = np.empty((1, x.size), dtype=dtype)
    _phi_rows(x.reshape(1, -1), code, out)
    ref = np.tanh(x.astype(np.float64))
    err = _ulp_error(out[0], ref, dtype)
    print(f"max {err.max():.2f} ulp, mean {err.mean():.3f} ulp")
    assert err.max() <= bound, (float(err.max()), float(x[np.argmax(err)]))
    assert err.mean() < 0.2                       # almost everywhere correctly rounded
    assert np.all(np.abs(out) <= 1.0)             # never outside [-1, 1]
    nz = x != 0
    assert np.array_equal(np.signbit(out[0][nz]), np.signbit(x[nz]))   # odd (tanh(-0.0) is +0.0)
    assert np.all(out[0][~nz] == 0.0)
    assert np.all(out[0][np.abs(x) >= 20.0] == np.sign(x[np.abs(x) >= 20.0]))   # saturates


@pytest.mark.parametrize("dtype,code", [(np.float64, RETANH), (np.float32, RETANH32)])
def test_retanh_is_tanh_on_the_positive_side_and_zero_elsewhere(dtype, code):
    x = _points(dtype)
    t = np.empty((1, x.size), dtype=dtype)
    out = np.empty((1, x.size), dtype=dtype)
    _phi_rows(x.reshape(1, -1), TANH if dtype == np.float64 else TANH32, t)
    _phi_rows(x.reshape(1, -1), code, out)
    assert np.array_equal(out[0][x > 0], t[0][x > 0])   # the same formula, the same bits
    assert np.all(out[0][x <= 0] == 0.0)


@njit
def _one_pass_rates(H, code, R):
    """The forward's rates as one pass of the scalar tanh per element (as before the
    forward ran tanh in two passes)."""
    for k in range(H.shape[0]):
        for i in range(H.shape[1]):
            for n in range(H.shape[2]):
                R[k, i, n] = tanh32(H[k, i, n]) if code == TANH32 else tanh64(H[k, i, n])


@njit
def _one_pass_rate_form(A, U, alpha, code, out):
    al, keep = leak_coefs(alpha, A)
    for k in range(U.shape[0]):
        for i in range(U.shape[1]):
            for n in range(U.shape[2]):
                t = tanh32(U[k, i, n]) if code == TANH32 else tanh64(U[k, i, n])
                out[k, i, n] = keep * A[k, i, n] + al * t


@pytest.mark.parametrize("dtype,code", [(np.float64, TANH), (np.float32, TANH32)])
def test_forward_two_pass_tanh_gives_the_scalar_tanh_bits(dtype, code):
    """forward_current/forward_rate run tanh over a step in two passes (reduced argument
    and exponent stored between them: kernels/forward.py); every rate is the one-pass
    scalar tanh's, bit for bit, over states from 0 to saturation, both signs."""
    from localrnn.kernels.forward import forward_current, forward_rate

    T, B, N, I, O = 7, 5, 19, 2, 2
    rng = np.random.default_rng(7)
    X = (4.0 * rng.standard_normal((T, B, I))).astype(dtype)
    W_in = (3.0 * rng.standard_normal((N, I))).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    W = (3.0 * rng.standard_normal((N, N)) / np.sqrt(N)).astype(dtype)
    h0 = (5.0 * rng.standard_normal((B, N))).astype(dtype)
    W_out, b_out = rng.standard_normal((O, N)).astype(dtype), np.zeros(O, dtype)
    nz = np.zeros((0, 0, 0), dtype)
    H, R, Y = np.empty((T, B, N), dtype), np.empty((T + 1, B, N), dtype), np.empty((T, B, O), dtype)
    forward_current(X, W_in, b, W, 0.5, code, h0, nz, False, H, R, W_out, b_out, Y)
    ref = np.empty_like(H)
    _one_pass_rates(H, code, ref)
    assert np.abs(H).max() > 10 and np.abs(H).min() < 0.1       # the whole range
    np.testing.assert_array_equal(R[1:], ref)
    A, U = np.empty((T + 1, B, N), dtype), np.empty((T, B, N), dtype)
    forward_rate(X, W_in, b, W, 0.5, code, np.tanh(h0), nz, False, A, U, W_out, b_out, Y)
    _one_pass_rate_form(A[:-1], U, 0.5, code, ref)
    np.testing.assert_array_equal(A[1:], ref)
