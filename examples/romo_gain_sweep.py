"""What the defaults of `localrnn run romo` reach, for BPTT and RFLO at several gains.

    python examples/romo_gain_sweep.py [--iters N] [--gains 0.5,1,1.5] [--rules bptt,rflo]

Prints a Markdown table (final eval loss and accuracy on the held-out batch, and
lambda_max of the initial and trained weights) and writes runs/sweep-*/ folders.
"""
import argparse
import time

from localrnn.lyapunov import lyapunov_spectrum
from localrnn.runs import probe_inputs
from localrnn.training import TrainConfig, Trainer

p = argparse.ArgumentParser()
p.add_argument("--iters", type=int, default=None)
p.add_argument("--gains", default="0.5,1,1.5")
p.add_argument("--rules", default="bptt,rflo")
p.add_argument("--task", default="romo")
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

rows = []
for rule in a.rules.split(","):
    for g in [float(v) for v in a.gains.split(",")]:
        cfg = TrainConfig(task=a.task, rule=rule, gain=g, iters=a.iters, seed=a.seed)
        t0 = time.perf_counter()
        tr = Trainer(cfg, out_dir=f"runs/sweep-{a.task}-{rule}-g{g:g}")
        res = tr.run()
        x = probe_inputs(tr.task, a.seed)  # the run's Lyapunov probe batch
        lam0 = lyapunov_spectrum(res.init_net, x, 1).lambda_max
        lam1 = lyapunov_spectrum(res.net, x, 1).lambda_max
        s = res.summary()
        rows.append((rule, g, s["iterations"], s["eval_loss"], s["accuracy"], lam0, lam1,
                     time.perf_counter() - t0))
        print(rows[-1], flush=True)

print()
print("| rule | gain | iters | eval loss | accuracy | λ_max init | λ_max trained | seconds |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]:g} | {r[2]} | {r[3]:.4f} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.3f} | {r[7]:.0f} |")
