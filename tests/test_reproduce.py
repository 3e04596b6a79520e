"""The study pipeline (localrnn.reproduce): claims from runs, the whole tiny study, scales."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn.cli import main as cli
from localrnn.reproduce import SCALES, claims as C, plan as P, scales as S
from localrnn.reproduce.liu2024 import reproduce_liu2024
from localrnn.reproduce.results import Run
from localrnn.reproduce.stats import HOLDS, NOT, UNTESTABLE
from localrnn.runs import RunDir
from localrnn.sweep import SweepDir

SC = SCALES["tiny"]


def fake_run(key, seed, loss, acc, lam=(0.0, 0.0), align=(0.5, 0.5)):
    """A finished run whose eval curve is ``loss`` at every point and whose accuracy rises
    from chance to ``acc``."""
    it = np.arange(1, 6, dtype=float)
    r = Run(tag=P.Tag(P.MAIN, "main", key, seed, 1e-3), name=f"{key}-{seed}", status="done", iters=5,
            eval_it=it, eval_loss=np.full(5, loss), decision_loss=np.full(5, loss),
            accuracy=np.linspace(0.5, acc, 5))
    r.lyapunov = {"before_flossing": [lam[0]], "after_training": [lam[1]]}
    r.align_init, r.align_final = align
    return r


def groups_of(spec, seeds=range(6)):
    """``{key: {seed: Run}}`` from ``{key: (loss, acc)}``, a little seed-to-seed noise."""
    rng = np.random.default_rng(0)
    return {k: {s: fake_run(k, s, loss * (1 + 0.02 * rng.standard_normal()), acc) for s in seeds}
            for k, (loss, acc) in spec.items()}


def romo(rule, gain, variant=S.PLAIN):
    return ("romo", rule, float(gain), variant)


# ------------------------------------------------------------------ claims follow the numbers
def test_claim1_holds_when_the_small_gain_learns_worse_and_is_untestable_at_a_floor():
    g = groups_of({romo("bptt", 0.5): (0.02, 0.9), romo("bptt", 1.5): (0.005, 1.0),
                   romo("eprop", 0.5): (0.03, 0.7), romo("eprop", 1.5): (0.01, 0.95)})
    c = C.claim1(SC, g, {})
    assert c.verdict == HOLDS and all(e.supports for e in c.contrasts)
    # the same losses with both groups at chance: a floor, not a finding
    g = groups_of({romo("bptt", 0.5): (0.02, 0.5), romo("bptt", 1.5): (0.005, 0.52),
                   romo("eprop", 0.5): (0.03, 0.48), romo("eprop", 1.5): (0.01, 0.5)})
    c = C.claim1(SC, g, {})
    assert c.verdict == UNTESTABLE
    assert all("a floor" in e.untestable for e in c.contrasts)
    # a rate at its search bound also makes the contrast untestable
    g = groups_of({romo("bptt", 0.5): (0.02, 0.9), romo("bptt", 1.5): (0.005, 1.0),
                   romo("eprop", 0.5): (0.03, 0.7), romo("eprop", 1.5): (0.01, 0.95)})
    c = C.claim1(SC, g, {romo("eprop", 0.5): {"status": "bound", "side": "low"}})
    assert c.contrasts[0].supports and c.contrasts[1].untestable and c.verdict == HOLDS


def test_claim1_does_not_hold_when_the_gains_learn_alike():
    g = groups_of({romo("bptt", 0.5): (0.01, 0.9), romo("bptt", 1.5): (0.01, 0.9),
                   romo("eprop", 0.5): (0.01, 0.9), romo("eprop", 1.5): (0.0101, 0.9)})
    assert C.claim1(SC, g, {}).verdict == NOT


def test_claim4_needs_the_improvement_largest_at_the_poor_gain():
    spec = {romo("eprop", 0.5): (0.03, 0.7), romo("eprop", 0.5, S.FLOSS): (0.015, 0.9),
            romo("eprop", 1.5): (0.01, 0.95), romo("eprop", 1.5, S.FLOSS): (0.0099, 0.95)}
    assert C.claim4(SC, groups_of(spec), {}).verdict == HOLDS
    spec[romo("eprop", 1.5, S.FLOSS)] = (0.005, 0.99)   # helps as much at the good gain: not 'most'
    spec[romo("eprop", 1.5)] = (0.02, 0.9)
    c = C.claim4(SC, groups_of(spec), {})
    assert c.contrasts[0].supports and not c.contrasts[1].supports


def test_claim3_pairs_the_exponents_of_each_seed():
    g = {}
    for rule in ("bptt", "eprop"):
        g[romo(rule, 0.5)] = {s: fake_run(romo(rule, 0.5), s, 0.01, 0.9, lam=(-0.3 - 0.01 * s, -0.02))
                              for s in range(6)}
        g[romo(rule, 1.5)] = {s: fake_run(romo(rule, 1.5), s, 0.01, 0.9, lam=(0.01, 0.0)) for s in range(6)}
    c = C.claim3(SC, g, {})
    assert c.verdict == HOLDS
    assert c.contrasts[0].diff == pytest.approx(np.mean([0.3 + 0.01 * s for s in range(6)]) - 0.01)


# ------------------------------------------------------------------ the whole study, tiny
def _metric(run_dir: RunDir, column: str):
    rows = [r for r in run_dir.read_metrics() if r["eval_loss"] is not None]
    return np.array([r[column] for r in rows], dtype=float)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    rep = reproduce_liu2024(out, scale="tiny", workers=1)
    return out, rep


def test_tiny_study_writes_every_figure_a_verdict_per_claim_and_its_data(tiny):
    out, rep = tiny
    text = (out / "report.md").read_text()
    for c in rep.claims:
        assert f"**Verdict (claim {c.number}): {c.verdict}.**" in text
    for name in rep.figures.values():
        assert (out / name).stat().st_size > 1000 and f"]({name})" in text
    data = json.loads((out / "claims.json").read_text())
    assert [c["verdict"] for c in data["claims"]] == [c.verdict for c in rep.claims]
    # every stage wrote its plan: each cell folder is explained
    for stage in ("prep", "tune", "main", "checks"):
        plan = json.loads((out / stage / "plan.json").read_text())
        assert {p["name"] for p in plan} == {r["name"] for r in SweepDir(out / stage).rows()}


def test_tiny_study_numbers_are_those_of_the_run_folders(tiny):
    """Every contrast of the report recomputed from metrics.csv by hand (RunDir only)."""
    out, rep = tiny
    data = json.loads((out / "claims.json").read_text())
    text = (out / "report.md").read_text()
    plan = json.loads((out / "main" / "plan.json").read_text())
    lr = {tuple(k[:2]) + (float(k[2]), k[3]): v for k, v in data["lr"]}
    folders = {}
    for p in plan:
        key = (p["group"][0], p["group"][1], float(p["group"][2]), p["group"][3])
        if math.isclose(p["lr"], lr[key], rel_tol=1e-12):
            folders.setdefault(key, {})[p["seed"]] = SweepDir(out / "main").run_dir(p["name"])
    checked = 0
    for claim in data["claims"]:
        for e in claim["contrasts"] + claim["side"]:
            meta = e.get("meta") or {}
            if meta.get("measure") != "area":
                continue
            ka, kb = (tuple(meta[x][:2]) + (float(meta[x][2]), meta[x][3]) for x in ("a", "b"))
            col = "eval_loss" if ka[0] == "romo" else "eval_decision_loss"
            va, vb = {}, {}
            for key, dest in ((ka, va), (kb, vb)):
                for s, rd in folders[key].items():
                    if rd.status == "done":
                        dest[s] = float(np.mean(_metric(rd, col)))
            seeds = sorted(set(va) & set(vb))
            assert seeds == e["seeds"]
            assert e["mean_a"] == pytest.approx(np.mean([va[s] for s in seeds]), rel=1e-12)
            assert e["diff"] == pytest.approx(np.mean([va[s] - vb[s] for s in seeds]), rel=1e-9, abs=1e-15)
            assert format(e["diff"], ".3g") in text
            checked += 1
    assert checked >= 8


def test_tiny_study_reruns_nothing_and_reports_the_same(tiny, tmp_path):
    out, rep = tiny
    before = {st: SweepDir(out / st).rows() for st in ("tune", "main")}
    rep2 = reproduce_liu2024(out, scale="tiny", workers=1)
    assert [c.verdict for c in rep2.claims] == [c.verdict for c in rep.claims]
    for st, rows in before.items():
        assert [(r["name"], r["seconds"]) for r in SweepDir(out / st).rows()] == \
               [(r["name"], r["seconds"]) for r in rows]   # no cell ran again


# ------------------------------------------------------------------ scales and the CLI
@pytest.mark.parametrize("name", sorted(SCALES))
def test_every_scale_plans_valid_uniquely_named_cells(name):
    sc = SCALES[name]
    pairs = []
    for g in sc.groups:
        st = sc.settings[g.setting]
        fl = 0.01 if g.variant in (S.FLOSS, S.FLOSS_PER_GAIN, S.FLOSS_KEEP_Q) else None
        if g.tuned:
            pairs += P.tune_cells(sc, g, st.grid.initial(), fl)
        pairs += P.main_cells(sc, g, st.grid.base, fl)
    pairs += P.check_cells(sc)
    P.check_unique(pairs)                 # every cell's config resolves; names unique
    assert len({c.name for _, c in pairs}) == len(pairs)
    keys = [g.key for g in sc.groups]
    assert len(set(keys)) == len(keys)
    for g in sc.groups:
        if not g.tuned:
            assert tuple(g.lr_from) in keys


def test_controls_are_chosen_one_by_one():
    st = {"romo": SC.settings["romo"]}
    every = {g.variant for g in S.study_groups(st, (0.5, 1.5), (), (), 0.5, 1.5, True)}
    assert set(S.CONTROLS) <= every
    none = {g.variant for g in S.study_groups(st, (0.5, 1.5), (), (), 0.5, 1.5, False)}
    assert not set(S.CONTROLS) & none
    one = S.study_groups(st, (0.5, 1.5), (), (), 0.5, 1.5, (S.RESCALE,))
    assert [g.key for g in one if g.variant in S.CONTROLS] == [("romo", "eprop", 0.5, S.RESCALE)]
    for name in ("n128", "paper"):   # claim 4's control at N = 128 and 256
        assert [g.key for g in SCALES[name].groups if g.variant in S.CONTROLS] == [
            ("romo", "eprop", 0.5, S.RESCALE)]
    with pytest.raises(ValueError, match="not allowed"):
        S.study_groups(st, (0.5,), (), (), 0.5, 1.5, ("nonsense",))


def test_identical_cells_of_two_groups_run_once():
    sc = SCALES["tiny"]
    plain = sc.group(("romo", "eprop", 0.5, S.PLAIN))
    shared = sc.group(("romo", "eprop", 0.5, S.SHARED_LR))
    a = P.main_cells(sc, plain, 0.01)
    b = P.main_cells(sc, shared, 0.01)        # the same rate: the same runs
    c = P.main_cells(sc, shared, 0.02)        # another rate: other runs
    out = P.share_identical(a + b + c)
    names = [cell.name for _, cell in out]
    assert names[len(a):2 * len(a)] == names[:len(a)]
    assert not set(names[2 * len(a):]) & set(names[:len(a)])
    assert [t for t, _ in out] == [t for t, _ in a + b + c]     # every tag kept


def test_the_cli_offers_every_scale():
    from localrnn.names import STUDY_SCALES

    assert set(STUDY_SCALES) == set(SCALES)


def test_cli_rejects_conflicting_scales():
    r = CliRunner().invoke(cli, ["reproduce", "liu2024", "--quick", "--scale", "paper"])
    assert r.exit_code == 2 and "disagree" in r.output
