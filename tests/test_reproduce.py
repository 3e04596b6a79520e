"""``localrnn reproduce liu2024``: statistics and verdicts on known numbers, the tiny study end to end."""
import re

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as st

from localrnn.cli import main
from localrnn.runs import RunDir
from localrnn.reproduce import VERDICT_RULE, get_scale, reproduce_liu2024, verdict, welch
from localrnn.reproduce.liu2024 import FIGURES, Cell, choose_lr, claim1, claim3, claim4, claim5, group
from localrnn.reproduce.stats import HOLDS, NOT, PARTLY, VERDICTS

A = np.array([1.00, 1.04, 0.97, 1.02, 0.99])      # five seeds around 1.0
B = np.array([0.50, 0.47, 0.52, 0.49, 0.53])      # five seeds around 0.5


# ---------------------------------------------------------------------------- statistics

def test_welch_matches_scipy_and_the_textbook_interval():
    e = welch(A, B, "a - b", expected=+1)
    assert e.diff == pytest.approx(A.mean() - B.mean(), rel=1e-14)
    assert e.p == pytest.approx(st.ttest_ind(A, B, equal_var=False).pvalue, rel=1e-10)
    va, vb = A.var(ddof=1) / 5, B.var(ddof=1) / 5
    df = (va + vb) ** 2 / (va ** 2 / 4 + vb ** 2 / 4)
    half = st.t.ppf(0.975, df) * np.sqrt(va + vb)
    assert (e.ci_low, e.ci_high) == pytest.approx((e.diff - half, e.diff + half), rel=1e-12)
    assert (e.n_a, e.n_b) == (5, 5) and e.sd_a == pytest.approx(A.std(ddof=1))


def test_clear_effect_holds_and_no_effect_does_not():
    clear = welch(A, B, "clear", expected=+1, min_rel=0.25)
    assert clear.significant and clear.large and clear.supports
    assert verdict([clear]) == HOLDS
    none = welch(A, A[::-1], "none", expected=+1, min_rel=0.25)   # same numbers, other order
    assert none.diff == pytest.approx(0.0, abs=1e-15) and not none.supports
    assert verdict([none]) == NOT
    assert verdict([clear, none]) == PARTLY
    assert verdict([]) == NOT


def test_wrong_direction_and_small_effects_do_not_support():
    assert not welch(B, A, "reversed", expected=+1).supports          # significant the other way
    assert welch(B, A, "reversed", expected=-1).supports
    eps = np.array([0.0, 1e-4, -1e-4, 2e-4, -2e-4])
    tiny = welch(1.0 + eps, 0.99 + eps, "1% apart, tight", expected=+1, min_rel=0.25)
    assert tiny.significant and not tiny.large and not tiny.supports
    few = welch([1.0], [0.0, 0.1], "one seed")
    assert np.isnan(few.ci_low) and not few.supports


def test_nonfinite_seeds_are_dropped_and_counted():
    e = welch([1.0, np.nan, 1.1, 0.9], B, "with a diverged seed", expected=+1)
    assert e.n_a == 3 and e.mean_a == pytest.approx(1.0)


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="expected=0"):
        welch(A, B, expected=0)
    with pytest.raises(ValueError, match="level=1.5"):
        welch(A, B, level=1.5)
    with pytest.raises(ValueError, match="scale='huge'"):
        get_scale("huge")


# ---------------------------------------------------------------------------- claims on known cells

def _cell(rule, gain, seed, loss, lr=1e-3, floss=False, task="romo", status="done"):
    it = np.array([1, 2, 3])
    return Cell(name=f"{rule}-{gain}-{seed}-{lr}-{floss}", task=task, rule=rule, gain=gain, lr=lr,
                seed=seed, floss=floss, dtype="float64", n_rec=8, iters=3, status=status,
                eval_it=it, eval_loss=np.array([2 * loss, 1.5 * loss, loss]),
                accuracy=np.array([0.5, 0.6, 0.7]))


def test_claim1_verdict_follows_the_numbers():
    sc = get_scale("tiny")
    strong = [_cell(r, g, s, (0.02 if g == 0.5 else 0.002) * (1 + 0.05 * s))
              for r in ("bptt", "eprop", "rflo") for g in (0.5, 1.5) for s in range(5)]
    assert claim1(sc, group(strong), {}).verdict == HOLDS
    flat = [_cell(r, g, s, 0.01 * (1 + 0.05 * s)) for r in ("bptt", "eprop", "rflo")
            for g in (0.5, 1.5) for s in range(5)]
    c = claim1(sc, group(flat), {})
    assert c.verdict == NOT and c.notes  # and it says what was investigated
    only_bptt = [x for x in strong if x.rule == "bptt"] + [x for x in flat if x.rule != "bptt"]
    assert claim1(sc, group(only_bptt), {}).verdict == PARTLY


def test_claim4_needs_improvement_most_at_the_poor_gain():
    sc = get_scale("tiny")
    cells = []
    for s in range(5):
        cells += [_cell("eprop", 0.5, s, 0.020 + 1e-4 * s), _cell("eprop", 0.5, s, 0.010 + 1e-4 * s, floss=True),
                  _cell("eprop", 1.5, s, 0.004 + 1e-4 * s), _cell("eprop", 1.5, s, 0.004 + 1e-4 * s, floss=True)]
    assert claim4(sc, group(cells), {}, {}).verdict == HOLDS
    same = [c for c in cells if not c.floss] + [_cell(c.rule, c.gain, c.seed, c.final_eval_loss, floss=True)
                                                 for c in cells if not c.floss]
    assert claim4(sc, group(same), {}, {}).verdict == NOT


