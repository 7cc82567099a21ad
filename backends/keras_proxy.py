"""Emit a Keras 3 proxy model from the IR: plain layers with quantized weights, plus
``FixedPointQuantizer`` and ``UnaryLUT`` layers, as hls4ml 1.3 reads them.

Every node becomes one Keras layer of the same name. Before emitting, :func:`float32_hazards`
lists the values a float32 proxy cannot compute exactly (more than 24 significant bits) and
:func:`float_nodes` the nodes whose result is not fixed-point at all (an unfused BatchNorm, a
float activation); the emitter warns about each, naming it, instead of drifting silently.

Op kinds map to emitters in :data:`EMITTERS`; kinds the proxy cannot emit are listed with the
reason in :data:`REFUSED` (a test checks that every op kind is in one of them).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from hgq_ir.backends.emission import emitter_of, emitting
from hgq_ir.backends.proxy_layers import FixedPointQuantizer, UnaryLUT, constant_initializer

from hgq_ir.ir.errors import InexactError, NotBitExactWarning, UnsupportedLayerError
from hgq_ir.ir.fixed import FLOAT32_EXACT_BITS, float32_values
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.ops import LUT, Activation

EXACT_ACTIVATIONS = ("linear", "relu")


def float32_hazards(graph: Graph) -> list[str]:
    """Names of nodes whose float32 evaluation may round (they need more than 24 bits)."""
    formats = propagate(graph)
    bad = []
    for node in graph.nodes:
        if node.op.is_source:
            continue
        bits = node.op.exact_bits([formats[v.name] for v in node.inputs], [v.shape for v in node.inputs],
                                  node.weights)
        if bits > FLOAT32_EXACT_BITS:
            bad.append(f"{node.name} ({bits} bits)")
    return bad


def float_nodes(graph: Graph) -> list[str]:
    """Nodes whose output is a float, not a fixed-point value: where exactness ends.

    A plain Keras layer with no quantizer before it, an unfused BatchNorm, a float activation:
    the proxy and hls4ml compute such values with their own float or fixed-point approximations.
    Standard activations are left out (they warn when emitted, saying which approximation).
    """
    return [f"{node.origin or node.name} ({node.op.kind})" for node in graph.nodes
            if not node.op.is_source and node.op.activation is None
            and any(v.format is None for v in node.outputs)]


def tensorflow_conv_hazards(graph: Graph) -> list[str]:
    """2-D convolutions that TensorFlow (2.21, CPU) computes wrongly, as ``origin (why)``.

    Measured here (``tests/backends/test_tensorflow_conv_hazard.py``): with one output position
    along an axis, TensorFlow's Conv2D returns wrong values (uninitialised memory once: -6e31)
    on many geometries, while the IR and hls4ml agree: with 'same' padding where the kernel differs
    from the input's size or the stride exceeds it; with 'valid' padding where the kernel is wider
    than 1 and differs from the input's size or its stride does not divide it (kernel 2, stride 2
    on 3 cells; kernel 3, stride 2 on 3 cells). Only with the other axis at stride 1 and more than
    one output position, but this is not required here. Conv1D was right on the same geometries.
    """
    bad = []
    for node in graph.nodes:
        op = node.op
        if node.op.kind != "Conv2D":
            continue
        spatial = node.inputs[0].shape[:-1]
        for n, k, s in zip(spatial, op.window, op.strides, strict=True):
            if op.padding == "same":
                wrong = -(-n // s) == 1 and (k != n or s > n) and not (k == 1 and s == 1)
            else:
                wrong = (n - k) // s == 0 and k > 1 and (k != n or n % s != 0)
            if wrong:
                bad.append(f"{node.origin or node.name} (kernel {op.window}, strides {op.strides}, {op.padding} on "
                           f"{tuple(spatial)})")
                break
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


def layer_names(graph: Graph) -> dict[str, list[str]]:
    """Node name -> the names of the hls4ml layers it becomes, as :func:`to_keras_proxy` names them.

    Quantizers named like a C++ keyword or an nnet function get the proxy's ``_q`` name; an Add or
    Concatenate of ``n > 2`` inputs becomes ``n - 1`` pairwise layers (the last keeps the node's
    name); a relu absorbed by the kernel layer before it is the layer hls4ml splits off again,
    ``<kernel layer>_relu``.
    """
    taken = {n.name for n in graph.nodes}
    absorbed: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    for node in graph.nodes:
        if node.name in absorbed:
            names[node.name] = [absorbed[node.name]]
        elif node.op.quantizer_format is not None:
            name = hls_safe_name(node.name, taken)
            taken.add(name)
            names[node.name] = [name]
        elif node.op.kind in ("Add", "Concatenate") and len(node.inputs) > 2:
            chain = [free_name(f"{node.name}_{j}", taken) for j in range(1, len(node.inputs) - 1)]
            taken.update(chain)
            names[node.name] = [*chain, node.name]
        else:
            relu = fused_relu(graph, node)
            if relu is not None:
                absorbed[relu.name] = f"{node.name}_relu"
            names[node.name] = [node.name]
    return names


@dataclass
class EmitContext:
    """What emitters share while a proxy is built: the graph, each node's layer names, absorbed nodes."""

    graph: Graph
    names: dict[str, list[str]]
    absorbed: set[str] = field(default_factory=set)
    tensors: dict[str, Any] = field(default_factory=dict)


