"""Property-based fuzzing of every ``localrnn`` command: no traceback, ever.

Every command of :data:`localrnn.cli.COMMANDS` (and every subcommand of a group)
must have an entry in :data:`STRATEGIES`; a command added later without one
fails :func:`test_every_command_has_a_strategy`.  Every option of a command is
fuzzed: options listed in a command's entry draw from the values given there
(tiny valid sizes, boundary values, names that do not exist, paths that cannot
be used); any other option (one added later) draws from a generic strategy for
its click type, so new options are covered without editing this file.

Each invocation runs in-process (click's ``CliRunner``) and must end with an
allowed exit code, no Python traceback in its output and no exception other
than ``SystemExit``.  Sizes stay tiny (``--iters`` 1-2, ``--n-rec`` 2-8) and
"huge" values are absurd (>= 1e15), so they are refused by validation or by the
memory estimate instead of running: the whole file takes well under a minute.
"""
import os
import tempfile
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localrnn.cli import COMMANDS, EXIT_CODES, main

#: exit codes a command may end with: 0 done, 2 bad value, 3 diverged, 4 results
#: not writable (disk full, I/O) or out of memory -- see localrnn/cli/__init__.py
ALLOWED_EXIT = {EXIT_CODES["done"], EXIT_CODES["bad_value"], EXIT_CODES["diverged"], EXIT_CODES["io"]}

#: examples per command (about 250 in all; a run or a linear fixed-point grid writes files and
#: a figure, so those are fewer); commands not listed get DEFAULT_EXAMPLES
EXAMPLES = {"run": 70, "lyapunov": 50, "plot": 20, "tasks": 30, "bench": 20, "fixedpoint linear": 12,
            "fixedpoint mnist": 40, "quantize-sweep": 8, "reproduce": 6}
