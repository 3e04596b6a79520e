"""Does local flossing pretraining help e-prop at a poor initial gain? (Liu et al. 2024, Fig. 4)

    python examples/flossing_romo.py [--gain 0.5] [--iters 300] [--floss-iters 100]

Trains e-prop on Romo from the same initial network with and without 100
iterations of local gradient flossing, and overlays the learning curves
(runs/floss-*/ and floss_vs_plain.png).
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from localrnn.io import atomic_savefig  # noqa: E402
from localrnn.plotting import plot_curves  # noqa: E402
from localrnn.training import TrainConfig, Trainer  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--gain", type=float, default=0.5)
p.add_argument("--iters", type=int, default=None)
p.add_argument("--floss-iters", type=int, default=100)
p.add_argument("--rule", default="eprop")
a = p.parse_args()

runs = []
for fl in (0, a.floss_iters):
    cfg = TrainConfig(task="romo", rule=a.rule, gain=a.gain, iters=a.iters, floss_iters=fl, lyapunov=True)
    res = Trainer(cfg, out_dir=f"runs/floss-{a.rule}-g{a.gain:g}-f{fl}").run()
    s = res.summary()
    ly = res.lyapunov
    print(f"flossing {fl:4d}: eval loss {s['eval_loss']:.4f}, accuracy {s['accuracy']:.3f}, "
          f"lambda_max before {ly['before_flossing'][0]:.3f}"
          + (f", after flossing {ly['after_flossing'][0]:.3f}" if fl else "")
          + f", after training {ly['after_training'][0]:.3f}")
    runs.append((f"{a.rule}, flossing {fl}", res.metrics))
fig = plot_curves(runs, title=f"romo, gain {a.gain:g}: local flossing pretraining")
atomic_savefig("floss_vs_plain.png", fig)
plt.close(fig)
