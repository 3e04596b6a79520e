"""The kernel cache's freshness stamp covers every kernel source, not only a kernel's own file.

A cached kernel holds the machine code of the kernels it calls; Numba's default stamp
is the hash of the function's own file, so an edit of ``kernels/common.py`` left the
kernels of ``forward.py`` loading with the old tanh.  ``localrnn._config`` stamps every
localrnn kernel with one hash of all files that define compiled code.
"""
import importlib
from pathlib import Path

import numba
import pytest

import localrnn
from localrnn import _config


def _dispatchers():
    """Every njit function of every module whose source mentions ``njit``."""
    root = Path(localrnn.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if b"njit" not in path.read_bytes() or path.name == "_config.py":
            continue
        name = ".".join(("localrnn",) + path.relative_to(root).with_suffix("").parts)
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == name:
                yield f"{name}.{attr}", obj


def test_every_cached_kernel_is_stamped_with_the_whole_package():
    assert _config.PACKAGE_STAMP_INSTALLED
    seen = 0
    stamp = _config.package_source_stamp()
    for name, d in _dispatchers():
        cache = d._cache
        impl = getattr(cache, "_impl", None)
        assert impl is not None, f"{name} is not cached"
        loc = impl._locator
        assert getattr(loc, "localrnn_package_stamp", False), f"{name}: {type(loc).__name__}"
        assert loc.get_source_stamp() == stamp
        seen += 1
    assert seen > 50   # the walk found the kernels (forward, backward, online, ...)


def test_stamp_changes_with_any_kernel_source_and_only_those(tmp_path):
    (tmp_path / "kernels").mkdir()
    callee = tmp_path / "kernels" / "common.py"
    caller = tmp_path / "kernels" / "forward.py"
    other = tmp_path / "cli.py"
    callee.write_text("from .._config import njit\n@njit\ndef phi(x):\n    return x\n")
    caller.write_text("from .._config import njit\nfrom .common import phi\n@njit\ndef f(x):\n"
                      "    return phi(x)\n")
    other.write_text("def main():\n    return 1\n")
    s0 = _config.package_source_stamp(str(tmp_path))
    other.write_text("def main():\n    return 2\n")          # no compiled code: same stamp
    assert _config.package_source_stamp(str(tmp_path)) == s0
    callee.write_text(callee.read_text().replace("return x", "return 2 * x"))
    s1 = _config.package_source_stamp(str(tmp_path))
    assert s1 != s0                                       # the caller's cache is stale too
    caller.rename(tmp_path / "kernels" / "forward2.py")   # a renamed file is a change
    assert _config.package_source_stamp(str(tmp_path)) not in (s0, s1)


def test_functions_outside_the_package_keep_numbas_own_stamp(tmp_path):
    assert not _config._is_ours(str(tmp_path / "user_module.py"))
    assert _config._is_ours(localrnn.kernels.forward.__file__)
