"""The learning-rate search: a geometric grid extended at its edge until the best rate is interior.

A fixed grid cannot say whether the best learning rate was found: when the best score
lies at an end of the grid, a rate beyond it might be better still.  So each group's
grid starts as ``base * factor**k`` for ``k`` in ``start`` and, after every round of
runs, :func:`next_rates` looks at the scores:

* the best rate has a tried neighbour on both sides -> **interior**, done;
* it lies at an end -> the grid is extended on that side by ``step`` more rates
  (``factor`` apart), unless that would pass the bound of ``max_extra`` rates beyond the
  starting grid on that side -> **bound** (stated in the report: the optimum may lie
  further out, and a contrast involving the group is marked untestable).

Scores are "lower is better" (a learning-curve area averaged over the tuning seeds);
a rate whose runs diverged scores +inf.  Ties go to the smaller rate (the more cautious
choice, and a deterministic one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Tuple

INTERIOR, EXTEND, BOUND = "interior", "extend", "bound"


@dataclass(frozen=True)
class RateGrid:
    """A geometric learning-rate grid and how far it may grow.

    ``base * factor**k`` for the integers ``k`` in ``start`` (consecutive), extended by
    ``step`` rates per round on the side of the best one, at most ``max_extra`` rates
    beyond ``start`` on each side."""

    base: float
    factor: float = 2.0
    start: Tuple[int, ...] = (-2, -1, 0, 1, 2)
    step: int = 2
    max_extra: int = 4

    def __post_init__(self):
        if not (self.base > 0 and math.isfinite(self.base)):
            raise ValueError(f"base={self.base!r} must be a positive learning rate")
        if not self.factor > 1:
            raise ValueError(f"factor={self.factor!r} must be > 1")
        ks = list(self.start)
        if len(ks) < 2 or ks != list(range(ks[0], ks[0] + len(ks))):
            raise ValueError(f"start={self.start!r} must be at least two consecutive integers")
        if self.step < 1 or self.max_extra < 0:
            raise ValueError(f"step={self.step!r} must be >= 1 and max_extra={self.max_extra!r} >= 0")

    def rate(self, k: int) -> float:
        return float(self.base * self.factor ** k)

    def k_of(self, lr: float) -> int:
        k = round(math.log(lr / self.base) / math.log(self.factor))
        if not math.isclose(self.rate(k), lr, rel_tol=1e-9):
            raise ValueError(f"lr={lr!r} is not on the grid {self.base:g} * {self.factor:g}^k")
        return int(k)

    @property
    def lo_bound(self) -> int:
        return self.start[0] - self.max_extra

    @property
    def hi_bound(self) -> int:
        return self.start[-1] + self.max_extra

    def initial(self) -> List[float]:
        return [self.rate(k) for k in self.start]


@dataclass
class SearchState:
    """Where one group's search stands after a round."""

    status: str                      # INTERIOR, EXTEND or BOUND
    best: float                      # the best rate so far
    new: List[float] = field(default_factory=list)   # rates to run next (EXTEND)
    side: str = ""                   # "low" or "high" for EXTEND / BOUND

    def describe(self) -> str:
        if self.status == INTERIOR:
            return "interior"
        if self.status == BOUND:
            return f"at the search bound ({self.side} side)"
        return f"extending ({self.side} side)"


def best_rate(scores: Mapping[float, float]) -> float:
    """The rate with the lowest score (NaN counts as +inf; ties: the smaller rate)."""
    if not scores:
        raise ValueError("no scores: run the grid first")
    key = lambda lr: (scores[lr] if math.isfinite(scores[lr]) else math.inf, lr)  # noqa: E731
    return min(scores, key=key)


def next_rates(grid: RateGrid, scores: Mapping[float, float]) -> SearchState:
    """The next step of the search from the scores of every rate tried so far."""
    ks = {grid.k_of(lr): lr for lr in scores}
    k = grid.k_of(best_rate(scores))
    lo, hi = min(ks), max(ks)
    if lo < k < hi:
        return SearchState(INTERIOR, grid.rate(k))
    if all(not math.isfinite(scores[lr]) for lr in scores):
        # every rate diverged: go lower
        side, edge = "low", lo
    else:
        side, edge = ("low", lo) if k == lo else ("high", hi)
    if side == "low":
        new_k = [j for j in range(edge - grid.step, edge) if j >= grid.lo_bound]
    else:
        new_k = [j for j in range(edge + 1, edge + grid.step + 1) if j <= grid.hi_bound]
    if not new_k:
        return SearchState(BOUND, grid.rate(k), side=side)
    return SearchState(EXTEND, grid.rate(k), [grid.rate(j) for j in new_k], side=side)


def search_summary(grid: RateGrid, scores: Mapping[float, float]) -> Dict:
    """The search's outcome for the report: rates tried (ascending) with their scores,
    the best rate and its status."""
    st = next_rates(grid, scores)
    return {"tried": sorted(scores), "scores": [scores[lr] for lr in sorted(scores)],
            "best": st.best, "status": st.status if st.status != EXTEND else "unfinished",
            "side": st.side}


__all__ = ["RateGrid", "SearchState", "next_rates", "best_rate", "search_summary", "INTERIOR",
           "EXTEND", "BOUND"]
