"""The paper's claims as contrasts on the study's runs: data only, no prose formatting.

Every contrast is paired by seed (:func:`localrnn.reproduce.stats.paired`) and every
claim's verdict follows :data:`~localrnn.reproduce.stats.PAIRED_RULE`, written down
before any number was seen.  What makes a contrast *untestable here* is decided by
:func:`floor_or_ceiling` and by the learning-rate search reaching its bound.

A claim holds its *contrasts* (which decide the verdict) and *side* contrasts (other
measures, brackets, controls: reported, never counted), plus tables of group summaries
for the report and the figure names it shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import scales as S
from .lrsearch import BOUND
from .results import Run
from .stats import PairedEffect, mark_untestable, paired, paired_verdict

#: minimum sizes, fixed before the numbers (as the earlier study)
MIN_REL_PERF = 0.25    # a 'strong' change of a loss measure: >= 25% of the larger group mean
MIN_REL_FLOSS = 0.10   # an 'improvement' by flossing: >= 10% of the loss without it
MIN_ABS_LAMBDA = 0.05  # lambda_max contrasts (per step)
MIN_REL_LAMBDA = 0.5   # training at least halves |lambda_max|
MIN_ABS_COS = 0.05     # cosine-similarity contrasts
MIN_ABS_LOG = 0.1      # log10 curve area: a tenth of a decade
FLOOR_MARGIN = 0.05    # a group at chance: mean final accuracy <= chance + 0.05

RULE_LABEL = {"bptt": "BPTT", "eprop": "e-prop", "rflo": "RFLO"}
VARIANT_LABEL = {S.PLAIN: "", S.FLOSS: "flossing", S.FLOSS_PER_GAIN: "flossing (per-gain rate)",
                 S.FLOSS_KEEP_Q: "flossing, Q not held", S.RESCALE: "W rescaled to λ_max≈0",
                 S.ONESTEP: "whole state detached", S.NOCLIP: "no clipping",
                 S.SHARED_LR: "at gain {ref}'s rate"}


@dataclass
class Claim:
    number: int
    text: str
    setting: str = ""
    contrasts: List[PairedEffect] = field(default_factory=list)
    side: List[Tuple[str, PairedEffect]] = field(default_factory=list)   # (why shown, effect)
    notes: List[str] = field(default_factory=list)                      # data statements
    tables: List[Dict] = field(default_factory=list)                    # {"title", "columns", "rows"}
    figures: List[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return paired_verdict(self.contrasts)

    def as_dict(self) -> Dict:
        return {"number": self.number, "text": self.text, "verdict": self.verdict,
                "setting": self.setting, "contrasts": [e.as_dict() for e in self.contrasts],
                "side": [{"why": w, **e.as_dict()} for w, e in self.side], "notes": self.notes,
                "tables": self.tables, "figures": self.figures}


# ------------------------------------------------------------------------------ helpers
def label(key: Tuple, ref: float = 1.5) -> str:
    setting, rule, gain, variant = key
    v = VARIANT_LABEL[variant].format(ref=f"{ref:g}")
    return f"{RULE_LABEL[rule]} gain {gain:g}" + (f" ({v})" if v else "")


def values(group: Mapping[int, Run], fn) -> Dict[int, float]:
    """``{seed: fn(run)}`` over a group's runs (NaN for a run that did not finish)."""
    return {s: (float(fn(r)) if r.ok else float("nan")) for s, r in group.items()}


def floor_or_ceiling(a: Mapping[int, Run], b: Mapping[int, Run], st: S.Setting) -> str:
    """Why two groups cannot be told apart on a learning measure, or ''.

    *Floor*: both groups' mean final accuracy is within ``FLOOR_MARGIN`` of chance.
    *Ceiling*: in both groups every run reaches the accuracy criterion at the first
    evaluation (the curves start where they end)."""
    def final_acc(g):
        v = [r.final_accuracy() for r in g.values() if r.ok]
        return float(np.mean(v)) if v else float("nan")

    fa, fb = final_acc(a), final_acc(b)
    if fa <= st.chance + FLOOR_MARGIN and fb <= st.chance + FLOOR_MARGIN:
        return (f"both groups at chance (mean final accuracy {fa:.3f} and {fb:.3f}, chance "
                f"{st.chance:g}): a floor")

    def at_start(g):
        return all(r.ok and r.accuracy.size and r.accuracy[0] >= st.criterion for r in g.values())

    if a and b and at_start(a) and at_start(b):
        return (f"every run of both groups is at the accuracy criterion {st.criterion:g} from the "
                "first evaluation: a ceiling")
    return ""


def lr_bound(searches: Mapping[Tuple, Dict], *keys) -> str:
    out = []
    for k in keys:
        s = searches.get(tuple(k))
        if s and s["status"] == BOUND:
            out.append(f"the learning rate of {label(k)} is at the search bound ({s['side']} side)")
    return "; ".join(out)


