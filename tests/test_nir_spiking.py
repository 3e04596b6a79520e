"""A trained spiking network exported to NIR and run by another framework (issue 21).

The consumer is nirtorch 2.6's graph interpreter (``nirtorch.nir_to_torch``, which runs
cycles with the recurrent input from the previous step) with snnTorch 1.0.0's ``Leaky``
neuron for NIR's LIF node, ``torch.nn.Linear`` for Affine and Linear, and NIR's LI
equation for the readout (snnTorch has no LI neuron).  It reads OUR ``.nir`` file and
must produce, for every step of a trial, the spike trains of ``localrnn.spiking.forward``
on the same input: identical, not close (MODEL.md section 9, "Mapping to NIR").

snnTorch's own ``import_from_nir`` does not run this graph correctly; the last tests
pin down what it computes instead (docs/spiking.md), so that a fixed release is noticed.
"""
import contextlib
import io

import numpy as np
import pytest

nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
nirtorch = pytest.importorskip("nirtorch")

from click.testing import CliRunner  # noqa: E402

from localrnn.cli import main  # noqa: E402
from localrnn.neuromorphic.nir import export_nir, inexact_reasons, to_nir  # noqa: E402
from localrnn.runs import RunDir  # noqa: E402
from localrnn.spiking import SpikingNetwork, forward  # noqa: E402
from localrnn.tasks import get_task  # noqa: E402

#: the smallest |v - v_th| the compared trials keep (our voltages and the consumer's
#: differ in the last bits: event-driven sums against a GEMM)
MARGIN = 1e-9


def heaviside(x):
    """The spike in the input's dtype (snnTorch's default returns float32)."""
    return (x > 0).to(x.dtype)


class NIRLeakyIntegrator(torch.nn.Module):
    """NIR's LI node, ``tau dv/dt = (v_leak - v) + r I``, one forward-Euler step of dt."""

    def __init__(self, node, dt):
        super().__init__()
        self.c = torch.tensor(dt / np.asarray(node.tau))
        self.r = torch.tensor(np.asarray(node.r))
        self.v_leak = torch.tensor(np.asarray(node.v_leak))
        self.v = None

    def forward(self, i):
        if self.v is None:
            self.v = torch.zeros_like(i)
        self.v = self.v + self.c * ((self.v_leak - self.v) + self.r * i)
        return self.v


def linear(node, bias):
    m = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=bias)
    m.weight.data = torch.tensor(node.weight)
    if bias:
        m.bias.data = torch.tensor(node.bias)
    return m


def leaky(node, dt):
    """snnTorch's Leaky for NIR's LIF with forward Euler: beta = 1 - dt/tau; its input
    enters unscaled, so it needs r dt / tau = 1; reset "zero" needs v_reset = 0."""
    tau = np.asarray(node.tau)
    assert np.allclose(node.v_leak, 0) and np.allclose(np.asarray(node.r) * dt / tau, 1.0)
    assert np.unique(node.v_threshold).size == 1 and np.all(np.asarray(node.v_reset) == 0)
    return snn.Leaky(beta=torch.tensor(1.0 - dt / tau), threshold=float(node.v_threshold[0]),
                     reset_mechanism="zero", reset_delay=False, init_hidden=True,
                     spike_grad=heaviside)


def consumer(path):
    """The torch module nirtorch builds from the file, and its LIF module."""
    dt = float(nir.read(str(path)).metadata["dt"])
    node_map = {nir.Affine: lambda n: linear(n, True), nir.Linear: lambda n: linear(n, False),
                nir.LIF: lambda n: leaky(n, dt), nir.LI: lambda n: NIRLeakyIntegrator(n, dt)}
    return nirtorch.nir_to_torch(str(path), node_map, dtype=torch.float64)


def run_consumer(module, x):
    """(spikes of the LIF node, outputs) over a (T, B, I) input, one call per step."""
    spikes = []
    hook = module.lif.register_forward_hook(lambda m, i, o: spikes.append(o.detach().numpy().copy()))
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = module(torch.tensor(x[t]), state)
            outs.append(y.numpy().copy())
    hook.remove()
    return np.array(spikes), np.array(outs)


