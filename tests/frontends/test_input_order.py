"""A model's inputs keep their order through lift and the proxy, whatever order Keras lists its layers in."""

import keras
import numpy as np

from hgq_ir.convert import convert, lift, to_proxy_model
from hgq_ir.ir.interpret import interpret
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import HDense, HQuantize, PConcatenate


def test_inputs_keep_the_models_order():
    keras.utils.set_random_seed(0)
    b = keras.Input((2,), name="b_second_created")
    a = keras.Input((3,), name="a_first_created")
    qa, qb = HQuantize(name="qa")(a), HQuantize(name="qb")(b)
    # inputs given as [a, b], though b's InputLayer was created (and is listed) first
    model = keras.Model([a, b], HDense(2, name="head")(PConcatenate(name="cat")([qb, qa])), name="two_inputs")
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(256, 3)), rng.normal(size=(256, 2))]
    trace_minmax(model, xs, verbose=False)
    assert [v.name for v in lift(model).inputs] == ["a_first_created", "b_second_created"]
    proxy = to_proxy_model(model)
    assert [t.name for t in proxy.inputs] == [t.name for t in model.inputs]
    want = np.asarray(model.predict(xs, verbose=0), np.float64)
    np.testing.assert_array_equal(np.asarray(proxy.predict(xs, verbose=0), np.float64), want)
    np.testing.assert_array_equal(interpret(convert(model, to="ir", target="proxy"), xs), want)
