"""Emit a Keras 3 proxy model from the IR: plain layers with quantized weights, plus
``FixedPointQuantizer`` and ``UnaryLUT`` layers, as hls4ml 1.3 reads them.

Every node becomes one Keras layer of the same name. Before emitting, :func:`float32_hazards`
lists the values a float32 proxy cannot compute exactly (more than 24 significant bits); the
emitter warns about each, naming it, instead of drifting silently.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from hgq_ir.backends.proxy_layers import FixedPointQuantizer, UnaryLUT, constant_initializer

from hgq_ir.ir.errors import GraphError, NotBitExactWarning, UnsupportedLayerError
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.interpret import infer_value_formats
from hgq_ir.ir.ops import (
    LUT,
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
    Input,
    MaxPool1D,
    MaxPool2D,
    Quantize,
    Reshape,
    Signature,
)

FLOAT32_EXACT_BITS = 24
EXACT_ACTIVATIONS = ("linear", "relu")


def float32_hazards(graph: Graph) -> list[str]:
    """Names of nodes whose float32 evaluation may round (they need more than 24 bits)."""
    formats = infer_value_formats(graph)
    bad = []
    for node in graph.nodes:
        if isinstance(node.op, Input):
            continue
        bits = node.op.exact_bits([formats[v.name] for v in node.inputs], [v.shape for v in node.inputs],
                                  node.weights)
        if bits > FLOAT32_EXACT_BITS:
            bad.append(f"{node.name} ({bits} bits)")
    return bad


# hls4ml 1.3 emits each FixedPointQuantizer as a C++ function template ``nnet::<layer name>``; a
# name that nnet's headers also use (``tanh`` is called unqualified inside nnet, ``relu`` is an
# nnet template) or a C++ keyword makes the project fail to compile.
HLS_RESERVED_NAMES = frozenset(
    # C++ keywords a Keras layer name could plausibly take
    "auto bool break case char class const continue default delete do double else enum explicit extern false "
    "float for friend goto if inline int long namespace new operator private protected public register return "
    "short signed sizeof static struct switch template this throw true try typedef typename union unsigned "
    "using virtual void volatile while and or not xor".split()
    # cmath functions called unqualified inside nnet
    + "abs exp exp2 log log2 log10 pow sqrt sin cos tan sinh cosh tanh asin acos atan atan2 floor ceil round "
      "trunc erf fabs fmod min max".split()
    # nnet activation / layer function names
    + "linear relu relu6 relu_max sigmoid softmax softplus softsign elu selu hard_sigmoid hard_tanh leaky_relu "
      "thresholded_relu prelu binary_tanh ternary_tanh dense normalize add subtract multiply average maximum "
      "minimum dot1d concatenate1d concatenate2d concatenate3d transpose unary_lut zeropad1d_cl zeropad2d_cl "
      "pooling1d_cl pooling2d_cl conv_1d_cl conv_2d_cl".split()
)


def hls_safe_name(name: str, taken: set[str] | frozenset[str]) -> str:
    """``name``, or ``name + '_q'`` (made unique against ``taken``) when hls4ml cannot use it."""
    return name if name not in HLS_RESERVED_NAMES else free_name(f"{name}_q", taken)


def free_name(name: str, taken: set[str] | frozenset[str]) -> str:
    """``name``, or ``name`` plus the first number that makes it unique against ``taken``."""
    new, n = name, 1
    while new in taken:
        new, n = f"{name}{n}", n + 1
    return new


def _quantizer(node: Node, taken: set[str] | frozenset[str] = frozenset()) -> keras.layers.Layer:
    fmt = node.op.format
    overrides = None
    pf = node.meta.get("parallel_factor")
    target = node.meta.get("overrides_for")
    if pf is not None and target:
        overrides = {"layers": {target: {"parallelization_factor": int(pf)}}}
    return FixedPointQuantizer.from_format(fmt, name=hls_safe_name(node.name, taken), overrides=overrides,
                                           rank=len(node.output.shape))


def _set_weights(layer: keras.layers.Layer, node: Node, names: tuple[str, ...]) -> None:
    arrays = [np.asarray(node.weights[n].array, dtype=np.float32) for n in names if n in node.weights]
    layer.set_weights(arrays)


def fused_relu(graph: Graph, node: Node) -> Node | None:
    """The relu node a Dense/Conv node's Keras layer absorbs (its only user), if any.

    One Keras layer fewer per relu layer: hls4ml splits ``activation='relu'`` off again, with the
    same types, and building Keras layers is most of the proxy's construction time.
    """
    if not isinstance(node.op, (Dense, Conv1D, Conv2D)) or node.output in graph.outputs:
        return None
    users = node.output.users
    if len(users) == 1 and isinstance(users[0].op, Activation) and users[0].op.function == "relu" \
            and users[0].op.fn is None:
        return users[0]
    return None


def _initializers(node: Node) -> dict[str, Any]:
    """Initializers yielding the node's kernel and bias: no random init + assign per layer."""
    out = {"kernel_initializer": constant_initializer(node.weights["kernel"].array)}
    if "bias" in node.weights:
        out["bias_initializer"] = constant_initializer(node.weights["bias"].array)
    return out


