"""hls4ml 1.3's ONNX frontend on the ``qonnx`` target (``hgq_ir.backends.qonnx_hls4ml``).

- homogeneous HGQ models (skip_dims 'all' for activations and kernels, SAT): an MLP (RND input
  quantizer: a half-step Add before a FLOOR Quant; floor and RND layers) and a conv model
  (valid conv + relu, max pool, conv, flatten, dense): ingested, compiled, C simulation ==
  ``interpret`` on every row of raw inputs, of inputs on the input quantizer's grid and in its
  range, and of far-outside ones (SAT clipping); the prepared model still runs exactly in qonnx's
  executor (the rewrites keep every value);
- what hls4ml cannot ingest, with the exact error hls4ml 1.3 raises (so a change in hls4ml
  shows up here): the raw export (Cast), per-element weight scales, heterogeneous activation
  quantizers (per-element Max/Min bounds and scales), WRAP and lookup tables (Floor), 1-D pooling.

The QKeras zoo models (mlp, conv2d) are in ``tests/frontends/test_qkeras_qonnx_hls4ml.py``.
Two compiles (~10 s of g++ each).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import hls4ml
import keras
import numpy as np
import onnx
import pytest
import zoo
from hgq_ir.backends.hls4ml import c_simulate, compile_quietly
from hgq_ir.backends.qonnx_export import execute_qonnx
from hgq_ir.backends.qonnx_hls4ml import input_precision, prepare_for_hls4ml, qonnx_to_hls4ml

import hgq_ir
from hgq_ir.ir import fixed
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import (
    HActivation,
    HConv1D,
    HConv2D,
    HDense,
    HQuantize,
    PFlatten,
    PMaxPooling1D,
    PMaxPooling2D,
)

HOMOG = {"skip_dims": "all"}
FLOOR = {"rnd_strategy": "floor"}


def _finish(model: keras.Model, shape: tuple[int, ...], seed: int) -> tuple[keras.Model, np.ndarray]:
    x, _ = zoo.data(shape, seed, n=1024 + 400)
    zoo.randomize(model, seed)
    trace_minmax(model, x[:1024], verbose=False)
    return model, x[1024:]


def homog_mlp() -> tuple[keras.Model, np.ndarray]:
    """RND input quantizer, dense relu (floor), two dense (bias folds RND); homogeneous everywhere."""
    keras.utils.set_random_seed(11)
    inp = keras.Input((8,), name="x")
    h = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
    h = HDense(12, activation="relu", kq_conf=HOMOG, paq_conf={**HOMOG, **FLOOR}, name="d1")(h)
    h = HDense(6, kq_conf=HOMOG, paq_conf=HOMOG, name="d2")(h)
    out = HDense(3, kq_conf=HOMOG, paq_conf=HOMOG, name="d3")(h)
    return _finish(keras.Model(inp, out, name="mlp_homog"), (8,), 11)


def homog_conv() -> tuple[keras.Model, np.ndarray]:
    """RND input quantizer, conv valid + relu, max pool valid, conv (floor), flatten, dense."""
    keras.utils.set_random_seed(12)
    inp = keras.Input((8, 8, 2), name="x")
    h = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
    h = HConv2D(4, 3, activation="relu", kq_conf=HOMOG, paq_conf=HOMOG, name="c1")(h)  # 6x6x4
    h = PMaxPooling2D(2, name="mp")(h)  # 3x3x4
    h = HConv2D(3, 2, kq_conf=HOMOG, paq_conf={**HOMOG, **FLOOR}, name="c2")(h)  # 2x2x3
    h = PFlatten(name="flat")(h)
    out = HDense(3, kq_conf=HOMOG, paq_conf=HOMOG, name="d")(h)
    return _finish(keras.Model(inp, out, name="conv_homog"), (8, 8, 2), 12)


def _small(name: str) -> keras.Model:
    """One-pattern models hls4ml cannot ingest (conversion only, no compile)."""
    keras.utils.set_random_seed(13)
    shape: tuple[int, ...] = (6, 2) if name == "pool1d" else (6,)
    inp = keras.Input(shape, name="x")
    if name == "per_element_weights":  # floor input quantizer: no Cast, the raw export reaches hls4ml
        h = HQuantize(paq_conf={**HOMOG, **FLOOR}, name="q_in")(inp)
        out = HDense(3, kq_conf=HOMOG, paq_conf=HOMOG, name="d")(h)
    elif name == "hetero_activation":
        h = HQuantize(name="q_in")(inp)  # HGQ's default: one bit width per element
        out = HDense(3, kq_conf=HOMOG, paq_conf=HOMOG, name="d")(h)
    elif name == "lut":
        h = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
        out = HActivation("tanh", paq_conf=HOMOG, name="tanh")(h)  # an exact lookup table: Floor + Mod + Gather
    else:  # pool1d
        h = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
        h = HConv1D(2, 2, kq_conf=HOMOG, paq_conf=HOMOG, name="c")(h)
        out = PMaxPooling1D(2, name="mp")(h)
    return _finish(keras.Model(inp, out, name=name), shape, 13)[0]


def _rows_differing(got: np.ndarray, want: np.ndarray) -> int:
    return int(np.sum(np.any(got != want, axis=tuple(range(1, got.ndim)))))


def _executable(model: onnx.ModelProto) -> onnx.ModelProto:
    """The prepared model with a symbolic batch again (the channels-last cleanup fixes it to 0 or 1)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for v in [*m.graph.input, *m.graph.output, *m.graph.value_info]:
        dims = v.type.tensor_type.shape.dim
        if len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value in (0, 1):
            dims[0].dim_param = "N"
    return m


