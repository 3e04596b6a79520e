"""The batched learner of spiking networks: one gradient and one update per batch.

:class:`SpikingBatchLearner` is a :class:`localrnn.learners.Learner` (what a
:class:`localrnn.Trainer` run asks of a learning rule): it shares everything but the
gradient with the rate networks' :class:`localrnn.learners.BatchLearner`
(:class:`~localrnn.learners.GradientLearner`: the finite check, clipping, the
optimiser and its state).  The online learner is
:class:`localrnn.spiking.SpikingOnlineLearner`.
"""
from __future__ import annotations

from typing import Mapping, Optional, Union

from .._validate import check_choice
from ..learners import GradientLearner
from ..names import LOSSES, SPIKING_RULES
from ..network import feedback_matrix
from .engine import check_network, check_regularizer, gradient_terms
from .network import SpikingNetwork


class SpikingBatchLearner(GradientLearner):
    """BPTT or e-prop over a batch of trials (:func:`localrnn.spiking.gradient`), then
    one optimiser step.

    Parameters
    ----------
    net : SpikingNetwork
        Trained in place.
    rule : {"bptt", "eprop"}
    lr, optimizer, loss, seed, trainable, clip
        As :class:`~localrnn.learners.BatchLearner`.
    feedback : None, "symmetric", "random" or (N, O) array
        e-prop's F: None or "symmetric" reads the current ``W_out`` at every batch;
        "random" is drawn once, here, from ``seed``.  BPTT takes only None or
        "symmetric".
    reg, reg_rate : float
        The firing-rate regulariser of :func:`localrnn.spiking.gradient` (0: off).

    :meth:`learn` returns the batch's task loss (MODEL.md section 3, without the
    regulariser, so it compares with a held-out loss) and descends the task loss plus
    the regulariser.
    """

    def __init__(self, net: SpikingNetwork, rule: str = "bptt", lr: Union[float, Mapping] = 1e-3,
                 optimizer: str = "adam", feedback=None, loss: str = "mse", seed: int = 0,
                 trainable=None, clip: Optional[float] = None, reg: float = 0.0,
                 reg_rate: float = 0.0):
        check_network(net)
        self.rule = check_choice("rule", rule, SPIKING_RULES)
        self.loss = check_choice("loss", loss, LOSSES)
        self.reg, self.reg_rate = check_regularizer(reg, reg_rate)
        self._setup(net, optimizer, lr, trainable, clip)
        self.feedback = feedback
        if rule == "eprop" and not (feedback is None or isinstance(feedback, str) and feedback == "symmetric"):
            self.feedback = feedback_matrix(net, feedback, rule, seed)

    def loss_and_grads(self, batch, h0=None):
        t = gradient_terms(self.net, batch.inputs, batch.targets, batch.mask, loss=self.loss,
                           rule=self.rule, feedback=self.feedback, v0=h0, reg=self.reg,
                           reg_rate=self.reg_rate)
        return t.loss, t.grads


__all__ = ["SpikingBatchLearner"]