def _serializable_initializers(layer: keras.layers.Layer) -> None:
    # the weights are set; keep the layer's config serializable with the Keras defaults
    layer.kernel_initializer = keras.initializers.get("glorot_uniform")
    layer.bias_initializer = keras.initializers.get("zeros")


def _dense(node: Node, activation: str | None = None) -> keras.layers.Layer:
    k = node.weights["kernel"].array
    return keras.layers.Dense(k.shape[1], use_bias="bias" in node.weights, activation=activation, name=node.name,
                              **_initializers(node))


def _conv(node: Node, activation: str | None = None) -> keras.layers.Layer:
    cls = keras.layers.Conv1D if isinstance(node.op, Conv1D) else keras.layers.Conv2D
    k = node.weights["kernel"].array
    return cls(k.shape[-1], node.op.window, strides=node.op.strides, padding=node.op.padding,
               use_bias="bias" in node.weights, activation=activation, name=node.name, **_initializers(node))


def _pool(cls: Any) -> Callable[[Node], keras.layers.Layer]:
    return lambda node: cls(pool_size=node.op.window, strides=node.op.strides, padding=node.op.padding,
                            name=node.name)


def _activation(node: Node) -> keras.layers.Layer:
    op: Activation = node.op
    if op.fn is not None and op.function not in ("tanh", "sigmoid", "softmax"):
        raise UnsupportedLayerError(f"activation {node.origin!r} ({op.function}) is a custom function; it only "
                                    "converts as a lookup table (raise unary_lut_max_table_size)")
    if op.function not in EXACT_ACTIVATIONS:
        warnings.warn(f"activation {node.origin!r} ({op.function}) is computed by hls4ml's own approximation: "
                      "not bit-exact (a lookup table would be)", NotBitExactWarning, stacklevel=3)
    return keras.layers.Activation(op.function, name=node.name)


def _lut(node: Node) -> keras.layers.Layer:
    op: LUT = node.op
    kif_in = tuple(int(a.flat[0]) for a in (op.in_format.k, op.in_format.i, op.in_format.f))
    kif_out = tuple(int(a.flat[0]) for a in (op.out_format.k, op.out_format.i, op.out_format.f))
    return UnaryLUT(kif_in, kif_out, op.table, RND=op.out_format.round, SAT=op.out_format.overflow, name=node.name)


def _concatenate(node: Node, name: str | None = None) -> keras.layers.Layer:
    # a negative axis: hls4ml 1.3's bit-exact flow indexes its batch-less per-element formats with
    # the Keras axis as given (a positive axis counts the batch axis and is off by one there)
    return keras.layers.Concatenate(axis=node.op.axis - len(node.output.shape), name=name or node.name)


