"""The numpy readers the converter uses give exactly what the layers compute with TF ops."""

import keras
import numpy as np
import pytest
from keras import ops

from hgq_ir.training.layers import HConv2DBatchNorm, HDense, HDenseBatchNorm, HQuantize
from hgq_ir.training.quantizer import kif_of_values


@pytest.mark.parametrize("make", [
    lambda: HDense(7, activation="relu", kq_conf={"init_bw": 5}),
    lambda: HDense(7, paq_conf={"rnd_strategy": "floor"}),
    lambda: HDenseBatchNorm(5, kq_conf={"init_bw": 6}),
    lambda: HConv2DBatchNorm(3, 2, padding="same"),
])
def test_numpy_weights_equal_tf_weights(make):
    rng = np.random.default_rng(1)
    is_conv = isinstance(make(), HConv2DBatchNorm)
    shape = (4, 4, 2) if is_conv else (9,)
    layer = make()
    model = keras.Sequential([keras.Input(shape), HQuantize(), layer])
    x = rng.normal(size=(64, *shape)).astype("float32")
    model(x)
    for q in (layer.kq, layer.paq):  # random fractional bits, so that every grid differs
        q.fbw.assign(rng.uniform(1, 7, size=q.fbw.shape).astype("float32"))
    tf_kernel = ops.convert_to_numpy(layer.kq(layer.fused_kernel_tensor(), False))
    np.testing.assert_array_equal(layer.fused_qkernel, tf_kernel)
    np.testing.assert_array_equal(layer.fused_qbias, ops.convert_to_numpy(layer.inference_qbias()))
    for a, b in zip(layer.kernel_kif(), kif_of_values(tf_kernel), strict=True):
        np.testing.assert_array_equal(a, b)
