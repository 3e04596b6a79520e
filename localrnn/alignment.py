"""Gradient alignment: how close a local rule's gradient is to the exact one.

Liu et al. (2024) argue that small initial gains "theoretically reduce gradient
truncation errors" of e-prop and RFLO, but do not measure it.  The engine computes
both gradients exactly on the same batch (:func:`localrnn.gradient`), so the
truncation error can be measured directly as a cosine similarity

.. math::

    \\cos(g_{\\mathrm{local}}, g_{\\mathrm{BPTT}})
    = \\frac{\\langle g_{\\mathrm{local}}, g_{\\mathrm{BPTT}}\\rangle}
           {\\lVert g_{\\mathrm{local}}\\rVert\\,\\lVert g_{\\mathrm{BPTT}}\\rVert},

per parameter (``W``, ``W_in``, ``b``, ``W_out``, ``b_out``) and over all trainable
parameters concatenated (``"all"``) and over the recurrent-side ones
(``"recurrent"``: ``W_in, W, b``).

Two facts follow from MODEL.md sections 4-5 and are tested:

* the readout gradients ``dL/dW_out = sum_t delta_t r_t^T`` and ``dL/db_out`` are
  exact in both local rules (the same expression), so their cosine is 1 at every
  gain;
* the local rules replace the recurrent Jacobian ``J_t`` by ``(1 - alpha) I``; at
  gain 0 (``W = 0``) that *is* the Jacobian, so e-prop with symmetric feedback
  (``F = W_out^T``) equals BPTT and every cosine is 1.  With random feedback the
  recurrent-side cosines are not 1 even at gain 0: the learning signal points
  elsewhere.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from ._validate import check_choice, check_number
from .names import FEEDBACKS, LOCAL_RULES, PARAM_NAMES, RECURRENT_PARAMS, RULES

#: Random stream of the alignment batch: ``default_rng([seed, ALIGN_STREAM])``
#: (training uses stream 1, evaluation 2, Lyapunov 3; see ``localrnn.training``).
ALIGN_STREAM = 4


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays (flattened), in float64; NaN if either is zero."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0 or not (np.isfinite(na) and np.isfinite(nb)):
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


def gradient_alignment(net, task, rule: str, feedback=None, batch=32, seed: int = 0,
                       trainable: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Cosine similarity between ``rule``'s gradient and the BPTT gradient on one batch.

    Parameters
    ----------
    net : Network or localrnn.spiking.SpikingNetwork
        Evaluated in float64 (a float32 network is converted), so the number measures
        the rule, not rounding.  A spiking network's gradients are
        :func:`localrnn.spiking.gradient`'s (rule bptt or eprop; the task loss, without
        the firing-rate regulariser).
    task : Task or str
        The task (or its name) that supplies the batch, its loss and its initial state.
    rule : {"bptt", "rtrl", "eprop", "rflo"}
        The rule compared with BPTT.  For ``bptt`` the result is 1 up to rounding (the
        same gradient twice); ``rtrl`` compares the two exact algorithms.
    feedback : None, "symmetric", "random" or (N, O) array
        The local rule's feedback as the run uses it; None means the rule's default
        (symmetric for e-prop, random for RFLO), drawn from ``seed`` exactly as
        :class:`localrnn.Trainer` draws it.
    batch : int or Batch
        A batch size (the batch is drawn from ``default_rng([seed, 4])``, a stream
        training never uses) or a :class:`localrnn.tasks.Batch`.
    seed : int
        Seed of the batch and of a random feedback matrix (the run's seed).
    trainable : sequence of str, optional
        The parameters concatenated for ``"all"`` (default: all five).

    Returns
    -------
    dict
        ``{"W_in", "W", "b", "W_out", "b_out", "all", "recurrent"}`` -> cosine in
        [-1, 1].  ``"all"`` concatenates the trainable parameters, ``"recurrent"`` the
        trainable ones among ``W_in, W, b`` (the part truncation affects; ``"all"`` is
        often dominated by the exact readout gradient).  NaN for a gradient that is
        zero in either rule (e.g. ``W_in`` of a task without inputs).

    Examples
    --------
    >>> from localrnn.tasks import get_task
    >>> task = get_task("romo")
    >>> net = task.make_network(0.5, seed=0, n_rec=16)
    >>> a = gradient_alignment(net, task, "eprop", batch=8)   # doctest: +SKIP
    >>> a["W_out"]                                             # doctest: +SKIP
    1.0
    """
    from .engine import gradient
    from .spiking import SpikingNetwork
    from .spiking import gradient as spiking_gradient
    from .tasks import Batch, get_task

    check_choice("rule", rule, RULES)
    if isinstance(feedback, str):
        check_choice("feedback", feedback, FEEDBACKS)
    seed = check_number("seed", seed, lo=0, integer=True)
    if isinstance(task, str):
        task = get_task(task)
    if isinstance(batch, Batch):
        b = batch
    else:
        B = check_number("batch", batch, lo=1, integer=True)
        b = task.batch(B, np.random.default_rng([seed, ALIGN_STREAM]))
    tr = list(PARAM_NAMES if trainable is None else trainable)
    for k in tr:
        check_choice("trainable entry", k, PARAM_NAMES)
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    B = b.inputs.shape[1]
    h0 = task.h0(B, net64.n_rec)
    h0 = None if h0 is None else np.asarray(h0, dtype=np.float64)
    tg = b.targets if task.loss == "mse" else np.asarray(b.targets, dtype=np.int64)
    kw = {}
    if rule in LOCAL_RULES:
        kw = dict(feedback=feedback, seed=seed)
    elif feedback is not None and not (isinstance(feedback, str) and feedback == "symmetric"):
        raise ValueError(f"feedback={feedback!r} is only for the local rules (eprop, rflo); "
                         f"rule={rule!r} is exact")
    if isinstance(net64, SpikingNetwork):   # its gradient (no regulariser), v_0 = h0
        def grad(r, **k):
            return spiking_gradient(net64, b.inputs, tg, b.mask, loss=task.loss, rule=r, v0=h0, **k)
    else:
        def grad(r, **k):
            return gradient(net64, b.inputs, tg, b.mask, loss=task.loss, rule=r, h0=h0, **k)
    with np.errstate(over="ignore", invalid="ignore"):
        _, g_exact = grad("bptt")
        _, g_rule = grad(rule, **kw)
        out = {k: cosine(g_rule[k], g_exact[k]) for k in PARAM_NAMES}
        for key, names in (("all", tr), ("recurrent", [k for k in tr if k in RECURRENT_PARAMS])):
            out[key] = (cosine(np.concatenate([np.ravel(g_rule[k]) for k in names]),
                               np.concatenate([np.ravel(g_exact[k]) for k in names]))
                        if names else float("nan"))
    return out


__all__ = ["gradient_alignment", "cosine", "ALIGN_STREAM", "RECURRENT_PARAMS"]
