"""``localrnn run TASK --rule R --gain G``: train and save the learning curve."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..names import (ACTIVATIONS, DTYPES, FEEDBACKS, FLOSS_MODES, FORMS, OPTIMIZERS, RESETS, RULES,
                     SPIKING_MODELS, TRUNCATIONS)
from ._common import emit_summary, progress


@click.command("run")
@click.argument("task", required=False)
@click.option("--rule", type=click.Choice(RULES), default=None,
              help="Learning rule: exact (bptt, rtrl) or local (eprop, rflo) [rflo; spiking tasks: "
                   "eprop, or bptt].")
@click.option("--gain", type=float, default=None,
              help="Initial recurrent gain g (W = g Z / sqrt(N)) [task default; see 'localrnn tasks'].")
@click.option("--n-rec", type=int, default=None, help="Recurrent units N [task default].")
@click.option("--batch", type=int, default=None, help="Trials per batch [task default].")
@click.option("--iters", type=int, default=None, help="Training iterations [task default].")
@click.option("--lr", type=float, default=None, help="Learning rate [task default].")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None, help="[task default]")
@click.option("--clip", type=float, default=None,
              help="Clip the gradients' global L2 norm to this value before each update (batched rules).")
@click.option("--form", type=click.Choice(FORMS), default=None, help="Dynamics form [task default].")
@click.option("--activation", type=click.Choice(list(ACTIVATIONS)), default=None, help="[task default]")
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True)
@click.option("--feedback", type=click.Choice(FEEDBACKS), default=None,
              help="Feedback for eprop/rflo [eprop: symmetric, rflo: random].")
@click.option("--online", is_flag=True, help="Per-step weight updates while each trial runs (rtrl, eprop, rflo).")
@click.option("--quantize", default=None, metavar="SPEC",
              help="Integer online learner with these formats, e.g. w8,s16,t12,acc32 (eprop/rflo, --online, sgd).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--eval-every", type=int, default=None, help="Evaluate on the held-out batch every K iterations.")
@click.option("--eval-batch", type=int, default=128, show_default=True, help="Trials of the held-out batch.")
@click.option("--checkpoint-every", type=int, default=50, show_default=True,
              help="Save metrics rows, weights and checkpoint every K iterations.")
@click.option("--floss-iters", type=int, default=0, show_default=True, help="Gradient-flossing pretraining iterations.")
@click.option("--floss-k", type=int, default=None, help="Exponents flossed [min(N, 10)].")
@click.option("--floss-mode", type=click.Choice(FLOSS_MODES), default="local", show_default=True,
              help="Flossing gradient: the paper's local one, local without holding Q fixed, or exact.")
@click.option("--floss-lr", type=float, default=None, help="Flossing learning rate (Adam).")
@click.option("--rescale-to", type=float, default=None, metavar="LAMBDA",
              help="Before training, scale W until lambda_max = LAMBDA (a control for flossing).")
@click.option("--truncation", type=click.Choice(TRUNCATIONS), default=None,
              help="What eprop/rflo drop: the recurrent term [default] or the whole previous state.")
@click.option("--lyapunov", "lyap", is_flag=True, help="Record Lyapunov exponents before and after training.")
@click.option("--lyap-every", type=int, default=None, metavar="K",
              help="Every K iterations, lambda_max of the current network into metrics.csv.")
@click.option("--model", type=click.Choice(SPIKING_MODELS), default=None,
              help="Spiking tasks: neuron model, LIF or ALIF (adaptive threshold) [task default].")
@click.option("--reset", type=click.Choice(RESETS), default=None,
              help="Spiking tasks: after a spike, subtract v_th (Bellec) or set v to --v-reset (NIR) "
                   "[task default].")
@click.option("--v-th", type=float, default=None, help="Spiking tasks: threshold, > 0 [task default].")
@click.option("--v-reset", type=float, default=None, help="Spiking tasks: voltage after a spike with "
              "--reset set, below --v-th [0].")
@click.option("--tau-m", type=float, default=None, help="Spiking tasks: membrane time constant, ms.")
@click.option("--tau-a", type=float, default=None, help="Spiking tasks: adaptation time constant, ms (alif).")
@click.option("--tau-out", type=float, default=None, help="Spiking tasks: readout time constant, ms.")
@click.option("--refractory", type=int, default=None,
              help="Spiking tasks: steps a neuron stays silent after a spike, >= 0.")
@click.option("--beta", type=float, default=None,
              help="Spiking tasks (alif): threshold adaptation of the adaptive neurons, >= 0.")
@click.option("--n-adaptive", type=int, default=None,
              help="Spiking tasks (alif): how many neurons adapt (the last ones) [task's fraction].")
@click.option("--reg", type=float, default=None,
              help="Spiking tasks: firing-rate regulariser 0.5 REG sum_j (r_j - REG_RATE)^2 "
                   "(online: r_j the rate since the trial began) [task default; online: the task's "
                   "online default].")
@click.option("--reg-rate", type=float, default=None,
              help="Spiking tasks: the regulariser's target rate in spikes per step (0.01 = 10 Hz "
                   "at 1 ms) [task default].")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Results folder [new folder under runs/].")
@click.option("--resume", type=click.Path(file_okay=False), default=None, help="Continue the run saved in this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(task, rule, gain, n_rec, batch, iters, lr, optimizer, clip, form, activation, dtype, feedback,
        online, quantize, seed, eval_every, eval_batch, checkpoint_every, floss_iters, floss_k, floss_mode,
        floss_lr, rescale_to, truncation, lyap, lyap_every, model, reset, v_th, v_reset, tau_m, tau_a,
        tau_out, refractory, beta, n_adaptive, reg, reg_rate, out, resume, as_json):
    """Train an RNN on TASK (romo, 2af, dms, sine, neurogym:<id>; spiking networks: cue,
    pattern) and save the learning curve.

    Options marked [task default] take the task's value (its gain, size,
    iterations, learning rate...: 'localrnn tasks --json'); the values used are in
    the summary line and config.json.  The spiking options (--model ... --reg-rate)
    are for cue and pattern only.  Results go to --out: config.json,
    metrics.csv, weights.npz, checkpoint.npz, curve.png.  Ctrl-C saves the
    partial run; `localrnn run --resume DIR` continues it.  Exit codes: 0 done,
    2 bad value, 3 diverged, 4 results could not be written (e.g. disk full;
    the previous checkpoint stays intact), 130 interrupted.
    """
    from ..runs import check_writable_dir, new_run_dir
    from ..training import TrainConfig, Trainer

    if resume is not None:
        if task is not None:
            raise click.UsageError("give either TASK or --resume RUN_DIR, not both")
        trainer = Trainer.resume(resume)
        check_writable_dir(resume, "resume")
        out_dir = trainer.out_dir
    else:
        if task is None:
            raise click.UsageError("missing TASK (e.g. 'localrnn run romo --rule rflo --gain 0.5'); "
                                   "see 'localrnn tasks'")
        check_writable_dir("runs" if out is None else out, "out")
        neuron = {k: v for k, v in dict(reset=reset, v_th=v_th, v_reset=v_reset, tau_m=tau_m, tau_a=tau_a,
                                        tau_out=tau_out, refractory=refractory, beta=beta,
                                        n_adaptive=n_adaptive).items() if v is not None}
        cfg = TrainConfig(task=task, rule=rule, gain=gain, n_rec=n_rec, batch=batch, iters=iters,
                          lr=lr, optimizer=optimizer, clip=clip, form=form, activation=activation, dtype=dtype,
                          feedback=feedback, online=online, quantize=quantize, seed=seed,
                          eval_every=eval_every, eval_batch=eval_batch, checkpoint_every=checkpoint_every,
                          floss_iters=floss_iters, floss_k=floss_k,
                          floss_mode=floss_mode, floss_lr=floss_lr, rescale_to=rescale_to,
                          truncation=truncation, lyapunov=lyap, lyap_every=lyap_every, model=model,
                          neuron=neuron, reg=reg, reg_rate=reg_rate)
        trainer = Trainer(cfg)  # validates everything before a folder is made
        c = trainer.config
        out_dir = new_run_dir("runs", prefix=f"{task.replace(':', '_')}-{c.rule}-g{c.gain:g}") if out is None else out
        trainer.out_dir = Path(out_dir)
    c = trainer.config
    remaining = c.iters - trainer.start_iter
    label = f"{c.task} {c.rule} g={c.gain:g}"
    with progress(remaining, label, enabled=not as_json) as bar:
        result = trainer.run(progress=bar.update)
    summary = result.summary()
    if result.status == "done":
        emit_summary(summary, as_json)
        return 0
    if result.status == "interrupted":
        emit_summary(summary, as_json)
        click.echo(f"Interrupted after iteration {summary['iterations']}; saved to {out_dir}. "
                   f"Continue with: localrnn run --resume {out_dir}", err=True)
        sys.exit(130)
    emit_summary(summary, as_json)
    click.echo(f"Error: training diverged: {result.message}; the last good iteration "
               f"({summary['iterations']}) is saved in {out_dir}", err=True)
    sys.exit(3)
