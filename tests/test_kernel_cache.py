"""The kernel cache's freshness stamp covers a kernel's module and its callees, nothing else.

A cached kernel holds the machine code of the kernels it calls; Numba's default stamp
is the hash of the function's own file, so an edit of ``kernels/common.py`` left the
kernels of ``forward.py`` loading with the old tanh.  ``localrnn._kernel_cache`` stamps
every localrnn kernel with the hash of its module, of every localrnn module that module
imports (transitively) and of the Numba options; an edit anywhere else (a benchmark,
the settings module, another kernel module) keeps the cache.
"""
import importlib
from pathlib import Path

import numba

import localrnn
from localrnn import _config, _kernel_cache


def _dispatchers():
    """Every njit function of every module whose source mentions ``njit``."""
    root = Path(localrnn.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if b"njit" not in path.read_bytes() or path.name in _kernel_cache.NOT_STAMPED:
            continue
        name = ".".join(("localrnn",) + path.relative_to(root).with_suffix("").parts)
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == name:
                yield f"{name}.{attr}", obj, path


def test_every_cached_kernel_is_stamped_with_its_module_and_callees():
    assert _config.PACKAGE_STAMP_INSTALLED
    seen = 0
    for name, d, path in _dispatchers():
        impl = getattr(d._cache, "_impl", None)
        assert impl is not None, f"{name} is not cached"
        loc = impl._locator
        assert getattr(loc, "localrnn_package_stamp", False), f"{name}: {type(loc).__name__}"
        assert loc.get_source_stamp() == _kernel_cache.module_stamp(
            str(path), options=_config.NJIT_OPTIONS), name
        seen += 1
    assert seen > 50   # the walk found the kernels (forward, backward, online, ...)


def test_the_package_kernels_depend_on_what_they_import():
    """kernels/forward.py's stamp covers kernels/common.py (its callee) and names.py (the
    activation codes), and not a benchmark, the CLI or the settings module."""
    root = Path(localrnn.__file__).parent
    files = {Path(f).relative_to(root).as_posix()
             for f in _kernel_cache.imported_files(str(root / "kernels" / "forward.py"))}
    assert {"kernels/common.py", "_config.py"} <= files
    assert "benchmarks/floors.py" not in files and "cli/run.py" not in files


def _package(tmp_path):
    root = tmp_path / "pkg"
    (root / "kernels").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "kernels" / "__init__.py").write_text("")
    files = {
        "_config.py": "OPTS = 1\ndef njit(f):\n    return f\n",
        "names.py": "CODES = {'tanh': 0}\n",
        "kernels/common.py": "from .._config import njit\nfrom ..names import CODES\nTANH = CODES['tanh']\n"
                             "@njit\ndef phi(x):\n    return x\n",
        "kernels/forward.py": "from .._config import njit\nfrom .common import phi\n@njit\ndef f(x):\n"
                              "    return phi(x)\n",
        "kernels/other.py": "from .._config import njit\n@njit\ndef g(x):\n    return x\n",
        "floors.py": "from ._config import njit\nfrom .kernels.forward import f\n@njit\ndef h(x):\n"
                     "    return f(x)\n",
        "cli.py": "def main():\n    from .floors import h\n    return h(1)\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_stamp_changes_with_the_module_or_a_callee_and_nothing_else(tmp_path):
    root = _package(tmp_path)
    fwd = str(root / "kernels" / "forward.py")

    def stamp(path=fwd, options=None):
        return _kernel_cache.module_stamp(path, str(root), options or {"cache": True})

    s0 = stamp()
    for name, text in (("cli.py", "def main():\n    return 2\n"),        # no compiled code
                       ("kernels/other.py", "def g(x):\n    return 2 * x\n"),  # not a callee
                       ("floors.py", "def h(x):\n    return 3\n"),           # a caller, not a callee
                       ("_config.py", "OPTS = 2\ndef njit(f):\n    return f\n")):  # the settings module
        (root / name).write_text(text)
        assert stamp() == s0, name
    assert stamp(options={"cache": True, "fastmath": True}) != s0    # the Numba options count
    (root / "names.py").write_text("CODES = {'tanh': 1}\n")           # a constant the callee reads
    s1 = stamp()
    assert s1 != s0
    callee = root / "kernels" / "common.py"
    callee.write_text(callee.read_text().replace("return x", "return 2 * x"))
    s2 = stamp()
    assert s2 not in (s0, s1)                                         # the caller's cache is stale
    floors = str(root / "floors.py")
    (root / "floors.py").write_text("from .kernels.forward import f\n")
    f0 = stamp(floors)
    (root / "kernels" / "forward.py").write_text((root / "kernels" / "forward.py").read_text() + "\n")
    assert stamp(floors) != f0                                        # transitively: floors -> forward
    (root / "kernels" / "forward.py").rename(root / "kernels" / "forward2.py")
    (root / "floors.py").write_text("from .kernels.forward2 import f\n")
    assert stamp(floors) != f0                                        # a renamed file is a change


def test_relative_and_absolute_imports_resolve(tmp_path):
    root = _package(tmp_path)
    (root / "a.py").write_text("import pkg.kernels.common as c\nfrom . import names\n"
                               "def f():\n    from .kernels import other\n")
    got = {Path(f).relative_to(root).as_posix() for f in _kernel_cache.imported_files(str(root / "a.py"), str(root))}
    assert got == {"kernels/common.py", "names.py", "kernels/other.py"}


def test_functions_outside_the_package_keep_numbas_own_stamp(tmp_path):
    assert not _kernel_cache.is_ours(str(tmp_path / "user_module.py"))
    assert _kernel_cache.is_ours(localrnn.kernels.forward.__file__)
