"""``localrnn tasks``: the listing a person reads and the JSON a script reads."""
import json

import pytest
from click.testing import CliRunner

from localrnn.cli import main
from localrnn.cli.tasks import tasks as tasks_command
from localrnn.tasks import get_task, list_tasks

ROWS = {  # name: (in, out, dt, T, loss, default gain) as printed
    "romo": ("1", "2", "0.5 tau", "56", "mse", "1"),
    "2af": ("3", "3", "100 ms", "22", "xent", "1"),
    "dms": ("3", "3", "100 ms", "32", "xent", "1"),
    "sine": ("0", "1", "0.1 tau", "100", "mse", "1.5"),
    "cue": ("40", "2", "1 ms", "2250", "xent", "1"),
    "pattern": ("100", "1", "1 ms", "1000", "mse", "1"),
}


def rows_of(output):
    """``{name: (in, out, dt, T, loss, gain, description)}`` from the table (two-space columns)."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        if cells and cells[0] in ROWS:
            out[cells[0]] = tuple(cells[1:])
    return out


def test_tasks_lists_the_native_tasks_with_sizes():
    r = CliRunner().invoke(main, ["tasks"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["task", "in", "out", "dt", "T", "loss", "gain", "description"]
    rows = rows_of(r.output)
    assert list(rows) == list_tasks()
    for name, want in ROWS.items():
        assert rows[name][:6] == want, name
        assert float(rows[name][5]) == get_task(name).defaults["gain"]
        assert rows[name][6] == get_task(name).description
    assert "neurogym:<EnvId>" in r.output


def test_tasks_json_parses_and_matches_the_api():
    r = CliRunner().invoke(main, ["tasks", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [d["name"] for d in data] == list_tasks()
    for d in data:
        t = get_task(d["name"])
        assert (d["n_in"], d["n_out"], d["T"], d["dt"], d["time_unit"], d["alpha"], d["loss"]) == \
            (t.n_in, t.n_out, t.T, t.dt, t.time_unit, t.alpha, t.loss)
        assert d["periods"] == list(t.period_names)
        assert d["defaults"]["trainable"] == list(t.defaults["trainable"])
        assert d["defaults"]["lr"] == t.defaults["lr"]
    romo = data[0]
    assert romo["defaults"]["n_rec"] == 256 and romo["defaults"]["lr"] == pytest.approx(0.05 / 256)


def test_tasks_named_subset():
    r = CliRunner().invoke(main, ["tasks", "dms", "2af", "--json"])
    assert r.exit_code == 0, r.output
    assert [d["name"] for d in json.loads(r.output)] == ["dms", "2af"]
    r = CliRunner().invoke(main, ["tasks", "sine"])
    assert r.exit_code == 0 and list(rows_of(r.output)) == ["sine"]
    assert "neurogym:<EnvId>" not in r.output


def test_tasks_unknown_name_is_one_error_line_and_exit_2():
    r = CliRunner().invoke(main, ["tasks", "nope"])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: task='nope' is not allowed; choose one of 'romo', '2af', 'dms', "
                                "'sine', 'cue', 'pattern' or 'neurogym:<EnvId>'")
    assert "Traceback" not in r.output
    # The command itself raises the API's ValueError (the group formats it).
    r = CliRunner().invoke(tasks_command, ["nope"])
    assert isinstance(r.exception, ValueError)


def test_tasks_help():
    r = CliRunner().invoke(main, ["tasks", "--help"])
    assert r.exit_code == 0 and "--json" in r.output


def test_neurogym_missing_message_names_what_is_missing_and_the_install_command(monkeypatch):
    from localrnn.tasks.neurogym_adapter import import_error_message

    m = import_error_message(ImportError("No module named 'torch'", name="torch"))
    assert "'torch'" in m and 'pip install "localrnn[neurogym]"' in m and "pip install torch" in m
    m = import_error_message(ImportError("No module named 'neurogym'", name="neurogym"))
    assert m.startswith("neurogym tasks need the optional neurogym package") and "localrnn[neurogym]" in m
    # through the CLI, with neurogym absent: one line, exit 2
    import sys

    monkeypatch.setitem(sys.modules, "neurogym", None)  # makes `import neurogym` raise ImportError
    r = CliRunner().invoke(main, ["tasks", "neurogym:PerceptualDecisionMaking-v0"])
    assert r.exit_code == 2 and 'pip install "localrnn[neurogym]"' in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
