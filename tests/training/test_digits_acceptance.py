"""Acceptance on scikit-learn digits: accuracy close to float, BOPs falling with beta.

Train = first 1400 rows, test = the rest, inputs / 16; 100 epochs, batch 128, Adam(3e-3).
"""

from __future__ import annotations

import keras
import numpy as np

from hgq_ir.training.calibrate import trace_minmax

EPOCHS, BATCH = 100, 128


def _fit(model: keras.Model, digits, models) -> float:
    x_train, y_train, x_test, y_test = digits
    models.compile(model)
    model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, verbose=0)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def _float_mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    h = keras.layers.Dense(32, activation="relu")(inp)
    return keras.Model(inp, keras.layers.Dense(10)(h))




def test_hgq_accuracy_close_to_float(models, digits) -> None:
    acc_float = _fit(_float_mlp(), digits, models)
    model = models.mlp(beta=1e-7)
    acc_hgq = _fit(model, digits, models)
    trace_minmax(model, digits[0], verbose=False)
    print(f"digits test accuracy: float {acc_float:.4f}, HGQ beta=1e-7 {acc_hgq:.4f}")
    assert acc_float > 0.9
    assert acc_hgq >= acc_float - 0.02, f"HGQ {acc_hgq:.4f} vs float {acc_float:.4f}"


def test_bops_fall_with_beta(models, digits) -> None:
    bops = []
    for beta in (0.0, 1e-6, 1e-5):
        model = models.mlp(beta=beta)
        _fit(model, digits, models)
        bops.append(trace_minmax(model, digits[0], verbose=False))
    print(f"digits BOPs for beta 0, 1e-6, 1e-5: {bops}")
    assert bops[0] > bops[1] > bops[2] > 0, bops
    assert np.isfinite(bops).all()
