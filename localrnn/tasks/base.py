"""What every task shares: the :class:`Batch` it makes and the :class:`Task` interface.

A task draws a batch of trials from a seeded ``numpy.random.Generator`` (same seed,
same batch, bit for bit), knows its loss (``"mse"`` or ``"xent"``), its time step
and how to score a batch (accuracy on the decision period).  TASKS.md defines the
tasks to the step; MODEL.md section 3 the losses.

Periods are half-open step ranges ``[start, end)`` of the arrays' first axis, where
step 0 is the first input ``x_1`` after the initial state ``h_0``.  Every batch's
``info`` holds, for each period ``p`` of the task, ``info["t_" + p]``: an int64
array ``(B, 2)`` of per-trial ``[start, end)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

from .._validate import check_array, check_choice, check_number
from ..names import LOSSES, OPTIMIZERS, PARAM_NAMES  # LOSSES: re-exported
from ..network import Network

TIME_UNITS = ("tau", "ms")


@dataclass(frozen=True)
class Batch:
    """One batch of trials, time-major.

    Attributes
    ----------
    inputs : (T, B, I) float64, C-contiguous
    targets : (T, B, O) float64 for ``"mse"``; (T, B) int64 class labels for ``"xent"``
    mask : (T, B, O) float64 for ``"mse"``; (T, B) float64 for ``"xent"``
        Weight of each target in the loss (MODEL.md section 3).
    info : dict
        Per-trial arrays (first axis B): the trial's variables (amplitudes,
        coherences, ground truth...) and its periods ``t_<name>`` as ``(B, 2)``
        ``[start, end)`` step indices.
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    info: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def T(self) -> int:
        return self.inputs.shape[0]

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[1]


# --------------------------------------------------------------------------- helpers
def as_generator(rng) -> np.random.Generator:
    """``rng`` as a ``numpy.random.Generator``: a Generator is used as is (and advanced),
    a non-negative int seeds ``numpy.random.default_rng``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng={rng!r} is a negative seed; give a seed >= 0 or a numpy.random.Generator")
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng={rng!r} is not allowed; give a numpy.random.Generator or an int seed >= 0")


def check_batch_size(batch_size) -> int:
    return check_number("batch_size", batch_size, lo=1, integer=True)


def check_dt(dt, hi: float, what: str) -> float:
    """A time step in (0, hi]; ``what`` says why ``hi`` is the limit."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise ValueError(f"dt={dt!r} must be a number")
    v = float(dt)
    if not math.isfinite(v) or v <= 0.0 or v > hi:
        raise ValueError(f"dt={dt!r} is out of range; allowed (0, {hi:g}] ({what})")
    return v


def fixed_periods_info(periods: Dict[str, Tuple[int, int]], B: int) -> Dict[str, np.ndarray]:
    return {f"t_{n}": np.tile(np.array([s, e], dtype=np.int64), (B, 1)) for n, (s, e) in periods.items()}


