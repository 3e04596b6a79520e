"""Train a spiking network on Bellec et al.'s tasks with e-prop (or BPTT), through the API.

    python examples/spiking_tasks.py cue [--iters 200] [--rule eprop] [--delay 1050] [--batch 64]
    python examples/spiking_tasks.py pattern [--iters 1000] [--rule eprop]

Each iteration draws batch i from ``default_rng([seed, 1, i])`` (as ``localrnn run``),
takes :func:`localrnn.spiking.gradient` with the task's defaults (feedback, firing-rate
regulariser) and applies the task's optimiser.  Every ``--eval-every`` iterations it
prints the loss and accuracy on a held-out batch (``default_rng([seed, 2])``, 64
trials for cue, the frozen trial for pattern) and the mean firing rate; ``--out``
writes the curve as JSON.  ``localrnn run cue`` (the training loop, docs/spiking.md)
does the same and writes a run folder.
"""
import argparse
import json
import time

import numpy as np

from localrnn.optim import make_optimizer
from localrnn.spiking import gradient, trajectory
from localrnn.tasks import get_task

p = argparse.ArgumentParser()
p.add_argument("task", choices=["cue", "pattern"])
p.add_argument("--iters", type=int, default=None)
p.add_argument("--rule", default=None, choices=["eprop", "bptt"])
p.add_argument("--batch", type=int, default=None)
p.add_argument("--n-rec", type=int, default=None)
p.add_argument("--delay", type=int, default=None, help="cue: the silent delay in ms (1050)")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--eval-every", type=int, default=None)
p.add_argument("--out", default=None, help="write the learning curve here (JSON)")
a = p.parse_args()

task = get_task(a.task, **({} if a.delay is None else {"delay": a.delay}))
d = task.defaults
rule = a.rule or d["rule"]
iters = a.iters or (200 if a.task == "cue" else 1000)
every = a.eval_every or max(1, iters // 20)
B = a.batch or d["batch"]
net = task.make_network(seed=a.seed, n_rec=a.n_rec)
opt = make_optimizer(d["optimizer"], {k: getattr(net, k) for k in d["trainable"]}, d["lr"])
held = task.batch(64 if a.task == "cue" else 1, np.random.default_rng([a.seed, 2]))
fb = d["feedback"] if rule == "eprop" else None
curve = []
t0 = time.perf_counter()
for i in range(iters + 1):
    if i % every == 0 or i == iters:
        tr = trajectory(net, held.inputs)
        L = gradient(net, held.inputs, held.targets, held.mask, loss=task.loss, rule=rule)[0]
        row = dict(iteration=i, eval_loss=L, accuracy=task.accuracy(tr.outputs, held),
                   rate_hz=float(tr.spikes.mean()) * 1000.0 / task.dt,
                   seconds=time.perf_counter() - t0)
        curve.append(row)
        print(f"{i:5d}  eval loss {L:.4f}  accuracy {row['accuracy']:.3f}  "
              f"rate {row['rate_hz']:.1f} Hz  {row['seconds']:.0f} s", flush=True)
    if i == iters:
        break
    b = task.batch(B, np.random.default_rng([a.seed, 1, i]))
    _, g = gradient(net, b.inputs, b.targets, b.mask, loss=task.loss, rule=rule, feedback=fb,
                    seed=a.seed, reg=d["reg"], reg_rate=d["reg_rate"])
    opt.step(g)
if a.out:
    with open(a.out, "w") as f:
        json.dump(dict(task=a.task, rule=rule, batch=B, iters=iters, seed=a.seed,
                       n_rec=net.n_rec, T=task.T, curve=curve), f, indent=1)
