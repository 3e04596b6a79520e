"""The Lyapunov kernel's QR (``kernels.lyapunov.qr_pos``: LAPACK ?geqrf + ?orgqr called
directly, signs fixed so that diag(R) > 0) against ``numpy.linalg.qr``.

Tolerance.  Both run LAPACK's geqrf + orgqr, but ``numpy.linalg.qr`` goes through
NumPy's own LAPACK (lapack_lite over NumPy's bundled OpenBLAS) and ``qr_pos`` through
``scipy.linalg.cython_lapack`` (SciPy's bundled OpenBLAS): two builds, possibly of
different versions or CPU kernels, so the summation order inside dnrm2/dgemv may
differ and the results agree to rounding, not bit for bit (they happened to be
bit-identical on the machine this was written on).  The matrices are well conditioned
(fixed seeds; at most cond ~ 1e2), so Q and R agree to ``RTOL_QR`` relative to their
largest entry, and Q^T Q = I to ``TOL_ORTHO``.
"""
import numpy as np
import pytest

from localrnn.kernels.lyapunov import qr_pos, qr_workspace

#: Q and R against numpy.linalg.qr, relative to the largest entry
RTOL_QR = 1e-13
#: max |Q^T Q - I|
TOL_ORTHO = 1e-13
#: float32 against float64 (unit round-off 6e-8, times N and cond)
RTOL_QR_F32 = 1e-5

SHAPES = [(9, 4), (12, 1), (1, 1), (16, 16), (7, 7), (256, 10)]


def reference(A):
    """numpy.linalg.qr of A (N x k) with the signs moved so that diag(R) > 0."""
    q, r = np.linalg.qr(A)
    s = np.where(np.diag(r) < 0, -1.0, 1.0)
    return q * s, r * s[:, None]


def ours(A, dtype=np.float64):
    """qr_pos on the (k, N) transposed layout the kernel stores; returns (Q, R)."""
    At = np.array(A.T, dtype=dtype, order="C")  # a copy: qr_pos overwrites it with Q^T
    R = np.full((A.shape[1],) * 2, np.nan, dtype=dtype)
    qr_pos(At, R, qr_workspace(At))
    return At.T, R


def rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("N,k", SHAPES)
def test_qr_pos_matches_numpy(N, k):
    A = np.random.default_rng(N * 100 + k).standard_normal((N, k))
    assert np.linalg.cond(A) < 1e3  # the tolerance below assumes a well-conditioned A
    Q, R = ours(A)
    Qr, Rr = reference(A)
    assert rel(Q, Qr) <= RTOL_QR
    assert rel(R, Rr) <= RTOL_QR
    assert np.max(np.abs(Q.T @ Q - np.eye(k))) <= TOL_ORTHO
    assert np.max(np.abs(Q @ R - A)) <= RTOL_QR * np.max(np.abs(A)) * k
    assert np.all(np.diag(R) > 0)
    assert np.all(R[np.tril_indices(k, -1)] == 0.0)  # below the diagonal: zeros, not stale work


def test_qr_pos_negative_diagonal():
    """A matrix whose LAPACK R has negative diagonal entries (Householder picks
    beta = -sign(a_11) ||x||): the sign fix must flip exactly those rows of R and
    columns of Q."""
    A = np.random.default_rng(5).standard_normal((8, 3))
    A[0] = np.abs(A[0]) + 3.0  # a positive first row: LAPACK's R_11 < 0
    q, r = np.linalg.qr(A)
    assert np.any(np.diag(r) < 0)
    Q, R = ours(A)
    Qr, Rr = reference(A)
    assert rel(Q, Qr) <= RTOL_QR and rel(R, Rr) <= RTOL_QR
    assert np.all(np.diag(R) > 0)


def test_workspace_reused():
    """One workspace for many QRs (as lyap_forward does): the same as a fresh one each time.
    The same computation run twice, so bit-identical."""
    rng = np.random.default_rng(1)
    N, k = 11, 4
    mats = [rng.standard_normal((k, N)) for _ in range(3)]
    ws = qr_workspace(mats[0])
    R = np.empty((k, k))
    for M in mats:
        At = M.copy()
        qr_pos(At, R, ws)
        Q1, R1 = ours(M.T)
        np.testing.assert_array_equal(At.T, Q1)
        np.testing.assert_array_equal(R, R1)


def test_float32():
    A = np.random.default_rng(2).standard_normal((20, 5))
    Q, R = ours(A, np.float32)
    assert Q.dtype == np.float32 and R.dtype == np.float32
    Qr, Rr = reference(A.astype(np.float32).astype(np.float64))
    assert rel(Q, Qr) <= RTOL_QR_F32 and rel(R, Rr) <= RTOL_QR_F32
    assert np.max(np.abs(Q.T.astype(np.float64) @ Q - np.eye(5))) <= RTOL_QR_F32


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(bad):
    """As numpy.linalg.qr inside Numba did: LinAlgError, which the drivers turn into
    a FloatingPointError (tests/test_lyapunov.py checks that end to end)."""
    At = np.random.default_rng(3).standard_normal((3, 6))
    At[2, 4] = bad
    with pytest.raises(np.linalg.LinAlgError, match="infs or NaNs"):
        qr_pos(At, np.empty((3, 3)), qr_workspace(At))


def test_bad_shapes():
    with pytest.raises(ValueError, match="1 <= k <= N"):
        qr_workspace(np.zeros((5, 4)))
    ws = qr_workspace(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="workspace's shape"):
        qr_pos(np.ones((3, 7)), np.empty((3, 3)), ws)
    with pytest.raises(ValueError, match="C-contiguous"):
        qr_pos(np.ones((6, 3)).T, np.empty((3, 3)), ws)
