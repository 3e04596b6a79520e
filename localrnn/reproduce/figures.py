"""The study's figures: its runs arranged into panels, drawn by :mod:`localrnn.plotting.reproduction`."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from ..plotting.reproduction import plot_curve_panels, plot_gain_panels
from . import scales as S
from .claims import RULE_LABEL, VARIANT_LABEL

FIGURES = {"fig1": "fig1_romo_curves.png", "fig2": "fig2_decision_curves.png",
           "fig3": "fig3_lyapunov.png", "fig4": "fig4_flossing.png", "fig5": "fig5_gains.png",
           "fig6": "fig6_alignment.png", "fig7": "fig7_lambda_during_training.png"}


def _curves(group, measure):
    runs = [r for r in group.values() if r.ok]
    return (runs[0].eval_it if runs else []), [r.curve(measure) for r in runs]


def _series(groups, keys_labels, measure):
    """(label, x, curves) per group present; a group whose runs are those of an earlier
    one (the same cells: e.g. the per-gain flossing rate equal to the shared one) is not
    drawn again, its label joins the earlier one's ("A = B: the same runs")."""
    out, seen = [], {}
    for key, lab in keys_labels:
        if key in groups:
            names = tuple(sorted(r.name for r in groups[key].values()))
            if names and names in seen:
                j = seen[names]
                out[j] = (out[j][0] + f" = {lab}: the same runs",) + out[j][1:]
                continue
            x, ys = _curves(groups[key], measure)
            seen[names] = len(out)
            out.append((lab, x, ys))
    return out


def _ms(group, fn):
    v = np.array([fn(r) for r in group.values() if r.ok], dtype=float)
    v = v[np.isfinite(v)]
    return (float(v.mean()) if v.size else np.nan, float(v.std(ddof=1)) if v.size > 1 else 0.0)


def _vs_gain(groups, setting, rule, variant, fn):
    gs = sorted(k[2] for k in groups if k[0] == setting and k[1] == rule and k[3] == variant)
    st = [_ms(groups[(setting, rule, g, variant)], fn) for g in gs]
    return gs, [m for m, _ in st], [s for _, s in st]


def draw(sc: S.Scale, groups, out) -> Dict[str, str]:
    """Every figure of the report into ``out``; returns ``{figure: file name}``."""
    out = Path(out)
    made = {}
    main_gains = [sc.low_gain, 1.0, sc.ref_gain]
    romo = sc.settings["romo"]

    def gains_of(setting, rule, variant=S.PLAIN):
        return [((setting, rule, float(g), variant), f"gain {g:g}") for g in main_gains
                if (setting, rule, float(g), variant) in groups]

    panels = [(f"Romo, {RULE_LABEL[r]}", _series(groups, gains_of("romo", r), romo.measure))
              for r in ("bptt", "eprop", "rflo")]
    plot_curve_panels(panels, out / FIGURES["fig1"])
    made["fig1"] = FIGURES["fig1"]

    dec = [k for k in sc.settings if k != "romo"]
    if dec:
        panels = [(f"{sc.settings[k].label}, {RULE_LABEL[r]}",
                   _series(groups, gains_of(k, r), sc.settings[k].measure))
                  for k in dec for r in ("bptt", "eprop")]
        plot_curve_panels(panels, out / FIGURES["fig2"], ylabel="eval loss (decision period)", cols=2)
        made["fig2"] = FIGURES["fig2"]

    series = [("before training", *_vs_gain(groups, "romo", "eprop", S.PLAIN, lambda r: r.lam("before_flossing")))]
    for r in ("bptt", "eprop", "rflo"):
        series.append((f"after training, {RULE_LABEL[r]}",
                       *_vs_gain(groups, "romo", r, S.PLAIN, lambda x: x.lam("after_training"))))
    plot_gain_panels([("Romo: λ_max per step (mean ± sd over seeds)", "λ_max", False, series)],
                     out / FIGURES["fig3"], hline=0.0)
    made["fig3"] = FIGURES["fig3"]

    fg = sorted({k[2] for k in groups if k[:2] == ("romo", "eprop") and k[3] == S.FLOSS})
    if fg:
        panels = []
        for g in fg:
            keys = [(("romo", "eprop", g, v), VARIANT_LABEL[v] or "no pretraining")
                    for v in (S.PLAIN, S.FLOSS, S.RESCALE, S.FLOSS_KEEP_Q, S.FLOSS_PER_GAIN)]
            panels.append((f"Romo, e-prop, gain {g:g}", _series(groups, keys, romo.measure)))
        plot_curve_panels(panels, out / FIGURES["fig4"])
        made["fig4"] = FIGURES["fig4"]

    series = [(RULE_LABEL[r], *_vs_gain(groups, "romo", r, S.PLAIN, lambda x: x.area(romo.measure)))
              for r in ("bptt", "eprop", "rflo")]
    series2 = [(RULE_LABEL[r], *_vs_gain(groups, "romo", r, S.PLAIN, lambda x: x.final_median(romo.measure)))
               for r in ("bptt", "eprop", "rflo")]
    plot_gain_panels([("Romo: learning-curve area vs gain", "mean eval loss over training", True, series),
                      ("Romo: eval loss at the end (median of the last 10%)", "eval loss", True, series2)],
                     out / FIGURES["fig5"])
    made["fig5"] = FIGURES["fig5"]

    panels = []
    for when, attr in (("at initialisation", "align_init"), ("after training by the rule", "align_final")):
        panels.append((f"cos(rule, BPTT) {when}", "cosine similarity", False,
                       [(f"{RULE_LABEL[r]} vs BPTT", *_vs_gain(groups, "romo", r, S.PLAIN,
                                                              lambda x, a=attr: getattr(x, a)))
                        for r in ("eprop", "rflo")]))
    plot_gain_panels(panels, out / FIGURES["fig6"], hline=0.0)
    made["fig6"] = FIGURES["fig6"]

    lam_panels = []
    for r, v in (("bptt", S.PLAIN), ("eprop", S.PLAIN), ("eprop", S.FLOSS)):
        ser = []
        for key, lab in gains_of("romo", r, v):
            runs = [x for x in groups[key].values() if x.ok and x.lyap_max.size]
            if runs:   # from iteration 0: the value before the first update
                ser.append((lab, np.r_[0.0, runs[0].lyap_it],
                            [np.r_[x.lyapunov.get("lambda_max_start", np.nan), x.lyap_max] for x in runs]))
        if ser:
            lam_panels.append((f"Romo, {RULE_LABEL[r]}" + (", after flossing" if v == S.FLOSS else ""), ser))
    if lam_panels:
        plot_curve_panels(lam_panels, out / FIGURES["fig7"], ylabel="λ_max (per step)", log=False, hline=0.0)
        made["fig7"] = FIGURES["fig7"]
    return made


__all__ = ["draw", "FIGURES"]
