"""``localrnn export``: the per-step spec's counts against an independent, instrumented step.

``Ops`` wraps NumPy arrays and counts its own arithmetic (a length-K dot product is K
multiplies and K - 1 adds; a Python constant times an array of n entries is n
multiplies).  ``counted_step`` is one step of the online learner written from MODEL.md
sections 1-5 with these arrays; it also computes the step's numbers, which must equal
``OnlineLearner``'s to 1e-12 (so the counted step is the real one), and its counts must
equal ``step_spec``'s.  The tolerance, not bit equality: the learner goes through BLAS
and fused loops, this reference through NumPy in another order.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from localrnn.network import Network
from localrnn.neuromorphic.spec import Poly, generated_part, render_neuromorphic_doc, step_spec
from localrnn.online import OnlineLearner

KINDS = ("mul", "add", "div", "phi", "dphi")


class Counter(dict):
    def __init__(self):
        super().__init__({k: 0 for k in KINDS})


class Ops:
    """A NumPy array that counts the arithmetic done on it into ``c``."""

    def __init__(self, v, c):
        self.v = np.array(v, dtype=float)
        self.c = c

    def _other(self, o):
        return o.v if isinstance(o, Ops) else o

    def _bin(self, o, f, kind):
        r = f(self.v, self._other(o))
        self.c[kind] += np.size(r)
        return Ops(r, self.c)

    def __add__(self, o):
        return self._bin(o, np.add, "add")

    __radd__ = __add__

    def __sub__(self, o):
        return self._bin(o, np.subtract, "add")

    def __rsub__(self, o):
        return self._bin(o, lambda a, b: b - a, "add")

    def __mul__(self, o):
        return self._bin(o, np.multiply, "mul")

    __rmul__ = __mul__

    def __rtruediv__(self, o):
        return self._bin(o, lambda a, b: b / a, "div")

    def __matmul__(self, o):
        a, b = self.v, self._other(o)
        k = a.shape[-1]
        r = a @ b
        self.c["mul"] += np.size(r) * k
        self.c["add"] += np.size(r) * (k - 1)
        return Ops(r, self.c)

    def sum(self):
        self.c["add"] += self.v.size - 1
        return Ops(self.v.sum(), self.c)

    def outer(self, o):
        r = np.outer(self.v, self._other(o))
        self.c["mul"] += r.size
        return Ops(r, self.c)

    def T(self):
        return Ops(self.v.T, self.c)

    def col(self):
        return Ops(self.v[:, None], self.c)

    def __getitem__(self, k):
        return Ops(self.v[k], self.c)

    def __setitem__(self, k, val):
        self.v[k] = self._other(val)

    def add_diag(self, s):
        n = self.v.shape[0]
        self.v[np.arange(n), np.arange(n)] += s
        self.c["add"] += n
        return self


def phi(a):
    a.c["phi"] += a.v.size
    return Ops(np.tanh(a.v), a.c)


def dphi_from_rate(r):
    """tanh' from the rate, one derivative evaluation (a table look-up on chip)."""
    r.c["dphi"] += r.v.size
    return Ops(1.0 - r.v * r.v, r.c)


def dphi(u):
    u.c["dphi"] += u.v.size
    return Ops(1.0 - np.tanh(u.v) ** 2, u.c)


