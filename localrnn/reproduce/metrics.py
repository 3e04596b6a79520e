"""Measures of one run's learning curve, for the study's contrasts.

A run's evaluations are the rows of its ``metrics.csv`` with an ``eval_loss``: the
iteration, the held-out loss, its accuracy and (for the classification tasks) the loss
of the decision period alone.  Every measure below is a plain function of those series,
so the report's numbers can be recomputed from the run folders by hand.

* :func:`curve_area` -- the mean eval loss over training (the area under the learning
  curve per evaluation): the paper's "learning curve" in one number; a spike late in
  training weighs as much as the same excess early.
* :func:`log_curve_area` -- the mean of log10(eval loss): the same curve on the scale
  the figures use, where a drop from 1e-3 to 1e-4 counts as much as one from 1e-2 to
  1e-3 and a short spike counts little.
* :func:`iterations_to_criterion` -- the first evaluation at which the accuracy reaches
  a criterion, *censored* at the run's length when it never does.
* :func:`final_window_median` -- the median eval loss over the last fraction of the
  evaluations: where training ended, robust to one spike at the end.
* :func:`spike_events` -- how often the eval loss jumps back up (above ``factor`` times its
  best value so far and ``floor`` times its first value) once the run has learned.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

#: A spike: an evaluation whose loss exceeds SPIKE_FACTOR x the lowest earlier eval loss
#: and SPIKE_FLOOR x the first eval loss (a jump back towards the untrained loss, not a
#: wiggle at 1e-5) ...
SPIKE_FACTOR = 10.0
SPIKE_FLOOR = 0.1
#: ... once that lowest value is below SPIKE_LEARNED x the first eval loss (the run has learned).
SPIKE_LEARNED = 0.5
#: The final window of :func:`final_window_median`: the last 10% of the evaluations.
FINAL_FRACTION = 0.1


def _series(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).ravel()


def curve_area(losses: Sequence[float]) -> float:
    """Mean of the eval losses (NaN when any is non-finite: a diverged run has no area)."""
    a = _series(losses)
    if a.size == 0 or not np.all(np.isfinite(a)):
        return float("nan")
    return float(a.mean())


def log_curve_area(losses: Sequence[float]) -> float:
    """Mean of log10 of the eval losses (NaN when any is non-finite or not positive)."""
    a = _series(losses)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        return float("nan")
    return float(np.log10(a).mean())


def iterations_to_criterion(iterations: Sequence[int], accuracy: Sequence[float], criterion: float,
                            total: int) -> Tuple[float, bool]:
    """(first evaluation iteration with ``accuracy >= criterion``, censored).

    A run that never reaches the criterion gives ``(total, True)``: it is *censored* at
    its length -- the true value is larger.  Comparing two groups on this measure
    therefore understates a difference where the slower group is censored (stated in the
    report)."""
    it, acc = _series(iterations), _series(accuracy)
    if it.size != acc.size:
        raise ValueError(f"iterations ({it.size}) and accuracy ({acc.size}) differ in length")
    hit = np.flatnonzero(np.isfinite(acc) & (acc >= criterion))
    if hit.size == 0:
        return float(total), True
    return float(it[hit[0]]), False


def final_window_median(losses: Sequence[float], fraction: float = FINAL_FRACTION) -> float:
    """Median eval loss over the last ``fraction`` of the evaluations (at least one)."""
    a = _series(losses)
    if a.size == 0:
        return float("nan")
    k = max(1, int(math.ceil(fraction * a.size)))
    w = a[-k:]
    return float(np.median(w)) if np.all(np.isfinite(w)) else float("nan")


def spike_events(losses: Sequence[float], factor: float = SPIKE_FACTOR, floor: float = SPIKE_FLOOR,
                 learned: float = SPIKE_LEARNED) -> int:
    """Number of spike events in an eval-loss series.

    An evaluation *spikes* when its loss exceeds ``factor`` times the lowest loss of the
    evaluations before it and ``floor`` times the first eval loss (a jump back towards
    the untrained loss), once that lowest loss is below ``learned`` times the first eval
    loss (before a run has learned anything, noise around chance is not a spike).
    Consecutive spiking evaluations are one event.  A non-finite loss is a spike.
    """
    a = _series(losses)
    events, inside = 0, False
    best = math.inf
    first = a[0] if a.size else math.nan
    for v in a:
        spiking = (best < learned * first) and (not math.isfinite(v) or (v > factor * best and v > floor * first))
        if spiking and not inside:
            events += 1
        inside = spiking
        if math.isfinite(v):
            best = min(best, v)
    return events


__all__ = ["curve_area", "log_curve_area", "iterations_to_criterion", "final_window_median",
           "spike_events", "SPIKE_FACTOR", "SPIKE_FLOOR", "SPIKE_LEARNED", "FINAL_FRACTION"]
