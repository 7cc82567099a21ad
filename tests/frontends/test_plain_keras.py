"""Plain Keras layers lifted into the IR: the op kinds, ``verify()``, and interpret == Keras exactly.

Every weight is a small dyadic number (an integer over 4) and every input a multiple of 1/8 in
[-2, 2], so float32 Keras and the float64 interpreter compute the same values bit for bit;
BatchNormalization uses ``epsilon=0.25`` and ``moving_variance = 4**n - 0.25`` so that
``var + eps`` is a power of four in float32 and float64 alike.
"""

import keras
import numpy as np
import pytest

from hgq_ir.convert import convert, lift
from hgq_ir.ir.errors import ModelFileError, UnsupportedLayerError
from hgq_ir.ir.interpret import interpret

L = keras.layers
BN_EPS = 0.25


def dyadic(rng, shape, denom=4, bound=4):
    """Integers in [-bound, bound] over ``denom``."""
    return rng.integers(-bound, bound + 1, size=shape) / denom


def set_dyadic_weights(model, rng):
    """Small dyadic kernels and biases; BatchNormalization with power-of-two scales."""
    for layer in model.layers:
        ws = layer.get_weights()
        if isinstance(layer, L.BatchNormalization):
            n = ws[0].shape[0]
            gamma, beta, mean = dyadic(rng, n), dyadic(rng, n), dyadic(rng, n)
            var = 4.0 ** rng.integers(0, 3, size=n) - BN_EPS  # var + eps in {1, 4, 16}
            layer.set_weights([gamma, beta, mean, var])
        elif ws:
            layer.set_weights([dyadic(rng, w.shape) for w in ws])


def inputs_for(model, rng, batch=6):
    xs = [dyadic(rng, (batch, *t.shape[1:]), denom=8, bound=16) for t in model.inputs]
    return xs[0] if len(xs) == 1 else xs


def kinds(graph):
    return [n.op.kind for n in graph.nodes]


def model_of(input_shapes, body):
    ins = [keras.Input(s) for s in input_shapes]
    return keras.Model(ins, body(*ins))


# name: (input shapes, body, op kinds of the lifted graph)
CASES = {
    "dense_relu": ([(5,)], lambda x: L.Dense(3, activation="relu")(x), ["Input", "Dense", "Activation"]),
    "dense_no_bias": ([(5,)], lambda x: L.Dense(3, use_bias=False)(x), ["Input", "Dense"]),
    "conv1d_valid": ([(8, 2)], lambda x: L.Conv1D(3, 3)(x), ["Input", "Conv1D"]),
    "conv1d_same_s2": ([(9, 2)], lambda x: L.Conv1D(3, 3, strides=2, padding="same")(x), ["Input", "Conv1D"]),
    "conv2d_valid": ([(5, 6, 2)], lambda x: L.Conv2D(2, (3, 2))(x), ["Input", "Conv2D"]),
    "conv2d_same": ([(5, 5, 2)], lambda x: L.Conv2D(2, 3, padding="same")(x), ["Input", "Conv2D"]),
    "conv2d_same_s2": ([(6, 7, 2)], lambda x: L.Conv2D(2, 3, strides=2, padding="same")(x), ["Input", "Conv2D"]),
    "batchnorm": ([(4,)], lambda x: L.BatchNormalization(epsilon=BN_EPS)(x), ["Input", "BatchNorm"]),
    "dense_batchnorm": ([(5,)], lambda x: L.BatchNormalization(epsilon=BN_EPS)(L.Dense(4)(x)),
                        ["Input", "Dense", "BatchNorm"]),
    "relu_layer": ([(6,)], lambda x: L.ReLU()(x), ["Input", "Activation"]),
    "activation_relu": ([(6,)], lambda x: L.Activation("relu")(x), ["Input", "Activation"]),
    "add": ([(4,), (4,)], lambda a, b: L.Add()([a, b]), ["Input", "Input", "Add"]),
    "reshape": ([(3, 4)], lambda x: L.Reshape((-1, 2))(x), ["Input", "Reshape"]),
    "maxpool1d": ([(8, 3)], lambda x: L.MaxPooling1D(2)(x), ["Input", "MaxPool1D"]),
    "maxpool2d": ([(4, 6, 2)], lambda x: L.MaxPooling2D((2, 2))(x), ["Input", "MaxPool2D"]),
    "avgpool1d": ([(8, 3)], lambda x: L.AveragePooling1D(4)(x), ["Input", "AvgPool1D"]),
    "avgpool1d_s1": ([(6, 3)], lambda x: L.AveragePooling1D(2, strides=1)(x), ["Input", "AvgPool1D"]),
    "avgpool2d": ([(4, 6, 2)], lambda x: L.AveragePooling2D((2, 2))(x), ["Input", "AvgPool2D"]),
    "flatten": ([(2, 3, 2)], lambda x: L.Flatten()(x), ["Input", "Flatten"]),
    "concat_last": ([(2, 3), (2, 1)], lambda a, b: L.Concatenate(axis=-1)([a, b]),
                    ["Input", "Input", "Concatenate"]),
    "concat_axis1": ([(2, 3), (4, 3)], lambda a, b: L.Concatenate(axis=1)([a, b]),
                     ["Input", "Input", "Concatenate"]),
}


