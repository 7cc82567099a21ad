"""The proxy layers' two execution paths give the same bits: XLA-compiled (large inputs) and op by op.

``FixedPointQuantizer`` and ``UnaryLUT`` run XLA-compiled under TensorFlow on inputs of at least
``XLA_MIN_ELEMENTS`` elements, op by op below (see ``proxy_layers._run``). Both are compared bit
for bit (float32 bit patterns, so ``-0.0`` and NaN payloads count) on every rounding and overflow
mode, on ties, huge values, subnormals, infinities and NaN, and against ``fixed.quantize`` on grid
values and ties; ``predict`` (batch size unknown when traced: a ``cond`` per batch) is
checked on batches either side of the threshold.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from hgq_ir.backends import proxy_layers
from hgq_ir.backends.proxy_layers import FixedPointQuantizer, UnaryLUT

from hgq_ir.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, quantize

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 0.49999997, -0.49999997, 0.5, -0.5, 2.0**23 + 1,
                    -(2.0**23 + 1), 2.0**24 + 2, 1e-39, -1e-39, 3e38, -3e38, 2.0**-126, -2.0**-126],
                   dtype=np.float32)


N_ROWS = 96


def _inputs(rng: np.random.Generator, feat: tuple[int, ...]) -> np.ndarray:
    """Grid values, exact ties, values over 260 binades and the special values, float32."""
    n = N_ROWS
    grid = rng.integers(-2**12, 2**12, size=(n, *feat)) / 2.0 ** rng.integers(0, 10, size=(n, *feat))
    ties = (rng.integers(-2**10, 2**10, size=(n, *feat)) + 0.5) / 2.0 ** rng.integers(-4, 10, size=(n, *feat))
    wide = rng.normal(size=(n, *feat)) * 2.0 ** rng.integers(-140, 120, size=(n, *feat))
    special = np.broadcast_to(SPECIAL.reshape(-1, *([1] * len(feat))), (len(SPECIAL), *feat))
    return np.concatenate([grid, ties, wide, special]).astype(np.float32)


def _bits(a: object) -> np.ndarray:
    arr = np.asarray(a)
    assert arr.dtype == np.float32
    return arr.view(np.uint32)


def _both_paths(layer: keras.layers.Layer, x: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    monkeypatch.setattr(proxy_layers, "XLA_MIN_ELEMENTS", 1 << 62)
    plain = layer(x)
    monkeypatch.setattr(proxy_layers, "XLA_MIN_ELEMENTS", 0)
    return plain, layer(x)


def _random_format(rng: np.random.Generator, rnd: str, sat: str, wide: bool, shape: tuple[int, ...]) -> FixedFormat:
    """A format of ``shape`` (broadcast to (3, 5)); ``wide``: 126 bits somewhere (``mod``, not the floor)."""
    k = rng.integers(0, 2, size=shape)
    f = rng.integers(-3, 12, size=shape)
    i = np.maximum(rng.integers(-3, 12, size=shape), -f - k)
    if wide:
        i, f = np.array(i), np.array(f)
        i.flat[0], f.flat[0] = 60, 66 - k.flat[0]  # b = 126
    return FixedFormat(k, i, f, rnd, sat)


@pytest.mark.parametrize("wide", [False, True])
def test_quantizer_paths_identical(wide: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mode pair: XLA == op by op bit for bit, and == ``fixed.quantize`` where it is defined."""
    rng = np.random.default_rng(20261130 + wide)
    modes = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
    for j, (rnd, sat) in enumerate(modes if not wide else modes[::5]):
        fmt = _random_format(rng, rnd, sat, wide, ((), (1, 5), (3, 5))[j % 3])  # homogeneous, per column, per element
        x = _inputs(rng, (3, 5))
        plain, xla = _both_paths(FixedPointQuantizer.from_format(fmt), x, monkeypatch)
        np.testing.assert_array_equal(_bits(xla), _bits(plain), err_msg=f"{fmt.summary()}: XLA != op by op")
        if not wide:
            grid = slice(0, 2 * N_ROWS)  # the grid and the ties: where quantize (float64) is the reference
            np.testing.assert_array_equal(np.asarray(plain)[grid], quantize(x[grid], fmt), err_msg=fmt.summary())


def test_lut_paths_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """UnaryLUT: XLA == op by op on every finite input below 1e30 (beyond, ``x * 2**f`` overflows)."""
    rng = np.random.default_rng(7)
    for kif in [(1, 2, 3), (0, 3, 2), (1, 0, 7)]:
        lut = UnaryLUT.from_function(np.tanh, FixedFormat(*kif), FixedFormat(1, 2, 5, "RND", "SAT"))
        x = _inputs(rng, (9,))
        x = x[np.all(np.abs(x) < 1e30, axis=1)]
        plain, xla = _both_paths(lut, x, monkeypatch)
        np.testing.assert_array_equal(_bits(xla), _bits(plain), err_msg=f"kif_in {kif}")


def test_predict_switches_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """In ``predict`` the path is chosen per batch: batches either side of the threshold agree bit for bit."""
    fmt = FixedFormat([1, 0, 1, 1], [2, 3, 0, 1], [3, 1, 4, 2], "RND", "WRAP")
    inp = keras.Input((4,))
    model = keras.Model(inp, FixedPointQuantizer.from_format(fmt, rank=1)(inp))
    x = np.random.default_rng(3).normal(scale=6.0, size=(300, 4)).astype(np.float32)
    monkeypatch.setattr(proxy_layers, "XLA_MIN_ELEMENTS", 256 * 4)  # full batches of 256 XLA, the rest op by op
    got = model.predict(x, batch_size=256, verbose=0)
    np.testing.assert_array_equal(_bits(got), _bits(model.predict(x, batch_size=100, verbose=0)))
    np.testing.assert_array_equal(got, quantize(x, fmt))


def test_function_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``MAX_FUNCTIONS`` traced functions are kept; a dropped one is traced again, same result."""
    monkeypatch.setattr(proxy_layers, "MAX_FUNCTIONS", 2)
    monkeypatch.setattr(proxy_layers, "_FUNCTIONS", type(proxy_layers._FUNCTIONS)())
    rng = np.random.default_rng(11)
    layers = [(FixedPointQuantizer.from_format(FixedFormat(1, 2, 3, "RND", "SAT")), n) for n in (3, 4, 5, 3)]
    for q, n in layers:
        x = rng.normal(scale=4.0, size=(16, n)).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(q(x)), quantize(x, q.format))
        assert len(proxy_layers._FUNCTIONS) <= 2
