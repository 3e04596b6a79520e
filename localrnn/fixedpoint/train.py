"""Training a fixed-point network on MNIST (Zhu & Rosenbaum 2023, MODEL.md section 8).

``N`` rate units ``r* = tanh(W r* + W_x x)``, logits ``R r*``, cross-entropy;
only ``W`` is trained (``W_x`` and ``R`` stay fixed), by plain SGD on batches
of 512 for 3 epochs in the original.  Initialisation: ``W = 0.5 Z / sqrt(N)``,
``W_x = Z / sqrt(784)``, ``R = Z / sqrt(N)`` (10 x N).

Because ``W_x`` is fixed, the input drive ``U = X W_x^T`` of every image is
computed once per problem (:func:`mnist_problem`) and shared by all runs of a
grid; each training step then costs only the fixed-point solve and the rule.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import numpy as np

from .._threads import step_blas_limit
from .._validate import (check_array, check_choice, check_dtype, check_labels, check_memory_bytes,
                         check_number)
from ..optim import OPTIMIZERS, make_optimizer
from .rules import check_rule_solver, cross_entropy_checked, update_checked
from .solver import DEFAULT_TOL, SOLVERS, solve_checked

N_PIXELS = 784
N_CLASSES = 10
HISTORY_KEYS = ("iteration", "epoch", "loss", "accuracy", "solver_iter", "n_unconverged",
                "max_residual", "adjoint_unconverged", "max_re_eig")


@dataclass(frozen=True)
class MNISTProblem:
    """Fixed weights, initial ``W`` and the precomputed input drives.

    ``U_train`` (n, N) and ``U_test`` (m, N) are ``x @ W_x.T``; ``config``
    records ``n_rec, gain, seed, dtype, n_train, n_test``.
    """

    W0: np.ndarray
    W_x: np.ndarray
    R: np.ndarray
    U_train: np.ndarray
    y_train: np.ndarray
    U_test: np.ndarray
    y_test: np.ndarray
    config: dict = field(default_factory=dict)


@dataclass
class FixedPointRun:
    """One training run (:func:`train_mnist`).

    ``history`` maps each of ``HISTORY_KEYS`` to an array with one entry per
    iteration (``max_re_eig`` is NaN where it was not computed); ``train`` and
    ``test`` are :func:`evaluate` of the final ``W`` on the whole training and
    test sets (``train`` is ``None`` when not asked for); ``diverged_at`` is
    the first iteration with a non-finite loss or update, else ``None``.
    """

    rule: str
    lr: float
    W: np.ndarray
    history: Dict[str, np.ndarray]
    train: Optional[dict]
    test: dict
    max_re_eig: float
    seconds: float
    diverged_at: Optional[int]
    settings: dict


def mnist_problem(data, *, n_rec: int = 300, gain: float = 0.5, seed: int = 0, dtype="float32",
                  n_train: int | None = None, n_test: int | None = None) -> MNISTProblem:
    """Draw the network and precompute the input drives for MNIST.

    Parameters
    ----------
    data : dict
        :func:`localrnn.data.load_mnist` output (``x_*`` (n, 784) in [0, 1], ``y_*``).
    n_rec : int
        N, the number of recurrent units (the original: 300).
    gain : float
        ``W0 = gain * Z / sqrt(N)`` (the original: 0.5).
    seed : int
        ``numpy.random.default_rng(seed)`` draws W0, W_x, R in that order.
    dtype : {"float32", "float64"}
        Working precision of training (float32, as the original PyTorch code).
    n_train, n_test : int, optional
        Use only the first so many images of each split.
    """
    n_rec = check_number("n_rec", n_rec, lo=1, integer=True)
    gain = check_number("gain", gain, lo=0.0)
    seed = check_number("seed", seed, lo=0, integer=True)
    dt = check_dtype(dtype)
    n_img = (len(data["y_train"]) if n_train is None else n_train) + \
        (len(data["y_test"]) if n_test is None else n_test) if "y_train" in data and "y_test" in data else 0
    check_memory_bytes(8.0 * (n_rec * n_rec + n_rec * N_PIXELS + N_CLASSES * n_rec)
                       + dt.itemsize * n_rec * n_img, f"n_rec={n_rec}")
    for k in ("x_train", "y_train", "x_test", "y_test"):
        if k not in data:
            raise ValueError(f"data lacks {k!r}; pass the dict returned by localrnn.data.load_mnist")
    x_tr, y_tr, x_te, y_te = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    if n_train is not None:
        n_train = check_number("n_train", n_train, lo=1, hi=len(y_tr), integer=True)
        x_tr, y_tr = x_tr[:n_train], y_tr[:n_train]
    if n_test is not None:
        n_test = check_number("n_test", n_test, lo=1, hi=len(y_te), integer=True)
        x_te, y_te = x_te[:n_test], y_te[:n_test]
    x_tr = check_array("x_train", x_tr, (None, N_PIXELS), dt)
    x_te = check_array("x_test", x_te, (None, N_PIXELS), dt)
    y_tr = check_labels("y_train", y_tr, (x_tr.shape[0],), N_CLASSES)
    y_te = check_labels("y_test", y_te, (x_te.shape[0],), N_CLASSES)
    rng = np.random.default_rng(seed)
    N = n_rec
    W0 = (gain * rng.standard_normal((N, N)) / np.sqrt(N)).astype(dt)
    W_x = (rng.standard_normal((N, N_PIXELS)) / np.sqrt(N_PIXELS)).astype(dt)
    R = (rng.standard_normal((N_CLASSES, N)) / np.sqrt(N)).astype(dt)
    cfg = dict(n_rec=N, gain=gain, seed=seed, dtype=dt.name, n_train=int(x_tr.shape[0]),
               n_test=int(x_te.shape[0]))
    return MNISTProblem(W0, W_x, R, x_tr @ W_x.T, y_tr, x_te @ W_x.T, y_te, cfg)


def max_re_eig(W) -> float:
    """Largest real part of the eigenvalues of ``W`` (computed in float64)."""
    return float(np.max(np.linalg.eigvals(np.asarray(W, dtype=np.float64)).real))


def evaluate(problem: MNISTProblem, W, split: str = "test", *, solver: str = "converge",
             tol: float | None = None, max_iter: int = 200, memory: int = 5,
             eta_d: float = 0.01, n_steps: int = 500, chunk: int = 2048) -> dict:
    """Mean cross-entropy and accuracy of ``W`` on a whole split, solved in chunks.

    Returns ``dict(loss, accuracy, n, n_unconverged, max_residual)``.
    """
    check_choice("split", split, ("train", "test"))
    kw = _solver_kw(problem, solver, tol, max_iter, memory, eta_d, n_steps)
    chunk = check_number("chunk", chunk, lo=1, integer=True)
    U, y = (problem.U_train, problem.y_train) if split == "train" else (problem.U_test, problem.y_test)
    W = check_array("W", W, problem.W0.shape, U.dtype)
    with step_blas_limit():
        return _evaluate(problem.R, W, U, y, kw, chunk)


def _solver_kw(problem, solver, tol, max_iter, memory, eta_d, n_steps):
    check_choice("solver", solver, SOLVERS)
    dt = problem.U_train.dtype
    return dict(
        solver=solver,
        tol=DEFAULT_TOL[dt] if tol is None else check_number("tol", tol, lo=0.0, lo_open=True),
        max_iter=check_number("max_iter", max_iter, lo=1, integer=True),
        memory=check_number("memory", memory, lo=0, hi=50, integer=True),
        eta_d=check_number("eta_d", eta_d, lo=0.0, hi=1.0, lo_open=True),
        n_steps=check_number("n_steps", n_steps, lo=0, integer=True))


def _evaluate(R, W, U, y, kw, chunk=2048):
    loss_sum, correct, n_bad, max_res = 0.0, 0.0, 0, 0.0
    for s in range(0, U.shape[0], chunk):
        fp = solve_checked(W, U[s:s + chunk], kw["solver"], kw["tol"], kw["max_iter"], kw["memory"], 64,
                    kw["eta_d"], kw["n_steps"])
        L, acc, _ = cross_entropy_checked(R, fp.r, y[s:s + chunk])
        k = fp.r.shape[0]
        loss_sum += L * k
        correct += acc * k
        n_bad += fp.n_unconverged
        max_res = max(max_res, fp.max_residual)
    n = U.shape[0]
    return dict(loss=loss_sum / n, accuracy=correct / n, n=int(n), n_unconverged=int(n_bad),
                max_residual=float(max_res))


def check_train_args(problem: MNISTProblem, rule: str, lr: float, *, batch: int = 512,
                     epochs: int = 3, solver: str = "converge", tol: float | None = None,
                     max_iter: int = 200, memory: int = 5, eta_d: float = 0.01, n_steps: int = 500,
                     optimizer: str = "sgd", eig_every: int = 10) -> dict:
    """Validate the arguments of :func:`train_mnist` for ``problem`` (the one place
    they are checked); returns them as a dict with ``tol`` resolved to the dtype's
    default.  Raises ``ValueError`` naming the bad value and what is allowed."""
    check_rule_solver(rule, solver)
    kw = _solver_kw(problem, solver, tol, max_iter, memory, eta_d, n_steps)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = check_number("lr", lr, lo=0.0, lo_open=True)
    batch = check_number("batch", batch, lo=1, integer=True)
    epochs = check_number("epochs", epochs, lo=1, integer=True)
    eig_every = check_number("eig_every", eig_every, lo=1, integer=True)
    if not np.all(np.isfinite(problem.W0)):
        raise ValueError("problem.W0 has non-finite entries")
    n = problem.U_train.shape[0]
    if batch > n:
        raise ValueError(f"batch={batch} is larger than the {n} training images")
    # the history (HISTORY_KEYS per iteration) and a metrics.csv row per iteration
    check_memory_bytes((n // batch) * epochs * (8.0 * len(HISTORY_KEYS) + 400), f"epochs={epochs}")
    if rule == "bptt":   # checkpoints every K = ceil(sqrt(n_steps)) steps plus one segment (two arrays)
        K = max(1, math.ceil(math.sqrt(max(kw["n_steps"], 1))))
        check_memory_bytes(8.0 * (kw["n_steps"] // K + 1 + 2 * K) * batch * problem.W0.shape[0],
                           f"rule bptt with n_steps={kw['n_steps']}")
    return dict(rule=rule, lr=lr, batch=batch, epochs=epochs, optimizer=optimizer,
                eig_every=eig_every, **kw)


def train_mnist(problem: MNISTProblem, rule: str, lr: float, *, batch: int = 512, epochs: int = 3,
                solver: str = "converge", tol: float | None = None, max_iter: int = 200,
                memory: int = 5, eta_d: float = 0.01, n_steps: int = 500, optimizer: str = "sgd",
                eig_every: int = 10, evaluate_train: bool = True,
                callback: Callable[[int, float], None] | None = None) -> FixedPointRun:
    """Train ``W`` with one rule and learning rate (Zhu & Rosenbaum 2023).

    Each epoch visits the training set in a fresh random order (drawn from
    ``default_rng([seed, 1])``, the same for every rule and learning rate) in
    ``n_train // batch`` batches (a last partial batch is dropped: 117 per epoch
    for 60000 images and batch 512).  Per batch: solve the fixed points
    (``solver``), record loss and accuracy there, evaluate ``rule``
    (:func:`localrnn.fixedpoint.compute_update`) and step the optimiser
    (:func:`localrnn.optim.make_optimizer`; plain SGD as in the original).
    ``max Re eig(W)`` is recorded every ``eig_every`` iterations and at the end.
    After training, :func:`evaluate` on the test set (and the training set if
    ``evaluate_train``).  A non-finite loss or update stops the run
    (``diverged_at``).  ``callback(iteration, loss)`` is called after each step.

    Bit-for-bit reproducible for a given problem, arguments and BLAS thread count.
    """
    a = check_train_args(problem, rule, lr, batch=batch, epochs=epochs, solver=solver, tol=tol,
                         max_iter=max_iter, memory=memory, eta_d=eta_d, n_steps=n_steps,
                         optimizer=optimizer, eig_every=eig_every)
    lr, batch, epochs, eig_every = a["lr"], a["batch"], a["epochs"], a["eig_every"]
    kw = {k: a[k] for k in ("solver", "tol", "max_iter", "memory", "eta_d", "n_steps")}
    n = problem.U_train.shape[0]
    per_epoch = n // batch
    total = per_epoch * epochs
    W = problem.W0.copy()
    opt = make_optimizer(optimizer, {"W": W}, lr)
    hist = {k: np.full(total, np.nan) for k in HISTORY_KEYS}
    rng = np.random.default_rng([problem.config.get("seed", 0), 1])
    t0 = time.perf_counter()
    # a non-finite loss or update is detected and reported as divergence (diverged_at)
    with step_blas_limit(), np.errstate(over="ignore", invalid="ignore"):
        it, diverged = _train_loop(problem, rule, W, opt, hist, rng, epochs, per_epoch, batch,
                                   eig_every, kw, callback)
        seconds = time.perf_counter() - t0
        if diverged is None:
            final_eig = max_re_eig(W)
            test = _evaluate(problem.R, W, problem.U_test, problem.y_test, kw)
            train = _evaluate(problem.R, W, problem.U_train, problem.y_train, kw) if evaluate_train else None
        else:   # W holds the last finite weights; their loss was not finite
            final_eig = max_re_eig(W) if np.all(np.isfinite(W)) else float("nan")
            nan = dict(loss=float("nan"), accuracy=float("nan"), n=0, n_unconverged=0,
                       max_residual=float("nan"))
            test, train = nan, (dict(nan) if evaluate_train else None)
    settings = dict(rule=rule, lr=lr, batch=batch, epochs=epochs, optimizer=optimizer,
                    eig_every=eig_every, **kw)
    return FixedPointRun(rule, lr, W, hist, train, test, final_eig, seconds, diverged, settings)


def _train_loop(problem, rule, W, opt, hist, rng, epochs, per_epoch, batch, eig_every, kw, callback):
    n = problem.U_train.shape[0]
    args = (kw["solver"], kw["tol"], kw["max_iter"], kw["memory"], kw["eta_d"], kw["n_steps"])
    diverged = None
    it = 0
    for ep in range(epochs):
        if diverged is not None:
            break
        perm = rng.permutation(n)
        for b in range(per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            up = update_checked(rule, W, problem.U_train[idx], problem.R, problem.y_train[idx], *args)
            hist["iteration"][it] = it
            hist["epoch"][it] = ep
            hist["loss"][it] = up.loss
            hist["accuracy"][it] = up.accuracy
            hist["solver_iter"][it] = up.fixed_point.n_iter
            hist["n_unconverged"][it] = up.fixed_point.n_unconverged
            hist["max_residual"][it] = up.fixed_point.max_residual
            hist["adjoint_unconverged"][it] = up.adjoint_unconverged
            if it % eig_every == 0:
                hist["max_re_eig"][it] = max_re_eig(W)
            if not (np.isfinite(up.loss) and np.all(np.isfinite(up.dW))):
                diverged = it
                break
            opt.step({"W": up.dW})
            it += 1
            if callback is not None:
                callback(it, up.loss)
    return it, diverged
