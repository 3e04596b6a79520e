"""The package's import graph: layers, no cycles, no private names across modules.

Walks every ``localrnn/**/*.py`` with :mod:`ast` (nothing is imported) and checks

* **layers** (:data:`LAYERS`, the table of docs/ARCHITECTURE.md): every module is in
  one layer and imports only from its own layer or the layers below, with
  module-level and lazy (in-function) imports alike.  Optional dependencies
  (torch, neurogym, dask, nir) are not localrnn modules and so are outside the map:
  importing them lazily is how a module keeps them optional.

* **no import cycle** among localrnn's modules.  Module-level imports (including
  class bodies and ``if``/``try`` blocks at module level) are edges.  Lazy imports
  inside a function are edges too: a cycle closed by a lazy import is still two
  modules that need each other (it is how ``engine`` and ``rtrl`` hid theirs), so
  lazy imports are allowed only to defer heavy or optional dependencies, never to
  break a cycle.  The implicit import of a parent package (``import a.b`` runs
  ``a/__init__``) is not an edge, otherwise every package ``__init__`` that
  re-exports its modules would be a cycle.
* **no private name across modules**: ``from .x import _name`` / ``from ..x import
  _name`` where ``_name`` is not itself a module, and ``x._name`` after
  ``import``-ing a localrnn module as ``x``.  Dunders (``__version__``) are public.
  Private *modules* (``_config``, ``_validate``, ``lyapunov._plots``) are fine to
  import: their public names are the package's internal API.

Violations in modules whose owners have not yet fixed them are listed in
``KNOWN``; the test fails on anything not listed and on a listed entry that is
gone (so the list only shrinks).
"""
from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "localrnn"

#: Known violations, to be resolved by their modules' owners (issue 9).
KNOWN: set = set()

#: The layers, lowest first (docs/ARCHITECTURE.md): module names or fnmatch patterns;
#: an exact name wins over a pattern (``localrnn.fixedpoint.experiment`` and
#: ``localrnn.neuromorphic.quantsweep`` are experiments, grids of runs on the sweep
#: executors; the rest of their packages are below).
LAYERS = {
    0: ("localrnn.names", "localrnn._validate", "localrnn._config", "localrnn._kernel_cache",
        "localrnn._numba_compat", "localrnn._threads", "localrnn._version", "localrnn.activations",
        "localrnn.io"),
    1: ("localrnn.kernels", "localrnn.kernels.*"),
    2: ("localrnn.network", "localrnn.trajectories", "localrnn.engine", "localrnn.rtrl",
        "localrnn.online", "localrnn.optim", "localrnn.learners", "localrnn.lyapunov",
        "localrnn.lyapunov.*", "localrnn.fixedpoint", "localrnn.fixedpoint.*"),
    3: ("localrnn.training", "localrnn.tasks", "localrnn.tasks.*", "localrnn.data", "localrnn.runs",
        "localrnn.plotting", "localrnn.plotting.*", "localrnn.analysis", "localrnn.alignment",
        "localrnn.benchmarks", "localrnn.benchmarks.*", "localrnn.neuromorphic",
        "localrnn.neuromorphic.*"),
    4: ("localrnn.sweep", "localrnn.sweep.*", "localrnn.reproduce", "localrnn.reproduce.*",
        "localrnn.fixedpoint.experiment", "localrnn.neuromorphic.quantsweep"),
    5: ("localrnn", "localrnn.cli", "localrnn.cli.*", "localrnn.__main__"),
}


def layer_of(module: str, layers=None):
    """The layer of ``module`` in ``layers`` (default :data:`LAYERS`), None if unmapped."""
    layers = LAYERS if layers is None else layers
    for lay, names in layers.items():
        if module in names:
            return lay
    for lay, names in layers.items():
        if any(fnmatch.fnmatchcase(module, p) for p in names if "*" in p):
            return lay
    return None


