"""The quantisation spec: which fixed-point format each quantity of the online learner uses.

One string names the format of every quantity, shared by ``localrnn export --quantize``
(memory accounting) and the integer online engine (``run --online --quantize``,
``quantize-sweep``).

Syntax
------
A comma-separated list of fields, in any order, each at most once::

    SPEC   := "float64" | FIELD ("," FIELD)*
    FIELD  := QTY BITS ["." FRAC] | "round=" ("nearest" | "stochastic")
    QTY    := "w" | "s" | "t" | "l" | "acc"

with the quantities

=====  =====================================================================
``w``    weights (W_in, W, b, W_out, b_out)
``s``    states (h in the current form, a and u in the rate form; rates phi(.))
``t``    eligibility traces (ebar, xbar in the current form; p, q in the rate form)
``l``    learning signal L_t (and the output error delta_t)
``acc``  accumulators (products and sums before they are rounded to a format)
=====  =====================================================================

``BITS`` is the total word length **including the sign bit** (two's complement, range
``[-2^(BITS-1), 2^(BITS-1) - 1]`` as integers), an integer in [2, 64].  ``FRAC`` is the
number of fractional bits, an integer in [0, BITS - 1]: an integer ``k`` stands for the
real number ``k * 2^-FRAC``.  So ``w8.6`` is an 8-bit signed weight with step 1/64 and
range [-2, 2 - 1/64].

Default fractional bits when ``.FRAC`` is omitted: the word keeps ``INT_BITS[q]`` integer
bits besides the sign, ``FRAC = max(BITS - 1 - INT_BITS[q], 0)``, with ``INT_BITS`` =
w: 2 (range +-4: recurrent weights g Z / sqrt(N) and input weights of order 1),
s: 3 (+-8), t: 1 (+-2: traces of rates in [-1, 1]), l: 1 (+-2),
and for ``acc`` half the word: ``FRAC = BITS // 2``.

``round=`` sets the rounding of every conversion to a narrower format: ``nearest``
(default; the integer engine rounds ties up, towards +inf) or ``stochastic``.

A quantity not named in the spec stays float64: ``bits(q) = 64`` and ``frac(q) = None``
(``is_float(q)`` is True).  ``"float64"`` (or ``QuantSpec.float64()``) leaves every
quantity in float64; the export uses that when no spec is given.

Examples: ``"w8,s16,t12,acc32"``, ``"w8.6,s16.12,t12.11,l16,acc32.24,round=stochastic"``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Quantity names, in canonical order.
QUANTITIES = ("w", "s", "t", "l", "acc")
#: What each quantity is.
QUANTITY_DOC = {
    "w": "weights",
    "s": "states",
    "t": "eligibility traces",
    "l": "learning signal",
    "acc": "accumulators",
}
#: Integer bits besides the sign when the fractional bits are not given (acc: half the word).
INT_BITS = {"w": 2, "s": 3, "t": 1, "l": 1}
#: Rounding modes.
ROUNDINGS = ("nearest", "stochastic")
#: Word lengths allowed.
MIN_BITS, MAX_BITS = 2, 64
#: Bits of a float64 quantity (for memory accounting).
FLOAT_BITS = 64

_FIELD = re.compile(r"^(acc|w|s|t|l)(\d+)(?:\.(\d+))?$")
_ALLOWED = ("fields QTY BITS[.FRAC] with QTY in w, s, t, l, acc, BITS in "
            f"[{MIN_BITS}, {MAX_BITS}], FRAC in [0, BITS-1], or round=nearest|stochastic, "
            "comma-separated, or 'float64'")


def default_frac(qty: str, bits: int) -> int:
    """Fractional bits of ``qty`` at ``bits`` when the spec does not give them."""
    if qty == "acc":
        return bits // 2
    return max(bits - 1 - INT_BITS[qty], 0)


@dataclass(frozen=True)
class QuantSpec:
    """Fixed-point formats of the online learner's quantities.

    Parameters
    ----------
    formats : dict
        ``{quantity: (bits, frac)}`` for the quantities in fixed point; the others stay
        float64.
    rounding : {'nearest', 'stochastic'}

    Use :meth:`parse` to build one from a string and :meth:`to_string` to write it back
    (``QuantSpec.parse(s.to_string()) == s``).
    """

    formats: dict = field(default_factory=dict)
    rounding: str = "nearest"

    def __post_init__(self):
        for q, bf in self.formats.items():
            if q not in QUANTITIES:
                raise ValueError(f"quantisation spec: unknown quantity {q!r}; allowed {_ALLOWED}")
            bits, frac = bf
            _check_format(q, bits, frac, f"{q}{bits}.{frac}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"quantisation spec: round={self.rounding!r} is not allowed; "
                             "choose nearest or stochastic")

    # ---- construction -------------------------------------------------------------
    @classmethod
    def float64(cls) -> "QuantSpec":
        """Every quantity float64 (no quantisation)."""
        return cls({}, "nearest")

    @classmethod
    def parse(cls, spec) -> "QuantSpec":
        """Parse a spec string (see the module docstring); ``None`` means float64.

        Raises
        ------
        ValueError
            One line naming the bad field and what is allowed.
        """
        if spec is None:
            return cls.float64()
        if isinstance(spec, QuantSpec):
            return spec
        if not isinstance(spec, str):
            raise ValueError(f"quantisation spec {spec!r} must be a string; {_ALLOWED}")
        text = spec.strip()
        if text.lower() == "float64":
            return cls.float64()
        if not text:
            raise ValueError(f"quantisation spec is empty; {_ALLOWED}")
        formats: dict = {}
        rounding = None
        for raw in text.split(","):
            fld = raw.strip()
            if not fld:
                raise ValueError(f"quantisation spec {spec!r} has an empty field; {_ALLOWED}")
            if fld.startswith("round="):
                mode = fld[len("round="):]
                if rounding is not None:
                    raise ValueError(f"quantisation spec: field {fld!r} repeats round=")
                if mode not in ROUNDINGS:
                    raise ValueError(f"quantisation spec: field {fld!r} has rounding {mode!r}; "
                                     "choose round=nearest or round=stochastic")
                rounding = mode
                continue
            m = _FIELD.match(fld)
            if m is None:
                raise ValueError(f"quantisation spec: bad field {fld!r}; {_ALLOWED}")
            q, bits = m.group(1), int(m.group(2))
            if q in formats:
                raise ValueError(f"quantisation spec: field {fld!r} repeats quantity {q!r}")
            if not MIN_BITS <= bits <= MAX_BITS:
                raise ValueError(f"quantisation spec: field {fld!r} has {bits} bits; "
                                 f"allowed {MIN_BITS} to {MAX_BITS} (sign bit included)")
            frac = default_frac(q, bits) if m.group(3) is None else int(m.group(3))
            _check_format(q, bits, frac, fld)
            formats[q] = (bits, frac)
        return cls(formats, rounding or "nearest")

    # ---- queries ------------------------------------------------------------------
    def _check_q(self, name):
        if name not in QUANTITIES:
            raise ValueError(f"quantity {name!r} is not allowed; choose one of "
                             + ", ".join(QUANTITIES))

    def is_float(self, name: str) -> bool:
        """True if ``name`` stays float64."""
        self._check_q(name)
        return name not in self.formats

    @property
    def is_float64(self) -> bool:
        """True if every quantity is float64."""
        return not self.formats

    def bits(self, name: str) -> int:
        """Word length of ``name`` in bits, sign included (64 for a float64 quantity)."""
        self._check_q(name)
        return self.formats[name][0] if name in self.formats else FLOAT_BITS

    def frac(self, name: str):
        """Fractional bits of ``name``; ``None`` for a float64 quantity."""
        self._check_q(name)
        return self.formats[name][1] if name in self.formats else None

    def scale(self, name: str) -> float:
        """Real value of one integer step, ``2^-frac`` (fixed-point quantities only)."""
        f = self.frac(name)
        if f is None:
            raise ValueError(f"quantity {name!r} is float64 in this spec; it has no scale")
        return 2.0 ** (-f)

    def int_range(self, name: str) -> tuple:
        """Smallest and largest integer of ``name``: ``(-2^(bits-1), 2^(bits-1) - 1)``."""
        if self.is_float(name):
            raise ValueError(f"quantity {name!r} is float64 in this spec; it has no integer range")
        b = self.bits(name)
        return -(1 << (b - 1)), (1 << (b - 1)) - 1

    def require(self, names=QUANTITIES):
        """Raise ``ValueError`` naming the first quantity of ``names`` left in float64."""
        missing = [q for q in names if q not in self.formats]
        if missing:
            raise ValueError(f"quantisation spec {self.to_string()!r} lacks "
                             + ", ".join(missing) + "; give every one of "
                             + ", ".join(names) + " (e.g. w8,s16,t12,l16,acc32)")
        return self

    def to_string(self) -> str:
        """Canonical string: every field with explicit fractional bits, fixed order."""
        if self.is_float64:
            return "float64"
        parts = [f"{q}{self.formats[q][0]}.{self.formats[q][1]}"
                 for q in QUANTITIES if q in self.formats]
        parts.append(f"round={self.rounding}")
        return ",".join(parts)

    def __str__(self):
        return self.to_string()

    def __eq__(self, other):
        if not isinstance(other, QuantSpec):
            return NotImplemented
        return dict(self.formats) == dict(other.formats) and self.rounding == other.rounding

    def __hash__(self):
        return hash((tuple(sorted(self.formats.items())), self.rounding))

    def describe(self, name: str) -> str:
        """Human-readable format, e.g. ``'int8 (6 fractional bits)'`` or ``'float64'``."""
        if self.is_float(name):
            return "float64"
        return f"int{self.bits(name)} ({self.frac(name)} fractional bits)"


def _check_format(q, bits, frac, fld):
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"quantisation spec: field {fld!r} has {bits!r} bits; "
                         f"allowed {MIN_BITS} to {MAX_BITS} (sign bit included)")
    if isinstance(frac, bool) or not isinstance(frac, int) or not 0 <= frac <= bits - 1:
        raise ValueError(f"quantisation spec: field {fld!r} has {frac!r} fractional bits; "
                         f"allowed 0 to {bits - 1} (BITS-1)")


__all__ = ["QuantSpec", "QUANTITIES", "QUANTITY_DOC", "INT_BITS", "ROUNDINGS",
           "default_frac", "MIN_BITS", "MAX_BITS", "FLOAT_BITS"]
