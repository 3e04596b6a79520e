"""The quantisation spec string: parsing, defaults, round trip and one-line errors."""
import pytest

from localrnn.neuromorphic.quantspec import QUANTITIES, QuantSpec, default_frac


def test_parse_example_with_default_fracs():
    q = QuantSpec.parse("w8,s16,t12,acc32")
    assert (q.bits("w"), q.frac("w")) == (8, 5)        # 8 - 1 sign - 2 integer bits
    assert (q.bits("s"), q.frac("s")) == (16, 12)      # 16 - 1 - 3
    assert (q.bits("t"), q.frac("t")) == (12, 10)      # 12 - 1 - 1
    assert (q.bits("acc"), q.frac("acc")) == (32, 16)  # half the word
    assert q.is_float("l") and q.bits("l") == 64 and q.frac("l") is None
    assert q.rounding == "nearest"
    assert not q.is_float64


def test_explicit_fracs_rounding_and_ranges():
    q = QuantSpec.parse(" w8.6 , l16.14,round=stochastic, t4.3")
    assert (q.bits("w"), q.frac("w")) == (8, 6)
    assert q.scale("w") == 1 / 64
    assert q.int_range("w") == (-128, 127)
    assert q.int_range("t") == (-8, 7)
    assert (q.bits("l"), q.frac("l")) == (16, 14)
    assert q.rounding == "stochastic"
    assert q.describe("w") == "int8 (6 fractional bits)"
    assert q.describe("s") == "float64"


def test_default_frac_never_negative():
    assert default_frac("w", 2) == 0
    assert QuantSpec.parse("w3").frac("w") == 0
    assert QuantSpec.parse("acc2").frac("acc") == 1


@pytest.mark.parametrize("s", ["w8,s16,t12,acc32", "w8.6,s16.12,t12.11,l16,acc32.24,round=stochastic",
                               "t2.1", "float64"])
def test_round_trip(s):
    q = QuantSpec.parse(s)
    assert QuantSpec.parse(q.to_string()) == q
    assert QuantSpec.parse(q.to_string()).to_string() == q.to_string()


def test_float64_and_none():
    for q in (QuantSpec.float64(), QuantSpec.parse(None), QuantSpec.parse("float64")):
        assert q.is_float64 and q.to_string() == "float64"
        assert all(q.bits(n) == 64 and q.frac(n) is None for n in QUANTITIES)


def test_require():
    QuantSpec.parse("w8,s16,t12,l16,acc32").require()
    with pytest.raises(ValueError, match="lacks l"):
        QuantSpec.parse("w8,s16,t12,acc32").require()


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("w8,", "empty field"),
    ("x8", "'x8'"),
    ("w", "'w'"),
    ("w1", "1 bits"),
    ("w65", "65 bits"),
    ("w8.8", "8 fractional bits"),
    ("w8.-1", "'w8.-1'"),
    ("w8,w4", "repeats quantity 'w'"),
    ("w8,round=up", "rounding 'up'"),
    ("round=nearest,round=stochastic", "repeats round"),
    ("w8.5.1", "'w8.5.1'"),
    (8, "must be a string"),
])
def test_bad_specs_one_line(bad, words):
    with pytest.raises(ValueError) as e:
        QuantSpec.parse(bad)
    msg = str(e.value)
    assert "\n" not in msg and words in msg


def test_unknown_quantity_query():
    with pytest.raises(ValueError, match="'z' is not allowed"):
        QuantSpec.parse("w8").bits("z")
    with pytest.raises(ValueError, match="float64"):
        QuantSpec.parse("w8").scale("s")
