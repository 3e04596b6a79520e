"""``localrnn export --model M``: the spiking step spec's counts against an instrumented step.

``counted_spiking_step`` is one step of online e-prop of a spiking network written from
MODEL.md section 9 with the counting arrays of ``test_export`` (event-driven where the
kernel is: a spike adds a column, no multiply); its numbers must equal
``SpikingOnlineLearner``'s to 1e-12 (so the counted step is the real one) and its
counts the spec's, evaluated at the step's spike counts K (of z_{t-1}) and S (of z_t).
The data keep every input non-zero, no neuron refractory and every pseudo-derivative
inside its window (checked), the case the spec counts.
"""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn.cli import main
from localrnn.neuromorphic.spec import Poly, step_spec
from localrnn.spiking import SpikingNetwork, SpikingOnlineLearner
from test_export import KINDS, Counter, Ops


def div(a, s):
    """``a / s`` for a constant s, one division per entry (the kernel divides)."""
    a.c["div"] += a.v.size
    return Ops(a.v / s, a.c)


def counted_spiking_step(st, p, x, y_star, m, net, lr, FT, reg=0.0, f0=0.0):
    """One step of online e-prop (SGD every step), counting; ``st``, ``p`` updated.
    ``reg`` > 0: with the firing-rate regulariser of rate ``f0`` (every step contributes:
    the masks are positive), ``st["zsum"]`` and ``st["n"]`` its count since the reset."""
    c = Counter()
    A = {k: Ops(v, c) for k, v in p.items()}
    N, I = p["W_in"].shape
    al, rho, kap, omk = net.alpha, net.rho, net.kappa, 1.0 - net.kappa
    vth, gv = net.v_th, net.gamma / net.v_th
    alif, setm = net.model == "alif", net.reset == "set"
    zp = st["z"]
    spk = np.flatnonzero(zp)
    # forward
    d = (A["W_in"] @ Ops(x, c)) + A["b"]
    for i in spk:                                   # event-driven recurrent input
        d = d + A["W"][:, i]
    v_prev = np.where(zp > 0, net.v_reset, st["v"]) if setm else st["v"]
    v = al * Ops(v_prev, c) + d
    if not setm and len(spk):
        v[spk] = v[spk] - vth
    if alif:
        ba = rho * Ops(st["ba"], c) + zp
        A_t = vth + Ops(net.beta, c) * ba
    else:
        A_t = Ops(np.full(N, vth), c)
    u = div(v - A_t, vth)
    s = 1.0 - Ops(np.abs(u.v), c)
    assert np.all(s.v > 0), "a pseudo-derivative outside its window: choose other data"
    psi = gv * s
    z = (v.v > A_t.v).astype(float)
    yacc = A["b_out"]
    for n in np.flatnonzero(z):                     # event-driven readout
        yacc = yacc + A["W_out"][:, n]
    y = kap * Ops(st["y"], c) + omk * yacc
    mm = Ops(m, c)
    inv = 1.0 / mm.sum()
    delta = mm * (y - y_star) * inv
    L = Ops(FT.T, c) @ delta
    if reg:   # rg_j = c (zsum_j / n_t - f0): the S spikes add 1 each (event-driven)
        c["add"] += int(z.sum())
        st["zsum"] = st["zsum"] + z
        st["n"] += 1
        rg = reg * (div(Ops(st["zsum"], c), float(st["n"])) - f0)
    # traces
    pre = np.concatenate([x, [1.0], zp])
    psip = Ops(st["psi"], c)
    ev = Ops(st["ev"], c)                           # (1, P) or (N, P)
    if alif:
        c1 = rho - Ops(net.beta, c) * psip
        ea = c1.col() * Ops(st["ea"], c) + psip.col() * ev
    if setm:
        lk = np.where(zp > 0, 0.0, al)[:, None]
        ev = Ops(lk, c) * ev + pre
    else:
        ev = al * ev + pre
    if alif:
        e = psi.col() * (ev - Ops(net.beta[:, None], c) * ea)
    else:
        e = psi.col() * ev
    eb = kap * Ops(st["eb"], c) + omk * e
    g = (L.col() * eb + rg.col() * e).v if reg else (L.col() * eb).v
    np.fill_diagonal(g[:, I + 1:], 0.0)             # W's diagonal: formed, not stored
    gg = Ops(g, c)
    new = {"W_in": A["W_in"] - lr * gg[:, :I], "b": A["b"] - lr * gg[:, I],
           "W": A["W"] - lr * gg[:, I + 1:]}
    zbar = kap * Ops(st["zbar"], c) + omk * z
    obar = kap * Ops(st["obar"], c) + omk
    new["W_out"] = A["W_out"] - lr * delta.outer(zbar)
    new["b_out"] = A["b_out"] - lr * (delta * obar)
    for k, val in new.items():
        p[k] = val.v
    st.update(v=v.v, z=z, psi=psi.v, y=y.v, ev=ev.v, eb=eb.v, zbar=zbar.v, obar=obar.v)
    if alif:
        st.update(ba=ba.v, ea=ea.v)
    return c, len(spk), int(z.sum())


