"""Fixed-point online learning: :class:`QuantizedOnlineLearner` (issue 11, part c).

The :class:`localrnn.OnlineLearner` step (MODEL.md sections 1, 3 and 5; e-prop and RFLO,
current and rate form, SGD with an update every step) in integer arithmetic, as a
neuromorphic chip would run it: weights, states, traces, the learning signal and the
accumulators each live in their own two's-complement fixed-point format given by a
:class:`~localrnn.neuromorphic.quantspec.QuantSpec` (e.g. ``"w8,s16,t12,acc32"``),
every conversion to a narrower format rounds (to nearest, or stochastically from a
seeded PCG32 stream kept in the learner) and saturates, and phi, phi' come from look-up
tables with linear interpolation.  The arithmetic, step by step, is written out in
:mod:`localrnn.kernels.fixed_online`; ``tests/fixed_ref.py`` is an independent
plain-Python implementation of the same rules, checked bit for bit.

Formats
-------
``w``: every weight array (W_in, W, b, W_out, b_out and a random feedback matrix F)
shares the spec's ``w`` word length; the fractional bits are the spec's unless
``weight_frac`` gives them per array.  ``s``: h, r = phi(h) (current form), u, a,
phi(u) (rate form), outputs y and y - y*, inputs x and targets (rounded to nearest
once, when they enter).  ``t``: traces.  ``l``: the learning signal and the output error
delta (as the spec defines them).  ``acc``:
dot products, gradient sums.  A quantity the spec leaves in float64 is held in 32 bits
with the spec's default fractional bits (``default_frac(q, 32)``).  The engine needs
every width <= 32 bits (so every intermediate product fits in an int64).

Constants
---------
* alpha: ``Aq = round(alpha * 2**15)``, ``Kq = 2**15 - Aq`` (1.15 format, as ReckOn's
  leak), so the effective alpha is ``Aq / 2**15`` (|error| <= 2**-16).
* learning rate: a fixed-point multiplier ``eta_q = round(lr * 2**30)`` per parameter
  (``lr < 2``); per contributing step ``eta_t = round(eta_q / n_t)`` with the step's mask
  count ``n_t`` (the loss normalisation of MODEL.md section 3, one integer division per
  step; a chip with a constant ``n_t`` folds it into ``eta_q``), and the update is
  ``W -= (eta_t * g) >> (30 + f_acc - f_w)`` rounded.  A power-of-two rate ``2**-k`` is
  the special case ``eta_q = 2**(30-k)`` (the product is then a shift).
* phi, phi': tables of ``2**lut_bits + 1`` knots spanning the whole state range (default
  ``lut_bits = 8``: 257 knots, segment width ``2**(s_bits - 8 - s_frac)``, 1/16 for
  ``s16.12``), values rounded to nearest in the state format, linear interpolation
  between knots.  For tanh the interpolation error is at most ``width**2 / 8 * max|phi''|
  ~ 0.096 width**2`` (3.8e-4 at width 1/16).

Only the MSE loss with a 0/1 mask, SGD, one update per contributing step and no
state noise are supported.

The learner is a :class:`localrnn.learners.Learner` (``learn`` from
:class:`~localrnn.learners.StreamingLearner`); :meth:`QuantizedOnlineLearner.saved_arrays`
gives the integer weights and their scales, which a run saves in ``weights.npz``.
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Tuple, Union

import numpy as np

from .._validate import check_choice, check_number
from ..activations import dphi as _dphi_np, phi as _phi_np
from ..kernels import fixed_online as _k
from ..learners import StreamingLearner
from ..names import LOCAL_RULES, PARAM_NAMES
from ..network import Network, check_trainable, feedback_matrix, rule_feedback
from .quantspec import QuantSpec, default_frac

#: Widest word the integer engine supports.
MAX_ENGINE_BITS = 32


def quantize_array(a, frac: int, bits: int) -> np.ndarray:
    """``sat(floor(a * 2**frac + 1/2))`` as int64: round to nearest (ties up), saturate."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    q = np.floor(a * 2.0 ** frac + 0.5)
    return np.clip(q, lo, hi).astype(np.int64)


