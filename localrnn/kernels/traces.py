"""e-prop / RFLO in the online eligibility-trace form (MODEL.md section 5).

Forward in time, over a stored trajectory, exactly as a streaming learner would
do it: used to check that the offline GEMM form (``backward.py`` with
``truncate=True``) is the same number.  The trace recursions are not written
here: each step calls the online kernel's per-step functions
(:func:`localrnn.kernels.online.trace_step_current` with
:func:`~localrnn.kernels.online.accumulate_current`, and
:func:`~localrnn.kernels.online.trace_step_rate`) on its extended layout
E = [traces of r (or a); of x; of 1], with learning rates 0 (no weight update).

Current form: traces are filtered presynaptic rates, O(N) per trial,

    ebar_k = (1 - alpha) ebar_{k-1} + alpha r_{k-1},  xbar_k likewise with x_k,
    bbar_k = (1 - alpha) bbar_{k-1} + alpha,
    L_k = phi'(h_k) * (F delta_k),
    gW += L_k ebar_k^T,  gW_in += L_k xbar_k^T,  gb += L_k bbar_k.

Rate form: synapse traces, O(N^2) per trial,

    p_ij,k = (1 - alpha) p_ij,k-1 + alpha phi'(u_i,k) a_j,k-1   (q_ik with x_k, pb_i with 1)
    L_k = F delta_k,   gW_ij += L_i,k p_ij,k.

``gW``, ``gW_in``, ``gb`` are accumulated into (the driver passes zeros).
"""
import numpy as np

from .._config import njit
from .common import apply_phi, dphi_from
from .online import accumulate_current, trace_step_current, trace_step_rate


@njit
def traces_current(DELTA, H, R, r0, X, FT, alpha, code, gW, gW_in, gb):
    T, B, N = H.shape
    I = X.shape[2]
    E = np.zeros((B, 1, N + I + 1), dtype=H.dtype)
    L = np.empty((B, N), dtype=H.dtype)
    for k in range(T):
        trace_step_current(E, r0 if k == 0 else R[k - 1], X[k], alpha)
        np.dot(DELTA[k], FT, L)
        for i in range(B):
            for n in range(N):
                L[i, n] *= dphi_from(H[k, i, n], R[k, i, n], code)
        # learning rates 0: accumulate only (the weight arguments are not touched)
        accumulate_current(E, L, gW, gW_in, gb, gW, gW_in, gb, True, I > 0, True, False,
                           0.0, 0.0, 0.0, 0)


@njit
def traces_rate(DELTA, U, A, a0, X, FT, alpha, code, gW, gW_in, gb):
    T, B, N = U.shape
    I = X.shape[2]
    E = np.zeros((B, N, N + I + 1), dtype=U.dtype)
    L = np.empty((B, N), dtype=U.dtype)
    phi_u = np.empty((B, N), dtype=U.dtype)
    d = np.empty(N, dtype=U.dtype)
    for k in range(T):
        np.dot(DELTA[k], FT, L)
        apply_phi(U[k], code, phi_u)
        # modes 2: update every trace and accumulate; learning rates 0: no weight update
        trace_step_rate(E, U[k], phi_u, a0 if k == 0 else A[k - 1], X[k], L, alpha, code, d,
                        gW, gW_in, gb, gW, gW_in, gb, 2, 2, 2, False, 0.0, 0.0, 0.0, 0)
