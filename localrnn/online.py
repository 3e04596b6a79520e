"""Online (streaming) learning: weights change every step, nothing but state is kept.

:class:`OnlineLearner` runs B parallel input streams through one network and updates
the network's weights while they run (MODEL.md section 5, "Online (streaming)
updates").  Its memory is the state, the eligibility traces (or RTRL influence
matrices), the gradient accumulator and the optimiser state: no history.  One Numba
kernel call per :meth:`OnlineLearner.step` does forward, loss, traces, gradient and,
when due, the optimiser update (:mod:`localrnn.kernels.online`).
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, NamedTuple, Optional, Union

import numpy as np

from ._threads import step_blas_limit
from ._validate import check_array, check_labels
from .activations import kernel_code
from .trajectories import check_noise
from ._numba_compat import compiled_entry
from .kernels import online as _k
from .kernels import online_layout as _L
from .kernels.common import apply_phi
from .learners import StreamingLearner
from .names import (ONLINE_RULES, P_B, P_W, P_WIN, PARAM_NAMES, READOUT_PARAMS,
                    RECURRENT_PARAMS)
from .network import Network, feedback_matrix, rule_feedback
from .optim import check_lr

_ndarray = np.ndarray


class StepHead(NamedTuple):
    """The step kernel's leading arguments, grouped by role (:mod:`localrnn.kernels.online`):
    the network's parameters, F^T, the buffer, the gradient rows and the control blocks."""

    W_in: np.ndarray
    W: np.ndarray
    b: np.ndarray
    W_out: np.ndarray
    b_out: np.ndarray
    FT: np.ndarray
    buf: np.ndarray
    G: np.ndarray
    ctl: np.ndarray
    hyp: np.ndarray


