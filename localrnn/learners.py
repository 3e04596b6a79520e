"""The learner contract: what a training run asks of a learning rule.

A :class:`localrnn.Trainer` run owns one **learner** (the :class:`Learner` protocol)
and asks it for nothing else:

``learn(batch, h0) -> float``
    One training iteration on a batch of trials (``batch.inputs`` (T, B, I),
    ``batch.targets``, ``batch.mask``; ``h0`` (B, N) or None), the weights of
    ``learner.net`` updated in place; returns the batch's loss (MODEL.md section 3).
    Raises :class:`TrainingDiverged` on a non-finite loss or gradient.
``state_dict() -> dict of arrays`` / ``load_state_dict(d)``
    Everything besides the network's weights that a bit-identical resume needs
    (optimiser moments, counters, a random stream), for ``checkpoint.npz``.
``saved_arrays() -> dict of arrays``
    Extra arrays the run saves with its weights in ``weights.npz`` (the integer weights
    and scales of :class:`~localrnn.neuromorphic.fixed.QuantizedOnlineLearner`; empty
    otherwise).

Two families implement it, for rate and for spiking networks:

* :class:`BatchLearner` -- the batched rules (BPTT, RTRL, e-prop, RFLO): one gradient
  per batch (:func:`localrnn.engine.gradient`), optionally clipped to a global L2 norm,
  then one optimiser step; :class:`localrnn.spiking.SpikingBatchLearner` does the same
  with :func:`localrnn.spiking.gradient` (BPTT, e-prop; both share
  :class:`GradientLearner`);
* :class:`localrnn.OnlineLearner` -- per-step updates while the batch's trials stream
  through (e-prop, RFLO, RTRL), :class:`localrnn.spiking.SpikingOnlineLearner` (e-prop
  of spiking networks), and
  :class:`localrnn.neuromorphic.fixed.QuantizedOnlineLearner` -- the same in integer
  arithmetic.

The streaming learners get ``learn`` and ``saved_arrays`` from
:class:`StreamingLearner`, which needs only their ``reset(h0)`` and
``run(inputs, targets, mask) -> per-step losses``: a new streaming learner with
:class:`~localrnn.OnlineLearner`'s public interface inherits it and
is a Learner.  The batch loss of a streamed batch is :func:`trial_loss`.
:class:`StreamingLearner` also holds what the three streaming learners share besides
their kernels: the counters, ``feedback``, ``run``'s argument checks, the state dict's
counters and key check, the constructor checks (see the class notes).
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Protocol, Union, runtime_checkable

import numpy as np

from ._validate import check_array, check_choice, check_number
from .engine import gradient, own_gradient
from .names import LOCAL_RULES, LOSSES, PARAM_NAMES, RULES, TRUNCATIONS
from .network import Network, check_trainable, feedback_matrix, rule_feedback
from .optim import OPTIMIZERS, all_finite, make_optimizer
from .trajectories import check_inputs, check_targets


class TrainingDiverged(RuntimeError):
    """NaN or Inf appeared in the loss, the gradient or the weights."""


@runtime_checkable
class Learner(Protocol):
    """One run's learning rule and optimiser state (see the module notes)."""

    net: Network

    def learn(self, batch, h0=None) -> float: ...

    def state_dict(self) -> Dict[str, np.ndarray]: ...

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None: ...

    def saved_arrays(self) -> Dict[str, np.ndarray]: ...


def trial_loss(losses, mask) -> float:
    """The loss of a batch streamed step by step: MODEL.md section 3 over the trial, that
    is the per-step losses ``l_t`` (each normalised by its step's mask sum ``s_t``)
    weighted by ``s_t``: ``sum_t s_t l_t / sum_t s_t`` (0 for an all-zero mask).

    ``losses`` (T,); ``mask`` (T, B, O) or (T, B).
    """
    s = np.asarray(mask, dtype=np.float64).reshape(np.shape(mask)[0], -1).sum(axis=1)
    return float((s * np.asarray(losses)).sum() / s.sum()) if s.sum() > 0 else 0.0


def grad_norm(grads: Mapping[str, np.ndarray]) -> float:
    """Global L2 norm of the gradients, summed in float64 in the order of ``grads``."""
    sq = 0.0
    for v in grads.values():
        f = np.asarray(v, dtype=np.float64).reshape(-1)
        sq += float(np.dot(f, f))
    return math.sqrt(sq)


