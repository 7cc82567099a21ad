"""Fixed-point formats with per-element widths, and exact numpy quantization.

A :class:`FixedFormat` holds three integer arrays ``k`` (sign bit, 0/1), ``i`` (integer bits,
sign excluded) and ``f`` (fractional bits), broadcastable to the shape of the value they
describe (batch axis excluded), plus one rounding and one overflow mode. The width is
``b = k + i + f``; in ap_fixed terms ``W = b`` and ``I = k + i``. ``b == 0`` means the element
is the constant 0. Negative ``f`` (a grid coarser than 1) and negative ``i`` are legal.

Semantics follow ap_fixed: first round onto the grid ``2**-f`` with the rounding mode, then
apply the overflow mode to the rounded value.

>>> fmt = FixedFormat(k=1, i=2, f=1, round="RND", overflow="SAT")
>>> quantize(np.array([0.26, 5.0, -9.0]), fmt).tolist()
[0.5, 3.5, -4.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hgq_ir.ir.errors import FormatError, InexactError

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_SYM", "SAT_ZERO")
MAX_EXACT_BITS = 53
#: significant bits of float32: a value needing at most this many is a float32 value
FLOAT32_EXACT_BITS = 24


def float32_values(a: np.ndarray, nan: bool = False) -> bool:
    """Whether every element of ``a`` is a float32 value (a value float32 overflows is not).

    ``nan=True`` counts NaN as one (data fed to a float32 model); by default a NaN element makes
    the answer False (a table or a weight holding NaN is not a number to hold).
    """
    a = np.asarray(a)
    if a.dtype == np.float32:
        return nan or not np.isnan(a).any()
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.array_equal(a.astype(np.float32), a, equal_nan=nan and a.dtype.kind in "fc"))


def _int_array(a: object, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise FormatError(f"{name} must hold integers, got {arr!r}")
    elif arr.dtype.kind not in "iub":
        raise FormatError(f"{name} must be an integer array, got dtype {arr.dtype}")
    out = arr.astype(np.int64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class FixedFormat:
    """Per-element fixed-point format: sign ``k``, integer bits ``i``, fractional bits ``f``.

    ``k``, ``i`` and ``f`` are integer arrays (or scalars) that broadcast together; ``round`` is
    one of ``ROUNDING_MODES`` and ``overflow`` one of ``OVERFLOW_MODES``.
    """

    k: np.ndarray
    i: np.ndarray
    f: np.ndarray
    round: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        k = _int_array(self.k, "k")
        i = _int_array(self.i, "i")
        f = _int_array(self.f, "f")
        try:
            np.broadcast_shapes(k.shape, i.shape, f.shape)
        except ValueError as e:
            raise FormatError(f"k {k.shape}, i {i.shape}, f {f.shape} do not broadcast") from e
        if np.any((k != 0) & (k != 1)):
            raise FormatError(f"k must be 0 or 1, got values {np.unique(k).tolist()}")
        if np.any(k + i + f < 0):
            raise FormatError(f"negative width k+i+f (min {int(np.min(k + i + f))}); clip i to >= -f-k")
        if self.round not in ROUNDING_MODES:
            raise FormatError(f"unknown rounding mode {self.round!r}; use one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise FormatError(f"unknown overflow mode {self.overflow!r}; use one of {OVERFLOW_MODES}")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "i", i)
        object.__setattr__(self, "f", f)

    # ---- shape and summary -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Broadcast shape of ``k``, ``i``, ``f``."""
        return tuple(np.broadcast_shapes(self.k.shape, self.i.shape, self.f.shape))

    @property
    def b(self) -> np.ndarray:
        """Width ``k + i + f`` per element."""
        return self.k + self.i + self.f

    @property
    def is_homogeneous(self) -> bool:
        """True when every element has the same ``k``, ``i`` and ``f``."""
        return all(np.all(a == a.flat[0]) for a in (self.k, self.i, self.f) if a.size)

    @property
    def signed(self) -> bool:
        """True when any element keeps a sign bit."""
        return bool(np.any(self.k))

    def broadcast_to(self, shape: tuple[int, ...]) -> FixedFormat:
        """The same format with ``k``, ``i``, ``f`` materialised to ``shape``."""
        try:
            ks, is_, fs = (np.broadcast_to(a, shape) for a in (self.k, self.i, self.f))
        except ValueError as e:
            raise FormatError(f"format of shape {self.shape} does not broadcast to {shape}") from e
        return FixedFormat(ks, is_, fs, self.round, self.overflow)

    def with_modes(self, round: str | None = None, overflow: str | None = None) -> FixedFormat:
        """Copy with a different rounding and/or overflow mode."""
        return FixedFormat(self.k, self.i, self.f, round or self.round, overflow or self.overflow)

    def homogeneous_cover(self) -> FixedFormat:
        """Smallest homogeneous format holding every element's format (max k, i, f)."""
        nz = self.b > 0
        if not np.any(nz):
            return FixedFormat(0, 0, 0, self.round, self.overflow)
        b = np.broadcast_to(self.b, self.shape)
        k, i, f = (np.broadcast_to(a, self.shape)[b > 0] for a in (self.k, self.i, self.f))
        return FixedFormat(int(k.max()), int(i.max()), int(f.max()), self.round, self.overflow)

    def summary(self) -> str:
        """Short text ``fx<k1 i2..5 f3..6>``: min..max of each field over the elements."""

        def span(a: np.ndarray) -> str:
            lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
            return f"{lo}" if lo == hi else f"{lo}..{hi}"

        modes = "" if (self.round, self.overflow) == ("TRN", "WRAP") else f" {self.round} {self.overflow}"
        return f"fx<k{span(self.k)} i{span(self.i)} f{span(self.f)}{modes}>"

    def __repr__(self) -> str:
        return f"FixedFormat({self.summary()}, shape={self.shape})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FixedFormat):
            return NotImplemented
        if (self.round, self.overflow) != (other.round, other.overflow):
            return False
        try:
            shape = np.broadcast_shapes(self.shape, other.shape)
        except ValueError:
            return False
        a, b = self.broadcast_to(shape), other.broadcast_to(shape)
        return all(np.array_equal(x, y) for x, y in ((a.k, b.k), (a.i, b.i), (a.f, b.f)))

    __hash__ = None  # type: ignore[assignment]

    # ---- value range -------------------------------------------------------------------
    @property
    def step(self) -> np.ndarray:
        """Grid step ``2**-f``."""
        return np.ldexp(1.0, -self.f)

    @property
    def max_value(self) -> np.ndarray:
        """Largest representable value per element (0 where the width is 0)."""
        return np.where(self.b > 0, np.ldexp(1.0, self.i) - self.step, 0.0)

    @property
    def min_value(self) -> np.ndarray:
        """Smallest representable value per element (0 where the width is 0)."""
        return np.where((self.b > 0) & (self.k == 1), -np.ldexp(1.0, self.i), 0.0)

    # ---- hls4ml / ap_fixed views ------------------------------------------------------------
    def to_kbi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """hls4ml's ``(keep_negative, bits, integers)`` triple: ``bits = W``, ``integers = I = k + i``."""
        return self.k.copy(), self.b.copy(), (self.k + self.i).copy()

    @classmethod
    def from_kbi(cls, k: object, b: object, I: object, round: str = "TRN", overflow: str = "WRAP") -> FixedFormat:
        """Inverse of :meth:`to_kbi`."""
        k, b, I = (np.asarray(a, dtype=np.int64) for a in (k, b, I))
        return cls(k, I - k, b - I, round, overflow)

    def ap_type(self, with_modes: bool = True) -> str:
        """``ap_fixed<W,I,AP_RND,AP_SAT>`` / ``ap_ufixed<...>`` string of a homogeneous format."""
        if not self.is_homogeneous:
            raise FormatError(f"{self.summary()} is heterogeneous; take homogeneous_cover() first")
        k, i, f = (int(a.flat[0]) for a in (self.k, self.i, self.f))
        W, I = max(k + i + f, 1), k + i
        base = "ap_fixed" if k else "ap_ufixed"
        if not with_modes or (self.round, self.overflow) == ("TRN", "WRAP"):
            return f"{base}<{W},{I}>"
        return f"{base}<{W},{I},AP_{self.round},AP_{self.overflow}>"

    def hls_type(self) -> str:
        """hls4ml precision string ``fixed<W,I,RND,SAT>`` / ``ufixed<...>`` of a homogeneous format."""
        ap = self.ap_type(with_modes=False).replace("ap_", "")
        if (self.round, self.overflow) == ("TRN", "WRAP"):
            return ap
        return ap[:-1] + f",{self.round},{self.overflow}>"

    @classmethod
    def from_range(cls, lo: object, hi: object, f: object, round: str = "TRN", overflow: str = "WRAP") -> FixedFormat:
        """Tightest format on the grid ``2**-f`` holding every value in ``[lo, hi]`` (elementwise).

        ``k = lo < 0``; ``i`` is the smallest integer count such that ``-2**i <= lo`` and
        ``hi <= 2**i - 2**-f``; elements with ``lo == hi == 0`` get width 0.
        """
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        f = np.asarray(f, dtype=np.int64)
        lo, hi, f = np.broadcast_arrays(lo, hi, f)
        k = (lo < 0).astype(np.int64)
        i_hi = ceil_log2(hi + np.ldexp(1.0, -f))
        i_lo = np.where(lo < 0, ceil_log2(-lo), np.iinfo(np.int64).min // 4)
        i = np.maximum(np.maximum(i_hi, i_lo), -f - k)
        zero = (lo == 0) & (hi == 0)
        return cls(np.where(zero, 0, k), np.where(zero, 0, i), np.where(zero, 0, f), round, overflow)

    @classmethod
    def of_constants(cls, values: np.ndarray, max_f: int = 64) -> FixedFormat:
        """Exact per-element container of constant values (smallest ``f``, then tightest ``i``)."""
        v = np.asarray(values, dtype=np.float64)
        f = exact_fraction_bits(v, max_f)
        return cls.from_range(v, v, f)


def ceil_log2(x: np.ndarray) -> np.ndarray:
    """Exact ``ceil(log2(x))`` for positive float64 (frexp-based, no rounding error; 0 where ``x <= 0``)."""
    x = np.asarray(x, dtype=np.float64)
    safe = np.where(x > 0, x, 1.0)
    m, e = np.frexp(safe)
    return np.where(m == 0.5, e - 1, e).astype(np.int64)


def exact_fraction_bits(values: np.ndarray, max_f: int = 64) -> np.ndarray:
    """Smallest ``f`` (>= -1074 floor, <= ``max_f``) with ``value * 2**f`` an integer; 0 for zeros."""
    v = np.asarray(values, dtype=np.float64)
    safe = np.where(v != 0, np.abs(v), 1.0)
    m, e = np.frexp(safe)  # v = m * 2**e, m in [0.5, 1)
    mant = np.ldexp(m, 53).astype(np.int64)  # exact 53-bit integer mantissa
    lowest = (mant & -mant).astype(np.float64)  # lowest set bit: an exact power of two
    tz = (np.frexp(lowest)[1] - 1).astype(np.int64)
    f = (53 - e) - tz
    f = np.where(v != 0, f, 0)
    if np.any(f > max_f):
        raise InexactError(f"constant needs {int(f.max())} fractional bits (> {max_f})")
    return f


# ---- quantization ---------------------------------------------------------------------------
def round_to_integer(x: np.ndarray, mode: str) -> np.ndarray:
    """Round float64 values to integers with an ap_fixed rounding mode (exact in float64)."""
    if mode == "TRN":
        return np.floor(x)
    if mode == "TRN_ZERO":
        return np.trunc(x)
    fl = np.floor(x)
    frac = x - fl  # exact, except on (-1/2, 0): 1 + x may round to exactly 1/2 there
    near_zero = (x > -0.5) & (x < 0)  # whose true fraction 1 + x is above 1/2
    up, tie = (frac > 0.5) | near_zero, (frac == 0.5) & ~near_zero
    if mode == "RND":
        tie_up = np.ones_like(tie)
    elif mode == "RND_ZERO":
        tie_up = x < 0
    elif mode == "RND_INF":
        tie_up = x > 0
    elif mode == "RND_MIN_INF":
        tie_up = np.zeros_like(tie)
    elif mode == "RND_CONV":
        tie_up = np.mod(fl, 2) == 1
    else:
        raise FormatError(f"unknown rounding mode {mode!r}")
    return fl + (up | (tie & tie_up))


def quantize(x: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """Quantize ``x`` to ``fmt`` exactly (float64 out), with ap_fixed semantics.

    ``x`` has a leading batch axis or not; ``fmt`` broadcasts against its trailing axes.
    Raises :class:`InexactError` when a scaled value does not fit in 53 bits.
    """
    x = np.asarray(x, dtype=np.float64)
    k, i, f, b = fmt.k, fmt.i, fmt.f, fmt.b
    scaled = np.ldexp(x, f)
    n = round_to_integer(scaled, fmt.round)
    if np.any(np.abs(n) >= 2.0**MAX_EXACT_BITS) or np.any(b > MAX_EXACT_BITS):
        raise InexactError(f"quantize to {fmt.summary()}: value needs more than {MAX_EXACT_BITS} bits")
    bb = b.astype(np.float64)
    n_max = np.ldexp(1.0, i + f) - 1.0  # largest integer code
    n_min = np.where(k == 1, -np.ldexp(1.0, i + f), 0.0)
    if fmt.overflow == "WRAP":
        size = np.ldexp(1.0, b)
        n = np.mod(n - n_min, size) + n_min
    else:
        lo = n_min
        if fmt.overflow == "SAT_SYM":
            # ap_types keeps the minimum of a 1-bit signed type under AP_SAT_SYM
            lo = np.where((k == 1) & (bb > 1), -n_max, n_min)
        over_hi, under_lo = n > n_max, n < lo
        hi_val = n_max
        lo_val = lo
        if fmt.overflow == "SAT_ZERO":
            hi_val, lo_val = 0.0, 0.0
        n = np.where(over_hi, hi_val, np.where(under_lo, lo_val, n))
    out = np.ldexp(n, -f)
    return np.where(b > 0, out, 0.0) + 0.0  # + 0.0 turns -0.0 into 0.0


# ---- format arithmetic (exact result formats) -----------------------------------------------
# Zero-width elements are the constant 0: they sit on every grid, so their f must never win a max.
ZERO_WIDTH_F = -(2**40)


def interval(fmt: FixedFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lo, hi, f)`` arrays of a format; ``f`` is ``ZERO_WIDTH_F`` where the width is 0."""
    return fmt.min_value, fmt.max_value, np.where(fmt.b > 0, fmt.f, ZERO_WIDTH_F)


def from_interval(lo: np.ndarray, hi: np.ndarray, f: np.ndarray) -> FixedFormat:
    """Tightest format holding ``[lo, hi]`` on the grid ``2**-f`` (``ZERO_WIDTH_F`` means constant 0)."""
    f = np.asarray(f)
    f = np.where(f <= ZERO_WIDTH_F // 2, 0, f)
    return FixedFormat.from_range(lo, hi, f)




def interval_matmul(lo: np.ndarray, hi: np.ndarray, f: np.ndarray, w: np.ndarray,
                    bias: np.ndarray | None = None) -> FixedFormat:
    """Exact format of ``x @ w + bias`` for ``x`` in ``[lo, hi]`` on grids ``2**-f`` (shape ``(..., n_in)``).

    Interval arithmetic on the actual constant weights: terms with a zero weight or a
    zero-width input do not count towards the fractional bits.
    """
    w = np.asarray(w, dtype=np.float64)
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    rlo = lo @ wp + hi @ wn
    rhi = hi @ wp + lo @ wn
    fw = np.where(w != 0, exact_fraction_bits(w), ZERO_WIDTH_F)
    rf = np.max(f[..., :, None] + fw, axis=-2)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        rlo, rhi = rlo + bias, rhi + bias
        rf = np.maximum(rf, np.where(bias != 0, exact_fraction_bits(bias), ZERO_WIDTH_F))
    return from_interval(rlo, rhi, np.maximum(rf, ZERO_WIDTH_F))


def matmul_partial_sum_bits(lo: np.ndarray, hi: np.ndarray, f: np.ndarray, w: np.ndarray,
                            bias: np.ndarray | None = None) -> int:
    """Bits that bound every partial sum of ``x @ w + bias`` in any order (for float64 exactness)."""
    w = np.asarray(w, dtype=np.float64)
    mag = np.maximum(np.abs(lo), np.abs(hi)) @ np.abs(w)
    fw = np.where(w != 0, exact_fraction_bits(w), ZERO_WIDTH_F)
    rf = np.max(f[..., :, None] + fw, axis=-2)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        mag = mag + np.abs(bias)
        rf = np.maximum(rf, np.where(bias != 0, exact_fraction_bits(bias), ZERO_WIDTH_F))
    live = (mag > 0) & (rf > ZERO_WIDTH_F // 2)
    if not np.any(live):
        return 0
    bits = ceil_log2(np.ldexp(mag[live], rf[live]) + 1) + 1
    return int(bits.max())


def add_format(*fmts: FixedFormat) -> FixedFormat:
    """Exact format of the elementwise sum of values in ``fmts``."""
    lo = sum(f.min_value for f in fmts)
    hi = sum(f.max_value for f in fmts)
    f = np.maximum.reduce([np.broadcast_to(interval(x)[2], np.shape(lo)) for x in fmts])
    return from_interval(lo, hi, f)


def multiply_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Exact format of the elementwise product."""
    corners = [x * y for x in (a.min_value, a.max_value) for y in (b.min_value, b.max_value)]
    lo, hi = np.minimum.reduce(corners), np.maximum.reduce(corners)
    return from_interval(lo, hi, interval(a)[2] + interval(b)[2])


def max_format(*fmts: FixedFormat) -> FixedFormat:
    """Exact format of the elementwise maximum."""
    lo = np.maximum.reduce([f.min_value for f in fmts])
    hi = np.maximum.reduce([f.max_value for f in fmts])
    f = np.maximum.reduce([np.broadcast_to(interval(x)[2], np.shape(lo)) for x in fmts])
    return from_interval(lo, hi, f)


def relu_format(a: FixedFormat) -> FixedFormat:
    """Exact format of ``max(x, 0)``."""
    return from_interval(np.maximum(a.min_value, 0), np.maximum(a.max_value, 0), interval(a)[2])


def matmul_format(x: FixedFormat, w: np.ndarray, bias: np.ndarray | None = None) -> FixedFormat:
    """Exact format of ``x @ w + bias`` for a constant kernel ``w`` of shape ``(n_in, n_out)``.

    ``x`` broadcasts to ``(..., n_in)``; the result has shape ``(..., n_out)``.
    """
    n_in = np.shape(w)[0]
    shape = (*x.shape[:-1], n_in) if x.shape else (n_in,)
    return interval_matmul(*interval(x.broadcast_to(shape)), w, bias)


def avgpool_format(summed: FixedFormat, log2_pool: int) -> FixedFormat:
    """Exact format of a sum divided by ``2**log2_pool`` (average over a power-of-2 pool)."""
    return from_interval(summed.min_value / 2.0**log2_pool, summed.max_value / 2.0**log2_pool,
                   interval(summed)[2] + log2_pool)


def concat_format(fmts: list[FixedFormat], shapes: list[tuple[int, ...]], axis: int) -> FixedFormat:
    """Format of the concatenation of values of ``shapes`` along ``axis``."""
    full = [f.broadcast_to(s) for f, s in zip(fmts, shapes, strict=True)]
    cat = [np.concatenate([getattr(f, a) for f in full], axis=axis) for a in ("k", "i", "f")]
    return FixedFormat(*cat, fmts[0].round, fmts[0].overflow)


def reshape_format(fmt: FixedFormat, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> FixedFormat:
    """Format of a value reshaped from ``in_shape`` to ``out_shape`` (row-major)."""
    if fmt.is_homogeneous:
        return FixedFormat(fmt.k.flat[0], fmt.i.flat[0], fmt.f.flat[0], fmt.round, fmt.overflow)
    full = fmt.broadcast_to(in_shape)
    return FixedFormat(full.k.reshape(out_shape), full.i.reshape(out_shape), full.f.reshape(out_shape),
                       fmt.round, fmt.overflow)


def union_format(*fmts: FixedFormat) -> FixedFormat:
    """Smallest format holding the values of every format (per element)."""
    lo = np.minimum.reduce([f.min_value for f in fmts])
    hi = np.maximum.reduce([f.max_value for f in fmts])
    f = np.maximum.reduce([np.broadcast_to(interval(x)[2], np.shape(lo)) for x in fmts])
    return from_interval(lo, hi, f)


def required_bits(fmt: FixedFormat) -> int:
    """Largest width over the elements (0 for an empty format)."""
    return int(fmt.b.max()) if fmt.b.size else 0


def rounded_range(x: FixedFormat, q: FixedFormat) -> tuple[np.ndarray, np.ndarray]:
    """Per element, the least and greatest value of ``x`` rounded onto ``q``'s grid (before overflow).

    Rounding is monotone, so the ends of ``x``'s range give them; overflow is not (WRAP folds).
    ``x`` and ``q`` broadcast together.
    """
    lo = np.ldexp(round_to_integer(np.ldexp(x.min_value, q.f), q.round), -q.f)
    hi = np.ldexp(round_to_integer(np.ldexp(x.max_value, q.f), q.round), -q.f)
    return lo, hi


def may_overflow(x: FixedFormat, q: FixedFormat) -> np.ndarray:
    """Per element, whether some value of ``x``, rounded onto ``q``'s grid, leaves ``q``'s range
    (never where ``q`` is 0 bits wide: its value is 0 whatever the input)."""
    lo, hi = rounded_range(x, q)
    return ((lo < q.min_value) | (hi > q.max_value)) & (q.b > 0)


def fits_in(inner: FixedFormat, outer: FixedFormat) -> bool:
    """True when quantizing any value of ``inner`` to ``outer`` changes nothing (elementwise)."""
    shape = np.broadcast_shapes(inner.shape, outer.shape)
    a, b = inner.broadcast_to(shape), outer.broadcast_to(shape)
    live = a.b > 0
    ok = (a.f <= b.f) & (a.min_value >= b.min_value) & (a.max_value <= b.max_value)
    return bool(np.all(ok | ~live))