@pytest.mark.parametrize("build", [homog_mlp, homog_conv], ids=["mlp", "conv"])
def test_homogeneous_hgq_csim_equals_interpret(build: Any, tmp_path: Path) -> None:
    model, x = build()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = hgq_ir.convert(model, to="qonnx", aggressive=False)
        graph = hgq_ir.convert(model, to="ir", aggressive=False)
    assert not [w for w in caught if "bit-exact" in str(w.message)]
    q_in = next(n for n in graph.nodes if n.op.quantizer_format is not None)
    in_fmt = q_in.op.quantizer_format
    assert in_fmt.round == "RND"  # the input quantizer is Add(half step) + FLOOR Quant in the export
    on_grid = fixed.quantize(x.astype(np.float64) * 3, in_fmt).astype(np.float32)  # spans the range, saturates
    xs = np.concatenate([x, on_grid, x * np.float32(64), x * np.float32(1e4)]).astype(np.float32)
    want = hgq_ir.interpret(graph, xs)

    prepared = prepare_for_hls4ml(q)
    ops = {n.op_type for n in prepared.graph.node}
    assert not ops & {"Cast", "Transpose", "Gemm", "Floor"}, ops
    k, i, f = (int(np.max(a)) for a in (in_fmt.k, in_fmt.i, in_fmt.f))
    # the Quant's range plus one integer bit (for the half step added first) and f + 1 fractional bits
    assert input_precision(prepared) == f"fixed<{k + i + 1 + f + 1},{k + i + 1},TRN,SAT>"
    np.testing.assert_array_equal(execute_qonnx(_executable(prepared.model), [xs])[0], want)

    hls_model = qonnx_to_hls4ml(q, tmp_path / "prj")
    assert hls_model.config.config["IOType"] == "io_parallel"
    compile_quietly(hls_model)
    got = c_simulate(hls_model, np.ascontiguousarray(xs, dtype=np.float64), [tuple(v.shape) for v in graph.outputs])
    assert got.shape == want.shape and len(np.unique(want)) > 10
    assert _rows_differing(got, want) == 0
    np.testing.assert_array_equal(got, want)


def _export(name: str) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hgq_ir.convert(_small(name), to="qonnx", aggressive=False)


def test_raw_export_has_casts_hls4ml_cannot_read() -> None:
    """Without rule 1, the target's exact float32 -> float64 widenings stop hls4ml's parser."""
    model, _ = homog_mlp()
    q = hgq_ir.convert(model, to="qonnx", aggressive=False)
    assert "Cast" in {n.op_type for n in q.graph.node}
    with pytest.raises(Exception, match=r"^ERROR: Unsupported operation type: Cast$"):
        hls4ml.utils.config.config_from_onnx_model(q, granularity="name", backend="Vitis")


