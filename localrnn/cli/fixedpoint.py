"""``localrnn fixedpoint linear|mnist``: fixed-point learning (Zhu & Rosenbaum 2023).

Thin wrappers over :mod:`localrnn.fixedpoint.experiment`: parse the options,
call :func:`~localrnn.fixedpoint.experiment.linear_grid` or
:func:`~localrnn.fixedpoint.experiment.mnist_grid` (which check every value), write the
result's folder and print its summary.  One run (``--rule``, ``--lr``) or a
grid (``--rules dW1,dW3 --lrs ...``) per call; every call writes a results
folder: ``config.json`` (all settings, enough to rerun), ``metrics.csv`` (one
row per run and iteration), ``summary.csv`` (one row per run), ``weights.npz``
and ``fixedpoint.png``.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from ..fixedpoint import LINEAR_RULES, RULES as MNIST_RULES, SOLVERS
from ..names import DTYPES, OPTIMIZERS
from ._common import emit_summary, parse_float_list, progress


# --------------------------------------------------------------------------- parsing
def parse_lrs(text: str):
    """``"0.1,0.3"`` (every rule) -> [0.1, 0.3]; ``"dW1:0.01,0.02;dW3:0.1"`` (per rule)
    -> {rule: [lr, ...]}; ``"paper"`` as is.  Only the syntax is checked here; the
    values by :func:`localrnn.fixedpoint.experiment.grid_runs`."""
    text = str(text).strip()
    if text == "paper":
        return text
    if ":" not in text:
        return parse_float_list("--lrs", text)
    out = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        if ":" not in part:
            raise ValueError(f"--lrs: {part!r} should read RULE:LR,LR,...")
        r, vals = part.split(":", 1)
        out[r.strip()] = parse_float_list(f"--lrs {r.strip()}", vals)
    return out


def _runs(rule, rules, lr, lrs, kind):
    """[(rule, lr), ...] from --rule/--lr or --rules/--lrs."""
    from ..fixedpoint.experiment import grid_runs

    names = [r.strip() for r in str(rules).split(",") if r.strip()] if rules else [rule]
    return grid_runs(names, parse_lrs(lrs) if lrs else [lr], kind)


def _check_out(out):
    """Refuse an --out that cannot be created, before any computation
    (:func:`localrnn.runs.check_writable_dir`, as ``localrnn run`` does)."""
    if out is not None:
        from ..runs import check_writable_dir

        check_writable_dir(out, "--out")


class _Progress:
    """``callback(run_index, iteration, loss)`` for the grids, drawing a progress bar
    that opens at the first report (after the API has checked every value, so a
    refused call prints its one error line and nothing else)."""

    def __init__(self, stack, label, total, enabled):
        self.stack, self.label, self.total, self.enabled = stack, label, total, enabled
        self.bar, self.done = None, {}

    def __call__(self, i, k, loss):
        if self.bar is None:
            self.bar = self.stack.enter_context(progress(self.total(), self.label, enabled=self.enabled))
        self.bar.update(k - self.done.get(i, 0), loss)
        self.done[i] = k


_FLAG_NAMES = {"as_json": "--json", "data_path": "--data"}


def _rerun_cmd(sub) -> str:
    """The command line that reruns this call (from the parsed parameters)."""
    import shlex

    parts = ["localrnn", "fixedpoint", sub]
    for k, v in click.get_current_context().params.items():
        opt = _FLAG_NAMES.get(k, "--" + k.replace("_", "-"))
        if v is None or v is False or k in ("out", "as_json"):
            continue
        parts += [opt] if v is True else [opt, str(v)]
    return " ".join(shlex.quote(p) for p in parts)


# --------------------------------------------------------------------------- group
@click.group("fixedpoint")
def fixedpoint():
    """Fixed-point learning with reparameterised rules (Zhu & Rosenbaum 2023).

    The response to a static input is the fixed point r* = tanh(W r* + W_x x);
    dW1 is the Euclidean gradient, dW3/dW4 (MNIST) and dW2/dW3 (linear) the
    reparameterised rules.  See docs/fixedpoint.md.
    """


_common = [
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--out", type=click.Path(file_okay=False), default=None,
                 help="Results folder [new folder under runs/]."),
    click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
]


def common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


@fixedpoint.command("linear")
@click.option("--rule", type=click.Choice(list(LINEAR_RULES)), default="dW3", show_default=True)
@click.option("--rules", default=None, help="Comma-separated rules for a grid (e.g. dW1,dW2,dW3).")
@click.option("--lr", type=float, default=0.3, show_default=True, help="Learning rate.")
@click.option("--lrs", default=None,
              help="Grid: 'a,b,c' for every rule, 'dW1:a,b;dW3:c' per rule, or 'paper' (0.03..3).")
@click.option("--n", "n", type=int, default=200, show_default=True, help="Network size n.")
@click.option("--m", "m", type=int, default=100, show_default=True, help="Number of inputs m.")
@click.option("--iters", type=int, default=3500, show_default=True)
@click.option("--eig-every", type=int, default=50, show_default=True,
              help="Record max Re eig(W) every K iterations.")
@common
def linear(rule, rules, lr, lrs, n, m, iters, eig_every, seed, out, as_json):
    """The linear example: r = (I - W)^{-1} x, loss (1/m)||A X - Rhat||^2 (no data needed)."""
    from ..fixedpoint.experiment import linear_grid

    runs = _runs(rule, rules, lr, lrs, "linear")
    _check_out(out)
    with ExitStack() as stack:
        cb = _Progress(stack, f"linear {len(runs)} run(s)", lambda: len(runs) * iters, not as_json)
        res = linear_grid(runs, n=n, m=m, iters=iters, eig_every=eig_every, seed=seed, callback=cb)
    out_dir = res.write(out, header=dict(command="fixedpoint linear", rerun=_rerun_cmd("linear"),
                                         args=dict(click.get_current_context().params)))
    summary = res.summary()
    summary.update(seconds=round(res.seconds, 2), out=str(out_dir))
    if as_json:
        summary["table"] = res.table()
    emit_summary(summary, as_json)


@fixedpoint.command("mnist")
@click.option("--data", "data_path", required=True, type=click.Path(),
              help="MNIST: an .npz (x_train, y_train, x_test, y_test) or a folder of the 4 IDX files.")
@click.option("--rule", type=click.Choice(list(MNIST_RULES)), default="dW3", show_default=True)
@click.option("--rules", default=None, help="Comma-separated rules for a grid (e.g. dW1,dW3,dW4).")
@click.option("--lr", type=float, default=0.25, show_default=True, help="Learning rate (SGD).")
@click.option("--lrs", default=None,
              help="Grid: 'a,b,c' for every rule, 'dW1:a,b;dW3:c' per rule, or 'paper' (the original's grids).")
@click.option("--n-rec", type=int, default=300, show_default=True, help="Recurrent units N.")
@click.option("--batch", type=int, default=512, show_default=True)
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("--solver", type=click.Choice(list(SOLVERS)), default="converge", show_default=True,
              help="converge: iterate to --tol; relax: the original's --n-steps Euler steps of --eta-d.")
@click.option("--tol", type=float, default=None, help="Fixed-point tolerance [1e-5 float32, 1e-8 float64].")
@click.option("--max-iter", type=int, default=200, show_default=True, help="Iterations of the converged solve.")
@click.option("--memory", type=int, default=5, show_default=True, help="Anderson memory (0 = plain iteration).")
@click.option("--eta-d", type=float, default=0.01, show_default=True, help="Euler step of --solver relax.")
@click.option("--n-steps", type=int, default=500, show_default=True, help="Euler steps of --solver relax.")
@click.option("--dtype", type=click.Choice(list(DTYPES)), default="float32", show_default=True)
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="sgd", show_default=True)
@click.option("--gain", type=float, default=0.5, show_default=True, help="Initial W = gain Z / sqrt(N).")
@click.option("--eig-every", type=int, default=10, show_default=True,
              help="Record max Re eig(W) every K iterations.")
@click.option("--n-train", type=int, default=None, help="Use the first K training images [all].")
@click.option("--n-test", type=int, default=None, help="Use the first K test images [all].")
@click.option("--no-train-eval", is_flag=True, help="Skip evaluating the final W on the whole training set.")
@click.option("--jobs", type=int, default=None,
              help="Worker processes for a grid [number of CPUs, at most the number of runs].")
@common
def mnist(data_path, rule, rules, lr, lrs, n_rec, batch, epochs, solver, tol, max_iter, memory, eta_d,
          n_steps, dtype, optimizer, gain, eig_every, n_train, n_test, no_train_eval, jobs, seed, out,
          as_json):
    """Train W on MNIST; report train and held-out test accuracy, max Re eig(W)."""
    from ..data import load_mnist
    from ..fixedpoint import mnist_problem
    from ..fixedpoint.experiment import mnist_grid

    runs = _runs(rule, rules, lr, lrs, "mnist")
    _check_out(out)
    data = load_mnist(data_path, dtype=dtype)
    problem = mnist_problem(data, n_rec=n_rec, gain=gain, seed=seed, dtype=dtype,
                            n_train=n_train, n_test=n_test)
    del data
    with ExitStack() as stack:
        cb = _Progress(stack, f"mnist {len(runs)} run(s)",
                       lambda: len(runs) * (problem.U_train.shape[0] // batch) * epochs, not as_json)
        res = mnist_grid(problem, runs, jobs=jobs, callback=cb, batch=batch, epochs=epochs,
                         solver=solver, tol=tol, max_iter=max_iter, memory=memory, eta_d=eta_d,
                         n_steps=n_steps, optimizer=optimizer, eig_every=eig_every,
                         evaluate_train=not no_train_eval)
    out_dir = res.write(out, header=dict(command="fixedpoint mnist", rerun=_rerun_cmd("mnist"),
                                         args=dict(click.get_current_context().params),
                                         data=str(Path(data_path).resolve())))
    summary = res.summary()
    summary.update(seconds=round(res.seconds, 1), out=str(out_dir))
    if as_json:
        summary["table"] = res.table()
    emit_summary(summary, as_json)


__all__ = ["fixedpoint"]
