"""What the spiking tasks share: defaults with neuron options, and their network.

A spiking task is a :class:`~localrnn.tasks.base.Task` (batches, loss, accuracy) whose
network is a :class:`localrnn.spiking.SpikingNetwork`.  Its ``defaults`` hold the
training defaults of every task (``n_rec, batch, optimizer, lr, iters, eval_every,
trainable, gain``), the spiking ones (``model``, ``rule`` -- the reference's rule --,
``feedback``, ``reg``, ``reg_rate``: the firing-rate regulariser of
:func:`localrnn.spiking.gradient`) and ``neuron``: the keyword arguments of
:meth:`SpikingNetwork.init` the reference uses.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from .._validate import check_choice, check_number
from ..names import NEURON_OPTIONS, PARAM_NAMES, SPIKING_MODELS
from ..spiking import SpikingNetwork
from ..spiking.network import check_neuron_options
from .base import Task


def make_spiking_defaults(*, n_rec: int, batch: int, optimizer: str, lr, iters: int,
                          eval_every: int, trainable, gain: float, model: str, rule: str,
                          feedback: str, reg: float, reg_rate: float, neuron: Dict,
                          lr_online=None, reg_online=None) -> Dict:
    """A spiking task's defaults, checked once where the task is defined.  ``lr_online``
    (optional): the learning rate of an online run, whose optimiser steps every time
    step instead of once per batch (absent: ``lr``); ``reg_online`` (optional): the
    firing-rate regulariser of an online run (absent: ``reg``)."""
    check_choice("optimizer", optimizer, ("sgd", "adam"))
    check_choice("model", model, SPIKING_MODELS)
    for p in trainable:
        check_choice("trainable", p, PARAM_NAMES)
    d = dict(n_rec=n_rec, batch=batch, optimizer=optimizer, lr=lr, iters=iters,
             eval_every=eval_every, trainable=tuple(trainable), gain=gain, model=model,
             rule=rule, feedback=feedback, reg=reg, reg_rate=reg_rate, neuron=dict(neuron))
    if lr_online is not None:
        d["lr_online"] = lr_online
    if reg_online is not None:
        d["reg_online"] = reg_online
    return d


class SpikingTask(Task):
    """A task trained with a spiking network (MODEL.md section 9)."""

    def neuron_options(self, n_rec: Optional[int] = None, model: Optional[str] = None,
                       neuron: Optional[Dict] = None) -> Tuple[str, Dict]:
        """``(model, options)``: the neuron model and the keyword arguments of
        :meth:`SpikingNetwork.init` a network of ``n_rec`` neurons gets (every neuron
        option but ``dt``), checked (:func:`localrnn.spiking.network.check_neuron_options`)
        without building it.

        ``None`` takes ``self.defaults`` (``n_rec``, ``model``); ``neuron`` overrides
        entries of ``defaults["neuron"]``.  With ``model="lif"`` the defaults' ALIF-only
        entries (``beta``, ``n_adaptive``) are dropped; with ALIF, the defaults'
        ``n_adaptive`` is scaled to ``n_rec`` (the reference's fraction of adaptive
        neurons).  ``dt`` is the task's time step, not a neuron option here.
        """
        d = self.defaults
        neuron = {} if neuron is None else neuron
        allowed = tuple(o for o in NEURON_OPTIONS if o != "dt")
        if not isinstance(neuron, dict):
            raise ValueError(f"neuron={neuron!r} must be a table of neuron options ({', '.join(allowed)})")
        if "dt" in neuron:
            raise ValueError(f"neuron option dt={neuron['dt']!r} is not allowed: dt is the time step of "
                             f"task {self.name!r} ({self.dt:g} {self.time_unit}), whose inputs are drawn "
                             "for it")
        for k in neuron:
            check_choice("neuron option", k, allowed)
        neuron = {k: v for k, v in neuron.items() if v is not None}    # None: the task's value
        n_rec = d["n_rec"] if n_rec is None else check_number("n_rec", n_rec, lo=1, integer=True)
        model = d["model"] if model is None else check_choice("model", model, SPIKING_MODELS)
        opts = dict(d["neuron"])
        if model == "lif":                          # the ALIF-only options of the defaults
            opts.pop("beta", None)
            opts.pop("n_adaptive", None)
        elif opts.get("n_adaptive") is not None and "n_adaptive" not in neuron:
            # the reference's fraction of adaptive neurons, at this size
            opts["n_adaptive"] = round(opts["n_adaptive"] * n_rec / d["n_rec"])
        opts.update(neuron)
        full = check_neuron_options(model, n_rec, {**opts, "dt": self.dt})
        full.pop("dt")
        return model, full

    def make_network(self, gain: Optional[float] = None, seed: int = 0, n_rec: Optional[int] = None,
                     form: Optional[str] = None, activation: Optional[str] = None,
                     dtype="float64", model: Optional[str] = None, **neuron) -> SpikingNetwork:
        """A :class:`SpikingNetwork` with this task's sizes and the reference's neuron options.

        ``None`` takes ``self.defaults`` (``gain``, ``n_rec``, ``model``); ``neuron``
        overrides entries of ``defaults["neuron"]`` (keyword arguments of
        :meth:`SpikingNetwork.init`; :meth:`neuron_options`).  ``form`` and ``activation``
        are options of rate networks: giving one is an error.
        """
        for name, value in (("form", form), ("activation", activation)):
            if value is not None:
                raise ValueError(f"{name}={value!r} is an option of rate networks; task {self.name!r} "
                                 "trains a spiking network (localrnn.spiking)")
        d = self.defaults
        n_rec = d["n_rec"] if n_rec is None else n_rec
        model, opts = self.neuron_options(n_rec, model, neuron)
        net = SpikingNetwork.init(self.n_in, n_rec, self.n_out, model=model,
                                  gain=d["gain"] if gain is None else gain, seed=seed, dtype=dtype,
                                  dt=self.dt, **opts)
        net.meta["task"] = self.name
        return self._adjust_network(net)

    def _adjust_network(self, net: SpikingNetwork) -> SpikingNetwork:
        """Hook for a task's own changes to the initial weights (default: none)."""
        return net


__all__ = ["SpikingTask", "make_spiking_defaults"]
