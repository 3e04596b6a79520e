"""Fixed-point learning with reparameterised rules (Zhu & Rosenbaum 2023).

MODEL.md section 8.  A network ``tau dr/dt = -r + tanh(W r + W_x x)`` answers a
static input with its fixed point ``r* = tanh(W r* + W_x x)``; the loss is
evaluated there.  This subpackage has

* :func:`solve_fixed_point`: the original Euler relaxation (``"relax"``) and a
  converged solve (``"converge"``) that reports samples above tolerance;
* the rules :func:`rule_dW1` (Euclidean gradient, implicit function theorem),
  :func:`rule_dW3`, :func:`rule_dW4` (reparameterised) and :func:`rule_bptt`
  (through the unrolled relaxation), with :func:`compute_update` to run one;
* the linear example (:func:`linear_problem`, :func:`train_linear`; rules dW1,
  dW2, dW3) and MNIST training (:func:`mnist_problem`, :func:`train_mnist`).

Grids of runs are an experiment, a layer above these drivers, and are imported from
:mod:`localrnn.fixedpoint.experiment`: ``grid_runs``, ``linear_grid``, ``mnist_grid``
(returning a result that writes its folder, table and figure) and the original's
learning-rate grids ``PAPER_LRS_LINEAR``, ``PAPER_LRS_MNIST``.
"""
from .linear import (LINEAR_RULES, LinearProblem, LinearRun, linear_loss, linear_problem,
                     linear_step, train_linear)
from .rules import (RULES, Update, check_rule_solver, compute_update, cross_entropy, rule_bptt,
                    rule_dW1, rule_dW3, rule_dW4)
from .solver import (SOLVERS, FixedPoint, FixedPointWarning, fixed_point_residual,
                     solve_fixed_point)
from .train import (FixedPointRun, MNISTProblem, check_train_args, evaluate, max_re_eig, mnist_problem,
                    train_mnist)

__all__ = [
    "solve_fixed_point", "fixed_point_residual", "FixedPoint", "FixedPointWarning", "SOLVERS",
    "cross_entropy", "rule_dW1", "rule_dW3", "rule_dW4", "rule_bptt", "compute_update", "Update",
    "RULES", "check_rule_solver",
    "linear_problem", "linear_loss", "linear_step", "train_linear", "LinearProblem", "LinearRun",
    "LINEAR_RULES",
    "mnist_problem", "train_mnist", "evaluate", "max_re_eig", "MNISTProblem", "FixedPointRun",
    "check_train_args",
]