def contrast(groups, key_a, key_b, fn, what: str, expected: int, min_rel=0.0, min_abs=0.0,
             st: Optional[S.Setting] = None, searches=None, learning: bool = True,
             measure: str = "") -> PairedEffect:
    """The paired contrast ``fn(a) - fn(b)``, marked untestable by a floor, a ceiling
    (``learning`` measures only) or a rate at its search bound.  ``measure`` names
    ``fn`` in the contrast's ``meta`` (with the two groups), for recomputation."""
    a, b = groups.get(tuple(key_a), {}), groups.get(tuple(key_b), {})
    e = paired(values(a, fn), values(b, fn), what, expected=expected, min_rel=min_rel,
               min_abs=min_abs)
    e.meta = {"a": list(key_a), "b": list(key_b), "measure": measure}
    why = []
    if learning and st is not None:
        fc = floor_or_ceiling(a, b, st)
        if fc:
            why.append(fc)
    if searches is not None:
        lb = lr_bound(searches, key_a, key_b)
        if lb:
            why.append(lb)
    if not a or not b:
        why.append("a group has no runs")
    return mark_untestable(e, "; ".join(why)) if why else e


def group_row(key, g: Mapping[int, Run], st: S.Setting, lr: float) -> Dict:
    """Mean ± sd of a group's measures (for the tables)."""
    def ms(fn):
        v = np.array([fn(r) for r in g.values()], dtype=float)
        v = v[np.isfinite(v)]
        return [float(v.mean()) if v.size else float("nan"),
                float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)]

    crit = [r.to_criterion(st.criterion) for r in g.values() if r.ok]
    return {"group": list(key), "label": label(key), "lr": lr, "seeds": len(g),
            "done": sum(r.ok for r in g.values()),
            "area": ms(lambda r: r.area(st.measure)), "log_area": ms(lambda r: r.log_area(st.measure)),
            "final_median": ms(lambda r: r.final_median(st.measure)),
            "final_accuracy": ms(lambda r: r.final_accuracy()),
            "to_criterion": ms(lambda r: r.to_criterion(st.criterion)[0]),
            "censored": int(sum(c for _, c in crit)),
            "spiking_runs": int(sum(r.spikes(st.measure) > 0 for r in g.values() if r.ok)),
            "lam_init": ms(lambda r: r.lam("before_flossing")),
            "lam_floss": ms(lambda r: r.lam("after_flossing")),
            "lam_trained": ms(lambda r: r.lam("after_training")),
            "align_init": ms(lambda r: r.align_init), "align_final": ms(lambda r: r.align_final)}


def _measures(st: S.Setting):
    """(code, name, fn, min_rel, min_abs) of the learning measures: the first decides."""
    m = st.measure
    return [("area", "learning-curve area (mean eval loss)" if m == "eval_loss"
             else "learning-curve area of the decision-period loss", lambda r: r.area(m), MIN_REL_PERF, 0.0),
            ("log_area", "log10 curve area", lambda r: r.log_area(m), 0.0, MIN_ABS_LOG),
            ("to_criterion", f"iterations to accuracy {st.criterion:g} (censored at the run's length)",
             lambda r: r.to_criterion(st.criterion)[0], MIN_REL_PERF, 0.0),
            ("final_median", "median eval loss over the last 10% of training", lambda r: r.final_median(m),
             MIN_REL_PERF, 0.0)]


def gain_contrasts(sc: S.Scale, groups, searches, setting: str, rule: str, variant=S.PLAIN,
                   low_variant=None):
    """Gain low minus gain ref on every learning measure of the setting (low worse: +1).
    ``low_variant``: the low-gain group's variant (the shared-rate contrast)."""
    st = sc.settings[setting]
    ka = (setting, rule, sc.low_gain, low_variant or variant)
    kb = (setting, rule, sc.ref_gain, variant)
    out = []
    for code, name, fn, mr, ma in _measures(st):
        what = f"{st.label}: {label(ka, sc.ref_gain)} minus {label(kb, sc.ref_gain)}, {name}"
        out.append(contrast(groups, ka, kb, fn, what, +1, mr, ma, st, searches, measure=code))
    return out


