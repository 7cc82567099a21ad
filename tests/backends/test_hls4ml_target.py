"""The ``hls4ml`` target: ``convert(model, to="hls4ml")`` (the ``hls_config`` dict) and ``hgq_ir``'s ``to_hls4ml``.

- the configuration's shape (``Model``, one ``LayerName`` entry per proxy layer, precision
  strings, ``ReuseFactor`` 1, ``Latency``, ``ParallelizationFactor`` from an HGQ conv);
- its precisions equal the types hls4ml 1.3 builds from the proxy, every layer of every zoo
  model (conversion only, no compile);
- JSON round trip through the registry's writer;
- ``to_hls4ml`` (io_parallel) compiled: C simulation == interpret(legalized IR) on every row,
  with a user override applied;
- ``io_stream`` on a homogeneous conv/dense model (valid pooling) compiled and exact; refused,
  naming the layer, on a heterogeneous zoo model and on padded pooling.

Two compiles in all (~20-30 s of g++).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import zoo
from hgq_ir.backends.hls4ml import c_simulate, compile_quietly, convert_proxy
from hgq_ir.backends.hls4ml_config import hls_config_of, layer_names, stream_refusals
from hgq_ir.backends.registry import get_target

from hgq_ir.convert import convert, lift, run_passes, to_hls4ml
from hgq_ir.ir.errors import ConfigError
from hgq_ir.ir.interpret import interpret
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import (
    HAdd,
    HConv2D,
    HDense,
    HQuantize,
    PAveragePooling2D,
    PConcatenate,
    PFlatten,
    PMaxPooling2D,
)

TYPE = re.compile(r"u?fixed<\d+,-?\d+(,(TRN|RND|RND_CONV|RND_ZERO|RND_INF|RND_MIN_INF),(WRAP|SAT|SAT_SYM))?>|auto")
HOMOG = {"skip_dims": "all"}


@pytest.fixture(scope="module")
def zoo_models() -> dict[str, zoo.Zoo]:
    """Zoo models built once per module (no compile)."""
    return {}


def _zoo(cache: dict[str, zoo.Zoo], name: str) -> zoo.Zoo:
    if name not in cache:
        cache[name] = zoo.ZOO[name]()
    return cache[name]


def _legal_graph(model: Any) -> Any:
    g = lift(model)
    run_passes(g, target="proxy")
    return g


def homog_model(pool_padding: str = "valid") -> zoo.Zoo:
    """Homogeneous activations (skip_dims 'all'): quantize, conv relu (pf 2), max pool, conv, avg pool, dense."""
    keras.utils.set_random_seed(7)
    x, _ = zoo.data((8, 8, 2), 7, n=2048 + 1000)  # all in the first array (n < zoo.N_CALIB)
    x_calib, x_test = x[:2048], x[2048:]
    inp = keras.Input((8, 8, 2), name="x")
    h = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
    h = HConv2D(4, 3, activation="relu", parallel_factor=2, paq_conf=HOMOG, name="c1")(h)  # 6x6x4
    h = PMaxPooling2D(2, name="mp")(h)  # 3x3x4
    h = HConv2D(4, 2, paq_conf=HOMOG, name="c2")(h)  # 2x2x4
    h = PAveragePooling2D(2, padding=pool_padding, name="ap")(h)  # 1x1x4
    h = PFlatten(name="flat")(h)
    out = HDense(3, paq_conf=HOMOG, name="d")(h)
    model = keras.Model(inp, out, name=f"homog_{pool_padding}")
    zoo.randomize(model, 7)
    trace_minmax(model, x_calib, verbose=False)
    return model, x_calib, x_test


def padded_pool_model() -> keras.Model:
    """Homogeneous, but an average pooling whose 'same' windows really pad (3 -> 2)."""
    keras.utils.set_random_seed(8)
    x_calib, _ = zoo.data((6, 6, 2), 8, n=256)
    inp = keras.Input((6, 6, 2), name="x")
    h = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
    h = HConv2D(2, 2, strides=2, paq_conf=HOMOG, name="c1")(h)  # 3x3x2
    h = PAveragePooling2D(2, padding="same", name="ap_pad")(h)  # 2x2x2, edge windows padded
    out = PFlatten(name="flat")(h)
    model = keras.Model(inp, out, name="padded_pool")
    trace_minmax(model, x_calib, verbose=False)
    return model


def _exact_every_row(hls_model: Any, graph: Any, x: np.ndarray) -> None:
    expected = interpret(graph, x)
    got = c_simulate(hls_model, x, [tuple(v.shape) for v in graph.outputs])
    np.testing.assert_array_equal(got, expected)


def test_config_shape(zoo_models: dict) -> None:
    model = _zoo(zoo_models, "conv2d")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = convert(model, to="hls4ml")
        proxy = convert(model, to="proxy")
    assert cfg["Model"] == {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 1, "Strategy": "Latency",
                            "BramFactor": 1_000_000_000, "TraceOutput": False}
    layers = cfg["LayerName"]
    proxy_names = {layer.name for layer in proxy.layers}
    # every proxy layer, plus the relu hls4ml splits off the conv that absorbed it
    assert set(layers) == proxy_names | {"c1_op_relu"}
    for name, entry in layers.items():
        assert entry["Trace"] is False
        assert set(entry["Precision"]) <= {"result", "accum", "weight", "bias"}, name
        for t in entry["Precision"].values():
            assert TYPE.fullmatch(t), (name, t)
    for conv, pf in (("c1_op", 4), ("c2_bn_op", 1), ("c3_op", 1)):
        assert layers[conv]["ReuseFactor"] == 1
        assert layers[conv]["ParallelizationFactor"] == pf
        assert set(layers[conv]["Precision"]) == {"result", "accum", "weight", "bias"}
    assert layers["ap"]["Precision"]["accum"] != layers["ap"]["Precision"]["result"]  # 2x2 average: 2 more bits


def _hls4ml_type(t: Any) -> str:
    p = t.precision
    base = f"{'' if p.signed else 'u'}fixed<{p.width},{p.integer}"
    modes = tuple(str(m).split(".")[-1] for m in (p.rounding_mode, p.saturation_mode))
    return base + (">" if modes == ("TRN", "WRAP") else f",{modes[0]},{modes[1]}>")


def _assert_precisions_are_hls4mls(graph: Any, workdir: Path) -> int:
    """Every type hls4ml 1.3 builds (result, accum, weight, bias of every layer) is the configuration's."""
    cfg = hls_config_of(graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proxy = get_target("proxy").emit(graph, "p")
        hls_model = convert_proxy(proxy, cfg, workdir / "prj")
    assert {n for names in layer_names(graph).values() for n in names} >= {layer.name for layer in proxy.layers}
    checked = 0
    for layer in hls_model.get_layers():
        stated = cfg["LayerName"][layer.name]["Precision"]
        for key in ("result", "accum", "weight", "bias"):
            t = layer.attributes.get(f"{key}_t")
            if t is None or not hasattr(t, "precision"):
                continue
            assert stated.get(key) == _hls4ml_type(t), (layer.name, key)
            checked += 1
    return checked


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_precisions_are_hls4mls(zoo_models: dict, name: str, tmp_path: Path) -> None:
    assert _assert_precisions_are_hls4mls(_legal_graph(_zoo(zoo_models, name)[0]), tmp_path) >= 15


def test_precisions_of_pairwise_chains(tmp_path: Path) -> None:
    """A 3-input HAdd and a 4-input PConcatenate: chains of pairwise layers, each typed as hls4ml types it."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((8,), name="x")
    q = HQuantize(name="q")(inp)
    ds = [HDense(4, name=f"d{j}")(q) for j in range(3)]
    s = HAdd(name="add")(ds)  # quantizer 'add' is a reserved name: 'add_q'
    out = HDense(2, name="o")(PConcatenate(name="cat")([s, *ds]))
    model = keras.Model(inp, out)
    zoo.randomize(model, 3)
    trace_minmax(model, zoo.data((8,), 3, n=512)[0], verbose=False)
    graph = _legal_graph(model)
    assert layer_names(graph)["cat"] == ["cat_1", "cat_2", "cat"]
    assert layer_names(graph)["add"] == ["add_q"]
    assert _assert_precisions_are_hls4mls(graph, tmp_path) >= 25


def test_json_round_trip(zoo_models: dict, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = convert(_zoo(zoo_models, "branches")[0], to="hls4ml")
    path = get_target("hls4ml").write(cfg, tmp_path / "cfg.json")
    assert json.loads(path.read_text()) == cfg


def test_to_hls4ml_io_parallel_exact(zoo_models: dict, tmp_path: Path) -> None:
    """The public to_hls4ml, compiled (one compile): C simulation == the legalized IR on every row."""
    model, _, x = _zoo(zoo_models, "dense_hetero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hls_model = to_hls4ml(model, tmp_path / "prj", hls_config={"LayerName": {"d1_op": {"ReuseFactor": 2}}},
                              aggressive=False)
        graph = convert(model, to="ir", target="proxy", aggressive=False)
    assert hls_model.config.config["IOType"] == "io_parallel"
    assert hls_model.graph["d1_op"].get_attr("reuse_factor") == 2  # the user's override won
    assert hls_model.config.config["HLSConfig"]["LayerName"]["d1_op"]["Precision"]["result"] != "auto"
    compile_quietly(hls_model)
    _exact_every_row(hls_model, graph, x)


def test_io_stream_homogeneous_exact(tmp_path: Path) -> None:
    """A homogeneous conv/dense model streams: compiled (one compile) and exact on every row."""
    model, _, x = homog_model()
    graph = convert(model, to="ir", target="proxy")
    assert stream_refusals(graph) == []
    hls_model = to_hls4ml(model, tmp_path / "prj", io_type="io_stream")
    assert hls_model.config.config["IOType"] == "io_stream"
    assert hls_model.config.config["HLSConfig"]["LayerName"]["c1_op"]["ParallelizationFactor"] == 2
    compile_quietly(hls_model)
    _exact_every_row(hls_model, graph, x)


def test_io_stream_refuses_heterogeneous(zoo_models: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot stream.*'q_in'.*heterogeneous quantizer.*'d1'"):
        to_hls4ml(_zoo(zoo_models, "dense_hetero")[0], tmp_path / "prj", io_type="io_stream")
    assert not (tmp_path / "prj").exists()  # refused before hls4ml wrote anything


def test_io_stream_refuses_padded_pooling(tmp_path: Path) -> None:
    model = padded_pool_model()
    with pytest.raises(ConfigError, match=r"'ap_pad'.*pooling with padded windows") as e:
        to_hls4ml(model, tmp_path / "prj", io_type="io_stream")
    assert "heterogeneous" not in str(e.value)  # only the pooling is in the way


def test_unknown_io_type(zoo_models: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="io_type must be one of io_parallel, io_stream; got 'io_serial'"):
        to_hls4ml(_zoo(zoo_models, "dense_hetero")[0], tmp_path / "prj", io_type="io_serial")
