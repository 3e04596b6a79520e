"""The study's run cells: every cell tagged with the stage, group and role it serves.

A cell is one training run (:class:`localrnn.sweep.Cell`).  The study names its cells
itself, from what they are (``romo-eprop-g0.5-floss-lr0.00039-s100``), so a cell keeps
its folder from one round of the learning-rate search to the next and a rerun of the
study finds every finished cell.  Each stage's cells come with a :class:`Tag` (stage,
role, group, seed, learning rate) that :mod:`.results` joins back to the folders.

Stages and roles:

* ``prep``: ``floss-rate`` cells (flossing only, one training iteration: the exponents
  after flossing decide the flossing rate);
* ``tune``: ``tune`` cells (a group at one learning rate on a tuning seed);
* ``main``: ``main`` cells (a group at its chosen rate on a reported seed);
* ``checks``: ``float32``/``float64`` cells (the dtype check) and ``main-command``
  cells (RFLO at Romo's defaults, for the README).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..sweep import Cell, validate_cells
from . import scales as S

PREP, TUNE, MAIN, CHECKS = "prep", "tune", "main", "checks"
STAGES = (PREP, TUNE, MAIN, CHECKS)


@dataclass(frozen=True)
class Tag:
    """What a cell is for."""

    stage: str
    role: str
    group: Tuple            # Group.key: (setting, rule, gain, variant)
    seed: int
    lr: float
    floss_lr: Optional[float] = None

    def as_dict(self) -> Dict:
        d = asdict(self)
        d["group"] = list(self.group)
        return d

    @classmethod
    def from_dict(cls, d) -> "Tag":
        d = dict(d)
        g = d["group"]
        d["group"] = (g[0], g[1], float(g[2]), g[3])
        return cls(**d)


def _num(v: float) -> str:
    return format(float(v), ".6g")


def cell_name(tag: Tag) -> str:
    setting, rule, gain, variant = tag.group
    parts = [setting, rule, f"g{_num(gain)}"]
    if variant != S.PLAIN:
        parts.append(variant)
    parts.append(f"lr{_num(tag.lr)}")
    if tag.floss_lr is not None and tag.role == "floss-rate":
        parts.append(f"flr{_num(tag.floss_lr)}")
    parts.append(f"s{tag.seed}")
    if tag.role not in ("tune", "main", "floss-rate"):
        parts.append(tag.role)
    return "-".join(parts).replace("+", "")


def base_params(sc: S.Scale, st: S.Setting, rule: str, gain: float, lr: float, seed: int) -> Dict:
    """TrainConfig fields every cell of a setting shares."""
    d = dict(task=st.task, rule=rule, gain=float(gain), lr=float(lr), seed=int(seed),
             n_rec=st.n_rec, batch=st.batch, iters=st.iters, eval_every=st.eval_every,
             eval_batch=sc.eval_batch, dtype=sc.dtype, plot=False,
             # a cell restarts from scratch when interrupted: periodic checkpoints are pure cost
             checkpoint_every=st.iters)
    if st.task_kwargs:
        d["task_kwargs"] = dict(st.task_kwargs)
    if sc.clip is not None:
        d["clip"] = float(sc.clip)
    return d


def variant_params(sc: S.Scale, st: S.Setting, variant: str, gain: float,
                   floss_lr: Optional[float]) -> Dict:
    """The TrainConfig fields that make a group's variant."""
    floss = dict(floss_iters=sc.floss_iters, floss_k=min(sc.floss_k, st.n_rec), lyapunov=True)
    if variant in (S.PLAIN, S.SHARED_LR):
        return {}
    if variant in (S.FLOSS, S.FLOSS_PER_GAIN):
        return dict(floss, floss_lr=float(floss_lr))
    if variant == S.FLOSS_KEEP_Q:
        return dict(floss, floss_lr=float(floss_lr), floss_mode="local-keep-q")
    if variant == S.RESCALE:
        return dict(lyapunov=True, floss_k=min(sc.floss_k, st.n_rec), rescale_to=0.0)
    if variant == S.ONESTEP:
        return dict(truncation="state")
    if variant == S.NOCLIP:
        return dict(clip=None)
    raise ValueError(f"variant {variant!r} is unknown; allowed: {', '.join(S.VARIANTS)}")


