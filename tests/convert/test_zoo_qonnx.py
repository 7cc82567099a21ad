"""The qonnx target on every HGQ zoo model: qonnx 1.0's executor == the interpreter, bit for bit.

For each model and ``aggressive`` False (SAT) / True (WRAP): ``hgq_ir.convert(model, to="qonnx")``
run by qonnx's ``execute_onnx`` (through ``execute_qonnx``) equals ``interpret`` of
``hgq_ir.convert(model, to="ir")`` on every row of the test set and of far-outside inputs
(``x_test * 64``, ``x_test * 1e4``), where the quantizers overflow. No conversion may warn.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
import pytest
import zoo
from hgq_ir.backends.qonnx_export import execute_qonnx
from qonnx.core.modelwrapper import ModelWrapper

import hgq_ir
from hgq_ir.ir.errors import NotBitExactWarning

ZooCache = Any  # tests/convert/conftest.py
CASES = [pytest.param(name, aggr, id=f"{name}-{'aggr' if aggr else 'sat'}") for name in zoo.ZOO
         for aggr in (False, True)]


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_qonnx_executor_equals_interpret_on_every_row(zoo_cache: ZooCache, name, aggressive):
    model, _, x_test = zoo_cache.model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotBitExactWarning)
        m = hgq_ir.convert(model, to="qonnx", aggressive=aggressive)
    onnx.checker.check_model(m, full_check=True)
    ModelWrapper(m, make_deepcopy=True)
    graph = hgq_ir.convert(model, to="ir", aggressive=aggressive)
    x = np.concatenate([x_test, x_test * np.float32(64), x_test * np.float32(1e4)]).astype(np.float32)
    want = hgq_ir.interpret(graph, x)
    got = execute_qonnx(m, [x])[0]
    assert got.shape == want.shape and len(np.unique(want)) > 10
    np.testing.assert_array_equal(got, want)
