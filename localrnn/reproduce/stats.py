"""Statistics across seeds for the reproduction reports: effect sizes and verdicts.

A claim of a paper is turned into one or more *contrasts*: two groups of numbers,
one per seed (e.g. the final eval loss of e-prop at gain 0.5 and at gain 1.5),
and the direction the paper states (e.g. "the loss at 0.5 is larger").  Each
contrast is summarised by :func:`welch`: the difference of the means with a
Welch t-based 95% confidence interval and the two-sided Welch p-value.  A
contrast *supports* the claim when

1. the confidence interval excludes 0 on the side the paper states, and
2. the difference is large enough to matter: ``|diff| >= min_abs`` and
   ``|diff| >= min_rel * max(|mean_a|, |mean_b|)``.

:func:`verdict` turns the contrasts of one claim into a plain word: ``"holds"``
when every contrast supports it, ``"holds partly"`` when some do, ``"does not hold
here"`` when none does.  The rule is fixed before the numbers are seen and is
written into every report (:data:`VERDICT_RULE`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Mapping, Sequence

import numpy as np

HOLDS, PARTLY, NOT = "holds", "holds partly", "does not hold here"
VERDICTS = (HOLDS, PARTLY, NOT)

VERDICT_RULE = (
    "Each claim is tested by one or more contrasts between two groups of seeds. A contrast "
    "*supports* the claim when the 95% Welch t confidence interval of the difference of the "
    "means excludes 0 on the side the paper states, and the difference is at least the stated "
    "minimum size (relative to the larger of the two means, and/or absolute). Verdict: "
    "**holds** when every contrast of the claim supports it; **holds partly** when at least "
    "one does but not all; **does not hold here** when none does. Seeds whose run diverged "
    "(non-finite value) are left out of a group and counted in n.")


@dataclass
class Effect:
    """One contrast ``a - b`` across seeds (see the module docstring).

    Attributes
    ----------
    label : str
        What is compared, for the report.
    mean_a, sd_a, n_a, mean_b, sd_b, n_b : float, float, int
        Sample mean, sample standard deviation (ddof = 1; 0 for one value) and count.
    diff : float
        ``mean_a - mean_b``.
    ci_low, ci_high : float
        Welch t confidence interval of ``diff`` at ``level``.
    p : float
        Two-sided Welch t-test p-value (NaN with fewer than two values in a group).
    expected : int
        +1 if the paper says ``a > b``, -1 if ``a < b``.
    min_rel, min_abs : float
        Minimum size of the difference for it to count.
    significant : bool
        The interval excludes 0 on the expected side.
    large : bool
        The difference reaches both minimum sizes.
    supports : bool
        ``significant and large``.
    """

    label: str
    mean_a: float
    sd_a: float
    n_a: int
    mean_b: float
    sd_b: float
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    p: float
    expected: int
    min_rel: float
    min_abs: float
    level: float
    significant: bool
    large: bool
    supports: bool

    def as_dict(self) -> Dict:
        return asdict(self)

    def sentence(self, fmt: str = ".3g") -> str:
        """``label: a 0.1 ± 0.01 (n=5) vs b ..., diff 0.05 [95% CI 0.03, 0.07], p=0.001 → supports``"""
        f = lambda v: format(v, fmt) if np.isfinite(v) else "nan"  # noqa: E731
        word = "supports" if self.supports else ("significant but small" if self.significant
                                                 else "does not support")
        return (f"{self.label}: {f(self.mean_a)} ± {f(self.sd_a)} (n={self.n_a}) vs "
                f"{f(self.mean_b)} ± {f(self.sd_b)} (n={self.n_b}); difference {f(self.diff)} "
                f"[{int(round(self.level * 100))}% CI {f(self.ci_low)}, {f(self.ci_high)}], "
                f"Welch p = {f(self.p)} → {word}")


def _clean(x) -> np.ndarray:
    a = np.asarray(list(x) if not isinstance(x, np.ndarray) else x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def mean_sd(x) -> tuple:
    """(mean, sd with ddof=1 (0 for one value), n) of the finite values of ``x``."""
    a = _clean(x)
    if a.size == 0:
        return float("nan"), float("nan"), 0
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0, int(a.size)


def welch(a: Sequence[float], b: Sequence[float], label: str = "", expected: int = 1,
          min_rel: float = 0.0, min_abs: float = 0.0, level: float = 0.95) -> Effect:
    """Difference of means ``a - b`` with a Welch t confidence interval and test.

    The standard error is ``sqrt(s_a^2/n_a + s_b^2/n_b)`` and the degrees of
    freedom are Welch-Satterthwaite's.  With zero spread in both groups the
    interval collapses to the difference itself (and ``p`` is 0 when it is not 0,
    1 when it is).  With fewer than two finite values in a group nothing can be
    concluded: the interval and ``p`` are NaN and the contrast does not support.

    Parameters
    ----------
    a, b : sequences of float
        One value per seed; non-finite values are dropped.
    label : str
    expected : {+1, -1}
        The direction the claim states: +1 for ``mean(a) > mean(b)``.
    min_rel, min_abs : float
        Minimum size: ``|diff| >= min_rel * max(|mean_a|, |mean_b|)`` and
        ``|diff| >= min_abs``.
    level : float
        Confidence level, in (0, 1).

    Returns
    -------
    Effect

    Examples
    --------
    >>> e = welch([1.0, 1.1, 0.9], [0.5, 0.45, 0.55], "gain 0.5 vs 1.5", expected=1)
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
    xa, xb = _clean(a), _clean(b)
    ma, sa, na = mean_sd(xa)
    mb, sb, nb = mean_sd(xb)
    diff = ma - mb
    lo = hi = p = float("nan")
    if na >= 2 and nb >= 2:
        va, vb = sa ** 2 / na, sb ** 2 / nb
        se = math.sqrt(va + vb)
        if se == 0.0:
            lo = hi = diff
            p = 0.0 if diff != 0 else 1.0
        else:
            df = (va + vb) ** 2 / ((va ** 2 / (na - 1) if va > 0 else 0.0)
                                   + (vb ** 2 / (nb - 1) if vb > 0 else 0.0))
            q = float(st.t.ppf(0.5 + level / 2, df))
            lo, hi = diff - q * se, diff + q * se
            p = float(2 * st.t.sf(abs(diff) / se, df))
    significant = bool(np.isfinite(lo) and (lo > 0 if expected > 0 else hi < 0))
    scale = max(abs(ma), abs(mb)) if np.isfinite(ma) and np.isfinite(mb) else float("nan")
    large = bool(np.isfinite(diff) and abs(diff) >= min_abs and abs(diff) >= min_rel * scale)
    return Effect(label=label, mean_a=ma, sd_a=sa, n_a=na, mean_b=mb, sd_b=sb, n_b=nb, diff=diff,
                  ci_low=lo, ci_high=hi, p=p, expected=int(expected), min_rel=float(min_rel),
                  min_abs=float(min_abs), level=float(level), significant=significant, large=large,
                  supports=bool(significant and large))