def clip_grad_norm(grads: Mapping[str, np.ndarray], max_norm: float):
    """``(grads, norm)``: the gradients scaled by ``max_norm / norm`` if their global L2
    norm exceeds ``max_norm`` (new arrays, in their own dtype), else the same arrays
    untouched; ``norm`` is the norm before clipping (:func:`grad_norm`)."""
    norm = grad_norm(grads)
    if norm <= max_norm:
        return dict(grads), norm
    scale = max_norm / norm
    return {k: v * v.dtype.type(scale) for k, v in grads.items()}, norm


class StreamingLearner:
    """``learn`` and ``saved_arrays`` for a learner that streams trials step by step.

    The subclass provides ``reset(h0)`` (start new trials) and
    ``run(inputs, targets, mask) -> (T,) per-step losses`` (weights updated while the
    trials run).  ``learn`` resets to ``h0``, streams the batch's B trials and returns
    :func:`trial_loss`.

    It also holds the plumbing the streaming learners share, read from attributes the
    subclass sets: ``net``, ``batch_size``, ``_ctl`` (the kernel's int64 control block)
    and ``_FT`` (F^T, the feedback in use), and class attributes naming the kernel
    module's ``_ctl`` slots of the counters: ``_C_NSTEP`` (steps taken), ``_C_NUPD``
    (updates applied) and ``_C_COUNT`` (contributing steps in the current window; None
    for a learner that updates at every contributing step).  ``run``'s checks
    (:meth:`_check_run`) also read ``loss``, ``_net_kind`` (the network class it runs)
    and ``_no_noise`` (what to name in refusing state noise; None if noise is taken).
    The checkpoint helpers (:meth:`_counter_state`, :meth:`_check_state_keys`,
    :meth:`_load_counters`) read ``update_every`` (with a window) and ``_state_keys``
    (whose keys a state dict must have, for the "missing keys" message).
    """

    _C_NSTEP: int
    _C_NUPD: int
    _C_COUNT: Optional[int] = None
    _net_kind: type = Network
    _no_noise: Optional[str] = None
    _state_keys: str

    def learn(self, batch, h0=None) -> float:
        self.reset(h0)
        with np.errstate(over="ignore", invalid="ignore"):
            losses = self.run(batch.inputs, batch.targets, batch.mask)
        if not np.all(np.isfinite(losses)):
            raise TrainingDiverged("non-finite loss while streaming the batch")
        return trial_loss(losses, batch.mask)

    def saved_arrays(self) -> Dict[str, np.ndarray]:
        return {}

    @property
    def feedback(self) -> np.ndarray:
        """(N, O) copy of the feedback matrix F in use now (W_out^T if symmetric)."""
        return self._FT.T.copy()

    @property
    def n_steps(self) -> int:
        """Steps taken (every call of the step kernel, contributing or not)."""
        return int(self._ctl[self._C_NSTEP])

    @property
    def n_updates(self) -> int:
        """Optimiser updates applied (with Adam, its step count)."""
        return int(self._ctl[self._C_NUPD])

    @property
    def pending_steps(self) -> int:
        """Contributing steps accumulated since the last update (always 0 for a learner
        that updates at every contributing step)."""
        return 0 if self._C_COUNT is None else int(self._ctl[self._C_COUNT])

    def _setup_stream(self, net, rule: str, rules, optimizer: str, loss: str, update_every,
                      seed, batch_size, trainable) -> None:
        """The constructor checks of a learner with an optimiser and an update window:
        ``rule`` in ``rules``, optimiser, loss, ``update_every``, ``seed``, ``batch_size``
        and ``trainable`` checked and kept, with ``net`` (whose five arrays the kernels
        write into: each must be writeable and C-contiguous) and its dtype ``_dt``."""
        check_choice("rule", rule, rules)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("loss", loss, LOSSES)
        self.update_every = check_number("update_every", update_every, lo=1, integer=True)
        self.seed = check_number("seed", seed, lo=0, integer=True)
        self.batch_size = check_number("batch_size", batch_size, lo=1, integer=True)
        self.trainable = check_trainable(trainable)
        self.net, self.rule, self.loss, self.optimizer = net, rule, loss, optimizer
        self._dt = net.dtype
        for k in PARAM_NAMES:
            a = getattr(net, k)
            if not (a.flags.c_contiguous and a.flags.writeable):
                raise ValueError(f"net.{k} must be a writeable C-contiguous array")

    @staticmethod
    def _adam_constants(betas, eps):
        """``(beta1, beta2, eps)`` checked (as ``torch.optim.Adam``'s)."""
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas={betas!r} must be a pair (beta1, beta2)")
        return (check_number("beta1", betas[0], lo=0.0, hi=1.0, hi_open=True),
                check_number("beta2", betas[1], lo=0.0, hi=1.0, hi_open=True),
                check_number("eps", eps, lo=0.0))

    def _check_run(self, inputs, targets, mask, noise=None):
        """``(x, targets, mask)`` for ``run``: state noise refused if the learner takes
        none, ``inputs`` a (T, batch_size, I) array, ``targets`` and ``mask`` checked for
        the learner's loss (:func:`localrnn.trajectories.check_targets`)."""
        if noise is not None and self._no_noise is not None:
            raise ValueError(f"noise is not supported by {self._no_noise}; give noise=None")
        x = check_inputs(self.net, inputs, self._net_kind)
        T, B, _ = x.shape
        if B != self.batch_size:
            raise ValueError(f"inputs has {B} streams (shape {x.shape}); this learner has "
                             f"batch_size={self.batch_size}")
        tg, m = check_targets(self.net, targets, mask, self.loss, T, B)
        return x, tg, m

    def _counter_state(self) -> Dict[str, np.ndarray]:
        """The state dict's counters: ``step_count`` (updates applied), ``pending``
        (contributing steps in the current window, 0 without one) and ``n_steps``."""
        c = self._ctl
        return {"step_count": np.array(int(c[self._C_NUPD])),
                "pending": np.array(0 if self._C_COUNT is None else int(c[self._C_COUNT])),
                "n_steps": np.array(int(c[self._C_NSTEP]))}

    def _check_state_keys(self, d) -> None:
        """Refuse a state dict without every key of this learner's ``state_dict()``."""
        missing = sorted(set(self.state_dict()) - set(d))
        if missing:
            raise ValueError(f"state dict is missing {missing}; expected the keys of "
                             f"{self._state_keys}")

    def _load_counters(self, d) -> None:
        """Restore :meth:`_counter_state`'s counters into ``_ctl`` (integers >= 0; a
        pending count below ``update_every``; ``pending`` is not read without a window)."""
        ctl = self._ctl
        for key, slot in (("step_count", self._C_NUPD), ("pending", self._C_COUNT),
                          ("n_steps", self._C_NSTEP)):
            if slot is not None:
                ctl[slot] = check_number(key, np.asarray(d[key]).item(), lo=0, integer=True)
        if self._C_COUNT is not None and ctl[self._C_COUNT] >= self.update_every:
            raise ValueError(f"pending={int(ctl[self._C_COUNT])} is out of range; allowed 0.."
                             f"{self.update_every - 1} (update_every={self.update_every})")

    def _check_h0(self, h0):
        """None, or ``h0`` ((B, N), or (N,) broadcast to every stream) as a checked
        (B, N) array of the network's dtype."""
        if h0 is None:
            return None
        N, B = self.net.n_rec, self.batch_size
        h = np.asarray(h0)
        if h.ndim == 1:
            return np.broadcast_to(check_array("h0", h, (N,), self.net.dtype), (B, N)).copy()
        return check_array("h0", h, (B, N), self.net.dtype)


