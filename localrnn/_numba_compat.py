"""Every use of Numba's non-public internals, in one place.

Two things the package needs are not public Numba API:

* the kernel cache's **locator list** (``numba.core.caching.CacheImpl._locator_classes``
  and the locator classes in it), where :mod:`localrnn._kernel_cache` puts its
  stamped locators first;
* a compiled overload's **entry point** (``dispatcher.overloads[sig].entry_point``),
  which :class:`localrnn.OnlineLearner`'s fast path calls directly to skip the
  dispatcher's type resolution.

Both were checked in the Numba sources of 0.59.0, 0.59.1, 0.60.0, 0.61.0, 0.61.2,
0.62.0, 0.62.1, 0.63.1, 0.64.0, 0.65.1, 0.66.0, 0.67.0 (git tags of numba/numba) and in
the installed 0.68.1: ``CacheImpl._locator_classes`` is a list in all of them; the
locator classes are ``_UserProvidedCacheLocator``, ``_InTreeCacheLocator``,
``_UserWideCacheLocator`` up to 0.61 and the same names without the underscore from
0.62; ``Dispatcher.add_overload`` stores ``overloads[tuple(signature.args)] = cres``
and ``cres.entry_point`` is the compiled function.  ``setup.cfg`` pins Numba below
:data:`NUMBA_UPPER` accordingly, and ``tests/test_numba_compat.py`` fails loudly if
any of these moves.
"""
from __future__ import annotations

import numba

#: Oldest and first untested Numba versions (setup.cfg: ``numba>=0.59,<0.69``).
NUMBA_LOWER = (0, 59)
NUMBA_UPPER = (0, 69)
#: Numba's source-file cache locators, in the order of its own list.
LOCATOR_NAMES = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")


def cache_locators():
    """``(locator_list, bases)``: Numba's mutable list of cache locator classes and the
    three source-file locators of :data:`LOCATOR_NAMES`; ``None`` if this Numba keeps
    them elsewhere, or if ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces the list."""
    try:
        from numba.core import caching, config
        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
        bases = tuple(getattr(caching, n, None) or getattr(caching, "_" + n) for n in LOCATOR_NAMES)
        classes = impl._locator_classes
    except (ImportError, AttributeError):
        return None
    if not isinstance(classes, list) or getattr(config, "CACHE_LOCATOR_CLASSES", None):
        return None
    return classes, bases


def compiled_entry(dispatcher, args):
    """The compiled function of ``dispatcher`` for the Numba types of ``args``
    (compiled, or loaded from the cache, on first use), callable with the same
    arguments without the dispatcher's type checks."""
    sig = tuple(numba.typeof(a) for a in args)
    dispatcher.compile(sig)
    return dispatcher.overloads[sig].entry_point


def version_tuple(version: str = numba.__version__):
    """``"0.68.1"`` -> ``(0, 68)``."""
    return tuple(int(p) for p in version.split(".")[:2])
