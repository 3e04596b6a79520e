"""The Numba internals localrnn relies on are where localrnn/_numba_compat.py says.

If one of these fails after a Numba upgrade, the kernel cache's freshness stamp or the
online learner's fast path would silently degrade: check the new Numba's
``numba/core/caching.py`` and ``Dispatcher.add_overload``, adapt ``_numba_compat``,
and move the upper bound in setup.cfg.
"""
import configparser
from pathlib import Path

import numba
import numpy as np
from packaging.requirements import Requirement

from localrnn import _config, _numba_compat
from localrnn.kernels import online as _k_online


def test_installed_numba_is_inside_the_checked_range():
    v = _numba_compat.version_tuple()
    assert _numba_compat.NUMBA_LOWER <= v < _numba_compat.NUMBA_UPPER, (
        f"Numba {numba.__version__} is outside the versions localrnn/_numba_compat.py was "
        "checked against; check its internals and move the bounds")


def test_setup_cfg_pins_the_checked_range():
    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    reqs = [Requirement(line) for line in cfg["options"]["install_requires"].splitlines()
            if line.strip() and not line.strip().startswith("#")]
    spec = next(r.specifier for r in reqs if r.name == "numba")
    lo, hi = (".".join(map(str, v)) for v in (_numba_compat.NUMBA_LOWER, _numba_compat.NUMBA_UPPER))
    assert {str(s) for s in spec} == {f">={lo}", f"<{hi}"}


def test_cache_locator_list_is_where_expected():
    found = _numba_compat.cache_locators()
    assert found is not None, "numba.core.caching's locator list moved"
    classes, bases = found
    assert isinstance(classes, list)
    for b in bases:
        assert b in classes or any(issubclass(c, b) for c in classes)
        assert callable(getattr(b, "from_function")) and callable(getattr(b, "get_source_stamp"))
    assert _config.PACKAGE_STAMP_INSTALLED
    assert [getattr(c, "localrnn_package_stamp", False) for c in classes[:len(bases)]] == [True] * 3


def test_compiled_entry_is_the_overloads_entry_point():
    @numba.njit
    def add(a, b):
        return a + b

    fn = _numba_compat.compiled_entry(add, (np.float64(1.0), np.float64(2.0)))
    assert fn(1.5, 2.0) == 3.5
    sig = (numba.float64, numba.float64)
    assert add.overloads[sig].entry_point is fn


def test_the_online_step_entry_point_runs():
    """The learner's fast path goes through compiled_entry; its numbers equal the
    dispatcher's (kernels.online.step)."""
    from localrnn import Network, OnlineLearner

    net = Network.init(2, 5, 1, seed=0)
    a = OnlineLearner(net.copy(), rule="eprop", lr=0.1)
    b = OnlineLearner(net.copy(), rule="eprop", lr=0.1)
    x, y = np.ones((1, 2)), np.zeros((1, 1))
    la = a.step(x, y)                                  # fast path: the entry point
    assert a._entry is not None
    lb = _k_online.step(*b._head, x, y, b._dummy_t, b._ones, b._nz0)   # the dispatcher
    assert la == lb
    np.testing.assert_array_equal(a.net.W, b.net.W)
