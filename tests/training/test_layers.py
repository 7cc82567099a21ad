"""HGQ layers: gradients, the numpy-reproducible inference contract, and clear errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from hgq_ir.ir.errors import ConfigError, LayerReuseError, NotBitExactWarning
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import (
    HActivation,
    HConv1D,
    HConv1DBatchNorm,
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HQuantize,
    PAveragePooling1D,
    PAveragePooling2D,
    PAvgPool2D,
    PConcatenate,
    PFlatten,
    PMaxPool1D,
    PReshape,
    Signature,
)


def _assert_all_grads_nonzero(model: keras.Model, x: np.ndarray) -> None:
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = ops.sum(ops.abs(out)) + ops.sum(model.losses)
    grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
    for var, g in zip(model.trainable_variables, grads, strict=True):
        assert g is not None, f"{var.path} gets no gradient"
        assert np.any(ops.convert_to_numpy(g) != 0), f"{var.path} gets a zero gradient"


@pytest.mark.parametrize("which", ["mlp", "conv", "branchy"])
def test_every_trainable_weight_gets_a_gradient(models, which: str) -> None:
    model = getattr(models, which)(beta=1e-6)
    shape = (32, 8, 8, 1) if which == "conv" else (32, 64)
    x = np.random.default_rng(0).uniform(0, 1, size=shape).astype(np.float32)
    model(x, training=True)  # first step records ranges, so input widths exist for the BOPs
    _assert_all_grads_nonzero(model, x)
    names = {v.path.split("/")[-1] for v in model.trainable_variables}
    assert {"kernel_bw", "activation_bw"} <= names


def test_conv1d_and_bn_forms_get_gradients() -> None:
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 2))
    h = HQuantize(beta=1e-6)(inp)
    h = HConv1DBatchNorm(3, 3, activation="relu", beta=1e-6)(h)
    h = HConv1D(2, 2, strides=2, padding="same", beta=1e-6)(h)
    h = PFlatten()(h)
    model = keras.Model(inp, HDense(3, beta=1e-6)(h))
    x = np.random.default_rng(0).normal(size=(16, 16, 2)).astype(np.float32)
    model(x, training=True)
    _assert_all_grads_nonzero(model, x)


def _numpy_forward(layer: HDense | HConv2D, x: np.ndarray) -> np.ndarray:
    """The documented inference semantics, in numpy through hgq_ir.ir.fixed.quantize."""
    k, i, f = layer.output_kif()
    fmt = FixedFormat(k, i, f, layer.paq.inference_round, "WRAP")
    if isinstance(layer, HDense):
        z = x.astype(np.float64) @ layer.fused_qkernel.astype(np.float64)
    else:
        z = ops.convert_to_numpy(layer.linear_op(ops.convert_to_tensor(x), layer.fused_qkernel)).astype(np.float64)
    z = z + layer.fused_qbias
    if layer.activation_name == "relu":
        z = np.maximum(z, 0.0)
    return quantize(z, fmt)


@pytest.mark.parametrize("rnd", ["standard_round", "floor", "auto"])
def test_dense_inference_contract(models, digits, rnd: str) -> None:
    x_train, y_train, x_test, _ = digits
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    q = HQuantize(paq_conf={"init_bw": 3})(inp)
    h1 = HDense(16, activation="relu", paq_conf={"rnd_strategy": rnd, "init_bw": 3})
    h2 = HDense(10, paq_conf={"rnd_strategy": rnd, "init_bw": 4})
    model = models.compile(keras.Model(inp, h2(h1(q))))
    model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0)
    trace_minmax(model, x_train, verbose=False)
    assert h1.paq.inference_round == "TRN"
    assert h1.paq.bias_folds_rounding == (rnd != "floor")
    sub = keras.Model(inp, [q, h1.output, h2.output])
    xq, a1, a2 = (ops.convert_to_numpy(t) for t in sub(x_train, training=False))
    np.testing.assert_array_equal(_numpy_forward(h1, xq), a1)
    np.testing.assert_array_equal(_numpy_forward(h2, a1), a2)
    k, i, f = h1.output_kif()
    assert np.all(k == 0), "relu output is unsigned (pos_only)"
    assert h1.parallel_factor == 1 and h1.activation_name == "relu"
    # the weights' own formats hold them exactly
    kk, ki, kf = h1.kernel_kif()
    w = h1.fused_qkernel
    np.testing.assert_array_equal(quantize(w, FixedFormat(kk, ki, kf)), w)
    del x_test


def test_conv_inference_contract(models, digits) -> None:
    x_train, y_train, _, _ = digits
    model = models.compile(models.conv())
    x = x_train.reshape(-1, 8, 8, 1)
    model.fit(x, y_train, batch_size=128, epochs=1, verbose=0)
    trace_minmax(model, x, verbose=False)
    conv = model.layers[2]
    assert isinstance(conv, HConv2D)
    assert conv.paq.inference_round == "RND" and not conv.paq.bias_folds_rounding  # per-pixel grid
    sub = keras.Model(model.inputs[0], [model.layers[1].output, conv.output])
    xq, out = (ops.convert_to_numpy(t) for t in sub(x, training=False))
    np.testing.assert_array_equal(_numpy_forward(conv, xq), out)


def test_activation_must_be_linear_or_relu() -> None:
    with pytest.raises(ConfigError, match="activation 'tanh' is not allowed here.*HActivation"):
        HDense(4, activation="tanh")
    assert HDense(4, activation=keras.activations.relu).activation_name == "relu"


def test_hactivation_rejects_non_callable() -> None:
    with pytest.raises(ConfigError, match="must be a Keras activation name or a unary callable, got 3 of type int"):
        HActivation(3)
    with pytest.raises(ConfigError, match="unknown activation 'no_such_fn'"):
        HActivation("no_such_fn")


def test_hactivation_custom_callable() -> None:
    layer = HActivation(lambda x: ops.sin(x) ** 2 - x, paq_conf={"init_bw": 6})
    out = layer(np.zeros((2, 3), np.float32))
    assert out.shape == (2, 3)


def test_average_pool_non_power_of_two_warns() -> None:
    with pytest.warns(NotBitExactWarning, match=r"pool_size \(3, 3\) is not a power of 2.*not be bit-exact"):
        PAveragePooling2D(3)
    with pytest.warns(NotBitExactWarning, match="border pools of size \\[3\\]"):
        layer = PAveragePooling1D(4, strides=1, padding="same")
        layer.build((None, 8, 1))
    assert PAvgPool2D is PAveragePooling2D


def test_layer_reuse_is_rejected() -> None:
    inp = keras.Input((8,))
    q1, q2 = HQuantize()(inp), HQuantize()(inp)
    dense = HDense(4)
    dense(q1)
    with pytest.raises(LayerReuseError, match="called 2 times on different inputs.*used once"):
        dense(q2)


def test_sequential_rebuild_is_not_reuse() -> None:
    model = keras.Sequential([keras.Input((8,)), HQuantize()])
    model.add(HDense(4))
    model.add(HDense(2))
    assert model(np.ones((1, 8), np.float32)).shape == (1, 2)


def test_signature_format_and_bops() -> None:
    inp = keras.Input((6,))
    sig = Signature(1, 6, 3)(inp)
    dense = HDense(2, kq_conf={"init_bw": 3})
    model = keras.Model(inp, dense(sig))
    x = np.random.default_rng(0).integers(-32, 32, size=(50, 6)).astype(np.float32) / 8
    bops = trace_minmax(model, x, verbose=False)
    layer = model.layers[1]
    assert layer.format == FixedFormat(1, 2, 3, "TRN", "SAT")
    k, i, f = layer.get_bits_exact()
    assert (int(k), int(i), int(f)) == (1, 2, 3)
    _, ki, kf = dense.kernel_kif()
    assert bops == pytest.approx(float(np.sum(6 * (ki + kf))))


def test_passive_layers_propagate_widths() -> None:
    inp = keras.Input((4, 4, 2))
    q = HQuantize(paq_conf={"init_bw": 3})(inp)
    a = PReshape((8, 4))(q)
    b = PMaxPool1D(2)(a)
    c = PConcatenate(axis=1)([b, PReshape((8, 4))(HQuantize()(inp))])
    d = PFlatten()(c)
    out = HDense(2)(d)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(20, 4, 4, 2)).astype(np.float32)
    bops = trace_minmax(model, x, verbose=False)
    assert bops > 0
    assert model.layers[-1].input_bw(exact=True)[0].shape == (1, 48)


def test_conv_parallel_factor_scales_bops() -> None:
    bops = []
    for pf in (1, 4):
        keras.utils.set_random_seed(0)
        inp = keras.Input((6, 6, 1))
        out = HConv2D(2, 3, parallel_factor=pf)(HQuantize()(inp))
        model = keras.Model(inp, out)
        bops.append(trace_minmax(model, np.random.default_rng(0).normal(size=(10, 6, 6, 1)).astype(np.float32),
                                 verbose=False))
        assert model.layers[-1].parallel_factor == pf
    assert bops[1] == pytest.approx(4 * bops[0])


def test_conv2d_bn_trains() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = HConv2DBatchNorm(3, 3, activation="relu", beta=1e-6)(HQuantize()(inp))
    model = keras.Model(inp, HDense(2)(PFlatten()(h)))
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype(np.float32)
    model.fit(x, np.zeros((64, 2)), epochs=1, verbose=0)
    bn = model.layers[2]
    assert not np.allclose(bn.moving_variance.numpy(), 1.0)


@pytest.mark.parametrize("rnd", ["stochastic_round", "fast_uniform_noise_injection"])
@pytest.mark.parametrize("jit", [False, True])
def test_random_strategies_train_compiled(models, digits, rnd: str, jit: bool) -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    h = HDense(8, activation="relu", paq_conf={"rnd_strategy": rnd})(HQuantize(paq_conf={"rnd_strategy": rnd})(inp))
    model = keras.Model(inp, HDense(10, kq_conf={"rnd_strategy": rnd})(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
    hist = model.fit(digits[0], digits[1], batch_size=256, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert model.layers[2].paq.inference_round == "TRN"  # rounds to nearest at inference, bias folds it
