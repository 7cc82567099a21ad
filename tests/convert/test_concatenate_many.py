"""A concatenation of three inputs: hls4ml's Concatenate takes two, so the proxy chains pairs."""

import keras
import numpy as np
from hls4ml_harness import HlsModel

import hgq_ir
from hgq_ir.training.layers import HDense, HQuantize, PConcatenate


def test_three_way_concatenate_is_bit_exact(tmp_path):
    keras.utils.set_random_seed(3)
    x = keras.Input((6,))
    q = HQuantize(name="q", paq_conf={"init_bw": 4})(x)
    parts = [HDense(3, name=f"branch{j}", paq_conf={"init_bw": 3})(q) for j in range(3)]
    out = HDense(4, name="head")(PConcatenate(name="cat")(parts))
    model = keras.Model(x, out)
    data = np.random.default_rng(0).normal(size=(512, 6)).astype("float32")
    hgq_ir.trace_minmax(model, data, verbose=False)
    graph = hgq_ir.convert(model, to="ir")
    proxy = hgq_ir.to_proxy_model(model)
    assert [layer.name for layer in proxy.layers if isinstance(layer, keras.layers.Concatenate)] == ["cat_1", "cat"]
    ref = hgq_ir.interpret(graph, data)
    np.testing.assert_array_equal(np.asarray(proxy(data), dtype=np.float64), ref)
    np.testing.assert_array_equal(HlsModel(proxy, tmp_path).predict(data), ref)