class OnlineLearner(StreamingLearner):
    r"""Learn online, one time step at a time, over B parallel streams.

    Per step t and stream b (all streams share the weights):

    1. the network advances one step (MODEL.md section 1, the network's form);
    2. the step's loss is MODEL.md section 3 applied to that step alone, normalised by
       the step's mask sum ``s_t = sum_{b,o} m_tbo`` (MSE) or ``sum_b m_tb`` (xent)::

           l_t = 0.5 * sum_{b,o} m_tbo (y_tbo - y*_tbo)^2 / s_t,   delta_t = m_t (y_t - y*_t) / s_t

       A step with ``s_t = 0`` contributes nothing: no gradient, no optimiser update
       (its state and traces still advance);
    3. the rule's gradient contribution ``g_t`` of that step is added to an accumulator:
       e-prop / RFLO (MODEL.md section 5) -- learning signal ``L_t = phi'(h_t) * (F delta_t)``
       (current form) or ``F delta_t`` (rate form) times the eligibility traces; RTRL
       (section 4) -- ``c_t^T M_t`` with the influence matrix carried forward with the
       current weights (Williams & Zipser 1989).  The readout always gets
       ``delta_t r_t^T`` (``a_t`` in the rate form);
    4. after every ``update_every`` *contributing* steps the optimiser is applied to the
       accumulated sum (``theta -= lr * sum g`` for SGD; Adam as ``torch.optim.Adam``).

    The learning signal uses the weights of the step (before its update); symmetric
    feedback reads the current ``W_out``, so it follows the readout as it learns;
    random feedback is drawn once, at construction, from ``seed``.

    **Relation to the batched gradient.**  With all learning rates 0 (weights frozen),
    over a trial with mask sums ``s_t`` and ``S = sum_t s_t``,
    ``sum_t s_t g_t = S * G`` where ``G`` is ``localrnn.engine.gradient(rule=...)``'s
    gradient of the same trials (B streams = a batch of B trials).  With the same mask
    sum ``s`` at every contributing step (e.g. no mask), the plain accumulated sum is
    ``sum_t g_t = (S / s) G``, that is ``T * G`` for a full mask.  Likewise
    ``sum_t s_t l_t = S * L``.

    Parameters
    ----------
    net : Network
        Trained in place: ``learner.net`` is this object and its five arrays are updated
        in place (the learner holds those array objects; do not rebind ``net.W`` etc.
        while the learner is in use).
    rule : {"eprop", "rflo", "rtrl"}
        Local rules keep O(N) (current form) or O(N^2) (rate form) floats of traces per
        stream; RTRL keeps the N x P influence matrix per stream (O(N^4) time per step).
    lr : float or dict
        Learning rate, or a dict name -> rate (missing names get 0).  0 freezes a
        parameter; its gradient is still accumulated (see :attr:`grads`).
    optimizer : {"sgd", "adam"}
    feedback : None, "symmetric", "random" or (N, O) array
        F of the local rules; None picks the rule's default (e-prop symmetric, RFLO
        random).  RTRL is exact and accepts only None or "symmetric".
    update_every : int
        Contributing steps per optimiser update (1 = every step).
    loss : {"mse", "xent"}
        Targets are (B, O) arrays for MSE and (B,) integer labels for xent.
    seed : int
        Seed of the random feedback matrix (:func:`localrnn.network.feedback_matrix`).
    batch_size : int
        Number of parallel streams B.
    trainable : iterable of names, optional
        Parameters whose gradient is computed and applied; default all five
        (``"W_in", "W", "b", "W_out", "b_out"``).  Traces that only serve untrained
        parameters are not updated, and RTRL's influence matrix has columns for the
        trained ones only.
    betas, eps : Adam constants (as ``torch.optim.Adam``).
    h0 : (B, N) or (N,) array, optional
        Initial state (also after :meth:`reset` without an argument); zeros by default.

    Notes
    -----
    A :class:`localrnn.learners.Learner`: ``learn(batch, h0)`` (from
    :class:`~localrnn.learners.StreamingLearner`) resets to ``h0``, streams the batch's
    trials through :meth:`run` and returns the mask-weighted trial loss; that is one
    iteration of an online :class:`localrnn.Trainer` run.

    Partial accumulations at :meth:`reset`: kept.  The window counts contributing steps
    across trial boundaries, so ``update_every`` means the same thing whatever the trial
    lengths; call :meth:`flush` to apply a partial window at a trial's end instead.

    With SGD, ``update_every=1`` and a local rule, a step's W, W_in and b contributions
    go straight into the weights (``W -= lr * L_t ebar_t^T`` in the same loop, no
    accumulator pass); :attr:`grads` rebuilds them on request from the step's learning
    signal and traces, with the same arithmetic.  With one stream in the current form
    the learner then holds no N x N accumulator at all, only a copy of the N + I + 1
    traces of the last contribution (:meth:`memory`); a learning rate of 0 for a
    trained W, W_in or b, or :meth:`load_state_dict`, switches it to the full one.

    ``step`` checks only shapes, dtypes and ``flags.carray`` (the fast path makes no
    copies and calls the compiled kernel directly; other arrays are validated); ``run``
    validates everything once for a whole sequence and then streams it through the same
    per-step kernel in one call (identical numbers).  BLAS runs with the project's
    per-step thread limit inside ``run`` (:mod:`localrnn._threads`); ``step`` does not
    touch thread counts, which costs ~40 us: for large N, wrap a ``step`` loop in
    ``with localrnn._threads.step_blas_limit():``.

    Examples
    --------
    >>> net = Network.init(1, 32, 1, gain=0.9, alpha=0.2, seed=0)
    >>> learner = OnlineLearner(net, rule="eprop", lr=1e-2)
    >>> x = np.ones((1, 1)); y = np.zeros((1, 1))
    >>> loss = learner.step(x, y)
    >>> learner.memory_per_synapse()          # e-prop, current form: 1/N
    0.03125
    """

    _C_NSTEP, _C_NUPD, _C_COUNT = _L.C_NSTEP, _L.C_NUPD, _L.C_COUNT
    _state_keys = "OnlineLearner.state_dict() for this optimiser and trainable set"

    def __init__(self, net: Network, rule: str = "eprop", lr: Union[float, Mapping] = 1e-3,
                 optimizer: str = "sgd", feedback=None, update_every: int = 1,
                 loss: str = "mse", seed: int = 0, batch_size: int = 1,
                 trainable: Optional[Iterable[str]] = None, betas=(0.9, 0.999),
                 eps: float = 1e-8, h0=None):
        if not isinstance(net, Network):
            raise ValueError(f"net is a {type(net).__name__}; expected a localrnn.Network")
        self._setup_stream(net, rule, ONLINE_RULES, optimizer, loss, update_every, seed,
                           batch_size, trainable)
        self._FT = self._feedback_transpose(feedback)
        self._hyp = self._hyperparameters(betas, eps)
        self.set_lr(lr)
        self._ctl, self._psize = self._control()
        self._allocate()
        self._loss_buffers()
        self._head = StepHead(net.W_in, net.W, net.b, net.W_out, net.b_out, self._FT,
                              self._buf, self._G, self._ctl, self._hyp)
        self._h0 = self._check_h0(h0)
        self.reset()

    # ------------------------------------------------------------------ construction

    def _feedback_transpose(self, feedback) -> np.ndarray:
        """F^T (O, N).  Symmetric feedback is ``net.W_out`` itself, read live, so it
        follows the readout as it learns; random feedback is drawn once from ``seed``."""
        net, rule = self.net, self.rule
        if rule == "rtrl":
            if feedback is not None and not (isinstance(feedback, str) and feedback == "symmetric"):
                raise ValueError(f"feedback={feedback!r} is not allowed for rule='rtrl' (exact, "
                                 "uses W_out^T); choose None or 'symmetric'")
            self._symmetric = True
        else:
            fb = rule_feedback(rule, feedback)
            self._symmetric = isinstance(fb, str) and fb == "symmetric"
        if self._symmetric:
            return net.W_out
        return np.ascontiguousarray(feedback_matrix(net, feedback, rule, self.seed).T)

    def _hyperparameters(self, betas, eps) -> np.ndarray:
        """``hyp``: alpha and the Adam constants (learning rates: :meth:`set_lr`)."""
        hyp = np.zeros(_L.N_HYP)
        hyp[_L.H_ALPHA] = self.net.alpha
        if self.optimizer == "adam":
            hyp[_L.H_B1], hyp[_L.H_B2], hyp[_L.H_EPS] = self._adam_constants(betas, eps)
        return hyp

    def _control(self):
        """``ctl`` (codes and offsets, :mod:`localrnn.kernels.online_layout`) and the
        parameter sizes.  RTRL's influence matrix M has columns for the trained
        recurrent parameters only (``online_layout.influence_columns``)."""
        net = self.net
        N, I = net.n_rec, net.n_in
        local = self.rule != "rtrl"
        moff, PM = _L.influence_columns(N, I, () if local else self.trainable)
        psize = {k: getattr(net, k).size for k in PARAM_NAMES}
        ctl = np.zeros(_L.N_CTL, dtype=np.int64)
        for j, k in enumerate(PARAM_NAMES):
            ctl[_L.C_TRAIN + j] = 1 if k in self.trainable else 0
        ctl[_L.C_KEEP] = 1 if self._keeps(net.form) else 0
        self._gsize = self._segments(ctl, psize)
        ctl[_L.C_FORM] = 1 if net.form == "rate" else 0
        ctl[_L.C_RULE] = 0 if local else 1
        ctl[_L.C_ACT] = kernel_code(net.activation, net.dtype)
        ctl[_L.C_OPT] = 1 if self.optimizer == "adam" else 0
        ctl[_L.C_EVERY] = self.update_every
        ctl[_L.C_PM] = PM
        ctl[_L.C_MW], ctl[_L.C_MWIN], ctl[_L.C_MB] = (moff[PARAM_NAMES[p]] for p in (P_W, P_WIN, P_B))
        ctl[_L.C_LOSS] = 0 if self.loss == "mse" else 1
        self._PM = PM
        return ctl, psize

    def _keeps(self, form) -> bool:
        """True when the recurrent side needs no accumulator: one stream, a local rule in
        the current form, SGD every step, every trained W, W_in, b with a learning rate
        != 0.  Each step's contribution then goes straight into the weights, and the
        N + I + 1 traces it used are kept for :attr:`grads` instead of the N (N + I + 1)
        sums.  (In the rate form the N x N traces move on at every step, and with B > 1
        the streams' contributions are summed in G before the update, so G is kept.)"""
        return (self.rule != "rtrl" and form == "current" and self.optimizer == "sgd"
                and self.update_every == 1 and self.batch_size == 1
                and all(self.lr[k] != 0.0 for k in RECURRENT_PARAMS if k in self.trainable))

    @staticmethod
    def _segments(ctl, psize) -> int:
        """Offsets in G of the parameters that accumulate (trained, and not sent straight
        into the weights under ``C_KEEP``), -1 for the others; returns G's row length."""
        o = 0
        for j, k in enumerate(PARAM_NAMES):
            held = ctl[_L.C_TRAIN + j] and not (ctl[_L.C_KEEP] and k in RECURRENT_PARAMS)
            ctl[_L.C_SEG + j] = o if held else -1
            o += psize[k] if held else 0
        return o

    def _layout(self) -> "_L.BufferLayout":
        """The parts of the learner's buffer (:func:`localrnn.kernels.online_layout.buffer_layout`)."""
        net = self.net
        return _L.buffer_layout(self.rule, net.form, self.batch_size, net.n_rec, net.n_in,
                                net.n_out, self._PM, keep=bool(self._ctl[_L.C_KEEP]))

    def _allocate(self) -> None:
        """The learner's whole memory: the buffer of S, Y, E, M, J, aux (laid out by
        ``online_layout``, cut by the kernels' ``state_views``) and G."""
        layout = self._layout()
        _L.write_views(self._ctl, layout)
        self._buf = np.zeros(layout.size, dtype=self._dt)
        self._S, self._Y, self._E, self._M, self._J, self._aux = _k.state_views(self._buf,
                                                                               self._ctl)
        self._G = np.zeros((3 if self.optimizer == "adam" else 1, self._gsize), dtype=self._dt)

    def _loss_buffers(self) -> None:
        """Shapes and constant buffers of one step's targets and mask."""
        B, O, dt = self.batch_size, self.net.n_out, self._dt
        self._xshape = (B, self.net.n_in)
        self._nz0 = np.zeros((0, 0), dtype=dt)
        self._nzshape = (B, self.net.n_rec)
        self._entry = None  # the compiled step for the canonical types (step's fast path)
        if self.loss == "mse":
            self._tshape, self._tdtype = (B, O), dt
            self._ones = np.ones((B, O), dtype=dt)
            self._mshape = (B, O)
            self._mbuf = np.empty((B, O), dtype=dt)
            self._dummy_t = np.zeros(0, dtype=np.int64)      # labels, unused
        else:
            self._tshape, self._tdtype = (B,), np.dtype(np.int64)
            self._ones = np.ones(B, dtype=dt)
            self._mshape = (B,)
            self._dummy_t = np.zeros((0, 0), dtype=dt)       # float targets, unused
        self._fast = (self._xshape, self._tshape, self._mshape, dt, self._tdtype,
                      self.loss == "mse")

    def _canonical_args(self) -> tuple:
        """Arguments of the step kernel with the types of ``step``'s fast path (freshly
        allocated C-contiguous arrays), to look up its compiled entry point."""
        dt, B, O = self._dt, self.batch_size, self.net.n_out
        x = np.zeros(self._xshape, dt)
        noise = np.zeros(self._nzshape, dt)
        if self.loss == "mse":
            return (*self._head, x, np.zeros(self._tshape, dt), self._dummy_t,
                    np.zeros((B, O), dt), noise)
        return (*self._head, x, self._dummy_t, np.zeros(B, np.int64), np.zeros((B, 1), dt), noise)

    def _compile_entry(self):
        """The compiled step's entry point for the fast path's types (compiled or loaded
        from the cache on first use), kept for the next steps."""
        self._entry = compiled_entry(_k.step, self._canonical_args())
        return self._entry

    # ------------------------------------------------------------------ settings
    def set_lr(self, lr: Union[float, Mapping]) -> None:
        """Change the learning rate(s); same forms as the constructor's ``lr``."""
        rates = check_lr(lr, PARAM_NAMES, allow_zero=True)   # lr=0: frozen, grads still kept
        for j, k in enumerate(PARAM_NAMES):
            self._hyp[_L.H_LR + j] = rates[k]
        self.lr = rates
        if getattr(self, "_ctl", None) is not None and self._ctl[_L.C_KEEP] \
                and not self._keeps(self.net.form):
            self._hold_all()

    def _full_G(self):
        """(G, ctl): copies with a segment for every trained parameter, holding the
        accumulated sums with the last step's direct contributions written in
        (``kernels.online.materialise``).  The learner's own arrays are not changed."""
        ctl = self._ctl.copy()
        ctl[_L.C_KEEP] = 0
        G = np.zeros((self._G.shape[0], self._segments(ctl, self._psize)), dtype=self._dt)
        for j in range(len(PARAM_NAMES)):
            o, n = self._ctl[_L.C_SEG + j], self._psize[PARAM_NAMES[j]]
            if o >= 0:
                G[:, ctl[_L.C_SEG + j]:ctl[_L.C_SEG + j] + n] = self._G[:, o:o + n]
        ctl[_L.C_KEEP] = self._ctl[_L.C_KEEP]  # materialise reads the kept traces
        _k.materialise(self._E, self._S, G, ctl)
        ctl[_L.C_KEEP] = 0
        return G, ctl

    def _hold_all(self) -> None:
        """Leave ``C_KEEP``: from now on G holds every trained parameter's sums."""
        self._G, ctl = self._full_G()
        self._ctl[:] = ctl
        self._head = self._head._replace(G=self._G)

    # ---------------------------------------------------------------- stepping
    def step(self, x, target, mask=None, noise=None) -> float:
        """Advance all streams one step, learn, and return the step's loss.

        Parameters
        ----------
        x : (B, I) array, the input x_t of each stream
        target : (B, O) array (mse) or (B,) integer labels (xent)
        mask : (B, O) or (B,) array for mse, (B,) for xent; ones if None.  Entries >= 0.
        noise : (B, N) array, optional, added to the state update (already scaled)

        Returns
        -------
        float
            The step's loss ``l_t`` (0 when the mask is all zero), computed before the
            step's weight update.
        """
        # Fast path (MSE, no noise, the usual streaming loop): arrays of exactly the types
        # the compiled step was built for (shape, the learner's dtype -- compared by
        # identity, a false "no" only takes the checked path -- and ``flags.carray``: C
        # order, aligned, writeable) go straight to its entry point.  Everything else is
        # validated (and copied if needed) in ``_step_checked``.  (One condition and one
        # call with the arguments written out: ~0.3 us less per step than checking each
        # array apart and star-unpacking, of a ~9 us step at N = 128.)
        xshape, tshape, mshape, dt, tdtype, mse = self._fast
        if mask is None:
            mask = self._ones
        if (mse and noise is None and type(x) is _ndarray and type(target) is _ndarray
                and type(mask) is _ndarray and x.shape == xshape and target.shape == tshape
                and mask.shape == mshape and x.dtype is dt and target.dtype is dt
                and mask.dtype is dt and x.flags.carray and target.flags.carray
                and mask.flags.carray):
            fn = self._entry or self._compile_entry()
            W_in, W, b, W_out, b_out, FT, buf, G, ctl, hyp = self._head
            return fn(W_in, W, b, W_out, b_out, FT, buf, G, ctl, hyp, x, target, self._dummy_t,
                      mask, self._nz0)
        return self._step_checked(x, target, mask, noise)

    def _step_checked(self, x, target, mask, noise) -> float:
        """:meth:`step` for any input: each array is validated unless it already has the
        compiled step's exact type (then it goes to the entry point as in the fast path),
        labels are range-checked."""
        xshape, tshape, mshape, dt, tdtype, mse = self._fast
        direct = True
        if not (type(x) is _ndarray and x.shape == xshape and x.dtype == dt
                and x.flags.carray):
            x = self._check_step_x(x)
            direct = False
        if not (type(target) is _ndarray and target.shape == tshape
                and target.dtype == tdtype and target.flags.carray):
            target = self._check_step_target(target)
            direct = False
        elif not mse:
            O = self.net.n_out
            for v in target.tolist():
                if not 0 <= v < O:
                    raise ValueError(f"target has label {v}; allowed labels are 0..{O - 1}")
        if not (type(mask) is _ndarray and mask.shape == mshape and mask.dtype == dt
                and mask.flags.carray):
            mask = self._check_step_mask(mask)
            direct = False
        if noise is None:
            noise = self._nz0
        elif not (type(noise) is _ndarray and noise.shape == self._nzshape
                  and noise.dtype == dt and noise.flags.carray):
            noise = check_array("noise", noise, self._nzshape, dt)
            direct = False
        fn = (self._entry or self._compile_entry()) if direct else _k.step
        if mse:
            return fn(*self._head, x, target, self._dummy_t, mask, noise)
        return fn(*self._head, x, self._dummy_t, target, mask[:, None], noise)

    def run(self, inputs, targets, mask=None, noise=None) -> np.ndarray:
        """Stream a (T, B, ...) sequence through :meth:`step`'s kernel in one call.

        Identical numbers to T calls of :meth:`step`.  ``inputs`` (T, B, I);
        ``targets`` (T, B, O) or (T, B) labels; ``mask`` (T, B, O) or (T, B); ``noise``
        (T, B, N).  All are validated (finite values, label range, mask >= 0).

        Returns
        -------
        (T,) array of the per-step losses.
        """
        x, tg, m = self._check_run(inputs, targets, mask)
        T, B, _ = x.shape
        nz, has = check_noise(self.net, noise, T, B)
        losses = np.empty(T)
        if self.loss == "mse":
            tg, lb = tg, np.zeros((0, 0), dtype=np.int64)
        else:
            tg, lb, m = np.zeros((0, 0, 0), dtype=self._dt), tg, m[:, :, None]
        with step_blas_limit():
            _k.run(*self._head, x, tg, lb, m, nz, losses)
        return losses

    def flush(self) -> bool:
        """Apply the optimiser to a partial window now; True if anything was applied."""
        h = self._head
        return bool(_k.flush(h.W_in, h.W, h.b, h.W_out, h.b_out, h.G, h.ctl, h.hyp))

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Optimiser state and counters, for checkpoints (as :meth:`localrnn.optim.Adam.state_dict`).

        ``step_count`` (updates applied, Adam's step), ``pending`` (contributing steps in
        the current window), ``n_steps``, and per trained parameter ``acc_<name>`` (the
        accumulated gradient) and, for Adam, ``m_<name>``, ``v_<name>``.  The streams'
        state and traces are not included: a restored learner starts new trials.
        """
        G, ctl = self._full_G()
        d = self._counter_state()
        rows = ("acc", "m", "v") if self.optimizer == "adam" else ("acc",)
        for j, k in enumerate(PARAM_NAMES):
            if k in self.trainable:
                o = ctl[_L.C_SEG + j]
                shape = getattr(self.net, k).shape
                for r, name in enumerate(rows):
                    d[f"{name}_{k}"] = G[r, o:o + self._psize[k]].reshape(shape).copy()
        return d

    def load_state_dict(self, d) -> None:
        """Restore what :meth:`state_dict` returned (same rule, optimiser and trainable).

        The accumulated sums are restored for every trained parameter, so a learner that
        sent its recurrent contributions straight into the weights (see the class notes)
        holds the full accumulator from here on."""
        self._check_state_keys(d)
        if self._ctl[_L.C_KEEP]:
            self._hold_all()
        ctl = self._ctl
        rows = ("acc", "m", "v") if self.optimizer == "adam" else ("acc",)
        for j, k in enumerate(PARAM_NAMES):
            if k in self.trainable:
                o = ctl[_L.C_SEG + j]
                shape = getattr(self.net, k).shape
                for r, name in enumerate(rows):
                    a = check_array(f"{name}_{k}", d[f"{name}_{k}"], shape, self._dt)
                    self._G[r, o:o + self._psize[k]] = a.reshape(-1)
        self._load_counters(d)
        ctl[_L.C_LAZY] = 0

    def reset(self, h0=None) -> None:
        """Start new trials: state to ``h0`` (or the constructor's ``h0``, else zeros),
        traces and influence matrices to zero.  Weights, optimiser state and a partial
        gradient window are kept (see the class notes)."""
        h = self._check_h0(h0)
        if h is None:
            h = self._h0
        S = self._S
        if self._ctl[_L.C_KEEP]:   # E[:, 1] keeps the last contribution's traces
            self._E[:, 0] = 0.0
        else:
            _k.materialise(self._E, S, self._G, self._ctl)  # before the traces are cleared
            self._E[...] = 0.0
        S[_L.S_H] = 0.0 if h is None else h
        if self.net.form == "current":
            apply_phi(S[_L.S_H], kernel_code(self.net.activation, self._dt), S[_L.S_R])
        self._M[...] = 0.0
        self._ctl[_L.C_PAR] = 0

    # ------------------------------------------------------------- inspection
    @property
    def state(self) -> np.ndarray:
        """(B, N) copy of the current state h_t (current form) or a_t (rate form)."""
        return self._S[_L.S_H].copy()

    @property
    def grads(self) -> Dict[str, np.ndarray]:
        """Copies of the accumulated gradients of the trainable parameters: the sum of the
        step contributions of the current window (after an update, of the window just
        applied, until the next contributing step starts a new one)."""
        G, ctl = self._G, self._ctl
        if ctl[_L.C_LAZY] or ctl[_L.C_KEEP]:  # the last step went straight into the weights
            G, ctl = self._full_G()
        out = {}
        shapes = {k: getattr(self.net, k).shape for k in PARAM_NAMES}
        for j, k in enumerate(PARAM_NAMES):
            if k in self.trainable:
                o = ctl[_L.C_SEG + j]
                out[k] = G[0, o:o + self._psize[k]].reshape(shapes[k]).copy()
        return out

    @property
    def traces(self) -> Dict[str, np.ndarray]:
        """Copies of the learning state per stream: ``ebar, xbar, bbar`` (e-prop/RFLO,
        current form), ``p, q, pb`` (rate form) or ``M`` (RTRL, (B, N, P), columns
        W, W_in, b of the trained ones)."""
        if self.rule == "rtrl":
            M = self._M
            if not M.size:
                return {"M": np.zeros((self.batch_size, self.net.n_rec, 0), self._dt)}
            return {"M": M[int(self._ctl[_L.C_PAR])].copy()}
        rows = self._E if self.net.form == "rate" else self._E[:, 0]
        return {name: (rows[..., c0] if c1 - c0 == 1 else rows[..., c0:c1]).copy()
                for name, _, _, (c0, c1) in self._blocks()}

    def _blocks(self):
        """This learner's trace blocks (:func:`localrnn.kernels.online_layout.trace_blocks`)."""
        return _L.trace_blocks(self.rule, self.net.form, self.net.n_rec, self.net.n_in, self._PM)

    def memory(self) -> Dict[str, int]:
        """Floats of memory by role (counts, not bytes), as held now.

        ``state_per_stream``: h (N) -- the rate r = phi(h) is derived; ``traces_per_stream``:
        eligibility traces serving the trained parameters (e-prop/RFLO) or the influence
        matrix (RTRL, N x P); ``synapses``: trained recurrent-side parameters (W, W_in,
        b) -- what the traces serve; ``readout``: trained W_out, b_out entries;
        ``accumulator``: gradient sums kept between steps -- with SGD every step, one
        stream and a local rule in the current form the recurrent side has none, only
        the N + I + 1 traces of the last contribution (to rebuild :attr:`grads`);
        ``optimizer``: Adam moments; ``workspace``: everything else the step kernel
        holds -- per-step vectors (6 N + 2 O per stream), RTRL's second influence buffer
        (N x P per stream: J M cannot be computed in place) and its N x N Jacobian,
        scratch vectors, and trace columns of untrained parameters.

        ``B * (state_per_stream + traces_per_stream) + accumulator + optimizer +
        workspace`` is every float of the arrays the step kernel works in; the network's
        parameters, a random feedback matrix and a few O(B O) constants come on top.
        """
        N, I, B = self.net.n_rec, self.net.n_in, self.batch_size
        syn = sum(self._psize[k] for k in RECURRENT_PARAMS if k in self.trainable)
        traces = sum(int(np.prod(shape)) for _, shape, k, _ in self._blocks()
                     if k is None or k in self.trainable)
        ro = sum(self._psize[k] for k in READOUT_PARAMS if k in self.trainable)
        g = self._G.shape[1]
        keep = B * (N + I + 1) if self._ctl[_L.C_KEEP] else 0
        # the buffer holds the state h (B N, the first row of S), the traces of trained
        # parameters, the kept traces; everything else in it is workspace
        work = self._layout().size - B * N - B * traces - keep
        return {"state_per_stream": N, "traces_per_stream": traces, "synapses": syn,
                "readout": ro, "accumulator": g + keep,
                "optimizer": 2 * g if self.optimizer == "adam" else 0, "workspace": work}

    def memory_per_synapse(self) -> float:
        """Floats of learning state (traces) per trained recurrent-side synapse, per stream.

        The neuromorphic headline figure: e-prop/RFLO in the current form keep
        (N + I + 1) floats for N (N + I + 1) synapses, i.e. 1/N; the rate form one per
        synapse; RTRL N per synapse (the N x P influence matrix).
        """
        m = self.memory()
        return m["traces_per_stream"] / m["synapses"] if m["synapses"] else 0.0

    # ------------------------------------------------------------- slow checks
    def _check_step_x(self, x):
        return check_array("x", x, self._xshape, self._dt)

    def _check_step_target(self, target):
        if self.loss == "mse":
            return check_array("target", target, self._tshape, self._dt)
        return check_labels("target", target, self._tshape, self.net.n_out)

    def _check_step_mask(self, mask):
        m = np.asarray(mask)
        if self.loss == "mse" and m.shape == (self.batch_size,):
            m = check_array("mask", m, (self.batch_size,), self._dt)
            self._mbuf[:] = m[:, None]
            m = self._mbuf
        else:
            m = check_array("mask", m, self._mshape, self._dt)
        if m.size and m.min() < 0:
            raise ValueError(f"mask has a negative entry {float(m.min())!r}; mask entries must be >= 0")
        return m
