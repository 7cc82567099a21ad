"""Typed errors and warnings of the conversion: each names what is wrong and what to do."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import zoo

from hgq_ir.convert import convert, to_proxy_model
from hgq_ir.ir.errors import NotBitExactWarning, TableTooLargeError, UnsupportedLayerError, UntracedModelError
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import HActivation, HDense, HQuantize


def _mlp(name: str = "mlp") -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,))
    h = HQuantize(name="q_in")(inp)
    h = HDense(6, activation="relu", name="hidden")(h)
    return keras.Model(inp, HDense(3, name="head")(h), name=name)


def test_untraced_model_names_layer_and_trace_minmax() -> None:
    with pytest.raises(UntracedModelError, match="trace_minmax") as e:
        to_proxy_model(_mlp())
    assert "q_in" in str(e.value)


def test_unsupported_layer_names_layer_class_and_supported() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 3))
    h = HQuantize(name="q_in")(inp)
    h = keras.layers.GRU(4, name="my_gru")(h)
    model = keras.Model(inp, HDense(2, name="head")(h))
    x, _ = zoo.data((5, 3), 0, n=64)
    trace_minmax(model, x, verbose=False)
    with pytest.raises(UnsupportedLayerError) as e:
        to_proxy_model(model)
    msg = str(e.value)
    assert "my_gru" in msg and "GRU" in msg
    assert "supported" in msg and "HDense" in msg and "Conv2D" in msg


def test_custom_function_table_too_large() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = HQuantize(paq_conf={"init_bw": 3}, name="q_in")(inp)
    h = HActivation(zoo.sin2_minus_x, name="custom")(h)
    model = keras.Model(inp, HDense(2, name="head")(h))
    x, _ = zoo.data((4,), 0, n=256)
    trace_minmax(model, x, verbose=False)
    with pytest.raises(TableTooLargeError) as e:
        convert(model, unary_lut_max_table_size=8)
    msg = str(e.value)
    assert "custom" in msg and "unary_lut_max_table_size=8" in msg
    size = int(msg.split("table of ")[1].split()[0])
    assert size > 8
    convert(model, unary_lut_max_table_size=size)  # exactly at the limit: fine


def test_float32_hazard_warns_naming_value() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,))
    h = HQuantize(paq_conf={"init_bw": 20}, name="q_wide")(inp)
    model = keras.Model(inp, HDense(3, name="wide_dense")(h))
    x, _ = zoo.data((8,), 0, n=256)
    trace_minmax(model, x * 1000, verbose=False)
    with pytest.warns(NotBitExactWarning, match=r"24 significant bits\).*wide_dense_op \(\d+ bits\)"):
        proxy = to_proxy_model(model)
    assert proxy is not None
    assert np.isfinite(proxy.predict(x, verbose=0)).all()


def test_unfused_batchnorm_warns_not_bit_exact_naming_the_layer() -> None:
    # a BatchNormalization after a quantizer (no kernel layer to fold into) stays a float op
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    h = HQuantize(name="q_in")(inp)
    h = keras.layers.BatchNormalization(name="lonely_bn")(h)
    model = keras.Model(inp, HDense(3, name="head")(h), name="unfused_bn")
    x, _ = zoo.data((6,), 0, n=64)
    trace_minmax(model, x, verbose=False)
    graph = convert(model, to="ir")
    assert [n.op.kind for n in graph.nodes if n.name == "lonely_bn"] == ["BatchNorm"]
    with pytest.warns(NotBitExactWarning, match="lonely_bn"):
        to_proxy_model(model)


def test_plain_keras_model_warns_naming_its_float_layers() -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = keras.layers.Dense(3, name="plain_dense")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, name="plain_head")(h), name="plain")
    with pytest.warns(NotBitExactWarning, match="plain_dense.*plain_head"):
        to_proxy_model(model)
