"""Lift plain Keras layers into the IR; the walker that the HGQ and QKeras frontends extend.

:class:`KerasLifter` walks a model's topology (``keras_graph.read_topology``) and calls one
handler per layer class name. A handler receives a :class:`LiftContext` (where to add nodes,
under which name and origin), the live layer object and the input values, and returns the
output values. The HGQ and QKeras frontends pass extra handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hgq_ir.frontends.keras_graph import LayerCall, read_topology

from hgq_ir.ir.errors import FormatError, GraphError, InexactError, InternalError, UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph, Node, Value, Weight
from hgq_ir.ir.ops import (
    NUMPY_ACTIVATIONS,
    Activation,
    Add,
    AvgPool1D,
    AvgPool2D,
    BatchNorm,
    Concatenate,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool1D,
    MaxPool2D,
    Op,
    Reshape,
    Submodel,
)

MODEL_CLASSES = ("Functional", "Sequential", "Model")
MAX_FORMAT_BITS = 127
"""Largest |integer bits|, |fractional bits| and width a lifted format may have: hls4ml stores them
as int8, and a Keras model computing ``2**f`` in float32 overflows beyond 2**127 anyway."""


@dataclass
class LiftContext:
    """Where a handler adds nodes: ``name`` is the node base name, ``origin`` the layer path."""

    graph: Graph
    name: str
    origin: str
    call: LayerCall
    lifter: KerasLifter
    created: list[Node] = field(default_factory=list)

    def add(self, op: Op, inputs: list[Value], suffix: str = "", weights: dict[str, Weight] | None = None,
            meta: dict | None = None) -> Value:
        """Add a node named ``name + suffix`` and return its output."""
        node = self.graph.add_node(op, inputs, name=self.name + suffix, weights=weights, origin=self.origin)
        node.meta.update(meta or {})
        self.created.append(node)
        return node.output

    def unsupported(self, layer: Any, why: str) -> UnsupportedLayerError:
        """An error naming this layer, its class and the reason."""
        return UnsupportedLayerError(f"layer {self.origin!r} ({type(layer).__name__}): {why}")


Handler = Callable[[LiftContext, Any, list[Value]], list[Value]]


def to_numpy(v: Any) -> np.ndarray:
    """A Keras 3 / tf_keras variable or tensor as a float64 numpy array."""
    if hasattr(v, "numpy"):
        v = v.numpy()
    return np.asarray(v, dtype=np.float64)


def activation_name(fn: Any) -> str | None:
    """Keras name of an activation callable or string, None for a custom callable."""
    if fn is None:
        return "linear"
    if isinstance(fn, str):
        return fn
    name = getattr(fn, "__name__", None)
    return name if name in NUMPY_ACTIVATIONS else None


def numpy_callable(fn: Callable, dtype: str = "float64") -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a Keras/TF unary function as numpy -> numpy, computing in ``dtype`` like the model does."""
    import tensorflow as tf

    def call(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(tf.constant(np.asarray(x, dtype=dtype))), dtype=np.float64)

    call.__name__ = getattr(fn, "__name__", "unary")
    return call


def compute_dtype(layer: Any) -> str:
    """The float dtype a layer computes in (``float32`` unless the model says otherwise)."""
    dtype = getattr(layer, "compute_dtype", None) or "float32"
    return str(getattr(dtype, "name", dtype))


def activation_op(fn: Any, where: str, dtype: str = "float32") -> Activation:
    """The IR activation for a Keras activation (name or callable), computed as the model does.

    ``linear`` and ``relu`` are exact and need no function. Any other activation keeps the
    framework's own function at the layer's compute ``dtype`` (:class:`Activation` says why).
    """
    name = activation_name(fn)
    if name in ("linear", "relu"):
        return Activation(name)
    if isinstance(fn, str):
        import keras

        fn = keras.activations.get(fn)
    if not callable(fn):
        raise UnsupportedLayerError(f"layer {where!r}: activation {fn!r} is neither a name nor a callable")
    return Activation(name or getattr(fn, "__name__", "unary"), numpy_callable(fn, dtype), dtype)


