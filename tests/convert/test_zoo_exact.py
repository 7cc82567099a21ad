"""Bit-exact conversion of every zoo model, with ``aggressive`` False (SAT) and True (WRAP).

For each (model, aggressive), on the held-out test set (>= 1000 samples), exact equality of:

- the reference interpreter on the IR (``lift`` + default pipeline) and the Keras proxy;
- the Keras proxy and hls4ml 1.3's C simulation of it;
- the HGQ model itself and the proxy, on every row of the calibration set: ``trace_minmax``
  recorded the HGQ layers' own ranges on exactly those rows, so no quantizer can overflow there
  (an oracle that does not come from the converter);
- the proxy and the same proxy saved as ``.keras`` and loaded back without custom objects.

And conversion leaves the user's model untouched.
"""

from __future__ import annotations

from typing import Any

import hgq_ir.backends.proxy_layers  # noqa: F401  (registers the proxy layers for load_model)
import keras
import numpy as np
import pytest
import zoo

from hgq_ir.convert import to_proxy_model
from hgq_ir.ir.fixed import round_to_integer
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.interpret import Interpreter, interpret
from hgq_ir.ir.ops import Quantize

ZooCache = Any  # tests/convert/conftest.py: the session's lazily built zoo artefacts
AGGRESSIVE = (False, True)

CASES = [pytest.param(name, aggr, id=f"{name}-{'aggr' if aggr else 'sat'}") for name in zoo.ZOO for aggr in AGGRESSIVE]
MIN_CLEAN_FRACTION = 0.5


class OverflowInterpreter(Interpreter):
    """The exact interpreter, also flagging per sample whether any Quantize overflowed.

    A value overflows its quantizer when, rounded onto the quantizer's grid, it falls outside the
    format's range (or is nonzero where the width is 0). Without overflow, WRAP, SAT and the
    unclipped HGQ layer all compute the same value.
    """

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.overflow: np.ndarray | None = None
        self.by_node: dict[str, int] = {}

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        """Evaluate ``node``; for a Quantize, first record the samples that overflow it."""
        if isinstance(node.op, Quantize):
            x, fmt = args[0], node.op.format
            n = round_to_integer(np.ldexp(x, fmt.f), fmt.round)
            lo, hi = np.ldexp(fmt.min_value, fmt.f), np.ldexp(fmt.max_value, fmt.f)
            bad = np.where(fmt.b > 0, (n < lo) | (n > hi), x != 0)
            rows = np.broadcast_to(bad, x.shape).reshape(len(x), -1).any(axis=1)
            self.by_node[node.name] = int(rows.sum())
            self.overflow = rows if self.overflow is None else self.overflow | rows
        return super().run_node(node, args)


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=len(x), verbose=0), dtype=np.float64)


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.all((a == b).reshape(len(a), -1), axis=1)


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_interpret_equals_proxy(zoo_cache: ZooCache, name: str, aggressive: bool) -> None:
    _, _, x = zoo_cache.model(name)
    assert len(x) >= 1000
    expected = interpret(zoo_cache.graph(name, aggressive), x)
    np.testing.assert_array_equal(_predict(zoo_cache.proxy(name, aggressive), x), expected)


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_proxy_equals_hls4ml(zoo_cache: ZooCache, name: str, aggressive: bool) -> None:
    _, _, x = zoo_cache.model(name)
    hls = zoo_cache.hls(name, aggressive)
    got, want = hls.predict(x), _predict(zoo_cache.proxy(name, aggressive), x)
    ok = _rows_equal(got, want)
    assert ok.all(), f"hls4ml != proxy on {int((~ok).sum())}/{len(x)} rows, first {np.flatnonzero(~ok)[:5]}"


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_hgq_equals_proxy_on_every_calibration_row(zoo_cache: ZooCache, name: str, aggressive: bool) -> None:
    model, x_calib, _ = zoo_cache.model(name)
    assert len(x_calib) >= 1000
    np.testing.assert_array_equal(_predict(zoo_cache.proxy(name, aggressive), x_calib), _predict(model, x_calib))


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_test_rows_that_overflow_are_few(zoo_cache: ZooCache, name: str, aggressive: bool) -> None:
    # the held-out rows exercise overflow: the interpreter flags them; most rows stay inside the ranges
    _, _, x = zoo_cache.model(name)
    it = OverflowInterpreter(zoo_cache.graph(name, aggressive))
    it.run(x)
    assert it.overflow.mean() <= 1 - MIN_CLEAN_FRACTION, it.by_node


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_proxy_save_load(zoo_cache: ZooCache, name: str, aggressive: bool, tmp_path) -> None:
    _, _, x = zoo_cache.model(name)
    proxy = zoo_cache.proxy(name, aggressive)
    path = tmp_path / f"{name}.keras"
    proxy.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(_predict(loaded, x), _predict(proxy, x))


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_conversion_does_not_modify_model(zoo_cache: ZooCache, name: str) -> None:
    model, _, x = zoo_cache.model(name)
    before = [(v.path, np.array(v.numpy(), copy=True)) for v in model.variables]
    config = model.get_config()
    out = _predict(model, x)
    for aggressive in AGGRESSIVE:
        to_proxy_model(model, aggressive=aggressive)
    after = [(v.path, np.asarray(v.numpy())) for v in model.variables]
    assert [p for p, _ in after] == [p for p, _ in before]
    for (p, a), (_, b) in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=p)
    assert model.get_config() == config
    np.testing.assert_array_equal(_predict(model, x), out)


def test_parallel_factor_reaches_hls4ml(zoo_cache: ZooCache) -> None:
    # HConv2D(parallel_factor=4) -> the quantizer's ``overrides`` -> hls4ml's conv node
    assert zoo_cache.model("conv2d")[0].get_layer("c1").parallel_factor == 4
    for aggressive in AGGRESSIVE:
        overrides = zoo_cache.proxy("conv2d", aggressive).get_layer("c1").overrides
        assert overrides == {"layers": {"c1_op": {"parallelization_factor": 4}}}
        graph = zoo_cache.hls("conv2d", aggressive).hls_model.graph
        assert graph["c1_op"].get_attr("parallelization_factor") == 4
        assert graph["c2_bn_op"].get_attr("parallelization_factor") == 1
