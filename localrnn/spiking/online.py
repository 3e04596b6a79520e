"""Online e-prop for spiking networks: weights change every step, nothing but state is kept.

:class:`SpikingOnlineLearner` has the public interface of
:class:`localrnn.online.OnlineLearner` (``step``, ``run``, ``reset``, ``flush``,
``state_dict``/``load_state_dict``, ``grads``, ``traces``, ``memory``), so a training
loop drives either the same way.  One Numba call per :meth:`step` does forward, loss,
traces, gradient and, when due, the optimiser update
(:mod:`localrnn.kernels.spiking_online`).
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Union

import numpy as np

from .._validate import check_array, check_labels
from ..kernels import spiking_online as _k
from ..learners import StreamingLearner
from ..names import PARAM_NAMES
from ..network import feedback_matrix
from ..optim import check_lr
from .engine import check_network, check_regularizer
from .network import SpikingNetwork

#: Rules a spiking network can learn online (BPTT runs backward in time).
ONLINE_RULES = ("eprop",)


class SpikingOnlineLearner(StreamingLearner):
    r"""e-prop online over B parallel streams (Bellec et al. 2020; MODEL.md section 9).

    Per step t and stream b (all streams share the weights):

    1. the neurons and the leaky readout advance one step (MODEL.md section 9);
    2. the step's loss is MODEL.md section 3 applied to that step alone, normalised by
       the step's mask sum ``s_t``; ``delta_t = dl_t / dy_t``.  A step with ``s_t = 0``
       contributes nothing (its state and traces still advance);
    3. the step's gradient ``g_t``: ``L_t * ebar_t`` for W_in, b and W, with the
       learning signal ``L_t = F delta_t`` and the filtered eligibility traces
       ``ebar_t`` (MODEL.md section 9); ``delta_t zbar_t^T`` and ``delta_t obar_t`` for
       the readout (its exact forward-mode gradient, ``zbar`` the spikes filtered by
       the readout's decay kappa);
    4. after every ``update_every`` contributing steps the optimiser is applied to the
       accumulated sum (``theta -= lr * sum g`` for SGD; Adam as ``torch.optim.Adam``).

    **Relation to the batched gradient.**  With all learning rates 0, over a trial
    with mask sums ``s_t`` and ``S = sum_t s_t``, ``sum_t s_t g_t = S * G``, where G is
    :func:`localrnn.spiking.gradient` ``(rule="eprop")`` of the same trials (B streams
    = a batch of B trials).  With a full mask, ``sum_t g_t = T * G``: with SGD and
    ``update_every = T`` one update at the trial's end moves the weights by
    ``-lr * T * G``.

    **The firing-rate regulariser** ``0.5 reg sum_j (r_j - reg_rate)^2`` of
    :func:`localrnn.spiking.gradient` (``reg`` > 0) needs each neuron's rate over the
    trial, which a step does not have yet: online, ``r_j`` is the rate neuron j has
    fired at since the last :meth:`reset`, over all B streams (at a trial's last step
    the batched ``r_j``).  A contributing step adds ``reg (rhat_j - reg_rate) / B``
    times each stream's eligibility ``e_t`` (the batched trace form's term, T times per
    trial as the task term; :mod:`localrnn.kernels.spiking_online`).

    A :class:`localrnn.learners.Learner`: ``learn(batch, h0)`` (from
    :class:`~localrnn.learners.StreamingLearner`) resets to ``h0``, streams the batch's
    B trials through :meth:`run` and returns the mask-weighted trial loss: one
    iteration of an online :class:`localrnn.Trainer` run on a spiking task.

    Parameters
    ----------
    net : SpikingNetwork
        Trained in place (its five arrays are updated in place; do not rebind them
        while the learner is in use).
    rule : {"eprop"}
    lr : float or dict
        Learning rate, or a dict name -> rate (missing names get 0).
    optimizer : {"sgd", "adam"}
    feedback : None, "symmetric", "random" or (N, O) array
        F; None or "symmetric" reads the current ``W_out`` at every step; "random" is
        drawn once from ``seed``.
    update_every : int
        Contributing steps per optimiser update.
    loss : {"mse", "xent"}
    seed : int
    batch_size : int
        Number of parallel streams B.
    trainable : iterable of names, optional
        Parameters updated (default all five); the others keep their values.
    betas, eps : Adam constants.
    h0 : (B, N) or (N,) array, optional
        Initial membrane voltage v_0 (also after :meth:`reset` without an argument).
    reg, reg_rate : float
        The firing-rate regulariser's coefficient (0: off) and target rate in spikes
        per step (above).

    Examples
    --------
    >>> net = SpikingNetwork.init(2, 16, 1, seed=0)
    >>> learner = SpikingOnlineLearner(net, lr=1e-3)
    >>> loss = learner.step(np.ones((1, 2)), np.zeros((1, 1)))
    """

    _C_NSTEP, _C_NUPD, _C_COUNT = _k.C_NSTEP, _k.C_NUPD, _k.C_COUNT
    _net_kind, _no_noise = SpikingNetwork, "spiking networks"
    _state_keys = "SpikingOnlineLearner.state_dict() for this optimiser and trainable set"

    def __init__(self, net: SpikingNetwork, rule: str = "eprop", lr: Union[float, Mapping] = 1e-3,
                 optimizer: str = "sgd", feedback=None, update_every: int = 1,
                 loss: str = "mse", seed: int = 0, batch_size: int = 1,
                 trainable: Optional[Iterable[str]] = None, betas=(0.9, 0.999),
                 eps: float = 1e-8, h0=None, reg: float = 0.0, reg_rate: float = 0.0):
        check_network(net)
        self.reg, self.reg_rate = check_regularizer(reg, reg_rate)
        self._setup_stream(net, rule, ONLINE_RULES, optimizer, loss, update_every, seed,
                           batch_size, trainable)
        if feedback is None or (isinstance(feedback, str) and feedback == "symmetric"):
            self._symmetric = True
            self._FT = net.W_out                  # read live: follows the readout
        else:
            self._symmetric = False
            self._FT = np.ascontiguousarray(feedback_matrix(net, feedback, rule, self.seed).T)
        self._prm, self._mode = net.kernel_scalars()
        self._hyp = np.zeros(_k.N_HYP)
        self._hyp[_k.H_REG], self._hyp[_k.H_F0] = self.reg, self.reg_rate
        if optimizer == "adam":
            self._hyp[_k.H_B1], self._hyp[_k.H_B2], self._hyp[_k.H_EPS] = \
                self._adam_constants(betas, eps)
        self._ctl = np.zeros(_k.N_CTL, dtype=np.int64)
        self._ctl[_k.C_OPT] = 1 if optimizer == "adam" else 0
        self._ctl[_k.C_EVERY] = self.update_every
        self._ctl[_k.C_LOSS] = 0 if loss == "mse" else 1
        for j, k in enumerate(_k.PARAM_ORDER):
            self._ctl[_k.C_TRAIN + j] = 1 if k in self.trainable else 0
        self.set_lr(lr)
        self._allocate()
        self._h0 = self._check_h0(h0)
        self.reset()

    # ------------------------------------------------------------------ construction
    def _allocate(self) -> None:
        net, B, dt = self.net, self.batch_size, self._dt
        N, I, O = net.n_rec, net.n_in, net.n_out
        P = I + 1 + N
        nv = N if net.reset == "set" else 1
        self._sizes = {"W_in": N * I, "W": N * N, "b": N, "W_out": O * N, "b_out": O}
        self._S = np.zeros((_k.N_S, B, N), dtype=dt)
        self._Y = np.zeros((3, B, O), dtype=dt)
        self._CNT = np.zeros((B, N), dtype=np.int64)
        self._EV = np.zeros((B, nv, P), dtype=dt)
        self._EA = np.zeros((B, N if net.model == "alif" else 0, P), dtype=dt)
        self._EB = np.zeros((B, N, P), dtype=dt)
        self._G = np.zeros((3 if self.optimizer == "adam" else 1, sum(self._sizes.values())),
                           dtype=dt)
        self._head = (net.W_in, net.b, net.W, net.W_out, net.b_out, self._FT, net.beta,
                      self._prm, self._mode, self._ctl, self._hyp, self._S, self._Y, self._CNT,
                      self._EV, self._EA, self._EB, self._G)
        self._xshape = (B, I)
        self._ones = np.ones((B, O) if self.loss == "mse" else (B, 1), dtype=dt)
        self._tdummy = np.zeros((0, 0), dtype=dt)
        self._ldummy = np.zeros(0, dtype=np.int64)

    def set_lr(self, lr: Union[float, Mapping]) -> None:
        """Change the learning rate(s); same forms as the constructor's ``lr``."""
        rates = check_lr(lr, PARAM_NAMES, allow_zero=True)
        for j, k in enumerate(_k.PARAM_ORDER):
            self._hyp[_k.H_LR + j] = rates[k]
        self.lr = rates

    # ---------------------------------------------------------------- stepping
    def step(self, x, target, mask=None, noise=None) -> float:
        """Advance all streams one step, learn, and return the step's loss.

        Parameters
        ----------
        x : (B, I) array, the input x_t of each stream
        target : (B, O) array (mse) or (B,) integer labels (xent)
        mask : (B, O) or (B,) array for mse, (B,) for xent; ones if None.  Entries >= 0.
        noise : must be None (spiking networks take no state noise)

        Returns
        -------
        float
            The step's loss (0 when the mask is all zero), before the step's update.

        Notes
        -----
        Fast path (MSE, the usual streaming loop): ``x``, ``target`` and ``mask`` (or
        None) that are already C-ordered arrays of the learner's dtype and shapes go
        straight to the kernel, checked for shape, dtype, ``flags.carray`` and a
        non-negative mask only (as :meth:`localrnn.OnlineLearner.step`, which skips the
        mask too); anything else is validated (finite values, labels in range).
        ``run`` validates everything.
        """
        if noise is not None:
            raise ValueError("noise is not supported by spiking networks; give noise=None")
        B, O, dt = self.batch_size, self.net.n_out, self._dt
        if mask is None:
            mask = self._ones
        if (self.loss == "mse" and type(x) is np.ndarray and type(target) is np.ndarray
                and type(mask) is np.ndarray and x.shape == self._xshape
                and target.shape == mask.shape == (B, O) and x.dtype == dt
                and target.dtype == dt and mask.dtype == dt and x.flags.carray
                and target.flags.carray and mask.flags.carray
                and (mask is self._ones or mask.min() >= 0.0)):
            return _k.step(*self._head, x, target, self._ldummy, mask)
        x = check_array("x", x, self._xshape, dt)
        if self.loss == "mse":
            tg = check_array("target", target, (B, O), dt)
            lb = self._ldummy
            m = np.asarray(mask)
            if m.shape == (B,):   # one weight per stream, for every output
                m = np.repeat(check_array("mask", m, (B,), dt)[:, None], O, axis=1)
            else:
                m = check_array("mask", m, (B, O), dt)
        else:
            tg = self._tdummy
            lb = check_labels("target", target, (B,), O)
            m = mask if mask is self._ones else check_array("mask", mask, (B,), dt)[:, None]
        m = np.ascontiguousarray(m)
        if m.size and m.min() < 0:
            raise ValueError(f"mask has a negative entry {float(m.min())!r}; mask entries must be >= 0")
        return float(_k.step(*self._head, x, tg, lb, m))

    def run(self, inputs, targets, mask=None, noise=None) -> np.ndarray:
        """Stream a (T, B, ...) sequence through :meth:`step`'s kernel in one call.

        Identical numbers to T calls of :meth:`step`.  ``inputs`` (T, B, I); ``targets``
        (T, B, O) or (T, B) labels; ``mask`` (T, B, O) or (T, B).  Returns the (T,) losses.
        """
        x, tg, m = self._check_run(inputs, targets, mask, noise)
        T = x.shape[0]
        if self.loss == "mse":
            lb = np.zeros((T, 0), dtype=np.int64)
        else:
            tg, lb, m = np.zeros((T, 0, 0), dtype=self._dt), tg, np.ascontiguousarray(m[:, :, None])
        losses = np.empty(T)
        _k.run(*self._head, x, tg, lb, m, losses)
        return losses

    def flush(self) -> bool:
        """Apply the optimiser to a partial window now; True if anything was applied."""
        if self._ctl[_k.C_COUNT] == 0:
            return False
        net = self.net
        _k.apply_update(net.W_in, net.W, net.b, net.W_out, net.b_out, self._G, self._ctl, self._hyp)
        return True

    def reset(self, h0=None) -> None:
        """Start new trials: voltage to ``h0`` (or the constructor's, else zeros), spikes,
        adaptation, refractory counters, readout, traces and the regulariser's spike
        counts to zero.  Weights, optimiser state and a partial gradient window are kept."""
        h = self._check_h0(h0)
        if h is None:
            h = self._h0
        self._S[...] = 0.0
        if h is not None:
            self._S[_k.S_V] = h
        self._Y[...] = 0.0
        self._CNT[...] = 0
        self._EV[...] = 0.0
        self._EA[...] = 0.0
        self._EB[...] = 0.0
        self._ctl[_k.C_TRESET] = 0              # the regulariser's rate starts again

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> Dict[str, np.ndarray]:
        """Optimiser state and counters (as :meth:`localrnn.OnlineLearner.state_dict`):
        ``step_count``, ``pending``, ``n_steps``, and per trained parameter
        ``acc_<name>`` and, for Adam, ``m_<name>``, ``v_<name>``.  The streams' state and
        traces are not included: a restored learner starts new trials."""
        d = self._counter_state()
        rows = ("acc", "m", "v") if self.optimizer == "adam" else ("acc",)
        for k, (o, n, shape) in self._segments().items():
            if k in self.trainable:
                for r, name in enumerate(rows):
                    a = self._G[r, o:o + n].reshape(shape).copy()
                    if name == "acc" and self._ctl[_k.C_FRESH] and r == 0:
                        a[...] = 0.0      # the window was applied: nothing is pending
                    d[f"{name}_{k}"] = a
        return d

    def load_state_dict(self, d) -> None:
        """Restore what :meth:`state_dict` returned (same optimiser and trainable set)."""
        self._check_state_keys(d)
        rows = ("acc", "m", "v") if self.optimizer == "adam" else ("acc",)
        self._G[0] = 0.0
        for k, (o, n, shape) in self._segments().items():
            if k in self.trainable:
                for r, name in enumerate(rows):
                    a = check_array(f"{name}_{k}", d[f"{name}_{k}"], shape, self._dt)
                    self._G[r, o:o + n] = a.reshape(-1)
        self._load_counters(d)
        self._ctl[_k.C_FRESH] = 0

    # ------------------------------------------------------------- inspection
    def _segments(self):
        """name -> (offset in G's rows, size, shape), in the kernel's PARAM_ORDER."""
        out, o = {}, 0
        for k in _k.PARAM_ORDER:
            n = self._sizes[k]
            out[k] = (o, n, getattr(self.net, k).shape)
            o += n
        return out

    @property
    def grads(self) -> Dict[str, np.ndarray]:
        """Copies of the accumulated gradients of the trainable parameters: the sum of the
        step contributions of the current window (after an update, of the window just
        applied, until the next contributing step starts a new one)."""
        return {k: self._G[0, o:o + n].reshape(shape).copy()
                for k, (o, n, shape) in self._segments().items() if k in self.trainable}

    @property
    def state(self) -> np.ndarray:
        """(B, N) copy of the membrane voltages v_t."""
        return self._S[_k.S_V].copy()

    @property
    def spikes(self) -> np.ndarray:
        """(B, N) copy of the last step's spikes z_t."""
        return self._S[_k.S_Z].copy()

    @property
    def traces(self) -> Dict[str, np.ndarray]:
        """Copies of the learning state per stream: ``eps_v`` (B, 1 or N, P), ``eps_a``
        (B, N, P; ALIF), ``ebar`` (B, N, P) over the presynaptic vector [x; 1; z_{t-1}]
        (P = I + 1 + N), and the readout's filtered spikes ``zbar`` (B, N)."""
        d = {"eps_v": self._EV.copy(), "ebar": self._EB.copy(), "zbar": self._S[_k.S_ZBAR].copy()}
        if self.net.model == "alif":
            d["eps_a"] = self._EA.copy()
        return d

    def memory(self) -> Dict[str, int]:
        """Floats of memory by role (counts, not bytes), as held now.

        ``state_per_stream``: v, z, psi, the refractory counter (and b for ALIF) and the
        readout y -- 4 N + O (5 N + O); ``traces_per_stream``: eps_v (P, or N P with reset
        "set"), eps_a (N P, ALIF), ebar (N P) over P = I + 1 + N presynaptic entries, and
        the readout's zbar (N) and obar (1); ``synapses``: trained W_in, W, b entries
        (what the traces serve); ``readout``: trained W_out, b_out entries;
        ``accumulator``: the gradient sums (every parameter); ``optimizer``: Adam's
        moments; ``workspace``: everything else the step kernel holds (z_{t-1},
        psi_{t-1}, the learning signal, delta_t, the regulariser's spike counts,
        scratch).

        ``B * (state_per_stream + traces_per_stream) + accumulator + optimizer +
        workspace`` is every number of the arrays the step kernel works in.
        """
        N, O, B = self.net.n_rec, self.net.n_out, self.batch_size
        alif = self.net.model == "alif"
        state = (5 if alif else 4) * N + O
        traces = self._EV[0].size + self._EA[0].size + self._EB[0].size + N + 1
        syn = sum(self._sizes[k] for k in ("W_in", "W", "b") if k in self.trainable)
        ro = sum(self._sizes[k] for k in ("W_out", "b_out") if k in self.trainable)
        g = self._G.shape[1]
        held = (self._S.size + self._Y.size + self._CNT.size + self._EV.size + self._EA.size
                + self._EB.size)
        return {"state_per_stream": state, "traces_per_stream": traces, "synapses": syn,
                "readout": ro, "accumulator": g,
                "optimizer": self._G.size - g,
                "workspace": held - B * (state + traces)}

    def memory_per_synapse(self) -> float:
        """Floats of eligibility state (eps_v, eps_a, ebar) per recurrent-side synapse,
        per stream: 1 + 1/N (LIF, reset "subtract") up to 3 (ALIF, reset "set")."""
        N, I = self.net.n_rec, self.net.n_in
        per = self._EV[0].size + self._EA[0].size + self._EB[0].size
        return per / (N * (I + 1 + N))


__all__ = ["SpikingOnlineLearner", "ONLINE_RULES"]
