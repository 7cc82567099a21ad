"""Shared pieces of the ``qonnx`` target's emitters: the emission context, dtype casts, weights.

An IR value lives in one ONNX tensor of float32 or float64; :func:`float32_arg` and
:func:`double_arg` give an input in the dtype an emitter computes in (a Cast only where the
value is exact in it), and :func:`weight_tensor` emits a weight as a float initializer followed
by a Quant carrying the weight's format (the QONNX convention).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hgq_ir.backends.onnx_builder import OnnxBuilder
from hgq_ir.backends.qonnx_quant import F32, F64, Codes, quant
from onnx import TensorProto

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import InternalError, NotBitExactWarning
from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS, FixedFormat, float32_values
from hgq_ir.ir.graph import Graph, Node


@dataclass
class QonnxContext:
    """What emitters share: the builder, the graph's exact formats, each IR value's tensor and dtype."""

    builder: OnnxBuilder
    graph: Graph
    formats: dict[str, FixedFormat | None]
    tensors: dict[str, tuple[str, np.dtype]] = field(default_factory=dict)

    def arg(self, node: Node, j: int = 0) -> tuple[str, np.dtype]:
        """ONNX tensor and dtype of the node's ``j``-th input."""
        return self.tensors[node.inputs[j].name]

    def fmt(self, node: Node, j: int = 0) -> FixedFormat | None:
        """Exact format of the node's ``j``-th input (None: a float value)."""
        return self.formats[node.inputs[j].name]

    def exact_bits(self, node: Node) -> int:
        """Bits the node's own evaluation needs (``op.exact_bits`` on the propagated formats)."""
        return node.op.exact_bits([self.fmt(node, j) for j in range(len(node.inputs))],
                                  [v.shape for v in node.inputs], node.weights)


Emitted = tuple[str, np.dtype]
Emitter = Callable[[Node, QonnxContext], Emitted]


def warn_inexact(node: Node, why: str) -> None:
    """Warn :class:`NotBitExactWarning` naming the node's layer."""
    warnings.warn(f"qonnx: layer {node.origin or node.name!r} ({node.op.kind}) is not bit-exact: {why}",
                  NotBitExactWarning, stacklevel=4)


def shape_of(node: Node, j: int | None = None) -> tuple:
    """ONNX shape (symbolic batch ``N``) of the node's output, or of input ``j``."""
    v = node.output if j is None else node.inputs[j]
    return ("N", *v.shape)


def cast(ctx: QonnxContext, t: str, dt: np.dtype, to: np.dtype, shape: tuple, why: str) -> str:
    """``t`` as ``to`` (a Cast node when the dtype differs); ``why`` says why it is exact."""
    if np.dtype(dt) == np.dtype(to):
        return t
    code = TensorProto.DOUBLE if np.dtype(to) == F64 else TensorProto.FLOAT
    return ctx.builder.op("Cast", [t], name="cast", doc=why, out_dtype=to, out_shape=shape, to=code)


def fits24(fmt: FixedFormat | None) -> bool:
    """True for a known format of at most 24 bits (float32 holds each value exactly)."""
    return fmt is not None and fixed.required_bits(fmt) <= FLOAT32_EXACT_BITS


def float32_arg(ctx: QonnxContext, node: Node, j: int = 0) -> str | None:
    """Input ``j`` as float32 when that is exact (already float32, or a format of <= 24 bits), else None."""
    t, dt = ctx.arg(node, j)
    if dt == F32:
        return t
    if fits24(ctx.fmt(node, j)):
        return cast(ctx, t, dt, F32, shape_of(node, j), "exact: the value's format has <= 24 bits")
    return None


def double_arg(ctx: QonnxContext, node: Node, j: int = 0) -> str:
    """Input ``j`` as float64 (a Cast from float32 is exact)."""
    t, dt = ctx.arg(node, j)
    return cast(ctx, t, dt, F64, shape_of(node, j), "float64 region: exact widening")


def weight_tensor(ctx: QonnxContext, node: Node, wname: str, dtype: np.dtype,
                  perm: tuple[int, ...] | None = None, reshape: tuple[int, ...] | None = None) -> str:
    """The node's weight ``wname`` (transposed by ``perm``, then reshaped) as a tensor of ``dtype``.

    A weight whose values satisfy its fixed-point format becomes a float32 initializer followed by
    a Quant with one scalar PO2 scale and bit width: the format's homogeneous cover (max k, i, f),
    exact because every value lies on the finest grid and inside the widest range; the node's
    doc_string gives the per-element format. hls4ml and FINN read a scalar-scale weight Quant. A
    weight without a format, or whose cover needs more than 24 bits, is a plain initializer
    (float64 where float32 cannot hold it).
    """
    b = ctx.builder
    w = node.weights[wname]
    arr = np.asarray(w.array, dtype=np.float64)
    fmt = w.format
    ok = fmt is not None and np.array_equal(fixed.quantize(arr, fmt), arr)
    if perm is not None:
        arr = arr.transpose(perm)
    if reshape is not None:
        arr = arr.reshape(reshape)
    name = f"{node.name}_{wname}"
    if ok:
        cover = fmt.homogeneous_cover().with_modes("TRN", "SAT")
        ok = fits24(cover) and np.array_equal(fixed.quantize(arr, cover), arr)
    if ok:
        c = Codes(cover)
        narrow = fmt.is_homogeneous and fmt.overflow == "SAT_SYM" and c.signed and c.cover > 1
        doc = (f"weight {wname} of {node.origin or node.name}: {fmt.summary()}, as its homogeneous cover "
               f"{cover.summary()} (values already on the grid: the Quant is the identity)")
        q = quant(b, b.const(arr, np.float32, name), c.scale, c.cover, c.signed, narrow, "ROUND", arr.shape, doc=doc,
                  name=f"{name}_quant")
        return cast(ctx, q, F32, dtype, arr.shape, "exact widening of a quantized weight")
    if np.dtype(dtype) == F32 and not float32_values(arr):
        raise InternalError(f"weight {wname} of {node.name!r} does not fit float32", step="emit qonnx", node=node.name)
    return b.const(arr, dtype, name)
