"""Lyapunov spectra along trajectories (MODEL.md section 6): Benettin's QR chain.

The driver validates arguments, runs the network (:func:`localrnn.trajectories.run_trajectory`),
draws the random start Q_0, allocates, and calls the forward kernel of
:mod:`localrnn.kernels.lyapunov`, which loops over time and trials.  The helpers
listed in ``__all__`` after the user-facing names (the checks, the random start, the
Jacobian arguments, the QR-chain driver) are public for :mod:`localrnn.lyapunov.flossing`
and the benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._threads import step_blas_limit
from .._validate import check_array, check_number
from ..activations import activation_code
from ..kernels import lyapunov as _ly
from ..network import Network
from ..trajectories import (Trajectory, check_inputs, check_noise, check_state0,
                          run_trajectory)

__all__ = ["LyapunovResult", "lyapunov_spectrum", "default_warmup", "random_q0",
           # driver helpers shared with flossing.py and the benchmarks
           "Q0_ORTHO_TOL", "check_k", "check_warmup", "check_q0", "as_float64",
           "jacobian_args", "run_qr_chain", "summarise"]

#: largest allowed deviation of ``q0.T @ q0`` from the identity
Q0_ORTHO_TOL = 1e-8


# --------------------------------------------------------------------------- checks

def default_warmup(T: int) -> int:
    """The default number of warm-up steps: ``min(T // 10, 100)``."""
    return min(T // 10, 100)


def check_k(net: Network, k) -> int:
    N = net.n_rec
    k = check_number("k", k, integer=True)
    if k < 1 or k > N:
        raise ValueError(f"k={k} is out of range; allowed 1 <= k <= N = {N} (the number of units)")
    return k


def check_warmup(warmup, T: int) -> int:
    if warmup is None:
        return default_warmup(T)
    w = check_number("warmup", warmup, integer=True)
    if w < 0 or w >= T:
        raise ValueError(f"warmup={w} is out of range; allowed 0 <= warmup < T = {T} "
                         "(at least one step must be counted)")
    return w


def random_q0(N: int, k: int, seed, dtype) -> np.ndarray:
    """Q of a standard-normal N x k matrix (positive diag(R)), from ``default_rng(seed)``."""
    check_number("seed", seed, lo=0, integer=True)
    gauss = np.random.default_rng(seed).standard_normal((N, k))
    with step_blas_limit():  # a 2-thread BLAS stalls on a loaded machine (see _threads)
        q, r = np.linalg.qr(gauss)
    return (q * np.where(np.diag(r) < 0, -1.0, 1.0)).astype(dtype)


def as_float64(net: Network) -> Network:
    """The network in float64 (itself when it already is).

    Exponents are averages of logs over hundreds of steps and the exact flossing
    gradient runs back through the whole QR chain: both are computed in float64
    for every network (a float32 network's weights are converted exactly).  This
    also keeps one compiled specialisation of each kernel.
    """
    return net if net.dtype == np.float64 else net.astype("float64")


def check_q0(net: Network, q0, k: int, B: int, seed) -> np.ndarray:
    """Q_0^T for every trial: a C-contiguous (B, k, N) array."""
    N = net.n_rec
    if q0 is None:
        q = random_q0(N, k, seed, net.dtype)
    else:
        q = np.asarray(q0)
        if q.ndim == 2:
            q = check_array("q0", q, (N, k), np.float64)
        else:
            q = check_array("q0", q, (B, N, k), np.float64)
        with step_blas_limit():
            G = np.swapaxes(q, -1, -2) @ q
        err = float(np.max(np.abs(G - np.eye(k))))
        if err > Q0_ORTHO_TOL:
            raise ValueError(f"q0 has columns that are not orthonormal (max |q0^T q0 - I| = {err:.3g}); "
                             f"allowed up to {Q0_ORTHO_TOL:g}")
    qt = np.swapaxes(q, -1, -2)
    # a fresh writable copy: the kernel overwrites it with Q_T^T
    return np.array(np.broadcast_to(qt, (B, k, N)), dtype=net.dtype, order="C")


def jacobian_args(net: Network, tr: Trajectory):
    """(X, Y), both (T, B, N): X holds the argument of phi' in J_t, h_{t-1} (current
    form) or u_t (rate form); Y the rates r_{t-1} = phi(h_{t-1}) (current form; the
    rate form passes X again, unused)."""
    if net.form == "current":
        X = np.empty_like(tr.states)
        X[0] = tr.s0
        X[1:] = tr.states[:-1]
        return X, tr.prev()
    return tr.preacts, tr.preacts


def run_qr_chain(net: Network, X: np.ndarray, Y: np.ndarray, Qt: np.ndarray, warm: int, qr_every: int,
         mode: int, c: Optional[np.ndarray] = None):
    """One call of the forward kernel (X, Y from :func:`jacobian_args`); returns
    (logsum (B, k), GW, Qs, Rs)."""
    T, B, N = X.shape
    k = Qt.shape[1]
    dt = net.dtype
    logsum = np.zeros((B, k), dtype=dt)
    GW = np.zeros((N, N) if mode == 1 else (0, 0), dtype=dt)
    Qs = np.empty((T + 1, B, k, N) if mode == 2 else (0, 0, 0, 0), dtype=dt)
    Rs = np.empty((T, B, k, k) if mode == 2 else (0, 0, 0, 0), dtype=dt)
    cc = np.zeros(k, dtype=dt) if c is None else np.ascontiguousarray(c, dtype=dt)
    try:
        with step_blas_limit():
            _ly.lyap_forward(X, Y, net.W, net.alpha, net.form == "current",
                             activation_code(net.activation), Qt, warm, qr_every, mode, cc,
                             logsum, GW, Qs, Rs)
    except np.linalg.LinAlgError:
        # qr_pos refuses inf/nan (LinAlgError): the tangent vectors overflowed between QRs, or
        # the trajectory itself diverged.
        raise FloatingPointError(
            "the Lyapunov vectors became non-finite: the trajectory diverged"
            + (f" or they overflowed between QRs (qr_every={qr_every}; use a smaller value)"
               if qr_every > 1 else "")) from None
    return logsum, GW, Qs, Rs


# --------------------------------------------------------------------------- spectrum

@dataclass
class LyapunovResult:
    """The first k Lyapunov exponents of a network along its trajectories.

    Attributes
    ----------
    exponents : (k,) array
        Exponents per step (natural log), averaged over the trials, sorted descending.
    exponents_std : (k,) array
        Their standard deviation over the trials (``ddof=1``; zeros for one trial),
        in the same order.
    per_trial : (B, k) array
        Each trial's exponents, columns in the order of ``exponents``.
    dt : float
        The time step used for the per-unit-time values.
    warmup, n_counted, qr_every : int
        Warm-up steps (orthonormalised, not counted), counted steps ``T - warmup``,
        steps between QR factorisations.
    Q : (B, N, k) array
        Q_T of every trial (columns in the order of the QR, not sorted): pass it as
        ``q0`` to continue along the next stretch of a trajectory.
    """

    exponents: np.ndarray
    exponents_std: np.ndarray
    per_trial: np.ndarray
    dt: float
    warmup: int
    n_counted: int
    qr_every: int
    Q: np.ndarray = field(repr=False)

    @property
    def k(self) -> int:
        return self.exponents.shape[0]

    @property
    def exponents_per_time(self) -> np.ndarray:
        """Exponents per unit time: ``exponents / dt``."""
        return self.exponents / self.dt

    @property
    def exponents_per_time_std(self) -> np.ndarray:
        return self.exponents_std / self.dt

    @property
    def lambda_max(self) -> float:
        """The largest exponent (per step)."""
        return float(self.exponents[0])


def summarise(lam_trials: np.ndarray, dt: float, warm: int, n_counted: int, qr_every: int,
               Qt: np.ndarray) -> LyapunovResult:
    mean = lam_trials.mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    B = lam_trials.shape[0]
    std = lam_trials.std(axis=0, ddof=1) if B > 1 else np.zeros_like(mean)
    return LyapunovResult(exponents=mean[order], exponents_std=std[order],
                          per_trial=np.ascontiguousarray(lam_trials[:, order]), dt=dt,
                          warmup=warm, n_counted=n_counted, qr_every=qr_every,
                          Q=np.ascontiguousarray(np.swapaxes(Qt, 1, 2)))


def lyapunov_spectrum(net: Network, inputs, k: int, warmup: Optional[int] = None, qr_every: int = 1,
                      q0=None, seed: int = 0, h0=None, noise=None,
                      dt: Optional[float] = None) -> LyapunovResult:
    """The first k Lyapunov exponents along the network's trajectories (MODEL.md section 6).

    Benettin's algorithm with QR re-orthonormalisation (Vogt et al. 2022; Engelken
    2023): starting from Q_0 (N x k, orthonormal columns), for t = 1..T

        Qtilde = J_t Q_{t-1},   Q_t R_t = Qtilde  (QR with diag(R_t) > 0),
        lambda_i = 1 / (T - T_warm) * sum_{t > T_warm} log R_t[i, i]

    with the state Jacobian ``J_t = (1 - alpha) I + alpha W diag(phi'(h_{t-1}))``
    (current form) or ``(1 - alpha) I + alpha diag(phi'(u_t)) W`` (rate form), along
    the trajectory driven by ``inputs``, each trial separately; the exponents are
    then averaged over the trials.

    Parameters
    ----------
    net : Network
    inputs : (T, B, I) array
        ``inputs[t-1]`` is x_t; one trajectory per trial b.
    k : int
        Number of exponents, 1 <= k <= N.
    warmup : int, optional
        T_warm: the first ``warmup`` steps are propagated and orthonormalised but not
        counted (0 <= warmup < T).  Default ``min(T // 10, 100)``.
    qr_every : int
        Steps between QR factorisations (default 1, every step).  With m > 1, the
        products J_t ... J_{s+1} Q_s are accumulated without orthonormalisation and
        factorised at the steps t with ``(t - warmup) % m == 0`` and at t = T, so one
        QR falls on t = warmup and the counted factorisations cover exactly the steps
        warmup < t <= T; each log R_ii then stands for its whole block of steps, and
        the sum is still divided by ``T - warmup``.  Large m can overflow in chaotic
        networks (growth of e^(m lambda_max)).
    q0 : (N, k) or (B, N, k) array, optional
        Q_0 with orthonormal columns (checked to 1e-8); replaces the random start.
    seed : int
        Seed of the random start: Q_0 is the Q factor of an N x k standard-normal
        matrix from ``numpy.random.default_rng(seed)``, the same for every trial.
    h0 : (B, N) or (N,) array, optional
        Initial state (zeros by default).
    noise : (T, B, N) array, optional
        State noise of the trajectory (see :func:`localrnn.forward`).
    dt : float, optional
        Time step for the per-unit-time exponents; default ``alpha``, i.e. time in
        units of tau.

    Returns
    -------
    LyapunovResult
        ``exponents`` (per step, sorted descending, trial average) with
        ``exponents_std`` beside it, ``exponents_per_time``, ``per_trial``.

    Notes
    -----
    One kernel call runs all trials: per step, one GEMM of W with the B*k vectors,
    then one QR per trial (LAPACK geqrf/orgqr), in place on the transposed vectors.
    With W = 0 every exponent is log(1 - alpha); for a linear network with normal
    W the exponents are log|eig((1 - alpha) I + alpha W)|; for k = N their sum is
    the average of log|det J_t| over the counted steps.

    Examples
    --------
    >>> import numpy as np
    >>> from localrnn import Network
    >>> net = Network.init(1, 32, 1, gain=0.0, alpha=0.5)
    >>> res = lyapunov_spectrum(net, np.zeros((50, 2, 1)), k=3)
    >>> np.allclose(res.exponents, np.log(0.5))
    True
    """
    net = as_float64(net)
    x = check_inputs(net, inputs)
    T, B, _ = x.shape
    k = check_k(net, k)
    warm = check_warmup(warmup, T)
    qr_every = check_number("qr_every", qr_every, lo=1, integer=True)
    dt = net.alpha if dt is None else check_number("dt", dt, lo=0.0, lo_open=True)
    s0 = check_state0(net, h0, B)
    nz, has = check_noise(net, noise, T, B)
    Qt = check_q0(net, q0, k, B, seed)
    tr = run_trajectory(net, x, s0, nz, has)
    logsum = run_qr_chain(net, *jacobian_args(net, tr), Qt, warm, qr_every, mode=0)[0]
    n = T - warm
    return summarise(logsum / n, dt, warm, n, qr_every, Qt)