# ------------------------------------------------------------------------------ claims
def claim1(sc, groups, searches) -> Claim:
    c = Claim(1, "The initial gain changes e-prop's learning curve strongly, as it does BPTT's (Romo)",
              setting="romo", figures=["fig1", "fig5"])
    for rule in ("bptt", "eprop"):
        main_, *others = gain_contrasts(sc, groups, searches, "romo", rule)
        c.contrasts.append(main_)
        c.side += [("another measure of the same runs", e) for e in others]
    for rule in ("bptt", "eprop"):
        e = gain_contrasts(sc, groups, searches, "romo", rule, low_variant=S.SHARED_LR)[0]
        c.side.append((f"both gains at gain {sc.ref_gain:g}'s learning rate", e))
    for rule in ("bptt", "eprop"):
        if ("romo", rule, sc.low_gain, S.NOCLIP) in groups:
            e = gain_contrasts(sc, groups, None, "romo", rule, S.NOCLIP)[0]
            c.side.append(("without gradient clipping (bracket), each gain at its clipped group's rate", e))
    if ("romo", "eprop", sc.low_gain, S.ONESTEP) in groups:
        e = gain_contrasts(sc, groups, searches, "romo", "eprop", S.ONESTEP)[0]
        c.side.append(("e-prop with the whole state detached, the one-step reading of the paper's "
                       "h.detach() (bracket)", e))
    if ("romo", "rflo", sc.low_gain, S.PLAIN) in groups:
        e = gain_contrasts(sc, groups, searches, "romo", "rflo")[0]
        c.side.append(("RFLO (the same truncation with random feedback; the paper shows e-prop only)", e))
    c.notes += spearman_notes(sc, groups)
    return c


def spearman_notes(sc, groups) -> List[str]:
    from scipy.stats import spearmanr

    st = sc.settings["romo"]
    out = []
    for rule in ("bptt", "eprop", "rflo"):
        xs, ys = [], []
        for k, g in groups.items():
            if k[0] == "romo" and k[1] == rule and k[3] == S.PLAIN:
                for r in g.values():
                    v = r.area(st.measure)
                    if math.isfinite(v):
                        xs.append(k[2])
                        ys.append(v)
        if len(set(xs)) >= 3:
            rho, p = spearmanr(xs, ys)
            out.append({"kind": "spearman", "rule": rule, "gains": len(set(xs)), "runs": len(xs),
                        "rho": float(rho), "p": float(p)})
    return out


def claim2(sc, groups, searches) -> Claim:
    c = Claim(2, "The same holds on 2AF and DMS", figures=["fig2"])
    for setting in sc.settings:
        if setting == "romo":
            continue
        for rule in ("bptt", "eprop"):
            main_, *others = gain_contrasts(sc, groups, searches, setting, rule)
            c.contrasts.append(main_)
            c.side += [("another measure of the same runs", e) for e in others]
            e = gain_contrasts(sc, groups, searches, setting, rule, low_variant=S.SHARED_LR)[0]
            c.side.append((f"both gains at gain {sc.ref_gain:g}'s learning rate", e))
    return c


def claim3(sc, groups, searches) -> Claim:
    c = Claim(3, "Before training, small gains have λ_max further from 0; trained networks sit near 0",
              setting="romo", figures=["fig3", "fig7"])
    lo, ref = sc.low_gain, sc.ref_gain
    absl = lambda which: (lambda r: abs(r.lam(which)))  # noqa: E731
    c.contrasts.append(contrast(groups, ("romo", "eprop", lo, S.PLAIN), ("romo", "eprop", ref, S.PLAIN),
                                absl("before_flossing"),
                                f"|λ_max| of the initial network, gain {lo:g} minus gain {ref:g}", +1,
                                min_abs=MIN_ABS_LAMBDA, learning=False))
    for rule in ("bptt", "eprop"):
        g = groups.get(("romo", rule, lo, S.PLAIN), {})
        before = values(g, absl("before_flossing"))
        after = values(g, absl("after_training"))
        e = paired(before, after, f"{RULE_LABEL[rule]} at gain {lo:g}: |λ_max| before minus after training",
                   expected=+1, min_rel=MIN_REL_LAMBDA, min_abs=MIN_ABS_LAMBDA)
        c.contrasts.append(e)
    for rule in ("bptt", "eprop"):
        g = groups.get(("romo", rule, ref, S.PLAIN), {})
        e = paired(values(g, absl("before_flossing")), values(g, absl("after_training")),
                   f"{RULE_LABEL[rule]} at gain {ref:g}: |λ_max| before minus after training",
                   expected=+1, min_rel=MIN_REL_LAMBDA, min_abs=MIN_ABS_LAMBDA)
        c.side.append(("the good gain, for comparison (the paper: the change is largest at small gains)", e))
    return c


