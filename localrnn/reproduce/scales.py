"""The study's sizes: which task settings, groups, seeds and search grids each scale runs.

A *setting* is a task as the study runs it (task name, task options, network size,
training length, learning-rate grid, the measure its contrasts use).  A *group* is one
experimental condition on a setting: a rule, a gain and a *variant* (plain training,
flossing pretraining, a control or a bracket of the paper's ambiguities).  A group is
trained at its own best learning rate, found by :mod:`.lrsearch` on the tuning seeds,
unless it takes its rate from another group (``lr_from``: the shared-rate contrasts and
the unclipped bracket), and then on every reported seed.

Everything here is data; :mod:`.plan` turns a scale into run cells.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, Mapping, Optional, Tuple

from .lrsearch import RateGrid

#: variants of a group (what is done before or during training besides the rule)
PLAIN = "plain"
FLOSS = "floss"                  # local flossing pretraining at the one shared flossing rate
FLOSS_PER_GAIN = "floss-per-gain"  # ... at the rate chosen for this gain alone (bracket)
FLOSS_KEEP_Q = "floss-keep-q"    # ... without holding Q_{t-1} fixed (bracket of the paper's method)
RESCALE = "rescale"              # W scaled so that lambda_max is ~0, no flossing (control)
ONESTEP = "onestep"              # e-prop with the whole state detached (bracket of the paper's method)
NOCLIP = "noclip"                # no gradient clipping, at the clipped group's rate (bracket)
SHARED_LR = "shared-lr"          # the learning rate of the reference gain's group (contrast)
VARIANTS = (PLAIN, FLOSS, FLOSS_PER_GAIN, FLOSS_KEEP_Q, RESCALE, ONESTEP, NOCLIP, SHARED_LR)


@dataclass(frozen=True)
class Setting:
    """A task as the study runs it.

    ``measure`` is the eval-loss column the contrasts use: ``eval_loss`` (every masked
    step) or ``eval_decision_loss`` (the decision period only: on 2AF 21 of 22 steps are
    fixation, which would otherwise dominate the area).  ``criterion`` is the accuracy of
    "iterations to criterion"; ``chance`` the accuracy of guessing (a floor)."""

    key: str
    task: str
    label: str
    n_rec: int
    batch: int
    iters: int
    eval_every: int
    grid: RateGrid
    task_kwargs: Mapping = field(default_factory=dict)
    measure: str = "eval_loss"
    criterion: float = 0.9
    chance: float = 0.5
    why: str = ""

    def describe(self) -> Dict:
        d = asdict(self)
        d["task_kwargs"] = dict(self.task_kwargs)
        d["grid"] = asdict(self.grid)
        return d


@dataclass(frozen=True)
class Group:
    """One condition: (setting, rule, gain, variant).  ``lr_from`` names the group whose
    chosen rate this one uses (no search of its own)."""

    setting: str
    rule: str
    gain: float
    variant: str = PLAIN
    lr_from: Optional[Tuple] = None

    @property
    def key(self) -> Tuple:
        return (self.setting, self.rule, float(self.gain), self.variant)

    @property
    def tuned(self) -> bool:
        return self.lr_from is None


@dataclass(frozen=True)
class Scale:
    """Everything that sets the size of the study (see :data:`SCALES`)."""

    name: str
    settings: Dict[str, Setting]
    groups: Tuple[Group, ...]
    low_gain: float = 0.5
    ref_gain: float = 1.5
    seeds: Tuple[int, ...] = tuple(range(10))
    tune_seeds: Tuple[int, ...] = (100, 101)
    clip: Optional[float] = 0.2
    lyap_every: int = 100
    floss_iters: int = 100
    floss_k: int = 10
    floss_grid: RateGrid = RateGrid(base=0.01, factor=3.0, start=(0, 1, 2), step=1, max_extra=2)
    dtype: str = "float64"
    eval_batch: int = 128
    dtype_check: bool = True
    main_command_check: bool = False
    notes: Tuple[str, ...] = ()

    def group(self, key) -> Group:
        for g in self.groups:
            if g.key == tuple(key):
                return g
        raise KeyError(key)

    def describe(self) -> Dict:
        return {"name": self.name, "settings": {k: s.describe() for k, s in self.settings.items()},
                "groups": [list(g.key) + ([list(g.lr_from)] if g.lr_from else []) for g in self.groups],
                "low_gain": self.low_gain, "ref_gain": self.ref_gain, "seeds": list(self.seeds),
                "tune_seeds": list(self.tune_seeds), "clip": self.clip, "lyap_every": self.lyap_every,
                "floss_iters": self.floss_iters, "floss_k": self.floss_k,
                "floss_grid": asdict(self.floss_grid), "dtype": self.dtype,
                "eval_batch": self.eval_batch}


def romo_setting(n, batch, iters, every, start=(-3, -2, -1, 0, 1, 2), max_extra=4) -> Setting:
    """Romo at size ``n``: the learning-rate grid starts at 0.05 / n (Schuessler et al. 2020)."""
    return Setting(key="romo", task="romo", label="Romo", n_rec=n, batch=batch, iters=iters,
                   eval_every=every, grid=RateGrid(base=0.05 / n, start=start, max_extra=max_extra),
                   criterion=0.9)


def _groups(setting, rules, gains, variant=PLAIN):
    return [Group(setting, r, float(g), variant) for r in rules for g in gains]


def _shared(setting, rules, low, ref):
    """gain ``low`` at the learning rate chosen for gain ``ref`` (same rule, plain)."""
    return [Group(setting, r, float(low), SHARED_LR, lr_from=(setting, r, float(ref), PLAIN)) for r in rules]


def _noclip(setting, rules, gains):
    return [Group(setting, r, float(g), NOCLIP, lr_from=(setting, r, float(g), PLAIN))
            for r in rules for g in gains]


CONTROLS = (ONESTEP, FLOSS_PER_GAIN, FLOSS_KEEP_Q, RESCALE, NOCLIP)


def study_groups(settings, romo_gains, fig5_gains, decision_gains, low, ref,
                 controls=True, rflo_gains=None) -> Tuple[Group, ...]:
    """The groups of every claim, brackets and controls (one definition for all scales).
    ``controls``: True for every bracket and control on Romo, False for none, or a tuple of
    the variants in :data:`CONTROLS` to include.  ``rflo_gains``: RFLO's gains on Romo
    (default ``romo_gains``)."""
    if controls is True:
        controls = CONTROLS
    elif not controls:
        controls = ()
    bad = [c for c in controls if c not in CONTROLS]
    if bad:
        raise ValueError(f"controls={bad!r} is not allowed; choose from {', '.join(CONTROLS)}")
    gs = []
    gs += _groups("romo", ("bptt", "eprop"), sorted(set(romo_gains) | set(fig5_gains)))
    gs += _groups("romo", ("rflo",), romo_gains if rflo_gains is None else rflo_gains)
    gs += _groups("romo", ("eprop",), romo_gains, FLOSS)
    gs += _shared("romo", ("bptt", "eprop"), low, ref)
    for v in (ONESTEP, FLOSS_PER_GAIN, FLOSS_KEEP_Q):
        if v in controls:
            gs += _groups("romo", ("eprop",), (low, ref), v)
    if RESCALE in controls:
        gs += _groups("romo", ("eprop",), (low,), RESCALE)   # the same Z rescaled: one gain is enough
    if NOCLIP in controls:
        gs += _noclip("romo", ("bptt", "eprop"), (low, ref))
    for key in settings:
        if key == "romo":
            continue
        gs += _groups(key, ("bptt", "eprop"), decision_gains)
        gs += _shared(key, ("bptt", "eprop"), low, ref)
    return tuple(gs)