def verdict(effects: Iterable[Effect]) -> str:
    """``"holds"`` if every contrast supports the claim, ``"holds partly"`` if some
    do, ``"does not hold here"`` if none does (or there are none)."""
    effects = list(effects)
    k = sum(e.supports for e in effects)
    if effects and k == len(effects):
        return HOLDS
    if k > 0:
        return PARTLY
    return NOT


def summarise_curves(curves: List[np.ndarray]) -> tuple:
    """Mean and sd (ddof=1; 0 for one curve) across seeds of equal-length curves,
    ignoring non-finite entries point by point."""
    if not curves:
        return np.array([]), np.array([])
    n = min(len(c) for c in curves)
    A = np.array([np.asarray(c, dtype=np.float64)[:n] for c in curves])
    A = np.where(np.isfinite(A), A, np.nan)
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        m = np.nanmean(A, axis=0)
        s = np.nanstd(A, axis=0, ddof=1) if A.shape[0] > 1 else np.zeros(n)
    return m, np.where(np.isfinite(s), s, 0.0)



# --------------------------------------------------------------------------- paired contrasts
#: The verdict rule of the paired design, written into every report before the numbers.
PAIRED_RULE = (
    "Every group of a contrast is trained on the same seeds, and a seed fixes the random matrix "
    "Z of W = g Z / sqrt(N), W_in, W_out and every batch, so the two groups of a contrast are "
    "paired by seed. A contrast is the mean over seeds of the paired difference a - b of one "
    "metric. Its 95% interval is a bias-corrected and accelerated (BCa) bootstrap interval of "
    "that mean (10,000 resamples of the seeds, seeded); its p-value is the exact two-sided "
    "sign-flip permutation test (all 2^n sign patterns). A contrast *supports* the claim when "
    "the interval excludes 0 on the side the paper states and the mean difference is at least "
    "the stated minimum size (relative to the larger of the two group means, and/or absolute). "
    "A contrast is *untestable here* when its groups sit at a floor or a ceiling of the measure "
    "(defined with the claim) or a learning rate could not be tuned to an interior optimum: "
    "then the numbers are shown but do not count. Verdict of a claim over its testable "
    "contrasts: **holds** when every one supports it, **holds partly** when at least one does "
    "but not all, **does not hold here** when none does; **untestable here** when none of its "
    "contrasts is testable. Seeds whose run diverged (a non-finite value) leave their pair out "
    "and are counted.")

