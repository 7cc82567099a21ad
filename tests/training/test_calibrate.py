"""trace_minmax: input kinds, streaming, nested models, cover factor, clamps, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from hgq_ir.ir.errors import HgqIrError, UntracedModelError
from hgq_ir.training.calibrate import compute_bops, trace_minmax
from hgq_ir.training.layers import HActivation, HDense, HQuantize


def _traced_state(model: keras.Model) -> list[np.ndarray]:
    return [a for layer in model.layers if hasattr(layer, "paq") for a in layer.paq.get_bits_exact()]


def test_array_dataset_and_iterable_agree(models, digits) -> None:
    x = digits[0]
    model = models.mlp()
    bops_np = trace_minmax(model, x, bsz=100, verbose=False)
    state = _traced_state(model)
    ds = tf.data.Dataset.from_tensor_slices((x, digits[1])).batch(300)
    assert trace_minmax(model, ds, verbose=False) == bops_np
    assert all(np.array_equal(a, b) for a, b in zip(state, _traced_state(model), strict=True))
    gen = (x[i:i + 64] for i in range(0, len(x), 64))
    assert trace_minmax(model, gen, verbose=False) == bops_np


def test_predictions_and_verbose_table(models, digits, capsys) -> None:
    model = models.mlp()
    bops, preds = trace_minmax(model, digits[0][:50], bsz=16, return_predictions=True)
    assert preds.shape == (50, 10)
    np.testing.assert_array_equal(preds, keras.ops.convert_to_numpy(model(digits[0][:50])))
    out = capsys.readouterr().out
    assert "h_dense" in out and "total" in out and f"{bops:,.0f}" in out


def test_many_calls_do_not_warn_about_retracing(caplog) -> None:
    # each call compiles a fresh function on purpose; TF must not call that "excessive retracing"
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    with caplog.at_level("WARNING", logger="tensorflow"):
        for _ in range(7):
            model = keras.Sequential([keras.Input((4,)), HQuantize(), HDense(3)])
            trace_minmax(model, x, verbose=False)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


def test_no_bops_and_no_reset(models, digits) -> None:
    model = models.mlp()
    assert trace_minmax(model, digits[0][:10], verbose=False, no_bops_computation=True) == -1
    q = model.layers[1].paq
    hi_small = q._max.numpy().copy()
    trace_minmax(model, digits[0], verbose=False, rst=False)
    assert np.all(q._max.numpy() >= hi_small)


def test_empty_dataset_is_a_clear_error(models) -> None:
    model = models.mlp()
    with pytest.raises(HgqIrError, match="the dataset is empty"):
        trace_minmax(model, np.zeros((0, 64), np.float32), verbose=False)
    with pytest.raises(HgqIrError, match="the dataset is empty"):
        trace_minmax(model, tf.data.Dataset.from_tensor_slices(np.zeros((0, 64), np.float32)).batch(4),
                     verbose=False)


def test_untraced_model_error(models) -> None:
    model = models.mlp()
    with pytest.raises(UntracedModelError, match="run trace_minmax first"):
        compute_bops(model)


def test_nested_models_are_traced(digits) -> None:
    inner_in = keras.Input((64,))
    inner = keras.Model(inner_in, HDense(8, activation="relu")(HQuantize()(inner_in)), name="inner")
    inp = keras.Input((64,))
    model = keras.Model(inp, HDense(3)(inner(inp)))
    bops = trace_minmax(model, digits[0], verbose=False)
    assert bops == 0 or bops > 0
    k, i, f = inner.layers[2].paq.get_bits_exact()
    assert k.shape == (1, 8)


def test_layers_around_nested_models_count_bops(digits) -> None:
    # The first layer inside a nested model reads the outer producer's widths, the layer after it
    # the nested model's last layer's (upstream HGQ fails there; this used to count 0 for both).
    inner2_in = keras.Input((8,))
    inner2 = keras.Model(inner2_in, HActivation("tanh", name="t")(HDense(6, name="d2")(inner2_in)), name="inner2")
    inner_in = keras.Input((64,))
    inner = keras.Model(inner_in, inner2(HDense(8, name="d1")(inner_in)), name="inner")
    inp = keras.Input((64,))
    q = HQuantize(name="q")
    out = HDense(3, name="d3")(inner(q(inp)))
    model = keras.Model(inp, out)
    total = trace_minmax(model, digits[0], verbose=False)
    d1, d2, t, d3 = (inner.get_layer("d1"), inner2.get_layer("d2"), inner2.get_layer("t"), model.get_layer("d3"))
    expected = {}
    for layer, pred in ((d1, q), (d2, d1), (d3, t)):
        bw = np.asarray(pred.act_bw(exact=True), np.float64)
        _, i, f = layer.kernel_kif()
        expected[layer.name] = float(np.sum(bw @ (i + f)))
        assert expected[layer.name] > 0
        assert layer.compute_exact_bops() == expected[layer.name]
    assert total == sum(expected.values())


def test_multi_input_list_of_arrays() -> None:
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], HDense(2)(HQuantize()(keras.layers.Add()([a, b]))))
    x = [np.ones((10, 3), np.float32), np.ones((10, 3), np.float32)]
    assert trace_minmax(model, x, bsz=4, verbose=False) > 0
    assert model.layers[3].paq._max.numpy().max() == 2.0


def test_cover_factor_widens_and_clamps() -> None:
    inp = keras.Input((4,))
    q = HQuantize(paq_conf={"init_bw": 4})
    t = HActivation("tanh", paq_conf={"init_bw": 4})
    model = keras.Model(inp, t(q(inp)))
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32) * 3
    trace_minmax(model, x, verbose=False)
    lo1, hi1 = q.paq._min.numpy(), q.paq._max.numpy()
    with pytest.warns(UserWarning, match="cover_factor 0.5 < 1"):
        trace_minmax(model, x, verbose=False, cover_factor=0.5)
    trace_minmax(model, x, verbose=False, cover_factor=3.0)
    assert np.all(q.paq._max.numpy() - q.paq._min.numpy() > hi1 - lo1)
    assert np.all(t.paq._max.numpy() <= 1.0) and np.all(t.paq._min.numpy() >= -1.0)
    with pytest.raises(HgqIrError, match="cover_factor must be > 0"):
        trace_minmax(model, x, verbose=False, cover_factor=0)


def test_training_loss_counts_the_first_layer_inside_a_nested_model(digits) -> None:
    # the callbacks link nested models before the first step is traced: d1 reads q's widths
    from hgq_ir.training.callbacks import FreeBOPs

    inner_in = keras.Input((64,))
    inner = keras.Model(inner_in, HDense(8, name="d1")(inner_in), name="inner")
    inp = keras.Input((64,))
    model = keras.Model(inp, HDense(3, name="d3")(inner(HQuantize(name="q")(inp))))
    model.compile("adam", "mse")
    x = digits[0][:64]
    model.fit(x, np.zeros((len(x), 3), np.float32), epochs=1, batch_size=64, verbose=0, callbacks=[FreeBOPs()])
    assert float(inner.get_layer("d1").bops.numpy()) > 0
