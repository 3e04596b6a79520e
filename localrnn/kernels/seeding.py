"""``numpy.random.SeedSequence``'s hashing, compiled (for :class:`localrnn.training._Draws`).

NumPy's SeedSequence (pool size 4) mixes the entropy's 32-bit words into a pool and
hashes the pool into the requested words; :func:`seed_words` does the same in uint64
arithmetic masked to 32 bits (every constant a ``np.uint64``: a Python int mixed with
a uint64 would make Numba compute in float64).  tests/test_tasks.py compares the
words with ``SeedSequence(...).generate_state(4, np.uint64)``.
"""
import numpy as np

from .._config import njit

_M32 = np.uint64(0xFFFFFFFF)
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_L = np.uint64(0xCA01F9DD)
_MIX_R = np.uint64(0x4973F715)
_SHIFT = np.uint64(16)
_HALF = np.uint64(32)


@njit(inline="always")
def _hash(v, h, mult):
    """SeedSequence's ``hashmix`` step: ``v`` hashed with the running constant ``h``;
    returns (hashed v, the next h)."""
    v = v ^ h
    h = (h * mult) & _M32
    v = (v * h) & _M32
    return v ^ (v >> _SHIFT), h


@njit(inline="always")
def _mix(x, y):
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> _SHIFT)


@njit
def seed_words(ent, out):
    """``out`` (4 uint64) = ``SeedSequence(entropy).generate_state(4, np.uint64)`` for
    ``ent`` the entropy's 32-bit words (uint64 array, little-endian per int, no spawn
    key)."""
    n = ent.shape[0]
    h = _INIT_A
    pool = np.empty(4, dtype=np.uint64)
    for j in range(4):
        pool[j], h = _hash(ent[j] if j < n else np.uint64(0), h, _MULT_A)
    for src in range(4):
        for dst in range(4):
            if src != dst:
                v, h = _hash(pool[src], h, _MULT_A)
                pool[dst] = _mix(pool[dst], v)
    for src in range(4, n):
        for dst in range(4):
            v, h = _hash(ent[src], h, _MULT_A)
            pool[dst] = _mix(pool[dst], v)
    hb = _INIT_B
    for k in range(4):
        lo, hb = _hash(pool[(2 * k) % 4], hb, _MULT_B)
        hi, hb = _hash(pool[(2 * k + 1) % 4], hb, _MULT_B)
        out[k] = lo | (hi << _HALF)
