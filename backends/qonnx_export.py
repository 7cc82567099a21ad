"""The ``qonnx`` target: the IR as an ONNX model with QONNX ``Quant`` nodes.

qonnx 1.0's executor (``qonnx.core.onnx_exec.execute_onnx``, run by :func:`execute_qonnx`)
computes it bit for bit like the reference interpreter. The graph stays channels-last like the
IR (convolutions and pools are wrapped in Transposes to ONNX's NCHW); every IR value ``v`` ends
in a tensor named ``v.name``.

Exactness: a Quant returns float32, so quantizers whose format needs more than 24 bits warn
:class:`NotBitExactWarning`. Weights are float initializers followed by a Quant with a scalar PO2
scale and bit width (their format's homogeneous cover; the per-element format is in its
doc_string). An op stays in float32 only where its exact bits (``op.exact_bits`` on the
propagated formats) are at most 24; otherwise it runs in float64
(onnxruntime has no float64 Conv/AveragePool: those become a Gather im2col + MatMul/ReduceSum,
see :mod:`hgq_ir.backends.qonnx_windows`). Each lowering says why it is exact in its nodes'
``doc_string``. :data:`EMITTERS` / :data:`REFUSED` list how each op kind is emitted.
"""

from __future__ import annotations

import numpy as np
import onnx
from hgq_ir.backends.emission import emitter_of, emitting
from hgq_ir.backends.onnx_builder import QONNX_DOMAIN, OnnxBuilder
from hgq_ir.backends.qonnx_context import (
    Emitted,
    Emitter,
    QonnxContext,
    cast,
    double_arg,
    float32_arg,
    shape_of,
    warn_inexact,
    weight_tensor,
)
from hgq_ir.backends.qonnx_exec import execute_qonnx
from hgq_ir.backends.qonnx_quant import F32, F64, emit_quantize
from hgq_ir.backends.qonnx_windows import emit_avgpool, emit_conv, emit_maxpool
from hgq_ir.passes.base import Pass
from onnx import TensorProto

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import UnsupportedLayerError
from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS, float32_values
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.graph import Graph, Node

__all__ = ["EMITTERS", "REFUSED", "QonnxContext", "execute_qonnx", "qonnx_legalization", "to_qonnx"]

OPSET = 13


# ---- emitters -------------------------------------------------------------------------------
def _quantizer(node: Node, ctx: QonnxContext) -> Emitted:
    fmt = node.op.quantizer_format
    if fixed.required_bits(fmt) > FLOAT32_EXACT_BITS:
        warn_inexact(node, f"its format {fmt.summary()} needs {fixed.required_bits(fmt)} bits; qonnx's Quant "
                           "returns float32 (24 bits): narrow the quantizer")
    x, dt = ctx.arg(node)
    return emit_quantize(ctx.builder, x, dt, fmt, node.output.shape, ctx.fmt(node)), F32


def _dense(node: Node, ctx: QonnxContext) -> Emitted:
    b, shape = ctx.builder, shape_of(node)
    fin = ctx.fmt(node)
    x = float32_arg(ctx, node) if fin is not None and ctx.exact_bits(node) <= FLOAT32_EXACT_BITS else None
    dt = F32 if x is not None else F64
    if x is None:
        if fin is None:
            warn_inexact(node, "it reads float values (no quantizer before it): the float64 sum's order may "
                               "differ from the interpreter's")
        x = double_arg(ctx, node)
    doc = ("float32 MatMul: every partial sum fits 24 bits (proven from formats)" if dt == F32
           else "float64 MatMul: every partial sum fits 53 bits")
    y = b.op("MatMul", [x, weight_tensor(ctx, node, "kernel", dt)], name=f"{node.name}_matmul", doc=doc,
             out_dtype=dt, out_shape=shape)
    if "bias" in node.weights:
        y = b.op("Add", [y, weight_tensor(ctx, node, "bias", dt)], name=f"{node.name}_bias", doc=doc,
                 out_dtype=dt, out_shape=shape)
    return y, dt


ONNX_ACTIVATIONS: dict[str, tuple[str, dict]] = {
    "tanh": ("Tanh", {}), "sigmoid": ("Sigmoid", {}), "exponential": ("Exp", {}),
    "softmax": ("Softmax", {"axis": -1}), "softplus": ("Softplus", {}), "softsign": ("Softsign", {}),
    "elu": ("Elu", {}), "selu": ("Selu", {}), "hard_sigmoid": ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
}
DOUBLE_KERNELS = ("Tanh", "Sigmoid", "Exp", "Softmax")


