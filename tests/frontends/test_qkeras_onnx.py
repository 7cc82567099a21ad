"""The onnx target on the QKeras zoo: onnxruntime == interpret of the lifted file, on every row.

Each zoo model's file (``.h5`` for QKeras 0.9, ``.keras`` for qkeras-v3) is converted in this process
(which never imports qkeras) to the IR and to ONNX; onnxruntime equals the interpreter exactly on
the zoo's test rows and on the rows scaled by 64 (QKeras clips: SAT overflow). The INEXACT case
(QKeras 0.9's own BatchNorm is not exact) is exact between the IR and ONNX, so it is included.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import qkeras_zoo as zoo

import hgq_ir
from hgq_ir.ir.errors import NotBitExactWarning

CASES = [pytest.param(f, m, id=f"{f}-{m}") for f in zoo.FLAVORS for m in zoo.models_of(f)]


@pytest.mark.parametrize(("flavor", "name"), CASES)
def test_onnxruntime_equals_interpret(qkeras_zoo, flavor, name):
    d = qkeras_zoo(flavor) / name
    path = d / ("model.h5" if flavor == "qkeras09" else "model.keras")
    calib = np.load(d / "x_calib.npy") if name in zoo.CALIBRATED else None
    graph = hgq_ir.convert(path, to="ir", calibration=calib)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotBitExactWarning)  # QKeras 0.9's qbn: inexact in QKeras, not here
        m = hgq_ir.convert(path, to="onnx", calibration=calib)
    onnx.checker.check_model(m, full_check=True)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x0 = np.load(d / "x.npy").astype(np.float64)
    assert len(x0) == zoo.N_TEST
    names = [v.name for v in graph.inputs]
    for scale in (1.0, 64.0):
        x = x0 * scale
        got = sess.run(None, {names[0]: x})
        want = hgq_ir.interpret(graph, x)
        want = want if isinstance(want, list) else [want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"scale {scale}")
