"""Lift QKeras models (QKeras 0.9 on tf_keras, qkeras-v3 on Keras 3) into the IR, from their configs.

Every handler reads a layer's ``get_config()`` and its weight arrays only, so a live QKeras 0.9
model, a live qkeras-v3 model and a model read from a file (``frontends/model_files.py``, no
qkeras import) go through the same code. Weights are quantized here in numpy float32 exactly as
QKeras does; activation quantizers become :class:`Quantize` nodes with ``clips=True`` (QKeras
clips whatever ``aggressive`` says) whose format comes from the quantizer's config
(``frontends/qkeras_quantizers.py`` gives the exact formula of each), so no calibration is
needed, except for float values read by a quantized layer (``frontends/qkeras_calibration.py``).
What has no exact fixed-point meaning is refused naming the layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hgq_ir.frontends.keras import (
    PLAIN_HANDLERS,
    Handler,
    KerasLifter,
    LiftContext,
    add_activation,
    conv_op,
    pool_op,
)
from hgq_ir.frontends.qkeras_calibration import calibrate, check_no_float_reads, is_live
from hgq_ir.frontends.qkeras_quantizers import (
    QKERAS09,
    QuantizerSpec,
    activation_steps,
    check_supported,
    float32_function,
    parse_quantizer,
    quantize_weight,
)

from hgq_ir.ir.errors import UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph, Value, Weight
from hgq_ir.ir.ops import Activation, AvgPool2D, BatchNorm, Dense, Quantize

QKERAS_CLASSES = ("QDense", "QConv1D", "QConv2D", "QActivation", "QBatchNormalization", "QDenseBatchnorm",
                  "QConv2DBatchnorm", "QAveragePooling2D")


# ---- reading a layer: config and weights, live or from a file ----------------------------------------
def layer_arrays(layer: Any) -> dict[str, np.ndarray]:
    """The layer's weights as float32 arrays keyed by short name (``kernel``, ``gamma``, ...)."""
    arrays = getattr(layer, "arrays", None)
    if isinstance(arrays, dict):  # a layer read from a file
        return arrays
    out = {}
    for v in layer.weights:
        short = str(v.name).split("/")[-1].split(":")[0]
        out[short] = np.asarray(v.numpy(), dtype=np.float32)
    return out


def _quantizer(cfg: dict, key: str) -> QuantizerSpec | str | None:
    return parse_quantizer(cfg.get(key))


def _weight(values: np.ndarray) -> Weight:
    return Weight(values, FixedFormat.of_constants(values))


def add_quantizer(ctx: LiftContext, spec: QuantizerSpec | str | None, x: Value, suffix: str) -> Value:
    """Append what an activation quantizer (or a plain Keras activation name) computes."""
    if spec is None:
        return x
    if isinstance(spec, str):
        return add_activation(ctx, spec, x, suffix)
    check_supported(spec, ctx.origin, weights=False)
    fn, fmt = activation_steps(spec)
    if fn is not None:
        x = ctx.add(Activation(spec.name, float32_function(fn), "float32"), [x], suffix + "_fn")
    return ctx.add(Quantize(fmt, clips=True), [x], suffix)


def _flavor(ctx: LiftContext) -> str:
    return getattr(ctx.lifter, "flavor", QKERAS09)


def _kernel_and_bias(ctx: LiftContext, cfg: dict, kernel: np.ndarray, bias: np.ndarray | None) -> dict[str, Weight]:
    flavor = _flavor(ctx)
    w = {"kernel": _weight(quantize_weight(_quantizer(cfg, "kernel_quantizer"), kernel, ctx.origin, flavor))}
    if bias is not None:
        w["bias"] = _weight(quantize_weight(_quantizer(cfg, "bias_quantizer"), bias, ctx.origin, flavor))
    return w