Emitter = Callable[[Node, list[Any], EmitContext], Any]


def _quantizer(node: Node, args: list[Any], ctx: EmitContext) -> Any:
    fmt = node.op.quantizer_format
    overrides = None
    pf = node.meta.get("parallel_factor")
    target = node.meta.get("overrides_for")
    if pf is not None and target:
        overrides = {"layers": {target: {"parallelization_factor": int(pf)}}}
    layer = FixedPointQuantizer.from_format(fmt, name=ctx.names[node.name][0], overrides=overrides,
                                            rank=len(node.output.shape))
    return layer(args[0])


def fused_relu(graph: Graph, node: Node) -> Node | None:
    """The relu node a kernel op's Keras layer absorbs (its only user), if any.

    One Keras layer fewer per relu layer: hls4ml splits ``activation='relu'`` off again, with the
    same types, and building Keras layers is most of the proxy's construction time.
    """
    if not node.op.has_kernel or node.output in graph.outputs:
        return None
    users = node.output.users
    if len(users) == 1 and users[0].op.activation == "relu":
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


def _kernel_layer(make: Callable[[Node, str | None], keras.layers.Layer]) -> Emitter:
    """An emitter for a kernel op whose layer may absorb the relu after it."""

    def emit(node: Node, args: list[Any], ctx: EmitContext) -> Any:
        relu = fused_relu(ctx.graph, node)
        layer = make(node, "relu" if relu is not None else None)
        out = layer(args[0])
        _serializable_initializers(layer)
        if relu is not None:
            ctx.absorbed.add(relu.name)
            ctx.tensors[relu.output.name] = out
        return out

    return emit


def _dense(node: Node, activation: str | None) -> keras.layers.Layer:
    k = node.weights["kernel"].array
    return keras.layers.Dense(k.shape[1], use_bias="bias" in node.weights, activation=activation, name=node.name,
                              **_initializers(node))


def _conv(node: Node, activation: str | None) -> keras.layers.Layer:
    cls = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[node.op.rank]
    k = node.weights["kernel"].array
    return cls(k.shape[-1], node.op.window, strides=node.op.strides, padding=node.op.padding,
               use_bias="bias" in node.weights, activation=activation, name=node.name, **_initializers(node))


def _layer(make: Callable[[Node], keras.layers.Layer]) -> Emitter:
    """An emitter building one layer ``make(node)`` and calling it on the node's input."""

    def emit(node: Node, args: list[Any], ctx: EmitContext) -> Any:
        return make(node)(args[0])

    return emit


def _pool(cls: Any) -> Emitter:
    return _layer(lambda node: cls(pool_size=node.op.window, strides=node.op.strides, padding=node.op.padding,
                                   name=node.name))


def _activation(node: Node) -> keras.layers.Layer:
    op: Activation = node.op
    if op.custom:
        raise UnsupportedLayerError(f"activation {node.origin!r} ({op.function}) is a custom function; it only "
                                    "converts as a lookup table (raise unary_lut_max_table_size)")
    if op.function not in EXACT_ACTIVATIONS:
        warnings.warn(f"activation {node.origin!r} ({op.function}) is computed by hls4ml's own approximation: "
                      "not bit-exact (a lookup table would be)", NotBitExactWarning, stacklevel=5)
    return keras.layers.Activation(op.function, name=node.name)


def _lut(node: Node) -> keras.layers.Layer:
    op: LUT = node.op
    table = np.asarray(op.table, dtype=np.float64)
    if not float32_values(table):
        raise InexactError(f"activation {node.origin!r} ({op.function}): its lookup table needs "
                           f"{int(op.out_format.b.flat[0])} bits, more than the float32 proxy holds exactly (24); "
                           "narrow the quantizer after it")
    kif_in = tuple(int(a.flat[0]) for a in (op.in_format.k, op.in_format.i, op.in_format.f))
    kif_out = tuple(int(a.flat[0]) for a in (op.out_format.k, op.out_format.i, op.out_format.f))
    return UnaryLUT(kif_in, kif_out, op.table, RND=op.out_format.round, SAT=op.out_format.overflow, name=node.name)


def _concatenate_layer(node: Node, name: str) -> keras.layers.Layer:
    # a negative axis: hls4ml 1.3's bit-exact flow indexes its batch-less per-element formats with
    # the Keras axis as given (a positive axis counts the batch axis and is off by one there)
    return keras.layers.Concatenate(axis=node.op.axis - len(node.output.shape), name=name)


