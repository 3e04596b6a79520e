"""The leaky rate RNN's parameters (MODEL.md sections 1-2)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Dict

import numpy as np

from ._validate import check_array, check_choice, check_dtype, check_number
from .activations import ACTIVATIONS

from .names import FEEDBACKS, FORMS, PARAM_NAMES  # noqa: E402  (FORMS, PARAM_NAMES: re-exported)
W_INIT = ("normal", "orthogonal")
W_OUT_INIT = ("unit", "normal")


def check_trainable(trainable) -> tuple:
    """The trainable parameter names in ``PARAM_NAMES`` order (``None``: all of them).

    ``ValueError`` for a string (a common slip for a one-name list) or an unknown name.
    """
    if trainable is None:
        return PARAM_NAMES
    if isinstance(trainable, str):
        raise ValueError(f"trainable={trainable!r} must be a list of names from "
                         f"{', '.join(PARAM_NAMES)}, not a string")
    trainable = tuple(trainable)
    for name in trainable:
        check_choice("trainable entry", name, PARAM_NAMES)
    return tuple(k for k in PARAM_NAMES if k in trainable)


@dataclass
class Network:
    """A leaky rate RNN.

    Attributes
    ----------
    W_in : (N, I) input weights
    W : (N, N) recurrent weights
    b : (N,) recurrent bias
    W_out : (O, N) readout weights
    b_out : (O,) readout bias
    alpha : float
        ``dt / tau`` in (0, 1].
    activation : {"tanh", "relu", "softplus", "retanh"}
    form : {"current", "rate"}
        ``"current"``: state h, rate r = phi(h) (Schuessler et al. 2020, Liu et al. 2024);
        ``"rate"``: state a, pre-activation u (Murray 2019).
    """

    W_in: np.ndarray
    W: np.ndarray
    b: np.ndarray
    W_out: np.ndarray
    b_out: np.ndarray
    alpha: float
    activation: str = "tanh"
    form: str = "current"
    meta: Dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        check_number("alpha", self.alpha, lo=0.0, hi=1.0, lo_open=True)
        self.alpha = float(self.alpha)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("form", self.form, FORMS)
        W = np.asarray(self.W)
        if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 1:
            raise ValueError(f"W has shape {W.shape}; expected a square (N, N) matrix with N >= 1")
        dt = W.dtype if W.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        N = W.shape[0]
        self.W = check_array("W", W, (N, N), dt)
        self.W_in = check_array("W_in", self.W_in, (N, None), dt)
        self.b = check_array("b", self.b, (N,), dt)
        self.W_out = check_array("W_out", self.W_out, (None, N), dt)
        O = self.W_out.shape[0]
        if O < 1:
            raise ValueError("W_out has 0 rows; expected at least one output")
        self.b_out = check_array("b_out", self.b_out, (O,), dt)

    # ------------------------------------------------------------------ sizes
    @property
    def n_rec(self) -> int:
        return self.W.shape[0]

    @property
    def n_in(self) -> int:
        return self.W_in.shape[1]

    @property
    def n_out(self) -> int:
        return self.W_out.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.W.dtype

    # ------------------------------------------------------------ construction
    @classmethod
    def init(cls, n_in: int, n_rec: int, n_out: int, gain: float = 1.0, alpha: float = 0.5,
             activation: str = "tanh", form: str = "current", seed: int = 0,
             dtype="float64", w_init: str = "normal", w_out_init: str = "unit") -> "Network":
        """A network initialised as MODEL.md section 2.

        ``W = gain * Z / sqrt(N)`` with Z standard normal (``w_init="orthogonal"``:
        a random orthogonal matrix times ``gain``).  Each column of ``W_in`` is a
        standard-normal vector scaled to length ``sqrt(N)``; each row of ``W_out`` a
        standard-normal vector scaled to length ``1/sqrt(N)`` (``w_out_init="normal"``:
        entries N(0, 1/N)).  Biases are zero.  Schuessler et al. (2020).

        The draws come from ``numpy.random.default_rng(seed)`` in a fixed order
        (W, W_in, W_out), so a seed gives the same network bit for bit.

        Examples
        --------
        >>> net = Network.init(1, 64, 2, gain=0.5, alpha=0.5, seed=1)
        >>> net.W.shape, net.W_in.shape, net.W_out.shape
        ((64, 64), (64, 1), (2, 64))
        """
        n_in = check_number("n_in", n_in, lo=0, integer=True)
        n_rec = check_number("n_rec", n_rec, lo=1, integer=True)
        n_out = check_number("n_out", n_out, lo=1, integer=True)
        gain = check_number("gain", gain, lo=0.0)
        check_number("alpha", alpha, lo=0.0, hi=1.0, lo_open=True)
        check_number("seed", seed, lo=0, integer=True)
        check_choice("w_init", w_init, W_INIT)
        check_choice("w_out_init", w_out_init, W_OUT_INIT)
        dt = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        N = n_rec
        Z = rng.standard_normal((N, N))
        with np.errstate(over="ignore"):
            if w_init == "normal":
                W = gain * Z / np.sqrt(N)
            else:
                q, r = np.linalg.qr(Z)
                W = gain * q * np.sign(np.diag(r))
            finite = bool(np.all(np.isfinite(W.astype(dt))))
        if not finite:
            raise ValueError(f"gain={gain!r} is too large: the recurrent weights overflow {dt.name}; "
                             "give a gain whose weights g Z / sqrt(N) are finite (gains of order 1 are usual)")
        W_in = rng.standard_normal((N, n_in))
        if n_in:
            W_in *= np.sqrt(N) / np.linalg.norm(W_in, axis=0, keepdims=True)
        W_out = rng.standard_normal((n_out, N))
        if w_out_init == "unit":
            W_out /= np.sqrt(N) * np.linalg.norm(W_out, axis=1, keepdims=True)
        else:
            W_out /= np.sqrt(N)
        return cls(W_in=W_in.astype(dt), W=W.astype(dt), b=np.zeros(N, dt),
                   W_out=W_out.astype(dt), b_out=np.zeros(n_out, dt), alpha=alpha,
                   activation=activation, form=form,
                   meta=dict(gain=gain, seed=seed, w_init=w_init, w_out_init=w_out_init))

    # ----------------------------------------------------------------- helpers
    def params(self) -> Dict[str, np.ndarray]:
        """The trainable arrays, keyed like :func:`localrnn.gradient`'s result."""
        return {k: getattr(self, k) for k in PARAM_NAMES}

    def copy(self) -> "Network":
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in PARAM_NAMES:
            kw[k] = kw[k].copy()
        kw["meta"] = dict(self.meta)
        return Network(**kw)

    def astype(self, dtype) -> "Network":
        dt = check_dtype(dtype)
        net = self.copy()
        for k in PARAM_NAMES:
            setattr(net, k, np.ascontiguousarray(getattr(net, k), dtype=dt))
        return net