DEFAULT_EXAMPLES = 30
SETTINGS = settings(max_examples=DEFAULT_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------ value pools
HUGE_INTS = ["1000000000000000", "99999999999", "9223372036854775808", "1" + "0" * 400]
BAD_INTS = ["0", "-1", "-9223372036854775809", "", "abc", "1.5", "nan"]
BAD_FLOATS = ["0", "-1", "nan", "inf", "-inf", "1e308", "-1e308", "1e-320", "", "x"]
NAMES = ["", "nosuch", "NaN", "-", "--", "romo,sine", "neurogym:NoSuchEnv-v0", "\u00e9\u00e8"]


def tiny_int(lo=1, hi=8):
    return st.integers(lo, hi).map(str)


def ints(lo=1, hi=8, huge=True):
    """Tiny valid ints, boundary/bad ones, and (``huge``) absurd ones."""
    pools = [tiny_int(lo, hi), st.sampled_from(BAD_INTS)]
    if huge:
        pools.append(st.sampled_from(HUGE_INTS))
    return st.one_of(*pools)


def floats(valid):
    return st.one_of(st.sampled_from(valid), st.sampled_from(BAD_FLOATS))


def choice(valid):
    return st.one_of(st.sampled_from(list(valid)), st.sampled_from(NAMES))


# paths, filled in by the module fixture (tmp folders)
P = {}


def out_dirs():
    return st.one_of(st.just("NEW"), st.sampled_from(["/proc/x", "/proc/x/y", "FILE", "FILE/sub", ""]))


def out_files():
    return st.one_of(st.just("NEWFILE.png"),
                     st.sampled_from(["/proc/x.png", "DIR", "", "NEWFILE.unknownext", "FILE/x.png"]))


def run_dirs():
    return st.sampled_from(["RUN", "RUN", "DIR", "MISSING", "FILE", "/proc", ""])


FLAG = st.just(None)  # a flag: present or not

#: command path -> {"args": strategy of positional args, "base": args always given
#: first (tiny sizes; a list, or a strategy of lists), "options": {option: strategy}} -- a strategy value
#: that is a tuple gives the option once per element
#: -- see the module docstring.  Options not listed are fuzzed from their click type
#: (:func:`generic`), so a new command's entry can be one line, e.g.
#: ``"quantize-sweep": {"args": st.just([]), "base": ["--iters", "2", "--n-rec", "4"]}``;
#: list an option only to give it tiny valid values (sizes, names a run accepts) or
#: the hostile values it is most likely to mishandle.
STRATEGIES = {
    "run": {
        "args": st.one_of(st.lists(choice(["romo", "sine", "2af", "dms", "cue", "pattern"]), min_size=0,
                                   max_size=1)),
        "base": ["--iters", "1", "--n-rec", "4", "--batch", "2", "--eval-batch", "2"],
        "options": {
            "--rule": choice(["bptt", "rtrl", "eprop", "rflo"]),
            "--gain": floats(["0.5", "1.5", "3", "1e3"]),
            "--n-rec": ints(2, 8), "--batch": ints(1, 3), "--iters": ints(1, 2),
            "--lr": floats(["1e-3", "0.1", "1e12"]),
            "--optimizer": choice(["sgd", "adam"]), "--form": choice(["current", "rate"]),
            "--activation": choice(["tanh", "relu", "softplus", "retanh"]),
            "--dtype": choice(["float64", "float32"]), "--feedback": choice(["symmetric", "random"]),
            "--online": FLAG, "--seed": ints(0, 3), "--eval-every": ints(1, 2),
            "--eval-batch": ints(1, 3), "--checkpoint-every": ints(1, 2),
            "--floss-iters": ints(0, 2, huge=False), "--floss-k": ints(1, 3),
            "--floss-mode": choice(["local", "local-keep-q", "exact"]), "--floss-lr": floats(["1e-3", "0.1"]),
            "--rescale-to": floats(["0", "-0.05"]), "--truncation": choice(["recurrent", "state"]),
            "--lyapunov": FLAG,
            # the spiking options (cue, pattern; refused for the rate tasks)
            "--model": choice(["lif", "alif"]), "--reset": choice(["subtract", "set"]),
            "--v-th": floats(["0.03", "0.6"]), "--v-reset": st.sampled_from(["0", "-0.1", "0.5", "nan", "x"]),
            "--tau-m": floats(["20", "1e-3"]), "--tau-a": floats(["200"]), "--tau-out": floats(["20"]),
            "--refractory": ints(0, 5), "--beta": floats(["0.5", "1e3"]), "--n-adaptive": ints(0, 8),
            "--reg": st.sampled_from(["0", "2", "-1", "nan", "1e308"]),
            "--reg-rate": st.sampled_from(["0.01", "0", "1", "2", "-0.1", "nan"]),
            "--out": out_dirs(), "--resume": run_dirs(), "--json": FLAG,
        },
    },
    "tasks": {
        "args": st.lists(choice(["romo", "2af", "dms", "sine"]), max_size=2),
        "base": [], "options": {"--json": FLAG},
    },
    "plot": {
        "args": st.lists(run_dirs(), min_size=0, max_size=2),
        "base": [], "options": {"--out": out_files(), "--title": st.sampled_from(["", "t", "%s {}"])},
    },
    # a valid bench takes about a minute: only --help and bad values here
    "bench": {
        "args": st.just([]), "base": [],
        "options": {"--only": st.sampled_from(NAMES[1:]), "--quick": FLAG, "--json": FLAG,
                    "--help": FLAG},
        "always": ["--only"],
    },
    "lyapunov": {
        "args": st.lists(run_dirs(), max_size=1),
        "base": [],
        "options": {
            "--task": choice(["romo", "sine", "2af"]), "--gain": floats(["0.5", "1.5"]),
            "--gains": st.sampled_from(["0.5,1", "1", "", "1,x", "-1", "nan,1", ",", "1e308"]),
            "--k": ints(1, 3), "--n-rec": ints(2, 8), "--trials": ints(1, 2),
            "--seeds": ints(1, 2, huge=False), "--seed": ints(0, 2), "--out": out_files(),
            "--json": FLAG,
        },
    },
    "fixedpoint linear": {
        "args": st.just([]),
        "base": ["--n", "4", "--m", "3", "--iters", "2", "--eig-every", "1"],
        "options": {
            "--rule": choice(["dW1", "dW2", "dW3"]), "--rules": st.sampled_from(["dW1,dW3", "dW1,dW1", "", "x"]),
            "--lr": floats(["0.1", "1"]),
            "--lrs": st.one_of(st.sampled_from(["0.1,0.3", "paper", "dW1:0.1", "x", "", "0.1,,1"]),
                               st.sampled_from([("0.1", "0.3"), ("0.1,1", "paper"), ("1", "2", "3")])),
            "--n": ints(2, 6, huge=False), "--m": ints(1, 4, huge=False), "--iters": ints(1, 2, huge=False),
            "--eig-every": ints(1, 2, huge=False), "--seed": ints(0, 2), "--out": out_dirs(),
            "--json": FLAG,
        },
    },
    "fixedpoint mnist": {
        "args": st.just([]),
        "base": ["--n-rec", "4", "--batch", "8", "--epochs", "1", "--n-train", "16", "--n-test", "8",
                 "--max-iter", "5", "--jobs", "1", "--eig-every", "1", "--n-steps", "5"],
        "options": {
            "--data": st.sampled_from(["MNIST", "MNIST", "MISSING", "DIR", "FILE", ""]),
            "--rule": choice(["dW1", "dW3", "dW4", "bptt"]), "--rules": st.sampled_from(["dW1,dW3", "", "x"]),
            "--lr": floats(["0.1"]),
            "--lrs": st.one_of(st.sampled_from(["0.1", "paper", "x"]), st.just(("0.1", "0.2"))),
            "--n-rec": ints(2, 6, huge=False), "--batch": ints(1, 16, huge=False),
            "--epochs": ints(1, 1, huge=False), "--solver": choice(["converge", "relax"]),
            "--tol": floats(["1e-5"]), "--max-iter": ints(1, 5, huge=False), "--memory": ints(0, 3, huge=False),
            "--eta-d": floats(["0.1"]), "--n-steps": ints(0, 5, huge=False), "--dtype": choice(["float32", "float64"]),
            "--optimizer": choice(["sgd", "adam"]), "--gain": floats(["0.5"]), "--eig-every": ints(1, 2, huge=False),
            "--n-train": ints(8, 16, huge=False), "--n-test": ints(4, 8, huge=False), "--no-train-eval": FLAG,
            "--jobs": ints(1, 1, huge=False), "--seed": ints(0, 2), "--out": out_dirs(), "--json": FLAG,
        },
        "required": ["--data"],
    },
    # a valid sweep is a quick grid of 1-2 tiny cells (or the GRID file's); a valid Dask
    # executor costs seconds, so --dask-local/--scheduler draw only refused values
    "sweep": {
        "args": st.lists(st.sampled_from(["GRID", "GRID", "BADGRID", "MISSING", "DIR", "FILE", "/proc/x"]),
                         max_size=1),
        "base": ["--iters", "1", "--n-rec", "4", "--batch", "2", "--no-progress"],
        "options": {
            "--task": st.one_of(st.sampled_from(["romo", "sine"]), st.sampled_from(NAMES)),
            "--rules": st.sampled_from(["rflo", "bptt,rflo", "eprop", "", "x", "rflo,", "rflo,rflo"]),
            "--gains": st.sampled_from(["0.5", "0.5,1.5", "", "x", "nan", "-1", "1e308", "0.5,,1"]),
            "--lrs": st.sampled_from(["0.01", "0.01,0.1", "0", "-1", "inf", "", "x"]),
            "--seeds": st.sampled_from(["0", "0,1", "-1", "1.5", "x", "", "9223372036854775808"]),
            "--iters": st.sampled_from(["1", "2", "0", "-1", "1.5", "x", "1" + "0" * 400]),
            "--n-rec": st.sampled_from(["2", "4", "0", "-3", "99999999999", "x"]),
            "--batch": st.sampled_from(["1", "2", "0", "99999999999", "x"]),
            "--floss-iters": st.sampled_from(["0", "1", "0,1", "-1", "x"]),
            "--dtype": choice(["float64", "float32", "float64,float32"]),
            "--form": choice(["current", "rate", "current,rate"]),
            "--feedback": choice(["symmetric", "random"]),
            "--workers": st.sampled_from(["1", "0", "-1", "x", "", "1" + "0" * 400]),
            "--scheduler": st.sampled_from(["", "nosuch", "tcp://", "\u00e9"]),
            "--dask-local": st.sampled_from(["0", "-1", "x", "", "1" + "0" * 400]),
            "--lyapunov": FLAG, "--align": FLAG, "--no-progress": FLAG, "--json": FLAG,
            "--out": out_dirs(),
        },
        "required": ["--task"],
    },
    # the step spec is arithmetic on sizes (huge sizes are valid there); nir reads a run.
    # Mostly a valid spec as the base (options drawn later override it), so md/json/lava
    # really run; sometimes nothing, so a missing option is refused
    "export": {
        "args": st.lists(run_dirs(), max_size=1),
        "base": st.sampled_from([["--rule", "rflo", "--n-rec", "4", "--n-in", "2", "--n-out", "1"],
                                 ["--rule", "eprop", "--form", "rate", "--n-rec", "3", "--n-in", "1",
                                  "--n-out", "2"],
                                 []]),
        "options": {
            "--rule": choice(["rflo", "eprop", "rtrl", "bptt"]), "--form": choice(["current", "rate"]),
            "--n-rec": ints(1, 8), "--n-in": ints(1, 4), "--n-out": ints(1, 3), "--T": ints(1, 20),
            "--quantize": st.sampled_from(["w8,s16,t12,acc32", "w16", "w8,s16,t12,l16,acc32", "", "x",
                                           "w0", "w99", "w8,w8", "w8.3", "q8", "w-1"]),
            "--feedback": choice(["symmetric", "random"]),
            "--alpha": floats(["0.125", "0.1", "1"]),
            "--dt": floats(["1e-4", "1"]),
            "--format": choice(["md", "json", "nir", "lava"]),
            "--out": st.one_of(st.just("NEWFILE.nir"), out_files()),
        },
    },
    # the study at its tiny test scale (every other scale runs for minutes: --scale and
    # --quick draw only refused values besides tiny); valid executors cost seconds, so
    # --workers/--dask-local/--scheduler draw refused values
    "reproduce": {"args": st.sampled_from([["liu2024"], ["liu2024"], ["nosuch"], [""], []]),
                  "base": ["--scale", "tiny", "--no-progress"],
                  "options": {"--scale": st.sampled_from(["tiny", "", "huge", "TINY"]),
                              "--quick": FLAG,  # refused beside the base --scale tiny
                              "--workers": st.sampled_from(["1", "0", "-1", "x", "1" + "0" * 400]),
                              "--dask-local": st.sampled_from(["0", "-1", "x", "1" + "0" * 400]),
                              "--scheduler": st.sampled_from(["", "nosuch", "tcp://"]),
                              "--out": out_dirs()}},
    # a tiny valid sweep as the base (each example trains float64 and integer learners,
    # so few examples); the other options fuzzed from their click types
    "quantize-sweep": {"args": st.just([]),
                       "base": ["--rules", "rflo", "--weight-bits", "8", "--trace-bits", "8",
                                "--roundings", "nearest", "--n-rec", "4", "--iters", "2"],
                       "options": {"--out": out_dirs(),
                                   # spawning workers costs seconds: 1 and refused values
                                   "--workers": st.sampled_from(["1", "0", "-1", "x", ""]),
                                   "--weight-bits": st.sampled_from(["8", "4,8", "8,,4", "x", "", "99"]),
                                   "--rules": st.sampled_from(["rflo", "eprop,rflo", "", "bptt", "rflo,"])}},
}


def command_paths():
    """``"name"`` for every command, ``"group sub"`` for every subcommand of a group."""
    ctx = click.Context(main)
    out = []
    for name in COMMANDS:
        cmd = main.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += [f"{name} {sub}" for sub in cmd.list_commands(click.Context(cmd))]
        else:
            out.append(name)
    return out


def command_of(path):
    cmd = main
    for part in path.split():
        cmd = cmd.get_command(click.Context(cmd), part)
    return cmd


def generic(param):
    """A strategy for an option no entry lists (one added later), from its click type."""
    if getattr(param, "is_flag", False):
        return FLAG
    t = param.type
    if isinstance(t, click.Choice):
        return choice(t.choices)
    if isinstance(t, click.types.IntParamType):
        return ints(1, 4, huge=False)
    if isinstance(t, click.types.FloatParamType):
        return floats(["0.5"])
    if isinstance(t, click.Path):
        return st.sampled_from(["MISSING", "DIR", "FILE", "/proc/x", ""])
    return st.sampled_from(NAMES)


def options_of(path):
    """{option string: strategy} for every option of the command."""
    spec = STRATEGIES[path].get("options", {})
    out = {}
    for p in command_of(path).params:
        if isinstance(p, click.Option):
            name = max(p.opts, key=len)
            out[name] = spec[name] if name in spec else generic(p)
    out["--help"] = spec.get("--help", FLAG)
    return out


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Paths the strategies refer to: a finished run, a folder, a file, tiny MNIST."""
    from localrnn.training import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("fuzz")
    Trainer(TrainConfig(task="romo", rule="rflo", gain=0.5, n_rec=4, batch=2, iters=2, eval_batch=2),
            root / "run").run()
    (root / "dir").mkdir()
    (root / "file").write_text("not a run")
    rng = np.random.default_rng(7)
    np.savez(root / "mnist.npz", x_train=rng.integers(0, 256, (24, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 24), x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, 10))
    (root / "grid.toml").write_text('task = "sine"\nrule = "rflo"\ngain = [0.5, 1.5]\niters = 1\n'
                                    'n_rec = 4\nbatch = 2\neval_batch = 2\n')
    (root / "bad.toml").write_text('task = "romo"\nnosuch_key = 1\ngain = [\n')
    P.update(RUN=str(root / "run"), DIR=str(root / "dir"), FILE=str(root / "file"),
             MISSING=str(root / "missing" / "x"), MNIST=str(root / "mnist.npz"), ROOT=str(root),
             GRID=str(root / "grid.toml"), BADGRID=str(root / "bad.toml"))
    return root


def resolve(v):
    """A placeholder (RUN, FILE/sub, NEW, ...) as a real path; other values unchanged."""
    if v == "NEW" or v.startswith("NEWFILE"):
        return os.path.join(tempfile.mkdtemp(dir=P["ROOT"]), "out" + v[len("NEWFILE"):])
    head, _, tail = v.partition("/")
    if head in P:
        return P[head] + ("/" + tail if tail else "")
    return v


@st.composite
def invocation(draw, path):
    spec = STRATEGIES[path]
    opts = options_of(path)
    names = sorted(opts)
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=6))
    for r in spec.get("always", []):
        if r not in chosen:
            chosen.append(r)
    for r in spec.get("required", []):
        if r not in chosen and draw(st.integers(0, 9)) > 0:
            chosen.append(r)
    if "--help" in chosen and draw(st.integers(0, 3)) > 0:  # mostly not --help
        chosen.remove("--help")
    base = spec.get("base", [])
    args = path.split() + list(base if isinstance(base, list) else draw(base))
    for name in chosen:
        v = draw(opts[name])
        if isinstance(v, tuple):  # an option given several times (click's multiple=True)
            for x in v:
                args += [name, resolve(x)]
        else:
            args += [name] if v is None else [name, resolve(v)]
    args += [resolve(a) for a in draw(spec["args"])]
    return args


def check(args):
    """Invoke; assert the contract; return the exit code."""
    res = CliRunner().invoke(main, args)
    text = res.output + (res.stderr if res.stderr_bytes is not None else "")
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, repr(res.exception))
    assert "Traceback" not in text, (args, text)
    assert res.exit_code in ALLOWED_EXIT, (args, res.exit_code, text)
    if res.exit_code != 0:
        errors = [l for l in res.stderr.splitlines() if l.startswith("Error:")]
        assert len(errors) == 1 or res.exit_code == 3, (args, res.stderr)
    return res.exit_code


def test_every_command_has_a_strategy():
    missing = [p for p in command_paths() if p not in STRATEGIES]
    assert not missing, f"add fuzzing strategies for {missing} to STRATEGIES in {__file__}"
    assert set(STRATEGIES) == set(command_paths()), "STRATEGIES names a command that does not exist"


@pytest.mark.parametrize("path", command_paths())
def test_no_traceback_under_hostile_input(path, places, monkeypatch):
    if path not in STRATEGIES:
        pytest.fail(f"no fuzzing strategy for the command {path!r}: add one to STRATEGIES")
    monkeypatch.chdir(places)  # commands that write next to the working directory write here

    codes = []

    @settings(SETTINGS, max_examples=EXAMPLES.get(path, DEFAULT_EXAMPLES))
    @given(args=invocation(path))
    def fuzz(args):
        codes.append(check(args))

    fuzz()
    # the strategies reach both sides: refused values and (but for bench) real runs
    assert 2 in codes, codes
    if path != "bench":
        assert 0 in codes, codes


def test_the_hostile_values_of_issue_8_are_one_error_line(places, monkeypatch):
    monkeypatch.chdir(places)
    for args in (["run", "romo", "--out", "/proc/x"], ["run", "romo", "--batch", "99999999999"],
                 ["run", "romo", "--n-rec", "1" + "0" * 400], ["run", "romo", "--gain", "1e308", "--iters", "1",
                                                               "--n-rec", "4", "--out", str(Path(P["ROOT"]) / "g")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code in (2, 3), (args, res.output)
        assert "Traceback" not in res.output
