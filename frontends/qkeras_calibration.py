"""Fixed-point formats for the float values a QKeras model feeds its quantized layers, from calibration data.

A QDense/QConv reading float values (a model input with no QActivation after it, or a plain
``Activation('tanh')`` with no quantizer) computes in float32 in QKeras: no format follows from
the model. Given calibration data ``X`` (``hgq_ir.convert(model, calibration=X)``, ``--calib
X.npy``), each such float value gets a :class:`Quantize` node whose format is the smallest one
holding *every* calibration value of it exactly:

- **homogeneous**, one format for the whole tensor: ``f`` is the largest number of fractional bits
  any calibration value needs (never below 0: integer data keeps the unit grid even if the sample
  happens to hold only even values), ``k``/``i`` cover ``[min, max]`` of all of them. Per-element formats
  would overfit the sample: an element that only ever saw 0 would become 0 bits wide;
- **RND, SAT** (pinned: ``aggressive`` does not turn it into WRAP): a value beyond the calibrated
  format saturates to its nearest end (``[0, 255]`` for 8-bit ADC counts seen up to 250), a value
  off the grid ``2**-f`` rounds to the nearest grid point (ties up). On such values the firmware
  computes what QKeras computes on the saturated, rounded value, not on the raw one; on the values
  of the calibrated grid and range the two agree bit for bit.

Where the value is found: from the kernel layer's input, back through Flatten, Reshape and max
pooling (they only move or select values) to the *float source*: a model input (then ``X`` is the
value) or a layer's output (then the live model's own outputs of that layer on ``X``, from a
sub-model; a file read without qkeras cannot run, so there only model inputs are calibrated).

Calibration values that need more than :data:`MAX_FRACTION_BITS` fractional bits (float data off a
coarse dyadic grid, such as a float32 tanh output) are refused naming the layer: quantize them
first with ``QActivation(quantized_bits(...))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hgq_ir.ir.errors import ConfigError, InexactError, UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat, exact_fraction_bits
from hgq_ir.ir.graph import Graph, Node, Value
from hgq_ir.ir.ops import Flatten, MaxPool1D, MaxPool2D, Quantize, Reshape

MAX_FRACTION_BITS = 24
"""Most fractional bits a calibrated format may have: a float32 input holds 24 significant bits."""
TRANSPARENT = (Flatten, Reshape, MaxPool1D, MaxPool2D)
"""Ops whose outputs are some of their input's values: a float source is searched for through them."""
HOW_TO_CALIBRATE = ("pass calibration data, from which hgq-ir takes the smallest fixed-point format holding every "
                    "value exactly: hgq_ir.convert(model, calibration=X) (also to_proxy_model and lift) or "
                    "`hgq-ir COMMAND MODEL --calib X.npy`")
QUANTIZE_FIRST = "quantize it first with QActivation(quantized_bits(...)), e.g. 'quantized_bits(8, 3, alpha=1)'"


def float_source(x: Value) -> Value:
    """The value ``x`` comes from through :data:`TRANSPARENT` ops that read float values."""
    while x.producer is not None and isinstance(x.producer.op, TRANSPARENT) and x.producer.inputs[0].format is None:
        x = x.producer.inputs[0]
    return x


def is_model_input(v: Value) -> bool:
    """True for the value of an ``Input`` node."""
    return v.producer is None or v.producer.op.is_source


def describe(v: Value) -> str:
    """``the model input 'x'`` or ``layer 'act' (Activation)``, for messages."""
    if is_model_input(v):
        return f"the model input {v.name!r}"
    return f"layer {v.producer.origin!r} ({v.producer.op.kind})"


def float_reads(graph: Graph) -> list[tuple[Node, Value]]:
    """``(kernel node, float source)`` for every Dense/Conv whose input is a float value, in graph order."""
    return [(node, float_source(node.inputs[0])) for node in graph.nodes
            if node.op.has_kernel and node.inputs[0].format is None]


def float_read_error(node: Node, source: Value, live: bool) -> UnsupportedLayerError:
    """The refusal of a kernel layer reading float values, naming it and how to give them a format."""
    head = (f"layer {node.origin!r} reads float values from {describe(source)}: QKeras computes it in float32, so "
            "no fixed-point format follows from the model")
    if live or is_model_input(source):
        fix = f"{HOW_TO_CALIBRATE}; or {QUANTIZE_FIRST} before the layer"
    else:
        fix = (f"calibration data gives a format only to the model inputs of a file read without qkeras, and "
               f"{source.producer.origin!r} is a layer: convert the live QKeras model with calibration=X, or "
               f"{QUANTIZE_FIRST} after {source.producer.origin!r}")
    err = UnsupportedLayerError(f"{head}. To fix it, {fix}")
    err.layer = node.origin
    return err


