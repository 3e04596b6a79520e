"""Spiking networks: LIF and ALIF neurons trained by BPTT and e-prop (MODEL.md section 9).

Bellec et al. (2020), "A solution to the learning dilemma for recurrent networks of
spiking neurons", Nature Communications 11:3625, as their e-prop tutorials write it,
in the explicit-update style of the rest of the package: Numba kernels
(:mod:`localrnn.kernels.spiking`, :mod:`localrnn.kernels.spiking_online`) behind
drivers that validate, allocate and draw all random numbers.

* :class:`SpikingNetwork` -- the parameters and neuron options (``init`` seeded like
  :meth:`localrnn.Network.init`);
* :func:`forward`, :func:`trajectory` -- spikes, voltages, thresholds, outputs;
* :func:`gradient` -- loss and BPTT / e-prop gradients over a batch
  (:func:`gradient_terms`: the task loss and the regulariser apart);
* :class:`SpikingBatchLearner` -- a gradient and an optimiser step per batch;
* :class:`SpikingOnlineLearner` -- e-prop online, one step at a time, with the
  interface of :class:`localrnn.OnlineLearner`.

Both learners implement :class:`localrnn.learners.Learner`: ``localrnn run cue`` (a
:class:`localrnn.Trainer` run) trains a spiking network through them.

Examples
--------
>>> import numpy as np
>>> from localrnn.spiking import SpikingNetwork, gradient
>>> net = SpikingNetwork.init(n_in=4, n_rec=32, n_out=2, model="alif", seed=0)
>>> x = (np.random.default_rng(0).random((50, 8, 4)) < 0.1).astype(float)
>>> L, g = gradient(net, x, np.zeros((50, 8, 2)), rule="eprop")
>>> g["W"].shape
(32, 32)
"""
from .engine import (METHODS, GradientTerms, SpikingTrajectory, forward, gradient, gradient_terms,
                     loss_value, trajectory)
from .learners import SpikingBatchLearner
from .network import SpikingNetwork
from .online import SpikingOnlineLearner

__all__ = ["SpikingNetwork", "SpikingTrajectory", "forward", "trajectory", "gradient",
           "gradient_terms", "GradientTerms", "loss_value", "SpikingBatchLearner",
           "SpikingOnlineLearner", "METHODS"]
