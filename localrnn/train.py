"""Training on a task: iterations over fresh batches, evaluation, results on disk.

The loop over iterations lives here, in Python; every batch is one kernel call
per pass (STYLE.md).  Reproducibility is by construction: the batch of
iteration ``i`` is drawn from ``default_rng([seed, 1, i])`` and the held-out
evaluation batch from ``default_rng([seed, 2])``, so a run resumed from a
checkpoint draws exactly the batches an uninterrupted run would, and ends with
bit-identical weights.

Results directory (all files written atomically):

``config.json``     every setting needed to rerun the run
``metrics.csv``     iteration, loss, eval_loss, accuracy, seconds
``weights.npz``     initial (``init_*``) and final (``final_*``) parameters
``checkpoint.npz``  parameters, optimiser state and iteration, for ``--resume``
``curve.png``       the learning curve
``lyapunov.json``   exponents before/after flossing and after training (if asked)
"""
from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from . import io as lio
from ._validate import check_choice, check_dtype, check_number
from .activations import ACTIVATIONS
from .engine import RULES, gradient, loss_and_delta, trajectory
from .network import FORMS, PARAM_NAMES, Network, feedback_matrix
from .optim import OPTIMIZERS, make_optimizer

METRIC_FIELDS = ("iteration", "loss", "eval_loss", "accuracy", "seconds")


