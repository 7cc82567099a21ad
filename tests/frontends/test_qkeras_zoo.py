"""QKeras zoo, bit for bit: QKeras' own predictions == interpret(IR) == proxy, on every row.

Each model of ``tests/qkeras_zoo.py`` runs three ways in its QKeras process (QKeras 0.9 on
tf_keras, qkeras-v3 on Keras 3): the QKeras model, ``interpret`` of the IR of the live model, and
its proxy. Here, in a process that never imported qkeras, the saved file (``.h5`` for 0.9,
``.keras`` for v3) is lifted again and must give the same outputs. The zoo's float32 matmuls
fit 24 bits, so QKeras' predictions are exact and no row is excused.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import qkeras_zoo as zoo

import hgq_ir

CASES = [pytest.param(f, m, id=f"{f}-{m}") for f in zoo.FLAVORS for m in zoo.models_of(f)]
EXACT_CASES = [c for c in CASES if tuple(c.values) not in zoo.INEXACT]  # INEXACT: test_qkeras_batchnorm


def _load(d, name):
    return np.load(d / f"{name}.npy")


def _model_file(d, flavor):
    return d / ("model.h5" if flavor == "qkeras09" else "model.keras")


@pytest.mark.parametrize(("flavor", "name"), EXACT_CASES)
def test_live_model_qkeras_equals_interpret_equals_proxy(qkeras_zoo, flavor, name):
    d = qkeras_zoo(flavor) / name
    y = _load(d, "y_qkeras")
    assert len(y) == zoo.N_TEST and len(np.unique(y)) > 10  # many rows, outputs that vary
    np.testing.assert_array_equal(_load(d, "y_interp"), y)
    np.testing.assert_array_equal(_load(d, "y_proxy"), y)


@pytest.mark.parametrize(("flavor", "name"), CASES)
def test_model_file_lifted_without_qkeras(qkeras_zoo, flavor, name):
    d = qkeras_zoo(flavor) / name
    # the live model's results: QKeras' own predictions wherever QKeras is exact (test above)
    x, y, y_proxy = _load(d, "x"), _load(d, "y_interp"), _load(d, "y_proxy")
    path = _model_file(d, flavor)
    calib = _load(d, "x_calib") if name in zoo.CALIBRATED else None  # raw inputs: see test_qkeras_calibration
    graph = hgq_ir.convert(path, to="ir", calibration=calib)
    np.testing.assert_array_equal(hgq_ir.interpret(graph, x.astype(np.float64)), y)
    proxy = hgq_ir.to_proxy_model(str(path), calibration=calib)
    np.testing.assert_array_equal(np.asarray(proxy.predict(x, batch_size=len(x), verbose=0), dtype=np.float64),
                                  y_proxy)
    # other tests import tf_keras into this process; no test imports qkeras (test_qkeras_files checks a
    # fresh process holds neither)
    assert not [m for m in sys.modules if m.split(".")[0] == "qkeras"]
