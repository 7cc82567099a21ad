"""Convolution and pooling for the ``qonnx`` target (channels-last IR, Keras padding).

- float32 where exact (every partial sum fits 24 bits, proven from formats): the standard
  ``Conv`` / ``AveragePool`` between ``Transpose`` nodes (ONNX is NCHW), explicit Keras pads
  (``[begins..., ends...]``; 'same' puts the extra cell at the end);
- float64 otherwise (onnxruntime has no float64 Conv/AveragePool): ``Pad`` -> ``Reshape`` ->
  ``Gather`` of every window (im2col) -> ``MatMul`` (+ bias), or ``ReduceSum`` then ``Div`` by
  the real (unpadded) cell count, the interpreter's own division;
- ``MaxPool`` in the input's dtype (exact in any float type; padded cells never win).
"""

from __future__ import annotations

import numpy as np
from hgq_ir.backends.qonnx_context import (
    Emitted,
    QonnxContext,
    double_arg,
    float32_arg,
    shape_of,
    warn_inexact,
    weight_tensor,
)
from hgq_ir.backends.qonnx_quant import F32, F64

from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS
from hgq_ir.ir.graph import Node


def _nchw(ctx: QonnxContext, node: Node, x: str, dt: np.dtype, onnx_op: str, ins: list[str], doc: str,
          **attrs: object) -> str:
    """``Transpose`` to channels-first, ``onnx_op`` with Keras pads, ``Transpose`` back."""
    b, rank = ctx.builder, node.op.rank
    geo = node.op.geometry(node.inputs[0].shape)
    cin, cout = node.inputs[0].shape[-1], node.output.shape[-1]
    to_cf = (0, rank + 1, *range(1, rank + 1))
    to_cl = (0, *range(2, rank + 2), 1)
    xt = b.op("Transpose", [x], name=f"{node.name}_to_nchw", perm=list(to_cf), out_dtype=dt,
              out_shape=("N", cin, *node.inputs[0].shape[:-1]))
    y = b.op(onnx_op, [xt, *ins], name=f"{node.name}_{onnx_op.lower()}", doc=doc, out_dtype=dt,
             out_shape=("N", cout, *node.output.shape[:-1]), kernel_shape=list(node.op.window),
             strides=list(node.op.strides), pads=[*geo.before, *geo.after], **attrs)
    return b.op("Transpose", [y], name=f"{node.name}_to_nhwc", perm=list(to_cl), out_dtype=dt,
                out_shape=shape_of(node))


def _windows(ctx: QonnxContext, node: Node, x: str) -> str:
    """Every window of float64 ``x`` (zero padded): shape ``(N, *out, prod(window), C)``."""
    b, op = ctx.builder, node.op
    geo = op.geometry(node.inputs[0].shape)
    c, cells = node.inputs[0].shape[-1], int(np.prod(geo.padded))
    if any(geo.before) or any(geo.after):
        pads = np.array([0, *geo.before, 0, 0, *geo.after, 0])
        x = b.op("Pad", [x, b.const(pads, np.int64, "pads")], name=f"{node.name}_pad", doc="Keras pads, zeros",
                 out_dtype=F64, out_shape=("N", *geo.padded, c))
    flat = b.op("Reshape", [x, b.const(np.array([0, cells, c]), np.int64, "shape")],
                name=f"{node.name}_cells", out_dtype=F64, out_shape=("N", cells, c))
    idx = op.cell_indices(node.inputs[0].shape)
    return b.op("Gather", [flat, b.const(idx, np.int64, f"{node.name}_im2col")], name=f"{node.name}_windows",
                axis=1, doc="im2col: the cells of every window (Keras order)", out_dtype=F64,
                out_shape=("N", *idx.shape, c))


def emit_conv(node: Node, ctx: QonnxContext) -> Emitted:
    """Conv1D/Conv2D: float32 ``Conv`` where exact, else a float64 Gather im2col + MatMul."""
    b, rank = ctx.builder, node.op.rank
    fin = ctx.fmt(node)
    x = float32_arg(ctx, node) if fin is not None and ctx.exact_bits(node) <= FLOAT32_EXACT_BITS else None
    if x is not None:
        kernel = weight_tensor(ctx, node, "kernel", F32, perm=(rank + 1, rank, *range(rank)))
        ins = [kernel] + ([weight_tensor(ctx, node, "bias", F32)] if "bias" in node.weights else [])
        doc = "float32 Conv: every partial sum fits 24 bits (proven from formats)"
        return _nchw(ctx, node, x, F32, "Conv", ins, doc, dilations=[1] * rank, group=1), F32
    if fin is None:
        warn_inexact(node, "it reads float values (no quantizer before it): the float64 sum's order may differ "
                           "from the interpreter's")
    win = _windows(ctx, node, double_arg(ctx, node))
    kshape = node.weights["kernel"].array.shape
    rows = (*node.output.shape[:-1], int(np.prod(kshape[:-1])))
    cols = b.op("Reshape", [win, b.const(np.array([0, *rows]), np.int64, "shape")], name=f"{node.name}_cols",
                out_dtype=F64, out_shape=("N", *rows))
    kernel = weight_tensor(ctx, node, "kernel", F64, reshape=(rows[-1], kshape[-1]))
    doc = "float64 convolution as im2col MatMul: every partial sum fits 53 bits"
    y = b.op("MatMul", [cols, kernel], name=f"{node.name}_matmul", doc=doc, out_dtype=F64, out_shape=shape_of(node))
    if "bias" in node.weights:
        y = b.op("Add", [y, weight_tensor(ctx, node, "bias", F64)], name=f"{node.name}_bias", doc=doc,
                 out_dtype=F64, out_shape=shape_of(node))
    return y, F64


def emit_maxpool(node: Node, ctx: QonnxContext) -> Emitted:
    """MaxPool1D/2D: ``MaxPool`` in the input's dtype (no arithmetic: exact)."""
    x, dt = ctx.arg(node)
    doc = "max: exact in any float type; padded cells never win"
    return _nchw(ctx, node, x, dt, "MaxPool", [], doc, dilations=[1] * node.op.rank), dt


def emit_avgpool(node: Node, ctx: QonnxContext) -> Emitted:
    """AvgPool1D/2D: float32 ``AveragePool`` where exact (power-of-2 counts, sums of <= 24 bits),
    else a float64 window sum divided by each window's real cell count (the interpreter's ``/``)."""
    b, op = ctx.builder, node.op
    in_shape = node.inputs[0].shape
    fin = ctx.fmt(node)
    exact32 = fin is not None and op.is_exact(in_shape) and ctx.exact_bits(node) <= FLOAT32_EXACT_BITS
    x = float32_arg(ctx, node) if exact32 else None
    if x is not None:
        doc = "float32 AveragePool: power-of-2 counts of real cells, sums of <= 24 bits (proven from formats)"
        return _nchw(ctx, node, x, F32, "AveragePool", [], doc, count_include_pad=0), F32
    if fin is None:
        warn_inexact(node, "it averages float values (no quantizer before it)")
    win = _windows(ctx, node, double_arg(ctx, node))
    out = shape_of(node)
    s = b.op("ReduceSum", [win, b.const(np.array([-2]), np.int64, "axes")], name=f"{node.name}_sum", keepdims=0,
             doc="float64 window sum: exact", out_dtype=F64, out_shape=out)
    counts = op.counts(in_shape).astype(np.float64)
    return b.op("Div", [s, b.const(counts, F64, f"{node.name}_counts")], name=f"{node.name}_div",
                doc="divided by the real cell count: the interpreter's own float64 division", out_dtype=F64,
                out_shape=out), F64
