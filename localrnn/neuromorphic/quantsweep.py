"""How learning degrades with the word length: ``localrnn quantize-sweep`` (issue 11).

:func:`quantize_sweep` trains the same network on one task with the integer online
learner (:class:`~localrnn.neuromorphic.fixed.QuantizedOnlineLearner`) at several weight
widths (traces at the base width) and several trace widths (weights at the base width),
for each rule and rounding, next to the float64 :class:`localrnn.OnlineLearner` with SGD
and the same learning rates.  Every run starts from the same initial network and sees
the same trials.

Measures, per run: ``final_loss`` (mean per-iteration training loss over the last
``tail`` iterations), ``learns`` (``final_loss <= 0.5 * untrained_loss``, the loss of the
initial network on the first ``tail`` trials with learning off), ``vs_float``
(``final_loss`` / the float64 run's) and ``near_float`` (``vs_float <= 2``).  The
per-iteration loss is the trial's MSE as :func:`localrnn.learners.trial_loss` gives it for
online runs (per-step losses weighted by their mask sums).
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from .. import io as lio
from .._validate import check_choice, check_number
from ..learners import trial_loss
from ..names import LOCAL_RULES
from ..online import OnlineLearner
from ..plotting import plot_quantize_sweep, save_figure
from ..sweep.executors import Progress, TaskContext, check_executor, open_executor
from ..tasks import get_task
from .fixed import QuantizedOnlineLearner
from .quantspec import ROUNDINGS, QuantSpec

#: Widths swept by default.
WEIGHT_BITS = (4, 6, 8, 10, 12, 16)
TRACE_BITS = (4, 6, 8, 10, 12)
#: Formats of the quantities not being swept.
BASE_SPEC = "w16,s16,t16,l16,acc32"
#: ``learns``: the final loss is at most this fraction of the untrained loss.
LEARNS_FRACTION = 0.5
#: ``near_float``: the final loss is at most this multiple of the float64 run's.
NEAR_FLOAT = 2.0


def _spec_with(base: QuantSpec, qty: str, bits: int, rounding: str) -> str:
    parts = []
    for q in ("w", "s", "t", "l", "acc"):
        if q == qty:
            parts.append(f"{q}{bits}")          # default fractional bits at this width
        elif not base.is_float(q):
            parts.append(f"{q}{base.bits(q)}.{base.frac(q)}")
    return ",".join(parts) + f",round={rounding}"


def _train(learner, task, batches, h0) -> np.ndarray:
    hist = np.empty(len(batches))
    for i, b in enumerate(batches):
        learner.reset(h0)
        with np.errstate(over="ignore", invalid="ignore"):
            losses = learner.run(b.inputs, b.targets, b.mask)
        hist[i] = trial_loss(losses, b.mask)
        if not np.isfinite(hist[i]):
            hist[i:] = np.nan
            break
    return hist


def _run_task(run, ctx: TaskContext):
    """One run of the sweep on an executor: ``run = (rule, spec)`` (``spec`` None: the
    float64 learner); ``ctx.shared`` holds what every run shares (initial network,
    trials, initial state, learning rate, trainable parameters, batch size, seed).
    Returns the per-iteration losses and the seconds the run took."""
    rule, spec = run
    sh = ctx.shared
    t0 = time.perf_counter()
    kw = dict(lr=sh["lr"], seed=sh["seed"], trainable=sh["trainable"], batch_size=sh["batch"])
    learner = (OnlineLearner(sh["net"].copy(), rule, optimizer="sgd", **kw) if spec is None
               else QuantizedOnlineLearner(sh["net"].copy(), rule, spec=spec, **kw))
    hist = _train(learner, None, sh["batches"], sh["h0"])
    return hist, time.perf_counter() - t0


def quantize_sweep(task: str = "sine", rules: Iterable[str] = LOCAL_RULES,
                   weight_bits: Iterable[int] = WEIGHT_BITS, trace_bits: Iterable[int] = TRACE_BITS,
                   roundings: Iterable[str] = ROUNDINGS, base: str = BASE_SPEC,
                   n_rec: Optional[int] = 32, iters: int = 300, batch: Optional[int] = None,
                   lr=None, gain: Optional[float] = None, seed: int = 0, tail: Optional[int] = None,
                   workers: int = 1, progress: Optional[Progress] = None) -> Dict:
    """Final training loss against the word length of weights and of traces.

    Parameters
    ----------
    task : str
        A registered task with an MSE loss (``sine`` default, ``romo``, ...).
    rules : e-prop and/or RFLO.
    weight_bits, trace_bits : widths swept (the other quantities at ``base``).  Each
        swept width uses the spec's default fractional bits (``quantspec.default_frac``:
        weights keep a range of +-4, traces +-2).
    roundings : subset of {"nearest", "stochastic"}.
    base : QuantSpec string of the formats not swept.
    n_rec, batch, lr, gain : the task's defaults when None; ``optimizer`` is SGD.
    iters : training iterations per run.
    tail : iterations averaged for the final and the untrained loss (default
        ``min(50, max(1, iters // 5))``).
    workers : int
        The runs go to the package's executors
        (:func:`localrnn.sweep.executors.open_executor`): this process (1), or this
        many spawned single-threaded processes.
    progress : callable, optional
        ``progress(done, total, text)`` (:data:`localrnn.sweep.executors.Progress`), with each
        finished run's final loss in ``text``.

    Returns
    -------
    dict with ``rows`` (one per run: rule, rounding, quantity ("w", "t" or "float64"),
    bits, spec, final_loss, learns, vs_float, near_float, seconds), ``curves``
    ({run label: per-iteration losses}) and ``config`` (every setting, and
    ``untrained_loss``).
    """
    t = get_task(task)
    if t.loss != "mse":
        raise ValueError(f"task={task!r} uses the {t.loss} loss; the integer learner needs an "
                         "MSE task (sine, romo)")
    rules = list(rules)
    if not rules:
        raise ValueError(f"rules is empty; give one or more of {', '.join(LOCAL_RULES)}")
    for r in rules:
        check_choice("rule", r, LOCAL_RULES)
    roundings = list(roundings)
    for r in roundings:
        check_choice("rounding", r, ROUNDINGS)
    wb = [check_number("weight bits", b, lo=2, hi=32, integer=True) for b in weight_bits]
    tb = [check_number("trace bits", b, lo=2, hi=32, integer=True) for b in trace_bits]
    base_spec = QuantSpec.parse(base)
    iters = check_number("iters", iters, lo=1, integer=True)
    tail = min(50, max(1, iters // 5)) if tail is None else tail
    tail = check_number("tail", tail, lo=1, hi=iters, integer=True)
    seed = check_number("seed", seed, lo=0, integer=True)
    check_executor(workers)
    d = t.defaults
    n_rec = check_number("n_rec", n_rec if n_rec is not None else d.get("n_rec", 32), lo=1,
                         integer=True)
    B = check_number("batch", batch if batch is not None else d.get("batch", 1), lo=1, integer=True)
    gain = d.get("gain", 1.0) if gain is None else gain
    lr = d.get("lr", 0.01) if lr is None else lr
    trainable = tuple(d.get("trainable", ("W_in", "W", "b", "W_out", "b_out")))
    net0 = t.make_network(gain, seed=seed, n_rec=n_rec)
    batches = [t.batch(B, np.random.default_rng([seed, 1, i])) for i in range(iters)]
    h0 = t.h0(B, n_rec)

    # the untrained network's loss on the first ``tail`` trials (learning off)
    frozen = OnlineLearner(net0.copy(), LOCAL_RULES[0], lr=0.0, optimizer="sgd", batch_size=B)
    untrained = float(np.mean(_train(frozen, t, batches[:tail], h0)))

    # every run: (rule, rounding, quantity, bits, spec), float64 first for each rule
    plan = []
    for rule in rules:
        plan.append((rule, "float64", "float64", 64, "float64"))
        for rounding in roundings:
            for qty, widths in (("w", wb), ("t", tb)):
                plan += [(rule, rounding, qty, bits, _spec_with(base_spec, qty, bits, rounding))
                         for bits in widths]
    labels = [f"{p[0]} float64" if p[2] == "float64" else f"{p[0]} {p[1]} {p[2]}{p[3]}" for p in plan]
    shared = dict(net=net0, batches=batches, h0=h0, lr=lr, trainable=trainable, batch=B, seed=seed)
    done: List = [None] * len(plan)
    if progress is not None:
        progress(0, len(plan), "")
    with open_executor(workers=min(workers, len(plan)), shared=shared) as ex:
        tasks = [(p[0], None if p[2] == "float64" else p[4]) for p in plan]
        for k, (i, res, error) in enumerate(ex.imap(_run_task, tasks), 1):
            if error is not None:
                raise error
            done[i] = res
            if progress is not None:
                hist, sec = res
                progress(k, len(plan), f"{labels[i]}: final loss {np.mean(hist[-tail:]):.4g} ({sec:.1f} s)")

    float_final = {p[0]: float(np.mean(hist[-tail:])) for p, (hist, _) in zip(plan, done)
                   if p[2] == "float64"}
    rows: List[Dict] = []
    for (rule, rounding, qty, bits, spec), (hist, sec) in zip(plan, done):
        final = float(np.mean(hist[-tail:]))
        vs = final / float_final[rule]
        ok = bool(np.isfinite(final))
        rows.append(dict(rule=rule, rounding=rounding, quantity=qty, bits=bits, spec=spec,
                         final_loss=final, learns=ok and final <= LEARNS_FRACTION * untrained,
                         vs_float=vs, near_float=ok and vs <= NEAR_FLOAT, seconds=sec))
    config = dict(task=task, rules=rules, weight_bits=wb, trace_bits=tb, roundings=roundings,
                  base=base_spec.to_string(), n_rec=n_rec, batch=B, iters=iters, tail=tail,
                  lr=lr, gain=gain, seed=seed, trainable=list(trainable), form=net0.form,
                  activation=net0.activation, alpha=net0.alpha, learns_fraction=LEARNS_FRACTION,
                  near_float=NEAR_FLOAT, untrained_loss=untrained)
    return {"rows": rows, "curves": {lab: hist for lab, (hist, _) in zip(labels, done)},
            "config": config}


def smallest_learning_widths(result: Dict) -> List[Dict]:
    """Per rule, rounding and swept quantity: ``smallest_bits``, the smallest width at
    which the run learns and every wider run learns too (None if none), and
    ``smallest_bits_near_float`` likewise for ``near_float``."""
    out = []
    rows = result["rows"]
    keys = sorted({(r["rule"], r["rounding"], r["quantity"]) for r in rows
                   if r["quantity"] != "float64"})
    for rule, rnd, qty in keys:
        rs = sorted((r for r in rows if (r["rule"], r["rounding"], r["quantity"]) == (rule, rnd, qty)),
                    key=lambda r: r["bits"])
        best = {}
        for key in ("learns", "near_float"):
            best[key] = None
            for r in reversed(rs):
                if not r.get(key, False):
                    break
                best[key] = r["bits"]
        out.append(dict(rule=rule, rounding=rnd, quantity=qty, smallest_bits=best["learns"],
                        smallest_bits_near_float=best["near_float"]))
    return out


COLUMNS = ("rule", "rounding", "quantity", "bits", "spec", "final_loss", "learns", "vs_float",
           "near_float", "seconds")


def table_csv(result: Dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in result["rows"]:
        w.writerow([f"{r[c]:.6g}" if isinstance(r[c], float) else r[c] for c in COLUMNS])
    return buf.getvalue()


def table_markdown(result: Dict) -> str:
    """The table (final loss per width, one column per rule and rounding) and the
    smallest widths that learn."""
    c = result["config"]
    rows = result["rows"]
    lines = [f"Task `{c['task']}`, N={c['n_rec']}, {c['iters']} iterations of batch {c['batch']}, "
             f"SGD lr={c['lr']}, base formats `{c['base']}`; final loss = mean training loss of "
             f"the last {c['tail']} iterations; untrained loss {c['untrained_loss']:.3g}; "
             f"(no) = does not learn (final > {c['learns_fraction']} x untrained), "
             f"(far) = learns but final > {c['near_float']:g} x float64's.", ""]
    cols = sorted({(r["rule"], r["rounding"]) for r in rows if r["quantity"] != "float64"})
    for qty, name in (("w", "weight"), ("t", "trace")):
        bits = sorted({r["bits"] for r in rows if r["quantity"] == qty})
        if not bits:
            continue
        lines.append(f"| {name} bits | " + " | ".join(f"{a} {b}" for a, b in cols) + " |")
        lines.append("|---:|" + "---:|" * len(cols))
        for bt in bits:
            cells = []
            for a, b in cols:
                r = [x for x in rows if (x["rule"], x["rounding"], x["quantity"], x["bits"]) == (a, b, qty, bt)]
                tag = "" if not r else ("" if r[0]["near_float"] else
                                        (" (far)" if r[0]["learns"] else " (no)"))
                cells.append("" if not r else f"{r[0]['final_loss']:.3g}{tag}")
            lines.append(f"| {bt} | " + " | ".join(cells) + " |")
        lines.append("")
    fl = [r for r in rows if r["quantity"] == "float64"]
    if fl:
        lines.append("float64: " + ", ".join(f"{r['rule']} final loss {r['final_loss']:.3g}"
                                             for r in fl))
        lines.append("")
    lines.append("| rule | rounding | swept | smallest width that learns | within "
                 f"{c['near_float']:g}x of float64 |")
    lines.append("|---|---|---|---:|---:|")
    for s in smallest_learning_widths(result):
        a, b = s["smallest_bits"], s["smallest_bits_near_float"]
        lines.append(f"| {s['rule']} | {s['rounding']} | {s['quantity']} | "
                     f"{a if a is not None else 'none'} | {b if b is not None else 'none'} |")
    return "\n".join(lines) + "\n"


def write_sweep(result: Dict, out_dir) -> Dict[str, str]:
    """Write quantize_sweep.csv, .md, .json (config, rows) and .png
    (:func:`localrnn.plotting.plot_quantize_sweep`) atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "quantize_sweep.csv", "md": out / "quantize_sweep.md",
             "json": out / "quantize_sweep.json", "png": out / "quantize_sweep.png"}
    lio.atomic_write_text(paths["csv"], table_csv(result))
    lio.atomic_write_text(paths["md"], table_markdown(result))
    lio.atomic_write_json(paths["json"], {"config": result["config"], "rows": result["rows"],
                                          "smallest": smallest_learning_widths(result)})
    save_figure(plot_quantize_sweep(result), paths["png"])
    return {k: str(v) for k, v in paths.items()}


__all__ = ["quantize_sweep", "smallest_learning_widths", "table_csv", "table_markdown",
           "write_sweep", "WEIGHT_BITS", "TRACE_BITS", "BASE_SPEC"]
