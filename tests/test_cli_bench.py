"""``localrnn bench``: the table has floors and both ratios, and they are the printed times' ratios;
``--scaling --quick`` writes its figures and exponents; the exponent fitter recovers known slopes.

No timing targets here: only that the numbers are there, positive, and consistent.
"""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from localrnn.cli import main

UNITS = {"us": 1e-6, "ms": 1e-3}


def _seconds(text):
    """(seconds, half a unit of the last printed digit in seconds) of '150.0 us' / '22.00 ms'."""
    v, u = text.split()
    half = 0.5 * 10.0 ** -len(v.split(".")[1]) * UNITS[u]
    return float(v) * UNITS[u], half


def _check_ratio(printed, num, den):
    """``printed`` (2 decimals) is num/den, to the rounding of all three printed numbers."""
    (a, ea), (b, eb) = num, den
    bound = 0.005 + (a / b) * (ea / a + eb / b) * 1.01
    assert abs(printed - a / b) <= bound, (printed, a, b)


def test_bench_quick_engine_json_ratios():
    pytest.importorskip("torch", reason="the benchmark's peer is PyTorch")
    res = CliRunner().invoke(main, ["bench", "--quick", "--only", "engine", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    names = [r["name"] for r in rows]
    assert any(n.startswith("BPTT gradient") for n in names)
    assert any(n.startswith("e-prop/RFLO gradient") for n in names)
    for r in rows:
        assert r["ours_s"] > 0 and r["floor_s"] > 0 and r["peer_s"] > 0
        assert r["floor"] and r["per"] == "step"
        assert r["ours_over_floor"] == pytest.approx(r["ours_s"] / r["floor_s"], rel=1e-12)
        assert r["peer_over_ours"] == pytest.approx(r["peer_s"] / r["ours_s"], rel=1e-12)
        assert r["peer_over_floor"] == pytest.approx(r["peer_s"] / r["floor_s"], rel=1e-12)
    # BPTT's floor has one more step GEMM than the local rules' (its structure, as printed;
    # the measured times are not compared: they are not a test on a shared machine)
    assert rows[0]["floor"].startswith("2 step GEMMs (BxN)(NxN) + dW GEMM")
    assert rows[1]["floor"].startswith("1 step GEMM (BxN)(NxN) + dW GEMM")
    assert [r["name"].split(" (")[1] for r in rows[:2]] == ["N=128 B=16 T=56 float32)"] * 2


def test_bench_table_columns_and_arithmetic():
    """The printed table: floor and both ratio columns, ratios = the printed times' ratios
    (to the rounding of the printed times)."""
    from localrnn.cli.bench import format_table

    rows = [
        {"name": "case a", "per": "step", "ours_s": 150e-6, "floor_s": 100e-6, "floor": "f",
         "peer_s": 450e-6, "peer": "p", "ours_over_floor": 1.5, "peer_over_ours": 3.0,
         "peer_over_floor": 4.5, "target": "t"},
        {"name": "case b", "per": "iteration", "ours_s": 22e-3, "floor_s": 11e-3, "floor": "f",
         "peer_s": None, "peer": "none", "ours_over_floor": 2.0, "peer_over_ours": None,
         "peer_over_floor": None, "target": "t"},
    ]
    rows[1].update(arith_s=5.5e-3, arith="31.2 MFLOP at 5.7 GFLOP/s", ours_over_arith=4.0)
    lines = format_table(rows).splitlines()
    assert re.split(r"\s{2,}", lines[0])[:10] == ["case", "per", "ours", "floor", "ours/floor", "arith",
                                                  "ours/arith", "peer", "peer/ours", "peer/floor"]
    cells = [re.split(r"\s{2,}", ln) for ln in lines[1:]]
    assert cells[0][:10] == ["case a", "step", "150.0 us", "100.0 us", "1.50", "n/a", "n/a", "450.0 us",
                             "3.00", "4.50"]
    assert cells[1][:10] == ["case b", "iteration", "22.00 ms", "11.00 ms", "2.00", "5.50 ms", "4.00", "n/a",
                             "n/a", "n/a"]
    assert "arith: 31.2 MFLOP at 5.7 GFLOP/s" in lines[2]


def test_bench_quick_engine_table_printed_ratios_match_times():
    pytest.importorskip("torch", reason="the benchmark's peer is PyTorch")
    res = CliRunner().invoke(main, ["bench", "--quick", "--only", "engine"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "ours/floor" in lines[0] and "peer/ours" in lines[0]
    for ln in lines[1:]:
        c = re.split(r"\s{2,}", ln)
        ours, floor, peer = _seconds(c[2]), _seconds(c[3]), _seconds(c[7])
        _check_ratio(float(c[4]), ours, floor)
        _check_ratio(float(c[8]), peer, ours)
        _check_ratio(float(c[9]), peer, floor)


def test_romo_flops_counts_every_gemm_shaped_product():
    """The arithmetic floor's FLOPs, written out from the shapes (N = 64, B = 32, T = 56,
    I = 1, O = 2): forward r W^T, x W_in^T, r W_out^T; the signal delta F^T; dW, dW_in,
    dW_out over T*B rows; BPTT also a W at T - 1 steps."""
    from localrnn.benchmarks.iteration import romo_flops

    N, B, T, I, O = 64, 32, 56, 1, 2
    fwd = T * (2 * B * N * N + 2 * B * I * N + 2 * B * N * O)
    signal = T * 2 * B * O * N
    grads = 2 * N * (T * B) * N + 2 * N * (T * B) * I + 2 * O * (T * B) * N
    assert romo_flops("eprop", N, B, T, I, O) == fwd + signal + grads == 31_195_136
    assert romo_flops("rflo", N, B, T, I, O) == romo_flops("eprop", N, B, T, I, O)
    assert romo_flops("bptt", N, B, T, I, O) == fwd + signal + grads + (T - 1) * 2 * B * N * N


def test_arith_rows_are_flops_over_the_measured_peak():
    """A tiny run of the arithmetic-floor rows (N = 16, one round, a 64 x 64 peak GEMM):
    the floor is the row's FLOPs over the peak rate, and the ratios are those of the times."""
    from localrnn.benchmarks.iteration import RULES, arith_cases, romo_flops

    rows = arith_cases(sizes=(16,), rounds=1, peak_sizes=(64,))
    assert len(rows) == 2 * len(RULES)
    for r, rule in zip(rows, RULES * 2):
        assert rule in r["name"] and "N=16" in r["name"] and r["per"] == "iteration"
        mflop, peak = re.match(r"([\d.]+) MFLOP at ([\d.]+) GFLOP/s", r["arith"]).groups()
        assert float(mflop) == pytest.approx(romo_flops(rule, 16, 32, 56) / 1e6, abs=0.05)
        # the peak is printed to 0.1 GFLOP/s: the floor recomputed from the printed peak
        # is off by up to 0.05 / peak relative (a loaded machine's small peak: ~3e-3)
        assert r["arith_s"] == pytest.approx(romo_flops(rule, 16, 32, 56) / (float(peak) * 1e9),
                                             rel=0.05 / float(peak) + 1e-9)
        assert r["ours_over_arith"] == pytest.approx(r["ours_s"] / r["arith_s"], rel=1e-12)
        assert r["ours_over_floor"] == pytest.approx(r["ours_s"] / r["floor_s"], rel=1e-12)


def test_bench_rejects_unknown_group():
    res = CliRunner().invoke(main, ["bench", "--only", "gpu"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "'gpu'" in res.output


# ------------------------------------------------------------------ --scaling

def test_fit_exponent_recovers_known_slopes():
    from localrnn.benchmarks.scaling import fit_exponent

    N = np.array([16, 32, 64, 128, 256, 512, 1024], float)
    f = fit_exponent(N, 3.7e-9 * N ** 2)
    assert f["slope"] == pytest.approx(2.0, abs=1e-9)
    assert f["prefactor"] == pytest.approx(3.7e-9, rel=1e-9)
    # only the upper range counts: a flat head (overhead) does not bias the slope
    y = np.where(N < 128, 1.0, 1e-6 * N ** 4)
    f = fit_exponent(N, y, upper=0.5)
    assert f["slope"] == pytest.approx(4.0, abs=1e-9) and f["x_from"] == 128 and f["n_points"] == 4
    # order of the points does not matter
    assert fit_exponent(N[::-1], (N ** 1.5)[::-1])["slope"] == pytest.approx(1.5, abs=1e-9)
    with pytest.raises(ValueError, match="positive"):
        fit_exponent(N, -N)


@pytest.mark.parametrize("rule", ["bptt", "eprop"])
def test_batched_bytes_analytic_agrees_with_the_measured_peak(rule):
    """The analytic count of the driver's buffers against tracemalloc's peak of a call
    with a shape new to the workspace (so that its buffers are allocated and counted)."""
    from localrnn.benchmarks.scaling import batched_bytes_analytic, measure_batched

    measure_batched(rule, 8, 5, 2, repeat=1)           # compile/load the kernels first
    N, T, B = (96, 23, 3) if rule == "bptt" else (88, 21, 3)   # shapes no other call uses
    p = measure_batched(rule, N, T, B, repeat=1)
    ratio = p["memory_bytes"] / batched_bytes_analytic(N, T, B, rule)
    assert 0.95 <= ratio <= 1.05, ratio


def test_bench_scaling_quick_writes_figures_and_exponents(tmp_path):
    out = tmp_path / "sc"
    res = CliRunner().invoke(main, ["bench", "--scaling", "--quick", "--out", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for f in ("time.png", "memory.png", "scaling.json", "exponents.md"):
        assert (out / f).stat().st_size > 0, f
    doc = json.loads((out / "scaling.json").read_text())
    labels = [s["label"] for s in doc["series"]]
    for rule in ("BPTT", "RTRL", "e-prop", "RFLO"):
        assert f"{rule} (batched)" in labels
    assert {"e-prop (online)", "RFLO (online)", "RTRL (online)"} <= set(labels)
    for s in doc["series"]:
        for p in s["vs_N"] + s["vs_T"]:
            assert p["time_s"] > 0 and p["memory_bytes"] > 0
            # the measured memory is cross-checked against the analytic count of the buffers
            assert 0.5 < p["memory_bytes"] / p["memory_analytic_bytes"] < 3.0, (s["label"], p)
        if s["mode"] == "online":  # what an online learner holds does not grow with T
            assert len({p["memory_bytes"] for p in s["vs_T"]}) == 1
        # the reported fit is the fit of the reported points
        from localrnn.benchmarks.scaling import fit_exponent

        N = [p["N"] for p in s["vs_N"]]
        assert s["fits"]["memory_vs_N"] == pytest.approx(
            fit_exponent(N, [p["memory_bytes"] for p in s["vs_N"]])["slope"], abs=1e-12)
    table = (out / "exponents.md").read_text()
    assert sum(ln.startswith("| ") for ln in table.splitlines()) == len(labels) + 1  # header + rows


def test_bench_scaling_and_throughput_are_separate_runs():
    res = CliRunner().invoke(main, ["bench", "--scaling", "--throughput"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "--scaling and --throughput" in res.output


def test_floor_takes_the_faster_of_two_implementations_of_the_same_work():
    """floors.fastest picks by measured time (here a 5 ms sleep against a no-op, in
    either order), and the floors' SciPy-BLAS path computes what NumPy's does."""
    import time

    from localrnn.benchmarks import floors

    def slow():
        time.sleep(0.005)

    def quick():
        pass

    assert floors.fastest([slow, quick]) is quick
    assert floors.fastest([quick, slow]) is quick
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    out = np.empty((7, 3))
    floors._dot_loop(A, B, out, 1)
    # SciPy's and NumPy's BLAS: two builds, so equal to rounding, not bitwise
    np.testing.assert_allclose(out, A @ B, rtol=1e-13, atol=1e-13)
