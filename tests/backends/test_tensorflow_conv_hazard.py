"""TensorFlow's Conv2D computes some one-position convolutions wrongly: the proxy flags all of them.

Sweeps small geometries ('same' and 'valid' padding, the other axis at stride 1 with several
output positions, as wrong ones need), compares TensorFlow's Conv2D (the proxy's layer) with the
IR's exact convolution, and checks that every geometry where they differ is one the proxy target
warns about.
"""

import itertools

import keras
import numpy as np
import pytest
from hgq_ir.backends.keras_proxy import tensorflow_conv_hazards

from hgq_ir.ir.graph import Graph, Weight
from hgq_ir.ir.window_ops import Conv2D


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_every_wrong_tensorflow_conv_geometry_is_flagged(padding):
    rng = np.random.default_rng(0)
    wrong, flagged_wrong = [], []
    for n, k, s in itertools.product(range(1, 6), range(1, 5), range(1, 5)):
        if padding == "valid" and k > n:
            continue
        kernel = rng.integers(-4, 5, size=(2, k, 1, 2)) / 4
        x = rng.integers(-8, 9, size=(8, 3, n, 1)) / 8
        op = Conv2D(window=(2, k), strides=(1, s), padding=padding)
        layer = keras.layers.Conv2D(2, (2, k), strides=(1, s), padding=padding, use_bias=False)
        layer.build((None, 3, n, 1))
        layer.set_weights([kernel.astype("float32")])
        tf_out = np.asarray(layer(x.astype("float32")), dtype=np.float64)
        if np.array_equal(tf_out, op.evaluate([x], {"kernel": Weight(kernel)})[0]):
            continue
        wrong.append((n, k, s))
        g = Graph("c")
        v = g.add_input("x", (3, n, 1))
        g.set_outputs([g.add_node(op, [v], name="conv", weights={"kernel": Weight(kernel)}).output])
        if tensorflow_conv_hazards(g):
            flagged_wrong.append((n, k, s))
    assert wrong, "the sweep should meet TensorFlow's wrong geometries (else this test proves nothing)"
    assert flagged_wrong == wrong
