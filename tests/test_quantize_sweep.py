"""quantize-sweep: the library on a tiny grid, its files, and the CLI's errors."""
import csv
import json

import numpy as np
import pytest

from localrnn.neuromorphic.quantsweep import (quantize_sweep, smallest_learning_widths,
                                              table_markdown, write_sweep)


@pytest.fixture(scope="module")
def tiny():
    return quantize_sweep(task="sine", rules=["rflo"], weight_bits=[3, 16], trace_bits=[16],
                          roundings=["nearest"], n_rec=6, iters=12, seed=0)


def test_sweep_rows_and_float_baseline(tiny):
    rows = tiny["rows"]
    assert [(r["rounding"], r["quantity"], r["bits"]) for r in rows] == [
        ("float64", "float64", 64), ("nearest", "w", 3), ("nearest", "w", 16), ("nearest", "t", 16)]
    fl = rows[0]
    for r in rows:
        assert np.isfinite(r["final_loss"])
        assert r["vs_float"] == pytest.approx(r["final_loss"] / fl["final_loss"])
        assert r["learns"] == (r["final_loss"] <= 0.5 * tiny["config"]["untrained_loss"])
        assert r["near_float"] == (r["vs_float"] <= 2.0)
    # 16-bit weights and traces: close to float64 (same trials, same initial network)
    w16 = rows[2]
    assert abs(w16["final_loss"] - fl["final_loss"]) <= 0.05 * fl["final_loss"] + 1e-3
    # 3-bit weights (step 0.5 in a +-4 range): W_out rounds to 0, the output stays 0 and
    # the loss stays the untrained one
    assert rows[1]["final_loss"] > 1.5 * fl["final_loss"]
    assert fl["final_loss"] < tiny["config"]["untrained_loss"]
    assert tiny["config"]["n_rec"] == 6 and tiny["config"]["iters"] == 12


def test_smallest_widths_need_every_wider_run_to_learn():
    res = {"rows": [dict(rule="eprop", rounding="nearest", quantity="w", bits=b, learns=l,
                         near_float=n)
                    for b, l, n in ((4, True, False), (6, False, False), (8, True, False),
                                    (10, True, True))]}
    assert smallest_learning_widths(res) == [dict(rule="eprop", rounding="nearest", quantity="w",
                                                  smallest_bits=8, smallest_bits_near_float=10)]
    res["rows"][-1]["learns"] = False
    assert smallest_learning_widths(res)[0]["smallest_bits"] is None


def test_files_written(tiny, tmp_path):
    paths = write_sweep(tiny, tmp_path)
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[1]["spec"].startswith("w3,")
    js = json.loads(open(paths["json"]).read())
    assert js["config"]["task"] == "sine" and len(js["rows"]) == 4
    assert open(paths["md"]).read() == table_markdown(tiny)
    assert (tmp_path / "quantize_sweep.png").stat().st_size > 1000


@pytest.mark.parametrize("args,needle", [(["--weight-bits", "4,x"], "--weight-bits"),
                                         (["--rules", "bptt"], "rule"),
                                         (["--base", "w8,q3"], "'q3'"),
                                         (["--task", "2af"], "MSE")])
def test_cli_errors_are_one_line(args, needle, capsys):
    from localrnn.cli import main

    with pytest.raises(SystemExit) as e:
        main(["quantize-sweep", "--iters", "2", "--n-rec", "4", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error:") and needle in err[0], err