class GradientLearner:
    """What every batched learner shares: one gradient per batch, the trained names
    picked from it, a check that it is finite, optional clipping to a global L2 norm,
    then one optimiser step.  A subclass sets ``net``, ``trainable``, ``clip``,
    ``last_norm`` and ``opt`` (:meth:`_setup`) and gives :meth:`loss_and_grads`:
    :class:`BatchLearner` (rate networks) and
    :class:`localrnn.spiking.SpikingBatchLearner`.
    """

    def _setup(self, net, optimizer: str, lr, trainable, clip: Optional[float]) -> None:
        self.net = net
        self.trainable = check_trainable(trainable)
        self.clip = None if clip is None else check_number("clip", clip, lo=0.0, lo_open=True)
        self.last_norm = float("nan")
        self.opt = make_optimizer(optimizer, {k: getattr(net, k) for k in self.trainable}, lr)

    def loss_and_grads(self, batch, h0=None):
        """``(loss, grads)`` of the batch: the loss :meth:`learn` returns and the gradients
        of (at least) the trained parameters."""
        raise NotImplementedError

    def _own_loss_and_grads(self, batch, h0=None):
        """:meth:`loss_and_grads` for a batch the run's task just drew and the run's
        ``h0`` (:meth:`_learn_own`); a subclass may skip the argument checks here."""
        return self.loss_and_grads(batch, h0)

    def learn(self, batch, h0=None) -> float:
        return self._update(*self.loss_and_grads(batch, h0))

    def _learn_own(self, batch, h0=None) -> float:
        """:meth:`learn` for :class:`localrnn.Trainer`'s iterations: the batch its task
        just drew, ``h0`` its task's; the same numbers and the same refusal of a
        non-finite loss or gradient, the argument checks skipped where the subclass can."""
        return self._update(*self._own_loss_and_grads(batch, h0))

    def _update(self, L, g) -> float:
        grads = {k: g[k] for k in self.trainable}
        if not (math.isfinite(L) and all_finite(grads.values())):
            raise TrainingDiverged(f"non-finite loss or gradient (loss={L!r})")
        if self.clip is not None:
            grads, self.last_norm = clip_grad_norm(grads, self.clip)
        self.opt.step(grads)
        return L

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The optimiser's state (:meth:`localrnn.optim.Adam.state_dict`)."""
        return self.opt.state_dict()

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        self.opt.load_state_dict(d)

    def saved_arrays(self) -> Dict[str, np.ndarray]:
        return {}