def test_claim3_and_claim5_verdicts_follow_the_numbers():
    sc = get_scale("tiny")
    cells = []
    for r in ("bptt", "eprop", "rflo"):
        for g in (0.5, 1.5):
            for s in range(4):
                c = _cell(r, g, s, 0.01)
                c.lam_init = (-0.32 if g == 0.5 else 0.02) + 0.01 * s      # far from 0 at the small gain
                c.lam_trained = 0.01 * (s - 1.5)                            # near 0 after training
                c.align = {"init": (0.9 if g == 0.5 else 0.4) + 0.01 * s, "final": 0.3 + 0.01 * s}
                cells.append(c)
    assert claim3(sc, group(cells)).verdict == HOLDS
    c5 = claim5(sc, group(cells))
    assert c5.verdict == PARTLY                       # higher cosine at 0.5 at init, not after training
    assert [e.supports for e in c5.effects] == [True, False]
    for c in cells:
        c.lam_trained = c.lam_init                   # training did not move lambda_max
        c.align = {}
    c3 = claim3(sc, group(cells))
    assert c3.verdict == PARTLY and [e.supports for e in c3.effects] == [True, False, False]
    assert claim5(sc, group(cells)).verdict == NOT


def test_choose_lr_takes_the_lowest_mean_and_counts_divergence_as_worst():
    sc = get_scale("quick")
    lrs = sc.tasks["romo"].lrs
    key = ("romo", "bptt", 0.5, False)
    cells = [_cell("bptt", 0.5, 100, 0.01, lr=lrs[0]), _cell("bptt", 0.5, 100, 0.001, lr=lrs[1],
                                                             status="diverged"),
             _cell("bptt", 0.5, 100, 0.005, lr=lrs[2])]
    best = choose_lr(cells, sc)[key]
    assert best["lr"] == lrs[2] and best["edge"]
    assert [v for _, v in best["table"]][1] == np.inf


# ---------------------------------------------------------------------------- end to end

def test_tiny_reproduction_writes_every_figure_and_a_verdict_per_claim(tmp_path):
    out = tmp_path / "liu"
    rep = reproduce_liu2024(out, scale="tiny")
    for name in FIGURES.values():
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
    text = rep.path.read_text()
    found = re.findall(r"\*\*Verdict \(claim (\d)\): (.+?)\.\*\*", text)
    assert [int(k) for k, _ in found] == [1, 2, 3, 4, 5]
    assert all(v in VERDICTS for _, v in found)
    assert [c.verdict for c in rep.claims] == [v for _, v in found]
    assert VERDICT_RULE in text
    # every reported group has the scale's seeds, each a finished run folder
    sc = get_scale("tiny")
    main_cells = sorted((out / "main" / "cells").iterdir())
    assert len(main_cells) == 3 * 2 * 2 + 2 * 2 + 2 * 2 * 2 * 2
    cfgs = [RunDir(c).read_config() for c in main_cells]
    assert {c["seed"] for c in cfgs} == set(sc.seeds) and {c["status"] for c in cfgs} == {"done"}
    # claim 3 and 5 numbers came from the runs: lambda_max and alignment are recorded
    assert "nan ± nan" not in text.split("## Claim 3")[1].split("## Claim 4")[0]
    assert "nan ± nan" not in text.split("## Claim 5")[1].split("## For the main")[0]
    # a rerun resumes: nothing is trained again, the report is the same
    w = main_cells[0] / "weights.npz"
    before = w.stat().st_mtime_ns
    rep2 = reproduce_liu2024(out, scale="tiny")
    assert w.stat().st_mtime_ns == before
    assert [c.verdict for c in rep2.claims] == [c.verdict for c in rep.claims]


def test_cli_rejects_conflicting_scales():
    res = CliRunner().invoke(main, ["reproduce", "liu2024", "--quick", "--scale", "paper"])
    assert res.exit_code == 2 and "Error:" in res.output and "--quick" in res.output


@pytest.mark.parametrize("name", ["quick", "default", "paper"])
def test_every_scale_builds_valid_uniquely_named_cells(name):
    from localrnn.reproduce.liu2024 import _combos, main_specs, prep_specs, tune_specs
    from localrnn.sweep import make_cells

    sc = get_scale(name)
    floss_lr = {g: 0.1 / sc.tasks["romo"].n_rec for g in sc.floss_gains}
    stages = [prep_specs(sc), tune_specs(sc, floss_lr),
              main_specs(sc, {k: sc.tasks[k[0]].lr_base for k in _combos(sc)}, floss_lr)]
    for specs in stages:
        cells = make_cells([{k: v for k, v in d.items() if k != "align"} for d in specs])  # validates
        assert len({c.name for c in cells}) == len(specs)
    main = stages[2]
    # the paper's protocol: reported seeds only in main, tuning seeds only in tune
    assert {d["seed"] for d in main} == set(sc.seeds)
    assert {d["seed"] for d in stages[1]} == set(sc.tune_seeds)
    assert not set(sc.seeds) & set(sc.tune_seeds)
    # alignment and Lyapunov exponents are recorded for every Romo cell of the study
    assert all(d["align"] and d["lyapunov"] for d in main if d["task"] == "romo")
    assert sum(d["floss_iters"] > 0 for d in main) == len(sc.floss_gains) * len(sc.seeds)
