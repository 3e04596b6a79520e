"""The register-tiled products of :mod:`localrnn.kernels.gemm` against exact arithmetic.

Their documented arithmetic is one fused multiply-add per term, summed over k in
increasing order from 0 -- independent of the tile shape, the vector width and the
blocking of k.  The reference below computes exactly that with rational numbers, each
multiply-add rounded once to the array's precision (round to nearest, ties to even),
so the products must agree with it bit for bit on every shape: whole tiles, the row
and column remainders, the scalar tail, k = 0 and a k spanning several blocks.
"""
from fractions import Fraction

import numpy as np
import pytest

from localrnn.kernels import gemm


def _round(x: Fraction, dtype) -> float:
    """x rounded once to ``dtype`` (nearest, ties to even)."""
    f = dtype(float(x))          # within one ulp of the nearest (float64 first for float32)
    cands = [f, np.nextafter(f, dtype(np.inf)), np.nextafter(f, dtype(-np.inf))]
    dist = [abs(Fraction(float(c)) - x) for c in cands]
    best = min(dist)
    ties = [c for c, d in zip(cands, dist) if d == best]
    if len(ties) > 1:
        ties = [c for c in ties if int(np.frombuffer(c.tobytes(), np.uint32 if dtype == np.float32
                                                     else np.uint64)[0]) % 2 == 0]
    return ties[0]


def sequential_fma(At, Bm, dtype):
    """C[i, j] = fma(A[i, K-1], B[K-1, j], ... fma(A[i, 0], B[0, j], 0)), A = At^T."""
    K, M = At.shape
    N = Bm.shape[1]
    C = np.zeros((M, N), dtype)
    for i in range(M):
        for j in range(N):
            s = dtype(0.0)
            for k in range(K):
                s = _round(Fraction(float(At[k, i])) * Fraction(float(Bm[k, j])) + Fraction(float(s)), dtype)
            C[i, j] = s
    return C


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (3, 0, 5), (gemm.MR, 7, 16), (gemm.MR + 3, 5, 2 * 16 + 8 + 3),
                                   (2, gemm.K_BLOCK + 9, 9), (gemm.MR * 2, 3, 64),
                                   (2 * gemm.MR - 1, gemm.K_BLOCK + 2, 16 + 5)])
def test_products_are_the_sequential_fma_sum(dtype, M, K, N):
    rng = np.random.default_rng(M * 10007 + K * 101 + N)
    A = rng.standard_normal((M, K)).astype(dtype)
    Bm = rng.standard_normal((K, N)).astype(dtype)
    ref = sequential_fma(np.ascontiguousarray(A.T), Bm, dtype)
    C = np.full((M, N), np.nan, dtype)
    gemm.gemm_nn(A, Bm, C)
    np.testing.assert_array_equal(C, ref)
    C2 = np.full((M, N), np.nan, dtype)
    gemm.gemm_tn(np.ascontiguousarray(A.T), Bm, C2)
    np.testing.assert_array_equal(C2, ref)


def test_rounding_reference_is_single_rounding():
    """The reference rounds once: 1 + 2^-24 + 2^-60 is above the float32 midpoint
    1 + 2^-24, so it rounds up, where float64 first would land on the midpoint and tie
    to even (down)."""
    x = Fraction(1) + Fraction(1, 2 ** 24) + Fraction(1, 2 ** 60)
    assert _round(x, np.float32) == np.nextafter(np.float32(1), np.float32(2))
    assert np.float32(float(x)) == np.float32(1)


def lane_dot_reference(a, b, dtype):
    """row_dot's definition: V lane sums (lane l: one rounded multiply-add per term
    a[l + cV] b[l + cV], in order), the lanes added in halves (l + V/2, then l + V/4, ...),
    then the elements past the last whole vector, one multiply-add each."""
    V = 16 if dtype == np.float32 else 8
    n = len(a)
    full = n - n % V
    lanes = [dtype(0.0)] * V
    for c in range(0, full, V):
        for lane in range(V):
            lanes[lane] = _round(Fraction(float(a[c + lane])) * Fraction(float(b[c + lane]))
                                 + Fraction(float(lanes[lane])), dtype)
    while len(lanes) > 1:
        h = len(lanes) // 2
        lanes = [_round(Fraction(float(lanes[i])) + Fraction(float(lanes[i + h])), dtype) for i in range(h)]
    s = lanes[0]
    for m in range(full, n):
        s = _round(Fraction(float(a[m])) * Fraction(float(b[m])) + Fraction(float(s)), dtype)
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 16, 37, 64])
def test_row_dot_is_its_lane_order(dtype, n):
    """The readout's dot products (gemm.row_dot) follow their documented order exactly,
    so they give the same bits on every CPU with FMA."""
    from numba import njit

    @njit(cache=False)
    def dots(A, Bm, out):
        for i in range(A.shape[0]):
            for j in range(Bm.shape[0]):
                out[i, j] = gemm.row_dot(A, i, Bm, j)

    rng = np.random.default_rng(n)
    A = rng.standard_normal((3, n)).astype(dtype)
    Bm = rng.standard_normal((2, n)).astype(dtype)
    out = np.empty((3, 2), dtype)
    dots(A, Bm, out)
    ref = np.array([[lane_dot_reference(A[i], Bm[j], dtype) for j in range(2)] for i in range(3)], dtype)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 16, 37, 64])
def test_row_dots_are_row_dot_four_at_a_time(dtype, n):
    """gemm.row_dots (the readout's DOT_ROWS interleaved sums) gives each sum in
    row_dot's documented order, and the readout (kernels.forward.readout: rows in
    fours, then one by one) the same bits for a batch that is not a multiple of four."""
    from numba import njit

    from localrnn.kernels.forward import readout

    @njit(cache=False)
    def dots(A, i0, Bm, j):
        return gemm.row_dots(A, i0, Bm, j)

    assert gemm.DOT_ROWS == 4
    rng = np.random.default_rng(n)
    A = rng.standard_normal((6, n)).astype(dtype)
    Bm = rng.standard_normal((2, n)).astype(dtype)
    for i0 in (0, 2):
        for j in range(2):
            got = np.array(dots(A, i0, Bm, j), dtype)
            ref = np.array([lane_dot_reference(A[i0 + r], Bm[j], dtype) for r in range(4)], dtype)
            np.testing.assert_array_equal(got, ref)
    b = rng.standard_normal(2).astype(dtype)
    Y = np.empty((1, 6, 2), dtype)
    readout(A[None], Bm, b, Y)
    ref = np.array([[lane_dot_reference(A[i], Bm[j], dtype) + b[j] for j in range(2)] for i in range(6)], dtype)
    np.testing.assert_array_equal(Y[0], ref)