def build(name, seed=0):
    shapes, body, _ = CASES[name]
    rng = np.random.default_rng(seed)
    model = model_of(shapes, body)
    set_dyadic_weights(model, rng)
    return model, inputs_for(model, rng)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lift_matches_keras_exactly(name):
    model, x = build(name)
    graph = lift(model)
    graph.verify()
    assert kinds(graph) == CASES[name][2], str(graph)
    expected = model.predict(x, verbose=0)
    assert np.any(expected != 0) and np.any(expected != expected.flat[0])  # not a vacuous comparison
    np.testing.assert_array_equal(interpret(graph, x), expected)


def test_lifted_attributes():
    """The layer options that matter reach the ops: no bias, relu, resolved -1, axes without batch."""
    op = {name: [n for n in lift(build(name)[0]).nodes if n.op.kind != "Input"] for name in CASES}
    assert "bias" not in op["dense_no_bias"][0].weights and "bias" in op["dense_relu"][0].weights
    assert op["dense_relu"][1].op.function == "relu" and op["relu_layer"][0].op.function == "relu"
    assert op["reshape"][0].op.target == (6, 2)
    assert op["concat_last"][0].op.axis == 1 and op["concat_axis1"][0].op.axis == 0
    conv = op["conv1d_same_s2"][0].op
    assert (conv.window, conv.strides, conv.padding) == ((3,), (2,), "same")
    assert op["batchnorm"][0].op.epsilon == BN_EPS


def test_tanh_is_the_models_float32_tanh():
    model = model_of([(6,)], lambda x: L.Activation("tanh")(x))
    x = dyadic(np.random.default_rng(1), (5, 6), denom=8, bound=24)
    graph = lift(model)
    graph.verify()
    assert kinds(graph) == ["Input", "Activation"]
    assert graph.nodes[1].op.function == "tanh"
    np.testing.assert_array_equal(interpret(graph, x), model.predict(x, verbose=0))


def test_convert_ir_fuses_batchnorm_after_dense_only():
    fused, x = build("dense_batchnorm")
    graph = convert(fused, to="ir")
    graph.verify()
    assert "BatchNorm" not in kinds(graph) and "Dense" in kinds(graph), str(graph)
    np.testing.assert_array_equal(interpret(graph, x), fused.predict(x, verbose=0))

    alone, x = build("batchnorm")
    graph = convert(alone, to="ir")
    graph.verify()
    assert kinds(graph).count("BatchNorm") == 1, str(graph)
    np.testing.assert_array_equal(interpret(graph, x), alone.predict(x, verbose=0))


def test_lift_live_tf_keras_model():
    """A tf_keras (Keras 2) Dense+ReLU Sequential lifts like its Keras 3 twin (same process: no env needed)."""
    try:
        import tf_keras
    except ImportError as e:  # a failure, not a skip: the tf_keras frontend must be tested
        pytest.fail(f"tf_keras is not importable in this environment ({e!r}); install tf-keras (extra 'qkeras')")
    rng = np.random.default_rng(3)
    model = tf_keras.Sequential([tf_keras.Input((5,)), tf_keras.layers.Dense(4), tf_keras.layers.ReLU()])
    assert type(model).__module__.split(".")[0] == "tf_keras"
    model.set_weights([dyadic(rng, w.shape) for w in model.get_weights()])
    x = dyadic(rng, (7, 5), denom=8, bound=16)
    graph = lift(model)
    graph.verify()
    twin = keras.Sequential([keras.Input((5,)), L.Dense(4), L.ReLU()])
    assert kinds(graph) == kinds(lift(twin)) == ["Input", "Dense", "Activation"]
    assert graph.nodes[2].op.function == "relu"
    expected = model.predict(x, verbose=0)
    assert (expected > 0).any() and (expected == 0).any()  # the relu acts
    np.testing.assert_array_equal(interpret(graph, x), expected)


class KerasLookalike:
    """Has ``get_config`` and ``layers`` like a model, but is not a Keras model."""

    layers: list = []

    def get_config(self):
        return {"layers": []}


@pytest.mark.parametrize("obj", [{"layers": []}, KerasLookalike()], ids=["dict", "lookalike"])
def test_non_keras_object_is_refused(obj):
    with pytest.raises(UnsupportedLayerError) as info:
        lift(obj)
    msg = str(info.value)
    assert type(obj).__qualname__ in msg
    assert "Keras 3" in msg and "tf_keras" in msg and ".keras" in msg and ".h5" in msg


def test_sklearn_estimator_is_refused():
    from sklearn.linear_model import LinearRegression

    with pytest.raises(UnsupportedLayerError, match="LinearRegression.*Keras 3"):
        lift(LinearRegression())


@pytest.mark.parametrize("path", ["model.txt", "weights.keras.bak"])
def test_wrong_extension_is_refused(path, tmp_path):
    target = tmp_path / path
    target.write_text("not a model")
    for given in (str(target), target):
        with pytest.raises(ModelFileError, match=r"not a model file.*\.keras"):
            lift(given)