def make_cell(sc: S.Scale, tag: Tag, main: bool = False) -> Cell:
    """The sweep cell of ``tag`` (``main``: record λ_max during training, the exponents
    before/after and the gradient alignment on Romo)."""
    setting, rule, gain, variant = tag.group
    st = sc.settings[setting]
    p = base_params(sc, st, rule, gain, tag.lr, tag.seed)
    p.update(variant_params(sc, st, variant, gain, tag.floss_lr))
    align = False
    if main and setting == "romo":
        p["lyapunov"] = True
        p.setdefault("floss_k", min(sc.floss_k, st.n_rec))
        if sc.lyap_every:
            p["lyap_every"] = int(sc.lyap_every)
        align = True
    if tag.role == "floss-rate":
        p.update(iters=1, eval_every=1, checkpoint_every=1)
    if p.get("clip", 0) is None:
        del p["clip"]
    return Cell(params=p, name=cell_name(tag), align=align)


def floss_rate_cells(sc: S.Scale, rates: Sequence[float], gains: Sequence[float]) -> List[Tuple[Tag, Cell]]:
    """Flossing alone (one training iteration) at each flossing rate, gain and tuning seed."""
    st = sc.settings["romo"]
    out = []
    for g in gains:
        for r in rates:
            for s in sc.tune_seeds:
                tag = Tag(PREP, "floss-rate", ("romo", "eprop", float(g), S.FLOSS), s, st.grid.base,
                          float(r))
                out.append((tag, make_cell(sc, tag)))
    return out


def tune_cells(sc: S.Scale, group: S.Group, lrs: Sequence[float], floss_lr=None) -> List[Tuple[Tag, Cell]]:
    return [(t, make_cell(sc, t)) for t in
            (Tag(TUNE, "tune", group.key, s, float(lr), floss_lr) for lr in lrs for s in sc.tune_seeds)]


def main_cells(sc: S.Scale, group: S.Group, lr: float, floss_lr=None) -> List[Tuple[Tag, Cell]]:
    return [(t, make_cell(sc, t, main=True)) for t in
            (Tag(MAIN, "main", group.key, s, float(lr), floss_lr) for s in sc.seeds)]


def check_cells(sc: S.Scale) -> List[Tuple[Tag, Cell]]:
    """float32 against float64 (seed = first tuning seed, the Romo base rate) and RFLO at
    Romo's own defaults (the main command, gain low and ref, 2000 iterations)."""
    out = []
    st = sc.settings["romo"]
    if sc.dtype_check:
        for rule in ("bptt", "eprop"):
            for g in (sc.low_gain, sc.ref_gain):
                for dt in ("float64", "float32"):
                    tag = Tag(CHECKS, dt, ("romo", rule, float(g), S.PLAIN), sc.tune_seeds[0], st.grid.base)
                    c = make_cell(sc, tag)
                    c.params["dtype"] = dt
                    out.append((tag, c))
    if sc.main_command_check:
        from ..tasks import get_task

        d = get_task("romo").defaults
        for g in (sc.low_gain, sc.ref_gain):
            tag = Tag(CHECKS, "main-command", ("romo", "rflo", float(g), S.PLAIN), 0, float(d["lr"]))
            p = dict(task="romo", rule="rflo", gain=float(g), lr=float(d["lr"]), seed=0,
                     iters=2000, eval_every=50, plot=False, checkpoint_every=2000)
            out.append((tag, Cell(params=p, name=cell_name(tag))))
    return out


def check_unique(pairs: Sequence[Tuple[Tag, Cell]]) -> None:
    validate_cells([c for _, c in pairs])


def share_identical(pairs: Sequence[Tuple[Tag, Cell]]) -> List[Tuple[Tag, Cell]]:
    """``pairs`` with every cell whose run is the same as an earlier cell's (equal
    parameters and alignment) replaced by that earlier cell, so it runs once."""
    seen: Dict[str, Cell] = {}
    out = []
    for t, c in pairs:
        key = json.dumps({"params": c.params, "align": c.align, "align_batch": c.align_batch},
                         sort_keys=True, default=repr)
        out.append((t, seen.setdefault(key, c)))
    return out


__all__ = ["Tag", "cell_name", "make_cell", "floss_rate_cells", "tune_cells", "main_cells",
           "check_cells", "STAGES", "PREP", "TUNE", "MAIN", "CHECKS"]
