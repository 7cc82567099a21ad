"""Round trip through ``.keras``: identical outputs, bitwidths and recorded ranges, no custom_objects."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import HActivation, HLayerBase, HQuantize, PAvgPool1D, PConcatenate, PReshape, Signature


def _hgq_state(model: keras.Model) -> dict[str, np.ndarray]:
    state = {}
    for layer in model.layers:
        if isinstance(layer, HLayerBase):
            for q in (layer.kq, layer.paq):
                if q is None:
                    continue
                state[f"{layer.name}/{q.name}/fbw"] = q.fbw.numpy()
                if q.minmax_record:
                    state[f"{layer.name}/{q.name}/min"] = q._min.numpy()
                    state[f"{layer.name}/{q.name}/max"] = q._max.numpy()
    return state


def _round_trip(model: keras.Model, x: np.ndarray, tmp_path: Path) -> keras.Model:
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(ops.convert_to_numpy(model(x)), ops.convert_to_numpy(loaded(x)))
    before, after = _hgq_state(model), _hgq_state(loaded)
    assert before.keys() == after.keys() and before
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    return loaded


@pytest.mark.parametrize("which", ["conv", "branchy"])
def test_trained_models_round_trip(models, digits, which: str, tmp_path: Path) -> None:
    x_train, y_train, _, _ = digits
    x = x_train.reshape(-1, 8, 8, 1) if which == "conv" else x_train
    model = models.compile(getattr(models, which)())
    hist = model.fit(x, y_train, batch_size=128, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    trace_minmax(model, x, verbose=False)
    loaded = _round_trip(model, x[:200], tmp_path)
    for a, b in zip(model.layers, loaded.layers, strict=True):
        if isinstance(a, HLayerBase) and a.has_kernel:
            np.testing.assert_array_equal(a.fused_qkernel, b.fused_qkernel)
            np.testing.assert_array_equal(a.fused_qbias, b.fused_qbias)
            assert a.paq.inference_round == b.paq.inference_round
            for u, v in zip(a.output_kif(), b.output_kif(), strict=True):
                np.testing.assert_array_equal(u, v)
    # the loaded model keeps training
    loaded.fit(x, y_train, batch_size=128, epochs=1, verbose=0)


def test_passive_and_signature_round_trip(tmp_path: Path) -> None:
    inp = keras.Input((8,))
    s = Signature([1] * 8, 6, 3)(inp)
    q = HQuantize(paq_conf={"init_bw": 4, "skip_dims": "all"})(s)
    a = PReshape((8, 1))(q)
    b = PAvgPool1D(2)(a)
    c = PConcatenate(axis=1)([b, PReshape((8, 1))(HActivation("sigmoid")(inp))])
    model = keras.Model(inp, c)
    x = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    loaded = _round_trip(model, x, tmp_path)
    assert loaded.layers[1].format == model.layers[1].format
    assert loaded.get_layer(model.layers[2].name).paq.conf["skip_dims"] == "all"


def test_beta_and_conf_survive(tmp_path: Path) -> None:
    inp = keras.Input((4,))
    layer = HQuantize(beta=3e-5, paq_conf={"init_bw": 5, "rnd_strategy": "floor"})
    model = keras.Model(inp, layer(inp))
    model.save(tmp_path / "q.keras")
    loaded = keras.models.load_model(tmp_path / "q.keras").layers[1]
    assert float(loaded.beta.numpy()) == pytest.approx(3e-5)
    assert loaded.paq.inference_round == "TRN"
    assert float(loaded.paq.conf["regularizer"].l1) == pytest.approx(1e-6)
