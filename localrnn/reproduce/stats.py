"""Statistics across seeds for the study's reports: paired contrasts and verdicts.

A claim of a paper is turned into one or more *contrasts*: two groups of runs trained
on the same seeds (a seed fixes the random matrices and the batches, so the groups are
paired), one value per seed (e.g. e-prop's learning-curve area at gain 0.5 and at gain
1.5), and the direction the paper states.  :func:`paired` summarises a contrast by the
mean paired difference with a BCa bootstrap interval and the exact sign-flip
permutation p-value; :func:`paired_verdict` turns a claim's contrasts into a plain word
by :data:`PAIRED_RULE`, which is fixed before the numbers are seen and written into
every report.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Mapping

import numpy as np

HOLDS, PARTLY, NOT = "holds", "holds partly", "does not hold here"

# --------------------------------------------------------------------------- paired contrasts
#: The verdict rule of the paired design, written into every report before the numbers.
PAIRED_RULE = (
    "Every group of a contrast is trained on the same seeds, and a seed fixes the random matrix "
    "Z of W = g Z / sqrt(N), W_in, W_out and every batch, so the two groups of a contrast are "
    "paired by seed. A contrast is the mean over seeds of the paired difference a - b of one "
    "metric. Its 95% interval is a bias-corrected and accelerated (BCa) bootstrap interval of "
    "that mean (10,000 resamples of the seeds, seeded); its p-value is the exact two-sided "
    "sign-flip permutation test (all 2^n sign patterns). A contrast is *significant* when the "
    "interval excludes 0 on the side the paper states AND the sign-flip p-value is below 0.05 "
    "(both: with 10 seeds and skewed differences the bootstrap interval alone can exclude 0 "
    "where the exact test does not); it *supports* the claim when it is significant and the "
    "mean difference is at least the stated minimum size (relative to the larger of the two "
    "group means, and/or absolute). "
    "A contrast is *untestable here* when its groups sit at a floor or a ceiling of the measure "
    "(defined with the claim) or a learning rate could not be tuned to an interior optimum: "
    "then the numbers are shown but do not count. Verdict of a claim over its testable "
    "contrasts: **holds** when every one supports it, **holds partly** when at least one does "
    "but not all, **does not hold here** when none does; **untestable here** when none of its "
    "contrasts is testable; **not run at this scale** when the scale has none. Seeds whose run diverged (a non-finite value) leave their pair out "
    "and are counted.")

UNTESTABLE = "untestable here"
#: a claim with no contrast at all: its setting is not part of the scale (e.g. the
#: decision tasks at a Romo-only scale) -- not a floor, nothing was measured
NOT_RUN = "not run at this scale"
VERDICTS = (HOLDS, PARTLY, NOT, UNTESTABLE, NOT_RUN)


@dataclass
class PairedEffect:
    """One paired contrast: the mean over seeds of ``a[s] - b[s]``.

    Attributes
    ----------
    label : str
    seeds : list of int
        The seeds with a finite value in both groups (the pairs used).
    dropped : list of int
        Seeds present in either group but left out (missing or non-finite on one side).
    mean_a, mean_b : float
        Means of the two groups over the pairs.
    diff, sd_diff : float
        Mean and sample sd (ddof = 1) of the paired differences.
    ci_low, ci_high : float
        BCa bootstrap interval of the mean difference at ``level`` (the difference itself
        when every pair differs by the same amount; NaN with fewer than 3 pairs).
    p : float
        Exact two-sided sign-flip permutation p-value (NaN with fewer than 2 pairs).
    t_low, t_high : float
        The paired t interval, for reference (assumes normal differences).
    dz : float
        Standardised effect ``diff / sd_diff`` (Cohen's d_z; inf when sd_diff = 0).
    expected, min_rel, min_abs, level
        As :func:`welch`.
    untestable : str
        Empty, or why the contrast cannot test the claim (a floor, a ceiling, a learning
        rate at its search bound); then ``supports`` is False and the contrast does not
        count in the verdict.
    meta : dict
        What was compared, for tools that recompute it (e.g. the groups and the measure).
    """

    label: str
    seeds: List[int]
    dropped: List[int]
    mean_a: float
    mean_b: float
    diff: float
    sd_diff: float
    ci_low: float
    ci_high: float
    p: float
    t_low: float
    t_high: float
    dz: float
    expected: int
    min_rel: float
    min_abs: float
    level: float
    significant: bool
    large: bool
    supports: bool
    opposite: bool = False
    untestable: str = ""
    meta: Dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.seeds)

    def as_dict(self) -> Dict:
        return asdict(self)

    def word(self) -> str:
        if self.untestable:
            return UNTESTABLE
        if self.supports:
            return "supports"
        if self.significant:
            return "significant but small"
        return "does not support (significant the other way)" if self.opposite else "does not support"

    def sentence(self, fmt: str = ".3g") -> str:
        """``label: 0.1 vs 0.05 (n=10 pairs); mean difference 0.05 [95% BCa 0.03, 0.07],
        sign-flip p = 0.002, d_z = 1.9 → supports``"""
        f = lambda v: format(v, fmt) if np.isfinite(v) else "nan"  # noqa: E731
        drop = f", {len(self.dropped)} seed(s) left out: {self.dropped}" if self.dropped else ""
        why = f" ({self.untestable})" if self.untestable else ""
        return (f"{self.label}: {f(self.mean_a)} vs {f(self.mean_b)} (n={self.n} pairs{drop}); "
                f"mean difference {f(self.diff)} [{int(round(self.level * 100))}% BCa "
                f"{f(self.ci_low)}, {f(self.ci_high)}], sign-flip p = {f(self.p)}, "
                f"d_z = {f(self.dz)} → {self.word()}{why}")


def _by_seed(x, name: str) -> Dict[int, float]:
    if not isinstance(x, Mapping):
        raise ValueError(f"{name} must map seeds to values, got {type(x).__name__}")
    return {int(k): float(v) for k, v in x.items()}


def sign_flip_p(d) -> float:
    """Exact two-sided sign-flip permutation p-value of ``mean(d) = 0`` (all 2^n sign
    patterns; ``n <= 20``): the share of patterns whose |mean| reaches the observed one."""
    d = np.asarray(d, dtype=np.float64).ravel()
    n = d.size
    if n < 2:
        return float("nan")
    if n > 20:
        raise ValueError(f"{n} pairs: the exact sign-flip test enumerates 2^n patterns; allowed n <= 20")
    signs = 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1)
    stats_ = np.abs(signs @ d) / n
    obs = abs(d.mean())
    # a relative guard so that patterns equal to the observed value in exact arithmetic count
    return float(np.mean(stats_ >= obs * (1.0 - 1e-12)))


#: The sign-flip p-value a significant contrast must stay below (with the interval).
ALPHA = 0.05


def paired(a, b, label: str = "", expected: int = 1, min_rel: float = 0.0, min_abs: float = 0.0,
           level: float = 0.95, n_boot: int = 10_000, seed: int = 0, alpha: float = ALPHA) -> PairedEffect:
    """The paired contrast ``a - b`` over the seeds present and finite in both.

    Parameters
    ----------
    a, b : mapping seed -> float
        One value per seed.
    label, expected, min_rel, min_abs, level
        As :func:`welch`.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap's generator (the interval is reproducible).

    Examples
    --------
    >>> e = paired({0: 1.0, 1: 1.2, 2: 0.9, 3: 1.1}, {0: 0.5, 1: 0.6, 2: 0.5, 3: 0.6}, expected=1)
    >>> round(e.diff, 3), e.supports
    (0.5, True)
    """
    from scipy import stats as st

    if expected not in (1, -1):
        raise ValueError(f"expected={expected!r} must be +1 (a > b) or -1 (a < b)")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level!r} must be between 0 and 1")
    if min_rel < 0 or min_abs < 0:
        raise ValueError(f"min_rel={min_rel!r} and min_abs={min_abs!r} must be >= 0")
    da, db = _by_seed(a, "a"), _by_seed(b, "b")
    seeds = sorted(s for s in set(da) & set(db) if math.isfinite(da[s]) and math.isfinite(db[s]))
    dropped = sorted((set(da) | set(db)) - set(seeds))
    xa = np.array([da[s] for s in seeds])
    xb = np.array([db[s] for s in seeds])
    d = xa - xb
    n = d.size
    nan = float("nan")
    ma = float(xa.mean()) if n else nan
    mb = float(xb.mean()) if n else nan
    diff = float(d.mean()) if n else nan
    sd = float(d.std(ddof=1)) if n > 1 else nan
    lo = hi = tlo = thi = nan
    if n >= 3:
        if sd == 0.0:
            lo = hi = tlo = thi = diff
        else:
            ci = st.bootstrap((d,), np.mean, method="BCa", n_resamples=n_boot, confidence_level=level,
                              random_state=np.random.default_rng(seed)).confidence_interval
            lo, hi = float(ci.low), float(ci.high)
            tci = st.ttest_1samp(d, 0.0).confidence_interval(confidence_level=level)
            tlo, thi = float(tci.low), float(tci.high)
    p = sign_flip_p(d) if n >= 2 else nan
    dz = (diff / sd if sd > 0 else (math.copysign(math.inf, diff) if diff != 0 else nan)) if n > 1 else nan
    small_p = bool(math.isfinite(p) and p < alpha)
    significant = bool(math.isfinite(lo) and (lo > 0 if expected > 0 else hi < 0) and small_p)
    opposite = bool(math.isfinite(lo) and (hi < 0 if expected > 0 else lo > 0) and small_p)
    scale = max(abs(ma), abs(mb)) if n else nan
    large = bool(math.isfinite(diff) and abs(diff) >= min_abs and abs(diff) >= min_rel * scale)
    return PairedEffect(label=label, seeds=seeds, dropped=dropped, mean_a=ma, mean_b=mb, diff=diff,
                        sd_diff=sd, ci_low=lo, ci_high=hi, p=p, t_low=tlo, t_high=thi, dz=dz,
                        expected=int(expected), min_rel=float(min_rel), min_abs=float(min_abs),
                        level=float(level), significant=significant, large=large,
                        supports=bool(significant and large), opposite=opposite)


def mark_untestable(e: PairedEffect, reason: str) -> PairedEffect:
    """``e`` marked untestable for ``reason`` (it no longer supports or counts)."""
    e.untestable = str(reason)
    e.supports = False
    return e


def paired_verdict(effects: Iterable[PairedEffect]) -> str:
    """The verdict over the testable contrasts (:data:`PAIRED_RULE`)."""
    effects = list(effects)
    if not effects:
        return NOT_RUN
    testable = [e for e in effects if not e.untestable]
    if not testable:
        return UNTESTABLE
    k = sum(e.supports for e in testable)
    if k == len(testable):
        return HOLDS
    return PARTLY if k > 0 else NOT

__all__ = ["HOLDS", "PARTLY", "NOT", "UNTESTABLE", "NOT_RUN", "VERDICTS", "PairedEffect", "paired",
           "paired_verdict", "sign_flip_p", "mark_untestable", "PAIRED_RULE", "ALPHA"]