def engine_formats(spec: QuantSpec) -> Dict[str, Tuple[int, int]]:
    """``{q: (bits, frac)}`` for w, s, t, l, acc as the engine uses them (a float64
    quantity becomes 32 bits with the default fractional bits)."""
    out = {}
    for q in ("w", "s", "t", "l", "acc"):
        if spec.is_float(q):
            out[q] = (32, default_frac(q, 32))
        else:
            b, f = spec.bits(q), spec.frac(q)
            if b > MAX_ENGINE_BITS:
                raise ValueError(f"quantisation spec field {q}{b}.{f}: the integer engine "
                                 f"allows at most {MAX_ENGINE_BITS} bits per quantity")
            out[q] = (b, f)
    return out


def lut_tables(activation: str, s_bits: int, s_frac: int, lut_bits: int = 8):
    """The (2, K) int64 knot tables of phi and phi' and the segment shift ``sh``.

    Knots ``x_k = (smin + k 2**sh) 2**-s_frac``, ``k = 0 .. 2**(s_bits - sh)``,
    ``sh = max(0, s_bits - lut_bits)``; values ``round(phi(x_k) 2**s_frac)`` saturated.
    """
    lut_bits = check_number("lut_bits", lut_bits, lo=1, hi=16, integer=True)
    sh = max(0, s_bits - lut_bits)
    K = 2 ** (s_bits - sh) + 1
    smin = -(2 ** (s_bits - 1))
    xk = (smin + np.arange(K, dtype=np.float64) * 2.0 ** sh) * 2.0 ** (-s_frac)
    tab = np.stack([quantize_array(_phi_np(xk, activation), s_frac, s_bits),
                    quantize_array(_dphi_np(xk, activation), s_frac, s_bits)])
    return np.ascontiguousarray(tab), sh


def pcg_seed(seed: int, stream: int = 0) -> np.ndarray:
    """PCG32 state ``[state, inc]`` (uint64) seeded as O'Neill's ``pcg32_srandom(seed, stream)``."""
    m = (1 << 64) - 1
    inc = ((int(stream) << 1) | 1) & m
    mult = 6364136223846793005
    state = 0
    state = (state * mult + inc) & m
    state = (state + int(seed)) & m
    state = (state * mult + inc) & m
    return np.array([state, inc], dtype=np.uint64)


