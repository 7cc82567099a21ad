"""The ``onnx`` target: plain ONNX that onnxruntime (CPU) computes bit-exactly, the fast emulator.

Every IR value becomes a tensor named after it (``v.name``; an ``Identity`` where an op's
lowering ends elsewhere), so any IR value can be added as a graph output to find where two
executors part. Float64 computes every fixed-point value exactly (the interpreter's own
arithmetic, up to 53 bits; more is refused like the interpreter refuses it). A node computes in
float32 instead (about 3x faster in onnxruntime) where its formats prove float32 exact: every
input a float32 value, the result's format at most 24 bits wide, every partial sum of a
MatMul within 24 bits (``exact_bits``), every quantizer step exact (``onnx_quantize``); its value's
tensor is then float32. Graph outputs are float64. A kernel layer folds the scalings of the
quantizers around it into its weights where they vary along channels only (powers of 2: the same
products and partial sums, scaled): it reads its input quantizer's integer codes, and gives its
result in its output quantizer's units (through relu / linear); the IR values' own tensors are
still computed from these (one ``Mul``), for readers: :class:`hgq_ir.emulator.Emulator` drops the
nodes nobody reads. ``input_dtype=np.float32`` declares the graph
inputs float32: the model then reads float32 values (what Keras models take), and quantizers on
them take the cheap exact steps in float32. Quantizers are
lowered by :mod:`hgq_ir.backends.onnx_quantize`. A small convolution or average pooling (reading
fixed-point values, at most :data:`DENSE_MAX_ENTRIES` matrix entries) is one ``MatMul`` of the
flattened sample by its matrix (the same products plus exact zeros), into which the quantizer
scalings fold element by element; larger ones, which onnxruntime has no float64 kernel for, gather
their windows channels-last (``Pad`` -> ``Gather`` -> ``MatMul`` / ``ReduceSum`` / ``ReduceMax``),
with no transposes, or in float32 run onnxruntime's ``Conv`` between two ``Transpose``.

Values that are floats rather than fixed-point (a float activation, a kernel layer reading floats)
are computed the way the IR computes them where ONNX has the same operation (``x * s + t`` for
BatchNorm), else with the standard ONNX op, and the emitter warns :class:`NotBitExactWarning`
naming the layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from hgq_ir.backends.emission import emitter_of, emitting
from hgq_ir.backends.onnx_builder import OnnxBuilder, elem_type
from hgq_ir.backends.onnx_quantize import (
    finish,
    fits_float32,
    float32_exact,
    input_unit,
    lower_quantize_units,
)
from hgq_ir.passes.base import Pass
from onnx import TensorProto, helper

from hgq_ir.ir.errors import (
    ConfigError,
    InexactError,
    InternalError,
    NotBitExactWarning,
    UnsupportedLayerError,
)
from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS, MAX_EXACT_BITS, FixedFormat, add_format, float32_values
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.windows import conv_matrix, sum_matrix

OPSET = 17
BATCH = "N"


def onnx_legalization() -> list[Pass]:
    """The onnx target's legalization: none; onnxruntime computes every IR op exactly as lowered here."""
    return []


F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@dataclass
class Ctx:
    """What emitters share: the builder, exact formats (graph inputs unknown), warnings to give.

    ``dtypes``: the float type of each IR value's tensor; ``dt``: the type the current node computes in.
    """

    graph: Graph
    b: OnnxBuilder
    formats: dict[str, FixedFormat | None]
    dtypes: dict[str, np.dtype] = field(default_factory=dict)
    dt: np.dtype = F64
    row_block: int = 1
    inexact: list[str] = field(default_factory=list)
    consumers: dict[str, list[Node]] = field(default_factory=dict)
    output_names: set[str] = field(default_factory=set)
    #: quantized value -> (its codes' tensor, the scale to its value), for kernel layers reading it
    codes: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    #: value -> (tensor holding it times its reading quantizer's unit, that unit)
    prescaled: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    _casts: dict[tuple[str, np.dtype], str] = field(default_factory=dict)

    def fmt(self, node: Node, j: int = 0) -> FixedFormat | None:
        return self.formats[node.inputs[j].name]

    def const(self, value: object, dtype: type | None = None) -> str:
        """A constant of ``dtype`` (default: the node's float type; float32 only holds float32 values)."""
        dtype = self.dt if dtype is None else dtype
        arr = np.asarray(value)
        if np.dtype(dtype) == F32 and arr.dtype.kind == "f" and not np.array_equal(arr.astype(F32), arr):
            raise InternalError(f"constant {arr!r} is not a float32 value")
        return self.b.const(value, dtype)

    def cast_tensor(self, t: str, dtype: np.dtype) -> str:
        """Any tensor ``t`` whose type is recorded in ``dtypes``, as ``dtype`` (see :meth:`cast`)."""
        return self.cast(t, dtype)

    def cast(self, t: str, dtype: np.dtype) -> str:
        """Tensor ``t`` (an IR value's) as ``dtype``: itself, or a Cast (made once)."""
        if self.dtypes[t] == dtype:
            return t
        key = (t, np.dtype(dtype))
        if key not in self._casts:
            self._casts[key] = self.b.op("Cast", [t], name=f"{t}_{np.dtype(dtype).name}", to=elem_type(dtype),
                                         doc="exact: a float32 value, or a format that fits float32")
        return self._casts[key]

    def shape(self, dims: tuple[int, ...]) -> str:
        """An int64 shape constant with the batch axis copied (0)."""
        return self.b.const(np.asarray([0, *dims], dtype=np.int64), np.int64, name="shape")


