"""The kernel cache's freshness stamp: a module's source with its callees'.

Numba decides that a cached kernel is fresh from its own source file only, but a
kernel's machine code also holds the code of every kernel it calls (inlined or linked
in) and the module-level constants it reads: after an edit of ``kernels/common.py``
(tanh, phi'), the kernels of ``forward.py`` would load from the cache with the old
tanh inside -- silently (it happened here during development).  So every localrnn
kernel is stamped with :func:`module_stamp` of its module: one hash of that module's
source and of every localrnn module it imports, transitively (module-level and lazy
imports alike: the callees and the constants its compiled code can hold), plus the
Numba options the kernels are compiled with.  Editing a kernel's module or any of its
callees recompiles it; editing anything else (another kernel module, a benchmark,
the CLI, the settings module itself) keeps its cache.

Numba's own locators (NUMBA_CACHE_DIR, in-tree ``__pycache__``, the user-wide
fallback) still choose where the cache lives; only the freshness stamp is ours.  The
locator list is a Numba internal (:mod:`localrnn._numba_compat`): if a Numba version
keeps it elsewhere, kernels fall back to Numba's per-file stamp and a warning says so.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import warnings
from typing import Dict, Optional, Set

from ._numba_compat import cache_locators

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Modules whose source is not part of any stamp: the Numba settings (their options
#: enter every stamp as values) and the cache machinery itself.
NOT_STAMPED = ("_config.py", "_kernel_cache.py", "_numba_compat.py")


def _module_file(root: str, parts) -> Optional[str]:
    """The file of module ``parts`` (relative to ``root``'s parent), if it exists."""
    base = os.path.join(os.path.dirname(root), *parts)
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def imported_files(path: str, root: str = PACKAGE_DIR) -> Set[str]:
    """Files of the package at ``root`` that ``path`` imports (any depth in the file:
    module-level and lazy imports).  ``from . import x`` counts the module ``x``;
    ``from .m import f`` the module ``m``; the implicit import of a parent package
    (its ``__init__``) does not count."""
    pkg = os.path.basename(root)
    rel = os.path.relpath(path, os.path.dirname(root)).split(os.sep)
    here = rel[:-1]                      # the importing module's package
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [_module_file(root, a.name.split(".")) for a in node.names
                      if a.name.split(".")[0] == pkg]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                base = here[:len(here) - (node.level - 1)] + base
            if not base or base[0] != pkg:
                continue
            for a in node.names:   # a submodule, else a name of the module ``base``
                found.append(_module_file(root, base + [a.name]) or _module_file(root, base))
    me = os.path.abspath(path)
    return {os.path.abspath(f) for f in found if f is not None and os.path.abspath(f) != me}


def module_stamp(path: str, root: str = PACKAGE_DIR, options: Optional[Dict] = None) -> str:
    """sha256 of ``path``'s source and of every package file it imports, transitively
    (each as its path relative to ``root`` and its content, in sorted order), except
    :data:`NOT_STAMPED`, and of ``repr(options)``."""
    seen, todo = set(), [os.path.abspath(path)]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if os.path.dirname(f) == os.path.abspath(root) and os.path.basename(f) in NOT_STAMPED:
            continue
        todo.extend(imported_files(f, root) - seen)
    h = hashlib.sha256(repr(sorted((options or {}).items())).encode() + b"\0")
    for f in sorted(seen):
        if os.path.dirname(f) == os.path.abspath(root) and os.path.basename(f) in NOT_STAMPED:
            continue
        with open(f, "rb") as fh:
            h.update(os.path.relpath(f, root).encode() + b"\0" + fh.read() + b"\0")
    return h.hexdigest()


def is_ours(py_file) -> bool:
    """True for a file inside the package (its kernels get the package stamp)."""
    try:
        return os.path.realpath(py_file).startswith(os.path.realpath(PACKAGE_DIR) + os.sep)
    except (TypeError, ValueError):
        return False


def install(options: Dict) -> bool:
    """Put a stamped subclass of each of Numba's source-file locators first in Numba's
    locator list (same order, so the same cache directory is chosen).  ``options``:
    the Numba options of every kernel, part of every stamp.  False (and a warning) if
    this Numba keeps its locators elsewhere."""
    found = cache_locators()
    if found is None:
        warnings.warn("localrnn: this Numba's cache locators are not where expected; kernels "
                      "are cached with Numba's per-file freshness check (clear __pycache__ "
                      "after editing localrnn/kernels)", RuntimeWarning, stacklevel=3)
        return False
    classes, bases = found
    if any(getattr(c, "localrnn_package_stamp", False) for c in classes):
        return True
    frozen = dict(options)

    @functools.lru_cache(maxsize=None)
    def stamp(py_file):
        return module_stamp(py_file, PACKAGE_DIR, frozen)

    def stamped(base):
        class Locator(base):
            localrnn_package_stamp = True

            def get_source_stamp(self):
                return stamp(self.localrnn_py_file)

            @classmethod
            def from_function(cls, py_func, py_file):
                if not is_ours(py_file):
                    return None
                loc = super().from_function(py_func, py_file)
                if loc is not None:
                    loc.localrnn_py_file = os.path.abspath(py_file)
                return loc

        Locator.__name__ = Locator.__qualname__ = "Package" + base.__name__.lstrip("_")
        return Locator

    classes[:0] = [stamped(b) for b in bases]
    return True
