"""The spiking rows of ``localrnn bench``: their PyTorch peers compute what ours computes
(so the timings compare the same work), and the rows are there with consistent ratios.
No timing is asserted."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import RTOL_EXACT, assert_grads_close
from localrnn.benchmarks.spiking import (TorchSpikingOnlineStep, online_problem, problem,
                                         torch_spiking_gradient)
from localrnn.cli import main
from localrnn.spiking import SpikingOnlineLearner, forward, gradient

torch = pytest.importorskip("torch", reason="the peers are PyTorch")


@pytest.mark.parametrize("rule", ["bptt", "eprop"])
def test_batched_peer_computes_our_gradient(rule):
    net, x, lab, m = problem(B=3, T=120)
    z, v, A, _ = forward(net, x)
    assert z.mean() > 0.005 and np.min(np.abs(v - A)) > 1e-9   # spikes, none at a tie
    L, g = gradient(net, x, lab, m, loss="xent", rule=rule)
    Lt, p = torch_spiking_gradient(net, x, lab, m, eprop=rule == "eprop")
    assert float(Lt.detach()) == pytest.approx(L, rel=RTOL_EXACT)
    gt = {k: t.grad.numpy() for k, t in p.items()}
    np.fill_diagonal(gt["W"], 0.0)             # the peer masks the diagonal in the forward pass
    assert_grads_close(g, gt)
    if rule == "eprop":                        # the check can fail: e-prop is not BPTT here
        gb = gradient(net, x, lab, m, loss="xent", rule="bptt")[1]
        assert np.abs(gb["W"] - g["W"]).max() > 1e-3 * np.abs(gb["W"]).max()


def test_online_peer_is_the_learners_step():
    net, xs, ys = online_problem()
    lr = 1e-3
    ours = SpikingOnlineLearner(net.copy(), lr={"W_in": lr, "W": lr, "W_out": lr},
                                trainable=("W_in", "W", "W_out"))
    peer = TorchSpikingOnlineStep(net.copy(), lr)
    tx, ty = torch.from_numpy(xs[:, 0]), torch.from_numpy(ys[:, 0])
    spikes = 0.0
    for k in range(400):
        a = ours.step(xs[k], ys[k])
        b = peer.step(tx[k], ty[k])
        assert b == pytest.approx(a, rel=1e-12, abs=1e-15)
        spikes += float(ours.spikes.sum())
    assert spikes > 100                                    # the network spikes
    for k in ("W_in", "W", "W_out"):
        w = getattr(peer, k).numpy()
        np.testing.assert_allclose(getattr(ours.net, k), w, rtol=0,
                                   atol=1e-12 * np.abs(w).max())
    assert not np.array_equal(ours.net.W, net.W)           # it learned


def test_bench_rows(tmp_path):
    res = CliRunner().invoke(main, ["bench", "--quick", "--only", "spiking", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"].split(" (")[0] for r in rows] == [
        "spiking BPTT gradient", "spiking e-prop gradient", "online spiking e-prop step"]
    for r in rows:
        assert r["ours_s"] > 0 and r["floor_s"] > 0 and r["peer_s"] > 0 and r["floor"] and r["peer"]
        assert r["ours_over_floor"] == pytest.approx(r["ours_s"] / r["floor_s"], rel=1e-12)
        assert r["peer_over_ours"] == pytest.approx(r["peer_s"] / r["ours_s"], rel=1e-12)