class QuantizedOnlineLearner(StreamingLearner):
    r"""Integer (fixed-point) online learner: e-prop or RFLO, SGD, B parallel streams.

    The float :class:`localrnn.OnlineLearner` step with ``optimizer="sgd"``,
    ``update_every=1``: forward (MODEL.md section 1), the step's masked MSE and output
    error, the learning signal ``L_t = phi'(h_t) (F delta_t)`` (current form) or
    ``F delta_t`` (rate form), eligibility traces (section 5) and
    ``theta -= lr/n_t * sum_b L_t e_t`` -- all in integers with the formats of ``spec``
    (rounding and saturation as in :mod:`localrnn.kernels.fixed_online`).

    Parameters
    ----------
    net : Network
        Initial weights (rounded to nearest into the weight format).  ``learner.net`` is
        this object; after every :meth:`step` / :meth:`run` its arrays hold the float
        values of the integer weights (``int * 2**-frac``).
    rule : {"eprop", "rflo"}
    lr : float or dict
        Learning rate (``< 2``) or a dict name -> rate (missing names 0); quantised to
        ``round(lr * 2**30)``.
    spec : str or QuantSpec
        Formats and rounding, e.g. ``"w16,s16,t16,l16,acc32,round=stochastic"``.
    feedback : None, "symmetric", "random" or (N, O) array
        As :class:`localrnn.OnlineLearner` (e-prop symmetric, RFLO random by default);
        a fixed F is rounded into the weight format (``weight_frac["F"]`` or the spec's).
    loss : {"mse"}
    seed : int
        Seed of the random feedback (as the float learner) and of the PCG32 stream of
        stochastic rounding (``pcg_seed(seed)``).
    batch_size : int
    trainable : iterable of names, optional
        Default all five parameters.
    h0 : array, optional
        Initial state (rounded into the state format).
    weight_frac : dict, optional
        Fractional bits per weight array (``"W_in", "W", "b", "W_out", "b_out", "F"``),
        overriding the spec's ``w`` fractional bits.
    lut_bits : int
        log2 of the number of table segments (default 8).
    """

    _C_NSTEP, _C_NUPD = _k.C_NSTEP, _k.C_NUPD
    _no_noise = "the integer learner"
    _state_keys = "QuantizedOnlineLearner.state_dict()"

    def __init__(self, net: Network, rule: str = "eprop", lr: Union[float, Mapping] = 1e-3,
                 spec: Union[str, QuantSpec] = "w16,s16,t16,l16,acc32", feedback=None,
                 loss: str = "mse", seed: int = 0, batch_size: int = 1,
                 trainable: Optional[Iterable[str]] = None, h0=None,
                 weight_frac: Optional[Mapping[str, int]] = None, lut_bits: int = 8):
        if not isinstance(net, Network):
            raise ValueError(f"net is a {type(net).__name__}; expected a localrnn.Network")
        check_choice("rule", rule, LOCAL_RULES)
        check_choice("loss", loss, ("mse",))
        self.seed = check_number("seed", seed, lo=0, integer=True)
        B = self.batch_size = check_number("batch_size", batch_size, lo=1, integer=True)
        self.spec = QuantSpec.parse(spec)
        if self.spec.is_float64:
            raise ValueError("quantisation spec 'float64' quantises nothing; give formats "
                             "such as w8,s16,t12,acc32 (or use localrnn.OnlineLearner)")
        fm = self.formats = engine_formats(self.spec)
        self.trainable = check_trainable(trainable)
        self.net, self.rule, self.loss = net, rule, loss
        self.lut_bits = lut_bits
        N, I, O = net.n_rec, net.n_in, net.n_out
        wb, wf = fm["w"]
        wfrac = {k: wf for k in PARAM_NAMES + ("F",)}
        if weight_frac is not None:
            for k, v in dict(weight_frac).items():
                check_choice("weight_frac key", k, PARAM_NAMES + ("F",))
                wfrac[k] = check_number(f"weight_frac[{k!r}]", v, lo=0, hi=wb - 1, integer=True)
        fb = rule_feedback(rule, feedback)
        self._symmetric = isinstance(fb, str) and fb == "symmetric"
        if self._symmetric:
            wfrac["F"] = wfrac["W_out"]
        self.weight_frac = wfrac

        # ---- integer weights
        self._w = {k: quantize_array(getattr(net, k), wfrac[k], wb) for k in PARAM_NAMES}
        if self._symmetric:
            self._FT = self._w["W_out"]
        else:
            F = feedback_matrix(net, fb, rule, self.seed)
            self._FT = np.ascontiguousarray(quantize_array(F, wfrac["F"], wb).T)

        # ---- control block
        ctl = np.zeros(_k.N_CTL, dtype=np.int64)
        ctl[_k.C_FORM] = 1 if net.form == "rate" else 0
        ctl[_k.C_ROUND] = 1 if self.spec.rounding == "stochastic" else 0
        (ctl[_k.C_SB], ctl[_k.C_SF]), (ctl[_k.C_TB], ctl[_k.C_TF]) = fm["s"], fm["t"]
        (ctl[_k.C_LB], ctl[_k.C_LF]), (ctl[_k.C_AB], ctl[_k.C_AF]) = fm["l"], fm["acc"]
        ctl[_k.C_WB] = wb
        for j, k in enumerate(PARAM_NAMES + ("F",)):
            ctl[_k.C_WF + j] = wfrac[k]
        aq = int(np.floor(net.alpha * 2 ** _k.ALPHA_FRAC + 0.5))
        ctl[_k.C_AQ] = aq
        self.alpha_q = aq / 2 ** _k.ALPHA_FRAC
        self._lut, ctl[_k.C_LUTSH] = lut_tables(net.activation, *fm["s"], lut_bits)
        self._ctl = ctl
        self.set_lr(lr)

        # ---- state
        self._S = np.zeros((_k.N_S, B, N), dtype=np.int64)
        self._Y = np.zeros((2, B, O), dtype=np.int64)
        Z = N + I + 1
        self._E = np.zeros((B, N, Z) if net.form == "rate" else (B, 1, Z), dtype=np.int64)
        self._rng = pcg_seed(self.seed)
        self._h0 = self._check_h0(h0)
        self._head = (self._w["W_in"], self._w["W"], self._w["b"], self._w["W_out"],
                      self._w["b_out"], self._FT, self._S, self._Y, self._E, self._lut, ctl,
                      self._rng)
        self._sync()
        self.reset()

    # ------------------------------------------------------------------ settings
    def set_lr(self, lr: Union[float, Mapping]) -> None:
        """Learning rate(s) -> the multipliers ``eta_q = round(lr * 2**30)`` (0 for
        parameters not trained)."""
        if isinstance(lr, Mapping):
            unknown = sorted(set(lr) - set(PARAM_NAMES))
            if unknown:
                raise ValueError(f"lr has unknown parameter names {unknown}; allowed "
                                 f"{', '.join(PARAM_NAMES)}")
            rates = {k: check_number(f"lr[{k!r}]", lr.get(k, 0.0), lo=0.0, hi=2.0, hi_open=True)
                     for k in PARAM_NAMES}
        else:
            v = check_number("lr", lr, lo=0.0, hi=2.0, hi_open=True)
            rates = {k: v for k in PARAM_NAMES}
        for j, k in enumerate(PARAM_NAMES):
            q = int(np.floor(rates[k] * 2.0 ** _k.LR_FRAC + 0.5)) if k in self.trainable else 0
            if rates[k] > 0 and k in self.trainable and q == 0:
                raise ValueError(f"lr[{k!r}]={rates[k]!r} is below the multiplier's step "
                                 f"2**-{_k.LR_FRAC}; use 0 or a larger rate")
            self._ctl[_k.C_ETA + j] = q
        self.lr = rates

    # ------------------------------------------------------------------ data in
    def _qs(self, a):
        b, f = self.formats["s"]
        return quantize_array(a, f, b)

    def _mask01(self, m, shape):
        m = np.asarray(m, dtype=np.float64)
        if m.size and not np.all((m == 0.0) | (m == 1.0)):
            bad = m[(m != 0.0) & (m != 1.0)].flat[0]
            raise ValueError(f"mask has entry {float(bad)!r}; the integer learner allows "
                             "masks of 0 and 1 only")
        return np.ascontiguousarray(np.broadcast_to(m, shape)).astype(np.int64)

    # ---------------------------------------------------------------- stepping
    def step(self, x, target, mask=None, noise=None) -> float:
        """Advance all streams one step and learn; returns the step's loss (float, from
        the integer outputs).  x (B, I), target (B, O), mask (B, O) or (B,) of 0/1."""
        m = None if mask is None else np.asarray(mask, dtype=np.float64)[None]
        out = self.run(np.asarray(x, dtype=np.float64)[None],
                       np.asarray(target, dtype=np.float64)[None], m, noise)
        return float(out[0])

    def run(self, inputs, targets, mask=None, noise=None) -> np.ndarray:
        """Stream a (T, B, ...) sequence: inputs (T, B, I), targets (T, B, O), mask
        (T, B, O) or (T, B) of 0/1.  Returns the (T,) per-step losses."""
        net = self.net
        x, tg, m = self._check_run(inputs, targets, mask, noise)
        T, B, _ = x.shape
        X = np.ascontiguousarray(self._qs(x))
        TG = np.ascontiguousarray(self._qs(tg))
        MK = self._mask01(m, (T, B, net.n_out))
        losses = np.empty(T)
        _k.run(*self._head, X, TG, MK, losses)
        self._sync()
        return losses

    def reset(self, h0=None) -> None:
        """Start new trials: state to ``h0`` (or the constructor's, else zeros) rounded into
        the state format, traces to zero.  Weights and the random stream are kept."""
        h = self._h0 if h0 is None else self._check_h0(h0)
        S = self._S
        S[...] = 0
        if h is not None:
            S[_k.S_H] = self._qs(h)
        if self.net.form == "current":
            sb = self.formats["s"][0]
            S[_k.S_R] = _k.phi_lut(self._lut[0], np.ascontiguousarray(S[_k.S_H]),
                                   np.int64(-(2 ** (sb - 1))), np.int64(self._ctl[_k.C_LUTSH]))
        self._E[...] = 0

    # ------------------------------------------------------------- weights
    def _sync(self):
        for k in PARAM_NAMES:
            getattr(self.net, k)[...] = self._w[k] * 2.0 ** (-self.weight_frac[k])

    def weights_int(self) -> Dict[str, Tuple[np.ndarray, float]]:
        """``{name: (int64 copy, scale)}``; the real weight is ``int * scale``,
        ``scale = 2**-frac``."""
        return {k: (self._w[k].copy(), 2.0 ** (-self.weight_frac[k])) for k in PARAM_NAMES}

    def saved_arrays(self) -> Dict[str, np.ndarray]:
        """What a run saves with its float weights: ``int_<name>`` (int64) and
        ``scale_<name>`` (the real weight is ``int * scale``) per parameter."""
        out = {}
        for k, (v, scale) in self.weights_int().items():
            out["int_" + k], out["scale_" + k] = v, np.array(scale)
        return out

    def to_network(self) -> Network:
        """A float copy of the network with the current (integer) weights."""
        self._sync()
        return self.net.copy()

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> Dict[str, np.ndarray]:
        """Counters, the integer weights (``int_<name>``) and the random stream (``rng``).
        The streams' state and traces are not included: a restored learner starts new
        trials (as :meth:`localrnn.OnlineLearner.state_dict`)."""
        d = self._counter_state()
        d["rng"] = self._rng.copy()
        for k in PARAM_NAMES:
            d["int_" + k] = self._w[k].copy()
        return d

    def load_state_dict(self, d) -> None:
        """Restore what :meth:`state_dict` returned (same network shapes and spec)."""
        self._check_state_keys(d)
        lo, hi = -(2 ** (self.formats["w"][0] - 1)), 2 ** (self.formats["w"][0] - 1) - 1
        for k in PARAM_NAMES:
            a = np.asarray(d["int_" + k])
            if a.shape != self._w[k].shape or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"int_{k} has shape {a.shape} and dtype {a.dtype}; expected "
                                 f"integers of shape {self._w[k].shape}")
            if a.size and (a.min() < lo or a.max() > hi):
                raise ValueError(f"int_{k} has values outside the weight format [{lo}, {hi}]")
            self._w[k][...] = a
        rng = np.asarray(d["rng"])
        if rng.shape != (2,):
            raise ValueError(f"rng has shape {rng.shape}; expected (2,)")
        self._rng[...] = rng.astype(np.uint64)
        self._load_counters(d)
        self._sync()

    # ------------------------------------------------------------- inspection
    @property
    def state(self) -> np.ndarray:
        """(B, N) float copy of the current state (h or a)."""
        return self._S[_k.S_H] * 2.0 ** (-self.formats["s"][1])

    @property
    def state_int(self) -> np.ndarray:
        return self._S[_k.S_H].copy()

    @property
    def traces_int(self) -> np.ndarray:
        """Integer traces: (B, 1, N+I+1) ebar|xbar|bbar or (B, N, N+I+1) p|q|pb."""
        return self._E.copy()

    @property
    def feedback(self) -> np.ndarray:
        """(N, O) float feedback in use (W_out^T if symmetric)."""
        return self._FT.T * 2.0 ** (-self.weight_frac["F"])

    def config(self) -> Dict:
        """What this learner uses (for summaries): formats, rounding, constants."""
        return {"spec": self.spec.to_string(), "formats": {k: list(v) for k, v in self.formats.items()},
                "rounding": self.spec.rounding, "weight_frac": dict(self.weight_frac),
                "alpha_q": self.alpha_q, "lr_frac": _k.LR_FRAC, "alpha_frac": _k.ALPHA_FRAC,
                "lut_bits": self.lut_bits, "lut_knots": int(self._lut.shape[1])}


__all__ = ["QuantizedOnlineLearner", "quantize_array", "engine_formats", "lut_tables",
           "pcg_seed", "MAX_ENGINE_BITS"]