Emitter = Callable[[Node, list[str], Ctx], str]


def _float_input_warning(node: Node, ctx: Ctx, what: str) -> None:
    if any(ctx.formats[v.name] is None for v in node.inputs):
        ctx.inexact.append(f"{node.origin or node.name} ({node.op.kind} of float values: {what})")


# ---- emitters -----------------------------------------------------------------------------
def _quantize(node: Node, args: list[str], ctx: Ctx) -> str:
    fmt, name = node.op.quantizer_format, node.output.name
    float32_input = ctx.fmt(node) is None and ctx.dtypes[node.inputs[0].name] == F32
    x, pre = args[0], None
    if node.inputs[0].name in ctx.prescaled:  # the producer folded this quantizer's input scaling
        t, pre = ctx.prescaled[node.inputs[0].name]
        x = ctx.cast_tensor(t, ctx.dt)
    t, scale = lower_quantize_units(ctx.b, x, fmt, node.output.shape, ctx.fmt(node), node.name, ctx.dt.type,
                                    float32_input, pre, ctx.row_block)
    if t != x and not np.all(scale == 1):
        ctx.codes[name] = (t, scale)
        ctx.dtypes[t] = ctx.dt
    return finish(ctx.b, args[0], t, scale, fmt, node.name, ctx.dt.type, ctx.row_block)


def _last_axis(a: np.ndarray) -> np.ndarray | None:
    """``a``'s values along its last axis when they do not vary along the others, else None."""
    rows = np.asarray(a).reshape(-1, np.shape(a)[-1])
    return rows[0] if np.all(rows == rows[0]) else None


def _representable(a: np.ndarray, dtype: np.dtype) -> bool:
    return bool(np.all(np.isfinite(a)) and np.array_equal(a.astype(dtype).astype(np.float64), a))


def _fold_target(node: Node, ctx: Ctx, per_element: bool = False) -> tuple[Node, np.ndarray] | None:
    """The quantizer that rounds ``node``'s output (directly or after relu / linear, each its only reader,
    no graph output between) and its input unit ``2**f``: a kernel layer folds the unit into its weights
    (varying along channels only, unless ``per_element``: a dense matrix has a column per element)."""
    v, q = node.output, None
    for _ in range(2):
        readers = ctx.consumers.get(v.name, [])
        if v.name in ctx.output_names or len(readers) != 1:
            return None
        q = readers[0]
        if q.op.quantizer_format is not None:
            break
        if q.op.kind != "Activation" or q.op.function not in ("relu", "linear"):
            return None
        v, q = q.output, None
    if q is None:
        return None
    unit = input_unit(q.op.quantizer_format, ctx.formats[q.inputs[0].name], q.output.shape)
    foldable = per_element or _last_axis(unit) is not None
    return (q, unit) if not np.all(unit == 1) and foldable else None