def _activation(node: Node, ctx: QonnxContext) -> Emitted:
    b, op, shape = ctx.builder, node.op, shape_of(node)
    x, dt = ctx.arg(node)
    if op.custom:
        raise UnsupportedLayerError(f"activation {node.origin!r} ({op.function}) is a custom function; it only "
                                    "converts as a lookup table (raise unary_lut_max_table_size)")
    if op.function == "linear":
        return b.op("Identity", [x], name=node.name, out_dtype=dt, out_shape=shape), dt
    if op.function == "relu":
        return b.op("Relu", [x], name=node.name, doc="exact in any float type", out_dtype=dt, out_shape=shape), dt
    if op.function == "relu6":
        onnx_op, attrs = "Clip", {}
    elif op.function in ("swish", "silu"):
        onnx_op, attrs = "Sigmoid", {}
    elif op.function in ONNX_ACTIVATIONS:
        onnx_op, attrs = ONNX_ACTIVATIONS[op.function]
    else:
        raise UnsupportedLayerError(f"activation {node.origin!r} ({op.function}) has no ONNX operator here; make "
                                    "it a lookup table (raise unary_lut_max_table_size)")
    warn_inexact(node, f"{op.function} is a float function computed by onnxruntime (a lookup table would be exact)")
    want = F64 if onnx_op in DOUBLE_KERNELS + ("Clip",) else F32
    x = cast(ctx, x, dt, want, shape, "float activation input")
    ins = [x] + ([b.const(0.0, want, "zero"), b.const(6.0, want, "six")] if onnx_op == "Clip" else [])
    y = b.op(onnx_op, ins, name=node.name, doc="float function: not bit-exact", out_dtype=want, out_shape=shape,
             **attrs)
    if op.function in ("swish", "silu"):
        y = b.op("Mul", [x, y], name=node.name, out_dtype=want, out_shape=shape)
    return y, want


def _lut(node: Node, ctx: QonnxContext) -> Emitted:
    b, op, shape = ctx.builder, node.op, shape_of(node)
    x = double_arg(ctx, node)
    f = int(op.in_format.f.flat[0])
    table = np.asarray(op.table, dtype=np.float64)
    kw = dict(out_dtype=F64, out_shape=shape)
    code = b.op("Floor", [b.op("Add", [b.op("Mul", [x, b.const(np.ldexp(1.0, f), F64, "lut_scale")], **kw),
                                       b.const(0.5, F64, "half")], **kw)], **kw)
    idx = b.op("Cast", [code], name="lut_code", out_dtype=np.int64, out_shape=shape, to=TensorProto.INT64)
    idx = b.op("Mod", [idx, b.const(len(table), np.int64, "lut_len")], name="lut_index", out_dtype=np.int64,
               out_shape=shape, doc="two's complement order: the raw code modulo the table length (floored)")
    dt = F32 if float32_values(table) else F64
    y = b.op("Gather", [b.const(table, dt, f"{node.name}_table"), idx], name=node.name, axis=0,
             doc=f"lookup table of {op.function}: exact (one entry per representable input)",
             out_dtype=dt, out_shape=shape)
    return y, dt


def _add(node: Node, ctx: QonnxContext) -> Emitted:
    b, shape = ctx.builder, shape_of(node)
    fmts = [ctx.fmt(node, j) for j in range(len(node.inputs))]
    exact32 = all(f is not None for f in fmts)
    if exact32:
        full = [f.broadcast_to(v.shape) for f, v in zip(fmts, node.inputs, strict=True)]
        exact32 = all(fixed.required_bits(fixed.add_format(*full[:j])) <= FLOAT32_EXACT_BITS
                      for j in range(2, len(full) + 1))
    args = [float32_arg(ctx, node, j) for j in range(len(node.inputs))] if exact32 else []
    if not exact32 or any(a is None for a in args):
        if not all(f is not None for f in fmts):
            warn_inexact(node, "it adds float values (no quantizer before it)")
        dt, args = F64, [double_arg(ctx, node, j) for j in range(len(node.inputs))]
        doc = "float64 sum: every partial sum fits 53 bits"
    else:
        dt, doc = F32, "float32 sum: every partial sum fits 24 bits (proven from formats)"
    acc = args[0]
    for t in args[1:]:
        acc = b.op("Add", [acc, t], name=node.name, doc=doc, out_dtype=dt, out_shape=shape)
    return acc, dt


def _concatenate(node: Node, ctx: QonnxContext) -> Emitted:
    dts = [ctx.arg(node, j)[1] for j in range(len(node.inputs))]
    dt = F32 if all(d == F32 for d in dts) else F64
    args = [cast(ctx, *ctx.arg(node, j), dt, shape_of(node, j), "exact widening") for j in range(len(dts))]
    return ctx.builder.op("Concat", args, name=node.name, axis=node.op.axis + 1, out_dtype=dt,
                          out_shape=shape_of(node)), dt


def _reshape(node: Node, ctx: QonnxContext) -> Emitted:
    x, dt = ctx.arg(node)
    target = ctx.builder.const(np.array([0, *node.output.shape]), np.int64, "shape")
    return ctx.builder.op("Reshape", [x, target], name=node.name, doc="row-major, channels-last like Keras",
                          out_dtype=dt, out_shape=shape_of(node)), dt


