"""``localrnn lyapunov`` and ``localrnn run --floss-iters``: numbers in the files written."""
import json

import numpy as np
from click.testing import CliRunner

from localrnn.cli import main
from localrnn.lyapunov import lyapunov_spectrum
from localrnn.network import PARAM_NAMES, Network
from localrnn.tasks import get_task


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_run_with_flossing_records_exponents(tmp_path):
    out = tmp_path / "f"
    res = invoke(["run", "romo", "--rule", "eprop", "--gain", "0.5", "--n-rec", "24", "--batch", "4",
                  "--iters", "3", "--floss-iters", "15", "--floss-k", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    ly = json.loads((out / "lyapunov.json").read_text())
    for key in ("before_flossing", "after_flossing", "after_training"):
        assert len(ly[key]) == 2 and all(np.isfinite(ly[key]))
    # gain 0.5 starts well below 0; flossing moves lambda_max up toward 0
    assert ly["before_flossing"][0] < -0.1
    assert ly["after_flossing"][0] > ly["before_flossing"][0] + 0.02
    assert len(ly["floss_history_lambda_max"]) == 16
    # the recorded 'after training' exponents are those of the saved final weights
    with np.load(out / "weights.npz") as w:
        net = Network(**{p: w["final_" + p] for p in PARAM_NAMES}, alpha=float(w["alpha"]),
                      activation=str(w["activation"]), form=str(w["form"]))
    x = get_task("romo").batch(8, np.random.default_rng([0, 3, 0])).inputs
    r = lyapunov_spectrum(net, x, 2, seed=0)
    np.testing.assert_allclose(r.exponents, ly["after_training"], rtol=1e-12)


def test_lyapunov_of_saved_run_and_fresh_network(tmp_path):
    out = tmp_path / "r"
    assert invoke(["run", "romo", "--gain", "0.8", "--n-rec", "16", "--batch", "4", "--iters", "3",
                   "--out", str(out)]).exit_code == 0
    res = invoke(["lyapunov", str(out), "--k", "4", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert len(d["init_exponents"]) == 4 and (out / "lyapunov.png").is_file()
    assert d["init_exponents"] == sorted(d["init_exponents"], reverse=True)
    # a fresh network with the run's seed and gain is the run's initial network
    res2 = invoke(["lyapunov", "--task", "romo", "--gain", "0.8", "--n-rec", "16", "--k", "4",
                   "--json", "--out", str(tmp_path / "fresh.png")])
    d2 = json.loads(res2.output)
    np.testing.assert_allclose(d2["exponents"], d["init_exponents"], rtol=1e-12)


def test_lambda_max_vs_gain_increases(tmp_path):
    res = invoke(["lyapunov", "--task", "romo", "--gains", "0.3,1.0,2.0", "--n-rec", "48", "--k", "1",
                  "--json", "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 0, res.output
    lm = json.loads(res.output)["lambda_max_mean"]
    assert lm[0] < lm[1] < lm[2]
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_lyapunov_bad_values(tmp_path):
    for args, needle in [(["lyapunov"], "give RUN_DIR"),
                         (["lyapunov", "--task", "romo"], "needs --gain"),
                         (["lyapunov", "--task", "romo", "--gains", "1,x"], "'x' is not a number"),
                         (["lyapunov", "--task", "romo", "--gain", "1", "--k", "0", "--n-rec", "8"], "k"),
                         (["lyapunov", str(tmp_path)], "no weights.npz")]:
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        lines = [l for l in res.output.splitlines() if l.strip()]
        assert len(lines) == 1 and needle in lines[0], res.output


def test_lyapunov_of_a_run_uses_its_seed_and_matches_its_recorded_exponents(tmp_path):
    """`localrnn lyapunov RUN_DIR` draws the run's probe inputs (its seed), so the
    exponents of the initial weights are those the run recorded before training."""
    from localrnn.analysis import run_lyapunov
    from localrnn.runs import RunDir

    out = tmp_path / "s2"
    assert invoke(["run", "romo", "--gain", "0.8", "--n-rec", "12", "--batch", "2", "--iters", "2",
                   "--seed", "2", "--lyapunov", "--floss-k", "3", "--out", str(out)]).exit_code == 0
    before = RunDir(out).read_lyapunov()["before_flossing"]
    res = invoke(["lyapunov", str(out), "--k", "3", "--json"])
    d = json.loads(res.output)
    assert d["seed"] == 2
    np.testing.assert_allclose(d["init_exponents"], before, rtol=1e-12)
    a = run_lyapunov(out, k=3, write_json=False)
    assert a.figure is None and a.data["init_exponents"] == d["init_exponents"]  # same computation twice