def upward_imports(root: Path, layers=None):
    """``(unmapped modules, upward edges)``; an edge is (importer, its layer, imported,
    its layer, "module" or "lazy")."""
    edges, lazy, _ = scan(root)
    unmapped = sorted(m for m in edges if layer_of(m, layers) is None)
    up = []
    for kind, graph in (("module", edges), ("lazy", lazy)):
        for m in sorted(graph):
            lm = layer_of(m, layers)
            for d in sorted(graph[m]):
                ld = layer_of(d, layers)
                if lm is not None and ld is not None and ld > lm:
                    up.append((m, lm, d, ld, kind))
    return unmapped, up


# --------------------------------------------------------------------------- the walker

def module_files(root: Path):
    """{module name: path} for every .py file under the package directory ``root``."""
    mods = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _resolve(module: str, is_pkg: bool, level: int, target) -> str:
    """The absolute name of a (possibly relative) import's module."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports(tree):
    """(node, lazy) for every import statement; lazy = inside a function body."""
    out = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, lazy))
            visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    visit(tree, False)
    return out


def scan(root: Path):
    """(edges, lazy_edges, private): the import graph of the package at ``root``.

    ``edges``/``lazy_edges``: {module: set of imported package modules} for
    module-level and in-function imports; ``private``: list of
    (importer, source module, name) for private names taken across modules.
    """
    mods = module_files(root)
    pkg = root.name
    edges = {m: set() for m in mods}
    lazy_edges = {m: set() for m in mods}
    private = []
    for m, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_pkg = path.name == "__init__.py"
        aliases = {}   # local name -> imported package module
        for node, lazy in _imports(tree):
            dest = lazy_edges[m] if lazy else edges[m]
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == pkg or a.name.startswith(pkg + "."):
                        if a.name in mods:
                            dest.add(a.name)
                            if a.asname:
                                aliases[a.asname] = a.name
                continue
            src = _resolve(m, is_pkg, node.level, node.module)
            if not (src == pkg or src.startswith(pkg + ".")):
                continue
            for a in node.names:
                sub = f"{src}.{a.name}"
                if sub in mods:              # ``from . import x``: the module x
                    dest.add(sub)
                    aliases[a.asname or a.name] = sub
                    continue
                if src in mods and src != m:
                    dest.add(src)
                if (a.name.startswith("_") and not a.name.startswith("__") and src != m):
                    private.append((m, src, a.name))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and f"{aliases[node.value.id]}.{node.attr}" not in mods):
                private.append((m, aliases[node.value.id], node.attr))
    return edges, lazy_edges, sorted(set(private))


def cycles(edges):
    """Strongly connected components with more than one module (or a self-import)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                out.append(tuple(sorted(comp)))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(out)


def violations(root: Path):
    edges, lazy, private = scan(root)
    both = {m: edges[m] | lazy[m] for m in edges}
    found = {("cycle", c) for c in cycles(both)}
    found |= {("private",) + p for p in private}
    return found


# --------------------------------------------------------------------------- the package

def test_every_module_imports_only_from_its_layer_or_below():
    unmapped, up = upward_imports(ROOT)
    assert not unmapped, f"modules in no layer (add them to LAYERS and docs/ARCHITECTURE.md): {unmapped}"
    assert not up, "upward imports (importer, layer, imported, layer, kind):\n" + "\n".join(map(str, up))


def test_no_new_cycle_or_private_import():
    found = violations(ROOT)
    new = sorted(found - KNOWN)
    assert not new, "import-graph violations (see this module's docstring):\n" + "\n".join(map(str, new))


def test_known_violations_are_still_there():
    gone = sorted(KNOWN - violations(ROOT))
    assert not gone, ("these KNOWN entries are fixed: delete them from KNOWN so they cannot "
                      "come back:\n" + "\n".join(map(str, gone)))


