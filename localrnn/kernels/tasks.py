"""Trial arrays of the tasks whose batches are drawn every training iteration.

Built with NumPy's window masks and boolean indexing, a Romo batch took ~30 small
array operations: 0.25 ms with warm caches and 0.5 ms inside a training loop (after
a gradient has evicted them), i.e. 2-6% of a Romo training iteration at the task's
defaults.  The draws are made from the caller's ``numpy.random.Generator`` inside
the kernel (Numba implements NumPy's algorithms on the same bit generator: the same
numbers, the generator left in the same state -- tested against NumPy's own calls),
so a seed still gives the same batch bit for bit.
"""
import numpy as np

from .._config import njit


@njit
def romo_fill(f1, f2, d, n_fix, n_stim, n_dd, n_dec, target, inputs, targets, mask, se):
    """Fill one Romo batch (see :class:`localrnn.tasks.romo.RomoTask`).

    ``inputs`` (T, B, 1), ``targets`` and ``mask`` (T, B, 2), ``se`` (7, B, 2) int64
    period [start, end) steps; all are written completely.  Trial b: f1 on
    [n_fix, n_fix + n_stim), f2 on [s_f2, s_f2 + n_stim) with s_f2 = n_fix + n_stim
    + d[b], the target on the larger pulse's channel during the decision window,
    mask 1 up to the end of f2 and on the decision window.
    """
    T, B = inputs.shape[0], inputs.shape[1]
    inputs[:] = 0.0
    targets[:] = 0.0
    mask[:] = 0.0
    for b in range(B):
        s_f1 = n_fix
        s_delay = s_f1 + n_stim
        s_f2 = s_delay + d[b]
        s_dd = s_f2 + n_stim
        s_dec = s_dd + n_dd
        s_pad = s_dec + n_dec
        bounds = (0, s_f1, s_delay, s_f2, s_dd, s_dec, s_pad, T)
        for p in range(7):
            se[p, b, 0] = bounds[p]
            se[p, b, 1] = bounds[p + 1]
        for t in range(s_f1, s_delay):
            inputs[t, b, 0] = f1[b]
        for t in range(s_f2, min(s_dd, T)):
            inputs[t, b, 0] = f2[b]
        label = 1 if f2[b] > f1[b] else 0
        for t in range(0, min(s_dd, T)):
            mask[t, b, 0] = 1.0
            mask[t, b, 1] = 1.0
        for t in range(s_dec, min(s_pad, T)):
            targets[t, b, label] = target
            mask[t, b, 0] = 1.0
            mask[t, b, 1] = 1.0


@njit
def romo_draw(rng, B, lo, hi, min_diff, delay_lo, delay_hi):
    """``f1, f2 ~ U(lo, hi)`` with the pairs closer than ``min_diff`` redrawn (both, in
    trial order) until none is, then ``delay ~ U(delay_lo, delay_hi)``, from ``rng`` in
    that order (tests/test_tasks.py checks the numbers and the generator's state after
    against the same draws made with NumPy's own calls)."""
    f = rng.uniform(lo, hi, size=(B, 2))
    while True:
        nbad = 0
        for b in range(B):
            if abs(f[b, 0] - f[b, 1]) < min_diff:
                nbad += 1
        if nbad == 0:
            break
        g = rng.uniform(lo, hi, size=(nbad, 2))
        j = 0
        for b in range(B):
            if abs(f[b, 0] - f[b, 1]) < min_diff:
                f[b, 0] = g[j, 0]
                f[b, 1] = g[j, 1]
                j += 1
    delay = rng.uniform(delay_lo, delay_hi, size=B)
    return f[:, 0].copy(), f[:, 1].copy(), delay


@njit
def romo_batch(rng, lo, hi, min_diff, delay_lo, delay_hi, dt, n_fix, n_stim, n_dd, n_dec, target,
               inputs, targets, mask, se, f1, f2, delay, d, label):
    """A whole Romo batch in one call: :func:`romo_draw` from ``rng`` (the same draws,
    the generator left in the same state), ``d = rint(delay / dt)``, the label
    ``f2 > f1`` and :func:`romo_fill`.  Writes every output array (B = ``len(f1)``).

    One compiled call instead of two plus a few NumPy operations: inside a training
    loop (caches cold after a gradient) each call into a kernel or NumPy cost tens of
    microseconds here.
    """
    B = f1.shape[0]
    a, b, dl = romo_draw(rng, B, lo, hi, min_diff, delay_lo, delay_hi)
    for i in range(B):
        f1[i] = a[i]
        f2[i] = b[i]
        delay[i] = dl[i]
        d[i] = np.int64(np.rint(dl[i] / dt))
        label[i] = 1 if b[i] > a[i] else 0
    romo_fill(f1, f2, d, n_fix, n_stim, n_dd, n_dec, target, inputs, targets, mask, se)
