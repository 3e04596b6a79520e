"""docs/spiking.md's figure: one held-out trial of a trained spiking run and its learning curve.

    python examples/spiking_figure.py RUN_DIR OUT.png [--trial K]

RUN_DIR is a folder written by ``localrnn run cue`` (or ``pattern``).  The trial is
trial K of the run's held-out batch (``default_rng([seed, 2])``, as the training loop
draws it); the figure is :func:`localrnn.plotting.plot_spiking_trial`.
"""
import argparse

import numpy as np

from localrnn.plotting import plot_spiking_trial, save_figure
from localrnn.runs import RunDir
from localrnn.spiking import forward

p = argparse.ArgumentParser()
p.add_argument("run_dir")
p.add_argument("out")
p.add_argument("--trial", type=int, default=0)
a = p.parse_args()

rd = RunDir(a.run_dir)
cfg, task, net = rd.read_config(), rd.task(), rd.load_network("final")
b = task.batch(max(a.trial + 1, 1), np.random.default_rng([cfg["seed"], 2]))
z, v, A, y = forward(net, b.inputs)
k = a.trial
win = b.info["t_decision"][k] if "t_decision" in b.info else None
adaptive = np.flatnonzero(net.beta)
labels = [f"class {o}" for o in range(net.n_out)] if task.loss == "xent" else None
extra = f", label {int(b.info['label'][k])}" if "label" in b.info else ""
fig = plot_spiking_trial(b.inputs[:, k], z[:, k], y[:, k], dt=task.dt, time_unit=task.time_unit,
                         window=win, labels=labels,
                         adaptive_from=int(adaptive[0]) if len(adaptive) else None,
                         metrics=rd.read_metrics(),
                         title=f"{cfg['task']}: {cfg['rule']}, {net.model.upper()} N={net.n_rec}, "
                               f"held-out trial {k}{extra}")
print(save_figure(fig, a.out))
