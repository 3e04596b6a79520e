"""The spiking network's parameters (MODEL.md section 9)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from .._validate import check_array, check_choice, check_dtype, check_number
from ..kernels import spiking as _ks
from ..names import NEURON_OPTIONS, PARAM_NAMES, RESETS, SPIKING_MODELS, SPIKING_SCALAR_OPTIONS
from ..network import ParamArrays


#: The neuron options a :class:`SpikingNetwork` stores (besides ``model``), in order.
SCALAR_OPTIONS = SPIKING_SCALAR_OPTIONS


def check_neuron_scalars(model: str, opts: Dict) -> Dict:
    """``opts`` (every name of :data:`SCALAR_OPTIONS`) checked for ``model``, as floats
    (``refractory`` an int); ``ValueError`` naming the first bad value."""
    check_choice("model", model, SPIKING_MODELS)
    out = {"reset": check_choice("reset", opts["reset"], RESETS)}
    for name in ("dt", "tau_m", "tau_a", "tau_out", "v_th", "gamma"):
        out[name] = check_number(name, opts[name], lo=0.0, lo_open=True)
    out["v_reset"] = v_reset = check_number("v_reset", opts["v_reset"])
    if out["reset"] == "set" and not v_reset < out["v_th"]:
        raise ValueError(f"v_reset={opts['v_reset']!r} is out of range; with reset='set' it must be "
                         f"below v_th={out['v_th']!r}")
    if out["reset"] == "subtract" and v_reset != 0.0:
        raise ValueError(f"v_reset={opts['v_reset']!r} is only for reset='set'; with "
                         "reset='subtract' leave it 0")
    out["refractory"] = check_number("refractory", opts["refractory"], lo=0, integer=True)
    return out


def check_neuron_options(model: str, n_rec: int, opts: Dict) -> Dict:
    """The keyword arguments of :meth:`SpikingNetwork.init` in ``opts`` (names of
    :data:`NEURON_OPTIONS`; missing ones take ``init``'s defaults) checked for ``model``
    and ``n_rec`` neurons, without building a network.  Returns every scalar option and,
    for ALIF, ``beta`` (a number) and ``n_adaptive`` (an int); ``ValueError`` naming the
    first bad value or an unknown name."""
    if not isinstance(opts, dict):
        raise ValueError(f"neuron={opts!r} must be a table of neuron options "
                         f"({', '.join(NEURON_OPTIONS)})")
    for k in opts:
        check_choice("neuron option", k, NEURON_OPTIONS)
    full = {**NEURON_DEFAULTS, **{k: v for k, v in opts.items() if v is not None}}
    out = check_neuron_scalars(model, full)
    beta, na = opts.get("beta"), opts.get("n_adaptive")
    if model == "lif":
        if beta is not None and beta != 0:
            raise ValueError(f"beta={beta!r} is only for model='alif'")
        if na is not None and na != 0:
            raise ValueError(f"n_adaptive={na!r} is only for model='alif'")
        return out
    out["beta"] = check_number("beta", 1.6 if beta is None else beta, lo=0.0)
    out["n_adaptive"] = n_rec if na is None else check_number("n_adaptive", na, lo=0, hi=n_rec,
                                                              integer=True)
    return out


#: :meth:`SpikingNetwork.init`'s defaults of the scalar options (Bellec et al.'s).
NEURON_DEFAULTS = dict(reset="subtract", dt=1.0, tau_m=20.0, tau_a=200.0, tau_out=20.0, v_th=0.03,
                       v_reset=0.0, refractory=0, gamma=0.3)


@dataclass
class SpikingNetwork(ParamArrays):
    """A recurrent network of LIF or ALIF neurons with a leaky-integrator readout.

    The dynamics are MODEL.md section 9 (Bellec et al. 2020, the ``EligALIF`` cell of
    their e-prop tutorials): per step of ``dt``,
    ``v_t = alpha v_{t-1} + W_in x_t + b + W z_{t-1}`` minus the reset, a spike
    ``z_t = H(v_t - A_t)``, the threshold ``A_t = v_th + beta b_t`` with
    ``b_t = rho b_{t-1} + z_{t-1}`` (ALIF; ``A_t = v_th`` for LIF), and the output
    ``y_t = kappa y_{t-1} + (1 - kappa)(W_out z_t + b_out)``.

    It is a class of its own, not a :class:`localrnn.Network`: its dynamics, state and
    options differ (no activation, no form), and a rate driver handed one must fail
    instead of running rate dynamics.  Both share :class:`localrnn.network.ParamArrays`:
    the parameter names (``PARAM_NAMES``: ``W_in, W, b, W_out, b_out``), their checks,
    ``params``/``copy``/``astype``/``n_rec``/``n_in``/``n_out``/``dtype``, so optimisers,
    feedback matrices and checkpoints treat both alike.

    Attributes
    ----------
    W_in : (N, I) input weights
    W : (N, N) recurrent weights, zero diagonal (no self-connections; the diagonal
        gets no gradient, so it stays zero under training)
    b : (N,) constant input current
    W_out : (O, N) readout weights
    b_out : (O,) readout bias (inside the leaky readout)
    beta : (N,) threshold adaptation per neuron (ALIF; all zero for LIF)
    model : {"lif", "alif"}
    reset : {"subtract", "set"}
        After a spike, v loses v_th (Bellec et al. 2020) or is set to ``v_reset``
        (NIR's LIF) at the next step.
    dt : float > 0
        Time step (ms in the tasks).
    tau_m, tau_a, tau_out : float > 0
        Membrane, adaptation and readout time constants: ``alpha = exp(-dt/tau_m)``,
        ``rho = exp(-dt/tau_a)``, ``kappa = exp(-dt/tau_out)``.
    v_th : float > 0
        Threshold (and the scale of the pseudo-derivative).
    v_reset : float
        Voltage after a spike with ``reset="set"`` (below ``v_th``); must be 0 with
        ``"subtract"``.
    refractory : int >= 0
        Steps after a spike during which the neuron cannot spike (Bellec's ``n_ref`` is
        one more: it counts the spike's own step).
    gamma : float > 0
        Height of the pseudo-derivative (Bellec's dampening factor, 0.3).
    """

    W_in: np.ndarray
    W: np.ndarray
    b: np.ndarray
    W_out: np.ndarray
    b_out: np.ndarray
    beta: np.ndarray
    model: str = "lif"
    reset: str = "subtract"
    dt: float = 1.0
    tau_m: float = 20.0
    tau_a: float = 200.0
    tau_out: float = 20.0
    v_th: float = 0.03
    v_reset: float = 0.0
    refractory: int = 0
    gamma: float = 0.3
    meta: Dict = field(default_factory=dict, compare=False)

    _COPIED = PARAM_NAMES + ("beta",)

    def __post_init__(self):
        for k, v in check_neuron_scalars(self.model, {k: getattr(self, k) for k in SCALAR_OPTIONS}).items():
            setattr(self, k, v)
        self._check_params()
        diag = np.diagonal(self.W)
        if np.any(diag != 0.0):
            j = int(np.flatnonzero(diag != 0.0)[0])
            raise ValueError(f"W has a self-connection W[{j}, {j}] = {float(diag[j])!r}; the "
                             "diagonal of a spiking network's W must be 0")
        self.beta = check_array("beta", self.beta, (self.n_rec,), self.dtype)
        if np.any(self.beta < 0):
            raise ValueError(f"beta has a negative entry {float(self.beta.min())!r}; threshold "
                             "adaptation must be >= 0")
        if self.model == "lif" and np.any(self.beta != 0):
            raise ValueError("beta is only for model='alif'; a LIF network's beta must be all 0")

    # ------------------------------------------------------------------ decays
    @property
    def alpha(self) -> float:
        """Membrane decay per step, exp(-dt / tau_m) (a retention factor, not §1's dt/tau)."""
        return math.exp(-self.dt / self.tau_m)

    @property
    def rho(self) -> float:
        """Adaptation decay per step, exp(-dt / tau_a)."""
        return math.exp(-self.dt / self.tau_a)

    @property
    def kappa(self) -> float:
        """Readout decay per step, exp(-dt / tau_out)."""
        return math.exp(-self.dt / self.tau_out)

    def kernel_scalars(self):
        """(prm, mode): the scalars as the kernels take them (``kernels.spiking``)."""
        prm = np.zeros(_ks.N_PRM)
        prm[_ks.P_ALPHA], prm[_ks.P_RHO], prm[_ks.P_KAPPA] = self.alpha, self.rho, self.kappa
        prm[_ks.P_VTH], prm[_ks.P_VRESET], prm[_ks.P_GAMMA] = self.v_th, self.v_reset, self.gamma
        mode = np.zeros(_ks.N_MODE, dtype=np.int64)
        mode[_ks.M_ALIF] = 1 if self.model == "alif" else 0
        mode[_ks.M_SET] = 1 if self.reset == "set" else 0
        mode[_ks.M_NREF] = self.refractory
        return prm, mode

    # ------------------------------------------------------------ construction
    @classmethod
    def init(cls, n_in: int, n_rec: int, n_out: int, model: str = "lif", *, gain: float = 1.0,
             seed: int = 0, dtype="float64", reset: str = "subtract", dt: float = 1.0,
             tau_m: float = 20.0, tau_a: float = 200.0, tau_out: float = 20.0,
             v_th: float = 0.03, v_reset: float = 0.0, beta: Optional[float] = None,
             n_adaptive: Optional[int] = None, refractory: int = 0,
             gamma: float = 0.3) -> "SpikingNetwork":
        """A network initialised as Bellec et al.'s ``EligALIF`` cell (their defaults).

        ``W = gain * Z / sqrt(N)`` with Z standard normal and a zero diagonal;
        ``W_in = Z' / sqrt(I)``; ``W_out = Z'' / sqrt(N)``; ``b = b_out = 0``.  The draws
        come from ``numpy.random.default_rng(seed)`` in the order W, W_in, W_out (as
        :meth:`localrnn.Network.init`), so a seed gives the same network bit for bit.

        ALIF: ``beta`` (default 1.6) for the last ``n_adaptive`` neurons (default all),
        0 for the others (Bellec's cue task: 50 LIF then 50 ALIF).  LIF takes neither.

        Examples
        --------
        >>> net = SpikingNetwork.init(4, 16, 2, model="alif", n_adaptive=8, seed=1)
        >>> net.W.shape, float(net.beta[:8].max()), float(net.beta[8:].min())
        ((16, 16), 0.0, 1.6)
        """
        n_in = check_number("n_in", n_in, lo=0, integer=True)
        n_rec = check_number("n_rec", n_rec, lo=1, integer=True)
        n_out = check_number("n_out", n_out, lo=1, integer=True)
        gain = check_number("gain", gain, lo=0.0)
        check_number("seed", seed, lo=0, integer=True)
        opts = check_neuron_options(model, n_rec, dict(
            reset=reset, dt=dt, tau_m=tau_m, tau_a=tau_a, tau_out=tau_out, v_th=v_th,
            v_reset=v_reset, beta=beta, n_adaptive=n_adaptive, refractory=refractory, gamma=gamma))
        dt_ = check_dtype(dtype)
        N = n_rec
        bvec = np.zeros(N)
        if model == "alif":
            bvec[N - opts.pop("n_adaptive"):] = opts.pop("beta")
        rng = np.random.default_rng(seed)
        W = gain * rng.standard_normal((N, N)) / np.sqrt(N)
        np.fill_diagonal(W, 0.0)
        W_in = rng.standard_normal((N, n_in)) / np.sqrt(max(n_in, 1))
        W_out = rng.standard_normal((n_out, N)) / np.sqrt(N)
        if not np.all(np.isfinite(W.astype(dt_))):
            raise ValueError(f"gain={gain!r} is too large: the recurrent weights overflow {dt_.name}")
        return cls(W_in=W_in.astype(dt_), W=W.astype(dt_), b=np.zeros(N, dt_),
                   W_out=W_out.astype(dt_), b_out=np.zeros(n_out, dt_), beta=bvec.astype(dt_),
                   model=model, **opts, meta=dict(gain=gain, seed=seed))

    # ----------------------------------------------------------------- helpers
    def options(self) -> Dict:
        """The neuron options as a dict (JSON-ready): model, reset, dt, the time
        constants, v_th, v_reset, refractory, gamma."""
        return {"model": self.model, **{k: getattr(self, k) for k in SCALAR_OPTIONS}}


__all__ = ["SpikingNetwork", "check_neuron_options", "check_neuron_scalars", "NEURON_OPTIONS",
           "SCALAR_OPTIONS", "NEURON_DEFAULTS"]
