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
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Sequence

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


__all__ = ["Effect", "welch", "verdict", "mean_sd", "summarise_curves", "VERDICT_RULE", "HOLDS",
           "PARTLY", "NOT", "VERDICTS"]