@pytest.fixture(scope="module")
def trained_lif(tmp_path_factory):
    """A LIF network (reset to 0, no refractory steps) trained a few iterations on cue
    through the CLI, exported through the CLI with snnTorch's dt."""
    d = tmp_path_factory.mktemp("lif") / "run"
    r = CliRunner().invoke(main, ["run", "cue", "--model", "lif", "--reset", "set", "--refractory", "0",
                                  "--v-th", "0.3", "--n-rec", "24", "--batch", "4", "--iters", "3",
                                  "--eval-batch", "4", "--out", str(d)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["export", str(d), "--format", "nir", "--dt", "1e-4"])
    assert r.exit_code == 0, r.output
    return d


def test_the_consumer_runs_our_file_with_our_spikes_at_every_step(trained_lif):
    net = RunDir(trained_lif).load_network()
    assert not np.array_equal(net.W, RunDir(trained_lif).load_network("init").W)   # trained
    g = nir.read(str(trained_lif / "network.nir"))
    assert bool(g.metadata["exact"]) and float(g.metadata["dt"]) == 1e-4
    x = get_task("cue").batch(3, np.random.default_rng(11)).inputs          # T = 2250 steps
    z, v, A, y = forward(net, x)
    assert 0.01 < z.mean() < 0.5                         # the network spikes, not always
    margin = float(np.min(np.abs(v - A)))
    assert margin > MARGIN, f"a voltage came {margin:.1e} from threshold; choose other trials"
    zc, yc = run_consumer(consumer(trained_lif / "network.nir"), x)
    assert zc.shape == z.shape
    assert np.array_equal(zc, z)                         # identical spike trains, every step
    np.testing.assert_allclose(yc, y, rtol=0, atol=1e-12)   # the LI readout, to rounding


def test_the_consumer_is_not_fooled_by_an_inexact_graph(tmp_path):
    """The check can fail: for ALIF with reset by subtraction (exact: false) the same
    consumer runs NIR's LIF and its spikes differ from the network's."""
    net = SpikingNetwork.init(40, 24, 2, model="alif", reset="subtract", v_th=0.1, tau_a=200.0,
                              beta=0.5, seed=2)
    path = export_nir(net, tmp_path / "alif.nir", dt=1e-4)
    g = nir.read(str(path))
    assert not bool(g.metadata["exact"]) and "adaptive-threshold" in str(g.metadata["exact_note"])
    x = get_task("cue").batch(2, np.random.default_rng(0)).inputs[:400]
    z = forward(net, x)[0]
    zc, _ = run_consumer(consumer(path), x)
    assert z.mean() > 0.01 and not np.array_equal(zc, z)


@pytest.mark.parametrize("model, reset, refractory, exact", [
    ("lif", "set", 0, True), ("lif", "subtract", 0, False), ("lif", "set", 2, False),
    ("alif", "set", 0, False), ("alif", "subtract", 3, False)])
def test_exact_only_where_the_discretisation_maps(model, reset, refractory, exact):
    net = SpikingNetwork.init(3, 5, 2, model=model, reset=reset, refractory=refractory, seed=0)
    g = to_nir(net, dt=2e-3)
    assert g.metadata["exact"] is exact and (inexact_reasons(net) == []) is exact
    note = g.metadata["exact_note"]
    assert ("reset subtract" in note) is (reset == "subtract")
    assert (f"refractory {refractory}:" in note) is (refractory > 0)
    lif, li = g.nodes["lif"], g.nodes["li"]
    # MODEL.md section 9: tau = dt / (1 - alpha), r = tau / dt, v_leak = 0; LI likewise with kappa
    np.testing.assert_allclose(lif.tau, 2e-3 / (1 - net.alpha), rtol=1e-15)
    np.testing.assert_allclose(lif.r, 1 / (1 - net.alpha), rtol=1e-12)
    assert np.all(lif.v_threshold == net.v_th) and np.all(lif.v_reset == net.v_reset)
    np.testing.assert_allclose(li.tau, 2e-3 / (1 - net.kappa), rtol=1e-15)
    assert np.all(li.r == 1) and np.all(li.v_leak == 0) and np.all(lif.v_leak == 0)
    assert sorted(map(tuple, g.edges)) == sorted([
        ("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "w_out"),
        ("w_out", "li"), ("li", "output")])


def test_the_file_round_trips_and_the_default_dt_is_the_step_in_seconds(tmp_path):
    net = SpikingNetwork.init(4, 6, 2, model="lif", reset="set", v_reset=-0.01, seed=1)
    g = nir.read(str(export_nir(net, tmp_path / "n.nir")))
    assert float(g.metadata["dt"]) == net.dt * 1e-3 and str(g.metadata["time_unit"]) == "s"
    np.testing.assert_array_equal(g.nodes["w_in"].weight, net.W_in)
    np.testing.assert_array_equal(g.nodes["w_in"].bias, net.b)
    np.testing.assert_array_equal(g.nodes["w_rec"].weight, net.W)
    np.testing.assert_array_equal(g.nodes["w_out"].weight, net.W_out)
    np.testing.assert_array_equal(g.nodes["w_out"].bias, net.b_out)
    assert np.all(g.nodes["lif"].v_reset == -0.01) and str(g.metadata["delayed_edges"]) == "w_rec->lif"


def test_bad_dt_is_one_line(tmp_path, trained_lif):
    for bad in ("0", "-1e-4", "nan", "inf"):
        r = CliRunner().invoke(main, ["export", str(trained_lif), "--format", "nir", "--dt", bad,
                                      "--out", str(tmp_path / "x.nir")])
        assert r.exit_code == 2 and r.stderr.count("Error:") == 1 and "dt=" in r.stderr, r.output


# ------------------------------------------------------- snnTorch's own importer (defects)

def _quiet(fn, *a):
    with contextlib.redirect_stdout(io.StringIO()):     # it prints progress lines
        return fn(*a)


def test_snntorch_import_from_nir_cannot_read_the_readout(trained_lif):
    """snnTorch 1.0.0's import_from_nir has no mapping for NIR's LI node."""
    from snntorch.import_nir import import_from_nir

    with pytest.raises(ValueError, match="Unknown node type .*LI"):
        _quiet(import_from_nir, nir.read(str(trained_lif / "network.nir")))


def test_snntorch_import_from_nir_sends_the_input_through_w_rec(trained_lif):
    """Without the readout (spikes as the output) it imports, but the subgraph it builds
    for the LIF <-> Linear cycle wires its input into W_rec: it computes
    ``v_t = beta (0 if z_{t-1} else v_{t-1}) + W (W_in x_t + b + z_{t-1})`` (exactly that,
    checked below) instead of ``... + W_in x_t + b + W z_{t-1}``."""
    from snntorch.import_nir import import_from_nir

    net = RunDir(trained_lif).load_network()
    g = nir.read(str(trained_lif / "network.nir"))
    nodes = {k: v for k, v in g.nodes.items() if k not in ("w_out", "li", "output")}
    nodes["output"] = nir.Output(output_type=np.array([net.n_rec]))
    edges = [e for e in map(tuple, g.edges) if "li" not in e and "w_out" not in e and "output" not in e]
    cut = nir.NIRGraph(nodes=nodes, edges=edges + [("lif", "output")])
    module = _quiet(import_from_nir, cut).double()
    x = get_task("cue").batch(2, np.random.default_rng(5)).inputs[:300]
    got, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            o, state = module(torch.tensor(x[t]), state)
            got.append(o.numpy().copy())
    got = np.array(got)
    # the miswired dynamics, written out
    beta = 1.0 - 1e-4 / np.asarray(g.nodes["lif"].tau)
    v = np.zeros((x.shape[1], net.n_rec))
    z = np.zeros_like(v)
    miswired = []
    for t in range(x.shape[0]):
        v = beta * np.where(z > 0, 0.0, v) + (x[t] @ net.W_in.T + net.b + z) @ net.W.T
        z = (v > net.v_th).astype(float)
        miswired.append(z)
    assert np.array_equal(got, np.array(miswired))
    ours = forward(net, x)[0]
    assert ours.mean() > 0.01 and not np.array_equal(got, ours)


def test_nirtorch_default_affine_map_drops_the_bias():
    """nirtorch 2.6's default map for Affine sets ``module.weight.bias`` instead of the
    bias: the consumer above passes its own map."""
    from nirtorch.nir_interpreter import DEFAULT_MAP

    node = nir.Affine(weight=np.eye(2), bias=np.array([5.0, -5.0]))
    m = DEFAULT_MAP[nir.Affine](node)
    assert not np.allclose(m.bias.detach().numpy(), node.bias)