def test_module_level_graph_is_acyclic():
    """Without lazy imports too: what Python itself would trip over at import time."""
    edges, _, _ = scan(ROOT)
    assert cycles(edges) == []


def test_drivers_import_the_forward_pass_from_its_home():
    """engine, rtrl, lyapunov and online take the trajectory from localrnn.trajectories,
    and trajectories imports none of them."""
    edges, lazy, _ = scan(ROOT)
    for m in ("localrnn.engine", "localrnn.rtrl", "localrnn.lyapunov.spectrum",
              "localrnn.lyapunov.flossing", "localrnn.online"):
        assert "localrnn.trajectories" in edges[m], m
    drivers = {"localrnn.engine", "localrnn.rtrl", "localrnn.online", "localrnn.lyapunov"}
    assert not (edges["localrnn.trajectories"] | lazy["localrnn.trajectories"]) & drivers


# --------------------------------------------------------------------------- the checker itself

def _package(tmp_path, files):
    root = tmp_path / "pkg"
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_checker_finds_a_module_level_cycle(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "from .b import f\n",
                               "b.py": "from . import c\n", "c.py": "import pkg.a\n"})
    assert cycles(scan(root)[0]) == [("pkg.a", "pkg.b", "pkg.c")]


def test_checker_counts_a_lazy_import_that_closes_a_cycle(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "def g():\n    from .b import f\n",
                               "b.py": "from .a import g\ndef f():\n    pass\n"})
    edges, lazy, _ = scan(root)
    assert cycles(edges) == []
    assert violations(root) == {("cycle", ("pkg.a", "pkg.b"))}


def test_checker_ignores_the_parent_package_and_accepts_a_tree(tmp_path):
    root = _package(tmp_path, {"__init__.py": "from .a import f\nfrom .sub import g\n",
                               "a.py": "from ._util import h\nimport numpy as np\n",
                               "_util.py": "def h():\n    pass\n",
                               "sub/__init__.py": "from .m import g\n",
                               "sub/m.py": "from .._util import h\nfrom ..a import f\nfrom . import _p\n",
                               "sub/_p.py": ""})
    assert violations(root) == set()


def test_checker_finds_an_upward_import_module_level_or_lazy(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "low.py": "def f():\n    from .high import g\n",
                               "high.py": "from .low import f\ndef g():\n    pass\n",
                               "mid.py": "from . import high\n"})
    layers = {0: ("pkg.low",), 1: ("pkg.mid", "pkg"), 2: ("pkg.high",)}
    unmapped, up = upward_imports(root, layers)
    assert unmapped == []
    assert up == [("pkg.mid", 1, "pkg.high", 2, "module"), ("pkg.low", 0, "pkg.high", 2, "lazy")]
    assert upward_imports(root, {0: ("pkg.low",)})[0] == ["pkg", "pkg.high", "pkg.mid"]


@pytest.mark.parametrize("text,name", [
    ("from .b import _hidden\n", "_hidden"),
    ("from ..pkg.b import _hidden\n", "_hidden"),
    ("import pkg.b as bb\nx = bb._hidden\n", "_hidden"),
    ("def f():\n    from .b import _hidden\n", "_hidden"),
])
def test_checker_finds_a_private_name_across_modules(tmp_path, text, name):
    root = _package(tmp_path, {"__init__.py": "", "a.py": text, "b.py": "_hidden = 1\n"})
    assert violations(root) == {("private", "pkg.a", "pkg.b", name)}


def test_activation_codes_match_the_vocabulary():
    """The kernels' named codes agree with localrnn.names.ACTIVATIONS, and every code
    is distinct (kernels switch on these names, never on bare numbers)."""
    from localrnn.kernels import common
    from localrnn.names import ACTIVATIONS
    assert {n: getattr(common, n.upper()) for n in ACTIVATIONS} == ACTIVATIONS
    assert len(set(common.ACTIVATION_CODES)) == len(common.ACTIVATION_CODES) == 6
