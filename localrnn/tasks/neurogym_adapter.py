"""Any registered neurogym environment as a :class:`Task` (optional: ``pip install "localrnn[neurogym]"``).

neurogym (Molano-Mazon et al. 2022) describes a trial as periods, observations
``env.ob`` ``(T_trial, I)`` and ground-truth actions ``env.gt`` ``(T_trial,)``.
We drive the environment's own trial generator directly rather than through
``neurogym.Dataset``: ``Dataset`` streams trials back to back and cuts them at
``seq_len`` (a batch row starts mid-trial), while a :class:`Task` batch holds
whole, aligned trials that can be scored per trial.

Seeding: each batch draws one integer from the caller's ``Generator`` and reseeds
the environment with it (``env.seed``, which also seeds neurogym's random timing
objects), then makes ``B`` trials in turn: the same seed gives the same batch bit
for bit.  Trials of different lengths are padded at the end to the longest one,
with label 0 and mask 0 on the padding; ``task.T`` is then the last batch's T
(before any batch: the length of one trial drawn with seed 0).

Loss: cross-entropy at every step of every trial (mask 1 on the trial, 0 on the
padding), neurogym's supervised convention.  ``alpha = dt / tau`` with
``tau = 200`` ms.  Accuracy: the output averaged over the trial's ``decision``
period (or, for an environment without one, the steps whose label is not 0; or
its last step), argmax, equals the label there.
"""
from __future__ import annotations

import warnings
from typing import Dict, Optional

import numpy as np

from .._validate import check_number
from ..names import PARAM_NAMES
from .base import Batch, Task, check_dt, make_defaults

INSTALL_HINT = 'neurogym tasks need the optional neurogym package: pip install "localrnn[neurogym]"'
TAU_MS = 200.0


def import_neurogym():
    """``neurogym``, or a ``ValueError`` that says how to install it."""
    try:
        with warnings.catch_warnings():
            # gymnasium 0.29 warns about its own deprecated aliases on import
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"gymnasium(\.|$)")
            import neurogym  # noqa: F401
    except ImportError as exc:
        raise ValueError(import_error_message(exc)) from None
    return neurogym


def import_error_message(exc: ImportError) -> str:
    """What is missing and the command that installs it.

    The ``neurogym`` extra installs neurogym *and* torch: neurogym 2.3's ``import
    neurogym`` imports torch (its wrappers) without declaring it, so a plain
    ``pip install neurogym`` is not enough.
    """
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if missing in ("", "neurogym"):
        return f"{INSTALL_HINT} ({exc})"
    return (f"neurogym tasks need neurogym and {missing!r}, which neurogym imports but is not "
            f"installed: pip install \"localrnn[neurogym]\" (installs neurogym and torch), or "
            f"pip install {missing} ({exc})")


def neurogym_env_ids():
    """The ids of neurogym's native environments (``neurogym.envs.registration.all_envs()``)."""
    import_neurogym()
    from neurogym.envs.registration import all_envs
    return list(all_envs())


