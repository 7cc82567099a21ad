"""Plain-ONNX lowering of an IR quantizer (``fixed.quantize``), exact in float64 under onnxruntime.

The lowering works in *units*: the input is scaled by ``2**f`` (the grid becomes the integers)
when it needs rounding, else it stays in value units. Then:

- rounding (only when the input's exact format has finer elements than the quantizer's grid):
  TRN ``Floor``; RND_CONV ``Round`` (ties to even); TRN_ZERO ``v - fmod(v, 1)``; RND ``Floor(v + 1/2)``
  where the input's format proves the sum exact, else ``Ceil(Floor(2v) / 2)``; RND_MIN_INF
  ``Ceil(v - 1/2)`` or ``Floor(Ceil(2v) / 2)``; RND_INF / RND_ZERO ``Sign(v) * RND(|v|)`` /
  ``Sign(v) * RND_MIN_INF(|v|)``. Every step is an exact float64 operation.
- overflow (only on the sides where the input's exact range, rounded, can leave the format's):
  SAT / SAT_SYM ``Max``/``Min`` with per-element bounds; SAT_ZERO ``Where``; WRAP
  ``n - 2**b * Floor(n / 2**b + k/2)`` (the interpreter's ``mod(n - n_min, 2**b) + n_min``, mirrored
  step by step where the input's range is unknown).
- ``Mul`` back to value units, by 0 where the width is 0.

A graph input is a float of unknown range: every step is emitted, but float32 values take the
cheap rounding in float64: ``v = x * 2**f`` has 24 significant bits, so ``Floor(v + 1/2)`` is exact
(from 2**52 up, ``v`` is an even integer, which ``+ 1/2`` rounds back to itself; a tiny ``v`` may
round the sum, never across an integer). Constants are scalars when every element
agrees. Each node's ``doc_string`` names the quantizer, its format and the step.

Float32 (``dtype=np.float32``, chosen by the caller where :func:`fits_float32` says so) computes
the same steps on float32 tensors: every value and constant is then a float32 value (the formats
fit 24 bits), ``v +- 1/2`` and ``n / 2**b + k/2`` are used only below 2**23 units, and WRAP of an
integer of unknown size folds twice (``r = n - 2**b * Floor(n / 2**b)`` in ``[0, 2**b)``, then
``r - 2**b * Floor(2r / 2**b)`` where signed), each step exact whatever the magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hgq_ir.backends.onnx_builder import OnnxBuilder

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import InternalError
from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS, FixedFormat

#: largest magnitude (in units, bits) below which ``v + 1/2`` and ``n / 2**b + 1/2`` are exact, per float type
_EXACT_UNITS_BITS = {np.dtype(np.float64): 52, np.dtype(np.float32): 23}
#: the largest |i| and |f| of a float32 format: values, grids and scalings stay normal float32 numbers
_FLOAT32_EXP = 60


def compact(a: np.ndarray) -> np.ndarray:
    """A 0-d array when every element of ``a`` agrees (a scalar constant broadcasts), else ``a``."""
    a = np.asarray(a, dtype=np.float64)
    if a.size and np.all(a == a.flat[0]):
        return np.asarray(a.flat[0])
    return a


@dataclass
class _Emit:
    """Appends the nodes of one quantizer, each with a doc string naming it."""

    b: OnnxBuilder
    base: str
    what: str
    dtype: type = np.float64
    pre: np.ndarray | None = None  # the factor the input already carries
    inputs: set[str] = field(default_factory=set)  # the input's tensors (times ``pre``)

    def c(self, value: np.ndarray) -> str:
        v = compact(value)
        if self.dtype != np.float64 and not np.array_equal(v.astype(self.dtype), v):
            raise InternalError(f"{self.what}: constant {v!r} is not a {np.dtype(self.dtype).name} value")
        return self.b.const(v, self.dtype, name=f"{self.base}_c")

    def op(self, op_type: str, inputs: list[str], step: str, **attrs) -> str:
        return self.b.op(op_type, inputs, name=f"{self.base}_{op_type.lower()}", doc=f"{self.what}: {step}",
                         **attrs)

    def mul(self, x: str, k: np.ndarray, step: str) -> str:
        return x if np.all(k == 1) else self.op("Mul", [x, self.c(k)], step)

    def scale_input(self, x: str, k: np.ndarray, step: str) -> str:
        """``x * k`` where ``x`` is the quantizer's input (already times ``pre`` when a producer folded it)."""
        if self.pre is not None and x in self.inputs:
            k = k / self.pre
        return self.mul(x, k, step)

    def add(self, x: str, k: np.ndarray, step: str) -> str:
        return x if np.all(k == 0) else self.op("Add", [x, self.c(k)], step)


