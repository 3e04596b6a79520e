"""The package's import graph: no cycles, no private names across modules.

Walks every ``localrnn/**/*.py`` with :mod:`ast` (nothing is imported) and checks

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
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "localrnn"

#: Known violations, to be resolved by their modules' owners (issue 9).
KNOWN: set = set()


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