def claim4(sc, groups, searches) -> Claim:
    c = Claim(4, "100 iterations of local flossing before training improve e-prop, most at suboptimal gains",
              setting="romo", figures=["fig4"])
    st = sc.settings["romo"]
    lo, ref = sc.low_gain, sc.ref_gain
    area = lambda r: r.area(st.measure)  # noqa: E731
    k = lambda g, v: ("romo", "eprop", g, v)  # noqa: E731
    c.contrasts.append(contrast(groups, k(lo, S.PLAIN), k(lo, S.FLOSS), area,
                                f"e-prop at gain {lo:g}: without minus with flossing, learning-curve area",
                                +1, MIN_REL_FLOSS, 0.0, st, searches, measure="area"))
    # improvement at the low gain minus improvement at the reference gain, paired by seed
    imp = {}
    for g in (lo, ref):
        a, b = values(groups.get(k(g, S.PLAIN), {}), area), values(groups.get(k(g, S.FLOSS), {}), area)
        imp[g] = {s: a[s] - b[s] for s in set(a) & set(b)}
    e = paired(imp[lo], imp[ref], f"improvement by flossing (area without minus with) at gain {lo:g} "
               f"minus at gain {ref:g}", expected=+1, min_rel=MIN_REL_FLOSS)
    lb = lr_bound(searches, k(lo, S.PLAIN), k(lo, S.FLOSS), k(ref, S.PLAIN), k(ref, S.FLOSS))
    c.contrasts.append(mark_untestable(e, lb) if lb else e)
    for g in sorted({key[2] for key in groups if key[:2] == ("romo", "eprop") and key[3] == S.FLOSS}):
        if g != lo:
            c.side.append((f"flossing at gain {g:g}",
                           contrast(groups, k(g, S.PLAIN), k(g, S.FLOSS), area,
                                    f"e-prop at gain {g:g}: without minus with flossing, learning-curve area",
                                    +1, MIN_REL_FLOSS, 0.0, st, searches)))
    controls = [(S.RESCALE, "control: is flossing more than a gain fix? flossing against W rescaled until "
                            "λ_max ≈ 0 (positive: flossing better)"),
                (S.FLOSS_KEEP_Q, "bracket: flossing without holding Q_{t-1} fixed, against the paper's "
                                 "local flossing (positive: holding Q fixed is better)"),
                (S.FLOSS_PER_GAIN, "bracket: the flossing rate chosen for this gain alone, against the "
                                   "shared rate (positive: the shared rate is better)")]
    for variant, why in controls:
        for g in (lo, ref, 1.0):
            if k(g, variant) in groups:
                c.side.append((why, contrast(groups, k(g, variant), k(g, S.FLOSS), area,
                                             f"e-prop at gain {g:g}: {VARIANT_LABEL[variant]} minus "
                                             "flossing, learning-curve area", +1, MIN_REL_FLOSS, 0.0, st,
                                             searches)))
        if variant == S.RESCALE:
            for g in (lo, 1.0):
                if k(g, variant) in groups:
                    c.side.append(("control: rescaling alone against no pretraining (positive: "
                                   "rescaling helps)",
                                   contrast(groups, k(g, S.PLAIN), k(g, variant), area,
                                            f"e-prop at gain {g:g}: without pretraining minus W rescaled, "
                                            "learning-curve area", +1, MIN_REL_FLOSS, 0.0, st, searches)))
    return c


def claim5(sc, groups, searches) -> Claim:
    c = Claim(5, "Small gains reduce the gradient truncation error (stated, untested in the paper)",
              setting="romo", figures=["fig6"])
    lo, ref = sc.low_gain, sc.ref_gain
    for when, attr in (("at initialisation", "align_init"), ("after training by the rule", "align_final")):
        c.contrasts.append(contrast(groups, ("romo", "eprop", lo, S.PLAIN), ("romo", "eprop", ref, S.PLAIN),
                                    lambda r, a=attr: getattr(r, a),
                                    f"cos(e-prop, BPTT) {when}, gain {lo:g} minus gain {ref:g}", +1,
                                    min_abs=MIN_ABS_COS, learning=False))
        if ("romo", "rflo", lo, S.PLAIN) in groups:
            c.side.append(("RFLO: its random feedback adds an error of its own, so its cosine does not "
                           "isolate the truncation",
                           contrast(groups, ("romo", "rflo", lo, S.PLAIN), ("romo", "rflo", ref, S.PLAIN),
                                    lambda r, a=attr: getattr(r, a),
                                    f"cos(RFLO, BPTT) {when}, gain {lo:g} minus gain {ref:g}", +1,
                                    min_abs=MIN_ABS_COS, learning=False)))
    return c


def all_claims(sc: S.Scale, groups, searches) -> List[Claim]:
    return [f(sc, groups, searches) for f in (claim1, claim2, claim3, claim4, claim5)]


def tables(sc: S.Scale, groups, lr: Mapping[Tuple, float]) -> Dict[str, List[Dict]]:
    """Group rows per setting, in the scale's group order."""
    out: Dict[str, List[Dict]] = {}
    for g in sc.groups:
        if g.key in groups:
            out.setdefault(g.setting, []).append(group_row(g.key, groups[g.key], sc.settings[g.setting],
                                                           lr[g.key]))
    return out


__all__ = ["Claim", "all_claims", "tables", "floor_or_ceiling", "group_row", "label"]
