"""hls4ml 1.3's ONNX frontend on the ``qonnx`` target's models: the rewrites it needs, the conversion.

hls4ml reads QONNX only after qonnx's own cleanup (shapes, channels-last Conv/Pool, no Gemm), and
only ``Quant`` nodes with a scalar power-of-2 scale, zero point 0 and ROUND or FLOOR rounding (see
``../shared/QONNX_FACTS.md`` section 3). :func:`prepare_for_hls4ml` turns a ``qonnx`` target model
into that form wherever this keeps every value:

1. ``Cast`` between float32 and float64 (the target's exact widenings): bypassed; hls4ml has no
   float dtypes, it types every tensor with ap_fixed.
2. float64 initializers and tensor types become float32 (:class:`InexactError` naming the
   initializer when a value is not a float32).
3. ``Quant`` on a constant (a weight or bias) with a tensor of power-of-2 scales (per-element
   weight formats, as HGQ gives them; hls4ml crashes on them): one scalar scale, the finest, and
   a bit width covering every value. The values already lie on that grid, so the Quant still returns them unchanged.
4. A plain constant added to, subtracted from or multiplied with the datapath (the half step of a
   RND quantizer, ``Add(x, 2^-(f+1))`` before a FLOOR Quant): wrapped in a FLOOR ``Quant`` of its
   exact format, so that hls4ml types it exactly (otherwise its default ``fixed<16,6>``).
5. qonnx's ``cleanup_model``, ``ConvertToChannelsLastAndClean`` (the target's Transposes around
   Conv/MaxPool disappear), ``GemmToMatMul``, ``cleanup_model``.
6. ``Transpose -> AveragePool -> Transpose`` (to channels-first and back; qonnx has no
   channels-last AveragePool, hls4ml wants one): one AveragePool in the
   ``qonnx.custom_op.channels_last`` domain reading and writing channels-last tensors.

:func:`input_precision` chooses the input layer's type so that hls4ml's conversion of the float64
input loses nothing the first quantizer would keep, and :func:`qonnx_to_hls4ml` does everything and
returns the (uncompiled) hls4ml model.

What hls4ml 1.3 cannot read (each recorded with its exact error in
``tests/backends/test_qonnx_hls4ml.py``): heterogeneous activation quantizers (HGQ's default:
per-element Max/Min bounds and a scale tensor on a datapath Quant; IndexError in hls4ml's
precision inference), WRAP (``aggressive=True``: a floor-modulo) and lookup tables (the index's
Floor; "Unsupported operation type: Floor"), 1-D pooling (hls4ml's handler sets no padding), and,
per ``QONNX_FACTS.md``, rounding other than ROUND/FLOOR (RND_INF, RND_ZERO, TRN_ZERO, RND_MIN_INF:
NotImplementedError), SAT_ZERO (Where) and float64 im2col convolutions (Gather). Use the proxy
route (``hgq_ir.to_hls4ml``) for those.
"""

from __future__ import annotations

import copy
import os
import warnings
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from hgq_ir.ir.errors import InexactError, NotBitExactWarning

__all__ = ["input_precision", "pool_precisions", "prepare_for_hls4ml", "qonnx_to_hls4ml"]

#: standard ops whose constant operand hls4ml types with the Quant wrapped around it (rule 4)
ARITHMETIC = ("Add", "Sub", "Mul")
#: qonnx Quant rounding mode -> the ap_fixed rounding mode hls4ml gives it
HLS_ROUNDING = {"FLOOR": "TRN", "ROUND": "RND_CONV"}


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _set_attr(node: onnx.NodeProto, name: str, value: Any) -> None:
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(onnx.helper.make_attribute(name, value))


