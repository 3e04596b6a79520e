"""localrnn: an explicit-update NumPy/Numba engine for recurrent networks.

Exact gradients (BPTT, RTRL), local rules (e-prop, RFLO) batched and online,
Lyapunov spectra and gradient flossing, fixed-point learning, spiking LIF/ALIF
networks with BPTT and e-prop (``localrnn.spiking``).  No autograd.
The equations are in MODEL.md (``docs/MODEL.md`` in the repository).
"""
from . import fixedpoint, spiking
from .data import load_mnist
from .engine import forward, gradient, loss_value, make_noise
from .trajectories import Trajectory, trajectory
from .lyapunov import (FlossResult, GainSweep, LyapunovResult, floss, flossing_gradient,
                       lambda_max_vs_gain, lyapunov_spectrum)
from .network import Network, feedback_matrix
from .online import OnlineLearner
from .optim import SGD, Adam, make_optimizer
from .runs import RunDir
from .tasks import Batch, Task, get_task, list_tasks
from .training import TrainConfig, Trainer, TrainResult, train

from ._version import __version__

__all__ = [
    "Network", "feedback_matrix", "forward", "gradient", "trajectory", "Trajectory",
    "loss_value", "make_noise", "SGD", "Adam", "make_optimizer",
    "lyapunov_spectrum", "LyapunovResult", "flossing_gradient", "floss", "FlossResult",
    "lambda_max_vs_gain", "GainSweep",
    "get_task", "list_tasks", "Task", "Batch",
    "TrainConfig", "Trainer", "TrainResult", "train",
    "OnlineLearner", "fixedpoint", "spiking", "load_mnist", "__version__",
    "RunDir",
]
