"""QBatchNormalization, bit for bit where QKeras itself is exact, and why not where it is not.

``qbn`` of ``tests/qkeras_zoo.py``: twice QDense -> QBatchNormalization -> QActivation, with
quantized_bits parameter quantizers (QKeras' default po2 ones are refused, naming the layer).

- qkeras-v3 computes ``s = gamma / sqrt(var + eps)`` with a correctly rounded sqrt; with an
  ``inverse_quantizer`` on ``s`` (``bn1``) or variances making ``var + eps`` a power of 4 (``bn2``),
  ``s`` and ``t`` are short dyadics and QKeras' float32 ``x * s + t`` is exact: QKeras == interpret
  == proxy on every row.
- QKeras 0.9 takes ``rsqrt`` from TensorFlow's vectorized kernel, which is not correctly rounded
  (``rsqrt(1.0) = 1 - 2**-23`` on vectors), so ``s`` has a full 24-bit mantissa whatever the
  quantizers: QKeras rounds ``x * s`` and ``+ t`` to float32, the IR computes them exactly. The test
  pins that this is the *only* difference (the lifted IR with BatchNorm evaluated in float32 equals
  QKeras on every row) and that the conversion says so (a NotBitExactWarning on the folded layers).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import qkeras_zoo as zoo

import hgq_ir
from hgq_ir.ir.errors import UnsupportedLayerError

EXT = {"qkeras09": ".h5", "qkeras3": ".keras"}


def _ld(d, name):
    return np.load(d / f"{name}.npy")


def test_qkeras3_batchnorm_qkeras_equals_interpret_equals_proxy(qkeras_zoo):
    d = qkeras_zoo("qkeras3") / "qbn"
    y = _ld(d, "y_qkeras")
    assert len(y) == zoo.N_TEST and len(np.unique(y)) > 50
    np.testing.assert_array_equal(_ld(d, "y_interp"), y)
    np.testing.assert_array_equal(_ld(d, "y_proxy"), y)
    np.testing.assert_array_equal(_ld(d, "y_f32bn"), y)  # QKeras' float32 arithmetic is the exact one here
    assert json.loads((d / "warnings.json").read_text()) == []
    graph = hgq_ir.lift(d / "model.keras")  # both batchnorms read from the file, inverse_quantizer applied
    assert [n.name for n in graph.nodes if n.op.kind == "BatchNorm"] == ["bn1", "bn2"]
    s1 = graph.node("bn1").weights["gamma"].array
    assert np.array_equal(s1 * 16, np.round(s1 * 16))  # quantized_bits(8, 3): a multiple of 2**-4


def test_qkeras09_batchnorm_differs_only_by_qkeras_float32_arithmetic(qkeras_zoo):
    assert ("qkeras09", "qbn") in zoo.INEXACT
    d = qkeras_zoo("qkeras09") / "qbn"
    y, y_interp, y_f32 = _ld(d, "y_qkeras"), _ld(d, "y_interp"), _ld(d, "y_f32bn")
    np.testing.assert_array_equal(y_f32, y)  # the IR with float32 BatchNorm arithmetic is QKeras, every row
    rows_equal = np.all(y_interp == y, axis=1)
    assert 0.5 < rows_equal.mean() < 1.0  # the exact value differs near ties of the next quantizer
    warned = json.loads((d / "warnings.json").read_text())
    assert any("> 24 significant bits" in w and "d1" in w for w in warned), warned


@pytest.mark.parametrize("flavor", list(EXT))
def test_default_po2_batchnorm_quantizers_are_refused_naming_the_layer(qkeras_zoo, flavor):
    with pytest.raises(UnsupportedLayerError, match=r"layer 'default_bn'.*quantized_(relu_)?po2.*quantized_bits"):
        hgq_ir.lift(qkeras_zoo(flavor) / f"error_default_bn{EXT[flavor]}")
