"""Training on a task: iterations over fresh batches, evaluation, results on disk.

The loop over iterations lives here, in Python; every batch is one kernel call
per pass.  Reproducibility is by construction: the batch of
iteration ``i`` is drawn from ``default_rng([seed, 1, i])`` and the held-out
evaluation batch from ``default_rng([seed, 2])``, so a run resumed from a
checkpoint draws exactly the batches an uninterrupted run would, and ends with
bit-identical weights.

One iteration is one call of the run's learner (:mod:`localrnn.learners`: the batched
rules, the online learner, the integer online learner, chosen once by
:func:`make_learner`); the loop asks it for nothing else.

The results folder (config, append-only metrics, weights, checkpoint,
exponents, figure) is read and written through :class:`localrnn.runs.RunDir`,
which documents its layout; figures come from :mod:`localrnn.plotting`.

Before anything is allocated, :func:`estimate_memory` bounds the bytes a run
needs and :meth:`TrainConfig.resolved` refuses a run that would not fit in
:data:`~localrnn._validate.MEMORY_FRACTION` of the machine's physical memory
(:func:`localrnn._validate.check_memory_bytes`, shared with the fixed-point grids).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

import numpy as np

from ._validate import check_choice, check_dtype, check_memory_bytes, check_number
from .engine import loss_and_delta, trajectory
from .kernels.online_layout import buffer_layout, influence_columns
from .learners import BatchLearner, Learner, TrainingDiverged
from .names import (ACTIVATIONS, EXACT_RULES, FEEDBACKS, FLOSS_MODES, FORMS, KIND, LOCAL_RULES,
                    OPTIMIZERS, PARAM_NAMES, RULES, SPIKING_RULES, TRUNCATIONS)
from .network import Network
from .kernels.seeding import seed_words as _seed_words_k
from ._threads import step_blas_limit
from .optim import all_finite
from .neuromorphic.fixed import QuantizedOnlineLearner
from .spiking import SpikingBatchLearner, SpikingNetwork, SpikingOnlineLearner
from .spiking import trajectory as spiking_trajectory
from .spiking.engine import check_regularizer
from .tasks.spiking_base import SpikingTask
from .online import OnlineLearner
from .plotting import plot_run, save_figure
from .runs import CURVE, PROBE_TRIALS, RunDir, probe_inputs


#: The rule of a run that names none, on a task that names none (the spiking tasks name
#: their reference's, ``defaults["rule"]``).
DEFAULT_RULE = "rflo"


def default_rule(task: str, task_kwargs: Optional[Dict] = None) -> str:
    """The rule a run of ``task`` gets when it names none: the task's
    (``defaults["rule"]``; the spiking tasks' reference rule), else :data:`DEFAULT_RULE`."""
    from .tasks import get_task

    return get_task(task, **(task_kwargs or {})).defaults.get("rule", DEFAULT_RULE)


@dataclass
class TrainConfig:
    """Everything that defines a training run (``None``: the task's default).

    ``rule`` is one of bptt, rtrl, eprop, rflo (None: the task's, rflo for the rate
    tasks; :data:`DEFAULT_RULE`); ``online`` streams each batch
    through :class:`localrnn.OnlineLearner` with per-step updates instead of one
    update per batch.  ``clip`` (batched rules only): the global L2 norm of the
    trained parameters' gradients above which they are scaled down to it before the
    optimiser (None: off).  ``lyap_every=K``: every K iterations, lambda_max of the
    current network on the run's probe inputs and seed (those of lyapunov.json) goes
    into the ``lambda_max`` column of metrics.csv (None: never).  It is the exponent of
    one direction (k = 1): lyapunov.json's first exponent (k = min(N, 10)) starts from
    other random directions and, over the probe's few trials, differed from it by up to
    0.02 per step on Romo networks at N = 64 and 256.  ``floss_mode``: the flossing
    gradient of the pretraining (:data:`localrnn.names.FLOSS_MODES`: ``local``, the
    paper's; ``local-keep-q``, the state held fixed but not Q_{t-1}; ``exact``).
    ``rescale_to=x``: before training, W is multiplied by the scalar that brings
    lambda_max (k = 1, the probe inputs) to x (:func:`localrnn.lyapunov.rescale_to_lambda`;
    the control for flossing).  ``truncation`` (local rules): what they drop,
    ``recurrent`` (default) or ``state`` (:data:`localrnn.names.TRUNCATIONS`).  ``plot=False`` skips drawing
    ``curve.png`` (a sweep's cells: drawing it costs more than a tiny run); it changes no
    number of the run.  Each field's metadata names the kind of value it takes
    (:data:`localrnn.names.KIND`).

    **Spiking tasks** (``cue``, ``pattern``: a :class:`localrnn.spiking.SpikingNetwork`,
    MODEL.md section 9).  ``model`` (``lif``/``alif``; None: the task's), ``neuron``
    (keyword arguments of :meth:`SpikingNetwork.init <localrnn.spiking.SpikingNetwork.init>`
    overriding the task's: reset, tau_m, tau_a, tau_out, v_th, v_reset, refractory,
    gamma, beta, n_adaptive; resolved to the complete set the run uses), ``reg`` and
    ``reg_rate`` (the firing-rate regulariser ``0.5 reg sum_j (r_j - reg_rate)^2``, rate
    in spikes per step; None: the task's, online the task's online value where it names
    one (cue: 0); online runs apply it as :class:`~localrnn.spiking.SpikingOnlineLearner`
    does).  ``rule`` is bptt or eprop (online: eprop); the rate-network options (form,
    activation, quantize, truncation, flossing, rescale_to, lyapunov, lyap_every) are
    refused, and a rate task refuses model, neuron, reg and reg_rate.
    """

    task: str = field(default="romo", metadata={KIND: "str"})
    rule: Optional[str] = field(default=None, metadata={KIND: "str"})
    gain: Optional[float] = field(default=None, metadata={KIND: "float"})
    n_rec: Optional[int] = field(default=None, metadata={KIND: "int"})
    batch: Optional[int] = field(default=None, metadata={KIND: "int"})
    iters: Optional[int] = field(default=None, metadata={KIND: "int"})
    lr: Optional[float] = field(default=None, metadata={KIND: "float_or_table"})
    optimizer: Optional[str] = field(default=None, metadata={KIND: "str"})
    clip: Optional[float] = field(default=None, metadata={KIND: "float"})
    form: Optional[str] = field(default=None, metadata={KIND: "str"})
    activation: Optional[str] = field(default=None, metadata={KIND: "str"})
    model: Optional[str] = field(default=None, metadata={KIND: "str"})
    neuron: Dict = field(default_factory=dict, metadata={KIND: "table"})
    reg: Optional[float] = field(default=None, metadata={KIND: "float"})
    reg_rate: Optional[float] = field(default=None, metadata={KIND: "float"})
    dtype: str = field(default="float64", metadata={KIND: "str"})
    feedback: Optional[str] = field(default=None, metadata={KIND: "str"})
    online: bool = field(default=False, metadata={KIND: "bool"})
    quantize: Optional[str] = field(default=None, metadata={KIND: "str"})
    seed: int = field(default=0, metadata={KIND: "int"})
    eval_every: Optional[int] = field(default=None, metadata={KIND: "int"})
    eval_batch: int = field(default=128, metadata={KIND: "int"})
    checkpoint_every: int = field(default=50, metadata={KIND: "int"})
    floss_iters: int = field(default=0, metadata={KIND: "int"})
    floss_k: Optional[int] = field(default=None, metadata={KIND: "int"})
    floss_mode: str = field(default="local", metadata={KIND: "str"})
    floss_lr: Optional[float] = field(default=None, metadata={KIND: "float"})
    rescale_to: Optional[float] = field(default=None, metadata={KIND: "float"})
    truncation: Optional[str] = field(default=None, metadata={KIND: "str"})
    lyapunov: bool = field(default=False, metadata={KIND: "bool"})
    lyap_every: Optional[int] = field(default=None, metadata={KIND: "int"})
    trainable: Optional[List[str]] = field(default=None, metadata={KIND: "names"})
    task_kwargs: Dict = field(default_factory=dict, metadata={KIND: "table"})
    plot: bool = field(default=True, metadata={KIND: "bool"})

    # ------------------------------------------------------------------ defaults
    def resolved(self) -> "TrainConfig":
        """A copy with the task's defaults filled in and every value checked."""
        from .tasks import get_task

        task = get_task(self.task, **self.task_kwargs)
        d = dict(task.defaults)
        c = TrainConfig(**asdict(self))
        spiking = isinstance(task, SpikingTask)
        if spiking:
            _refuse_rate_options(c, task)
        else:
            _refuse_spiking_options(c, task)
        if c.rule is None:
            c.rule = d.get("rule", DEFAULT_RULE)    # as default_rule(c.task)
        if spiking and c.rule not in SPIKING_RULES:
            raise ValueError(f"rule={c.rule!r} is not allowed for task {task.name!r} (a spiking network); "
                             f"choose one of {', '.join(SPIKING_RULES)}")
        check_choice("rule", c.rule, RULES)
        if c.gain is None:
            if d.get("gain") is None:
                raise ValueError(f"task {c.task!r} defines no default gain; give gain=...")
            c.gain = d["gain"]
        c.gain = check_number("gain", c.gain, lo=0.0)
        c.n_rec = check_number("n_rec", c.n_rec if c.n_rec is not None else d.get("n_rec", 128),
                               lo=1, integer=True)
        c.batch = check_number("batch", c.batch if c.batch is not None else d.get("batch", 32),
                               lo=1, integer=True)
        c.iters = check_number("iters", c.iters if c.iters is not None else d.get("iters", 300),
                               lo=1, integer=True)
        if c.lr is None:   # an online run of a spiking task may name its own (per-step) rate
            c.lr = d.get("lr_online", d.get("lr", 1e-3)) if c.online else d.get("lr", 1e-3)
        if isinstance(c.lr, dict):
            c.lr = {k: check_number(f"lr[{k}]", v, lo=0.0) for k, v in c.lr.items()}
        else:
            c.lr = check_number("lr", c.lr, lo=0.0, lo_open=True)
        c.optimizer = check_choice("optimizer", c.optimizer or ("sgd" if c.quantize is not None else
                                                                d.get("optimizer", "adam")), OPTIMIZERS)
        if c.quantize is not None:  # the integer online learner (issue 11): e-prop/RFLO, SGD
            from .neuromorphic.quantspec import QuantSpec

            QuantSpec.parse(c.quantize)
            if not c.online or c.rule not in LOCAL_RULES or c.optimizer != "sgd":
                raise ValueError(f"quantize={c.quantize!r} needs online=True, rule eprop or rflo and "
                                 f"optimizer sgd (got online={c.online}, rule={c.rule!r}, "
                                 f"optimizer={c.optimizer!r})")
        if not spiking:
            c.form = check_choice("form", c.form or d.get("form", "current"), FORMS)
            c.activation = check_choice("activation", c.activation or d.get("activation", "tanh"),
                                        ACTIVATIONS)
        check_dtype(c.dtype)
        if c.feedback is not None:
            check_choice("feedback", c.feedback, FEEDBACKS)
            if c.rule in EXACT_RULES and c.feedback != "symmetric":
                raise ValueError(f"feedback={c.feedback!r} is only for the local rules (eprop, rflo); "
                                 f"rule={c.rule!r} is exact")
        if c.online and c.rule == "bptt":
            raise ValueError("online=True needs a rule that runs forward in time: "
                             f"{'eprop' if spiking else 'rtrl, eprop or rflo'}, not rule='bptt'")
        if spiking:
            _resolve_spiking(c, task)
        if c.rule in LOCAL_RULES and not spiking:
            c.truncation = check_choice("truncation", c.truncation or "recurrent", TRUNCATIONS)
            if c.truncation != "recurrent" and c.online:
                raise ValueError(f"truncation={c.truncation!r} is for the batched rules (online=False); "
                                 "the online learners keep the eligibility traces of MODEL.md section 5")
        elif c.truncation is not None:
            raise ValueError(f"truncation={c.truncation!r} is only for the local rules (eprop, rflo); "
                             f"rule={c.rule!r} is exact")
        if c.clip is not None:
            c.clip = check_number("clip", c.clip, lo=0.0, lo_open=True)
            if c.online:
                raise ValueError(f"clip={c.clip!r} is for the batched rules (online=False): the online "
                                 "learners apply each step's update inside the step kernel")
        c.seed = check_number("seed", c.seed, lo=0, integer=True)
        ev = c.eval_every if c.eval_every is not None else d.get("eval_every", max(1, c.iters // 20))
        c.eval_every = check_number("eval_every", ev, lo=1, integer=True)
        c.eval_batch = check_number("eval_batch", c.eval_batch, lo=1, integer=True)
        c.checkpoint_every = check_number("checkpoint_every", c.checkpoint_every, lo=1, integer=True)
        c.floss_iters = check_number("floss_iters", c.floss_iters, lo=0, integer=True)
        if c.lyap_every is not None:
            c.lyap_every = check_number("lyap_every", c.lyap_every, lo=1, integer=True)
        if c.floss_k is not None:
            c.floss_k = check_number("floss_k", c.floss_k, lo=1, hi=c.n_rec, integer=True)
        if c.floss_lr is not None:
            c.floss_lr = check_number("floss_lr", c.floss_lr, lo=0.0, lo_open=True)
        c.floss_mode = check_choice("floss_mode", c.floss_mode, FLOSS_MODES)
        if c.rescale_to is not None:
            c.rescale_to = check_number("rescale_to", c.rescale_to)
            if c.floss_iters > 0:
                raise ValueError(f"rescale_to={c.rescale_to!r} and floss_iters={c.floss_iters!r}: give one "
                                 "pretraining, the rescaling (a control) or flossing")
        c.task_kwargs = dict(c.task_kwargs)
        tr = list(c.trainable if c.trainable is not None else d.get("trainable", PARAM_NAMES))
        for k in tr:
            check_choice("trainable entry", k, PARAM_NAMES)
        c.trainable = tr
        if not isinstance(c.plot, (bool, np.bool_)):
            raise ValueError(f"plot={c.plot!r} is not allowed; give True or False")
        c.plot = bool(c.plot)
        check_memory(c, task)
        return c

    def to_json(self) -> Dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: Dict) -> "TrainConfig":
        d = dict(d)
        if "floss_exact" in d:   # a config.json written before floss_mode (0.1.0 development)
            d.setdefault("floss_mode", "exact" if d.pop("floss_exact") else "local")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; allowed {sorted(names)}")
        return cls(**d)


#: Options of rate networks (and their values when not given), refused for a spiking task.
RATE_ONLY_OPTIONS = (("form", None), ("activation", None), ("quantize", None), ("truncation", None),
                     ("floss_iters", 0), ("floss_k", None), ("floss_lr", None), ("floss_mode", "local"),
                     ("rescale_to", None), ("lyapunov", False), ("lyap_every", None))
#: Options of spiking networks, refused for a rate task.
SPIKING_ONLY_OPTIONS = ("model", "neuron", "reg", "reg_rate")


def _spiking_task_names() -> str:
    from .tasks import TASKS

    return ", ".join(n for n, cls in TASKS.items() if issubclass(cls, SpikingTask))


def _refuse_rate_options(c: TrainConfig, task) -> None:
    for name, unset in RATE_ONLY_OPTIONS:
        v = getattr(c, name)
        if not (v is unset or (not isinstance(v, bool) and v == unset)):
            raise ValueError(f"{name}={v!r} is an option of rate networks; task {task.name!r} trains a "
                             "spiking network (MODEL.md section 9)")


def _refuse_spiking_options(c: TrainConfig, task) -> None:
    if c.neuron is None:
        c.neuron = {}
    given = [(k, getattr(c, k)) for k in SPIKING_ONLY_OPTIONS if k != "neuron"]
    given += list(c.neuron.items()) if isinstance(c.neuron, dict) else [("neuron", c.neuron)]
    for name, v in given:
        if v is not None:
            raise ValueError(f"{name}={v!r} is an option of spiking networks; task {task.name!r} trains "
                             f"a rate network (spiking tasks: {_spiking_task_names()})")


def _resolve_spiking(c: TrainConfig, task) -> None:
    """The spiking options of ``c`` (in place): the neuron model and the complete neuron
    options (:meth:`~localrnn.tasks.spiking_base.SpikingTask.neuron_options`), e-prop's
    feedback and the regulariser, the task's where not given."""
    d = task.defaults
    c.model, c.neuron = task.neuron_options(c.n_rec, c.model, c.neuron)
    if c.rule == "eprop" and c.feedback is None:
        c.feedback = d["feedback"]
    if c.online and c.reg is None:
        # an online run's own default where the task names one (cue: 0, it learns
        # without it), else the task's reg (SpikingOnlineLearner's online regulariser)
        c.reg = d.get("reg_online", d["reg"])
    c.reg, c.reg_rate = check_regularizer(d["reg"] if c.reg is None else c.reg,
                                          d["reg_rate"] if c.reg_rate is None else c.reg_rate)


@dataclass
class TrainResult:
    """What a run produced.  ``metrics`` rows follow ``METRIC_FIELDS``."""

    config: TrainConfig
    net: Network
    init_net: Network
    metrics: List[Dict]
    status: str  # "done", "interrupted", "diverged"
    out_dir: Optional[Path] = None
    message: str = ""
    lyapunov: Optional[Dict] = None
    seconds_per_iter: float = float("nan")

    def summary(self) -> Dict:
        """The run in one dict (the CLI's summary line).  ``seconds_per_iter``: this
        invocation's wall time per iteration, its evaluations and checkpoints and the
        first iteration's kernel compilation (a cold cache: ~2 minutes) included;
        ``median_step_seconds``: the median of ``metrics.csv``'s per-iteration
        ``seconds`` (the training step alone), the speed without one-off costs."""
        last = self.metrics[-1] if self.metrics else {}
        evals = [m for m in self.metrics if m.get("eval_loss") is not None]
        ev = evals[-1] if evals else {}
        out = {
            "task": self.config.task, "rule": self.config.rule,
            **({} if self.config.model is None else {"model": self.config.model}),
            "gain": self.config.gain,
            "n_rec": self.config.n_rec, "iters": self.config.iters, "lr": self.config.lr,
            "status": self.status,
            "iterations": int(last.get("iteration", 0)),
            "final_loss": last.get("loss", float("nan")),
            "eval_loss": ev.get("eval_loss", float("nan")),
            "accuracy": ev.get("accuracy", float("nan")),
            "seconds_per_iter": self.seconds_per_iter,
            "median_step_seconds": _median_seconds(self.metrics),
        }
        if self.config.clip is not None:
            out["clip"] = self.config.clip
        if self.config.lyap_every is not None:   # the last recorded lambda_max
            lm = [m["lambda_max"] for m in self.metrics if m.get("lambda_max") is not None]
            out["lambda_max"] = lm[-1] if lm else float("nan")
        out["out"] = str(self.out_dir) if self.out_dir else None
        return out


# ---------------------------------------------------------------------------- memory

#: bytes a metrics row takes in memory (a dict of six numbers), measured order of magnitude
_ROW_BYTES = 700


def estimate_memory(config: TrainConfig, task=None) -> Dict[str, int]:
    """Bytes a run of ``config`` (resolved) allocates at most, by part (an upper estimate).

    Parts (``it`` = 4 or 8 bytes, N units, B trials, T steps, I inputs, O outputs,
    P = N^2 + N I + N recurrent parameters):

    ``weights``       8 copies of the parameters (network, initial, last good,
                      gradient, two Adam moments, checkpoint buffers)
    ``trajectories``  the training batch's forward/backward history
                      ``B T (4 N + 2 O + I)`` plus its float64 inputs and targets
    ``eval``          the same for the held-out batch (``eval_batch``)
    ``rtrl``          RTRL's sensitivities ``2 N P`` (offline); online, the learner's
                      whole buffer (``kernels.online_layout.buffer_layout``: the
                      ``2 B N P`` influence matrices and the rest)
    ``traces``        local rules' eligibility traces ``4 B N (N + I + 1)``; online, the
                      learner's whole buffer (as for ``rtrl``)

    A spiking network's trajectory keeps ``6 N`` values per step and trial instead of
    ``4 N`` (voltages, spikes, pseudo-derivatives, adaptation, the adjoint and a spare);
    its batched e-prop needs no traces, its online learner
    ``B ((nv + na + N) (I + 1 + N) + 10 N)`` (eps_v with ``nv`` = 1 or N rows, eps_a with
    ``na`` = N for ALIF, ebar; its state rows).
    ``lyapunov``      Q matrices of the probe batch ``4 * 8 T N k`` when exponents or
                      flossing are asked for (k = 1 for ``lyap_every`` alone)
    ``metrics``       the rows kept in memory, ``iters * 700``

    Returns a dict of those parts and ``"total"``.
    """
    if task is None:
        from .tasks import get_task

        task = get_task(config.task, **config.task_kwargs)
    c = config
    it = 4 if str(c.dtype) == "float32" else 8
    N, B, Be = int(c.n_rec), int(c.batch), int(c.eval_batch)
    T, I, O = int(max(getattr(task, "T", 1), 1)), int(task.n_in), int(task.n_out)
    P = N * N + N * I + N
    spiking = c.model is not None
    n_hist = 6 if spiking else 4
    traj = lambda b: b * T * ((n_hist * N + 2 * O + I) * it + (I + O) * 8)  # noqa: E731
    parts = {"weights": 8 * (P + O * N + O) * it, "trajectories": traj(B), "eval": traj(Be),
             "rtrl": 0, "traces": 0, "lyapunov": 0, "metrics": int(c.iters) * _ROW_BYTES}
    if spiking:
        if c.online:   # SpikingOnlineLearner: eps_v, eps_a, ebar over P' = I + 1 + N, state
            nv = N if c.neuron.get("reset") == "set" else 1
            na = N if c.model == "alif" else 0
            parts["traces"] = B * ((nv + na + N) * (I + 1 + N) + 10 * N) * it
    elif c.online:   # the learner's buffer, as it lays it out (with C_KEEP's extra row)
        _, PM = influence_columns(N, I, c.trainable if c.rule == "rtrl" else ())
        parts["rtrl" if c.rule == "rtrl" else "traces"] = buffer_layout(
            c.rule, c.form, B, N, I, O, PM, keep=True).size * it
    elif c.rule == "rtrl":
        parts["rtrl"] = 2 * N * P * it
    elif c.rule in LOCAL_RULES:
        parts["traces"] = 4 * B * N * (N + I + 1) * it
    if c.floss_iters or c.lyapunov or c.lyap_every:
        k = (c.floss_k or min(N, 10)) if (c.floss_iters or c.lyapunov) else 1
        parts["lyapunov"] = 4 * PROBE_TRIALS * T * N * k * 8
    parts["total"] = sum(parts.values())
    return parts


#: which options drive each part of the estimate (named in the error message)
_DRIVERS = {"weights": ("n_rec",), "trajectories": ("batch", "n_rec"), "eval": ("eval_batch", "n_rec"),
            "rtrl": ("n_rec", "batch"), "traces": ("batch", "n_rec"), "lyapunov": ("n_rec", "floss_k"),
            "metrics": ("iters",)}


def check_memory(config: TrainConfig, task=None) -> None:
    """``ValueError`` if :func:`estimate_memory` exceeds ``MEMORY_FRACTION`` of the
    physical memory (:func:`localrnn._validate.check_memory_bytes`); the message
    names the values that drive the largest part."""
    est = estimate_memory(config, task)
    part = max((k for k in est if k != "total"), key=lambda k: est[k])
    vals = ", ".join(f"{k}={getattr(config, k)}" for k in _DRIVERS[part])
    try:
        size = f"{float(est[part]):.3g}"
    except OverflowError:
        size = "inf"
    check_memory_bytes(est["total"], f"{vals}: the run", f"{part} {size}")


# ---------------------------------------------------------------------------- helpers

def make_learner(config: TrainConfig, net: Network, loss: str) -> Learner:
    """The :class:`~localrnn.learners.Learner` of a resolved config, training ``net``:
    :class:`~localrnn.neuromorphic.fixed.QuantizedOnlineLearner` with ``quantize``,
    :class:`~localrnn.OnlineLearner` with ``online``, else
    :class:`~localrnn.learners.BatchLearner`; for a
    :class:`~localrnn.spiking.SpikingNetwork`, :class:`~localrnn.spiking.SpikingOnlineLearner`
    with ``online``, else :class:`~localrnn.spiking.SpikingBatchLearner`.  A dict ``lr`` gives 0 to the trained
    names it leaves out."""
    c = config
    lr = {k: (c.lr.get(k, 0.0) if isinstance(c.lr, dict) else c.lr) for k in c.trainable}
    common = dict(rule=c.rule, lr=lr, feedback=c.feedback, loss=loss, seed=c.seed,
                  trainable=c.trainable)
    if isinstance(net, SpikingNetwork):
        if c.online:
            return SpikingOnlineLearner(net, optimizer=c.optimizer, batch_size=c.batch, reg=c.reg,
                                        reg_rate=c.reg_rate, **common)
        return SpikingBatchLearner(net, optimizer=c.optimizer, clip=c.clip, reg=c.reg,
                                   reg_rate=c.reg_rate, **common)
    if c.quantize is not None:
        return QuantizedOnlineLearner(net, spec=c.quantize, batch_size=c.batch, **common)
    if c.online:
        return OnlineLearner(net, optimizer=c.optimizer, batch_size=c.batch, **common)
    return BatchLearner(net, optimizer=c.optimizer, clip=c.clip, truncation=c.truncation or "recurrent",
                        **common)


def make_network(config: TrainConfig, task):
    """The initial network of a resolved config on its task: a rate
    :class:`~localrnn.Network` (gain, size, form, activation), or for a spiking task a
    :class:`~localrnn.spiking.SpikingNetwork` (gain, size, model, the neuron options)."""
    c = config
    if isinstance(task, SpikingTask):
        return task.make_network(c.gain, seed=c.seed, n_rec=c.n_rec, dtype=c.dtype, model=c.model,
                                 **c.neuron)
    return task.make_network(c.gain, seed=c.seed, n_rec=c.n_rec, form=c.form,
                             activation=c.activation, dtype=c.dtype)


def _batch(task, B: int, seed: int, stream: int, i: int = 0):
    return task.batch(B, np.random.default_rng([seed, stream, i]))


#: PCG64's 128-bit LCG multiplier (numpy's ``PCG_DEFAULT_MULTIPLIER_128``)
_PCG_MULT = (2549297995355413924 << 64) | 4865540595714422341
_M128, _M32 = (1 << 128) - 1, 0xFFFFFFFF


def _seed_words(entropy) -> List[int]:
    """``SeedSequence(entropy).generate_state(4, np.uint64)`` (pool size 4, no spawn
    key) for a sequence of non-negative ints, as Python ints: each int split into
    little-endian 32-bit words (0 as one word), hashed by the compiled
    :func:`localrnn.kernels.seeding.seed_words`."""
    ent = []
    for e in entropy:
        e = int(e)
        if e == 0:
            ent.append(0)
        while e:
            ent.append(e & _M32)
            e >>= 32
    out = np.empty(4, dtype=np.uint64)
    _seed_words_k(np.array(ent, dtype=np.uint64), out)
    return out.tolist()


class _Draws:
    """One ``Generator(PCG64)`` set, per batch, to the state ``default_rng([seed,
    stream, i])`` starts from: the same numbers as a new generator, without building one.

    In a training loop a new Generator per iteration cost ~15 us, and the compiled batch
    call unboxing it (NumPy builds the bit generator's ctypes interface on first use)
    ~30 us more.  Here the state is computed as PCG64's constructor computes it -- the
    SeedSequence's four 64-bit words (:func:`_seed_words`, compiled; NumPy's own
    SeedSequence cost ~14 us and, measured, made the batch call after it ~17 us slower), then
    ``pcg64_set_seed``/``pcg_setseq_128_srandom_r`` -- and assigned, with the buffered
    32-bit value cleared (tests/test_tasks.py compares the states with ``default_rng``'s
    and the batches with :func:`_batch`'s).  The generator is lent to ``task.batch`` and
    reset on every draw: nothing may keep it.
    """

    def __init__(self):
        self.bit_generator = np.random.PCG64(0)
        self.generator = np.random.Generator(self.bit_generator)

    @staticmethod
    def state(seed: int, stream: int, i: int) -> Dict:
        """The ``PCG64.state`` of ``default_rng([seed, stream, i])``."""
        w = _seed_words((seed, stream, i))
        initstate, initseq = (w[0] << 64) | w[1], (w[2] << 64) | w[3]
        inc = ((initseq << 1) | 1) & _M128
        s = (inc + initstate) & _M128                     # state 0 stepped (0 * mult + inc), plus initstate
        s = (s * _PCG_MULT + inc) & _M128                 # stepped again
        return {"bit_generator": "PCG64", "state": {"state": s, "inc": inc},
                "has_uint32": 0, "uinteger": 0}

    def rng(self, seed: int, stream: int, i: int) -> np.random.Generator:
        self.bit_generator.state = self.state(seed, stream, i)
        return self.generator

    def batch(self, task, B: int, seed: int, stream: int, i: int = 0):
        """:func:`_batch`'s batch, bit for bit."""
        return task.batch(B, self.rng(seed, stream, i))


def _median_seconds(metrics) -> float:
    v = [m["seconds"] for m in metrics if m.get("seconds") is not None]
    return float(np.median(v)) if v else float("nan")


def _copy_into(saved: Dict[str, np.ndarray], arrays: Dict) -> Dict[str, np.ndarray]:
    """A copy of ``arrays`` (name -> array), written into the arrays of ``saved`` where
    their names, shapes and dtypes agree (no allocation: the loop keeps the state of the
    last good iteration this way every iteration, 1.6 MB at N = 256), new arrays where not."""
    same = saved.keys() == arrays.keys()
    out = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        d = saved.get(k) if same else None
        if d is not None and d.shape == v.shape and d.dtype == v.dtype:
            np.copyto(d, v)
            out[k] = d
        else:
            out[k] = np.array(v, copy=True)
    return out


def _all_finite(arrays) -> bool:
    return all_finite(arrays)   # one compiled pass (localrnn.optim.all_finite)


class Scores(NamedTuple):
    """What :func:`evaluate` measures on a batch."""

    loss: float
    accuracy: float
    #: the loss of the decision period alone (``Task.decision_mask``); None when the task
    #: marks none
    decision_loss: Optional[float]


def evaluate(net: Network, task, batch, h0=None) -> Scores:
    """(loss, accuracy, decision-period loss) of ``net`` on a batch (one forward pass;
    a spiking network's loss is the task's, without the firing-rate regulariser)."""
    if isinstance(net, SpikingNetwork):
        tr = spiking_trajectory(net, batch.inputs, v0=h0)
    else:
        tr = trajectory(net, batch.inputs, h0=h0)
    tg = batch.targets if task.loss == "mse" else np.ascontiguousarray(batch.targets, dtype=np.int64)
    m = np.ascontiguousarray(batch.mask, dtype=net.dtype)
    if task.loss == "mse":
        tg = np.ascontiguousarray(tg, dtype=net.dtype)
    L, _ = loss_and_delta(tr.outputs, tg, m, task.loss)
    acc = float(task.accuracy(tr.outputs, batch)) if np.all(np.isfinite(tr.outputs)) else float("nan")
    dm = task.decision_mask(batch)
    dL = None
    if dm is not None and dm.sum() > 0:
        dL = loss_and_delta(tr.outputs, tg, np.ascontiguousarray(dm, dtype=net.dtype), task.loss)[0]
    return Scores(L, acc, dL)


# ---------------------------------------------------------------------------- trainer

class Trainer:
    """Train a network on a task with one learning rule.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path, optional
        Where results go; nothing is written when None.

    Examples
    --------
    >>> cfg = TrainConfig(task="romo", rule="rflo", gain=0.5, n_rec=32, iters=5)
    >>> result = Trainer(cfg).run()           # doctest: +SKIP
    >>> result.summary()["final_loss"]         # doctest: +SKIP
    """

    def __init__(self, config: TrainConfig, out_dir=None):
        from .tasks import get_task

        self.config = config.resolved()
        c = self.config
        self.task = get_task(c.task, **c.task_kwargs)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.net = make_network(c, self.task)
        self.init_net = self.net.copy()
        self.learner: Learner = make_learner(c, self.net, self.task.loss)
        self.metrics: List[Dict] = []
        self._rows_written = 0
        self._train_batch = None
        self.start_iter = 0
        self.lyapunov: Optional[Dict] = None
        self.eval_data = _batch(self.task, c.eval_batch, c.seed, 2)
        self._draws = _Draws()

    # -------------------------------------------------------------- one iteration
    def _h0(self, B):
        # the task's h0 for B trials, made once per B (Task.h0 is a function of B and N;
        # the drivers only read it): its argument checks cost ~3 us per iteration
        cache = self.__dict__.setdefault("_h0_cache", {})
        if B not in cache:
            h0 = self.task.h0(B, self.net.n_rec)
            cache[B] = None if h0 is None else np.asarray(h0, dtype=self.net.dtype)
        return cache[B]

    def _params(self) -> Dict[str, np.ndarray]:
        return {k: getattr(self.net, k) for k in PARAM_NAMES}

    def step(self, i: int) -> float:
        """One iteration on the batch of iteration ``i`` (the learner's
        :meth:`~localrnn.learners.Learner.learn`); returns the batch loss."""
        c = self.config
        b = self._train_batch = self._draws.batch(self.task, c.batch, c.seed, 1, i)
        learn = getattr(self.learner, "_learn_own", self.learner.learn)  # see GradientLearner
        try:
            return learn(b, self._h0(c.batch))
        except TrainingDiverged as e:
            raise TrainingDiverged(f"iteration {i + 1}: {e}") from None

    # -------------------------------------------------------------- files
    @property
    def run_dir(self) -> Optional[RunDir]:
        """The results folder as a :class:`~localrnn.runs.RunDir` (None: nothing written)."""
        return None if self.out_dir is None else RunDir(self.out_dir)

    def _write(self, status: str, final=True):
        """Save the state after ``len(self.metrics)`` iterations.

        Order: new metrics rows (appended, fsynced), config, weights, checkpoint,
        exponents, figure.  A crash (or a full disk: the ``OSError`` is raised) between
        any two leaves a folder ``--resume`` continues from the previous checkpoint:
        rows beyond the checkpoint's iteration are cut on resume, and every other
        file is replaced atomically or not at all.
        """
        rd = self.run_dir
        if rd is None:
            return
        c = self.config
        rd.append_metrics(self.metrics[self._rows_written:])
        self._rows_written = len(self.metrics)
        rd.write_config(c.to_json(), status, _version())
        rd.write_weights(self.init_net, self.net, extra=self.learner.saved_arrays())
        rd.write_checkpoint(len(self.metrics), self.net, self.learner.state_dict())
        if self.lyapunov is not None:
            rd.write_lyapunov(self.lyapunov)
        if final and self.metrics and c.plot:
            save_figure(plot_run(self.metrics, label=f"{c.rule}",
                                 title=f"{c.task}: rule {c.rule}, gain {c.gain:g}, N={c.n_rec}"),
                        rd / CURVE)

    @classmethod
    def resume(cls, out_dir) -> "Trainer":
        """A trainer that continues the run saved in ``out_dir``."""
        rd = RunDir(out_dir)
        if not rd.exists():
            raise ValueError(f"--resume {str(rd.path)!r}: no config.json there; give a run folder "
                             "written by 'localrnn run'")
        d = rd.read_config()
        d.pop("localrnn_version", None)
        d.pop("status", None)
        t = cls(TrainConfig.from_json(d), rd.path)
        ck = rd.read_checkpoint()
        if ck is not None:
            n = ck["iteration"]
            for k in PARAM_NAMES:
                getattr(t.net, k)[...] = ck["params"][k]
            t.learner.load_state_dict(ck["opt"])
            t.init_net = rd.load_network("init")
            rows = rd.read_metrics() if rd.has("metrics.csv") else []
            if len(rows) < n:
                raise ValueError(f"--resume {str(rd.path)!r}: metrics.csv holds {len(rows)} rows but the "
                                 f"checkpoint is at iteration {n}; the folder is inconsistent")
            t.metrics = rows[:n]
            t.start_iter = n
            t.lyapunov = rd.read_lyapunov()
        return t

    # -------------------------------------------------------------- the loop
    def run(self, progress: Optional[Callable[[int, float], None]] = None,
            on_iteration: Optional[Callable[[int], None]] = None) -> TrainResult:
        """Train from ``start_iter`` to ``iters``.

        ``progress(n, loss)`` is called after each iteration; ``on_iteration(i)``
        before each (tests use it to simulate Ctrl-C).  KeyboardInterrupt saves
        the state after the last complete iteration and returns status
        ``"interrupted"``; a non-finite loss, gradient or weight stops with status
        ``"diverged"``, keeping the weights of the last good iteration.
        """
        c = self.config
        rd = self.run_dir
        if rd is not None:
            rd.path.mkdir(parents=True, exist_ok=True)
            if self.start_iter == 0:
                rd.start_metrics()
            else:
                rd.truncate_metrics(self.start_iter)
            self._rows_written = self.start_iter
        if self.start_iter == 0 and (c.floss_iters > 0 or c.lyapunov or c.rescale_to is not None) \
                and self.lyapunov is None:
            self._flossing_pretraining()
        if self.start_iter == 0 and c.lyap_every is not None:
            # the lambda_max column's value before the first update (after any pretraining),
            # the same k = 1 exponent as the column's
            self.lyapunov = dict(self.lyapunov or {}, lambda_max_start=self._exponents(1)[0])
        self._write("running", final=False)
        status, message = "done", ""
        t0 = time.perf_counter()
        done_here = 0
        good, good_opt = _copy_into({}, self._params()), _copy_into({}, self.learner.state_dict())
        try:
            # one BLAS thread limit for the whole loop (every kernel inside runs under it
            # anyway): entering it once instead of twice per iteration saves ~15 us of
            # threadpoolctl calls per iteration (2% of a Romo iteration at N = 64)
            with step_blas_limit():
                for i in range(self.start_iter, c.iters):
                    if on_iteration is not None:
                        on_iteration(i)
                    ti = time.perf_counter()
                    with np.errstate(over="ignore", invalid="ignore"):
                        L = self.step(i)
                    if not (math.isfinite(L) and _all_finite(getattr(self.net, k) for k in PARAM_NAMES)):
                        raise TrainingDiverged(f"non-finite loss or weights at iteration {i + 1} (loss={L!r})")
                    row = {"iteration": i + 1, "loss": L, "eval_loss": None, "accuracy": None,
                           "seconds": time.perf_counter() - ti, "train_accuracy": None,
                           "lambda_max": None, "eval_decision_loss": None}
                    if (i + 1) % c.eval_every == 0 or i + 1 == c.iters:
                        ev = evaluate(self.net, self.task, self.eval_data, self._h0(c.eval_batch))
                        row["eval_loss"], row["accuracy"] = ev.loss, ev.accuracy
                        row["eval_decision_loss"] = ev.decision_loss
                        # the training batch's score, with the weights after this update (as
                        # the held-out score): one forward of the batch at eval iterations only
                        row["train_accuracy"] = evaluate(self.net, self.task, self._train_batch,
                                                         self._h0(c.batch)).accuracy
                    if c.lyap_every is not None and (i + 1) % c.lyap_every == 0:
                        row["lambda_max"] = self._exponents(1)[0]
                    self.metrics.append(row)
                    done_here += 1
                    good = _copy_into(good, self._params())
                    good_opt = _copy_into(good_opt, self.learner.state_dict())
                    if progress is not None:
                        progress(1, L)
                    if (i + 1) % c.checkpoint_every == 0:
                        self._write("running", final=False)
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted"
        except TrainingDiverged as e:
            status, message = "diverged", str(e)
        if status != "done":
            # roll back to the state after the last complete, finite iteration
            for k in PARAM_NAMES:
                getattr(self.net, k)[...] = good[k]
            self.learner.load_state_dict(good_opt)
        elapsed = time.perf_counter() - t0
        if status == "done" and self.lyapunov is not None and "k" in self.lyapunov:
            self._lyapunov_after_training()
        self._write(status)
        return TrainResult(self.config, self.net, self.init_net, self.metrics, status, self.out_dir,
                           message, self.lyapunov,
                           elapsed / done_here if done_here else float("nan"))

    # -------------------------------------------------------------- Lyapunov
    LYAP_TRIALS = PROBE_TRIALS

    def _exponents(self, k):
        """The first k exponents (per step) on the run's probe inputs
        (:func:`localrnn.runs.probe_inputs`, the inputs ``localrnn lyapunov RUN_DIR`` uses)."""
        from .lyapunov import lyapunov_spectrum

        B = self.LYAP_TRIALS
        x = probe_inputs(self.task, self.config.seed, B)
        res = lyapunov_spectrum(self.net, x, k=k, seed=self.config.seed, h0=self._h0(B))
        return [float(v) for v in np.asarray(res.exponents)]

    def _flossing_pretraining(self):
        from .lyapunov import floss

        c = self.config
        k = c.floss_k or min(c.n_rec, 10)
        self.lyapunov = {"k": k, "before_flossing": self._exponents(k)}
        if c.rescale_to is not None:
            from .lyapunov import rescale_to_lambda

            B = self.LYAP_TRIALS
            r = rescale_to_lambda(self.net, probe_inputs(self.task, c.seed, B), c.rescale_to,
                                  seed=c.seed, h0=self._h0(B))
            self.lyapunov.update(rescale_factor=r.factor, rescale_lambda_max=r.lambda_max,
                                 rescale_reached=r.reached, after_rescale=self._exponents(k))
            self.init_net = self.net.copy()  # training starts from the rescaled weights
            self.lyapunov["note"] = "init_* in weights.npz are the weights after rescaling"
        if c.floss_iters > 0:
            kw = {} if c.floss_lr is None else {"lr": c.floss_lr}
            hist = floss(self.net, self.task, iters=c.floss_iters, k=k, local=c.floss_mode != "exact",
                         keep_q=c.floss_mode == "local-keep-q", seed=c.seed, **kw)
            self.lyapunov["floss_iters"] = c.floss_iters
            self.lyapunov["floss_mode"] = c.floss_mode
            self.lyapunov["after_flossing"] = self._exponents(k)
            self.lyapunov["floss_history_lambda_max"] = [float(v) for v in _lambda_max_history(hist)]
            self.init_net = self.net.copy()  # training starts from the flossed weights
            self.lyapunov["note"] = "init_* in weights.npz are the weights after flossing"

    def _lyapunov_after_training(self):
        k = self.lyapunov["k"]
        self.lyapunov["after_training"] = self._exponents(k)


def _lambda_max_history(hist):
    ex = getattr(hist, "exponents", hist)
    ex = np.asarray(ex)
    return ex[:, 0] if ex.ndim == 2 else ex


def _version() -> str:
    from ._version import __version__

    return __version__


def train(config: TrainConfig, out_dir=None, progress=None) -> TrainResult:
    """Train with :class:`Trainer` (see there)."""
    return Trainer(config, out_dir).run(progress=progress)