def add_activation(ctx: LiftContext, fn: Any, x: Value, suffix: str = "_act", dtype: str = "float32") -> Value:
    """Append an activation node unless it is linear."""
    op = activation_op(fn, ctx.origin, dtype)
    if op.function == "linear":
        return x
    return ctx.add(op, [x], suffix)


def _axis_without_batch(axis: int, rank: int) -> int:
    return rank + axis if axis < 0 else axis - 1


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


# ---- handlers of plain Keras layers ---------------------------------------------------------
def lift_dense(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Dense(units, activation, use_bias)."""
    w = {"kernel": Weight(to_numpy(layer.kernel))}
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        w["bias"] = Weight(to_numpy(layer.bias))
    y = ctx.add(Dense(), xs, weights=w)
    return [add_activation(ctx, getattr(layer, "activation", None), y, dtype=compute_dtype(layer))]


def conv_op(ctx: LiftContext, layer: Any, rank: int) -> Op:
    """The Conv1D/Conv2D op of a Keras conv layer (channels-last, no dilation, no groups)."""
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ctx.unsupported(layer, "only data_format='channels_last' is supported")
    if any(int(d) != 1 for d in _tuple(cfg.get("dilation_rate", 1), rank)):
        raise ctx.unsupported(layer, "dilation_rate != 1 is not supported")
    if int(cfg.get("groups", 1)) != 1:
        raise ctx.unsupported(layer, "groups != 1 is not supported")
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ctx.unsupported(layer, f"padding={padding!r} is not supported (use 'valid' or 'same')")
    cls = Conv1D if rank == 1 else Conv2D
    return cls(window=_tuple(cfg["kernel_size"], rank), strides=_tuple(cfg.get("strides", 1), rank),
               padding=padding)


def _lift_conv(rank: int) -> Handler:
    def lift(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
        w = {"kernel": Weight(to_numpy(layer.kernel))}
        if getattr(layer, "use_bias", False) and layer.bias is not None:
            w["bias"] = Weight(to_numpy(layer.bias))
        y = ctx.add(conv_op(ctx, layer, rank), xs, weights=w)
        return [add_activation(ctx, getattr(layer, "activation", None), y, dtype=compute_dtype(layer))]

    lift.__doc__ = f"Conv{rank}D(filters, kernel_size, strides, padding, activation)."
    return lift


def pool_op(ctx: LiftContext, layer: Any, cls: type[Op], rank: int) -> Op:
    """A pooling op from a Keras pooling layer's config."""
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise ctx.unsupported(layer, "only data_format='channels_last' is supported")
    pool = _tuple(cfg.get("pool_size", 2), rank)
    strides = cfg.get("strides") or pool
    return cls(window=pool, strides=_tuple(strides, rank), padding=cfg.get("padding", "valid"))


def _lift_pool(cls: type[Op], rank: int) -> Handler:
    def lift(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
        return [ctx.add(pool_op(ctx, layer, cls, rank), xs)]

    lift.__doc__ = f"{cls.kind}(pool_size, strides, padding)."
    return lift


def lift_activation(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Activation(name or callable)."""
    return [ctx.add(activation_op(layer.activation, ctx.origin, compute_dtype(layer)), xs)]


def lift_relu(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """ReLU() without max_value, slope or threshold."""
    cfg = layer.get_config()
    if cfg.get("max_value") is not None or float(cfg.get("negative_slope", 0) or 0) != 0 \
            or float(cfg.get("threshold", 0) or 0) != 0:
        raise ctx.unsupported(layer, "ReLU with max_value, negative_slope or threshold is not supported")
    return [ctx.add(Activation("relu"), xs)]


def lift_batchnorm(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """BatchNormalization on the last axis (inference statistics)."""
    axis = layer.get_config().get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, len(xs[0].shape)):
        raise ctx.unsupported(layer, f"BatchNormalization over axis {axis}; only the last axis is supported")
    w = {}
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        v = getattr(layer, name, None)
        if v is not None:
            w[name] = Weight(to_numpy(v))
    return [ctx.add(BatchNorm(epsilon=float(layer.epsilon)), xs, weights=w)]


def lift_flatten(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Flatten()."""
    return [ctx.add(Flatten(), xs)]


def lift_reshape(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Reshape(target_shape), with one -1 resolved from the input size."""
    target = [int(d) for d in layer.get_config()["target_shape"]]
    size = int(np.prod(xs[0].shape))
    known = int(np.prod([d for d in target if d != -1]))
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target) \
            or (size % known != 0 if -1 in target else known != size):
        raise GraphError(f"node {ctx.name!r} (Reshape): cannot reshape {xs[0].shape} to target_shape {tuple(target)}")
    if -1 in target:
        target[target.index(-1)] = size // known
    return [ctx.add(Reshape(tuple(target)), xs)]


def lift_concatenate(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Concatenate(axis)."""
    axis = _axis_without_batch(int(layer.get_config().get("axis", -1)), len(xs[0].shape))
    return [ctx.add(Concatenate(axis=axis), xs)]


def lift_add(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Add()."""
    return [ctx.add(Add(), xs)]


def lift_identity(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """Dropout and friends: nothing at inference."""
    return list(xs)


def lift_submodel(ctx: LiftContext, layer: Any, xs: list[Value]) -> list[Value]:
    """A nested Model/Sequential: a Submodel node holding its own lifted graph."""
    inner = ctx.lifter.lift(layer, origin=ctx.origin)
    node = ctx.graph.add_node(Submodel(graph=inner), xs, name=ctx.name, origin=ctx.origin)
    return list(node.outputs)


PLAIN_HANDLERS: dict[str, Handler] = {
    "Dense": lift_dense,
    "Conv1D": _lift_conv(1),
    "Conv2D": _lift_conv(2),
    "MaxPooling1D": _lift_pool(MaxPool1D, 1),
    "MaxPooling2D": _lift_pool(MaxPool2D, 2),
    "MaxPool1D": _lift_pool(MaxPool1D, 1),
    "MaxPool2D": _lift_pool(MaxPool2D, 2),
    "AveragePooling1D": _lift_pool(AvgPool1D, 1),
    "AveragePooling2D": _lift_pool(AvgPool2D, 2),
    "AvgPool1D": _lift_pool(AvgPool1D, 1),
    "AvgPool2D": _lift_pool(AvgPool2D, 2),
    "Activation": lift_activation,
    "ReLU": lift_relu,
    "BatchNormalization": lift_batchnorm,
    "Flatten": lift_flatten,
    "Reshape": lift_reshape,
    "Concatenate": lift_concatenate,
    "Add": lift_add,
    "Dropout": lift_identity,
    **{c: lift_submodel for c in MODEL_CLASSES},
}


class KerasLifter:
    """Turns a Functional or Sequential Keras model into a :class:`Graph`, one handler per class."""

    def __init__(self, handlers: dict[str, Handler] | None = None) -> None:
        self.handlers = dict(PLAIN_HANDLERS)
        self.handlers.update(handlers or {})

    def lift(self, model: Any, origin: str = "") -> Graph:
        """The IR of ``model`` (nested models become Submodel nodes)."""
        topo = read_topology(model)
        graph = Graph(model.name)
        env: dict[tuple[str, int, int], Value] = {}
        for call in topo.calls:
            path = f"{origin}/{call.layer_name}" if origin else call.layer_name
            if call.class_name == "InputLayer":
                shape = call.config.get("batch_shape") or call.config.get("batch_input_shape")
                if shape is None:
                    raise UnsupportedLayerError(f"model {model.name!r} has no input shape: start it with "
                                                "keras.Input(shape) (or build it) before converting")
                if any(d is None for d in shape[1:]):
                    raise UnsupportedLayerError(f"input {path!r} has shape {shape}; every axis but the batch "
                                                "axis must be fixed")
                env[(call.layer_name, 0, 0)] = graph.add_input(call.layer_name, shape[1:], origin=path)
                continue
            layer = model.get_layer(call.layer_name)
            handler = self.handlers.get(type(layer).__name__) or self.handlers.get(call.class_name)
            if handler is None:
                raise UnsupportedLayerError(
                    f"layer {path!r} of class {type(layer).__name__} is not supported; supported classes: "
                    f"{', '.join(sorted(self.handlers))}")
            name = graph.unique_name(call.layer_name)
            ctx = LiftContext(graph, name, path, call, self)
            inputs = [_tensor(env, r, f"layer {path!r}") for r in call.inputs]
            try:
                outs = handler(ctx, layer, inputs)
                check_format_ranges(ctx.created)
            except (GraphError, FormatError, InexactError) as e:
                if getattr(e, "layer", None) is not None:  # raised, and named, by a nested model's lift
                    raise
                raise _name_layer(e, path, type(layer).__name__) from e
            for idx, v in enumerate(outs):
                env[(call.layer_name, call.node_index, idx)] = v
        # the model's input order (config "input_layers"), not the order its InputLayers are listed in
        graph.inputs = [_tensor(env, r, f"model {model.name!r} input") for r in topo.inputs] or graph.inputs
        graph.set_outputs([_tensor(env, r, f"model {model.name!r} output") for r in topo.outputs])
        graph.verify()
        return graph


def _tensor(env: dict[tuple[str, int, int], Value], ref: tuple[str, int, int], reader: str) -> Value:
    """The value of tensor ``ref`` = (layer, call, output index); :class:`InternalError` if none was lifted.

    Keras writes the configs it reads (a hand-edited one does not load), so a reference to a call
    or output the lifter did not produce is hgq-ir misreading the config, not the user's to fix.
    """
    try:
        return env[ref]
    except KeyError:
        made = sorted(f"call {c} output #{i}" for (name, c, i) in env if name == ref[0])
        raise InternalError(f"internal error reading the model's topology: {reader} reads output #{ref[2]} of call "
                            f"{ref[1]} of layer {ref[0]!r}, but hgq-ir lifted "
                            f"{', '.join(made) if made else 'no call of it'}", step="lift", node=ref[0]) from None


_HINTS = {
    GraphError: "its weights or config do not fit the shapes of its inputs: the model config is inconsistent "
                "(edited by hand?); rebuild the model and save it again",
    FormatError: "its quantizer bitwidths are out of range (NaN, Inf or huge fractional bits: a diverged training, "
                 "calibration on NaN data or corrupt weights); retrain, bound them with bw_clip, or run "
                 "trace_minmax again on finite data",
}
_HINTS[InexactError] = _HINTS[FormatError]


def _name_layer(e: GraphError | FormatError | InexactError, path: str, cls: str) -> Exception:
    """``e`` again (same type), its message prefixed with the layer and followed by what to do."""
    err = type(e)(f"layer {path!r} ({cls}): {e}; {_HINTS[type(e) if type(e) in _HINTS else GraphError]}")
    err.layer = path
    return err


def check_format_ranges(nodes: list[Node]) -> None:
    """Refuse quantizer and weight formats beyond :data:`MAX_FORMAT_BITS` (:class:`FormatError`).

    Such formats come from NaN, Inf or huge trained bitwidths; no target represents them and
    the Keras model itself computes NaN or Inf with them.
    """
    for node in nodes:
        formats: list[tuple[str, FixedFormat]] = []
        if node.op.quantizer_format is not None:
            formats.append((f"quantizer of node {node.name!r}", node.op.quantizer_format))
        formats += [(f"weight {wname!r} of node {node.name!r}", w.format) for wname, w in node.weights.items()
                     if w.format is not None]
        for what, fmt in formats:
            # Python ints: NaN bitwidths become -2**63, which numpy's abs and sums overflow
            ends = [int(e) for a in (fmt.i, fmt.f) if a.size for e in (a.min(), a.max())]
            if any(abs(e) > MAX_FORMAT_BITS for e in ends) or (fmt.b.size and int(fmt.b.max()) > MAX_FORMAT_BITS):
                raise FormatError(f"{what} has format {fmt.summary()}, beyond the +-{MAX_FORMAT_BITS} integer, "
                                  "fractional and total bits any target represents")