def _kernel_weights(node: Node, ctx: Ctx, x: str) -> tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(input tensor, kernel, bias, output unit)`` with the scalings folded in where exact (:func:`_folded`,
    along channels: the kernel's rows per input channel, its columns per output channel)."""
    kernel = np.asarray(node.weights["kernel"].array, dtype=np.float64)
    bias = np.asarray(node.weights["bias"].array, dtype=np.float64) if "bias" in node.weights else None
    return _folded(node, ctx, x, kernel, bias, per_element=False)


def _scales(a: np.ndarray, shape: tuple[int, ...], per_element: bool) -> np.ndarray | None:
    """Scalings ``a`` of a value of ``shape``: flattened (``per_element``), or along its channels (None if
    they vary along other axes too)."""
    full = np.broadcast_to(a, shape)
    return full.reshape(-1) if per_element else _last_axis(full)


def _folded(node: Node, ctx: Ctx, x: str, w: np.ndarray, bias: np.ndarray | None,
            per_element: bool) -> tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(input tensor, weights, bias, output unit)``: the quantizer scalings around a kernel layer folded into
    its weights ``w`` (rows ``[..., in, out]``: per input channel, or per input element when ``per_element``
    and ``w`` is the matrix of the flattened sample) where the products stay representable.

    The input quantizer's codes replace its value where its scale (a power of 2, or 0) folds: the
    rows take the scale. The output quantizer's unit scales the columns and the bias (the result is
    then in that quantizer's units; relu commutes). Products and partial sums are the same numbers
    scaled by powers of 2: as exact as before.
    """
    codes = ctx.codes.get(node.inputs[0].name)
    if codes is not None:
        rows = _scales(codes[1], node.inputs[0].shape, per_element)
        if rows is not None and _representable(w * rows[:, None], ctx.dt):
            x, w = ctx.cast_tensor(codes[0], ctx.dt), w * rows[:, None]
    target = _fold_target(node, ctx, per_element)
    unit = None
    if target is not None:
        cols = _scales(target[1], node.output.shape, per_element)
        wide = [w * cols] + ([bias * cols] if bias is not None else [])
        if all(_representable(a, ctx.dt) for a in wide):
            w, bias = wide[0], (wide[1] if bias is not None else None)
            unit = cols.reshape(node.output.shape) if per_element else cols
    return x, w, bias, unit


def _scaled_back(node: Node, y: str, unit: np.ndarray | None, ctx: Ctx) -> str:
    """The node's value from its result ``y`` in units ``unit`` (recorded for the quantizer reading it)."""
    if unit is None:
        return y
    ctx.prescaled[node.output.name] = (y, np.broadcast_to(unit, node.output.shape))
    ctx.dtypes[y] = ctx.dt
    channels = _last_axis(np.broadcast_to(unit, node.output.shape))
    return ctx.b.op("Mul", [y, ctx.const(1.0 / (unit if channels is None else channels))], name=f"{node.name}_value",
                    doc="the value (its reader uses the result in its quantizer's units)")


def _matmul(ctx: Ctx, node: Node, x: str, kernel: np.ndarray, bias: np.ndarray | None,
            unit: np.ndarray | None) -> str:
    y = ctx.b.op("MatMul", [x, ctx.const(kernel.reshape(-1, kernel.shape[-1]))], name=f"{node.name}_matmul",
                 doc=f"exact in {ctx.dt.name}: every partial sum fits {24 if ctx.dt == F32 else 53} bits (exact_bits)")
    if bias is not None:
        y = ctx.b.op("Add", [y, ctx.const(bias)], name=f"{node.name}_bias")
    return _scaled_back(node, y, unit, ctx)


def _dense(node: Node, args: list[str], ctx: Ctx) -> str:
    _float_input_warning(node, ctx, "onnxruntime sums in its own order")
    return _matmul(ctx, node, *_kernel_weights(node, ctx, args[0]))


def _pad(node: Node, x: str, ctx: Ctx, fill: float) -> str:
    """``x`` padded as Keras pads the window op ``node`` (padded cells = ``fill``), or ``x`` itself."""
    op = node.op
    geo = op.geometry(node.inputs[0].shape)
    if not any(geo.before) and not any(geo.after):
        return x
    pads = [0, *geo.before, 0, 0, *geo.after, 0]
    return ctx.b.op("Pad", [x, ctx.const(np.asarray(pads, dtype=np.int64), np.int64), ctx.const(fill)],
                    name=f"{node.name}_pad", doc=f"Keras '{op.padding}' padding, padded cells = {fill}")


def _windows(node: Node, x: str, ctx: Ctx, fill: float) -> tuple[str, tuple[int, ...], int]:
    """Gather ``x``'s windows: ``(tensor [N, *out, K, C], out spatial shape, K)``."""
    op, in_shape = node.op, node.inputs[0].shape
    geo = op.geometry(in_shape)
    flat = ctx.b.op("Reshape", [_pad(node, x, ctx, fill), ctx.shape((int(np.prod(geo.padded)), in_shape[-1]))],
                    name=f"{node.name}_cells")
    win = ctx.b.op("Gather", [flat, ctx.const(op.cell_indices(in_shape), np.int64)], name=f"{node.name}_windows",
                   axis=1, doc="im2col: every window's cells, channels-last")
    return win, geo.out, int(np.prod(op.window))


def _native_conv(node: Node, x: str, ctx: Ctx) -> str:
    """Float32: onnxruntime's own Conv between two Transposes (channels-last <-> channels-first).

    Exact like the MatMul: every product and partial sum (any order) is a float32 value (exact_bits <= 24).
    """
    op, in_shape = node.op, node.inputs[0].shape
    r = len(in_shape) - 1
    geo = op.geometry(in_shape)
    x, kernel, bias, unit = _kernel_weights(node, ctx, x)  # kernel [*window, C, O]
    w = ctx.const(np.transpose(kernel, (r + 1, r, *range(r))))  # [O, C, *window]
    ins = [ctx.b.op("Transpose", [x], name=f"{node.name}_nchw", perm=[0, r + 1, *range(1, r + 1)]), w]
    if bias is not None:
        ins.append(ctx.const(np.broadcast_to(bias, (kernel.shape[-1],))))
    y = ctx.b.op("Conv", ins, name=f"{node.name}_conv", kernel_shape=list(op.window), strides=list(op.strides),
                 pads=[*geo.before, *geo.after],
                 doc="exact in float32: every partial sum fits 24 bits (exact_bits)")
    y = ctx.b.op("Transpose", [y], name=f"{node.name}_nhwc", perm=[0, *range(2, r + 2), 1])
    return _scaled_back(node, y, unit, ctx)


#: the most entries (input elements x output elements) of the matrix a convolution or average pooling
#: becomes when it is small: one MatMul on flattened samples then beats onnxruntime's Conv and gathered
#: windows (zoo conv2d's first conv, 128 x 192: 1.4x the whole model's speed), exact zeros included;
#: measured on one thread, a 3x3 conv between quantizers: 1.56x at 10k entries, 1.40x at 25k, even at
#: 131k (8x8x4 -> 8), 0.53x at 1.6M
DENSE_MAX_ENTRIES = 1 << 16


def _as_matrix(node: Node, ctx: Ctx) -> bool:
    """Whether window op ``node`` is small enough to be one matrix, and reads fixed-point (finite) values:
    a matrix multiplies every input by every column (a window's inf would reach every output)."""
    n_in, n_out = (int(np.prod(v.shape)) for v in (node.inputs[0], node.output))
    return ctx.fmt(node) is not None and n_in * n_out <= DENSE_MAX_ENTRIES


def _flat_matmul(node: Node, x: str, m: np.ndarray, ctx: Ctx, doc: str) -> str:
    flat = ctx.b.op("Reshape", [x, ctx.b.const(np.asarray([-1, m.shape[0]], np.int64), np.int64, name="shape")],
                    name=f"{node.name}_flat")
    return ctx.b.op("MatMul", [flat, ctx.const(m)], name=f"{node.name}_dense", doc=doc)


def _dense_conv(node: Node, x: str, ctx: Ctx) -> str:
    """A small convolution as one MatMul on flattened samples (:func:`hgq_ir.ir.windows.conv_matrix`).

    The scalings of the quantizers around it fold into the matrix's rows and columns element by
    element (powers of 2: the same products and partial sums, scaled). Exact like the MatMul of a
    Dense: the products are the windows' products, the rest exact zeros, every partial sum within
    ``exact_bits``.
    """
    in_shape, out_shape = node.inputs[0].shape, node.output.shape
    kernel = np.asarray(node.weights["kernel"].array, dtype=np.float64)
    m = conv_matrix(node.op.real_cells(in_shape), kernel, int(np.prod(in_shape[:-1])))
    bias = None
    if "bias" in node.weights:
        bias = np.broadcast_to(np.asarray(node.weights["bias"].array, dtype=np.float64), out_shape).reshape(-1)
    x, m, bias, unit = _folded(node, ctx, x, m, bias, per_element=True)
    y = _flat_matmul(node, x, m, ctx, f"the convolution as one matrix (exact zeros where no window reads a "
                     f"cell), exact in {ctx.dt.name}: every partial sum fits (exact_bits)")
    if bias is not None:
        y = ctx.b.op("Add", [y, ctx.const(bias)], name=f"{node.name}_bias")
    y = ctx.b.op("Reshape", [y, ctx.shape(out_shape)], name=f"{node.name}_unflat")
    return _scaled_back(node, y, unit, ctx)


def _conv(node: Node, args: list[str], ctx: Ctx) -> str:
    _float_input_warning(node, ctx, "onnxruntime sums in its own order")
    if _as_matrix(node, ctx):
        return _dense_conv(node, args[0], ctx)
    if ctx.dt == F32:
        return _native_conv(node, args[0], ctx)
    x, kernel, bias, unit = _kernel_weights(node, ctx, args[0])
    win, out, k = _windows(node, x, ctx, 0.0)
    cols = ctx.b.op("Reshape", [win, ctx.shape((*out, k * node.inputs[0].shape[-1]))], name=f"{node.name}_im2col")
    return _matmul(ctx, node, cols, kernel, bias, unit)


def _tiles(node: Node, x: str, ctx: Ctx, fill: float) -> tuple[str, list[int]] | None:
    """Windows that tile the input (strides == window): ``(x padded or cropped, output spatial shape)``.

    Pads (``fill``) or crops to ``out * k`` cells per axis, so reshapes gather the windows (no
    Gather). None when windows overlap or skip cells.
    """
    op, in_shape = node.op, node.inputs[0].shape
    if tuple(op.strides) != tuple(op.window):
        return None
    geo = op.geometry(in_shape)
    x = _pad(node, x, ctx, fill)
    whole = [o * k for o, k in zip(geo.out, op.window, strict=True)]
    if list(geo.padded) != whole:  # 'valid' windows leave the last cells out
        ends = np.asarray(whole, dtype=np.int64)
        x = ctx.b.op("Slice", [x, ctx.const(np.zeros(len(whole), np.int64), np.int64), ctx.const(ends, np.int64),
                               ctx.const(np.arange(1, len(whole) + 1, dtype=np.int64), np.int64)],
                     name=f"{node.name}_crop")
    return x, list(geo.out)


def _max_tiles(node: Node, x: str, outs: list[int], ctx: Ctx) -> str:
    """The maximum of tiling windows axis by axis, each a Reshape to ``[N, outer, k, inner]`` and a ReduceMax
    of axis 2 (a contiguous inner block: about 3x faster than one ReduceMax over strided axes)."""
    window, ch = node.op.window, node.inputs[0].shape[-1]
    for j, k in enumerate(window):
        outer = int(np.prod(outs[:j + 1]))
        inner = int(np.prod(outs[j + 1:])) * int(np.prod(window[j + 1:])) * ch
        x = ctx.b.op("Reshape", [x, ctx.shape((outer, k, inner))], name=f"{node.name}_tiles",
                     doc="windows tile the input: a reshape gathers them")
        x = ctx.b.op("ReduceMax", [x], name=f"{node.name}_max", axes=[2], keepdims=0)
    return ctx.b.op("Reshape", [x, ctx.shape((*outs, ch))], name=f"{node.name}_out")


def _maxpool(node: Node, args: list[str], ctx: Ctx) -> str:
    tiled = _tiles(node, args[0], ctx, -np.inf)
    if tiled is not None:
        return _max_tiles(node, *tiled, ctx)
    win, out, _ = _windows(node, args[0], ctx, -np.inf)
    return ctx.b.op("ReduceMax", [win], name=f"{node.name}_max", axes=[len(out) + 1], keepdims=0)


def _dense_avgpool(node: Node, x: str, ctx: Ctx) -> str:
    """A small average pooling as one MatMul (:func:`hgq_ir.ir.windows.sum_matrix`): entries ``1 / count``
    where every count is a power of 2 (exact products, exact sums: the quotient itself), else the sums,
    then the same IEEE division as the interpreter."""
    op, in_shape, out_shape = node.op, node.inputs[0].shape, node.output.shape
    counts = op.counts(in_shape).astype(np.float64)
    exact = op.is_exact(in_shape)
    m = sum_matrix(op.real_cells(in_shape), in_shape[-1], int(np.prod(in_shape[:-1])), 1.0 / counts if exact else None)
    y = _flat_matmul(node, x, m, ctx, "window sums as one matrix" + (" times 1/count (a power of 2)" if exact else ""))
    if not exact:
        y = ctx.b.op("Div", [y, ctx.const(np.broadcast_to(counts, out_shape).reshape(-1))], name=f"{node.name}_div",
                     doc="sum / real (unpadded) cells: the same IEEE division as the interpreter")
    return ctx.b.op("Reshape", [y, ctx.shape(out_shape)], name=f"{node.name}_unflat")


def _avgpool(node: Node, args: list[str], ctx: Ctx) -> str:
    _float_input_warning(node, ctx, "onnxruntime sums in its own order")
    if _as_matrix(node, ctx):
        return _dense_avgpool(node, args[0], ctx)
    tiled = _tiles(node, args[0], ctx, 0.0)
    if tiled is not None:  # one ReduceSum over the window axes (axis by axis measured slower)
        x, outs = tiled
        dims = [d for o, k in zip(outs, node.op.window, strict=True) for d in (o, k)]
        win = ctx.b.op("Reshape", [x, ctx.shape((*dims, node.inputs[0].shape[-1]))], name=f"{node.name}_tiles",
                       doc="windows tile the input: a reshape gathers them")
        axes = ctx.const(np.asarray([2 * j + 2 for j in range(len(outs))], dtype=np.int64), np.int64)
        total = ctx.b.op("ReduceSum", [win, axes], name=f"{node.name}_sum", keepdims=0)
    else:
        win, out, _ = _windows(node, args[0], ctx, 0.0)
        axes = ctx.const(np.asarray([len(out) + 1], dtype=np.int64), np.int64)
        total = ctx.b.op("ReduceSum", [win, axes], name=f"{node.name}_sum", keepdims=0)
    counts = node.op.counts(node.inputs[0].shape).astype(np.float64)
    return ctx.b.op("Div", [total, ctx.const(counts)], name=f"{node.name}_div",
                    doc="sum / real (unpadded) cells: the same IEEE division as the interpreter")


_ONNX_ACTIVATIONS: dict[str, Callable[[Ctx, str, str], str]] = {
    "sigmoid": lambda c, x, n: c.b.op("Sigmoid", [x], name=n),
    "tanh": lambda c, x, n: c.b.op("Tanh", [x], name=n),
    "softmax": lambda c, x, n: c.b.op("Softmax", [x], name=n, axis=-1),
    "softplus": lambda c, x, n: c.b.op("Softplus", [x], name=n),
    "softsign": lambda c, x, n: c.b.op("Softsign", [x], name=n),
    "exponential": lambda c, x, n: c.b.op("Exp", [x], name=n),
    "elu": lambda c, x, n: c.b.op("Elu", [x], name=n),
    "selu": lambda c, x, n: c.b.op("Selu", [x], name=n),
    "hard_sigmoid": lambda c, x, n: c.b.op("HardSigmoid", [x], name=n, alpha=1 / 6, beta=0.5),
    "swish": lambda c, x, n: c.b.op("Mul", [x, c.b.op("Sigmoid", [x], name=n)], name=n),
    "silu": lambda c, x, n: c.b.op("Mul", [x, c.b.op("Sigmoid", [x], name=n)], name=n),
    "relu6": lambda c, x, n: c.b.op("Clip", [x, c.const(0.0, np.float32), c.const(6.0, np.float32)], name=n),
}


def _activation(node: Node, args: list[str], ctx: Ctx) -> str:
    op = node.op
    if node.inputs[0].name in ctx.prescaled and op.function in ("linear", "relu"):
        y, unit = ctx.prescaled[node.inputs[0].name]  # positive units: relu commutes with them
        y = ctx.cast_tensor(y, ctx.dt)
        if op.function == "relu":
            y = ctx.b.op("Relu", [y], name=f"{node.name}_relu")
        return _scaled_back(node, y, unit, ctx)
    if op.function == "linear":
        return args[0]
    if op.function == "relu":
        return ctx.b.op("Relu", [args[0]], name=f"{node.name}_relu")
    if op.custom:
        raise UnsupportedLayerError(
            f"activation {node.origin!r} ({op.function}) is a custom function, which ONNX cannot compute: make it "
            "a lookup table (quantize its input more narrowly, or raise unary_lut_max_table_size)")
    ctx.inexact.append(f"{node.origin or node.name} ({op.function}: onnxruntime's "
                       f"{'float32' if op.dtype != 'float64' else 'float64'} function, not the framework's)")
    # computed in float32 (the framework's dtype, and the dtype onnxruntime has every kernel for)
    x = args[0] if ctx.dt == F32 else ctx.b.op("Cast", [args[0]], name=f"{node.name}_f32", to=TensorProto.FLOAT)
    y = _ONNX_ACTIVATIONS[op.function](ctx, x, f"{node.name}_{op.function}")
    ctx.dt = F64  # the result is a float: float64, as the interpreter holds it
    return ctx.b.op("Cast", [y], name=f"{node.name}_f64", to=TensorProto.DOUBLE)


def _lut(node: Node, args: list[str], ctx: Ctx) -> str:
    op = node.op
    f = int(op.in_format.f.flat[0])
    doc = "LUT code: floor(x * 2**f + 1/2) mod len(table), as the interpreter computes it"
    v = ctx.b.op("Mul", [args[0], ctx.const(np.ldexp(1.0, f))], name=f"{node.name}_scale", doc=doc)
    v = ctx.b.op("Floor", [ctx.b.op("Add", [v, ctx.const(0.5)], name=f"{node.name}_half", doc=doc)],
                 name=f"{node.name}_floor", doc=doc)
    code = ctx.b.op("Cast", [v], name=f"{node.name}_code", to=TensorProto.INT64)
    code = ctx.b.op("Mod", [code, ctx.const(np.int64(len(op.table)), np.int64)], name=f"{node.name}_mod",
                    doc="two's complement order: negative codes index from the end")
    table = ctx.const(np.asarray(op.table, dtype=np.float64))
    return ctx.b.op("Gather", [table, code], name=f"{node.name}_lookup", axis=0)


def _add(node: Node, args: list[str], ctx: Ctx) -> str:
    acc = args[0]
    for t in args[1:]:  # left to right, as the interpreter sums
        acc = ctx.b.op("Add", [acc, t], name=f"{node.name}_add")
    return acc


def _batchnorm(node: Node, args: list[str], ctx: Ctx) -> str:
    s, t = node.op.scale_shift(node.weights, node.inputs[0].shape[-1])
    y = ctx.b.op("Mul", [args[0], ctx.const(s)], name=f"{node.name}_scale", doc="x * s, as BatchNorm.evaluate")
    return ctx.b.op("Add", [y, ctx.const(t)], name=f"{node.name}_shift", doc="+ t, as BatchNorm.evaluate")


def _reshape(node: Node, args: list[str], ctx: Ctx) -> str:
    return ctx.b.op("Reshape", [args[0], ctx.shape(node.output.shape)], name=f"{node.name}_reshape")


#: op kind -> emitter ``(node, input tensor names, ctx) -> output tensor name``
EMITTERS: dict[str, Emitter] = {
    "Quantize": _quantize,
    "Signature": _quantize,
    "Dense": _dense,
    "Conv1D": _conv,
    "Conv2D": _conv,
    "MaxPool1D": _maxpool,
    "MaxPool2D": _maxpool,
    "AvgPool1D": _avgpool,
    "AvgPool2D": _avgpool,
    "Activation": _activation,
    "LUT": _lut,
    "Add": _add,
    "Concatenate": lambda n, a, c: c.b.op("Concat", a, name=f"{n.name}_concat", axis=n.op.axis + 1),
    "Reshape": _reshape,
    "Flatten": _reshape,
    "BatchNorm": _batchnorm,
}
#: op kind -> why the onnx target does not emit it
REFUSED: dict[str, str] = {
    "Input": "a graph input becomes an ONNX graph input (float64 or float32, symbolic batch), not a node",
    "Submodel": "nested graphs are inlined by flatten_nested before emission",
}


# ---- float32 where exact ---------------------------------------------------------------------
#: ops that copy, reorder or compare their inputs' values: exact in the inputs' float type
_VALUE_PRESERVING = {"Reshape", "Flatten", "Concatenate", "MaxPool1D", "MaxPool2D"}
_KERNEL_OPS = {"Dense", "Conv1D", "Conv2D"}


def _compute_dtype(node: Node, ctx: Ctx, bits: int) -> np.dtype:
    """Float32 where the formats prove every step of ``node``'s lowering exact in float32, else float64.

    ``bits``: the node's ``exact_bits``. Ops that only move or compare values keep their inputs'
    type. A computing node reads an input held in float64 in float32 (a Cast, exact) when the
    input's format fits float32, unless the node's result is a graph output (float64 anyway).
    """
    op, kind = node.op, node.op.kind
    held = [ctx.dtypes[v.name] for v in node.inputs]
    if kind in _VALUE_PRESERVING or (kind == "Activation" and op.function in ("linear", "relu")):
        return F32 if all(d == F32 for d in held) else F64
    if kind == "Activation" and not op.custom:
        return held[0]  # a float function: onnxruntime's float32 kernel, as before (its result is float64)
    castable = all(d == F32 or fits_float32(ctx.formats[v.name]) for d, v in zip(held, node.inputs, strict=True))
    if not castable or (F64 in held and node.output.name in {v.name for v in ctx.graph.outputs}):
        return F64
    if not fits_float32(ctx.formats[node.output.name]):
        return F64
    if op.quantizer_format is not None:
        ok = float32_exact(op.quantizer_format, ctx.fmt(node), node.output.shape)
    elif kind in _KERNEL_OPS:
        ok = bits <= FLOAT32_EXACT_BITS and all(float32_values(w.array) for w in node.weights.values())
    elif kind == "Add":
        fmts = [ctx.formats[v.name] for v in node.inputs]  # known: the output's format is
        ok = all(fits_float32(add_format(*fmts[:j])) for j in range(2, len(fmts) + 1))  # left to right, as emitted
    elif kind in ("AvgPool1D", "AvgPool2D"):
        fmt, counts = ctx.fmt(node), op.counts(node.inputs[0].shape)
        cells = int(np.prod(op.window))
        ok = fmt is not None and bool(np.all(counts == 2.0 ** np.round(np.log2(counts))))  # / 2**j: exact
        if ok:  # every partial sum: at most cells * the largest magnitude, on the finest grid
            live = fmt.b > 0
            span = (np.max(np.where(live, fmt.k + fmt.i, -(2**20)), initial=0)
                    + np.max(np.where(live, fmt.f, -(2**20)), initial=0))
            ok = int(span) + int(np.ceil(np.log2(cells))) <= FLOAT32_EXACT_BITS
    else:
        ok = False  # LUT, BatchNorm: float64
    return F32 if ok else F64


# ---- the model ----------------------------------------------------------------------------
def _bind(b: OnnxBuilder, t: str, name: str, reserved: set[str]) -> None:
    """Make tensor ``t`` available as ``name``: rename the node that just produced it, else an Identity."""
    last = b.nodes[-1] if b.nodes else None
    if last is not None and list(last.output) == [t] and t not in reserved:
        last.output[0] = name
        b.types.pop(t, None)
    else:
        b.nodes.append(helper.make_node("Identity", [t], [name], name=b.fresh(f"{name}_identity")))


def _check_exact(graph: Graph, formats: dict[str, FixedFormat | None], node: Node) -> int:
    """The node's ``exact_bits``; raises :class:`InexactError` beyond float64's 53."""
    fmts = [formats[v.name] for v in node.inputs]
    bits = node.op.exact_bits(fmts, [v.shape for v in node.inputs], node.weights)
    if bits > MAX_EXACT_BITS:
        raise InexactError(f"node {node.name!r} ({node.op.kind}, from {node.origin!r}) needs {bits} bits, more than "
                           f"the {MAX_EXACT_BITS} float64 computes exactly; narrow the quantizers feeding it")
    return bits


def to_onnx(graph: Graph, name: str | None = None, input_dtype: type = np.float64,
            row_block: int = 1) -> onnx.ModelProto:
    """The ONNX model of ``graph``, which onnxruntime runs exactly like :func:`hgq_ir.interpret`.

    Inputs are tensors of ``input_dtype`` (float64: any float; float32: the model reads float32
    values, as a Keras model does, and runs faster) and outputs float64 tensors, named after the
    IR values, shape ``["N", *shape]``; every IR value's result is the tensor named after it
    (float32 where computed in float32). Warns :class:`NotBitExactWarning` naming the layers that
    compute floats onnxruntime cannot reproduce bit for bit (float activations, softmax, kernel
    layers reading floats); raises :class:`UnsupportedLayerError` for a custom activation that is
    not a lookup table and :class:`InexactError` for a node needing > 53 bits.

    ``row_block > 1``: the model only takes batches of a multiple of ``row_block`` rows, and its
    quantizers with per-element formats compute ``row_block`` rows at a time (onnxruntime
    broadcasts a per-element constant along rows of 10 elements ~7x slower than a scalar).
    """
    in_dt = np.dtype(input_dtype)
    if in_dt not in (F32, F64):
        raise ConfigError(f"input_dtype must be float32 or float64, got {in_dt.name}")
    # graph inputs are floats of any value: nothing is assumed about them
    formats = propagate(graph, input_formats=[None] * len(graph.inputs))
    b = OnnxBuilder(name or graph.name, opset=OPSET)
    for v in graph.inputs:
        b.input(v.name, in_dt, [BATCH, *v.shape])
    reserved = {v.name for v in graph.values}
    for n in sorted(reserved - {v.name for v in graph.inputs}):
        b.fresh(n)
    outputs = {v.name for v in graph.outputs}
    consumers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for v in node.inputs:
            consumers.setdefault(v.name, []).append(node)
    ctx = Ctx(graph, b, formats, dtypes={v.name: in_dt for v in graph.inputs}, consumers=consumers,
              output_names=outputs, row_block=max(int(row_block), 1))
    for node in graph.nodes:
        if node.op.is_source:
            continue
        emit = emitter_of(node, EMITTERS, REFUSED, "the onnx target")
        bits = _check_exact(graph, formats, node)
        with emitting(node, "as ONNX", "emit onnx"):
            ctx.dt = _compute_dtype(node, ctx, bits)
            t = emit(node, [ctx.cast(v.name, ctx.dt) for v in node.inputs], ctx)
            if node.output.name in outputs and ctx.dt != F64:
                t = b.op("Cast", [t], name=f"{node.name}_float64", to=TensorProto.DOUBLE, doc="exact: a graph output")
                ctx.dt = F64
        _bind(b, t, node.output.name, reserved | set(ctx._casts.values()))
        ctx.dtypes[node.output.name] = ctx.dt
        b.declare(node.output.name, ctx.dt, [BATCH, *node.output.shape])
    for v in graph.outputs:  # float64, but a graph input passed through
        b.output(v.name, ctx.dtypes[v.name], [BATCH, *v.shape])
    if ctx.inexact:
        warnings.warn("the onnx target is not bit-exact on these layers (they compute floats, and onnxruntime's "
                      "float functions differ from the framework's): " + ", ".join(ctx.inexact)
                      + " (quantize their inputs so they become exact lookup tables / fixed-point layers)",
                      NotBitExactWarning, stacklevel=2)
    model = b.model(doc=f"hgq-ir onnx emulator of {graph.name}: {in_dt.name} inputs, bit-exact with hgq_ir.interpret")
    return model