def _per_element_kernel_scale(q: onnx.ModelProto) -> onnx.ModelProto:
    """``q`` with its kernel Quant's scalar scale replaced by each weight's own finest PO2 grid (HGQ's
    per-element weight formats, as an exporter keeping them would write them): the values do not change."""
    m = onnx.ModelProto()
    m.CopyFrom(q)
    inits = {t.name: t for t in m.graph.initializer}
    node = next(n for n in m.graph.node if n.op_type == "Quant" and n.input[0] in inits
                and len(inits[n.input[0]].dims) == 2)
    w = onnx.numpy_helper.to_array(inits[node.input[0]]).astype(np.float64)
    s = float(onnx.numpy_helper.to_array(inits[node.input[1]]))
    f = np.zeros(w.shape)
    while np.any(w * 2.0 ** f != np.floor(w * 2.0 ** f)):
        f += w * 2.0 ** f != np.floor(w * 2.0 ** f)
    scale = np.maximum(2.0 ** -f, s).astype(np.float32)  # no coarser than the weight, no finer than the cover
    assert len(np.unique(scale)) > 1
    inits[node.input[1]].CopyFrom(onnx.numpy_helper.from_array(scale, node.input[1]))
    for v in m.graph.value_info:
        if v.name == node.input[1]:
            m.graph.value_info.remove(v)
            break
    return m


def test_per_element_weight_scales_crash_hls4ml(tmp_path: Path) -> None:
    """A scale tensor on a kernel Quant crashes hls4ml; rule 3 (one scalar scale, exact) makes it ingestible."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    q = _per_element_kernel_scale(_export("per_element_weights"))
    assert "Cast" not in {n.op_type for n in q.graph.node}  # floor input quantizer: the raw export reaches hls4ml
    mw = cleanup_model(ModelWrapper(q))
    cfg = hls4ml.utils.config.config_from_onnx_model(mw, granularity="name", backend="Vitis")
    with pytest.raises(IndexError, match=r"^list index out of range$"):
        hls4ml.converters.convert_from_onnx_model(mw, output_dir=str(tmp_path / "prj"), backend="Vitis",
                                                  hls_config=cfg)
    hls_model = qonnx_to_hls4ml(q, tmp_path / "ok")
    assert hls_model.graph["Dense_MatMul_0"].get_attr("weight_t").precision.width <= 8


def test_heterogeneous_activation_quantizer_is_not_ingested(tmp_path: Path) -> None:
    """Per-element bounds (Max/Min) and a scale tensor on a datapath Quant: hls4ml 1.3 crashes."""
    q = _export("hetero_activation")
    assert {"Max", "Min"} <= {n.op_type for n in q.graph.node}
    with pytest.raises(IndexError, match=r"^list index out of range$"):
        qonnx_to_hls4ml(q, tmp_path / "prj")


@pytest.mark.parametrize("name", ["lut", "wrap"])
def test_floor_is_not_ingested(name: str, tmp_path: Path) -> None:
    """WRAP (a floor-modulo) and lookup tables (the index's Floor) need a Floor node: hls4ml has none."""
    if name == "wrap":
        model, _ = homog_mlp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = hgq_ir.convert(model, to="qonnx", aggressive=True)
    else:
        q = _export(name)
    assert "Floor" in {n.op_type for n in q.graph.node}
    with pytest.raises(Exception, match=r"^ERROR: Unsupported operation type: Floor$"):
        qonnx_to_hls4ml(q, tmp_path / "prj")


def test_pool1d_is_not_ingested(tmp_path: Path) -> None:
    """hls4ml 1.3's ONNX 1-D pooling handler never sets the padding it needs later."""
    q = _export("pool1d")
    with pytest.raises(Exception, match=r'^Attribute "pad_left" of layer MaxPool_0 \(Pooling1D\) not set and no '
                                        r"default value is specified\.$"):
        qonnx_to_hls4ml(q, tmp_path / "prj")