def window_mask(T: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(T, B) bool, true on each trial's ``[start, end)``."""
    t = np.arange(T)[:, None]
    return (t >= start[None, :]) & (t < end[None, :])


def steps_of(duration: float, dt: float) -> int:
    """Whole steps in ``duration``: ``floor(duration / dt)``, as neurogym's
    ``(t // dt) * dt`` (with a 1e-9 guard so 0.3 / 0.1 is 3, not 2)."""
    return int(math.floor(duration / dt + 1e-9))


# ------------------------------------------------------------------------------ Task
class Task:
    """A trial-based task: makes batches, scores outputs, builds a matching network.

    Subclasses set the attributes below in ``__init__`` and implement ``_batch`` (and
    ``accuracy`` where the decision-period rule differs).

    Attributes
    ----------
    name, description : str
        The registry name and a one-line description.
    n_in, n_out : int
        Input channels and outputs (classes for ``"xent"``).
    T : int
        Steps per trial (for variable-length neurogym tasks: the last batch's T).
    dt : float
        Time step, in ``time_unit`` (``"tau"`` or ``"ms"``).
    alpha : float
        The network's default ``dt / tau``.
    loss : {"mse", "xent"}
    defaults : dict
        Training defaults: ``n_rec, batch, optimizer, lr, iters, eval_every, form,
        activation, trainable, gain``.
    """

    name: str = ""
    description: str = ""
    n_in: int = 0
    n_out: int = 0
    T: int = 0
    dt: float = 1.0
    time_unit: str = "tau"
    alpha: float = 1.0
    loss: str = "mse"
    defaults: Dict = {}
    #: period names in trial order (the keys ``t_<name>`` of ``Batch.info``)
    period_names: Tuple[str, ...] = ()

    # ---------------------------------------------------------------- batches
    def batch(self, batch_size: int, rng) -> Batch:
        """A batch of ``batch_size`` trials drawn from ``rng``.

        Parameters
        ----------
        batch_size : int >= 1
        rng : numpy.random.Generator or int
            A Generator is advanced; an int seeds a new one.  The same seed gives
            the same batch bit for bit.
        """
        B = check_batch_size(batch_size)
        gen = as_generator(rng)
        return self._batch(B, gen)

    def _batch(self, B: int, rng: np.random.Generator) -> Batch:  # pragma: no cover
        raise NotImplementedError

    # ---------------------------------------------------------------- scoring
    def _check_outputs(self, outputs, batch: Batch) -> np.ndarray:
        if not isinstance(batch, Batch):
            raise ValueError(f"batch={type(batch).__name__} is not a Batch; pass the Batch the outputs answer")
        # Non-finite outputs (a diverged network) are allowed: they score as wrong.
        return check_array("outputs", outputs, (batch.T, batch.batch_size, self.n_out), np.float64,
                           finite=False)

    def accuracy(self, outputs, batch: Batch) -> float:
        """Fraction of trials whose decision is correct.

        Default rule (classification tasks): the output averaged over the trial's
        decision period (``info["t_decision"]``), then its argmax (first index on a
        tie), must equal ``info["label"]``.  Non-finite outputs count as wrong.
        """
        y = self._check_outputs(outputs, batch)
        win = batch.info["t_decision"]
        w = window_mask(batch.T, win[:, 0], win[:, 1])
        n = w.sum(axis=0)
        mean = np.einsum("tbo,tb->bo", y, w.astype(np.float64)) / np.maximum(n, 1)[:, None]
        ok = np.all(np.isfinite(mean), axis=1) & (n > 0)
        choice = np.argmax(np.where(np.isfinite(mean), mean, -np.inf), axis=1)
        return float(np.mean(ok & (choice == batch.info["label"])))

    def decision_mask(self, batch: Batch) -> Optional[np.ndarray]:
        """The batch's mask restricted to each trial's decision period
        (``info["t_decision"]``), in the mask's shape and dtype; None when the task marks
        no decision period.  The loss under this mask is the *decision-period loss*: on
        tasks whose loss covers every step (2AF, DMS) it isolates the choice from the
        fixation steps that dominate the whole-trial loss."""
        win = batch.info.get("t_decision") if isinstance(batch.info, dict) else None
        if win is None:
            return None
        w = window_mask(batch.T, win[:, 0], win[:, 1])
        m = np.asarray(batch.mask)
        if m.ndim == 3:
            w = w[:, :, None]
        return (m * w).astype(m.dtype, copy=False)

    # ---------------------------------------------------------------- network
    def h0(self, batch_size: int, n_rec: int) -> Optional[np.ndarray]:
        """Initial state ``(B, N)``, or ``None`` for zeros (MODEL.md section 1)."""
        check_batch_size(batch_size)
        check_number("n_rec", n_rec, lo=1, integer=True)
        return None

    def make_network(self, gain: Optional[float] = None, seed: int = 0, n_rec: Optional[int] = None,
                     form: Optional[str] = None, activation: Optional[str] = None,
                     dtype="float64") -> Network:
        """A :class:`localrnn.Network` with this task's sizes and ``alpha``.

        ``None`` arguments take ``self.defaults`` (``gain``, ``n_rec``, ``form``,
        ``activation``).  Initialisation as MODEL.md section 2 (``Network.init``).
        """
        d = self.defaults
        gain = d["gain"] if gain is None else gain
        n_rec = d["n_rec"] if n_rec is None else n_rec
        form = d["form"] if form is None else form
        activation = d["activation"] if activation is None else activation
        net = Network.init(self.n_in, n_rec, self.n_out, gain=gain, alpha=self.alpha,
                           activation=activation, form=form, seed=seed, dtype=dtype)
        net.meta["task"] = self.name
        return net

    # ---------------------------------------------------------------- listing
    def summary(self) -> Dict:
        """Everything ``localrnn tasks`` shows, JSON-ready."""
        d = dict(self.defaults)
        d["trainable"] = list(d["trainable"])
        return dict(name=self.name, description=self.description, n_in=self.n_in,
                    n_out=self.n_out, dt=self.dt, time_unit=self.time_unit, T=self.T,
                    alpha=self.alpha, loss=self.loss, periods=list(self.period_names), defaults=d)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r}: n_in={self.n_in}, n_out={self.n_out}, "
                f"T={self.T}, dt={self.dt:g} {self.time_unit}, loss={self.loss!r}>")


def make_defaults(*, n_rec: int, batch: int, optimizer: str, lr, iters: int, eval_every: int,
                  form: str, activation: str, trainable: Tuple[str, ...], gain: float) -> Dict:
    """A defaults dict with its keys checked once, where a task is defined."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    for p in trainable:
        check_choice("trainable", p, PARAM_NAMES)
    return dict(n_rec=n_rec, batch=batch, optimizer=optimizer, lr=lr, iters=iters,
                eval_every=eval_every, form=form, activation=activation,
                trainable=tuple(trainable), gain=gain)


__all__ = ["Batch", "Task", "LOSSES", "TIME_UNITS", "as_generator", "check_batch_size"]
