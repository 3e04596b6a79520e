"""Median of several ``localrnn bench --json`` runs, as the markdown table of docs/performance.md.

    for i in 1 2 3; do localrnn bench --json > run$i.json; done
    python bench/median_table.py run1.json run2.json run3.json

Per row (matched by name and position), the median of each time over the runs;
the ratios are those of the median times (ours/floor, ours/arith for the rows with an
arithmetic floor, peer/ours and peer/floor, the bound of peer/ours on this machine).
``--ratios`` prints instead each row's ratios run by run.
"""
from __future__ import annotations

import json
import sys
from statistics import median


def fmt(s):
    if s is None:
        return "n/a"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def median_rows(runs):
    n = len(runs[0])
    if any(len(r) != n for r in runs):
        raise ValueError("the runs have different numbers of rows")
    out = []
    for i in range(n):
        rows = [r[i] for r in runs]
        if len({r["name"] for r in rows}) != 1:
            raise ValueError(f"row {i} differs between runs: {[r['name'] for r in rows]}")
        med = {k: (None if rows[0].get(k) is None else median(r[k] for r in rows))
               for k in ("ours_s", "floor_s", "peer_s", "arith_s")}
        out.append({**rows[0], **med,
                    "ours_over_floor": None if med["floor_s"] is None else med["ours_s"] / med["floor_s"],
                    "ours_over_arith": None if med["arith_s"] is None else med["ours_s"] / med["arith_s"],
                    "peer_over_ours": None if med["peer_s"] is None else med["peer_s"] / med["ours_s"],
                    "peer_over_floor": None if med["peer_s"] is None or med["floor_s"] is None
                    else med["peer_s"] / med["floor_s"]})
    return out


def table(rows) -> str:
    r2 = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| case | per | ours | floor | ours/floor | arith floor | ours/arith | peer | peer/ours "
             "| peer/floor (bound) | target | floor (work) | peer |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['per']} | {fmt(r['ours_s'])} | {fmt(r['floor_s'])} | "
                     f"{r2(r['ours_over_floor'])} | {fmt(r.get('arith_s'))} | {r2(r.get('ours_over_arith'))} | "
                     f"{fmt(r['peer_s'])} | {r2(r['peer_over_ours'])} | "
                     f"{r2(r.get('peer_over_floor'))} | "
                     f"{r['target']} | {r['floor']} | {r['peer']} |")
    return "\n".join(lines)


def ratios(runs) -> str:
    """Each row's ours/floor (and ours/arith) per run, as a markdown table."""
    f = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| case | ours/floor per run | ours/arith per run |", "|---|---|---|"]
    for i in range(len(runs[0])):
        rows = [r[i] for r in runs]
        lines.append(f"| {rows[0]['name']} | {', '.join(f(r['ours_over_floor']) for r in rows)} | "
                     f"{', '.join(f(r.get('ours_over_arith')) for r in rows)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = sys.argv[1:]
    per_run = "--ratios" in args
    runs = [json.load(open(p)) for p in args if p != "--ratios"]
    print(ratios(runs) if per_run else table(median_rows(runs)))