def _rsqrt(x: np.ndarray, flavor: str) -> np.ndarray:
    """``1/sqrt(x)`` in float32 as QKeras computes it: TF's ``rsqrt`` (0.9) or ``1 / sqrt`` (v3)."""
    if flavor == QKERAS09:
        import tensorflow as tf

        return np.asarray(tf.math.rsqrt(tf.constant(x, dtype=tf.float32)), dtype=np.float32)
    return (np.float32(1.0) / np.sqrt(x.astype(np.float32))).astype(np.float32)


def folded_kernel_bias(cfg: dict, arrays: dict[str, np.ndarray], flavor: str) -> tuple[np.ndarray, np.ndarray]:
    """The float32 kernel and bias a Q*Batchnorm layer folds at inference, before its quantizers."""
    f32 = np.float32
    kernel = arrays["kernel"].astype(f32)
    bias = arrays.get("bias") if cfg.get("use_bias", True) else None
    inv = _rsqrt(arrays["moving_variance"].astype(f32) + f32(cfg.get("epsilon", 1e-3)), flavor)
    if arrays.get("gamma") is not None:
        inv = (inv * arrays["gamma"].astype(f32)).astype(f32)
    centered = -arrays["moving_mean"].astype(f32) if bias is None else bias.astype(f32) - arrays["moving_mean"]
    folded_bias = (inv * centered).astype(f32)
    if arrays.get("beta") is not None:
        folded_bias = (folded_bias + arrays["beta"].astype(f32)).astype(f32)
    return (inv * kernel).astype(f32), folded_bias


