"""hls4ml 1.3 C simulation of QKeras proxies == the proxy == QKeras, on every test row.

hls4ml 1.3 cannot convert a live QKeras model on a current TensorFlow, nor any qkeras-v3 model;
the proxy is how both reach firmware. One model per flavor (each compile costs seconds of g++):
lookup tables and SAT/SAT_SYM quantizers (``tanh_lut``, QKeras 0.9) and a folded
QConv2DBatchnorm with auto_po2 kernels (``conv2d_bn``, qkeras-v3); a QDense on raw ADC counts
given its input format by calibration data (``adc_mlp``, QKeras 0.9), also on rows off the
calibrated grid and range.
"""

from __future__ import annotations

import hgq_ir.backends.proxy_layers  # noqa: F401  (registers the proxy layers for load_model)
import keras
import numpy as np
import pytest
from hls4ml_harness import HlsModel

CASES = [("qkeras09", "tanh_lut"), ("qkeras3", "conv2d_bn"), ("qkeras09", "adc_mlp")]


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