UNTESTABLE = "untestable here"


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
    significant, large, supports : bool
        The interval excludes 0 on the expected side; the difference reaches both minimum
        sizes; both.
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
        return "supports" if self.supports else ("significant but small" if self.significant
                                                 else "does not support")

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


def paired(a, b, label: str = "", expected: int = 1, min_rel: float = 0.0, min_abs: float = 0.0,
           level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> PairedEffect:
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
    significant = bool(math.isfinite(lo) and (lo > 0 if expected > 0 else hi < 0))
    scale = max(abs(ma), abs(mb)) if n else nan
    large = bool(math.isfinite(diff) and abs(diff) >= min_abs and abs(diff) >= min_rel * scale)
    return PairedEffect(label=label, seeds=seeds, dropped=dropped, mean_a=ma, mean_b=mb, diff=diff,
                        sd_diff=sd, ci_low=lo, ci_high=hi, p=p, t_low=tlo, t_high=thi, dz=dz,
                        expected=int(expected), min_rel=float(min_rel), min_abs=float(min_abs),
                        level=float(level), significant=significant, large=large,
                        supports=bool(significant and large))


def mark_untestable(e: PairedEffect, reason: str) -> PairedEffect:
    """``e`` marked untestable for ``reason`` (it no longer supports or counts)."""
    e.untestable = str(reason)
    e.supports = False
    return e


def paired_verdict(effects: Iterable[PairedEffect]) -> str:
    """The verdict over the testable contrasts (:data:`PAIRED_RULE`)."""
    effects = list(effects)
    testable = [e for e in effects if not e.untestable]
    if not testable:
        return UNTESTABLE
    k = sum(e.supports for e in testable)
    if k == len(testable):
        return HOLDS
    return PARTLY if k > 0 else NOT

__all__ = ["Effect", "welch", "verdict", "mean_sd", "summarise_curves", "VERDICT_RULE", "HOLDS",
           "PARTLY", "NOT", "VERDICTS", "PairedEffect", "paired", "paired_verdict", "sign_flip_p",
           "mark_untestable", "PAIRED_RULE", "UNTESTABLE"]