def counts_at(spec, K, S):
    """The spec's total counts with its event symbols at the given spike counts."""
    sizes = dict(spec.sizes, K=K, S=S)
    out = {k: 0 for k in KINDS}
    for e in spec.equations:
        for k in KINDS:
            out[k] += Poly.of(e.ops[k])(**sizes)
    return out


@pytest.mark.parametrize("N, I, O, reg", [(5, 3, 2, 0.0), (9, 2, 3, 0.0), (7, 2, 2, 0.3)])
@pytest.mark.parametrize("reset", ["subtract", "set"])
@pytest.mark.parametrize("model", ["lif", "alif"])
def test_counts_equal_instrumented_step(model, reset, N, I, O, reg):
    rng = np.random.default_rng(N + I)
    kw = dict(v_reset=0.5) if reset == "set" else {}
    if model == "alif":
        kw.update(beta=0.1, tau_a=5.0)
    net = SpikingNetwork.init(I, N, O, model=model, reset=reset, tau_m=1.0, tau_out=3.0, v_th=2.0,
                              gain=0.3, seed=N, **kw)
    net.W_in *= 0.2
    net.b[:] = 2.2
    net.b_out[:] = 0.1 * rng.standard_normal(O)
    lr = 0.05
    f0 = 0.2
    learner = SpikingOnlineLearner(net, lr=lr, optimizer="sgd", update_every=1, reg=reg,
                                   reg_rate=f0 if reg else 0.0)
    p = {k: getattr(net, k).copy() for k in ("W_in", "W", "b", "W_out", "b_out")}
    P = I + 1 + N
    st = dict(v=np.zeros(N), z=np.zeros(N), psi=np.zeros(N), y=np.zeros(O), eb=np.zeros((N, P)),
              ev=np.zeros((N if reset == "set" else 1, P)), zbar=np.zeros(N), obar=np.zeros(()),
              ba=np.zeros(N), ea=np.zeros((N, P)), zsum=np.zeros(N), n=0)
    spec = step_spec("eprop", "current", N, I, O, model=model, reset=reset, reg=reg)
    events = []
    for t in range(6):
        x = rng.standard_normal(I)
        y_star = rng.standard_normal(O)
        m = rng.uniform(0.5, 1.5, O)
        FT = learner.net.W_out.copy()              # symmetric: W_out before the step
        c, K, S = counted_spiking_step(st, p, x, y_star, m, net, lr, FT, reg, f0)
        learner.step(x[None], y_star[None], m[None])
        for k, v in p.items():
            np.testing.assert_allclose(getattr(net, k), v, rtol=0, atol=1e-12, err_msg=k)
        tr = learner.traces
        np.testing.assert_allclose(learner.state[0], st["v"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(tr["ebar"][0], st["eb"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(tr["eps_v"][0], st["ev"], rtol=0, atol=1e-12)
        if model == "alif":
            np.testing.assert_allclose(tr["eps_a"][0], st["ea"], rtol=0, atol=1e-12)
        assert dict(c) == counts_at(spec, K, S), (t, K, S, dict(c), counts_at(spec, K, S))
        events.append((K, S))
    # the data exercised the event terms: some steps with spikes, not every neuron each time
    assert any(K > 0 for K, _ in events) and any(S < N for _, S in events)
    assert spec.trace_words_per_synapse() == pytest.approx(learner.memory_per_synapse(), rel=1e-15)


def test_spiking_spec_structure():
    s = step_spec("eprop", "current", 100, 40, 2, model="alif")
    d = s.to_dict()
    assert (d["form"], d["model"], d["reset"], d["feedback"]) == ("spiking", "alif", "subtract", "symmetric")
    assert "eps_a" in [v["name"] for v in d["state_variables"]]
    # ALIF keeps eps_a and ebar per synapse and eps_v per presynaptic entry
    assert s.trace_words_per_synapse() == pytest.approx(2 + 1 / 100)
    assert "psi_j (eps_v - beta_j eps_a_ji)" in d["three_factor"]["form"]
    eqs = {e["equation"]: e for e in d["equations"]}
    assert eqs["I_t += W z_{t-1}  (a column of W per spike)"]["ops_formula"]["add"] == "N*K"
    assert step_spec("eprop", "current", 10, 2, 1, model="lif", reset="set").trace_words_per_synapse() \
        == pytest.approx(2.0)
    for kw, words in ((dict(rule="bptt"), "no online step for spiking"),
                      (dict(model="izh"), "model='izh'"), (dict(reset="zero"), "reset='zero'"),
                      (dict(T=10), "T=10")):
        args = dict(rule="eprop", model="lif") | kw
        rule = args.pop("rule")
        with pytest.raises(ValueError, match=words):
            step_spec(rule, "current", 4, 2, 1, **args)
    with pytest.raises(ValueError, match="reset='set' is for spiking networks"):
        step_spec("eprop", "current", 4, 2, 1, reset="set")
    # the firing-rate regulariser: its variables, equation and update term, only when on
    r = step_spec("eprop", "current", 100, 40, 2, model="alif", reg=0.3).to_dict()
    assert r["reg"] == 0.3 and d["reg"] == 0.0
    names = [v["name"] for v in r["state_variables"]]
    assert {"zsum", "n_t", "c", "f0"} <= set(names)
    assert "zsum" not in [v["name"] for v in d["state_variables"]]
    reqs = {e["equation"]: e for e in r["equations"]}
    assert reqs["zsum_j += z_t,j;  rg_j = c (zsum_j / n_t - f0)"]["ops_formula"] == \
        {"mul": "N", "add": "N + S", "div": "N", "phi": "0", "dphi": "0"}
    assert "rg_j * e_ji" in r["three_factor"]["form"] and "rg_j" not in d["three_factor"]["form"]
    for bad in (-0.1, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="must be a finite number >= 0"):
            step_spec("eprop", "current", 4, 2, 1, model="lif", reg=bad)
    with pytest.raises(ValueError, match="is for spiking networks"):
        step_spec("eprop", "current", 4, 2, 1, reg=0.3)


def test_cli_spiking_spec():
    r = CliRunner().invoke(main, ["export", "--rule", "eprop", "--model", "lif", "--n-rec", "8",
                                  "--n-in", "4", "--n-out", "2", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == step_spec("eprop", "current", 8, 4, 2, model="lif").to_dict()
    r = CliRunner().invoke(main, ["export", "--rule", "eprop", "--model", "alif", "--n-rec", "8",
                                  "--n-in", "4", "--n-out", "2"])
    assert r.exit_code == 0 and "# One time step: eprop, ALIF neurons (reset subtract)" in r.output
    r = CliRunner().invoke(main, ["export", "--rule", "eprop", "--model", "lif", "--form", "rate",
                                  "--n-rec", "8", "--n-in", "4", "--n-out", "2"])
    assert r.exit_code == 2 and r.stderr.count("Error:") == 1 and "--form" in r.stderr
    r = CliRunner().invoke(main, ["export", "--rule", "eprop", "--model", "alif", "--reg", "0.3",
                                  "--n-rec", "8", "--n-in", "4", "--n-out", "2", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == step_spec("eprop", "current", 8, 4, 2, model="alif", reg=0.3).to_dict()
    r = CliRunner().invoke(main, ["export", "--rule", "eprop", "--model", "alif", "--reg", "0.3",
                                  "--n-rec", "8", "--n-in", "4", "--n-out", "2"])
    assert r.exit_code == 0 and "(reset subtract, firing-rate regulariser c = 0.3)" in r.output
    for args, words in ((["--reg", "0.3"], "--reg is an option of spiking networks"),
                        (["--model", "lif", "--reg", "-1"], "reg=-1.0 must be a finite number >= 0"),
                        (["--model", "lif", "--reg", "1", "--format", "lava"], "--n-out, --reg; it takes")):
        r = CliRunner().invoke(main, ["export", "--rule", "eprop", "--n-rec", "8", "--n-in", "4",
                                      "--n-out", "2", *args])
        assert r.exit_code == 2 and r.stderr.count("Error:") == 1 and words in r.stderr, (args, r.stderr)
