"""A lifted activation computes in the model's own float dtype, as the trained model does."""

import keras
import numpy as np

import hgq_ir
from hgq_ir.ir.ops import Activation


def test_tanh_saturates_to_one_in_float32_as_keras_does():
    # 1 - tanh(10) = 4.1e-9 is below half an ulp of 1 in float32 (2**-25 = 3.0e-8): float32 gives
    # exactly 1.0, float64 does not. A quantizer with a grid of 2 (f = -1, RND) then rounds 1.0 up to
    # 2 and 0.99999999 down to 0, so the IR must compute tanh as the float32 model does.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Activation("tanh")])
    graph = hgq_ir.lift(model)
    (act,) = [n for n in graph.nodes if isinstance(n.op, Activation)]
    x = np.array([[10.0, -10.0]])
    y = act.op.evaluate([x], {})[0]
    assert y.tolist() == [[1.0, -1.0]]
    assert np.tanh(10.0) < 1.0
    np.testing.assert_array_equal(y, model.predict(x, verbose=0))


def test_relu_and_linear_need_no_framework_function():
    graph = hgq_ir.lift(keras.Sequential([keras.Input((2,)), keras.layers.Activation("relu")]))
    (act,) = [n for n in graph.nodes if isinstance(n.op, Activation)]
    assert act.op.fn is None and act.op.activation == "relu"