def _concatenate_chain(node: Node, args: list[Any], taken: set[str]) -> Any:
    """Concatenate three or more tensors as a chain of pairs: hls4ml's Concatenate takes two inputs."""
    acc = args[0]
    for j, t in enumerate(args[1:], start=1):
        last = j == len(args) - 1
        name = node.name if last else free_name(f"{node.name}_{j}", taken)
        taken.add(name)
        acc = _concatenate(node, name)([acc, t])
    return acc


def _batchnorm(node: Node) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(epsilon=node.op.epsilon, name=node.name,
                                           center="beta" in node.weights, scale="gamma" in node.weights)


EMITTERS: dict[type, Callable[[Node], keras.layers.Layer]] = {
    Quantize: _quantizer,
    Signature: _quantizer,
    Dense: _dense,
    Conv1D: _conv,
    Conv2D: _conv,
    MaxPool1D: _pool(keras.layers.MaxPooling1D),
    MaxPool2D: _pool(keras.layers.MaxPooling2D),
    AvgPool1D: _pool(keras.layers.AveragePooling1D),
    AvgPool2D: _pool(keras.layers.AveragePooling2D),
    Activation: _activation,
    LUT: _lut,
    Add: lambda n: keras.layers.Add(name=n.name),
    Concatenate: _concatenate,
    Reshape: lambda n: keras.layers.Reshape(n.op.target, name=n.name),
    Flatten: lambda n: keras.layers.Flatten(name=n.name),
    BatchNorm: _batchnorm,
}
WEIGHTS = {BatchNorm: ("gamma", "beta", "moving_mean", "moving_variance")}
INITIALIZED = (Dense, Conv1D, Conv2D)


def to_keras_proxy(graph: Graph, name: str | None = None) -> keras.Model:
    """The Keras proxy model of ``graph`` (after the pass pipeline).

    Warns :class:`NotBitExactWarning` for every value a float32 proxy cannot compute exactly.
    Every layer is named after its node, except quantizers named like a C++ keyword or an hls4ml
    ``nnet`` function (e.g. ``tanh``): they get a ``_q`` suffix (see :data:`HLS_RESERVED_NAMES`).
    """
    hazards = float32_hazards(graph)
    if hazards:
        warnings.warn("the float32 proxy cannot compute these exactly (> 24 significant bits): "
                      + ", ".join(hazards), NotBitExactWarning, stacklevel=2)
    tensors: dict[str, Any] = {}
    inputs = []
    taken = {n.name for n in graph.nodes}
    absorbed: set[str] = set()
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        if isinstance(node.op, Input):
            t = keras.Input(node.output.shape, name=node.name)
            inputs.append(t)
            tensors[node.output.name] = t
            continue
        emit = EMITTERS.get(type(node.op))
        if emit is None:
            raise GraphError(f"node {node.name!r}: the Keras proxy has no layer for {node.op.kind} "
                             "(run the default pipeline first: it inlines Submodels)")
        if isinstance(node.op, Concatenate) and len(node.inputs) > 2:
            tensors[node.output.name] = _concatenate_chain(node, [tensors[v.name] for v in node.inputs], taken)
            continue
        relu = fused_relu(graph, node)
        if relu is not None:
            layer = emit(node, activation="relu")
            absorbed.add(relu.name)
        else:
            layer = _quantizer(node, taken) if emit is _quantizer else emit(node)
        taken.add(layer.name)
        args = [tensors[v.name] for v in node.inputs]
        out = layer(args if isinstance(node.op, (Add, Concatenate)) else args[0])
        if type(node.op) in WEIGHTS:
            _set_weights(layer, node, WEIGHTS[type(node.op)])
        elif isinstance(node.op, INITIALIZED):
            _serializable_initializers(layer)
        tensors[node.output.name] = out
        if relu is not None:
            tensors[relu.output.name] = out
    outputs = [tensors[v.name] for v in graph.outputs]
    # Keras maps a functional graph recursively, a few frames a layer: deep models need room
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * len(graph) + 1000))
    try:
        return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name or graph.name)
    finally:
        sys.setrecursionlimit(limit)
