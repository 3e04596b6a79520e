"""A trained network as a NIR graph (Neuromorphic Intermediate Representation; issue 11 b).

Node mapping (``nir`` 1.0.8 node types; weights are (out, in) as in NIR):

**current form** (state h, rate r = phi(h); MODEL.md section 1)::

    input -> w_in (Affine: W_in, b) -> h (LI) -[phi]-> w_rec (Linear: W) => h
                                        h  -[phi]-> w_out (Affine: W_out, b_out) -> output

``h`` carries the synaptic current h_t; ``w_rec`` carries W r_t; ``w_out`` carries y_t.

**rate form** (state a, pre-activation u)::

    input -> w_in (Affine: W_in, b) -> u (Linear: identity) -[phi]-> a (LI)
                                  a -> w_rec (Linear: W) => u
                                  a -> w_out (Affine: W_out, b_out) -> output

``u`` carries u_t = W a_{t-1} + W_in x_t + b (an identity node: NIR sums the edges into
a node, and phi must act on that sum); ``a`` carries the rate a_t.

``-[phi]->`` marks an edge on which the activation phi acts.  NIR has no rate
nonlinearity and ``nir.read`` rejects custom node types, so phi is a *name* in the
graph's metadata (``activation``, ``phi_edges``): a reader that ignores it gets the
linear network.  The graph is therefore exact only when phi is the identity
(``metadata["exact"]``; none of localrnn's activations is, so False for every export;
the linear nodes and the LI dynamics are exact).  ``=>`` marks the edge that closes the
cycle (``delayed_edges``): it carries the previous step's value.

**LI and our update.**  NIR's ``LI`` is ``tau dv/dt = (v_leak - v) + r I`` (nir/ir/neuron.py).
One forward-Euler step of length dt with ``tau = dt / alpha``, ``r = 1``, ``v_leak = 0``
is ``v_t = v_{t-1} + alpha (I_t - v_{t-1}) = (1 - alpha) v_{t-1} + alpha I_t``: the
current-form update with ``I_t = W r_{t-1} + W_in x_t + b`` and the rate-form update
with ``I_t = phi(u_t)``.  NIR graphs do not store dt; ``metadata["dt"]`` does, and
``tau`` is in the same unit (the task's dt, or 1 = one step for a bare network).

A network without inputs (``n_in = 0``, e.g. the sine task) gets one dummy input of
zero weights (``metadata["dummy_input"]``; feed it zeros), since the Affine ``w_in``
carries the bias b.

**spiking networks** (:class:`localrnn.spiking.SpikingNetwork`, MODEL.md section 9)::

    input -> w_in (Affine: W_in, b) -> lif (LIF) -> w_rec (Linear: W) => lif
                                       lif -> w_out (Affine: W_out, b_out) -> li (LI) -> output

``lif`` carries the spikes z_t (0 or 1), ``li`` the readout y_t.  With forward-Euler
steps of the metadata's ``dt`` a consumer runs MODEL.md section 9 exactly when the
network is LIF with reset "set" and no refractory steps: LIF ``tau = dt / (1 - alpha)``,
``r = tau / dt = 1 / (1 - alpha)``, ``v_leak = 0``, ``v_threshold = v_th``,
``v_reset``; LI ``tau = dt / (1 - kappa)``, ``r = 1``, ``v_leak = 0``; the spike when
v exceeds the threshold (strictly), the reset before the next step, the recurrent
input from the previous step's spikes (``delayed_edges``).  Then
``metadata["exact"]`` is True; otherwise False and ``metadata["exact_note"]`` says
why (ALIF: NIR has no adaptive threshold; reset by subtraction: NIR's LIF resets to
``v_reset``; refractory steps: NIR's LIF has none).  Time is in seconds
(``metadata["time_unit"]``): ``dt`` defaults to the network's step (ms) / 1000;
snnTorch's importer assumes ``dt = 1e-4`` s, so give ``dt=1e-4`` for it.

``nir`` is optional: ``pip install "localrnn[nir]"``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..network import Network

#: Separator of edges in the metadata strings (HDF5 keeps strings, not lists of pairs).
EDGE_SEP = ";"
#: Seconds per millisecond: a spiking network's dt is in ms, a NIR graph's time in s.
SECONDS_PER_MS = 1e-3


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ValueError('the NIR export needs the nir package: pip install "localrnn[nir]"') from None
    return nir


def _edge_str(edges) -> str:
    return EDGE_SEP.join(f"{a}->{b}" for a, b in edges)


def parse_edges(s) -> list:
    """The (src, dst) pairs of a metadata edge string ``"a->b;c->d"``."""
    s = s.decode() if isinstance(s, bytes) else str(s)
    return [tuple(e.split("->")) for e in s.split(EDGE_SEP) if e]


def _check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise ValueError(f"dt={dt!r} must be a finite number > 0")
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt={dt!r} must be a finite number > 0")
    return dt


def _io_nodes(nir, net, n_out: int):
    """Input, w_in (Affine W_in, b; a dummy zero input when n_in = 0), w_rec (Linear W),
    w_out (Affine W_out, b_out) and Output of ``n_out`` values, in float64."""
    N, I = net.n_rec, net.n_in
    f64 = lambda a: np.array(a, dtype=np.float64)  # noqa: E731
    W_in = f64(net.W_in)
    if I == 0:  # e.g. the sine task: one dummy input with zero weights carries the bias b
        W_in, I = np.zeros((N, 1)), 1
    return {
        "input": nir.Input(input_type=np.array([I])),
        "w_in": nir.Affine(weight=W_in, bias=f64(net.b)),
        "w_rec": nir.Linear(weight=f64(net.W)),
        "w_out": nir.Affine(weight=f64(net.W_out), bias=f64(net.b_out)),
        "output": nir.Output(output_type=np.array([n_out])),
    }


def to_nir(net, dt: Optional[float] = None):
    """The network as a ``nir.NIRGraph`` (see the module docstring for the mapping).

    Parameters
    ----------
    net : Network or SpikingNetwork
    dt : float, optional
        Time step.  Rate network: LI's ``tau = dt / alpha`` (default 1: time in steps).
        Spiking network: in seconds (default ``net.dt / 1000``, the network's step in
        ms); LIF ``tau = dt / (1 - alpha)``, LI ``tau = dt / (1 - kappa)``.

    Returns
    -------
    nir.NIRGraph
    """
    from ..spiking import SpikingNetwork

    nir = _nir()
    if isinstance(net, SpikingNetwork):
        return _spiking_graph(nir, net, _check_dt(net.dt * SECONDS_PER_MS if dt is None else dt))
    if not isinstance(net, Network):
        raise ValueError(f"net is a {type(net).__name__}; expected a localrnn.Network or a "
                         "localrnn.spiking.SpikingNetwork")
    dt = _check_dt(1.0 if dt is None else dt)
    N = net.n_rec
    tau = np.full(N, dt / net.alpha)
    li = nir.LI(tau=tau, r=np.ones(N), v_leak=np.zeros(N))
    nodes = _io_nodes(nir, net, net.n_out)
    if net.form == "current":
        state = "h"
        nodes["h"] = li
        edges = [("input", "w_in"), ("w_in", "h"), ("h", "w_rec"), ("w_rec", "h"),
                 ("h", "w_out"), ("w_out", "output")]
        phi_edges = [("h", "w_rec"), ("h", "w_out")]
        delayed = [("w_rec", "h")]
    else:
        state = "a"
        nodes["u"] = nir.Linear(weight=np.eye(N))
        nodes["a"] = li
        edges = [("input", "w_in"), ("w_in", "u"), ("u", "a"), ("a", "w_rec"), ("w_rec", "u"),
                 ("a", "w_out"), ("w_out", "output")]
        phi_edges = [("u", "a")]
        delayed = [("w_rec", "u")]
    meta = {
        "producer": "localrnn",
        "form": net.form,
        "activation": net.activation,
        "phi_edges": _edge_str(phi_edges),
        "delayed_edges": _edge_str(delayed),
        "state_node": state,
        "dt": dt,
        "alpha": float(net.alpha),
        "integration": "forward Euler, one step of dt per time step; LI tau = dt / alpha",
        "exact": bool(net.activation == "identity"),
        "dummy_input": bool(net.n_in == 0),
        "exact_note": ("the Affine, Linear and LI nodes are exact; phi (named in 'activation', "
                       "acting on 'phi_edges') has no NIR node, so a reader that ignores this "
                       "metadata runs the linear network"),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def inexact_reasons(net) -> list:
    """Why a spiking network's NIR graph is not its exact dynamics (empty: exact)."""
    out = []
    if net.model == "alif":
        out.append("model alif: NIR has no adaptive-threshold node; the LIF node holds the base "
                   "threshold v_th without the adaptation beta b_t (beta, tau_a in this metadata)")
    if net.reset == "subtract":
        out.append("reset subtract: NIR's LIF sets v to v_reset after a spike; this network "
                   "subtracts v_th (Bellec et al. 2020)")
    if net.refractory:
        out.append(f"refractory {net.refractory}: NIR's LIF has no refractory period")
    return out


