"""Pattern generation: a LIF network turns frozen Poisson noise into a sum of sinusoids
(Bellec et al. 2020, their tutorial ``tutorial_pattern_generation.py``)."""
from __future__ import annotations

import numpy as np

from .._validate import check_number
from ..spiking import SpikingNetwork
from .base import Batch, fixed_periods_info
from .spiking_base import SpikingTask, make_spiking_defaults

#: periods (ms) of the four sinusoids of the reference's target
PERIODS = (1000, 500, 333, 200)


def sum_of_sines(T: int, weights, phases, periods=PERIODS) -> np.ndarray:
    """The reference's target (``models.sum_of_sines_target``): sinusoid i is
    ``w_i sin(phi_i + s)`` with s running linearly from 0 to ``2 pi (T // P_i)`` over the
    T steps (both ends included); their sum minus its first value is divided by its
    largest absolute value (at least 1e-6), so it starts at 0 and spans at most [-1, 1]."""
    out = np.zeros(T)
    for w, ph, P in zip(weights, phases, periods):
        out += w * np.sin(np.linspace(ph, 2.0 * np.pi * (T // P) + ph, T))
    out = out - out[0]
    scale = max(abs(out.min()), abs(out.max()))
    return out / max(scale, 1e-6)


class PatternGenerationTask(SpikingTask):
    """Produce a fixed sum of four sinusoids from a fixed (frozen) Poisson input.

    Time step ``dt = 1`` ms, ``T = 1000`` steps.  Input: ``n_in = 100`` channels of
    Poisson spikes at ``rate = 50`` Hz, drawn once when the task is made (from
    ``default_rng([seed, 0])``) and the same in every trial.  Target, per output: the
    sum of sinusoids of periods 1000, 500, 333 and 200 ms with weights U(0.5, 2) and
    phases U(0, 2 pi), normalised as :func:`sum_of_sines` (drawn once, from
    ``default_rng([seed, 1])``).  Mask all ones; masked MSE.  Every trial of a batch is
    the same (Bellec et al. use batch 1); ``rng`` is checked but not used.

    Accuracy: there is no decision; a trial counts as correct when its output explains
    at least 90 % of the target's variance, ``1 - mean (y - y*)^2 / var(y*) >= 0.9``
    (as :class:`~localrnn.tasks.sine.SineTask`).

    Defaults from the reference (``LightLIF``): 100 LIF neurons, ``tau_m = tau_out =
    30`` ms, ``v_th = 0.03``, no refractory period, reset by subtraction, gamma 0.3.
    Their cell scales its input current by ``1 - alpha``; ours does not (MODEL.md
    section 9), so :meth:`make_network` multiplies the initial ``W_in`` and ``W`` by
    ``1 - alpha``: the same dynamics.  Training: plain SGD, 2000 iterations, random
    feedback, firing-rate regulariser at 10 Hz.  Their loss is the *sum* over the T
    steps and outputs, ``0.5 sum_t (y - y*)^2 + 300 * 0.5 sum_j (r_j - f0)^2``, with lr
    1e-4; ours is the mean (MODEL.md section 3), and their W_in, W are ours divided by
    ``1 - alpha``, so the same SGD steps take ``lr = 1e-4 T O = 0.1`` for W_out,
    ``0.1 (1 - alpha)^2 = 1.07e-4`` for W_in and W, and ``reg = 300 / (T O) = 0.3``.
    Their random feedback is N(0, 1/N) (std 0.1 here); ours N(0, 1/O) (MODEL.md
    section 5), 10 times larger at N = 100, O = 1.

    Online (``--online``: SGD every step on each step's own loss) the rates are 1/T of
    the batched ones, which move the weights as far per trial, and the firing-rate
    regulariser is applied online (the rate since the trial began): so it learns
    (held-out loss 0.0034 at iteration 300, seed 0); without the regulariser the loss
    stayed at 0.12 (docs/spiking.md).

    Parameters
    ----------
    n_out : int >= 1
    T : int >= 1, steps (ms)
    n_in : int >= 1
    rate : float, Hz
    seed : int >= 0
        Seed of the frozen input and the target.
    """

    name = "pattern"
    description = ("Pattern generation (Bellec 2020): a sum of four sinusoids from frozen "
                   "Poisson input. Spiking (LIF) network")
    time_unit = "ms"
    loss = "mse"
    period_names = ("trial",)
    R2_CORRECT = 0.9

    def __init__(self, n_out: int = 1, T: int = 1000, n_in: int = 100, rate: float = 50.0,
                 seed: int = 0):
        self.n_out = check_number("n_out", n_out, lo=1, integer=True)
        self.T = check_number("T", T, lo=1, integer=True)
        self.n_in = check_number("n_in", n_in, lo=1, integer=True)
        self.dt = 1.0
        self.rate = check_number("rate", rate, lo=0.0, hi=1000.0 / self.dt)
        self.seed = check_number("seed", seed, lo=0, integer=True)
        tau_m = 30.0
        self.alpha = float(np.exp(-self.dt / tau_m))
        rng_in = np.random.default_rng([self.seed, 0])
        self.input = (rng_in.random((self.T, self.n_in)) < self.rate * self.dt / 1000.0).astype(float)
        rng_t = np.random.default_rng([self.seed, 1])
        self.target = np.empty((self.T, self.n_out))
        for o in range(self.n_out):
            w = rng_t.uniform(0.5, 2.0, size=len(PERIODS))
            ph = rng_t.uniform(0.0, 2.0 * np.pi, size=len(PERIODS))
            self.target[:, o] = sum_of_sines(self.T, w, ph)
        lr_out = 1e-4 * self.T * self.n_out          # the reference's 1e-4 on a sum loss
        lr_rec = lr_out * (1.0 - self.alpha) ** 2     # its weights are ours / (1 - alpha)
        # online (SGD every step, the loss of each step alone): 1/T of the batched rates
        # moves the weights as far per trial; with the firing-rate regulariser (online:
        # the rate since the trial began) it learns, without it not (docs/spiking.md)
        lr_online = {"W_in": lr_rec / self.T, "W": lr_rec / self.T, "W_out": lr_out / self.T}
        self.defaults = make_spiking_defaults(
            n_rec=100, batch=1, optimizer="sgd", iters=2000, eval_every=20,
            lr={"W_in": lr_rec, "W": lr_rec, "W_out": lr_out}, lr_online=lr_online,
            trainable=("W_in", "W", "W_out"), gain=1.0, model="lif", rule="eprop",
            feedback="random", reg=300.0 / (self.T * self.n_out), reg_rate=10.0 * self.dt / 1000.0,
            neuron=dict(reset="subtract", tau_m=tau_m, tau_out=30.0, v_th=0.03, refractory=0,
                        gamma=0.3))

    def _batch(self, B: int, rng: np.random.Generator) -> Batch:
        T = self.T
        inputs = np.ascontiguousarray(np.broadcast_to(self.input[:, None, :], (T, B, self.n_in)))
        targets = np.ascontiguousarray(np.broadcast_to(self.target[:, None, :], (T, B, self.n_out)))
        return Batch(inputs=inputs, targets=targets, mask=np.ones((T, B, self.n_out)),
                     info=fixed_periods_info({"trial": (0, T)}, B))

    def accuracy(self, outputs, batch: Batch) -> float:
        """Fraction of trials with ``R^2 >= 0.9`` against the target over the whole trial."""
        y = self._check_outputs(outputs, batch)
        mse = np.mean((y - batch.targets) ** 2, axis=(0, 2))
        r2 = 1.0 - mse / np.mean(np.var(batch.targets, axis=0), axis=1)
        return float(np.mean(r2 >= self.R2_CORRECT))

    def _adjust_network(self, net: SpikingNetwork) -> SpikingNetwork:
        """W_in and W times ``1 - alpha``: the reference cell's input scaling."""
        c = 1.0 - net.alpha
        net.W_in = np.ascontiguousarray(net.W_in * net.dtype.type(c))
        net.W = np.ascontiguousarray(net.W * net.dtype.type(c))
        net.meta["input_scale"] = "W_in, W times 1 - alpha (Bellec's LightLIF)"
        return net


__all__ = ["PatternGenerationTask", "sum_of_sines", "PERIODS"]