class TrainingDiverged(RuntimeError):
    """NaN or Inf appeared in the loss, the gradient or the weights."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (``None``: the task's default).

    ``rule`` is one of bptt, rtrl, eprop, rflo; ``online`` streams each batch
    through :class:`localrnn.OnlineLearner` with per-step updates instead of one
    update per batch.
    """

    task: str = "romo"
    rule: str = "rflo"
    gain: float = 0.5
    n_rec: Optional[int] = None
    batch: Optional[int] = None
    iters: Optional[int] = None
    lr: Optional[float] = None
    optimizer: Optional[str] = None
    form: Optional[str] = None
    activation: Optional[str] = None
    dtype: str = "float64"
    feedback: Optional[str] = None
    online: bool = False
    quantize: Optional[str] = None
    seed: int = 0
    eval_every: Optional[int] = None
    eval_batch: int = 128
    checkpoint_every: int = 50
    floss_iters: int = 0
    floss_k: Optional[int] = None
    floss_exact: bool = False
    floss_lr: Optional[float] = None
    lyapunov: bool = False
    trainable: Optional[List[str]] = None
    task_kwargs: Dict = field(default_factory=dict)

    # ------------------------------------------------------------------ defaults
    def resolved(self) -> "TrainConfig":
        """A copy with the task's defaults filled in and every value checked."""
        from .tasks import get_task

        task = get_task(self.task, **self.task_kwargs)
        d = dict(task.defaults)
        c = TrainConfig(**asdict(self))
        check_choice("rule", c.rule, RULES)
        c.gain = check_number("gain", c.gain, lo=0.0)
        c.n_rec = check_number("n_rec", c.n_rec if c.n_rec is not None else d.get("n_rec", 128),
                               lo=1, integer=True)
        c.batch = check_number("batch", c.batch if c.batch is not None else d.get("batch", 32),
                               lo=1, integer=True)
        c.iters = check_number("iters", c.iters if c.iters is not None else d.get("iters", 300),
                               lo=1, integer=True)
        if c.lr is None:
            c.lr = d.get("lr", 1e-3)
        if isinstance(c.lr, dict):
            c.lr = {k: check_number(f"lr[{k}]", v, lo=0.0) for k, v in c.lr.items()}
        else:
            c.lr = check_number("lr", c.lr, lo=0.0, lo_open=True)
        c.optimizer = check_choice("optimizer", c.optimizer or ("sgd" if c.quantize is not None else
                                                                d.get("optimizer", "adam")), OPTIMIZERS)
        if c.quantize is not None:  # the integer online learner (issue 11): e-prop/RFLO, SGD
            from .neuromorphic.quantspec import QuantSpec

            QuantSpec.parse(c.quantize)
            if not c.online or c.rule not in ("eprop", "rflo") or c.optimizer != "sgd":
                raise ValueError(f"quantize={c.quantize!r} needs online=True, rule eprop or rflo and "
                                 f"optimizer sgd (got online={c.online}, rule={c.rule!r}, "
                                 f"optimizer={c.optimizer!r})")
        c.form = check_choice("form", c.form or d.get("form", "current"), FORMS)
        c.activation = check_choice("activation", c.activation or d.get("activation", "tanh"),
                                    ACTIVATIONS)
        check_dtype(c.dtype)
        if c.feedback is not None:
            check_choice("feedback", c.feedback, ("symmetric", "random"))
            if c.rule in ("bptt", "rtrl") and c.feedback != "symmetric":
                raise ValueError(f"feedback={c.feedback!r} is only for the local rules (eprop, rflo); "
                                 f"rule={c.rule!r} is exact")
        if c.online and c.rule == "bptt":
            raise ValueError("online=True needs a rule that runs forward in time: rtrl, eprop or rflo, "
                             "not rule='bptt'")
        c.seed = check_number("seed", c.seed, lo=0, integer=True)
        ev = c.eval_every if c.eval_every is not None else d.get("eval_every", max(1, c.iters // 20))
        c.eval_every = check_number("eval_every", ev, lo=1, integer=True)
        c.eval_batch = check_number("eval_batch", c.eval_batch, lo=1, integer=True)
        c.checkpoint_every = check_number("checkpoint_every", c.checkpoint_every, lo=1, integer=True)
        c.floss_iters = check_number("floss_iters", c.floss_iters, lo=0, integer=True)
        if c.floss_k is not None:
            c.floss_k = check_number("floss_k", c.floss_k, lo=1, hi=c.n_rec, integer=True)
        if c.floss_lr is not None:
            c.floss_lr = check_number("floss_lr", c.floss_lr, lo=0.0, lo_open=True)
        c.task_kwargs = dict(c.task_kwargs)
        tr = list(c.trainable if c.trainable is not None else d.get("trainable", PARAM_NAMES))
        for k in tr:
            check_choice("trainable entry", k, PARAM_NAMES)
        c.trainable = tr
        return c

    def to_json(self) -> Dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: Dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; allowed {sorted(names)}")
        return cls(**d)


@dataclass
class TrainResult:
    """What a run produced.  ``metrics`` rows follow ``METRIC_FIELDS``."""

    config: TrainConfig
    net: Network
    init_net: Network
    metrics: List[Dict]
    status: str  # "done", "interrupted", "diverged"
    out_dir: Optional[Path] = None
    message: str = ""
    lyapunov: Optional[Dict] = None
    seconds_per_iter: float = float("nan")

    def summary(self) -> Dict:
        last = self.metrics[-1] if self.metrics else {}
        evals = [m for m in self.metrics if m.get("eval_loss") is not None]
        ev = evals[-1] if evals else {}
        return {
            "task": self.config.task, "rule": self.config.rule, "gain": self.config.gain,
            "status": self.status,
            "iterations": int(last.get("iteration", 0)),
            "final_loss": last.get("loss", float("nan")),
            "eval_loss": ev.get("eval_loss", float("nan")),
            "accuracy": ev.get("accuracy", float("nan")),
            "seconds_per_iter": self.seconds_per_iter,
            "out": str(self.out_dir) if self.out_dir else None,
        }


# ---------------------------------------------------------------------------- helpers

def _batch(task, B: int, seed: int, stream: int, i: int = 0):
    return task.batch(B, np.random.default_rng([seed, stream, i]))


def _metrics_csv(rows: List[Dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_FIELDS)
    for r in rows:
        w.writerow(["" if r.get(k) is None else (repr(float(r[k])) if k != "iteration" else int(r[k]))
                    for k in METRIC_FIELDS])
    return buf.getvalue()


def read_metrics(path) -> List[Dict]:
    """Rows of a ``metrics.csv`` as dicts of floats (``None`` where empty)."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            d = {}
            for k in METRIC_FIELDS:
                v = row.get(k, "")
                d[k] = None if v in ("", None) else (int(v) if k == "iteration" else float(v))
            out.append(d)
    return out


def _all_finite(arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def evaluate(net: Network, task, batch, h0=None) -> Tuple[float, float]:
    """(loss, accuracy) of ``net`` on a batch."""
    tr = trajectory(net, batch.inputs, h0=h0)
    tg = batch.targets if task.loss == "mse" else np.ascontiguousarray(batch.targets, dtype=np.int64)
    m = np.ascontiguousarray(batch.mask, dtype=net.dtype)
    if task.loss == "mse":
        tg = np.ascontiguousarray(tg, dtype=net.dtype)
    L, _ = loss_and_delta(tr.outputs, tg, m, task.loss)
    acc = float(task.accuracy(tr.outputs, batch)) if np.all(np.isfinite(tr.outputs)) else float("nan")
    return L, acc


def plot_curves(runs: List[Tuple[str, List[Dict]]], title: str = "", ax=None):
    """Learning curves (training loss, and eval loss as markers) on a log scale."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for label, rows in runs:
        it = np.array([r["iteration"] for r in rows])
        loss = np.array([r["loss"] for r in rows], dtype=float)
        (line,) = ax.plot(it, loss, lw=1.2, label=f"{label} (train)")
        ev = [(r["iteration"], r["eval_loss"]) for r in rows if r.get("eval_loss") is not None]
        if ev:
            e = np.array(ev, dtype=float)
            ax.plot(e[:, 0], e[:, 1], "o", ms=3, color=line.get_color(), label=f"{label} (eval)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if any(r["loss"] > 0 for _, rows in runs for r in rows):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


# ---------------------------------------------------------------------------- trainer

class Trainer:
    """Train a network on a task with one learning rule.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path, optional
        Where results go; nothing is written when None.

    Examples
    --------
    >>> cfg = TrainConfig(task="romo", rule="rflo", gain=0.5, n_rec=32, iters=5)
    >>> result = Trainer(cfg).run()           # doctest: +SKIP
    >>> result.summary()["final_loss"]         # doctest: +SKIP
    """

    def __init__(self, config: TrainConfig, out_dir=None):
        from .tasks import get_task

        self.config = config.resolved()
        c = self.config
        self.task = get_task(c.task, **c.task_kwargs)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.net = self.task.make_network(c.gain, seed=c.seed, n_rec=c.n_rec, form=c.form,
                                          activation=c.activation, dtype=c.dtype)
        self.init_net = self.net.copy()
        self.trainable = tuple(c.trainable)
        # feedback of the local rules: symmetric follows the current W_out (a string,
        # resolved at every step); random is drawn once per run from the seed
        self.F = None
        if c.rule in ("eprop", "rflo"):
            fb = c.feedback or ("random" if c.rule == "rflo" else "symmetric")
            self.F = "symmetric" if fb == "symmetric" else feedback_matrix(self.net, fb, c.rule, c.seed)
        self.metrics: List[Dict] = []
        self.start_iter = 0
        self.lyapunov: Optional[Dict] = None
        self._make_optimizer()
        self.eval_data = _batch(self.task, c.eval_batch, c.seed, 2)

    # -------------------------------------------------------------- optimiser
    def _lr(self):
        lr = self.config.lr
        if isinstance(lr, dict):
            return {k: lr.get(k, 0.0) for k in self.trainable}
        return {k: lr for k in self.trainable}

    def _make_optimizer(self):
        c = self.config
        params = {k: getattr(self.net, k) for k in self.trainable}
        if c.online and c.quantize is not None:
            from .neuromorphic.fixed import QuantizedOnlineLearner

            self.learner = QuantizedOnlineLearner(self.net, rule=c.rule, lr=self._lr(), spec=c.quantize,
                                                  feedback=self.F, loss=self.task.loss, seed=c.seed,
                                                  batch_size=c.batch, trainable=self.trainable)
            self.opt = self.learner
        elif c.online:
            from .online import OnlineLearner

            self.learner = OnlineLearner(self.net, rule=c.rule, lr=self._lr(), optimizer=c.optimizer,
                                         feedback=self.F, loss=self.task.loss, trainable=self.trainable,
                                         seed=c.seed, batch_size=c.batch)
            self.opt = self.learner  # state_dict / load_state_dict: optimiser state and counters
        else:
            self.learner = None
            self.opt = make_optimizer(c.optimizer, params, self._lr())

    # -------------------------------------------------------------- one iteration
    def _h0(self, B):
        h0 = self.task.h0(B, self.net.n_rec)
        return None if h0 is None else np.asarray(h0, dtype=self.net.dtype)

    def step(self, i: int) -> float:
        """One iteration on the batch of iteration ``i``; returns the batch loss."""
        c = self.config
        b = _batch(self.task, c.batch, c.seed, 1, i)
        h0 = self._h0(c.batch)
        if self.learner is not None:
            # stream the batch's B trials through the per-step learner, weights updated
            # every step; the batch loss is MODEL.md section 3 over the trial, i.e. the
            # per-step losses weighted by their mask sums
            self.learner.reset(h0)
            with np.errstate(over="ignore", invalid="ignore"):
                losses = self.learner.run(b.inputs, b.targets, b.mask)
            s = np.asarray(b.mask, dtype=np.float64).reshape(b.mask.shape[0], -1).sum(axis=1)
            if not np.all(np.isfinite(losses)):
                raise TrainingDiverged(f"non-finite loss during online iteration {i + 1}")
            return float((s * losses).sum() / s.sum()) if s.sum() > 0 else 0.0
        kw = dict(feedback=self.F) if self.F is not None else {}
        L, g = gradient(self.net, b.inputs, b.targets, b.mask, loss=self.task.loss, rule=c.rule,
                        h0=h0, **kw)
        if not (math.isfinite(L) and _all_finite(g[k] for k in self.trainable)):
            raise TrainingDiverged(f"non-finite loss or gradient at iteration {i + 1} (loss={L!r})")
        self.opt.step({k: g[k] for k in self.trainable})
        return L

    # -------------------------------------------------------------- files
    def _write(self, status: str, final=True):
        if self.out_dir is None:
            return
        c = self.config
        d = self.out_dir
        lio.atomic_write_json(d / "config.json", {"localrnn_version": _version(), "status": status,
                                                  **c.to_json()})
        lio.atomic_write_text(d / "metrics.csv", _metrics_csv(self.metrics))
        arrays = {}
        for k in PARAM_NAMES:
            arrays["init_" + k] = getattr(self.init_net, k)
            arrays["final_" + k] = getattr(self.net, k)
        if hasattr(self.learner, "weights_int"):  # integer weights and their scales (quantize)
            for k, (v, scale) in self.learner.weights_int().items():
                arrays["int_" + k], arrays["scale_" + k] = v, np.array(scale)
        arrays.update(alpha=np.array(self.net.alpha), activation=np.array(self.net.activation),
                      form=np.array(self.net.form))
        lio.atomic_savez(d / "weights.npz", arrays)
        ck = {"iteration": np.array(len(self.metrics))}
        for k in PARAM_NAMES:
            ck["param_" + k] = getattr(self.net, k)
        for k, v in self.opt.state_dict().items():
            ck["opt_" + k] = v
        lio.atomic_savez(d / "checkpoint.npz", ck)
        if self.lyapunov is not None:
            lio.atomic_write_json(d / "lyapunov.json", self.lyapunov)
        if final and self.metrics:
            import matplotlib

            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt

            fig = plot_curves([(f"{c.rule}", self.metrics)],
                              title=f"{c.task}: rule {c.rule}, gain {c.gain:g}, N={c.n_rec}")
            lio.atomic_savefig(d / "curve.png", fig)
            plt.close(fig)

    @classmethod
    def resume(cls, out_dir) -> "Trainer":
        """A trainer that continues the run saved in ``out_dir``."""
        out_dir = Path(out_dir)
        cfg_path = out_dir / "config.json"
        if not cfg_path.is_file():
            raise ValueError(f"--resume {str(out_dir)!r}: no config.json there; give a run folder "
                             "written by 'localrnn run'")
        d = lio.read_json(cfg_path)
        d.pop("localrnn_version", None)
        d.pop("status", None)
        t = cls(TrainConfig.from_json(d), out_dir)
        ck_path = out_dir / "checkpoint.npz"
        if ck_path.is_file():
            with np.load(ck_path) as ck:
                n = int(ck["iteration"])
                for k in PARAM_NAMES:
                    getattr(t.net, k)[...] = ck["param_" + k]
                t.opt.load_state_dict({k[4:]: ck[k] for k in ck.files if k.startswith("opt_")})
            with np.load(out_dir / "weights.npz") as w:
                for k in PARAM_NAMES:
                    getattr(t.init_net, k)[...] = w["init_" + k]
            t.metrics = read_metrics(out_dir / "metrics.csv")[:n]
            t.start_iter = n
            ly = out_dir / "lyapunov.json"
            if ly.is_file():
                t.lyapunov = lio.read_json(ly)
        return t

    # -------------------------------------------------------------- the loop
    def run(self, progress: Optional[Callable[[int, float], None]] = None,
            on_iteration: Optional[Callable[[int], None]] = None) -> TrainResult:
        """Train from ``start_iter`` to ``iters``.

        ``progress(n, loss)`` is called after each iteration; ``on_iteration(i)``
        before each (tests use it to simulate Ctrl-C).  KeyboardInterrupt saves
        the state after the last complete iteration and returns status
        ``"interrupted"``; a non-finite loss, gradient or weight stops with status
        ``"diverged"``, keeping the weights of the last good iteration.
        """
        c = self.config
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.start_iter == 0 and (c.floss_iters > 0 or c.lyapunov) and self.lyapunov is None:
            self._flossing_pretraining()
        self._write("running", final=False)
        status, message = "done", ""
        t0 = time.perf_counter()
        done_here = 0
        good = {k: getattr(self.net, k).copy() for k in PARAM_NAMES}
        good_opt = self.opt.state_dict()
        good_opt = {k: np.array(v, copy=True) for k, v in good_opt.items()}
        try:
            for i in range(self.start_iter, c.iters):
                if on_iteration is not None:
                    on_iteration(i)
                ti = time.perf_counter()
                with np.errstate(over="ignore", invalid="ignore"):
                    L = self.step(i)
                if not (math.isfinite(L) and _all_finite(getattr(self.net, k) for k in PARAM_NAMES)):
                    raise TrainingDiverged(f"non-finite loss or weights at iteration {i + 1} (loss={L!r})")
                row = {"iteration": i + 1, "loss": L, "eval_loss": None, "accuracy": None,
                       "seconds": time.perf_counter() - ti}
                if (i + 1) % c.eval_every == 0 or i + 1 == c.iters:
                    row["eval_loss"], row["accuracy"] = evaluate(self.net, self.task, self.eval_data,
                                                                 self._h0(c.eval_batch))
                self.metrics.append(row)
                done_here += 1
                good = {k: getattr(self.net, k).copy() for k in PARAM_NAMES}
                good_opt = {k: np.array(v, copy=True) for k, v in self.opt.state_dict().items()}
                if progress is not None:
                    progress(1, L)
                if (i + 1) % c.checkpoint_every == 0:
                    self._write("running", final=False)
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted"
        except TrainingDiverged as e:
            status, message = "diverged", str(e)
        if status != "done":
            # roll back to the state after the last complete, finite iteration
            for k in PARAM_NAMES:
                getattr(self.net, k)[...] = good[k]
            self.opt.load_state_dict(good_opt)
        elapsed = time.perf_counter() - t0
        if status == "done" and self.lyapunov is not None:
            self._lyapunov_after_training()
        self._write(status)
        return TrainResult(self.config, self.net, self.init_net, self.metrics, status, self.out_dir,
                           message, self.lyapunov,
                           elapsed / done_here if done_here else float("nan"))

    # -------------------------------------------------------------- Lyapunov
    LYAP_TRIALS = 8

    def _exponents(self, k):
        """The first k exponents (per step) on 8 trials of the stream ``[seed, 3, 0]``
        (the same inputs ``localrnn lyapunov RUN_DIR`` uses)."""
        from .lyapunov import lyapunov_spectrum

        B = self.LYAP_TRIALS
        x = _batch(self.task, B, self.config.seed, 3).inputs
        res = lyapunov_spectrum(self.net, x, k=k, seed=self.config.seed, h0=self._h0(B))
        return [float(v) for v in np.asarray(res.exponents)]

    def _flossing_pretraining(self):
        from .lyapunov import floss

        c = self.config
        k = c.floss_k or min(c.n_rec, 10)
        self.lyapunov = {"k": k, "before_flossing": self._exponents(k)}
        if c.floss_iters > 0:
            kw = {} if c.floss_lr is None else {"lr": c.floss_lr}
            hist = floss(self.net, self.task, iters=c.floss_iters, k=k, local=not c.floss_exact,
                         seed=c.seed, **kw)
            self.lyapunov["floss_iters"] = c.floss_iters
            self.lyapunov["floss_local"] = not c.floss_exact
            self.lyapunov["after_flossing"] = self._exponents(k)
            self.lyapunov["floss_history_lambda_max"] = [float(v) for v in _lambda_max_history(hist)]
            self.init_net = self.net.copy()  # training starts from the flossed weights
            self.lyapunov["note"] = "init_* in weights.npz are the weights after flossing"

    def _lyapunov_after_training(self):
        k = self.lyapunov["k"]
        self.lyapunov["after_training"] = self._exponents(k)


def _lambda_max_history(hist):
    ex = getattr(hist, "exponents", hist)
    ex = np.asarray(ex)
    return ex[:, 0] if ex.ndim == 2 else ex


def _version() -> str:
    from . import __version__

    return __version__


def train(config: TrainConfig, out_dir=None, progress=None) -> TrainResult:
    """Train with :class:`Trainer` (see there)."""
    return Trainer(config, out_dir).run(progress=progress)