def _spiking_graph(nir, net, dt: float):
    N, O = net.n_rec, net.n_out
    tau = dt / (1.0 - net.alpha)
    nodes = _io_nodes(nir, net, O)
    nodes["lif"] = nir.LIF(tau=np.full(N, tau), r=np.full(N, tau / dt), v_leak=np.zeros(N),
                           v_threshold=np.full(N, float(net.v_th)),
                           v_reset=np.full(N, float(net.v_reset)))
    nodes["li"] = nir.LI(tau=np.full(O, dt / (1.0 - net.kappa)), r=np.ones(O), v_leak=np.zeros(O))
    edges = [("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
             ("lif", "w_out"), ("w_out", "li"), ("li", "output")]
    why = inexact_reasons(net)
    meta = {
        "producer": "localrnn",
        "network": "spiking",
        "model": net.model,
        "reset": net.reset,
        "v_reset": float(net.v_reset),
        "refractory": int(net.refractory),
        "tau_a": float(net.tau_a),
        "beta": np.array(net.beta, dtype=np.float64),
        "gamma": float(net.gamma),
        "delayed_edges": _edge_str([("w_rec", "lif")]),
        "state_node": "lif",
        "dt": dt,
        "time_unit": "s",
        "alpha": float(net.alpha),
        "kappa": float(net.kappa),
        "integration": ("forward Euler, one step of dt per time step: LIF v <- (1 - dt/tau) v + "
                        "(dt/tau) r I with tau = dt / (1 - alpha), r = tau / dt; a spike when "
                        "v > v_threshold, then v = v_reset before the next step; LI tau = "
                        "dt / (1 - kappa), r = 1; w_rec carries the previous step's spikes"),
        "exact": not why,
        "dummy_input": bool(net.n_in == 0),
        "exact_note": "; ".join(why) if why else (
            "LIF with reset to v_reset and no refractory steps: the graph is MODEL.md section 9 "
            "exactly (1 - dt/tau may differ from alpha in the last bit)"),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def read_run(run_dir) -> Tuple[Network, Optional[float]]:
    """The final network of a run folder and the dt its graph gets by default.

    Read through :class:`localrnn.runs.RunDir`: ``load_network("final")`` and, for a
    rate network, when the folder has a ``config.json`` naming a task, that task's
    ``dt`` (else 1); for a spiking network None (:func:`to_nir`'s default, its own step
    in seconds).  ``ValueError`` naming the folder if it holds no (complete)
    ``weights.npz``.
    """
    from ..runs import WEIGHTS, RunDir

    rd = RunDir(run_dir)
    try:
        net = rd.load_network("final")
    except KeyError as e:  # a weights.npz without the final_* arrays
        raise ValueError(f"{str(rd / WEIGHTS)!r} lacks the trained network ({e.args[0]}); give a "
                         "folder written by 'localrnn run'") from None
    if not isinstance(net, Network):
        return net, None
    dt = 1.0
    if rd.exists():
        cfg = rd.read_config()
        if "task" in cfg:
            dt = float(rd.task().dt)
    return net, dt


def export_nir(run_dir_or_net, path, dt: Optional[float] = None) -> Path:
    """Write a run folder's final network (or a ``Network`` / ``SpikingNetwork``) as a
    NIR file (HDF5).

    ``dt``: the graph's time step (:func:`to_nir`); by default a run folder's task dt
    for a rate network, the network's own step in seconds for a spiking one.
    Returns the path written.
    """
    from ..spiking import SpikingNetwork

    nir = _nir()
    if isinstance(run_dir_or_net, (Network, SpikingNetwork)):
        net, dt0 = run_dir_or_net, None
    else:
        net, dt0 = read_run(run_dir_or_net)
    graph = to_nir(net, dt0 if dt is None else dt)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    nir.write(str(tmp), graph)
    tmp.replace(path)  # atomic: the file is complete or absent
    return path


__all__ = ["to_nir", "export_nir", "read_run", "parse_edges", "inexact_reasons", "EDGE_SEP",
           "SECONDS_PER_MS"]