@dataclass(frozen=True)
class QuantizePlan:
    """What a quantizer must do, decided from the formats alone (never from data)."""

    rounds: bool  # some input element is finer than the grid
    cheap_half: bool  # v +- 1/2 is exact (the input's range and grid prove it)
    over_hi: bool  # some element can exceed the largest value
    over_lo: bool  # some element can fall below the smallest value
    small: bool  # |n| < 2**52 (float32: 2**23) in units: WRAP's n / 2**b + 1/2 is exact
    mask: bool  # some element is 0 bits wide while its input may be nonzero


def plan(fmt: FixedFormat, in_fmt: FixedFormat | None, shape: tuple[int, ...], dtype: type = np.float64,
         float32_input: bool = False) -> QuantizePlan:
    """The steps quantizing a value of ``in_fmt`` (None: any float) to ``fmt`` needs, computing in ``dtype``.

    ``float32_input``: the values (of unknown range) are float32 values, so ``v + 1/2`` is exact in float64.
    """
    q = fmt.broadcast_to(shape)
    live_q = q.b > 0
    exact_bits = _EXACT_UNITS_BITS[np.dtype(dtype)]
    if in_fmt is None:
        cheap = float32_input and np.dtype(dtype) == np.float64
        return QuantizePlan(True, cheap, True, True, False, bool(np.any(~live_q)))
    x = in_fmt.broadcast_to(shape)
    live = (x.b > 0) & live_q
    rounds = bool(np.any(live & (x.f > q.f)))
    # bits of v = x * 2**f (units of 2**-f) plus 1/2: integer part, sign, fraction (at least 1 bit)
    bits = np.maximum(x.i + q.f, 0) + 1 + np.maximum(x.f - q.f, 1)
    cheap = bool(np.all(~live | (bits <= exact_bits)))
    lo_r, hi_r = fixed.rounded_range(x, q)
    lo_v, hi_v = bounds(q)
    over_hi = bool(np.any(live & (hi_r > hi_v)))
    over_lo = bool(np.any(live & (lo_r < lo_v)))
    mag = np.maximum(np.abs(lo_r), np.abs(hi_r))
    small = bool(np.all(~live | (np.ldexp(mag, q.f) < 2.0**exact_bits)))
    mask = bool(np.any(~live_q & (x.b > 0)))
    return QuantizePlan(rounds, cheap, over_hi, over_lo, small, mask)


def fits_float32(fmt: FixedFormat | None) -> bool:
    """Whether every value of ``fmt`` is a float32 value, with room to scale by its grid (normal numbers)."""
    if fmt is None:
        return False
    live = fmt.b > 0
    return bool(np.all(~live | ((fmt.b <= FLOAT32_EXACT_BITS) & (np.abs(fmt.f) <= _FLOAT32_EXP)
                               & (np.abs(fmt.i) <= _FLOAT32_EXP))))


def float32_exact(fmt: FixedFormat, in_fmt: FixedFormat | None, shape: tuple[int, ...]) -> bool:
    """Whether :func:`lower_quantize` in float32 is exact quantizing float32 values of ``in_fmt`` (None: any).

    The result must be a float32 value (:func:`fits_float32`). Any float32 ``x`` is scaled by ``2**f``
    exactly only where ``f >= 0`` (a negative ``f`` could round a subnormal product to -0, whose floor
    is not -1); where ``x * 2**f`` overflows to infinity, ``|v| >= 2**53`` and the interpreter refuses.
    """
    if not fits_float32(fmt):
        return False
    q = fmt.broadcast_to(shape)
    if in_fmt is None:
        return bool(np.all((q.b <= 0) | (q.f >= 0)))
    return fits_float32(in_fmt)