def calibration_arrays(calibration: Any, graph: Graph) -> list[np.ndarray]:
    """The calibration data as one float64 array per model input, checked (:class:`ConfigError`).

    ``calibration`` is an array of shape ``(N, *input_shape)`` for a single-input model, or a list
    of such arrays in the model's input order.
    """
    arrays = list(calibration) if isinstance(calibration, (list, tuple)) else [calibration]
    if len(arrays) != len(graph.inputs):
        raise ConfigError(f"calibration: the model has {len(graph.inputs)} inputs "
                          f"({', '.join(repr(v.name) for v in graph.inputs)}) but {len(arrays)} arrays were given; "
                          "pass one array of shape (N, *input_shape) per input, in the model's input order")
    out = []
    for v, a in zip(graph.inputs, arrays, strict=True):
        a = np.asarray(a)
        if a.dtype.kind not in "fiub":
            raise ConfigError(f"calibration for input {v.name!r} holds {a.dtype} values, not numbers")
        if a.ndim < 1 or a.shape[1:] != tuple(v.shape) or len(a) == 0:
            raise ConfigError(f"calibration for input {v.name!r} has shape {a.shape}; expected (N, "
                              f"{', '.join(map(str, v.shape))}) with N >= 1")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ConfigError(f"calibration for input {v.name!r} holds NaN or Inf values; remove them")
        out.append(a)
    return out


def calibrated_format(values: np.ndarray, node: Node, source: Value) -> FixedFormat:
    """The smallest homogeneous RND/SAT format holding every value exactly, or a typed refusal."""
    f = exact_fraction_bits(values, max_f=1100)
    need = int(f.max())
    if need > MAX_FRACTION_BITS:
        worst = values.flat[int(np.argmax(f))]
        err = InexactError(
            f"layer {node.origin!r} reads float values from {describe(source)}, and its calibration values are "
            f"not on a dyadic grid of <= {MAX_FRACTION_BITS} fractional bits (e.g. {float(worst)!r} needs {need}): no "
            f"exact fixed-point format of a sane width holds them; {QUANTIZE_FIRST} before the layer")
        err.layer = node.origin
        raise err
    lo, hi = float(values.min()), float(values.max())
    if lo == hi == 0.0:
        raise ConfigError(f"layer {node.origin!r}: every calibration value of {describe(source)} is 0, so no "
                          "format can be inferred from it; pass representative calibration data")
    return FixedFormat.from_range(lo, hi, max(need, 0), round="RND", overflow="SAT")


def source_values(model: Any, graph: Graph, sources: list[Value], xs: list[np.ndarray]) -> list[np.ndarray]:
    """What each source value is on the calibration data: ``xs`` for inputs, sub-model outputs for layers."""
    out: dict[int, np.ndarray] = {}
    layers = [v for v in sources if not is_model_input(v)]
    for v in sources:
        if is_model_input(v):
            out[id(v)] = xs[graph.inputs.index(v)]
    if layers:
        for v, y in zip(layers, _layer_outputs(model, [v.producer.origin for v in layers], xs), strict=True):
            out[id(v)] = y
    return [out[id(v)] for v in sources]


def _layer_outputs(model: Any, names: list[str], xs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of the named top-level layers of a live model on ``xs``, computed by the model itself."""
    from hgq_ir.frontends.registry import keras_family

    keras = __import__("tf_keras" if keras_family(model) == "tf_keras" else "keras")
    tensors = []
    for name in names:
        try:
            tensors.append(model.get_layer(name).output)
        except (AttributeError, ValueError, RuntimeError) as e:  # a layer called more than once has no one output
            raise UnsupportedLayerError(f"layer {name!r}: its output cannot be computed alone for calibration "
                                        f"({e}); {QUANTIZE_FIRST} after it") from e
    sub = keras.Model(model.inputs, tensors)
    ys = sub.predict([x.astype(np.float32) for x in xs] if len(xs) > 1 else xs[0].astype(np.float32),
                     batch_size=1024, verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    return [np.asarray(y, dtype=np.float64) for y in ys]


def calibrate(graph: Graph, model: Any, calibration: Any, live: bool) -> None:
    """Quantize, with a calibrated format, every float value that a Dense/Conv of ``graph`` reads.

    ``model`` is the model ``graph`` was lifted from; ``live`` says whether it can run (a file read
    without qkeras cannot: its float layer outputs are refused). Formats: see the module docstring.
    """
    xs = calibration_arrays(calibration, graph)
    reads = float_reads(graph)
    if not reads:
        return
    first_reader: dict[int, Node] = {}
    sources: list[Value] = []
    for node, src in reads:
        if id(src) not in first_reader:
            if not live and not is_model_input(src):
                raise float_read_error(node, src, live)
            first_reader[id(src)] = node
            sources.append(src)
    for src, values in zip(sources, source_values(model, graph, sources, xs), strict=True):
        fmt = calibrated_format(values, first_reader[id(src)], src)
        _insert_quantize(graph, src, fmt)
    graph.refresh_formats()


def _insert_quantize(graph: Graph, src: Value, fmt: FixedFormat) -> None:
    """Make every reader of ``src`` read ``Quantize(fmt)(src)`` instead (graph outputs keep ``src``)."""
    origin = src.name if is_model_input(src) else src.producer.origin
    q = graph.add_node(Quantize(fmt, clips=True), [src], name=f"{src.name}_calib", origin=origin)
    q.meta["calibrated"] = True
    for user in [u for u in dict.fromkeys(src.users) if u is not q]:
        for idx, v in enumerate(user.inputs):
            if v is src:
                graph.set_input(user, idx, q.output)


def check_no_float_reads(graph: Graph, live: bool) -> None:
    """Refuse the first Dense/Conv that reads float values (:func:`float_read_error`)."""
    for node, src in float_reads(graph):
        raise float_read_error(node, src, live)


def is_live(model: Any) -> bool:
    """False for a model read from a file without its framework (``frontends/model_files.py``)."""
    from hgq_ir.frontends.model_files import FileModel

    return not isinstance(model, FileModel)