def _fresh(graph: onnx.GraphProto, base: str) -> str:
    taken = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output} | {
        v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    name, j = base, 0
    while name in taken:
        j += 1
        name = f"{base}_{j}"
    return name


def _scalar(graph: onnx.GraphProto, value: float, base: str) -> str:
    name = _fresh(graph, base)
    graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
    return name


def _cover(values: np.ndarray, scale: float) -> tuple[float, bool]:
    """Bit width and signedness of one Quant of ``scale`` holding every value of ``values`` (on its grid)."""
    codes = values / scale
    signed = bool(np.any(codes < 0))
    bits = 1
    while True:
        lo, hi = (-2.0 ** (bits - 1), 2.0 ** (bits - 1) - 1) if signed else (0.0, 2.0 ** bits - 1)
        if codes.min(initial=0) >= lo and codes.max(initial=0) <= hi and (bits > 1 or not signed):
            return float(bits), signed
        bits += 1


def _is_po2(a: np.ndarray) -> bool:
    m, _ = np.frexp(np.asarray(a, dtype=np.float64))
    return bool(np.all(m == 0.5))


def _drop_casts(graph: onnx.GraphProto) -> None:
    """Rule 1: every float Cast is bypassed (its consumers read its input)."""
    outputs = {v.name for v in graph.output}
    for node in [n for n in graph.node if n.op_type == "Cast"]:
        if _attr(node, "to") not in (TensorProto.FLOAT, TensorProto.DOUBLE) or node.output[0] in outputs:
            continue
        src, dst = node.input[0], node.output[0]
        for other in graph.node:
            for j, name in enumerate(other.input):
                if name == dst:
                    other.input[j] = src
        graph.node.remove(node)


def _to_float32(graph: onnx.GraphProto) -> None:
    """Rule 2: float64 initializers and value types become float32 (exact, else InexactError)."""
    for j, t in enumerate(graph.initializer):
        if t.data_type != TensorProto.DOUBLE:
            continue
        a = numpy_helper.to_array(t)
        f = a.astype(np.float32)
        if not np.array_equal(f.astype(np.float64), a):
            raise InexactError(f"initializer {t.name!r} holds float64 values that are not float32; hls4ml's ONNX "
                               "frontend would round them. Narrow the layer's format (hls4ml: use the proxy route)")
        graph.initializer[j].CopyFrom(numpy_helper.from_array(f, t.name))
    for v in [*graph.input, *graph.output, *graph.value_info]:
        if v.type.tensor_type.elem_type == TensorProto.DOUBLE:
            v.type.tensor_type.elem_type = TensorProto.FLOAT


def _scalar_constant_scales(graph: onnx.GraphProto) -> None:
    """Rule 3: a Quant on a constant with PO2 tensor scales gets the finest scalar scale, covering bits."""
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type not in ("Quant", "IntQuant") or node.input[0] not in inits or node.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        if scale.ndim == 0 or not _is_po2(scale):
            continue
        values = numpy_helper.to_array(inits[node.input[0]]).astype(np.float64)
        finest = float(scale.min())
        if not np.array_equal(np.floor(values / finest), values / finest):
            continue  # the Quant moves some value: not a format annotation, leave it to hls4ml
        bits, signed = _cover(values, finest)
        node.input[1] = _scalar(graph, finest, f"{node.name}_scale")
        node.input[3] = _scalar(graph, bits, f"{node.name}_bitwidth")
        _set_attr(node, "signed", int(signed))
        _set_attr(node, "narrow", 0)


def _quantize_constant_operands(graph: onnx.GraphProto) -> None:
    """Rule 4: a plain dyadic constant operand of Add/Sub/Mul becomes Quant(constant) of its exact format."""
    inits = {t.name: t for t in graph.initializer}
    zero = None
    for node in list(graph.node):
        if node.op_type not in ARITHMETIC:
            continue
        for j, name in enumerate(node.input):
            if name not in inits:
                continue
            values = numpy_helper.to_array(inits[name]).astype(np.float64)
            nonzero = np.abs(values[values != 0])
            if not np.all(np.isfinite(values)):
                continue
            f = int(max(0, -np.floor(np.log2(nonzero.min())))) if nonzero.size else 0
            while f < 64 and not np.array_equal(np.floor(values * 2.0 ** f), values * 2.0 ** f):
                f += 1
            if f >= 64:
                continue
            bits, signed = _cover(values, 2.0 ** -f)
            if bits > 24:
                continue  # a Quant returns float32
            zero = zero or _scalar(graph, 0.0, "zeropt_hls4ml")
            out = _fresh(graph, f"{name}_quant")
            quant = onnx.helper.make_node(
                "Quant", [name, _scalar(graph, 2.0 ** -f, f"{name}_scale"), zero, _scalar(graph, bits, f"{name}_bits")],
                [out], name=_fresh(graph, f"{name}_quant_node"), domain="qonnx.custom_op.general",
                signed=int(signed), narrow=0, rounding_mode="FLOOR")
            graph.node.insert(list(graph.node).index(node), quant)
            node.input[j] = out


def prepare_for_hls4ml(model: onnx.ModelProto | str | os.PathLike) -> Any:
    """The ``qonnx`` target model ``model`` (a ModelProto or a path) as hls4ml 1.3's ONNX frontend reads it.

    Applies the module's rules 1-5 on a copy and returns a qonnx ``ModelWrapper`` ready for
    ``hls4ml.converters.convert_from_onnx_model``. Every rewrite keeps the values the graph
    computes (qonnx's executor gives the same outputs before and after).
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    proto = onnx.load(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else copy.deepcopy(model)
    g = proto.graph
    _drop_casts(g)
    _to_float32(g)
    _scalar_constant_scales(g)
    _quantize_constant_operands(g)
    mw = cleanup_model(ModelWrapper(proto))
    mw = mw.transform(ConvertToChannelsLastAndClean(make_input_channels_last=False))
    mw = mw.transform(GemmToMatMul())
    mw = cleanup_model(mw)
    _channels_last_average_pools(mw.model.graph)
    return mw


def _channels_last_average_pools(graph: onnx.GraphProto) -> None:
    """Rule 6: Transpose(to NC...) -> AveragePool -> Transpose(to N...C) becomes one channels-last AveragePool."""
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for t in n.input:
            uses[t] = uses.get(t, 0) + 1
    outputs = {v.name for v in graph.output}
    for pool in [n for n in graph.node if n.op_type == "AveragePool" and n.domain == ""]:
        before = producer.get(pool.input[0])
        after = [n for n in graph.node if pool.output[0] in n.input]
        if before is None or before.op_type != "Transpose" or len(after) != 1 or after[0].op_type != "Transpose":
            continue
        rank = len(_attr(before, "perm"))
        to_cf, to_cl = [0, rank - 1, *range(1, rank - 1)], [0, *range(2, rank), 1]
        if (list(_attr(before, "perm")) != to_cf or list(_attr(after[0], "perm")) != to_cl
                or uses.get(before.output[0]) != 1 or {pool.output[0], before.output[0]} & outputs):
            continue
        pool.input[0], pool.output[0] = before.input[0], after[0].output[0]
        pool.domain = "qonnx.custom_op.channels_last"
        dead = {before.output[0], after[0].input[0]}
        graph.node.remove(before)
        graph.node.remove(after[0])
        for v in [v for v in graph.value_info if v.name in dead]:
            graph.value_info.remove(v)


def _constant_of(model: Any, tensor: str) -> np.ndarray | None:
    """The value of ``tensor`` when it is an initializer or a Quant of one (rule 4), else None."""
    value = model.get_initializer(tensor)
    producer = model.find_producer(tensor)
    if value is None and producer is not None and producer.op_type in ("Quant", "IntQuant"):
        value = model.get_initializer(producer.input[0])
    return None if value is None else np.asarray(value, dtype=np.float64)


def _frac_bits(values: np.ndarray) -> int | None:
    for f in range(64):
        if np.array_equal(np.floor(values * 2.0 ** f), values * 2.0 ** f):
            return f
    return None


def input_precision(model: Any) -> str:
    """The hls4ml input layer type for the prepared ``model`` (a ModelWrapper from :func:`prepare_for_hls4ml`).

    hls4ml converts the float64 input to this type before anything else. When the input feeds
    one Quant (scale ``2^-f``, FLOOR or ROUND, signed or not), the type is that Quant's range
    (signed) with ``f`` fractional bits, its rounding (TRN for FLOOR, RND_CONV for ROUND) and SAT:
    the Quant then sees exactly what it would have made of the float input. When an added
    constant ``h`` (``|h| < 2^-f`` on a ``2^-g`` grid: the half step of RND) comes first, before a
    FLOOR Quant, the type has ``max(f, g)`` fractional bits (TRN) and one more integer bit:
    ``floor(trunc(x) + h) == floor(x + h)`` on that grid. Otherwise a wide
    ``fixed<64,32,TRN,SAT>``, with :class:`NotBitExactWarning`.
    """
    name = model.graph.input[0].name
    consumers = model.find_consumers(name)
    offset = None
    if len(consumers) == 1 and consumers[0].op_type == "Add":
        other = [t for t in consumers[0].input if t != name]
        offset = _constant_of(model, other[0]) if len(other) == 1 else None
        consumers = model.find_consumers(consumers[0].output[0]) if offset is not None else []
    if len(consumers) == 1 and consumers[0].op_type in ("Quant", "IntQuant"):
        q = consumers[0]
        scale, zeropt, bits = (model.get_initializer(t) for t in q.input[1:4])
        mode = str(_attr(q, "rounding_mode", "ROUND")).upper()
        if (scale is not None and bits is not None and np.size(scale) == 1 and _is_po2(scale)
                and zeropt is not None and not np.any(zeropt) and mode in HLS_ROUNDING):
            f = -int(np.log2(float(np.asarray(scale).flat[0])))
            integer = int(np.asarray(bits).flat[0]) - f + (0 if _attr(q, "signed", 1) else 1)
            if offset is None:
                return f"fixed<{integer + f},{integer},{HLS_ROUNDING[mode]},SAT>"
            g = _frac_bits(offset)
            if mode == "FLOOR" and g is not None and np.all(np.abs(offset) < 2.0 ** -f):
                return f"fixed<{integer + 1 + max(f, g)},{integer + 1},TRN,SAT>"
    warnings.warn(f"hls4ml: input {name!r} does not feed a single ROUND/FLOOR Quant of a scalar power-of-2 scale; "
                  "its type is fixed<64,32,TRN,SAT>, which rounds some float inputs (pass input_precision_type)",
                  NotBitExactWarning, stacklevel=2)
    return "fixed<64,32,TRN,SAT>"


def _quant_type(model: Any, tensor: str) -> tuple[bool, int, int] | None:
    """``(signed, integer bits incl. sign, fractional bits)`` of the scalar PO2 Quant producing ``tensor``."""
    q = model.find_producer(tensor)
    if q is None or q.op_type not in ("Quant", "IntQuant"):
        return None
    scale, bits = model.get_initializer(q.input[1]), model.get_initializer(q.input[3])
    if scale is None or bits is None or np.size(scale) != 1 or not _is_po2(scale):
        return None
    f = -int(np.log2(float(np.asarray(scale).flat[0])))
    signed = bool(_attr(q, "signed", 1))
    return signed, int(np.asarray(bits).flat[0]) - f, f


def pool_precisions(model: Any) -> dict[str, str]:
    """Result types of the prepared ``model``'s AveragePool layers that keep every bit of the average.

    hls4ml 1.3 gives an average pool its input's type as result type (hls4ml #1297), dropping
    the ``log2(window)`` bits the division adds; this is the input Quant's type with those bits
    (unpadded power-of-2 windows only, where the average is exact). Warns
    :class:`NotBitExactWarning` naming the pool otherwise.
    """
    out = {}
    for node in model.graph.node:
        if node.op_type != "AveragePool":
            continue
        t = _quant_type(model, node.input[0])
        cells = int(np.prod(_attr(node, "kernel_shape")))
        if t is None or cells & (cells - 1) or any(_attr(node, "pads", [0])):
            warnings.warn(f"hls4ml: AveragePool {node.name!r} keeps hls4ml's result type (its input's), which "
                          "rounds the average", NotBitExactWarning, stacklevel=2)
            continue
        signed, integer, f = t
        extra = cells.bit_length() - 1
        out[node.name] = f"{'' if signed else 'u'}fixed<{integer + f + extra},{integer}>"
    return out


def qonnx_to_hls4ml(model: onnx.ModelProto | str | os.PathLike, output_dir: str | os.PathLike,
                    backend: str = "Vitis", io_type: str = "io_parallel", input_precision_type: str | None = None,
                    hls_config: dict | None = None, **kwargs: Any) -> Any:
    """hls4ml 1.3's model of the ``qonnx`` target model ``model``, through hls4ml's own ONNX frontend.

    ``prepare_for_hls4ml``, then ``config_from_onnx_model(granularity='name')`` with the input
    layer typed by :func:`input_precision` (or ``input_precision_type``), average pools by
    :func:`pool_precisions`, ``hls_config``'s
    ``LayerName`` entries merged over it, then ``convert_from_onnx_model``. ``kwargs`` go to
    hls4ml (``part``, ``clock_period``...). Returns the uncompiled hls4ml model; compile it and
    call ``predict`` on float64 C-contiguous arrays. Example::

        m = hgq_ir.convert(keras_model, to="qonnx", aggressive=False)
        hls_model = qonnx_to_hls4ml(m, "prj")
        hls_model.compile()
    """
    import hls4ml

    mw = prepare_for_hls4ml(model)
    cfg = hls4ml.utils.config.config_from_onnx_model(mw, granularity="name", backend=backend)
    name = mw.graph.input[0].name
    cfg["LayerName"].setdefault(name, {}).setdefault("Precision", {})["result"] = (
        input_precision_type or input_precision(mw))
    for layer, precision in pool_precisions(mw).items():
        cfg["LayerName"].setdefault(layer, {}).setdefault("Precision", {})["result"] = precision
    for layer, entry in ((hls_config or {}).get("LayerName") or {}).items():
        cfg["LayerName"].setdefault(layer, {}).update(entry)
    return hls4ml.converters.convert_from_onnx_model(mw, output_dir=os.fspath(output_dir), backend=backend,
                                                     io_type=io_type, hls_config=cfg, **kwargs)