# ---- handlers ------------------------------------------------------------------------------------
def _kernel_layer(make_op: Any, batchnorm: bool = False) -> Handler:
    def lift(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
        cfg, arrays = layer.get_config(), layer_arrays(layer)
        if batchnorm:
            kernel, bias = folded_kernel_bias(cfg, arrays, _flavor(ctx))
        else:
            kernel, bias = arrays["kernel"], arrays.get("bias") if cfg.get("use_bias", True) else None
        y = ctx.add(make_op(ctx, layer), xs, weights=_kernel_and_bias(ctx, cfg, kernel, bias))
        return [add_quantizer(ctx, _quantizer(cfg, "activation"), y, "_act")]

    return lift


def lift_qactivation(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """QActivation(quantizer or Keras activation)."""
    spec = _quantizer(layer.get_config(), "activation")
    out = add_quantizer(ctx, spec, xs[0], "")
    return [out]


def lift_qaverage_pooling2d(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """QAveragePooling2D: the average (its ``average_quantizer`` must leave 1/pool_area exact), then activation."""
    cfg = layer.get_config()
    op = pool_op(ctx, layer, AvgPool2D, 2)
    spec = _quantizer(cfg, "average_quantizer")
    if spec is not None:
        area = np.float32(1.0 / float(np.prod(op.window)))
        q = quantize_weight(spec, np.array([area]), ctx.origin, _flavor(ctx))
        if q[0] != area:
            raise UnsupportedLayerError(
                f"layer {ctx.origin!r}: average_quantizer {getattr(spec, 'text', lambda: spec)()} turns 1/pool_area "
                f"= {area} into {q[0]}, a scaled average hgq-ir does not represent; use average_quantizer=None or "
                "one that holds 1/pool_area exactly")
    y = ctx.add(op, xs)
    return [add_quantizer(ctx, _quantizer(cfg, "activation"), y, "_act")]


def lift_qbatchnorm(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """QBatchNormalization at inference: ``x * s + t`` with QKeras' float32 ``s`` and ``t``.

    ``s = gamma / sqrt(variance + epsilon)`` (quantized by qkeras-v3's ``inverse_quantizer``),
    ``t = beta - mean * s``, each parameter through its quantizer. QKeras computes ``x * s + t`` in
    float32, which is the exact value only while both fit 24 significant bits: true when ``s`` is
    a short dyadic (an ``inverse_quantizer``, or variances that are powers of 4 with an epsilon
    below their float32 ulp), not for arbitrary float ``s``.
    """
    cfg, arrays = layer.get_config(), layer_arrays(layer)
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, len(xs[0].shape)):
        raise ctx.unsupported(layer, f"QBatchNormalization over axis {axis}; only the last axis is supported")
    flavor, f32 = _flavor(ctx), np.float32
    n = xs[0].shape[-1]
    params = {}
    for name, key, default in (("gamma", "gamma_quantizer", 1.0), ("beta", "beta_quantizer", 0.0),
                               ("moving_mean", "mean_quantizer", 0.0), ("moving_variance", "variance_quantizer", 1.0)):
        raw = arrays.get(name)
        if raw is None:
            params[name] = np.full(n, default, dtype=f32)
            continue
        params[name] = quantize_weight(_quantizer(cfg, key), raw, ctx.origin, flavor).astype(f32)
    s = (_rsqrt(params["moving_variance"] + f32(cfg.get("epsilon", 1e-3)), flavor) * params["gamma"]).astype(f32)
    if _quantizer(cfg, "inverse_quantizer") is not None:  # qkeras-v3 quantizes the scale itself
        s = quantize_weight(_quantizer(cfg, "inverse_quantizer"), s, ctx.origin, flavor).astype(f32)
    t = (params["beta"] - (params["moving_mean"] * s).astype(f32)).astype(f32)
    w = {"gamma": Weight(s.astype(np.float64)), "beta": Weight(t.astype(np.float64)),
         "moving_mean": Weight(np.zeros(n)), "moving_variance": Weight(np.ones(n))}
    y = ctx.add(BatchNorm(epsilon=0.0), xs, weights=w)
    return [add_quantizer(ctx, _quantizer(cfg, "activation"), y, "_act")]


def _conv(rank: int) -> Any:
    return lambda ctx, layer: conv_op(ctx, layer, rank)


QKERAS_HANDLERS: dict[str, Handler] = {
    "QDense": _kernel_layer(lambda ctx, layer: Dense()),
    "QConv1D": _kernel_layer(_conv(1)),
    "QConv2D": _kernel_layer(_conv(2)),
    "QDenseBatchnorm": _kernel_layer(lambda ctx, layer: Dense(), batchnorm=True),
    "QConv2DBatchnorm": _kernel_layer(_conv(2), batchnorm=True),
    "QActivation": lift_qactivation,
    "QAveragePooling2D": lift_qaverage_pooling2d,
    "QBatchNormalization": lift_qbatchnorm,
}


class QKerasLifter(KerasLifter):
    """Plain Keras and QKeras layers; ``flavor`` is ``'qkeras09'`` (tf_keras) or ``'qkeras3'`` (Keras 3)."""

    def __init__(self, flavor: str = QKERAS09) -> None:
        super().__init__({**PLAIN_HANDLERS, **QKERAS_HANDLERS})
        self.flavor = flavor

    def lift(self, model: Any, origin: str = "", calibration: Any = None) -> Graph:
        """The IR of ``model``; float values read by a Dense/Conv get a format from ``calibration`` or are refused.

        QKeras computes a QDense/QConv reading float values (an unquantized input, a plain tanh) in
        float32: with ``calibration`` (an array, or one per model input) such a value is quantized
        to the smallest format holding all its calibration values (``frontends/qkeras_calibration.py``);
        without it the layer is refused, naming it and how to pass calibration data.
        """
        graph = super().lift(model, origin)
        if not origin:
            if calibration is not None:
                calibrate(graph, model, calibration, live=is_live(model))
            check_no_float_reads(graph, live=is_live(model))
        return graph


def contains_qkeras(model: Any) -> bool:
    """True when ``model`` (or a nested model) has a layer whose class comes from the ``qkeras`` package."""
    for layer in getattr(model, "layers", []):
        if type(layer).__module__.split(".")[0] == "qkeras":
            return True
        if hasattr(layer, "layers") and contains_qkeras(layer):
            return True
    return False