def _pairwise(make: Callable[[Node, str], keras.layers.Layer]) -> Emitter:
    """Three or more inputs as a chain of pairs: hls4ml 1.3's Add and Concatenate take two inputs.

    The chain computes the same exact value (sums and concatenations associate); the last layer
    of the chain carries the node's name.
    """

    def emit(node: Node, args: list[Any], ctx: EmitContext) -> Any:
        acc = args[0]
        for name, t in zip(ctx.names[node.name], args[1:], strict=False):  # one input: no layer
            acc = make(node, name)([acc, t])
        return acc

    return emit


BATCHNORM_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def _batchnorm(node: Node, args: list[Any], ctx: EmitContext) -> Any:
    layer = keras.layers.BatchNormalization(epsilon=node.op.epsilon, name=node.name,
                                            center="beta" in node.weights, scale="gamma" in node.weights)
    out = layer(args[0])
    layer.set_weights([np.asarray(node.weights[n].array, dtype=np.float32) for n in BATCHNORM_WEIGHTS
                       if n in node.weights])
    return out


#: op kind -> emitter ``(node, input tensors, ctx) -> output tensor``
EMITTERS: dict[str, Emitter] = {
    "Quantize": _quantizer,
    "Signature": _quantizer,
    "Dense": _kernel_layer(_dense),
    "Conv1D": _kernel_layer(_conv),
    "Conv2D": _kernel_layer(_conv),
    "MaxPool1D": _pool(keras.layers.MaxPooling1D),
    "MaxPool2D": _pool(keras.layers.MaxPooling2D),
    "AvgPool1D": _pool(keras.layers.AveragePooling1D),
    "AvgPool2D": _pool(keras.layers.AveragePooling2D),
    "Activation": _layer(_activation),
    "LUT": _layer(_lut),
    "Add": _pairwise(lambda n, name: keras.layers.Add(name=name)),
    "Concatenate": _pairwise(_concatenate_layer),
    "Reshape": _layer(lambda n: keras.layers.Reshape(n.op.target, name=n.name)),
    "Flatten": _layer(lambda n: keras.layers.Flatten(name=n.name)),
    "BatchNorm": _batchnorm,
}
#: op kind -> why the proxy does not emit it (sources become ``keras.Input``)
REFUSED: dict[str, str] = {
    "Input": "a graph input becomes keras.Input, not a layer",
    "Submodel": "nested graphs are inlined by flatten_nested before emission",
}


def to_keras_proxy(graph: Graph, name: str | None = None) -> keras.Model:
    """The Keras proxy model of ``graph`` (after the core pipeline and the proxy's legalization).

    Warns :class:`NotBitExactWarning` for every value a float32 proxy cannot compute exactly and
    for every node whose result is a float. Every layer is named after its node, except
    quantizers named like a C++ keyword or an hls4ml ``nnet`` function (e.g. ``tanh``): they get
    a ``_q`` suffix (see :data:`HLS_RESERVED_NAMES`).
    """
    hazards = float32_hazards(graph)
    if hazards:
        warnings.warn("the float32 proxy cannot compute these exactly (> 24 significant bits): "
                      + ", ".join(hazards), NotBitExactWarning, stacklevel=2)
    floats = float_nodes(graph)
    if floats:
        warnings.warn("not bit-exact: these layers compute float values (no quantizer gives them a fixed-point "
                      "format), which the proxy and hls4ml approximate differently: " + ", ".join(floats)
                      + " (quantize their inputs, e.g. with HQuantize, and fuse a BatchNormalization into the "
                      "layer before it)", NotBitExactWarning, stacklevel=2)
    convs = tensorflow_conv_hazards(graph)
    if convs:
        warnings.warn("the Keras proxy (TensorFlow) computes these 2-D convolutions wrongly, one output "
                      "position wide with a kernel or stride that does not fit the input: " + ", ".join(convs)
                      + "; the IR and hls4ml agree with each other (TensorFlow computes the HGQ model's layer "
                      "wrongly too; make the kernel as wide as the input and the stride divide it there, or give "
                      "that axis more than one output position)",
                      NotBitExactWarning, stacklevel=2)
    ctx = EmitContext(graph, layer_names(graph))
    for node in graph.nodes:
        if node.name in ctx.absorbed:
            continue
        if node.op.is_source:
            ctx.tensors[node.output.name] = keras.Input(node.output.shape, name=node.name)
            continue
        emit = emitter_of(node, EMITTERS, REFUSED, "the Keras proxy")
        with emitting(node, "as a Keras layer", "emit proxy"):
            ctx.tensors[node.output.name] = emit(node, [ctx.tensors[v.name] for v in node.inputs], ctx)
    inputs = [ctx.tensors[v.name] for v in graph.inputs]  # the model's order, not the graph's topological one
    outputs = [ctx.tensors[v.name] for v in graph.outputs]
    # Keras maps a functional graph recursively, a few frames a layer: deep models need room
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * len(graph) + 1000))
    try:
        return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name or graph.name)
    finally:
        sys.setrecursionlimit(limit)


def save_proxy(proxy: keras.Model, path: Path) -> None:
    """Save a proxy model as ``.keras`` (the registry's writer renames it into place)."""
    proxy.save(path)
