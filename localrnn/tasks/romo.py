"""Romo: parametric working memory (Romo et al. 1999), as in Schuessler et al. (2020)."""
from __future__ import annotations

import numpy as np

from ..kernels.tasks import romo_batch
from .base import Batch, Task, check_dt, make_defaults, window_mask

#: phase durations in units of tau (TASKS.md)
FIXATION, STIMULUS, DELAY_MIN, DELAY_MAX = 3.0, 1.0, 2.0, 8.0
DECISION_DELAY, DECISION, T_MAX = 5.0, 10.0, 28.0
AMP_LO, AMP_HI, MIN_DIFF, TARGET = 0.5, 1.5, 0.2, 0.5


def _whole_steps(name: str, duration: float, dt: float) -> int:
    n = duration / dt
    if abs(n - round(n)) > 1e-9:
        raise ValueError(f"dt={dt!r} does not divide the {name} of {duration:g} tau into whole steps; "
                         "choose dt = 1/k for an integer k >= 1 (e.g. 0.5, 0.25)")
    return int(round(n))


class RomoTask(Task):
    """Parametric working memory: which of two pulses, f1 or f2, was larger?

    Time unit tau = 1; ``dt = 0.5`` (so ``alpha = dt / tau = 0.5``), ``T = 56`` steps
    (28 tau).  With ``dt = 0.5`` and a delay of ``d`` steps, a trial's periods are
    (half-open step ranges)::

        fixation        [0, 6)             3 tau
        f1              [6, 8)             1 tau, input f1
        delay           [8, 8 + d)         U(2, 8) tau per trial
        f2              [8 + d, 10 + d)    1 tau, input f2
        decision_delay  [10 + d, 20 + d)   5 tau
        decision        [20 + d, 40 + d)   10 tau, target 0.5 on the larger pulse's channel
        padding         [40 + d, 56)

    The delay is drawn continuously, ``delay ~ U(2, 8)`` tau, and rounded to the
    nearest whole step, ``d = round(delay / dt)`` (so d is 4..16 with dt = 0.5; the
    end values 4 and 16 are half as likely as the others; ties have probability 0).
    With d = 16 the trial fills all 56 steps.

    Input: one channel, ``f1`` during f1 and ``f2`` during f2, 0 elsewhere, with
    ``f1, f2 ~ U(0.5, 1.5)`` redrawn (both) until ``|f1 - f2| >= 0.2``.
    Target (2 channels): 0.5 on channel 0 if ``f1 > f2`` (label 0) or on channel 1
    if ``f2 > f1`` (label 1), during the decision window; 0 elsewhere.
    Mask: 1 from step 0 to the end of f2 and on the decision window, 0 on the
    decision delay and the padding (the same for both output channels).
    Loss: masked MSE (MODEL.md section 3).

    Accuracy: per trial, the sign of ``y_0 - y_1`` averaged over the decision
    window: positive says "f1 larger", negative "f2 larger"; 0 or NaN is wrong.

    Defaults (Schuessler et al. 2020): ``n_rec = 256``, batch 32, Adam with
    ``lr = 0.05 / n_rec`` (= 1.953125e-4 for 256; scale it if you change
    ``n_rec``), trains ``W_in, W, W_out``; 1000 iterations, evaluation every 50:
    enough for RFLO from gain 1.5 to reach accuracy 1 (measured: >= 0.95 at every
    evaluation from iteration 450, 1.0 at 800-1000, seed 0), while from gain 0.5 it stays
    at chance -- the gap the study of Liu et al. (2024) is about, in about 25 s on
    2 cores (docs/reproduction/report.md); current form, tanh, gain 1 (gains of
    interest: 0 to 3).

    Parameters
    ----------
    dt : float
        Step in units of tau; ``1/k`` for an integer k so every fixed phase is whole
        steps.  ``alpha = dt``.

    Examples
    --------
    >>> task = RomoTask()
    >>> b = task.batch(4, rng=0)
    >>> b.inputs.shape, b.targets.shape, b.mask.shape
    ((56, 4, 1), (56, 4, 2), (56, 4, 2))
    """

    name = "romo"
    description = "Parametric working memory (Romo 1999; Schuessler 2020): which of two pulses f1, f2 was larger"
    time_unit = "tau"
    loss = "mse"
    period_names = ("fixation", "f1", "delay", "f2", "decision_delay", "decision", "padding")

    def __init__(self, dt: float = 0.5):
        self.dt = check_dt(dt, 1.0, "alpha = dt / tau must be at most 1 with tau = 1")
        self.alpha = self.dt
        self.n_fix = _whole_steps("fixation", FIXATION, self.dt)
        self.n_stim = _whole_steps("stimulus", STIMULUS, self.dt)
        self.n_dd = _whole_steps("decision delay", DECISION_DELAY, self.dt)
        self.n_dec = _whole_steps("decision window", DECISION, self.dt)
        self.T = _whole_steps("trial length", T_MAX, self.dt)
        self.n_in, self.n_out = 1, 2
        n_rec = 256
        self.defaults = make_defaults(n_rec=n_rec, batch=32, optimizer="adam", lr=0.05 / n_rec,
                                      iters=1000, eval_every=50, form="current", activation="tanh",
                                      trainable=("W_in", "W", "W_out"), gain=1.0)

    def _batch(self, B: int, rng: np.random.Generator) -> Batch:
        # f1, f2 ~ U(0.5, 1.5), the pairs closer than 0.2 redrawn; delay ~ U(2, 8) tau;
        # drawn and filled in one compiled call (kernels.tasks.romo_batch)
        T = self.T
        inputs = np.empty((T, B, 1))
        targets = np.empty((T, B, 2))
        mask = np.empty((T, B, 2))
        se = np.empty((len(self.period_names), B, 2), dtype=np.int64)
        f = np.empty((3, B))                         # f1, f2, delay
        d = np.empty(B, dtype=np.int64)
        label = np.empty(B, dtype=np.int64)          # 0: f1 larger, 1: f2 larger
        romo_batch(rng, AMP_LO, AMP_HI, MIN_DIFF, DELAY_MIN, DELAY_MAX, self.dt, self.n_fix, self.n_stim,
                   self.n_dd, self.n_dec, TARGET, inputs, targets, mask, se, f[0], f[1], f[2], d, label)
        info = dict(f1=f[0], f2=f[1], delay=f[2], delay_steps=d, label=label)
        info.update({f"t_{n}": se[i] for i, n in enumerate(self.period_names)})
        return Batch(inputs=inputs, targets=targets, mask=mask, info=info)

    def accuracy(self, outputs, batch: Batch) -> float:
        """Fraction of trials where ``sign(mean over the decision window of y_0 - y_1)``
        names the larger pulse (+ for f1, - for f2); 0 and NaN count as wrong."""
        y = self._check_outputs(outputs, batch)
        win = batch.info["t_decision"]
        w = window_mask(batch.T, win[:, 0], win[:, 1]).astype(np.float64)
        diff = np.einsum("tb,tb->b", y[:, :, 0] - y[:, :, 1], w) / np.maximum(w.sum(axis=0), 1.0)
        want = np.where(batch.info["label"] == 0, 1.0, -1.0)
        return float(np.mean(np.sign(diff) == want))


__all__ = ["RomoTask"]
