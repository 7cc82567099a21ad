"""hls4ml 1.3 quirks the proxy target cannot rewrite away: pinned, and flagged before emission.

Each test shows the pattern on a real HGQ model: hgq-ir warns (NotBitExactWarning naming the
layer) exactly where hls4ml's C simulation disagrees with the proxy and the IR, and stays silent
and exact on the neighbouring pattern that hls4ml does compute right.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from hls4ml_harness import HlsModel

import hgq_ir
from hgq_ir.ir.errors import NotBitExactWarning
from hgq_ir.layers import HDense, HQuantize, PFlatten, PMaxPooling1D


def _max_pool_model(signed: bool) -> tuple[keras.Model, np.ndarray]:
    """HQuantize -> PMaxPooling1D(2, 'same') on 5 steps (the last window is padded) -> PFlatten."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 2))
    h = HQuantize(name="q")(inp)
    h = PMaxPooling1D(2, strides=2, padding="same", name="mp")(h)
    model = keras.Model(inp, PFlatten(name="fl")(h), name=f"maxpool_{'signed' if signed else 'unsigned'}")
    x = np.random.default_rng(0).normal(size=(512, 5, 2)).astype("float32")
    x = x if signed else np.abs(x)
    hgq_ir.trace_minmax(model, x, verbose=False)
    return model, x


def test_padded_max_pool_on_unsigned_values_is_flagged_and_really_differs(tmp_path) -> None:
    model, x = _max_pool_model(signed=False)
    with pytest.warns(NotBitExactWarning, match=r"'mp' \(MaxPool1D\).*padding='valid'"):
        proxy = hgq_ir.to_proxy_model(model)
    with pytest.warns(NotBitExactWarning, match="'mp'"):
        legal = hgq_ir.convert(model, to="ir", target="proxy")
    want = hgq_ir.interpret(legal, x)
    np.testing.assert_array_equal(np.asarray(proxy.predict(x, verbose=0), np.float64), want)
    got = HlsModel(proxy, tmp_path).predict(x)
    # the padded window (output step 2) is where hls4ml's pad value wins; the others agree
    np.testing.assert_array_equal(got[:, :4], want[:, :4])
    assert np.all(got[:, 4:] >= want[:, 4:]) and np.mean(got[:, 4:] != want[:, 4:]) > 0.9


def test_padded_max_pool_on_signed_values_is_exact_and_silent(tmp_path) -> None:
    model, x = _max_pool_model(signed=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotBitExactWarning)
        proxy = hgq_ir.to_proxy_model(model)
        legal = hgq_ir.convert(model, to="ir", target="proxy")
    want = hgq_ir.interpret(legal, x)
    np.testing.assert_array_equal(np.asarray(proxy.predict(x, verbose=0), np.float64), want)
    np.testing.assert_array_equal(HlsModel(proxy, tmp_path).predict(x), want)


def test_three_way_add_is_chained_in_pairs_and_exact(tmp_path) -> None:
    # hls4ml 1.3's Add takes two inputs: the proxy chains pairs (here the same tensor three times)
    from hgq_ir.layers import HAdd

    keras.utils.set_random_seed(1)
    inp = keras.Input((4,))
    h = HQuantize(name="q")(inp)
    model = keras.Model(inp, HAdd(name="sum3")([h, h, h]), name="add3")
    x = np.random.default_rng(1).normal(size=(512, 4)).astype("float32")
    hgq_ir.trace_minmax(model, x, verbose=False)
    proxy = hgq_ir.to_proxy_model(model)
    want = hgq_ir.interpret(hgq_ir.convert(model, to="ir", target="proxy"), x)
    np.testing.assert_array_equal(np.asarray(proxy.predict(x, verbose=0), np.float64), want)
    np.testing.assert_array_equal(HlsModel(proxy, tmp_path).predict(x), want)
    np.testing.assert_array_equal(np.asarray(model.predict(x, verbose=0), np.float64), want)


def test_activation_hls4ml_cannot_convert_is_refused_naming_the_layer() -> None:
    # softplus on an input with 2**11 values: no table under the default limit, and hls4ml's
    # bit-exact flow fails on a non-table softplus
    from hgq_ir.ir.errors import UnsupportedLayerError
    from hgq_ir.layers import HActivation

    keras.utils.set_random_seed(2)
    inp = keras.Input((4,))
    h = HQuantize(name="q", paq_conf={"init_bw": 8})(inp)
    model = keras.Model(inp, HActivation("softplus", name="soft")(h), name="softplus_wide")
    hgq_ir.trace_minmax(model, np.random.default_rng(2).normal(size=(256, 4)).astype("float32"), verbose=False)
    with pytest.raises(UnsupportedLayerError, match=r"'soft' \(softplus\).*lookup table.*unary_lut_max_table_size"):
        hgq_ir.to_proxy_model(model)
    hgq_ir.to_proxy_model(model, unary_lut_max_table_size=2**14)  # as a table it converts


def test_model_of_quantizers_only_is_flagged() -> None:
    keras.utils.set_random_seed(3)
    inp = keras.Input((4,))
    model = keras.Model(inp, HQuantize(name="q")(inp), name="only_q")
    hgq_ir.trace_minmax(model, np.random.default_rng(3).normal(size=(64, 4)).astype("float32"), verbose=False)
    with pytest.warns(NotBitExactWarning, match="'q' is input 'input.*' through quantizers and reshapes only"):
        hgq_ir.to_proxy_model(model)


def test_outputs_folded_into_an_input_or_each_other_are_flagged() -> None:
    # hls4ml drops the reshape and folds the quantizer: 'flat' is the input, and 'q2' and 'r' are one tensor
    keras.utils.set_random_seed(4)
    inp = keras.Input((4,))
    q = HQuantize(name="q")(inp)
    flat = keras.layers.Reshape((2, 2), name="flat")(q)
    d = HDense(3, name="d")(q)
    r = keras.layers.Reshape((3, 1), name="r")(d)
    model = keras.Model(inp, [flat, d, r], name="folded")
    hgq_ir.trace_minmax(model, np.random.default_rng(4).normal(size=(64, 4)).astype("float32"), verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hgq_ir.to_proxy_model(model)
    msgs = [str(w.message) for w in caught if issubclass(w.category, NotBitExactWarning)]
    assert any("'flat' is input" in m for m in msgs), msgs
    assert any("outputs 'd' and 'r' are the same tensor" in m for m in msgs), msgs
    assert not any("'d' is input" in m for m in msgs), msgs