def rule_feedback(rule: str, feedback=None):
    """The feedback a local rule uses: ``feedback``, or the rule's default when None
    (symmetric for e-prop, random for RFLO)."""
    return feedback if feedback is not None else ("random" if rule == "rflo" else "symmetric")


def feedback_matrix(net: Network, feedback=None, rule: str = "eprop", seed: int = 0) -> np.ndarray:
    """The feedback matrix F (N, O) of MODEL.md section 5.

    ``"symmetric"``: ``W_out.T``; ``"random"``: B with entries N(0, 1/O) drawn from
    ``default_rng(seed)`` (the same B for the same seed and sizes); an array is used
    as given.  ``None`` picks the rule's default: symmetric for e-prop, random for RFLO.
    """
    N, O = net.n_rec, net.n_out
    feedback = rule_feedback(rule, feedback)
    if isinstance(feedback, str):
        check_choice("feedback", feedback, FEEDBACKS)
        if feedback == "symmetric":
            return np.ascontiguousarray(net.W_out.T)
        check_number("seed", seed, lo=0, integer=True)
        rng = np.random.default_rng([int(seed), 0xFEEDBAC])
        return (rng.standard_normal((N, O)) / np.sqrt(O)).astype(net.dtype)
    return check_array("feedback", feedback, (N, O), net.dtype)
