"""Tasks: seeded batches of trials, their loss and their score (TASKS.md).

=====================  ======  =====  ====  ======  =====  ======================================
name                   n_in    n_out  T     dt      loss   what
=====================  ======  =====  ====  ======  =====  ======================================
``romo``               1       2      56    0.5 tau mse    parametric working memory (Schuessler 2020)
``2af``                3       3      22    100 ms  xent   neurogym PerceptualDecisionMaking-v0
``dms``                3       3      32    100 ms  xent   neurogym DelayMatchSample-v0
``sine``               0       1      100   0.1 tau mse    periodic output, no input (Murray 2019)
``cue``                40      2      2250  1 ms    xent   evidence accumulation, spiking ALIF (Bellec 2020)
``pattern``            100     1      1000  1 ms    mse    sum of sinusoids, spiking LIF (Bellec 2020)
``neurogym:<EnvId>``   env     env    env   100 ms  xent   any neurogym environment (optional)
=====================  ======  =====  ====  ======  =====  ======================================

``cue`` and ``pattern`` train spiking networks (their ``make_network`` builds a
:class:`localrnn.spiking.SpikingNetwork`).  The native tasks need NumPy only;
``neurogym:`` tasks need ``pip install "localrnn[neurogym]"``.

Examples
--------
>>> from localrnn.tasks import get_task
>>> task = get_task("romo")
>>> batch = task.batch(32, rng=0)
>>> batch.inputs.shape, task.loss, task.alpha
((56, 32, 1), 'mse', 0.5)
"""
from __future__ import annotations

import inspect
from typing import Dict, List, Type

from .base import Batch, Task
from .cue import CueAccumulationTask
from .decision import DelayMatchSampleTask, PerceptualDecisionTask
from .pattern import PatternGenerationTask
from .romo import RomoTask
from .sine import SineTask
from .spiking_base import SpikingTask

#: native task name -> class
TASKS: Dict[str, Type[Task]] = {
    "romo": RomoTask,
    "2af": PerceptualDecisionTask,
    "dms": DelayMatchSampleTask,
    "sine": SineTask,
    "cue": CueAccumulationTask,
    "pattern": PatternGenerationTask,
}
NEUROGYM_PREFIX = "neurogym:"


def list_tasks(neurogym: bool = False) -> List[str]:
    """The registered task names: the native ones, then (``neurogym=True``, when
    neurogym is installed) ``"neurogym:<EnvId>"`` for each of its native environments."""
    names = list(TASKS)
    if neurogym:
        from .neurogym_adapter import neurogym_env_ids
        try:
            names += [NEUROGYM_PREFIX + e for e in neurogym_env_ids()]
        except ValueError:
            pass
    return names


def _check_kwargs(name: str, cls, kwargs) -> None:
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "env_id")]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        allowed = ", ".join(params) if params else "none"
        raise ValueError(f"task {name!r} has no option {unknown[0]!r}; allowed options: {allowed}")


def get_task(name: str, **kwargs) -> Task:
    """The task called ``name``, built with ``kwargs`` (e.g. ``get_task("2af", dt=20)``).

    Parameters
    ----------
    name : str
        ``"romo"``, ``"2af"``, ``"dms"``, ``"sine"``, ``"cue"``, ``"pattern"`` or
        ``"neurogym:<EnvId>"``
        (e.g. ``"neurogym:DelayComparison-v0"``).
    **kwargs
        The task's options (see each task class).

    Raises
    ------
    ValueError
        Unknown name or option, a bad option value, or a ``neurogym:`` task without
        neurogym installed.
    """
    if isinstance(name, str) and name.startswith(NEUROGYM_PREFIX):
        from .neurogym_adapter import NeurogymTask
        _check_kwargs(name, NeurogymTask, kwargs)
        return NeurogymTask(name[len(NEUROGYM_PREFIX):], **kwargs)
    if not isinstance(name, str) or name not in TASKS:
        allowed = ", ".join(repr(n) for n in TASKS)
        raise ValueError(f"task={name!r} is not allowed; choose one of {allowed} or 'neurogym:<EnvId>'")
    cls = TASKS[name]
    _check_kwargs(name, cls, kwargs)
    return cls(**kwargs)


__all__ = ["get_task", "list_tasks", "Task", "Batch", "TASKS", "RomoTask", "PerceptualDecisionTask",
           "DelayMatchSampleTask", "SineTask", "CueAccumulationTask", "PatternGenerationTask",
           "SpikingTask"]
