"""hls4ml 1.3 C simulation of QKeras proxies == the proxy == QKeras, on every test row.

hls4ml 1.3 cannot convert a live QKeras model on a current TensorFlow, nor any qkeras-v3 model;
the proxy is how both reach firmware. Every zoo model of both flavors (a few seconds of g++
each), except where QKeras itself is not exact (``qkeras_zoo.INEXACT``): lookup tables,
SAT/SAT_SYM quantizers, folded QDenseBatchnorm/QConv2DBatchnorm with auto_po2 kernels, pooling,
and a QDense on raw ADC counts given its input format by calibration data (``adc_mlp``), also on
rows off the calibrated grid and range.
"""

from __future__ import annotations

import hgq_ir.backends.proxy_layers  # noqa: F401  (registers the proxy layers for load_model)
import keras
import numpy as np
import pytest
from hls4ml_harness import HlsModel
from qkeras_zoo import FLAVORS, INEXACT, models_of

CASES = [(f, m) for f in FLAVORS for m in models_of(f) if (f, m) not in INEXACT]


@pytest.mark.parametrize(("flavor", "name"), CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_hls4ml_equals_proxy_equals_qkeras(qkeras_zoo, flavor, name, tmp_path):
    d = qkeras_zoo(flavor) / name
    proxy = keras.models.load_model(d / "proxy.keras")
    x, y = np.load(d / "x.npy"), np.load(d / "y_qkeras.npy")
    hls = HlsModel(proxy, tmp_path)
    got = np.asarray(hls.predict(x), dtype=np.float64).reshape(y.shape)
    bad = np.flatnonzero(np.any((got != y).reshape(len(y), -1), axis=1))
    assert bad.size == 0, f"hls4ml != QKeras on {bad.size}/{len(y)} rows, first {bad[:5]}"
    if (d / "x_out.npy").exists():  # calibrated input: rows off its grid and range round and saturate alike
        y_out = np.load(d / "y_qkeras_out.npy")
        got = np.asarray(hls.predict(np.load(d / "x_out.npy")), dtype=np.float64).reshape(y_out.shape)
        assert np.array_equal(got, y_out)
