"""Lift models built from hgq_ir's HGQ layers (and plain Keras layers) into the IR.

Reads, per layer and without running the model: the fused quantized kernel and bias, the
kernel's per-weight formats, and the output quantizer's format from the trained fractional bits
and the ranges recorded by ``trace_minmax`` (contract in ``hgq_ir.training.layers``). Each H-layer
becomes ``op -> [relu] -> Quantize``; rounding and relu commute, so quantizing after the relu
with the post-relu format computes what the layer computes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hgq_ir.frontends.keras import (
    PLAIN_HANDLERS,
    Handler,
    KerasLifter,
    LiftContext,
    activation_name,
    activation_op,
    compute_dtype,
    conv_op,
)

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Value, Weight
from hgq_ir.ir.ops import Activation, Add, Dense, Quantize, Signature
from hgq_ir.training.quantizer import kif_of_values


def output_format(layer: Any) -> FixedFormat:
    """The format of an H-layer's output quantizer, batch axis dropped."""
    k, i, f = (np.asarray(a)[0] if np.ndim(a) > 0 else np.asarray(a) for a in layer.output_kif())
    return FixedFormat(k, i, f, layer.paq.inference_round, "WRAP")


def _quantize(ctx: LiftContext, layer: Any, x: Value, suffix: str = "", meta: dict | None = None) -> Value:
    return ctx.add(Quantize(output_format(layer)), [x], suffix, meta=meta)


def _kernel_weights(layer: Any) -> dict[str, Weight]:
    qkernel = layer.fused_qkernel
    kernel = np.asarray(qkernel, dtype=np.float64)
    k, i, f = kif_of_values(qkernel)  # what layer.kernel_kif() computes, without re-reading the weights
    w = {"kernel": Weight(kernel, FixedFormat(k, i, f))}
    qbias = layer.fused_qbias
    if qbias is not None:
        bias = np.asarray(qbias, dtype=np.float64)
        w["bias"] = Weight(bias, FixedFormat.of_constants(bias))
    return w


def _kernel_layer(make_op: Any) -> Handler:
    def lift(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
        y = ctx.add(make_op(ctx, layer), xs, "_op", weights=_kernel_weights(layer),
                    meta={"parallel_factor": int(layer.parallel_factor or 1)})
        if layer.activation_name == "relu":
            y = ctx.add(Activation("relu"), [y], "_relu")
        meta = {"parallel_factor": int(layer.parallel_factor or 1), "overrides_for": ctx.name + "_op"}
        return [_quantize(ctx, layer, y, meta=meta)]

    return lift


def _conv_rank(rank: int) -> Any:
    return lambda ctx, layer: conv_op(ctx, layer, rank)


def lift_hquantize(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """HQuantize: one heterogeneous quantizer."""
    return [_quantize(ctx, layer, xs[0])]


def lift_hactivation(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """HActivation: the activation, then the output quantizer."""
    op = activation_op(layer.activation, ctx.origin, compute_dtype(layer))
    if activation_name(layer.activation) is None:
        op = Activation(layer.activation_name, op.fn, op.dtype)
    y = ctx.add(op, xs, "_act")
    return [_quantize(ctx, layer, y)]


def lift_hadd(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """HAdd: the sum, then the output quantizer."""
    y = ctx.add(Add(), xs, "_add")
    return [_quantize(ctx, layer, y)]


def lift_signature(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Signature: the input is already quantized to the layer's format (TRN, SAT)."""
    return [ctx.add(Signature(layer.format), xs)]


HGQ_HANDLERS: dict[str, Handler] = {
    "HQuantize": lift_hquantize,
    "HDense": _kernel_layer(lambda ctx, layer: Dense()),
    "HDenseBatchNorm": _kernel_layer(lambda ctx, layer: Dense()),
    "HConv1D": _kernel_layer(_conv_rank(1)),
    "HConv2D": _kernel_layer(_conv_rank(2)),
    "HConv1DBatchNorm": _kernel_layer(_conv_rank(1)),
    "HConv2DBatchNorm": _kernel_layer(_conv_rank(2)),
    "HActivation": lift_hactivation,
    "HAdd": lift_hadd,
    "Signature": lift_signature,
    "PReshape": PLAIN_HANDLERS["Reshape"],
    "PFlatten": PLAIN_HANDLERS["Flatten"],
    "PConcatenate": PLAIN_HANDLERS["Concatenate"],
    "PMaxPooling1D": PLAIN_HANDLERS["MaxPooling1D"],
    "PMaxPooling2D": PLAIN_HANDLERS["MaxPooling2D"],
    "PAveragePooling1D": PLAIN_HANDLERS["AveragePooling1D"],
    "PAveragePooling2D": PLAIN_HANDLERS["AveragePooling2D"],
    "PMaxPool1D": PLAIN_HANDLERS["MaxPooling1D"],
    "PMaxPool2D": PLAIN_HANDLERS["MaxPooling2D"],
    "PAvgPool1D": PLAIN_HANDLERS["AveragePooling1D"],
    "PAvgPool2D": PLAIN_HANDLERS["AveragePooling2D"],
}


def hgq_lifter() -> KerasLifter:
    """A lifter knowing plain Keras and hgq_ir's HGQ layers."""
    return KerasLifter(HGQ_HANDLERS)
