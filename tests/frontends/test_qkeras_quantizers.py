"""Each QKeras quantizer against its fixed-point formula, on every tie of a fine grid.

QKeras (0.9 and qkeras-v3, in their own processes: ``tests/qkeras_zoo.py``) evaluates activation
quantizers on ``arange(-12, 12, 2**-9)``, which holds every rounding tie of these formats, and
weight quantizers (``alpha=1`` and ``'auto_po2'``) on random kernels. hgq-ir must give the same
values exactly: ``quantize(x, output_format(spec))`` (after the float32 function for tanh/sigmoid)
and ``quantize_weight``.
"""

from __future__ import annotations

import numpy as np
import pytest
import qkeras_zoo as zoo
from hgq_ir.frontends.qkeras_quantizers import (
    activation_steps,
    check_supported,
    float32_function,
    output_format,
    parse_quantizer,
    quantize_weight,
)

from hgq_ir.ir.errors import UnsupportedLayerError
from hgq_ir.ir.fixed import quantize


def _expected(case: str, x: np.ndarray) -> np.ndarray:
    spec = parse_quantizer(case)
    check_supported(spec, "layer", weights=False)
    fn, fmt = activation_steps(spec)
    return quantize(float32_function(fn)(x) if fn else x.astype(np.float64), fmt)


@pytest.mark.parametrize("flavor", zoo.FLAVORS)
@pytest.mark.parametrize(("i", "case"), list(enumerate(zoo.ACTIVATION_CASES)), ids=zoo.ACTIVATION_CASES)
def test_activation_quantizer_is_its_format(qkeras_zoo, flavor, i, case):
    q = np.load(qkeras_zoo(flavor) / "quantizers.npz")
    np.testing.assert_array_equal(_expected(case, q["x"]), q[f"a{i}"])


@pytest.mark.parametrize("flavor", zoo.FLAVORS)
@pytest.mark.parametrize(("i", "case"), list(enumerate(zoo.WEIGHT_CASES)), ids=zoo.WEIGHT_CASES)
def test_weight_quantizer_replayed_exactly(qkeras_zoo, flavor, i, case):
    q = np.load(qkeras_zoo(flavor) / "quantizers.npz")
    spec = parse_quantizer(case)
    if spec.config["alpha"] is None:  # QDense/QConv turn a kernel quantizer without alpha into 'auto_po2'
        spec.config.update(alpha="auto_po2", symmetric=True)
    for j in range(3):
        got = quantize_weight(spec, q[f"k{j}"], "layer", flavor)
        np.testing.assert_array_equal(got, q[f"w{i}_{j}"], err_msg=f"kernel {j}")


@pytest.mark.parametrize("flavor", zoo.FLAVORS)
def test_qkeras_is_not_exact_on_huge_clipped_inputs(qkeras_zoo, flavor):
    # QKeras returns x + (xq - x) in float32 (its straight-through estimator). When x is clipped
    # and xq - x needs more than 24 significant bits, that is not xq: for x = 2**30 and a format
    # with max 1.96875, xq - x rounds to -2**30 and QKeras outputs 0. The IR keeps the clipped value.
    q = np.load(qkeras_zoo(flavor) / "quantizers.npz")
    i = zoo.ACTIVATION_CASES.index("quantized_bits(6,2,alpha=1)")
    want = _expected(zoo.ACTIVATION_CASES[i], q["x_huge"])
    np.testing.assert_array_equal(want, [3.875, -4.0, 3.875, 3.875])
    got = q[f"a{i}_huge"]
    assert (got != want).all(), got
    x = q["x_huge"].astype(np.float32)
    np.testing.assert_array_equal(got, x + (want.astype(np.float32) - x))  # exactly the float32 STE


@pytest.mark.parametrize(("text", "fragment"), [
    ("quantized_bits(4,0,alpha='auto')", "alpha='auto'"),
    ("quantized_bits(4,0,use_stochastic_rounding=True,alpha=1)", "stochastic rounding"),
    ("quantized_po2(4)", "quantized_po2"),
    ("quantized_relu(4,0,negative_slope=0.25)", "negative_slope"),
    ("quantized_bits(1,0,alpha=1)", "binary"),
    ("quantized_bits(4,0,alpha=0.3)", "power of two"),
])
def test_unsupported_quantizer_names_layer_and_quantizer(text, fragment):
    with pytest.raises(UnsupportedLayerError, match="dense_7") as e:
        check_supported(parse_quantizer(text), "dense_7", weights=True)
    assert fragment in str(e.value) and "use" in str(e.value)


@pytest.mark.parametrize(("text", "fragment"), [("quantized_bits(4,0,alpha='auto_po2')", "each batch"),
                                              ("quantized_bits(4,0,alpha=2)", "multiplies")])
def test_scaled_activation_quantizer_is_refused(text, fragment):
    with pytest.raises(UnsupportedLayerError, match=f"act_1.*{fragment}"):
        check_supported(parse_quantizer(text), "act_1", weights=False)


def test_parse_forms_agree():
    text = parse_quantizer("quantized_bits(6, 2, 1, alpha=1)")
    cfg = parse_quantizer({"class_name": "quantized_bits", "config": {"bits": 6, "integer": 2, "symmetric": 1,
                                                                       "alpha": 1}})
    assert text == cfg
    assert output_format(text).summary() == "fx<k1 i2 f3 RND_CONV SAT_SYM>"
    assert parse_quantizer("relu") == "relu"
    assert parse_quantizer(None) is None