def counted_step(st, p, x, y_star, m, rule, form, alpha, lr, FT):
    """One step (MODEL.md 1-5, SGD every step), counting; ``st`` and ``p`` are updated."""
    c = Counter()
    A = {k: Ops(v, c) for k, v in p.items()}
    keep = 1.0 - alpha
    xx, mm = Ops(x, c), Ops(m, c)
    N, I = p["W_in"].shape
    # forward
    drv = A["W_in"] @ xx
    if form == "current":
        h, r = Ops(st["h"], c), Ops(st["r"], c)
        pre = A["W"] @ r
        hn = keep * h + alpha * (pre + (drv + A["b"]))
        sn = phi(hn)                          # r_t
        prev = r
    else:
        a = Ops(st["a"], c)
        u = A["W"] @ a + (drv + A["b"])
        phu = phi(u)
        hn = keep * a + alpha * phu
        sn = hn                               # a_t drives the readout
        prev = a
    y = A["W_out"] @ sn + A["b_out"]
    inv = 1.0 / mm.sum()
    delta = mm * (y - y_star) * inv
    # learning signal (F = W_out^T for symmetric feedback / RTRL)
    F = Ops(FT.T, c)
    L = F @ delta
    if form == "current":
        L = dphi_from_rate(sn) * L
    new = {}
    if rule in ("eprop", "rflo"):
        if form == "current":
            e, xb, bb = Ops(st["ebar"], c), Ops(st["xbar"], c), Ops(st["bbar"], c)
            e = keep * e + alpha * prev
            xb = keep * xb + alpha * xx
            bb = keep * bb + alpha
            new["W"] = A["W"] - lr * L.outer(e)
            new["W_in"] = A["W_in"] - lr * L.outer(xb)
            new["b"] = A["b"] - lr * (L * bb)
            st.update(ebar=e.v, xbar=xb.v, bbar=bb.v)
        else:
            d = alpha * dphi(u)
            pp, q, pb = Ops(st["p"], c), Ops(st["q"], c), Ops(st["pb"], c)
            pp = keep * pp + d.outer(prev)
            q = keep * q + d.outer(xx)
            pb = keep * pb + d
            new["W"] = A["W"] - lr * (L.col() * pp)
            new["W_in"] = A["W_in"] - lr * (L.col() * q)
            new["b"] = A["b"] - lr * (L * pb)
            st.update(p=pp.v, q=q.v, pb=pb.v)
    else:  # RTRL: M_t = J_t M_{t-1} + immediate part; columns W, W_in, b
        M = Ops(st["M"], c)
        if form == "current":
            d = alpha * dphi_from_rate(r)                  # phi'(h_{t-1}) from r_{t-1}
            J = A["W"] * Ops(d.v[None, :], c)             # W diag(d)
        else:
            d = alpha * dphi(u)
            J = Ops(d.v[:, None], c) * A["W"]
        J.add_diag(keep)
        Mn = J @ M
        oIn, ob = N * N, N * N + N * I
        for i in range(N):
            wi = (alpha * prev) if form == "current" else (d[i] * prev)
            Mn[i, i * N:(i + 1) * N] = Mn[i, i * N:(i + 1) * N] + wi
            xi = (alpha * xx) if form == "current" else (d[i] * xx)
            Mn[i, oIn + i * I:oIn + (i + 1) * I] = Mn[i, oIn + i * I:oIn + (i + 1) * I] + xi
            bi = alpha if form == "current" else d[i]
            Mn[i, ob + i] = Mn[i, ob + i] + bi
        g = L @ Mn
        th = Ops(np.concatenate([p["W"].ravel(), p["W_in"].ravel(), p["b"]]), c)
        th = th - lr * g
        new["W"] = th[:N * N].v.reshape(N, N)
        new["W_in"] = th[oIn:ob].v.reshape(N, I)
        new["b"] = th[ob:].v
        st["M"] = Mn.v
    new["W_out"] = A["W_out"] - lr * delta.outer(sn)
    new["b_out"] = A["b_out"] - lr * delta
    for k, v in new.items():
        p[k] = v.v if isinstance(v, Ops) else v
    if form == "current":
        st.update(h=hn.v, r=sn.v)
    else:
        st.update(a=hn.v)
    return c


def _setup(rule, form, N, I, O, seed):
    rng = np.random.default_rng(seed)
    net = Network.init(I, N, O, gain=1.2, alpha=0.3, form=form, seed=seed)
    net.b[:] = 0.1 * rng.standard_normal(N)
    net.b_out[:] = 0.1 * rng.standard_normal(O)
    h0 = 0.5 * rng.standard_normal(N)
    lr = 0.05
    learner = OnlineLearner(net, rule=rule, lr=lr, optimizer="sgd", update_every=1, seed=seed,
                            h0=h0)
    p = {k: getattr(net, k).copy() for k in ("W_in", "W", "b", "W_out", "b_out")}
    st = {}
    if form == "current":
        st.update(h=h0.copy(), r=np.tanh(h0))
    else:
        st.update(a=h0.copy())
    if rule == "rtrl":
        st["M"] = np.zeros((N, N * N + N * I + N))
    elif form == "current":
        st.update(ebar=np.zeros(N), xbar=np.zeros(I), bbar=np.zeros(()))
    else:
        st.update(p=np.zeros((N, N)), q=np.zeros((N, I)), pb=np.zeros(N))
    return rng, net, learner, p, st, lr


