"""Units of the study pipeline: paired statistics, the learning-rate search, run metrics."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats as st

from localrnn.reproduce import lrsearch as ls
from localrnn.reproduce import metrics as mt
from localrnn.reproduce.stats import (HOLDS, NOT, NOT_RUN, PARTLY, UNTESTABLE, mark_untestable, paired,
                                      paired_verdict, sign_flip_p)

# fixed data: paired values of 10 seeds (not symmetric, one tie in |d|)
A = {s: v for s, v in enumerate([1.3, 1.1, 1.5, 0.9, 1.2, 1.4, 1.25, 1.05, 1.15, 1.35])}
B = {s: 1.0 for s in range(10)}


# ------------------------------------------------------------------ paired statistics
def test_sign_flip_p_equals_full_enumeration():
    d = np.array([A[s] - B[s] for s in range(10)])
    obs = abs(d.mean())
    ref = np.mean([abs(np.mean(d * np.array(sg))) >= obs - 1e-12
                   for sg in itertools.product([1.0, -1.0], repeat=d.size)])
    assert sign_flip_p(d) == ref
    # and scipy's exact permutation test of the same null
    r = st.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf)
    assert math.isclose(sign_flip_p(d), r.pvalue, rel_tol=1e-12)


def test_paired_matches_scipy_on_fixed_data():
    e = paired(A, B, "x", expected=1)
    d = np.array([A[s] - B[s] for s in range(10)])
    assert e.n == 10 and e.dropped == []
    assert e.diff == pytest.approx(d.mean(), rel=1e-15)
    assert e.sd_diff == pytest.approx(d.std(ddof=1), rel=1e-15)
    ci = st.bootstrap((d,), np.mean, method="BCa", n_resamples=10_000,
                      random_state=np.random.default_rng(0)).confidence_interval
    assert (e.ci_low, e.ci_high) == (ci.low, ci.high)       # same seeded computation
    t = st.ttest_rel([A[s] for s in range(10)], [B[s] for s in range(10)]).confidence_interval()
    assert e.t_low == pytest.approx(t.low, rel=1e-12) and e.t_high == pytest.approx(t.high, rel=1e-12)
    assert e.supports and e.significant and e.large


def test_paired_pairs_by_seed_and_drops_non_finite():
    a = dict(A)
    a[3] = float("nan")
    b = dict(B)
    del b[7]
    b[42] = 1.0
    e = paired(a, b, expected=1)
    assert e.seeds == [0, 1, 2, 4, 5, 6, 8, 9] and e.dropped == [3, 7, 42]
    # the pairing matters: shuffling b's values across seeds changes the answer
    b2 = {s: v for s, v in zip(range(10), [1.2, 0.8, 1.4, 0.9, 1.0, 1.3, 1.2, 1.0, 1.1, 1.3])}
    same = paired(A, b2)
    shuffled = paired(A, {s: b2[(s + 3) % 10] for s in range(10)})
    assert same.diff == pytest.approx(shuffled.diff)          # the means do not see pairing ...
    assert same.sd_diff != pytest.approx(shuffled.sd_diff)    # ... the paired spread does


def test_significance_needs_the_interval_and_the_exact_test():
    # skewed differences: 3 large ones, 7 near 0 -- the bootstrap interval can exclude 0
    # while the exact sign-flip test, with n = 10, cannot reach p < 0.05
    d = [1.0, 0.9, 0.8, 0.01, -0.01, 0.02, -0.02, 0.015, -0.005, 0.001]
    e = paired({s: v for s, v in enumerate(d)}, {s: 0.0 for s in range(10)}, expected=1)
    assert e.p >= 0.05 and not e.significant and not e.supports
    # the opposite direction is named
    o = paired(B, A, expected=1)
    assert o.opposite and not o.supports and "significant the other way" in o.sentence()


def test_paired_direction_size_and_degenerate_cases():
    assert not paired(A, B, expected=-1).supports             # right size, wrong side
    assert not paired(A, B, expected=1, min_abs=1.0).supports  # significant, too small
    assert paired(A, B, expected=1, min_abs=1.0).significant
    const = paired({s: 2.0 for s in range(6)}, {s: 1.0 for s in range(6)})
    assert (const.ci_low, const.ci_high) == (1.0, 1.0) and const.supports
    # five pairs can never reach p < 0.05 with the exact two-sided test (2 / 2^5)
    five = paired({s: 2.0 for s in range(5)}, {s: 1.0 for s in range(5)})
    assert five.p == 2 / 32 and not five.significant
    few = paired({0: 1.0, 1: 2.0}, {0: 0.0, 1: 0.0})
    assert math.isnan(few.ci_low) and not few.supports
    with pytest.raises(ValueError, match="expected"):
        paired(A, B, expected=0)
    with pytest.raises(ValueError, match="must map seeds"):
        paired([1.0, 2.0], B)


def test_verdict_counts_only_testable_contrasts():
    yes = paired(A, B, expected=1)
    no = paired(A, B, expected=-1)
    floor = mark_untestable(paired(A, B, expected=1), "both groups at chance")
    assert floor.word() == UNTESTABLE and not floor.supports
    assert paired_verdict([yes, floor]) == HOLDS
    assert paired_verdict([yes, no]) == PARTLY
    assert paired_verdict([no, floor]) == NOT
    assert paired_verdict([floor]) == UNTESTABLE
    assert paired_verdict([]) == NOT_RUN   # no contrast at all: the scale has no such setting
    assert "untestable here (both groups at chance)" in floor.sentence()


# ------------------------------------------------------------------ the learning-rate search
def test_search_extends_at_the_edge_stops_inside_and_states_the_bound():
    g = ls.RateGrid(base=1e-3, start=(-2, -1, 0, 1, 2), step=2, max_extra=3)
    s = {lr: float(i) for i, lr in enumerate(g.initial())}     # best at the low edge
    st1 = ls.next_rates(g, s)
    assert st1.status == ls.EXTEND and st1.side == "low"
    assert st1.new == pytest.approx([1e-3 / 16, 1e-3 / 8])
    s.update({st1.new[0]: -2.0, st1.new[1]: -1.0})   # still better towards the left
    st2 = ls.next_rates(g, s)
    assert st2.status == ls.EXTEND and st2.new == pytest.approx([1e-3 / 32])   # the bound cuts the step
    s[st2.new[0]] = -5.0
    st3 = ls.next_rates(g, s)
    assert st3.status == ls.BOUND and st3.side == "low" and st3.best == pytest.approx(1e-3 / 32)
    inside = {lr: abs(i - 1) for i, lr in enumerate(g.initial())}
    st4 = ls.next_rates(g, inside)
    assert st4.status == ls.INTERIOR and st4.best == pytest.approx(g.rate(-1)) and st4.new == []


def test_search_treats_divergence_as_worst_and_breaks_ties_low():
    g = ls.RateGrid(base=1.0, start=(0, 1, 2))
    s = {1.0: 0.5, 2.0: 0.5, 4.0: float("nan")}
    assert ls.best_rate(s) == 1.0
    st_ = ls.next_rates(g, s)
    assert st_.status == ls.EXTEND and st_.side == "low"
    allbad = {1.0: float("inf"), 2.0: float("nan"), 4.0: float("inf")}
    assert ls.next_rates(g, allbad).side == "low"
    with pytest.raises(ValueError, match="not on the grid"):
        ls.next_rates(g, {1.5: 0.1, 1.0: 0.2})
    with pytest.raises(ValueError, match="consecutive"):
        ls.RateGrid(base=1.0, start=(0, 2))


# ------------------------------------------------------------------ run metrics
def test_curve_measures():
    loss = [0.02, 0.01, 0.001, 0.0001]
    assert mt.curve_area(loss) == pytest.approx(np.mean(loss))
    assert mt.log_curve_area(loss) == pytest.approx(np.mean(np.log10(loss)))
    assert math.isnan(mt.curve_area([0.1, float("nan")]))
    assert mt.final_window_median(list(range(1, 21))) == pytest.approx(19.5)   # last 2 of 20
    assert mt.final_window_median([5.0]) == 5.0


def test_iterations_to_criterion_is_censored_when_never_reached():
    assert mt.iterations_to_criterion([50, 100, 150], [0.5, 0.95, 0.7], 0.9, 200) == (100.0, False)
    assert mt.iterations_to_criterion([50, 100], [0.5, 0.6], 0.9, 200) == (200.0, True)


def test_spike_events_definition():
    # learns (0.1 -> 0.001), spikes twice (one event of two points, then one more), recovers
    loss = [0.1, 0.05, 0.001, 0.05, 0.04, 0.001, 0.0008, 0.5, 0.0008]
    assert mt.spike_events(loss) == 2
    # a tenfold wiggle far below the untrained loss is not a spike
    assert mt.spike_events([0.1, 0.001, 1e-5, 2e-4, 1e-5]) == 0
    # noise before learning is not a spike
    assert mt.spike_events([0.1, 0.3, 0.09, 0.25, 0.1]) == 0
    assert mt.spike_events([0.1, 0.01, float("nan")]) == 1


def test_figure_series_draw_identical_groups_once():
    """Two groups made of the same cells (e.g. the per-gain flossing rate equal to the
    shared one) are one curve with both labels, not two curves drawn on top of each other."""
    from localrnn.reproduce.figures import _series
    from localrnn.reproduce.results import Run

    def run(name, loss):
        return Run(tag=None, name=name, status="done", eval_it=np.array([1, 2]),
                   eval_loss=np.array(loss, dtype=float))

    a = {0: run("a0", [2, 1]), 1: run("a1", [3, 1])}
    b = {0: run("b0", [4, 2]), 1: run("b1", [5, 2])}
    same_as_a = {1: run("a1", [3, 1]), 0: run("a0", [2, 1])}
    groups = {"A": a, "B": b, "A2": same_as_a}
    out = _series(groups, [("A", "shared"), ("B", "other"), ("A2", "per-gain"), ("C", "absent")],
                  "eval_loss")
    assert [s[0] for s in out] == ["shared = per-gain: the same runs", "other"]
    np.testing.assert_array_equal(out[0][2][0], [2, 1])
