"""The study's report: markdown rendered from the claims' data (no number is computed here).

:func:`render` turns a :class:`~localrnn.reproduce.study.Study` and its
:class:`~localrnn.reproduce.claims.Claim` list into ``report.md``; every number it
prints comes from the claims, tables and searches, which come from the run folders.
``claims.json`` holds the same data for tests and other tools.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Sequence

from . import scales as S
from .claims import RULE_LABEL, Claim, label
from .stats import PAIRED_RULE

PAPER = ("Liu, Zhang & Liu (2024), How initial connectivity shapes biologically plausible "
         "learning in recurrent neural networks, arXiv:2410.11164")


def fmt(v, f=".4g") -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan"
    return format(v, f)


def ms(x, f=".4g") -> str:
    """``mean ± sd`` of a ``[mean, sd, n]`` triple."""
    m, s, n = x
    if n == 0:
        return "—"
    return f"{fmt(m, f)} ± {fmt(s, f)}"


def table(columns: Sequence[str], rows: Sequence[Sequence]) -> List[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def group_table(rows: Sequence[Dict], criterion: float, lyap: bool = False, align: bool = False) -> List[str]:
    cols = ["group", "lr", "done/seeds", "curve area", "log10 area", "final-window median",
            "final accuracy", f"iterations to {criterion:g} (censored)", "runs with spikes"]
    body = []
    for r in rows:
        body.append([r["label"], fmt(r["lr"], ".3g"), f"{r['done']}/{r['seeds']}", ms(r["area"]),
                     ms(r["log_area"], ".3f"), ms(r["final_median"]), ms(r["final_accuracy"], ".3f"),
                     f"{ms(r['to_criterion'], '.0f')} ({r['censored']})", r["spiking_runs"]])
    out = table(cols, body)
    if lyap:
        out += [""] + table(["group", "λ_max before training", "λ_max after flossing", "λ_max after training"],
                             [[r["label"], ms(r["lam_init"], ".3f"), ms(r["lam_floss"], ".3f"),
                               ms(r["lam_trained"], ".3f")] for r in rows])
    if align:
        out += [""] + table(["group", "cos(rule, BPTT) at initialisation", "cos(rule, BPTT) after training"],
                             [[r["label"], ms(r["align_init"], ".3f"), ms(r["align_final"], ".3f")]
                              for r in rows if r["group"][1] != "bptt"])
    return out


def search_table(sc: S.Scale, searches: Mapping, lr: Mapping) -> List[str]:
    body = []
    for g in sc.groups:
        s = searches.get(g.key)
        if s is None:
            continue
        tried = ", ".join(f"{fmt(x, '.3g')}: {fmt(v, '.3g')}" for x, v in zip(s["tried"], s["scores"]))
        status = s["status"] + (f" ({s['side']} side)" if s["status"] == "bound" else "")
        body.append([sc.settings[g.setting].label, label(g.key, sc.ref_gain), tried, fmt(lr[g.key], ".3g"),
                     status])
    return table(["task", "group", "rates tried: mean curve area over the tuning seeds", "chosen",
                   "optimum"], body)


def claim_section(c: Claim, sc: S.Scale, tables: Mapping[str, List[Dict]], figures: Mapping[str, str]) -> List[str]:
    out = [f"## Claim {c.number}: {c.text}", ""]
    for f in c.figures:
        if f in figures:
            out += [f"![{f}]({figures[f]})", ""]
    settings = [c.setting] if c.setting else [k for k in sc.settings if k != "romo"]
    for s in settings:
        st = sc.settings[s]
        if s in tables:
            keys = {tuple(r["group"]) for r in tables[s]}
            want = [r for r in tables[s] if _relevant(c.number, tuple(r["group"]), keys)]
            if want:
                out += [f"{st.label} (N = {st.n_rec}, batch {st.batch}, {st.iters} iterations; measure: "
                        f"{'eval loss' if st.measure == 'eval_loss' else 'decision-period loss'}):", ""]
                out += group_table(want, st.criterion, lyap=c.number in (3, 4), align=c.number == 5) + [""]
    out += ["Contrasts (they decide the verdict):", ""]
    out += [f"- {e.sentence()}" for e in c.contrasts] + [""]
    if c.side:
        out += ["Beside them (reported, not counted):", ""]
        out += [f"- *{why}*: {e.sentence()}" for why, e in c.side] + [""]
    for n in c.notes:
        if n.get("kind") == "spearman":
            out.append(f"- Figure 5: {RULE_LABEL[n['rule']]}: Spearman correlation of the learning-curve "
                       f"area with the gain over {n['gains']} gains and {n['runs']} runs: rho = "
                       f"{fmt(n['rho'], '.3f')}, p = {fmt(n['p'], '.3g')}")
    out += ["", f"**Verdict (claim {c.number}): {c.verdict}.**", ""]
    return out


def _relevant(number: int, key, keys) -> bool:
    setting, rule, gain, variant = key
    if number in (1, 2):
        return variant in (S.PLAIN, S.SHARED_LR, S.NOCLIP, S.ONESTEP)
    if number == 3:
        return variant == S.PLAIN and rule in ("bptt", "eprop")
    if number == 4:
        return rule == "eprop" and variant in (S.PLAIN, S.FLOSS, S.FLOSS_PER_GAIN, S.FLOSS_KEEP_Q, S.RESCALE)
    if number == 5:
        return variant == S.PLAIN and rule in ("eprop", "rflo")
    return True


def render(study, claims: Sequence[Claim], tables: Mapping[str, List[Dict]], figures: Mapping[str, str],
           extra: Sequence[str] = ()) -> str:
    sc = study.scale
    L = [f"# Reproduction: {PAPER}", ""]
    L += [f"Generated by `localrnn reproduce liu2024 --scale {sc.name}`. Every number below was "
          "computed from the run folders under this folder (`prep/`, `tune/`, `main/`, `checks/`; "
          "`plan.json` in each says what every cell is for).", ""]
    L += ["## Verdicts", ""]
    L += [f"{c.number}. {c.text}: **{c.verdict}**" for c in claims] + [""]
    L += ["### How a verdict is computed", "", PAIRED_RULE, ""]
    L += list(extra)
    for c in claims:
        L += claim_section(c, sc, tables, figures)
    return "\n".join(L) + "\n"


__all__ = ["render", "table", "PAPER"]