@pytest.mark.parametrize("N, I, O", [(5, 2, 3), (17, 3, 2)])
@pytest.mark.parametrize("form", ["current", "rate"])
@pytest.mark.parametrize("rule", ["eprop", "rflo", "rtrl"])
def test_counts_equal_instrumented_step(rule, form, N, I, O):
    rng, net, learner, p, st, lr = _setup(rule, form, N, I, O, seed=N + I)
    spec = step_spec(rule, form, N, I, O)
    want = {k: spec.op_counts()[k] for k in KINDS}
    for t in range(3):
        x = rng.standard_normal(I)
        y_star = rng.standard_normal(O)
        m = rng.uniform(0.5, 1.5, O)
        FT = learner._FT.copy()       # F^T in use now (W_out before the step if symmetric)
        c = counted_step(st, p, x, y_star, m, rule, form, net.alpha, lr, FT)
        learner.step(x[None], y_star[None], m[None])
        # the counted step is the learner's step: same weights, state and traces
        for k, v in p.items():
            np.testing.assert_allclose(getattr(net, k), v, rtol=0, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(learner.state[0], st["h"] if form == "current" else st["a"],
                                   rtol=0, atol=1e-12)
        tr = learner.traces
        if rule == "rtrl":
            np.testing.assert_allclose(tr["M"][0], st["M"], rtol=0, atol=1e-12)
        elif form == "current":
            np.testing.assert_allclose(tr["ebar"][0], st["ebar"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(tr["xbar"][0], st["xbar"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(tr["bbar"][0], st["bbar"], rtol=0, atol=1e-12)
        else:
            np.testing.assert_allclose(tr["p"][0], st["p"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(tr["q"][0], st["q"], rtol=0, atol=1e-12)
        assert dict(c) == want, (t, dict(c), want)
    # memory per synapse: the learner's own figure
    assert spec.trace_words_per_synapse() == pytest.approx(learner.memory_per_synapse(), rel=1e-15)


def counted_bptt(net, x, y_star, m, lr):
    """One trial of BPTT (MODEL.md section 4; rate form derived from section 1) with
    counting arrays, then one SGD update.  x (T, I), y_star and m (T, O), h_0 = 0.
    Returns the counter and the gradients."""
    c = Counter()
    A = {k: Ops(getattr(net, k), c) for k in ("W_in", "W", "b", "W_out", "b_out")}
    alpha, keep = net.alpha, 1.0 - net.alpha
    T_, I = x.shape
    N = net.n_rec
    xs = [Ops(v, c) for v in x]
    h = Ops(np.zeros(N), c)
    outs, us = [], []
    prev = phi(h) if net.form == "current" else h          # r_0 = phi(h_0) / a_0
    rates = [prev]
    for t in range(T_):
        drv = A["W_in"] @ xs[t]
        if net.form == "current":
            h = keep * h + alpha * (A["W"] @ prev + (drv + A["b"]))
            prev = phi(h)
        else:
            u = A["W"] @ prev + (drv + A["b"])
            us.append(u)
            prev = keep * prev + alpha * phi(u)
        rates.append(prev)
        outs.append(A["W_out"] @ prev + A["b_out"])
    inv = 1.0 / Ops(m, c).sum()
    deltas = [Ops(m[t], c) * (outs[t] - y_star[t]) * inv for t in range(T_)]
    G = {k: Ops(np.zeros_like(getattr(net, k)), c) for k in ("W_in", "W", "b", "W_out", "b_out")}
    nxt = Ops(np.zeros(N), c)
    cn = Ops(np.zeros(N), c)
    for t in reversed(range(T_)):
        d = deltas[t]
        if net.form == "current":
            a = dphi_from_rate(rates[t + 1]) * (A["W_out"].T() @ d + alpha * (A["W"].T() @ nxt)) \
                + keep * nxt
            e = a
        else:
            g = A["W_out"].T() @ d + A["W"].T() @ cn + keep * nxt
            e = alpha * dphi(us[t]) * g
            a, cn = g, e
        G["W"] = G["W"] + e.outer(rates[t])
        G["W_in"] = G["W_in"] + e.outer(xs[t])
        G["b"] = G["b"] + e
        G["W_out"] = G["W_out"] + d.outer(rates[t + 1])
        G["b_out"] = G["b_out"] + d
        nxt = a
    if net.form == "current":
        for k in ("W", "W_in", "b"):
            G[k] = alpha * G[k]
    for k in G:
        A[k] - lr * G[k]
    return c, {k: v.v for k, v in G.items()}


@pytest.mark.parametrize("N, I, O", [(5, 2, 3), (17, 3, 2)])
@pytest.mark.parametrize("form", ["current", "rate"])
def test_bptt_counts_equal_instrumented_trial(form, N, I, O):
    from localrnn import gradient
    T_ = 6
    net = Network.init(I, N, O, gain=1.2, alpha=0.3, form=form, seed=N)
    rng = np.random.default_rng(N)
    net.b[:] = 0.1 * rng.standard_normal(N)
    x = rng.standard_normal((T_, I))
    y_star = rng.standard_normal((T_, O))
    m = rng.uniform(0.5, 1.5, (T_, O))
    c, G = counted_bptt(net, x, y_star, m, lr=0.1)
    _, want = gradient(net, x[:, None], y_star[:, None], m[:, None], rule="bptt")
    for k, v in G.items():   # the counted trial is BPTT: same gradient (BLAS vs NumPy order)
        np.testing.assert_allclose(v, want[k].reshape(v.shape), rtol=1e-10, atol=1e-13, err_msg=k)
    spec = step_spec("bptt", form, N, I, O, T=T_)
    assert dict(c) == {k: spec.trial_op_counts()[k] for k in KINDS}


def test_quantised_memory_and_shifts():
    a = step_spec("rflo", "rate", 5, 2, 3)
    b = step_spec("rflo", "rate", 5, 2, 3, quantize="w8,s16,t12,l16,acc32")
    ma, mb = a.memory_bits(), b.memory_bits()
    # rate-form RFLO keeps weights (N^2+NI+N+ON+O + F: NO), state a (N), traces p, q, pb
    nw = 25 + 10 + 5 + 15 + 3 + 15
    nt = 25 + 10 + 5
    assert mb["w"] == 8 * nw and mb["s"] == 16 * 5 and mb["t"] == 12 * nt
    assert mb["total"] == 8 * nw + 16 * 5 + 12 * nt
    assert ma["total"] == 64 * (nw + 5 + nt)
    assert a.op_counts()["shift"] == 0 and b.op_counts()["shift"] == b.op_counts()["mul"]
    assert b.memory_per_synapse_bits() == pytest.approx((8 * 40 + 12 * 40) / 40)


def test_bptt_memory_grows_with_T():
    m1 = step_spec("bptt", "current", 5, 2, 3, T=10).memory_bits()["total"]
    m2 = step_spec("bptt", "current", 5, 2, 3, T=20).memory_bits()["total"]
    assert m2 - m1 == 10 * (5 + 2) * 64
    assert step_spec("bptt", "current", 5, 2, 3).T == 100
    with pytest.raises(ValueError, match="only for rule='bptt'"):
        step_spec("eprop", "current", 5, 2, 3, T=10)


def test_three_factor_and_locality():
    s = step_spec("eprop", "current", 5, 2, 3)
    assert s.three_factor["trace_symbol"] == "e_ij = ebar_j" and s.three_factor["signal_symbol"] == "L_i"
    assert step_spec("rflo", "rate", 5, 2, 3).three_factor["trace_symbol"] == "e_ij = p_ij"
    assert step_spec("rtrl", "current", 5, 2, 3).three_factor is None
    locs = {l for e in step_spec("rtrl", "current", 5, 2, 3).equations for _, l in e.locality}
    assert "non-local" in locs
    locs = {l for e in step_spec("eprop", "current", 5, 2, 3).equations for _, l in e.locality}
    assert "non-local" not in locs


def test_markdown_and_json():
    s = step_spec("rtrl", "rate", 4, 2, 1, quantize="w8.6,s16")
    d = json.loads(s.to_json())
    assert d["ops_total"] == s.op_counts() and d["quantize"] == "w8.6,s16.12,round=nearest"
    assert [e["equation"] for e in d["equations"]] == [e.text for e in s.equations]
    md = s.to_markdown()
    assert "## State variables" in md and f"**{s.op_counts()['mul']}**" in md


def test_poly():
    from localrnn.neuromorphic.spec.poly import I, N
    p = 2 * N ** 2 + N * I - 1
    assert str(p) == "2N^2 + N*I - 1" and p(N=3, I=2, O=0, T=0) == 23
    assert Poly() == 0


@pytest.mark.parametrize("kw, words", [
    (dict(rule="sgd"), "rule='sgd'"), (dict(form="spiking"), "form='spiking'"),
    (dict(n_rec=0), "n_rec=0"), (dict(quantize="w99"), "99 bits"),
    (dict(feedback="random", rule="rtrl"), "feedback='random'"),
])
def test_bad_input(kw, words):
    args = dict(rule="eprop", form="current", n_rec=4, n_in=2, n_out=1)
    args.update(kw)
    with pytest.raises(ValueError) as e:
        step_spec(**args)
    assert words in str(e.value) and "\n" not in str(e.value)


#: The repository's page whose generated part render_neuromorphic_doc() gives.
DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "neuromorphic.md"


def test_committed_doc_is_generated():
    text = DOC_PATH.read_text()
    assert generated_part(text) == render_neuromorphic_doc(), \
        "docs/neuromorphic.md is stale: run python -m localrnn.neuromorphic.spec --write-doc docs/neuromorphic.md"


def test_write_doc_rewrites_only_the_generated_part(tmp_path, capsys):
    """The page is an argument (no path outside the package): the text around the markers
    stays, the part between them is regenerated; without the markers, one line."""
    from localrnn.neuromorphic.spec.__main__ import main as spec_main

    page = tmp_path / "page.md"
    page.write_text("# Title\n\nintro\n<!-- BEGIN GENERATED -->\nold\n<!-- END GENERATED -->\ntail\n")
    assert spec_main(["--write-doc", str(page)]) == 0
    assert page.read_text() == "# Title\n\nintro\n" + render_neuromorphic_doc() + "\ntail\n"
    assert spec_main([]) == 2
    page.write_text("no markers\n")
    capsys.readouterr()
    assert spec_main(["--write-doc", str(page)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"Error: {page}: the page has no <!-- BEGIN GENERATED -->")


# ------------------------------------------------------------------------------- CLI
def _cli(args):
    from click.testing import CliRunner

    from localrnn.cli import main
    return CliRunner().invoke(main, args)


def test_cli_json_equals_api():
    r = _cli(["export", "--rule", "eprop", "--form", "rate", "--n-rec", "6", "--n-in", "2",
              "--n-out", "3", "--quantize", "w8,s16,t12,acc32", "--format", "json"])
    assert r.exit_code == 0, r.output
    want = step_spec("eprop", "rate", 6, 2, 3, quantize="w8,s16,t12,acc32")
    assert json.loads(r.output) == json.loads(want.to_json())


def test_cli_markdown_to_file(tmp_path):
    out = tmp_path / "spec.md"
    r = _cli(["export", "--rule", "bptt", "--n-rec", "4", "--n-in", "1", "--n-out", "1",
              "--T", "7", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text() == step_spec("bptt", "current", 4, 1, 1, T=7).to_markdown()


@pytest.mark.parametrize("args, words", [
    (["--rule", "eprop", "--n-rec", "4", "--n-in", "1", "--n-out", "1", "--quantize", "w8,q3"],
     "bad field 'q3'"),
    (["--rule", "eprop", "--n-rec", "0", "--n-in", "1", "--n-out", "1"], "n_rec=0"),
    (["--rule", "eprop"], "missing --n-rec, --n-in, --n-out"),
    (["--rule", "eprop", "--format", "lava", "--n-rec", "4", "--quantize", "w8"],
     "--format lava (the local rule as Lava learning-rule strings) does not take --n-rec, --quantize"),
    (["--rule", "eprop", "--n-rec", "4", "--n-in", "1", "--n-out", "1", "--alpha", "0.5"],
     "does not take --alpha"),
    (["--rule", "sgd", "--n-rec", "4", "--n-in", "1", "--n-out", "1"], "'sgd'"),
    (["--format", "nir"], "needs RUN_DIR; missing RUN_DIR"),
    (["--format", "nir", "--rule", "rflo", "x"], "--format nir (a trained run's network as a NIR graph) "
                                                 "does not take --rule; it takes RUN_DIR"),
    (["x", "--format", "md"], "does not take RUN_DIR; it takes --rule, --n-rec, --n-in, --n-out, --form"),
])
def test_cli_bad_input(args, words):
    r = _cli(["export", *args])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], r.output
