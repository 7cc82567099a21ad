"""fixed.quantize against an independent brute-force reference, plus format arithmetic."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgq_ir.ir.errors import FormatError
from hgq_ir.ir.fixed import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    FixedFormat,
    add_format,
    avgpool_format,
    fits_in,
    matmul_format,
    max_format,
    multiply_format,
    quantize,
    union_format,
)


def representable(k: int, i: int, f: int) -> list[Fraction]:
    """Every value of format (k, i, f), enumerated."""
    b = k + i + f
    if b == 0:
        return [Fraction(0)]
    step = Fraction(2) ** -f
    lo = -(2 ** (i + f)) if k else 0
    return [n * step for n in range(lo, 2 ** (i + f))]


def brute_round(x: Fraction, f: int, mode: str) -> Fraction:
    """Nearest grid point(s) of 2**-f around x, picked by the rounding rule."""
    step = Fraction(2) ** -f
    below = (x / step).__floor__() * step
    above = below if below == x else below + step
    if below == above:
        return below
    if mode == "TRN":
        return below
    if mode == "TRN_ZERO":
        return below if x >= 0 else above
    d_lo, d_hi = x - below, above - x
    if d_lo != d_hi:
        return below if d_lo < d_hi else above
    return {
        "RND": above,
        "RND_ZERO": below if x > 0 else above,
        "RND_INF": above if x > 0 else below,
        "RND_MIN_INF": below,
        "RND_CONV": below if (below / step) % 2 == 0 else above,
    }[mode]


def brute_quantize(x: float, k: int, i: int, f: int, rnd: str, ovf: str) -> float:
    """Quantize one value by enumeration: round on the infinite grid, then pick by overflow rule."""
    values = representable(k, i, f)
    if k + i + f == 0:
        return 0.0
    r = brute_round(Fraction(x), f, rnd)
    if values[0] <= r <= values[-1]:
        if ovf == "SAT_SYM" and k and k + i + f > 1 and r == values[0]:
            return float(values[1])
        return float(r)
    if ovf == "WRAP":
        period = Fraction(2) ** (k + i)
        (v,) = [v for v in values if ((v - r) / period).denominator == 1]
        return float(v)
    if ovf == "SAT_ZERO":
        return 0.0
    lo = values[1] if (ovf == "SAT_SYM" and k and k + i + f > 1) else values[0]
    return float(values[-1] if r > values[-1] else lo)


formats = st.tuples(st.integers(0, 1), st.integers(-3, 5), st.integers(-2, 6)).filter(
    lambda t: 0 <= sum(t) <= 9)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(formats, st.one_of(
    st.integers(-2000, 2000).map(lambda n: n / 64),
    st.floats(-80, 80, allow_nan=False),
    st.integers(-300, 300).map(lambda n: n / 8 + 1 / 16))), min_size=1, max_size=24),
    st.sampled_from(ROUNDING_MODES), st.sampled_from(OVERFLOW_MODES))
def test_quantize_matches_brute_force(cases, rnd, ovf):
    (kif, xs) = zip(*cases, strict=True)
    k, i, f = (np.array(a) for a in zip(*kif, strict=True))
    x = np.array(xs, dtype=np.float64)
    fmt = FixedFormat(k, i, f, rnd, ovf)
    got = quantize(x[None], fmt)[0]
    want = np.array([brute_quantize(xv, *t, rnd, ovf) for xv, t in zip(x, kif, strict=True)])
    np.testing.assert_array_equal(got, want)


def test_zero_width_gives_zero_and_sat_sym_one_bit_quirk():
    fmt = FixedFormat(np.array([0, 1, 1]), np.array([0, 0, 0]), np.array([0, 0, 3]), "RND", "SAT_SYM")
    x = np.array([[5.0, -3.0, -9.0]])
    np.testing.assert_array_equal(quantize(x, fmt), [[0.0, -1.0, -0.875]])


def test_format_validation_and_views():
    with pytest.raises(FormatError, match="negative width"):
        FixedFormat(0, -3, 1)
    with pytest.raises(FormatError, match="rounding mode"):
        FixedFormat(1, 1, 1, "NEAREST")
    fmt = FixedFormat(1, 2, 3, "RND", "SAT")
    assert fmt.ap_type() == "ap_fixed<6,3,AP_RND,AP_SAT>"
    assert fmt.hls_type() == "fixed<6,3,RND,SAT>"
    assert FixedFormat(0, 4, -2).ap_type() == "ap_ufixed<2,4>"
    k, b, I = fmt.to_kbi()
    assert (int(k), int(b), int(I)) == (1, 6, 3)
    assert FixedFormat.from_kbi(k, b, I, "RND", "SAT") == fmt
    het = FixedFormat(np.array([0, 1]), np.array([1, 3]), np.array([4, 2]))
    assert het.summary() == "fx<k0..1 i1..3 f2..4>"
    assert het.homogeneous_cover().summary() == "fx<k1 i3 f4>"


def test_constant_container_and_range():
    fmt = FixedFormat.of_constants(np.array([0.5, 0.375, 6.0, 0.0, -3.0]))
    np.testing.assert_array_equal(fmt.b, [1, 2, 2, 0, 3])
    np.testing.assert_array_equal(fmt.f, [1, 3, -1, 0, 0])
    r = FixedFormat.from_range(-1.5, 3.25, 2)
    assert (int(r.k), int(r.i), int(r.f)) == (1, 2, 2)


def test_add_and_matmul_formats_hold_every_result():
    rng = np.random.default_rng(0)
    a = FixedFormat(1, np.array([1, 2, 0]), np.array([2, 1, 3]))
    b = FixedFormat(0, np.array([2, 0, 1]), np.array([0, 4, 1]))
    s = add_format(a, b)
    xa = quantize(rng.uniform(-8, 8, (500, 3)), a.with_modes(overflow="SAT"))
    xb = quantize(rng.uniform(-8, 8, (500, 3)), b.with_modes(overflow="SAT"))
    total = xa + xb
    assert np.array_equal(quantize(total, s), total)
    w = np.array([[0.5, -1.25], [0.0, 2.0], [-0.375, 0.0]])
    m = matmul_format(a, w, bias=np.array([0.125, -1.0]))
    y = xa @ w + np.array([0.125, -1.0])
    assert np.array_equal(quantize(y, m), y)
    # the extremes are reachable, so the format is tight: one bit less would not hold them
    assert fits_in(FixedFormat(1, 1, 1), FixedFormat(1, 2, 2))
    assert not fits_in(FixedFormat(1, 1, 3), FixedFormat(1, 2, 2))


@pytest.mark.parametrize("rnd", ROUNDING_MODES)
@pytest.mark.parametrize("ovf", OVERFLOW_MODES)
def test_quantize_exhaustive_small_formats(rnd, ovf):
    """Every small format, every input on a grid two bits finer, ties and overflow included."""
    for k in (0, 1):
        for i in range(-1, 3):
            for f in range(-1, 3):
                if k + i + f < 0:
                    continue
                x = np.arange(-6 * 2 ** (f + 2), 6 * 2 ** (f + 2) + 1) / 2.0 ** (f + 2)
                got = quantize(x, FixedFormat(k, i, f, rnd, ovf))
                want = [brute_quantize(v, k, i, f, rnd, ovf) for v in x]
                np.testing.assert_array_equal(got, want, err_msg=f"k={k} i={i} f={f}")


def test_multiply_max_union_and_avgpool_formats_hold_every_result():
    rng = np.random.default_rng(1)
    a = FixedFormat(1, np.array([1, 2, 0]), np.array([2, 1, 3]), overflow="SAT")
    b = FixedFormat(0, np.array([2, 0, 1]), np.array([0, 4, 1]), overflow="SAT")
    xa = quantize(rng.uniform(-8, 8, (500, 3)), a)
    xb = quantize(rng.uniform(-8, 8, (500, 3)), b)
    for fmt, y in ((multiply_format(a, b), xa * xb), (max_format(a, b), np.maximum(xa, xb)),
                   (avgpool_format(add_format(a, b), 1), (xa + xb) / 2)):
        np.testing.assert_array_equal(quantize(y, fmt), y)
    u = union_format(a, b)
    np.testing.assert_array_equal(quantize(xa, u), xa)
    np.testing.assert_array_equal(quantize(xb, u), xb)
    # (-2) * (-2) = 4 is reached: i = 3 is needed, and no more
    assert multiply_format(FixedFormat(1, 1, 1), FixedFormat(1, 1, 1)).summary() == "fx<k1 i3 f2>"


def test_round_to_integer_is_exact_on_awkward_doubles():
    """Every mode against exact rational rounding, on doubles whose fraction ``x - floor(x)`` rounds.

    Just above -1/2, ``1 + x`` rounds to exactly 1/2 in float64: a tie that is not one.
    """
    from fractions import Fraction

    from hgq_ir.ir.fixed import round_to_integer

    rng = np.random.default_rng(7)
    awkward = [np.nextafter(-0.5, 0.0), np.nextafter(-0.5, -1.0), np.nextafter(0.5, 0.0), np.nextafter(0.5, 1.0),
               -0.5, 0.5, -1.5, 2.5, -2.0**-60, 2.0**-60, np.nextafter(-1.5, 0.0), np.nextafter(-1.5, -2.0),
               2.0**52 + 1, -(2.0**52) - 1, 2.0**53, 4503599627370495.5, -4503599627370495.5]
    spread = rng.uniform(-1, 1, 2000) * 2.0 ** rng.integers(-60, 50, 2000)
    x = np.concatenate([awkward, rng.uniform(-1, 1, 2000), spread])

    def exact(v: float, mode: str) -> float:
        q = Fraction(v)
        fl = q.numerator // q.denominator
        frac = q - fl
        if mode == "TRN":
            return fl
        if mode == "TRN_ZERO":
            return fl if q >= 0 or frac == 0 else fl + 1
        if frac != Fraction(1, 2):
            return fl + (frac > Fraction(1, 2))
        tie_up = {"RND": True, "RND_MIN_INF": False, "RND_INF": q > 0, "RND_ZERO": q < 0, "RND_CONV": fl % 2 == 1}
        return fl + tie_up[mode]

    for mode in ("TRN", "TRN_ZERO", "RND", "RND_CONV", "RND_INF", "RND_ZERO", "RND_MIN_INF"):
        want = np.array([exact(float(v), mode) for v in x], dtype=np.float64)
        np.testing.assert_array_equal(round_to_integer(x, mode), want, err_msg=mode)


def test_float32_values():
    from hgq_ir.ir.fixed import float32_values

    assert float32_values(np.array([0.5, -3.0, 2.0**-149, float(np.float32(3.0e38))]))
    assert not float32_values(np.array([0.1]))             # not a float32 value
    assert not float32_values(np.array([1e39]))            # float32 overflows it
    assert not float32_values(np.array([1.0, np.nan]))     # a table or weight holding NaN
    assert float32_values(np.array([1.0, np.nan]), nan=True)
    assert float32_values(np.array([1.0, np.nan], np.float32), nan=True)
    assert not float32_values(np.array([1.0, np.nan], np.float32))