def _flatten(node: Node, ctx: QonnxContext) -> Emitted:
    x, dt = ctx.arg(node)
    return ctx.builder.op("Flatten", [x], name=node.name, axis=1, doc="row-major over channels-last (Keras order)",
                          out_dtype=dt, out_shape=shape_of(node)), dt


def _batchnorm(node: Node, ctx: QonnxContext) -> Emitted:
    b, shape = ctx.builder, shape_of(node)
    s, t = node.op.scale_shift(node.weights, node.output.shape[-1])
    x = double_arg(ctx, node)
    doc = "unfused BatchNorm: x * s + t in float64, the interpreter's own two operations"
    y = b.op("Mul", [x, b.const(s, F64, f"{node.name}_scale")], name=f"{node.name}_mul", doc=doc,
             out_dtype=F64, out_shape=shape)
    return b.op("Add", [y, b.const(t, F64, f"{node.name}_shift")], name=node.name, doc=doc, out_dtype=F64,
                out_shape=shape), F64


#: op kind -> emitter ``(node, ctx) -> (tensor, dtype)``
EMITTERS: dict[str, Emitter] = {
    "Quantize": _quantizer,
    "Signature": _quantizer,
    "Dense": _dense,
    "Conv1D": emit_conv,
    "Conv2D": emit_conv,
    "MaxPool1D": emit_maxpool,
    "MaxPool2D": emit_maxpool,
    "AvgPool1D": emit_avgpool,
    "AvgPool2D": emit_avgpool,
    "Activation": _activation,
    "LUT": _lut,
    "Add": _add,
    "Concatenate": _concatenate,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "BatchNorm": _batchnorm,
}
#: op kind -> why the qonnx target does not emit it
REFUSED: dict[str, str] = {
    "Input": "a graph input becomes an ONNX graph input (float32, batch N), not a node",
    "Submodel": "nested graphs are inlined by flatten_nested before emission",
}


def qonnx_legalization() -> list[Pass]:
    """The qonnx target's legalization: none (every op is emitted exactly, or warns naming its layer)."""
    return []


def _name_result(b: OnnxBuilder, start: int, tensor: str, name: str, dt: np.dtype, shape: tuple) -> None:
    """Make the tensor holding a value's result be called ``name`` (rename it, or an Identity)."""
    new_nodes = b.nodes[start:]
    if not any(tensor in n.output for n in new_nodes):
        node = onnx.helper.make_node("Identity", [tensor], [name], name=b.fresh(f"{name}_node"))
        b.nodes.append(node)
        b.declare(name, dt, shape)
        return
    for n in new_nodes:
        for seq in (n.input, n.output):
            for j, s in enumerate(seq):
                if s == tensor:
                    seq[j] = name
    b.types.pop(tensor, None)
    b.declare(name, dt, shape)


def to_qonnx(graph: Graph, name: str | None = None) -> onnx.ModelProto:
    """The QONNX ModelProto of ``graph`` (after the core pipeline and :func:`qonnx_legalization`).

    Inputs are float32 with a symbolic batch ``N``; every IR value ``v`` is held by a tensor named
    ``v.name``; the model passes ``onnx.checker.check_model(full_check=True)`` and opens in qonnx's
    ModelWrapper. Run it with :func:`execute_qonnx`. Warns :class:`NotBitExactWarning` naming each
    layer that cannot be exact (float functions, float inputs, quantizers wider than 24 bits).
    """
    b = OnnxBuilder(name or graph.name, opset=OPSET, custom_domains={QONNX_DOMAIN: 1})
    ctx = QonnxContext(b, graph, propagate(graph))
    for v in graph.inputs:
        ctx.tensors[v.name] = (b.input(v.name, np.float32, ("N", *v.shape)), F32)
    for v in graph.values:
        if v.name not in ctx.tensors:
            b.fresh(v.name)  # reserved: the tensor holding v's result gets exactly this name
    for node in graph.nodes:
        if node.op.is_source:
            continue
        emit = emitter_of(node, EMITTERS, REFUSED, "the qonnx target")
        start = len(b.nodes)
        with emitting(node, "as QONNX", "emit qonnx"):
            tensor, dt = emit(node, ctx)
        _name_result(b, start, tensor, node.output.name, dt, shape_of(node))
        ctx.tensors[node.output.name] = (node.output.name, np.dtype(dt))
    for v in graph.outputs:
        tensor, dt = ctx.tensors[v.name]
        b.output(tensor, dt, ("N", *v.shape))
    doc = ("hgq-ir qonnx target: run with hgq_ir.backends.qonnx_export.execute_qonnx (qonnx's execute_onnx); "
           "bit-exact with hgq_ir.interpret except where a NotBitExactWarning was raised")
    model = b.model(doc=doc)
    # hls4ml 1.3's ONNX parser reads every node input's shape from value_info, initializers included
    model.graph.value_info.extend(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                                  for t in model.graph.initializer)
    return model
