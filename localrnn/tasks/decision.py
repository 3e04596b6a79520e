"""Decision tasks copied from neurogym's defaults, in NumPy only.

* ``2af``: ``PerceptualDecisionMaking-v0`` (two-alternative forced choice,
  Britten et al. 1992).
* ``dms``: ``DelayMatchSample-v0`` (delayed match to sample, Miller et al. 1996).

Conventions shared with neurogym (checked against it in
``tests/test_neurogym_compat.py`` when neurogym is installed):

* time in ms, ``dt = 100`` by default; a period of ``D`` ms lasts
  ``floor(D / dt)`` steps, periods follow each other without gaps;
* input noise ``N(0, (sigma / sqrt(dt))^2)`` with ``sigma = 1`` on the stimulus
  channels during the stimulus periods only (dt in ms, as neurogym);
* labels: 0 (fixate) at every step except the decision period, where the label
  is the correct answer (1 or 2);
* loss: cross-entropy at **every** step (mask all ones), neurogym's supervised
  convention: the network is also trained to output "fixate" before the decision.

The network's ``alpha = dt / tau`` with ``tau = 200`` ms, so ``alpha = 0.5`` at
``dt = 100`` ms (``tau`` is an option).

Accuracy (:meth:`Task.accuracy`): the output averaged over the decision period,
argmax, equals the label (for 2af the decision period is one step at dt = 100, so
this is the last step).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .._validate import check_number
from ..names import PARAM_NAMES
from .base import Batch, Task, check_dt, fixed_periods_info, make_defaults, steps_of

TAU_MS = 200.0


def _timing(default: Dict[str, float], given) -> Dict[str, float]:
    """The task's period durations (ms): ``default`` with the entries of ``given`` replaced.

    ``given`` maps period names (the keys of ``default``) to durations >= 0 in ms; the
    order of the periods is always the default one."""
    if given is None:
        return dict(default)
    if not isinstance(given, dict):
        raise ValueError(f"timing={given!r} must be a mapping of period names to durations in ms; "
                         f"periods: {', '.join(default)}")
    out = dict(default)
    for k, v in given.items():
        if k not in default:
            raise ValueError(f"timing period {k!r} is not allowed; allowed: {', '.join(default)}")
        out[k] = check_number(f"timing[{k!r}]", v, lo=0.0)
    return out


def _layout(timing: Dict[str, float], dt: float) -> Dict[str, Tuple[int, int]]:
    """Consecutive periods in steps, ``floor(duration / dt)`` each (neurogym's rule)."""
    out, t = {}, 0
    for name, ms in timing.items():
        n = steps_of(ms, dt)
        out[name] = (t, t + n)
        t += n
    return out


class _DecisionTask(Task):
    """Shared set-up of the neurogym-style classification tasks."""

    time_unit = "ms"
    loss = "xent"
    timing: Dict[str, float] = {}
    #: input channel meaning, as neurogym's ``observation_space.name``
    channels: Dict[str, object] = {}
    #: class meaning, as neurogym's ``action_space.name``
    classes: Dict[str, object] = {}

    def _setup(self, dt, tau, sigma, n_rec: int, iters: int, timing=None):
        self.timing = _timing(type(self).timing, timing)
        self.tau = check_number("tau", tau, lo=0.0, lo_open=True)
        self.dt = check_dt(dt, self.tau, f"alpha = dt / tau must be at most 1 with tau = {self.tau:g} ms")
        self.alpha = self.dt / self.tau
        self.sigma = check_number("sigma", sigma, lo=0.0)
        self.noise_std = self.sigma / np.sqrt(self.dt)
        self.periods = _layout(self.timing, self.dt)
        s, e = self.periods["decision"]
        if e - s < 1:
            raise ValueError(f"dt={dt!r} leaves no step for the {self.timing['decision']:g} ms decision "
                             f"period; allowed dt <= {self.timing['decision']:g}")
        self.T = max(e for _, e in self.periods.values())
        self.period_names = tuple(self.timing)
        self.n_in, self.n_out = 3, 3
        self.defaults = make_defaults(n_rec=n_rec, batch=32, optimizer="adam", lr=3e-3, iters=iters,
                                      eval_every=25, form="current", activation="tanh",
                                      trainable=PARAM_NAMES, gain=1.0)

    def _fixation_channel(self, B: int) -> np.ndarray:
        """Channel 0: 1 at every step before the decision period, 0 during it."""
        x = np.zeros((self.T, B, self.n_in))
        x[: self.periods["decision"][0], :, 0] = 1.0
        return x

    def _noise(self, x: np.ndarray, period: str, rng: np.random.Generator) -> None:
        s, e = self.periods[period]
        if e > s:
            x[s:e, :, 1:] += rng.standard_normal((e - s, x.shape[1], 2)) * self.noise_std

    def _labels(self, B: int, label: np.ndarray):
        y = np.zeros((self.T, B), dtype=np.int64)
        s, e = self.periods["decision"]
        y[s:e] = label[None, :]
        return y, np.ones((self.T, B))


class PerceptualDecisionTask(_DecisionTask):
    """Two-alternative forced choice: which of two noisy stimuli is larger on average?

    As neurogym's ``PerceptualDecisionMaking-v0`` with its defaults.  At
    ``dt = 100`` ms: ``T = 22`` steps, periods ``fixation [0, 1)``,
    ``stimulus [1, 21)``, ``delay [21, 21)`` (0 ms), ``decision [21, 22)``.

    Inputs (3): channel 0 fixation, 1 before the decision period and 0 during it
    (TASKS.md; see the note below); channels 1, 2 during the stimulus:
    ``cos(theta - theta_gt) * coh / 200 + 0.5`` with ``theta = (0, pi)``, plus
    noise ``N(0, (sigma / sqrt(dt))^2)`` (std 0.1 at the defaults).
    ``ground_truth ~ {0, 1}`` and ``coh ~ {0, 6.4, 12.8, 25.6, 51.2}`` uniformly
    per trial.  Classes (3): 0 fixate, 1 and 2 the choices; the label is
    ``ground_truth + 1`` in the decision period, 0 elsewhere.  Cross-entropy at every
    step (mask all ones).

    Note: neurogym 2.3 sets the fixation input only during its fixation period
    (earlier versions kept it on through stimulus and delay, as here and as
    TASKS.md asks); every other input value is the same.

    Defaults: ``n_rec = 64``, batch 32, Adam ``lr = 3e-3``, 500 iterations,
    evaluation every 25, all five parameters trained, current form, tanh, gain 1.
    (With BPTT these reach ~0.88 accuracy by iteration 100-250; the ceiling is
    about 0.9, since coherence-0 trials are guesses.)

    Parameters
    ----------
    dt : float
        Step in ms, at most 100 (the decision period must have a step).
    tau : float
        Network time constant in ms (``alpha = dt / tau``), default 200.
    sigma : float
        Noise scale (std ``sigma / sqrt(dt)``), default 1.
    cohs : sequence of float
        Coherences drawn uniformly, default ``(0, 6.4, 12.8, 25.6, 51.2)``.
    timing : dict, optional
        Period durations in ms replacing the defaults above, e.g.
        ``{"stimulus": 500}`` (a shorter stimulus: less evidence per trial).
    """

    name = "2af"
    description = "Perceptual decision making, 2-alternative forced choice (neurogym PerceptualDecisionMaking-v0)"
    timing = {"fixation": 100.0, "stimulus": 2000.0, "delay": 0.0, "decision": 100.0}
    channels = {"fixation": 0, "stimulus": [1, 2]}
    classes = {"fixation": 0, "choice": [1, 2]}
    COHS = (0.0, 6.4, 12.8, 25.6, 51.2)

    def __init__(self, dt: float = 100.0, tau: float = TAU_MS, sigma: float = 1.0,
                 cohs: Sequence[float] = COHS, timing: Optional[Dict[str, float]] = None):
        try:
            c = np.array(cohs, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"cohs={cohs!r} must be a sequence of numbers") from None
        if c.size == 0 or not np.all(np.isfinite(c)):
            raise ValueError(f"cohs={cohs!r} must be a non-empty sequence of finite numbers")
        self.cohs = c
        self.theta = np.array([0.0, np.pi])
        self._setup(dt, tau, sigma, n_rec=64, iters=500, timing=timing)

    def _batch(self, B: int, rng: np.random.Generator) -> Batch:
        gt = rng.integers(0, 2, size=B)
        coh = self.cohs[rng.integers(0, self.cohs.size, size=B)]
        x = self._fixation_channel(B)
        stim = np.cos(self.theta[None, :] - self.theta[gt][:, None]) * (coh[:, None] / 200.0) + 0.5
        s, e = self.periods["stimulus"]
        x[s:e, :, 1:] = stim[None, :, :]
        self._noise(x, "stimulus", rng)
        label = gt + 1
        y, mask = self._labels(B, label)
        info = dict(ground_truth=gt, coh=coh, label=label)
        info.update(fixed_periods_info(self.periods, B))
        return Batch(inputs=x, targets=y, mask=mask, info=info)


class DelayMatchSampleTask(_DecisionTask):
    """Delayed match to sample: is the test stimulus the same as the sample?

    As neurogym's ``DelayMatchSample-v0`` with its defaults.  At ``dt = 100`` ms:
    ``T = 32`` steps, periods ``fixation [0, 3)``, ``sample [3, 8)``,
    ``delay [8, 18)``, ``test [18, 23)``, ``decision [23, 32)``.

    Inputs (3): channel 0 fixation, 1 before the decision period, 0 during it;
    channels 1, 2 the ring ``cos(theta - theta_stim) * 0.5 + 0.5`` with
    ``theta = (0, pi)`` during sample and test, plus noise
    ``N(0, (sigma / sqrt(dt))^2)`` there.  ``theta_sample ~ {0, pi}`` and
    ``match ~ {yes, no}`` uniformly per trial; the test equals the sample on a
    match (label 1) and is opposite on a non-match (label 2).  Classes (3):
    0 fixate, 1 match, 2 non-match; label 0 outside the decision period.
    Cross-entropy at every step (mask all ones).

    Defaults: ``n_rec = 64``, batch 32, Adam ``lr = 3e-3``, 1500 iterations,
    evaluation every 25, all five parameters trained, current form, tanh, gain 1.
    The iterations are many because, with BPTT at these settings, accuracy sits at
    chance (0.5) for ~1100 iterations before it jumps to 1.0.

    Parameters
    ----------
    dt : float
        Step in ms, at most 200 (= tau: alpha <= 1).
    tau : float
        Network time constant in ms, default 200.
    sigma : float
        Noise scale (std ``sigma / sqrt(dt)``), default 1.
    timing : dict, optional
        Period durations in ms replacing the defaults above, e.g. ``{"delay": 500}``.
    """

    name = "dms"
    description = "Delayed match to sample (neurogym DelayMatchSample-v0)"
    timing = {"fixation": 300.0, "sample": 500.0, "delay": 1000.0, "test": 500.0, "decision": 900.0}
    channels = {"fixation": 0, "stimulus": [1, 2]}
    classes = {"fixation": 0, "match": 1, "non-match": 2}

    def __init__(self, dt: float = 100.0, tau: float = TAU_MS, sigma: float = 1.0,
                 timing: Optional[Dict[str, float]] = None):
        self.theta = np.array([0.0, np.pi])
        # ring[k] = the two stimulus channels for theta_stim = theta[k]
        self.ring = np.cos(self.theta[None, :] - self.theta[:, None]) * 0.5 + 0.5
        self._setup(dt, tau, sigma, n_rec=64, iters=1500, timing=timing)

    def _batch(self, B: int, rng: np.random.Generator) -> Batch:
        label = rng.integers(1, 3, size=B)              # 1 match, 2 non-match
        sample = rng.integers(0, 2, size=B)             # index into theta
        test = np.where(label == 1, sample, 1 - sample)
        x = self._fixation_channel(B)
        for period, idx in (("sample", sample), ("test", test)):
            s, e = self.periods[period]
            x[s:e, :, 1:] = self.ring[idx][None, :, :]
        self._noise(x, "sample", rng)
        self._noise(x, "test", rng)
        y, mask = self._labels(B, label)
        info = dict(ground_truth=label, sample_theta=self.theta[sample], test_theta=self.theta[test],
                    label=label)
        info.update(fixed_periods_info(self.periods, B))
        return Batch(inputs=x, targets=y, mask=mask, info=info)


__all__ = ["PerceptualDecisionTask", "DelayMatchSampleTask"]