class BatchLearner(GradientLearner):
    """A batched rule with an optimiser: one gradient and one update per batch.

    Parameters
    ----------
    net : Network
        Trained in place.
    rule : {"bptt", "rtrl", "eprop", "rflo"}
    lr : float or dict
        As :func:`localrnn.optim.make_optimizer` (a dict covers the trained names).
    optimizer : {"sgd", "adam"}
    feedback : None, "symmetric", "random" or (N, O) array
        F of the local rules; None picks the rule's default (e-prop symmetric, RFLO
        random, drawn once from ``seed``).  The exact rules take only None or
        "symmetric".
    loss : {"mse", "xent"}
    seed : int
        Seed of a random feedback matrix.
    trainable : iterable of names, optional
        Default all five parameters.
    clip : float, optional
        Global L2 norm of the trained parameters' gradients above which they are
        scaled down to it, before the optimiser (None: no clipping).
        :attr:`last_norm` is the norm before clipping of the last batch.
    truncation : {"recurrent", "state"}
        What a local rule drops (:func:`localrnn.engine.gradient`).
    """

    def __init__(self, net: Network, rule: str = "bptt", lr: Union[float, Mapping] = 1e-3,
                 optimizer: str = "adam", feedback=None, loss: str = "mse", seed: int = 0,
                 trainable=None, clip: Optional[float] = None, truncation: str = "recurrent"):
        if not isinstance(net, Network):
            raise ValueError(f"net is a {type(net).__name__}; expected a localrnn.Network")
        self.rule = check_choice("rule", rule, RULES)
        self.loss = check_choice("loss", loss, LOSSES)
        self._setup(net, optimizer, lr, trainable, clip)
        self.truncation = check_choice("truncation", truncation, TRUNCATIONS)
        # a random F is drawn once, here; symmetric feedback stays the string, so that
        # engine.gradient reads the current W_out at every batch (the exact rules'
        # feedback goes through as given: engine.gradient checks it)
        self.feedback = feedback
        if rule in LOCAL_RULES:
            fb = rule_feedback(rule, feedback)
            symmetric = isinstance(fb, str) and fb == "symmetric"
            self.feedback = "symmetric" if symmetric else feedback_matrix(net, fb, rule, seed)

    def loss_and_grads(self, batch, h0=None):
        kw = {} if self.feedback is None else {"feedback": self.feedback}
        if self.truncation != "recurrent":
            kw["truncation"] = self.truncation
        return gradient(self.net, batch.inputs, batch.targets, batch.mask, loss=self.loss,
                        rule=self.rule, h0=h0, **kw)

    def _own_loss_and_grads(self, batch, h0=None):
        # engine.own_gradient: gradient()'s conversions without its checks, with the F
        # gradient() would use (symmetric: the current W_out^T; random: the array drawn
        # at construction; the exact rules: None)
        if self.rule in LOCAL_RULES:
            fb = self.feedback
            F = np.ascontiguousarray(self.net.W_out.T) if isinstance(fb, str) else fb
        else:
            F = None
        return own_gradient(self.net, batch.inputs, batch.targets, batch.mask, self.loss, self.rule,
                            F, h0, self.truncation)


__all__ = ["Learner", "GradientLearner", "BatchLearner", "StreamingLearner", "TrainingDiverged", "trial_loss",
           "grad_norm", "clip_grad_norm"]
