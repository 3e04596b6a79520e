"""The polynomials the step spec's counts are written in: integer coefficients in the
sizes N (recurrent units), I (inputs), O (outputs) and T (BPTT's trial length), and,
for spiking networks (whose kernels are event-driven), K (neurons that spiked at the
step before: the recurrent input's events) and S (neurons that spike at this step:
the readout's events)."""
from __future__ import annotations

#: The symbols, in the order of a term's exponents.
SYMBOLS = ("N", "I", "O", "T", "K", "S")

class Poly:
    """A polynomial with integer coefficients in N, I, O, T, K, S (the counts' formulas).

    ``Poly.sym("N") ** 2 + 3 * Poly.sym("N")`` prints as ``N^2 + 3N`` and
    ``p(N=5, I=2, O=3)`` evaluates it.
    """

    __slots__ = ("terms",)

    def __init__(self, terms=None):
        self.terms = {k: v for k, v in (terms or {}).items() if v != 0}

    @classmethod
    def sym(cls, name):
        e = [0] * len(SYMBOLS)
        e[SYMBOLS.index(name)] = 1
        return cls({tuple(e): 1})

    @classmethod
    def const(cls, c):
        return cls({(0,) * len(SYMBOLS): int(c)})

    @staticmethod
    def of(x) -> "Poly":
        """``x`` as a Poly (an int becomes a constant)."""
        return x if isinstance(x, Poly) else Poly.const(x)

    def __add__(self, other):
        other = self.of(other)
        t = dict(self.terms)
        for k, v in other.terms.items():
            t[k] = t.get(k, 0) + v
        return Poly(t)

    __radd__ = __add__

    def __neg__(self):
        return Poly({k: -v for k, v in self.terms.items()})

    def __sub__(self, other):
        return self + (-self.of(other))

    def __rsub__(self, other):
        return self.of(other) - self

    def __mul__(self, other):
        other = self.of(other)
        t = {}
        for k1, v1 in self.terms.items():
            for k2, v2 in other.terms.items():
                k = tuple(a + b for a, b in zip(k1, k2))
                t[k] = t.get(k, 0) + v1 * v2
        return Poly(t)

    __rmul__ = __mul__

    def __pow__(self, n):
        out = Poly.const(1)
        for _ in range(n):
            out = out * self
        return out

    def __eq__(self, other):
        return isinstance(other, (Poly, int)) and self.terms == self.of(other).terms

    def __hash__(self):
        return hash(tuple(sorted(self.terms.items())))

    def __call__(self, **vals) -> int:
        total = 0
        for k, v in self.terms.items():
            term = v
            for s, e in zip(SYMBOLS, k):
                if e:
                    term *= vals[s] ** e
            total += term
        return int(total)

    def __str__(self):
        if not self.terms:
            return "0"
        keys = sorted(self.terms, key=lambda k: (-sum(k), [-e for e in k]))
        out = []
        for k in keys:
            v = self.terms[k]
            mono = "*".join(s + (f"^{e}" if e > 1 else "") for s, e in zip(SYMBOLS, k) if e)
            mag = abs(v)
            body = (str(mag) if mag != 1 or not mono else "") + mono if mag == 1 or not mono \
                else f"{mag}{mono}"
            out.append(("- " if v < 0 else "+ ") + body)
        s = " ".join(out)
        return s[2:] if s.startswith("+ ") else "-" + s[2:]

    __repr__ = __str__


N, I, O, T, K, S = (Poly.sym(s) for s in SYMBOLS)

__all__ = ["Poly", "SYMBOLS", "N", "I", "O", "T", "K", "S"]
