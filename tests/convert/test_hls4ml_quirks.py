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
from hgq_ir.layers import HQuantize, PFlatten, PMaxPooling1D


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