def _kif(fmt: FixedFormat, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    f = fmt.broadcast_to(shape)
    return f.k, f.i, f.f


def bounds(q: FixedFormat) -> tuple[np.ndarray, np.ndarray]:
    """Least and greatest value of ``q`` under its overflow mode (SAT_SYM: symmetric), 0 where 0 bits wide."""
    lo, hi = q.min_value, q.max_value
    if q.overflow == "SAT_SYM":
        lo = np.where((q.k == 1) & (q.b > 1), -hi, lo)
    return lo, hi


def lower_quantize(b: OnnxBuilder, x: str, fmt: FixedFormat, shape: tuple[int, ...], in_fmt: FixedFormat | None,
                   name: str, dtype: type = np.float64, float32_input: bool = False) -> str:
    """Append nodes computing ``fixed.quantize(x, fmt)`` exactly; returns the result tensor's name.

    ``x`` holds values of format ``in_fmt`` (None: an arbitrary float, e.g. a graph input) and
    shape ``(batch, *shape)``. ``dtype`` is the float type ``x`` has and the nodes compute in
    (float32 only where :func:`float32_exact` says so). ``float32_input``: ``x`` (float64, of
    unknown range) holds float32 values, which makes the cheap rounding exact.
    """
    t, scale = lower_quantize_units(b, x, fmt, shape, in_fmt, name, dtype, float32_input)
    return finish(b, x, t, scale, fmt, name, dtype)


def input_unit(fmt: FixedFormat, in_fmt: FixedFormat | None, shape: tuple[int, ...]) -> np.ndarray:
    """The factor (a power of 2 per element) :func:`lower_quantize_units` first scales its input by."""
    q = fmt.broadcast_to(shape)
    return np.ldexp(1.0, q.f) if plan(fmt, in_fmt, shape).rounds else np.ones(q.shape)


def finish(b: OnnxBuilder, x: str, t: str, scale: np.ndarray, fmt: FixedFormat, name: str,
           dtype: type = np.float64, block: int = 1) -> str:
    """The quantized value from :func:`lower_quantize_units`' result ``t``: ``t * scale`` (an Identity of
    ``x`` where every input value is representable). ``block``: see :func:`lower_quantize_units`."""
    e = _Emit(b, name, f"quantize {name} to {fmt.summary()} ({fmt.round}, {fmt.overflow})", dtype)
    if not np.all(scale == 1):
        shape = np.shape(scale)
        blocked = _blocked(b, t, compact(scale), block, name)
        if blocked is not None:
            y = e.mul(blocked, np.tile(np.reshape(scale, -1), block), "back to value units (0 where 0 bits wide)")
            return b.op("Reshape", [y, _shape(b, shape)], name=f"{name}_rows")
        return e.mul(t, scale, "back to value units (0 where 0 bits wide)")
    if t == x:
        return e.op("Identity", [x], "every input value is representable: nothing to do")
    return t


def _shape(b: OnnxBuilder, dims: tuple[int, ...]) -> str:
    return b.const(np.asarray([-1, *dims], dtype=np.int64), np.int64, name="shape")


def _blocked(b: OnnxBuilder, x: str, const: np.ndarray, block: int, name: str) -> str | None:
    """``x`` ([N, *shape]) as ``[N / block, block * prod(shape)]`` when ``block > 1`` and ``const`` is not a
    scalar (onnxruntime broadcasts a constant along short rows several times slower than along long ones)."""
    if block <= 1 or np.ndim(const) == 0:
        return None
    return b.op("Reshape", [x, _shape(b, (block * int(np.size(const)),))], name=f"{name}_block",
                doc=f"{block} rows as one: per-element constants broadcast along long rows")


def _tile(fmt: FixedFormat, shape: tuple[int, ...], block: int) -> FixedFormat:
    f = fmt.broadcast_to(shape)
    k, i, fr = (np.tile(np.reshape(a, -1), block) for a in (f.k, f.i, f.f))
    return FixedFormat(k, i, fr, fmt.round, fmt.overflow)


def lower_quantize_units(b: OnnxBuilder, x: str, fmt: FixedFormat, shape: tuple[int, ...],
                         in_fmt: FixedFormat | None, name: str, dtype: type = np.float64,
                         float32_input: bool = False, pre: np.ndarray | None = None,
                         block: int = 1) -> tuple[str, np.ndarray]:
    """:func:`lower_quantize` up to its last step: ``(t, scale)`` with ``t * scale`` the quantized value.

    ``t`` holds integer codes where the quantizer rounds (``scale`` = ``2**-f``, 0 where 0 bits wide),
    else values (``scale`` 1, or 0 where 0 bits wide), so a consumer may fold ``scale`` into its
    weights. ``pre``: ``x`` already holds the input times :func:`input_unit` (a producer folded it).
    ``block > 1``: the batch is a multiple of ``block``, and formats that differ between elements are
    computed on ``block`` rows at a time (reshaped, the constants tiled): elementwise, the same steps.
    """
    het = block > 1 and any(np.ndim(compact(a)) for a in (*_kif(fmt, shape), *(_kif(in_fmt, shape) if in_fmt else ())))
    if het:
        flat = (block * int(np.prod(shape, dtype=np.int64)),)
        xb = b.op("Reshape", [x, _shape(b, flat)], name=f"{name}_block",
                  doc=f"{block} rows as one: per-element constants broadcast along long rows")
        pre_b = None if pre is None else np.tile(np.reshape(np.broadcast_to(pre, shape), -1), block)
        t, scale = lower_quantize_units(b, xb, _tile(fmt, shape, block), flat,
                                        None if in_fmt is None else _tile(in_fmt, shape, block), name, dtype,
                                        float32_input, pre_b)
        if t == xb:
            return x, np.reshape(scale[:flat[0] // block], shape)
        return (b.op("Reshape", [t, _shape(b, shape)], name=f"{name}_rows"),
                np.reshape(scale[:flat[0] // block], shape))
    q = fmt.broadcast_to(shape)
    p = plan(fmt, in_fmt, shape, dtype, float32_input)
    e = _Emit(b, name, f"quantize {name} to {fmt.summary()} ({fmt.round}, {fmt.overflow})", dtype)
    live = q.b > 0
    unit = np.ldexp(1.0, q.f) if p.rounds else np.ones(q.shape)  # integer units when rounding
    if pre is not None:
        if not np.array_equal(np.broadcast_to(pre, unit.shape), unit):
            raise InternalError(f"{e.what}: input pre-scaled by {pre!r}, not by its unit")
        e.pre, e.inputs = np.broadcast_to(pre, unit.shape), {x}
    t = _round(e, x, unit, fmt.round, p.cheap_half) if p.rounds else x
    lo_v, hi_v = bounds(q)
    lo_u, hi_u = lo_v * unit, hi_v * unit
    mode = fmt.overflow
    if mode in ("SAT", "SAT_SYM") and (p.over_lo or p.over_hi):
        if p.over_lo:
            t = e.op("Max", [t, e.c(np.where(live, lo_u, 0.0))], "saturate at the least value")
        if p.over_hi:
            t = e.op("Min", [t, e.c(np.where(live, hi_u, 0.0))], "saturate at the greatest value")
    elif mode == "SAT_ZERO" and (p.over_lo or p.over_hi):
        bad = e.op("Or", [e.op("Greater", [t, e.c(hi_u)], "above the greatest value?"),
                          e.op("Less", [t, e.c(lo_u)], "below the least value?")], "overflow?")
        t = e.op("Where", [bad, e.c(np.zeros(())), t], "overflow gives 0")
    elif mode == "WRAP" and (p.over_lo or p.over_hi):
        t = _wrap(e, t, q, unit, p.small or np.all(q.k == 0), np.dtype(dtype) == np.float32)
    scale = np.where(live, 1.0 / unit, 0.0) if (p.mask or np.any(unit != 1)) else np.ones(q.shape)
    return t, scale


def _round(e: _Emit, x: str, unit: np.ndarray, mode: str, cheap: bool) -> str:
    """``x * unit`` rounded to an integer with ``mode``, exactly (the scaling folded into the first step)."""

    def scaled() -> str:
        return e.scale_input(x, unit, "scale to units of the grid 2**-f")

    if mode == "TRN":
        return e.op("Floor", [scaled()], "TRN: floor")
    if mode == "RND_CONV":
        return e.op("Round", [scaled()], "RND_CONV: round half to even")
    if mode == "TRN_ZERO":
        v = scaled()
        frac = e.op("Mod", [v, e.c(np.ones(()))], "TRN_ZERO: fmod(v, 1)", fmod=1)
        return e.op("Sub", [v, frac], "TRN_ZERO: v - fmod(v, 1)")
    if mode in ("RND", "RND_MIN_INF"):
        return _half(e, x, unit, mode == "RND", cheap)
    # ties away from / towards zero: the sign times the magnitude rounded half up / half down
    absolute = e.op("Abs", [x], f"{mode}: |x|")
    e.inputs.add(absolute)  # |x| carries the input's factor too
    mag = _half(e, absolute, unit, mode == "RND_INF", cheap)
    return e.op("Mul", [e.op("Sign", [x], f"{mode}: sign"), mag], f"{mode}: sign * rounded |v|")


def _half(e: _Emit, x: str, unit: np.ndarray, up: bool, cheap: bool) -> str:
    """``v = x * unit`` rounded half up (``up``) or half down, exactly."""
    name = "RND" if up else "RND_MIN_INF"
    if cheap:
        v = e.scale_input(x, unit, "scale to units of the grid 2**-f")
        s = e.add(v, np.asarray(0.5 if up else -0.5), f"{name}: v +- 1/2 (exact: the input's format fits)")
        return e.op("Floor" if up else "Ceil", [s], f"{name}: round")
    two = e.scale_input(x, 2 * unit, f"{name}: 2v (in half units of the grid)")
    inner = e.op("Floor" if up else "Ceil", [two], f"{name}: {'floor' if up else 'ceil'}(2v)")
    half = e.mul(inner, np.asarray(0.5), f"{name}: halve")
    return e.op("Ceil" if up else "Floor", [half], f"{name}: {'ceil' if up else 'floor'} of the half")


def _wrap(e: _Emit, n: str, q: FixedFormat, unit: np.ndarray, small: bool, float32: bool) -> str:
    """Two's complement wrap of ``n`` (in units ``unit``) into ``q``'s range.

    ``small``: ``n / 2**b + k/2`` is exact (unsigned: nothing is added, so always).
    """
    period = np.ldexp(1.0, q.k + q.i) * unit  # 2**b units when on the grid
    if not small and float32:
        # fold into [0, 2**b), then the upper half down where signed: every step exact at any magnitude
        periods = e.op("Floor", [e.mul(n, 1.0 / period, "WRAP: n / 2**b")], "WRAP: whole periods")
        r = e.op("Sub", [n, e.mul(periods, period, "WRAP: periods * 2**b")], "WRAP: r = n mod 2**b, in [0, 2**b)")
        upper = e.op("Floor", [e.mul(r, np.where(q.k == 1, 2.0 / period, 0.0), "WRAP: 2r / 2**b (signed)")],
                     "WRAP: 1 in the upper half (signed), else 0")
        return e.op("Sub", [r, e.mul(upper, period, "WRAP: 2**b in the upper half")], "WRAP: r - 2**b there")
    if small:
        # floor(n / P + k/2) counts the periods above the least value: exact while |n| < 2**52
        a = e.mul(n, 1.0 / period, "WRAP: n / 2**b")
        a = e.add(a, np.where(q.b > 0, q.k * 0.5, 0.0), "WRAP: + k/2 (signed: from the least value)")
        periods = e.op("Floor", [a], "WRAP: whole periods")
        return e.op("Sub", [n, e.mul(periods, period, "WRAP: periods * 2**b")], "WRAP: n - periods * 2**b")
    # mirror the interpreter step by step: mod(n - n_min, 2**b) + n_min
    n_min = np.where(q.k == 1, -period / 2, 0.0)
    a = e.add(n, -n_min, "WRAP: a = n - n_min")
    periods = e.op("Floor", [e.mul(a, 1.0 / period, "WRAP: a / 2**b")], "WRAP: whole periods")
    r = e.op("Sub", [a, e.mul(periods, period, "WRAP: periods * 2**b")], "WRAP: mod(a, 2**b)")
    return e.add(r, n_min, "WRAP: + n_min")