class NeurogymTask(Task):
    """A neurogym environment as a classification task.

    Parameters
    ----------
    env_id : str
        A registered id, e.g. ``"DelayComparison-v0"``.
    dt : float
        Step in ms (neurogym's ``dt``), default 100; at most ``tau``.
    tau : float
        Network time constant in ms, default 200 (``alpha = dt / tau``).
    env_kwargs : dict, optional
        Further keyword arguments of the environment (``timing``, ``sigma``...).

    Defaults: ``n_rec = 128``, batch 32, Adam ``lr = 3e-3``, 500 iterations,
    evaluation every 25, all parameters trained, current form, tanh, gain 1.
    """

    time_unit = "ms"
    loss = "xent"

    def __init__(self, env_id: str, dt: float = 100.0, tau: float = TAU_MS,
                 env_kwargs: Optional[Dict] = None):
        ngym = import_neurogym()
        import gymnasium

        ids = neurogym_env_ids()
        registered = set(gymnasium.envs.registry)
        if not isinstance(env_id, str) or env_id not in registered:
            raise ValueError(f"neurogym env {env_id!r} is not registered; choose one of "
                             + ", ".join(repr(e) for e in ids))
        self.tau = check_number("tau", tau, lo=0.0, lo_open=True)
        self.dt = check_dt(dt, self.tau, f"alpha = dt / tau must be at most 1 with tau = {self.tau:g} ms")
        self.alpha = self.dt / self.tau
        if env_kwargs is None:
            env_kwargs = {}
        if not isinstance(env_kwargs, dict):
            raise ValueError(f"env_kwargs={env_kwargs!r} must be a dict of the environment's keyword arguments")
        if "dt" in env_kwargs:
            raise ValueError("env_kwargs must not hold 'dt'; pass dt=... to get_task")
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs)
        try:
            with warnings.catch_warnings():
                # gymnasium asks every env for render modes; neurogym's have none
                warnings.filterwarnings("ignore", message=r".*render_modes", category=UserWarning)
                env = ngym.make(env_id, dt=self.dt, **self.env_kwargs)
        except TypeError as exc:
            raise ValueError(f"env_kwargs={env_kwargs!r} not accepted by {env_id}: {exc}") from None
        self.env = env.unwrapped
        obs, act = self.env.observation_space, self.env.action_space
        if not isinstance(act, gymnasium.spaces.Discrete):
            raise ValueError(f"neurogym env {env_id!r} has action space {act}; only discrete actions "
                             "(classification, cross-entropy) are supported")
        if obs.shape is None or len(obs.shape) != 1:
            raise ValueError(f"neurogym env {env_id!r} has observations of shape {obs.shape}; "
                             "only flat (I,) observations are supported")
        if not hasattr(self.env, "new_trial"):
            raise ValueError(f"neurogym env {env_id!r} is not trial-based (no new_trial)")
        self.name = f"neurogym:{env_id}"
        doc = (type(self.env).__doc__ or "").strip().splitlines()
        self.description = (doc[0].strip() if doc else env_id) + f" (neurogym {env_id})"
        self.n_in = int(obs.shape[0])
        self.n_out = int(act.n)
        self.channels = getattr(obs, "name", None)
        self.classes = getattr(act, "name", None)
        # One trial with seed 0 gives T and the period names before any batch.
        self.env.seed(0)
        self.env.new_trial()
        self.T = int(self.env.ob.shape[0])
        self.period_names = tuple(self.env.start_ind)
        self.defaults = make_defaults(n_rec=128, batch=32, optimizer="adam", lr=3e-3, iters=500,
                                      eval_every=25, form="current", activation="tanh",
                                      trainable=PARAM_NAMES, gain=1.0)

    def _batch(self, B: int, rng: np.random.Generator) -> Batch:
        env = self.env
        env.seed(int(rng.integers(0, 2**31 - 1)))
        obs, gts, periods, trials = [], [], [], []
        for _ in range(B):
            trial = env.new_trial()
            obs.append(np.asarray(env.ob, dtype=np.float64))
            gts.append(np.asarray(env.gt, dtype=np.int64).reshape(-1))
            periods.append({p: (int(env.start_ind[p]), int(env.end_ind[p])) for p in env.start_ind})
            trials.append(trial or {})
        lengths = np.array([o.shape[0] for o in obs], dtype=np.int64)
        T = int(lengths.max())
        x = np.zeros((T, B, self.n_in))
        y = np.zeros((T, B), dtype=np.int64)
        mask = np.zeros((T, B))
        for b in range(B):
            n = lengths[b]
            x[:n, b] = obs[b]
            y[:n, b] = gts[b]
            mask[:n, b] = 1.0
        names = list(self.period_names) + [p for d in periods for p in d if p not in self.period_names]
        info: Dict[str, np.ndarray] = {"length": lengths}
        for p in names:
            info[f"t_{p}"] = np.array([d.get(p, (0, 0)) for d in periods], dtype=np.int64)
        info["t_decision"] = self._decision_windows(info.get("t_decision"), y, lengths)
        info["label"] = y[info["t_decision"][:, 0], np.arange(B)]
        for key in ("ground_truth", "coh"):
            vals = [t.get(key) for t in trials]
            if all(isinstance(v, (int, float, np.integer, np.floating)) for v in vals):
                info[key] = np.asarray(vals)
        self.T = T
        return Batch(inputs=x, targets=y, mask=mask, info=info)

    @staticmethod
    def _decision_windows(win, y, lengths):
        B = y.shape[1]
        out = np.zeros((B, 2), dtype=np.int64)
        for b in range(B):
            if win is not None and win[b, 1] > win[b, 0]:
                out[b] = win[b]
                continue
            nz = np.flatnonzero(y[: lengths[b], b])
            out[b] = (nz[0], nz[-1] + 1) if nz.size else (lengths[b] - 1, lengths[b])
        return out

    def summary(self) -> Dict:
        d = super().summary()
        d["env_id"] = self.env_id
        return d


__all__ = ["NeurogymTask", "import_neurogym", "import_error_message", "neurogym_env_ids", "INSTALL_HINT"]
