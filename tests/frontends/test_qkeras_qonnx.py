"""The qonnx target on every QKeras zoo model: qonnx 1.0's executor == the interpreter, bit for bit.

Each model file of ``tests/qkeras_zoo.py`` (QKeras 0.9 ``.h5``, qkeras-v3 ``.keras``, read in
this process without qkeras) goes to ``hgq_ir.convert(path, to="qonnx")``; qonnx's
``execute_onnx`` (through ``execute_qonnx``) equals ``interpret`` of the IR on every row of the
zoo's inputs and of far-outside ones (``x * 64``, ``x * 1e4``), where the quantizers clip.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import qkeras_zoo as zoo
from hgq_ir.backends.qonnx_export import execute_qonnx

import hgq_ir

CASES = [pytest.param(f, m, id=f"{f}-{m}") for f in zoo.FLAVORS for m in zoo.models_of(f)]


@pytest.mark.parametrize(("flavor", "name"), CASES)
def test_qonnx_executor_equals_interpret_on_every_row(qkeras_zoo, flavor, name):
    d = qkeras_zoo(flavor) / name
    path = d / ("model.h5" if flavor == "qkeras09" else "model.keras")
    calib = np.load(d / "x_calib.npy") if name in zoo.CALIBRATED else None
    x = np.load(d / "x.npy").astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = hgq_ir.convert(path, to="qonnx", calibration=calib)
    assert not [w for w in caught if str(w.message).startswith("qonnx:")]  # the qonnx target never drifts here
    onnx.checker.check_model(m, full_check=True)
    graph = hgq_ir.convert(path, to="ir", calibration=calib)
    xs = np.concatenate([x, x * np.float32(64), x * np.float32(1e4)]).astype(np.float32)
    want = hgq_ir.interpret(graph, xs)
    got = execute_qonnx(m, [xs])[0]
    assert got.shape == want.shape and len(np.unique(want)) > 10
    np.testing.assert_array_equal(got, want)
