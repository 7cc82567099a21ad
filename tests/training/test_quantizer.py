"""The heterogeneous quantizer: forward values, surrogate gradient, bit counting, configs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from hgq_ir.ir.errors import ConfigError, UntracedModelError
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.training.layers import HQuantize
from hgq_ir.training.quantizer import (
    MonoL1,
    get_default_kq_conf,
    get_default_paq_conf,
    kif_of_range,
    kif_of_values,
    set_default_kq_conf,
    set_default_paq_conf,
)


def _quantizer_layer(fbw: float, rnd: str = "standard_round", shape: tuple = (4,)) -> HQuantize:
    layer = HQuantize(paq_conf={"init_bw": fbw, "rnd_strategy": rnd})
    layer.build((None, *shape))
    return layer


def test_default_configs_have_upstream_keys() -> None:
    kq, paq = get_default_kq_conf(), get_default_paq_conf()
    assert len(kq) == 8 and len(paq) == 9 and "minmax_record" not in kq
    assert paq["skip_dims"] == (0,) and kq["skip_dims"] is None
    assert isinstance(kq["regularizer"], MonoL1)
    kq["init_bw"] = 99
    assert get_default_kq_conf()["init_bw"] == 2, "get_default_kq_conf must return a copy"


def test_set_default_conf_rejects_wrong_keys() -> None:
    conf = get_default_kq_conf()
    conf["init_bws"] = conf.pop("init_bw")
    with pytest.raises(ConfigError, match=r"missing keys: \['init_bw'\], unknown keys: \['init_bws'\]"):
        set_default_kq_conf(conf)
    with pytest.raises(ConfigError, match=r"missing keys: \['minmax_record'\]"):
        paq = get_default_paq_conf()
        del paq["minmax_record"]
        set_default_paq_conf(paq)


def test_set_default_conf_applies_and_restores() -> None:
    old = get_default_paq_conf()
    new = get_default_paq_conf()
    new["init_bw"] = 5
    set_default_paq_conf(new)
    try:
        q = HQuantize()
        q.build((None, 3))
        assert np.all(ops.convert_to_numpy(q.paq.fbw) == 5)
    finally:
        set_default_paq_conf(old)


def test_layer_conf_rejects_unknown_key() -> None:
    with pytest.raises(ConfigError, match="unknown paq_conf keys \\['bits'\\]"):
        HQuantize(paq_conf={"bits": 3})


def test_inference_matches_numpy_quantize() -> None:
    layer = _quantizer_layer(3.0)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32) * 3
    got = ops.convert_to_numpy(layer(x, training=False))
    ref = quantize(x, FixedFormat(1, 10, 3, "RND", "WRAP"))
    np.testing.assert_array_equal(got, ref)


def test_floor_strategy_truncates_at_inference() -> None:
    layer = _quantizer_layer(2.0, "floor")
    x = np.array([[0.3, -0.3, 0.9, -0.01]], np.float32)
    got = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(got, [[0.25, -0.5, 0.75, -0.25]])
    assert layer.paq.inference_round == "TRN"


@pytest.mark.parametrize("rnd", ["standard_round", "stochastic_round", "fast_uniform_noise_injection", "floor"])
def test_surrogate_gradient(rnd: str) -> None:
    layer = _quantizer_layer(2.0, rnd)
    x = tf.constant(np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out = layer(x, training=True)
        total = ops.sum(out)
    gx = tape.gradient(total, x).numpy()
    gf = tape.gradient(total, layer.paq.fbw.value).numpy()
    np.testing.assert_allclose(gx, 1.0)  # straight-through
    delta = out.numpy() - x.numpy()
    np.testing.assert_allclose(gf, -np.log(2) * delta.sum(0, keepdims=True), rtol=1e-4, atol=1e-5)
    step = 0.25
    if rnd != "fast_uniform_noise_injection":  # noise injection is off-grid by design
        assert np.allclose(np.round(out.numpy() / step), out.numpy() / step), "training values stay on the grid"


def test_untraced_error_names_layer() -> None:
    layer = _quantizer_layer(2.0)
    with pytest.raises(UntracedModelError, match=f"{layer.name}/paq.*run trace_minmax first"):
        layer.paq.get_bits_exact()


def test_bits_from_record() -> None:
    k, i, f = kif_of_range(np.array([-1.0, 0.0, 0.0, 0.25]), np.array([0.75, 3.0, 0.0, 0.5]), 2, pos_only=False)
    assert k.tolist() == [1, 0, 0, 0]
    assert i.tolist() == [0, 2, 0, 0]
    assert f.tolist() == [2, 2, 0, 2]
    k, i, f = kif_of_range(np.array([-4.0]), np.array([1.0]), np.array([1]), pos_only=True)
    assert (k.item(), i.item(), f.item()) == (0, 1, 1)


def test_bits_of_weights_follow_upstream_examples() -> None:
    k, i, f = kif_of_values(np.array([0.5, 0.375, 6.0, -6.0, 0.0]))
    assert (i + f).tolist() == [1, 2, 2, 2, 0]
    assert k.tolist() == [0, 0, 0, 1, 0]
    assert i.tolist() == [0, -1, 3, 3, 0]


def test_record_and_get_bits_exact_cover_values() -> None:
    layer = _quantizer_layer(3.0, shape=(5,))
    x = np.random.default_rng(2).normal(size=(500, 5)).astype(np.float32) * [1, 4, 0.1, 10, 0]
    layer.record_minmax = True
    out = ops.convert_to_numpy(layer(x, training=False))
    k, i, f = layer.paq.get_bits_exact()
    assert k.shape == (1, 5)
    fmt = FixedFormat(k, i, f, "TRN", "SAT")
    np.testing.assert_array_equal(quantize(out, fmt), out)  # every recorded value fits exactly
    assert (k + i + f)[0, 4] == 0


def test_mono_l1_is_monotone() -> None:
    reg = MonoL1(1e-3)
    assert float(reg(ops.convert_to_tensor([-2.0, 3.0]))) == pytest.approx(1e-3)
    with pytest.raises(ConfigError):
        MonoL1(-1.0)


def test_bw_clip_constraint() -> None:
    layer = _quantizer_layer(2.0)
    assert layer.paq.fbw.constraint(ops.convert_to_tensor([30.0, -40.0])).numpy().tolist() == [23.0, -23.0]
    assert isinstance(layer.paq.fbw, keras.Variable)
