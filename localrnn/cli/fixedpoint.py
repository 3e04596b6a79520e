"""``localrnn fixedpoint linear|mnist``: fixed-point learning (Zhu & Rosenbaum 2023).

Thin wrappers over :func:`localrnn.fixedpoint.experiment.linear_experiment` and
:func:`~localrnn.fixedpoint.experiment.mnist_experiment`, which check every value,
train the grid and write its results folder: ``config.json`` (every setting, enough
to rerun it), ``metrics.csv`` (one row per run and iteration), ``summary.csv`` (one
row per run), ``weights.npz`` and ``fixedpoint.png``.  One run (``--rule``,
``--lr``) or a grid (``--rules dW1,dW3 --lrs ...``) per call.
"""
from __future__ import annotations

import click

from ..fixedpoint import LINEAR_RULES, RULES as MNIST_RULES, SOLVERS
from ..names import DTYPES, OPTIMIZERS
from ._common import TaskBar, emit_summary, parse_list


def _grid(rule, rules, lr, lrs):
    """(rules, lrs) for :func:`~localrnn.fixedpoint.grid_runs` from the options: ``--lrs``
    once is every rule's list (or ``paper``), once per rule is each rule's, in order."""
    names = parse_list("--rules", rules) if rules else [rule]
    if not lrs:
        return names, [lr]
    if len(lrs) == 1 and lrs[0].strip() == "paper":
        return names, "paper"
    lists = [parse_list("--lrs", t, float) for t in lrs]
    if len(lists) == 1:
        return names, lists[0]
    if len(lists) != len(names):
        raise ValueError(f"--lrs is given {len(lists)} times for {len(names)} rule(s) "
                         f"({', '.join(names)}); give it once (every rule) or once per rule, in "
                         "the order of --rules")
    return names, dict(zip(names, lists))


# --------------------------------------------------------------------------- group
@click.group("fixedpoint")
def fixedpoint():
    """Fixed-point learning with reparameterised rules (Zhu & Rosenbaum 2023).

    The response to a static input is the fixed point r* = tanh(W r* + W_x x);
    dW1 is the Euclidean gradient, dW3/dW4 (MNIST) and dW2/dW3 (linear) the
    reparameterised rules.  See docs/fixedpoint.md.
    """


_LRS_HELP = ("Grid: 'a,b,c' for every rule, once per rule in the order of --rules (e.g. "
             "--lrs 0.1,0.3 --lrs 1), or 'paper' ({}).")
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
@click.option("--lrs", multiple=True, help=_LRS_HELP.format("0.03..3"))
@click.option("--n", "n", type=int, default=200, show_default=True, help="Network size n.")
@click.option("--m", "m", type=int, default=100, show_default=True, help="Number of inputs m.")
@click.option("--iters", type=int, default=3500, show_default=True)
@click.option("--eig-every", type=int, default=50, show_default=True,
              help="Record max Re eig(W) every K iterations.")
@common
def linear(rule, rules, lr, lrs, n, m, iters, eig_every, seed, out, as_json):
    """The linear example: r = (I - W)^{-1} x, loss (1/m)||A X - Rhat||^2 (no data needed)."""
    from ..fixedpoint.experiment import linear_experiment

    names, lr_grid = _grid(rule, rules, lr, lrs)
    with TaskBar("linear", enabled=not as_json) as bar:
        res = linear_experiment(names, lr_grid, n=n, m=m, iters=iters, eig_every=eig_every,
                                seed=seed, out=out, progress=bar)
    emit_summary(res.report(table=as_json), as_json)


@fixedpoint.command("mnist")
@click.option("--data", "data_path", required=True, type=click.Path(),
              help="MNIST: an .npz (x_train, y_train, x_test, y_test) or a folder of the 4 IDX files.")
@click.option("--rule", type=click.Choice(list(MNIST_RULES)), default="dW3", show_default=True)
@click.option("--rules", default=None, help="Comma-separated rules for a grid (e.g. dW1,dW3,dW4).")
@click.option("--lr", type=float, default=0.25, show_default=True, help="Learning rate (SGD).")
@click.option("--lrs", multiple=True, help=_LRS_HELP.format("the original's grids"))
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
    from ..fixedpoint.experiment import mnist_experiment

    names, lr_grid = _grid(rule, rules, lr, lrs)
    with TaskBar("mnist", enabled=not as_json) as bar:
        res = mnist_experiment(data_path, names, lr_grid, n_rec=n_rec, gain=gain, seed=seed,
                               dtype=dtype, n_train=n_train, n_test=n_test, batch=batch,
                               epochs=epochs, jobs=jobs, out=out, progress=bar, solver=solver,
                               tol=tol, max_iter=max_iter, memory=memory, eta_d=eta_d,
                               n_steps=n_steps, optimizer=optimizer, eig_every=eig_every,
                               evaluate_train=not no_train_eval)
    emit_summary(res.report(table=as_json), as_json)


__all__ = ["fixedpoint"]
