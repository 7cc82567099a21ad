"""QONNX ``Quant`` recipes: an ap_fixed quantizer of the IR as ``Quant`` nodes plus standard ops.

qonnx 1.0's ``Quant`` (``IntQuant``) clamps to an integer range of one scalar bit width, then
rounds (FLOOR, CEIL, ROUND = ties to even, UP, DOWN, HALF_UP, HALF_DOWN), and always returns
float32. :func:`emit_quantize` turns a per-element :class:`FixedFormat` into the cheapest exact
form (measured in ``docs/research/qonnx_onnxruntime.md``):

- a single Quant (scalar PO2 scale when the format is homogeneous) for TRN/TRN_ZERO/RND_CONV/
  RND_INF/RND_ZERO with SAT or SAT_SYM (narrow) and one ``k`` and ``b`` for every element, or
  whenever the input's exact format proves the clamp never binds ("cannot overflow");
- RND / RND_MIN_INF: ``Add(+-2^-(f+1))`` then a FLOOR / CEIL Quant (in float64 unless the sum
  provably fits float32's 24 bits);
- heterogeneous ``k``/``b`` (and 1-bit signed, which qonnx treats as bipolar): per-element
  ``Max``/``Min`` bounds before a Quant wide enough for every element;
- SAT_ZERO: a wide Quant, then ``Where(out of range, 0, q)``;
- WRAP: a floor-modulo of standard ops in float64 before a FLOOR Quant (non-floor rounding
  modes first reduce with ``Mod(fmod=1)`` and round with a wide Quant).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hgq_ir.backends.onnx_builder import QONNX_DOMAIN, OnnxBuilder
from onnx import TensorProto

from hgq_ir.ir import fixed
from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS, FixedFormat, float32_values

#: IR rounding mode -> qonnx Quant rounding_mode (RND and RND_MIN_INF add a half step first)
QUANT_MODE = {"TRN": "FLOOR", "TRN_ZERO": "DOWN", "RND_CONV": "ROUND", "RND_INF": "HALF_UP",
              "RND_ZERO": "HALF_DOWN", "RND": "FLOOR", "RND_MIN_INF": "CEIL"}
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def own_const(b: OnnxBuilder, value: Any, dtype: Any, name: str) -> str:
    """A new initializer holding ``value`` (never shared: qonnx's cleanup copies shared Quant parameters
    without their shapes, and hls4ml 1.3's parser needs every Quant input's shape)."""
    return b.const(value, dtype, name, share=False)


def compact(a: np.ndarray) -> np.ndarray:
    """A 0-d array when every element of ``a`` is equal (a scalar initializer), else ``a``."""
    a = np.asarray(a)
    return np.asarray(a.flat[0]) if a.size and np.all(a == a.flat[0]) else a


def quant(b: OnnxBuilder, x: str, scale: np.ndarray, bits: float, signed: bool, narrow: bool, mode: str,
          shape: tuple, doc: str = "", name: str = "quant") -> str:
    """One qonnx ``Quant`` node (zero point 0, 0-d float32 bit width); returns its float32 output."""
    ins = [x, own_const(b, compact(scale), np.float32, f"{name}_scale"),
           own_const(b, 0.0, np.float32, f"{name}_zeropt"),
           own_const(b, float(bits), np.float32, f"{name}_bitwidth")]
    return b.op("Quant", ins, name=name, domain=QONNX_DOMAIN, doc=doc, out_dtype=np.float32, out_shape=shape,
                signed=int(bool(signed)), narrow=int(bool(narrow)), rounding_mode=mode)


class Codes:
    """Per-element constants of a format: ``k``, ``i``, ``f``, ``b``, integer bounds, scale."""

    def __init__(self, fmt: FixedFormat) -> None:
        shape = fmt.shape
        self.k, self.i, self.f = (np.broadcast_to(a, shape).astype(np.float64) for a in (fmt.k, fmt.i, fmt.f))
        self.b = self.k + self.i + self.f
        n_max = np.ldexp(1.0, (self.i + self.f).astype(np.int64)) - 1.0
        n_min = np.where(self.k == 1, -n_max - 1.0, 0.0)
        if fmt.overflow == "SAT_SYM":
            n_min = np.where((self.k == 1) & (self.b > 1), -n_max, n_min)
        live = self.b > 0
        self.n_min, self.n_max = np.where(live, n_min, 0.0), np.where(live, n_max, 0.0)
        self.scale = np.ldexp(1.0, -self.f.astype(np.int64))
        self.lo, self.hi = self.n_min * self.scale, self.n_max * self.scale
        self.signed = bool(self.k.max(initial=0) > 0)
        #: one Quant bit width holding every element's codes
        self.cover = float((self.b + (1 - self.k) * self.signed).max(initial=0))
        if self.signed and self.cover < 2:
            self.cover = 2.0  # qonnx's 1-bit signed Quant is bipolar (+-1), not ap_fixed<1>
        self.uniform = len(np.unique(self.k)) <= 1 and len(np.unique(self.b)) <= 1 and not (
            self.signed and self.b.max(initial=0) == 1)


def clamp_never_binds(in_fmt: FixedFormat | None, fmt: FixedFormat) -> bool:
    """True when every value of ``in_fmt``, rounded onto ``fmt``'s grid, is inside ``fmt``'s range
    (with SAT_SYM's symmetric minimum): then no overflow mode acts (proven from the formats)."""
    if in_fmt is None:
        return False
    shape = np.broadcast_shapes(in_fmt.shape, fmt.shape)
    x, q = in_fmt.broadcast_to(shape), fmt.broadcast_to(shape)
    lo, hi = fixed.rounded_range(x, q)
    c = Codes(q)
    return bool(np.all((lo >= c.lo) & (hi <= c.hi)))


def on_grid(in_fmt: FixedFormat | None, fmt: FixedFormat) -> bool:
    """True when every value of ``in_fmt`` lies on ``fmt``'s grid (rounding is the identity)."""
    if in_fmt is None:
        return False
    shape = np.broadcast_shapes(in_fmt.shape, fmt.shape)
    x, q = in_fmt.broadcast_to(shape), fmt.broadcast_to(shape)
    return bool(np.all((x.f <= q.f) | (x.b == 0)))


def _to_double(b: OnnxBuilder, x: str, dt: np.dtype, shape: tuple, why: str) -> str:
    if dt == F64:
        return x
    return b.op("Cast", [x], name="to_double", doc=why, out_dtype=np.float64, out_shape=shape, to=TensorProto.DOUBLE)


def _half_step_fits_float32(in_fmt: FixedFormat | None, c: Codes) -> bool:
    """True when ``x +- 2^-(f+1)`` is exact in float32 for every ``x`` of ``in_fmt`` (None: a float: no)."""
    if in_fmt is None:
        return False
    hf = FixedFormat.of_constants(np.ldexp(1.0, -(c.f + 1).astype(np.int64)))
    x = in_fmt.broadcast_to(np.broadcast_shapes(in_fmt.shape, hf.shape))
    return fixed.required_bits(fixed.add_format(x, hf)) <= FLOAT32_EXACT_BITS


def _offset(b: OnnxBuilder, x: str, dt: np.dtype, in_fmt: FixedFormat | None, c: Codes, sign: float,
            shape: tuple) -> tuple[str, np.dtype]:
    """``x + sign * 2^-(f+1)``, in float32 only when the sum provably fits 24 bits."""
    h = sign * np.ldexp(1.0, -(c.f + 1).astype(np.int64))
    if dt == F32 and _half_step_fits_float32(in_fmt, c):
        doc = "half-step offset (RND ties up / RND_MIN_INF ties down): exact in float32, proven from formats"
        return b.op("Add", [x, b.const(compact(h), np.float32, "half")], name="half_step", doc=doc,
                    out_dtype=np.float32, out_shape=shape), F32
    x = _to_double(b, x, dt, shape, "the half-step offset is computed in float64 (exact)")
    doc = "half-step offset (RND ties up / RND_MIN_INF ties down), exact in float64"
    return b.op("Add", [x, b.const(compact(h), np.float64, "half")], name="half_step", doc=doc,
                out_dtype=np.float64, out_shape=shape), F64


def _floor_wrap(b: OnnxBuilder, y: str, c: Codes, shape: tuple) -> str:
    """``y - P * Floor((y - lo) / P)`` in float64, P = 2^(k+i): two's complement wrap (floor modulo)."""
    period = np.ldexp(1.0, (c.k + c.i).astype(np.int64))
    low = -c.k * np.ldexp(1.0, c.i.astype(np.int64))
    kw = dict(out_dtype=np.float64, out_shape=shape)
    d = b.op("Sub", [y, b.const(compact(low), np.float64, "wrap_lo")], name="wrap_sub", **kw)
    n = b.op("Floor", [b.op("Mul", [d, b.const(compact(1.0 / period), np.float64, "inv_period")], name="wrap_div",
                            **kw)], name="wrap_floor", **kw)
    return b.op("Sub", [y, b.op("Mul", [n, b.const(compact(period), np.float64, "period")], name="wrap_mul", **kw)],
                name="wrapped", doc="WRAP as floor-modulo by the period 2^(k+i), exact in float64", **kw)


def _mask_zero_width(b: OnnxBuilder, out: str, c: Codes, shape: tuple) -> str:
    if not np.any(c.b == 0):
        return out
    return b.op("Mul", [out, b.const(compact((c.b > 0) * 1.0), np.float32, "live")], name="zero_width",
                doc="0-bit elements are the constant 0", out_dtype=np.float32, out_shape=shape)


def emit_quantize(b: OnnxBuilder, x: str, dt: np.dtype, fmt: FixedFormat, shape: tuple,
                  in_fmt: FixedFormat | None = None) -> str:
    """Quantize tensor ``x`` (dtype ``dt``, batch-less ``shape``) to ``fmt`` exactly; returns a float32 tensor.

    ``in_fmt`` is the exact format of ``x`` (None for float values): where it proves that the
    clamp never binds or that ``x`` is already on the grid, the recipe shrinks to one Quant.
    The result is exact when ``fmt`` needs at most 24 bits (qonnx's Quant returns float32).
    """
    dt = np.dtype(dt)
    fshape = (None, *shape)
    c = Codes(fmt)
    if c.b.max(initial=0) == 0:
        return quant(b, x, np.ones(()), 0, False, False, "FLOOR", fshape, doc="0-bit format: the constant 0")
    r, ov = fmt.round, fmt.overflow
    mode = QUANT_MODE[r]
    if on_grid(in_fmt, fmt):
        r, mode = "TRN", "FLOOR"  # the input already lies on the grid: any rounding is the identity
    if mode in ("HALF_UP", "HALF_DOWN") and dt == F32 and not _half_step_fits_float32(in_fmt, c):
        # qonnx rounds these as sign(v) * floor(|v| +- 1/2): in float32, |v| + 1/2 rounds (-0.49999997 -> -1)
        x, dt = _to_double(b, x, dt, fshape, f"{mode} computes |v| +- 1/2: exact in float64, not in float32"), F64
    if clamp_never_binds(in_fmt, fmt):
        y, dt = _offset(b, x, dt, in_fmt, c, 1.0 if r == "RND" else -1.0, fshape) if r in ("RND", "RND_MIN_INF") \
            else (x, dt)
        doc = f"{fmt.round} {ov}; cannot overflow: proven from the input's format (clamp never binds)"
        return quant(b, y, c.scale, c.cover, c.signed, False, mode, fshape, doc=doc)
    if ov == "WRAP":
        return _wrap(b, x, dt, in_fmt, c, r, mode, fshape)
    y, dt = _offset(b, x, dt, in_fmt, c, 1.0 if r == "RND" else -1.0, fshape) if r in ("RND", "RND_MIN_INF") \
        else (x, dt)
    if ov == "SAT_ZERO":
        q = quant(b, y, c.scale, c.b.max() + 2, True, False, mode, fshape, doc="SAT_ZERO: wide rounding first")
        kw = dict(out_dtype=np.bool_, out_shape=fshape)
        bad = b.op("Or", [b.op("Greater", [q, b.const(compact(c.hi), np.float32, "hi")], **kw),
                          b.op("Less", [q, b.const(compact(c.lo), np.float32, "lo")], **kw)], **kw)
        return b.op("Where", [bad, b.const(0.0, np.float32, "zero"), q], name="sat_zero",
                    doc="SAT_ZERO: out-of-range values become 0", out_dtype=np.float32, out_shape=fshape)
    if c.uniform:
        narrow = ov == "SAT_SYM" and c.signed and c.cover > 1
        return quant(b, y, c.scale, c.cover, c.signed, narrow, mode, fshape, doc=f"{fmt.round} {ov}")
    if dt == F32 and not (float32_values(c.lo) and float32_values(c.hi)):
        y, dt = _to_double(b, y, dt, fshape, "bounds need float64"), F64
    kw = dict(out_dtype=dt, out_shape=fshape)
    y = b.op("Max", [y, b.const(compact(c.lo), dt, "lo")], name="lower_bound", **kw)
    y = b.op("Min", [y, b.const(compact(c.hi), dt, "hi")], name="upper_bound",
             doc=f"{ov} to per-element bounds (heterogeneous k/b): on the grid, so clamp-then-round is exact", **kw)
    return quant(b, y, c.scale, c.cover, c.signed, False, mode, fshape, doc=f"{fmt.round} {ov}")


def _wrap(b: OnnxBuilder, x: str, dt: np.dtype, in_fmt: FixedFormat | None, c: Codes, r: str, mode: str,
          fshape: tuple) -> str:
    x = _to_double(b, x, dt, fshape, "WRAP is computed in float64 (exact)")
    if r in ("TRN", "RND"):
        y = _offset(b, x, F64, None, c, 1.0, fshape)[0] if r == "RND" else x
        w = _floor_wrap(b, y, c, fshape)
        out = quant(b, w, c.scale, c.cover, c.signed, False, "FLOOR", fshape,
                    doc=f"{r} WRAP: floor of the wrapped value (the clamp never binds)")
        return _mask_zero_width(b, out, c, fshape)
    period = np.ldexp(1.0, (c.k + c.i).astype(np.int64))
    kw = dict(out_dtype=np.float64, out_shape=fshape)
    y = b.op("Mod", [x, b.const(compact(period), np.float64, "period")], name="pre_wrap", fmod=1,
             doc="C fmod by the period: exact, keeps sign and the parity of the grid", **kw)
    if r == "RND_MIN_INF":
        y = _offset(b, y, F64, None, c, -1.0, fshape)[0]
    q = quant(b, y, c.scale, c.b.max() + 2, True, False, mode, fshape, doc=f"{r}: wide rounding before the wrap")
    w = _floor_wrap(b, _to_double(b, q, F32, fshape, "wrap the rounded value in float64"), c, fshape)
    out = quant(b, w, c.scale, c.cover, c.signed, False, "FLOOR", fshape,
                doc=f"{r} WRAP: carries the format (already on the grid and in range)")
    return _mask_zero_width(b, out, c, fshape)
