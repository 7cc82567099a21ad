"""Nested models in every position of a Keras 3 model: in the middle and as the model's outputs."""

import keras
import numpy as np
import pytest

from hgq_ir.convert import convert, lift
from hgq_ir.ir.interpret import interpret


def _dyadic(model: keras.Model) -> None:
    rng = np.random.default_rng(0)
    for v in model.weights:
        v.assign(rng.integers(-4, 5, size=v.shape) / 4)


def _sub(kind: str, name: str, outs: list[int]) -> keras.Model:
    if kind == "sequential":
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(outs[0], name=f"{name}_d")], name=name)
    i = keras.Input((4,))
    ys = [keras.layers.Dense(n, name=f"{name}_d{j}")(i) for j, n in enumerate(outs)]
    return keras.Model(i, ys if len(ys) > 1 else ys[0], name=name)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_nested_model_in_the_middle_and_as_the_output(kind: str) -> None:
    # Keras 3 numbers a nested Functional's call from 1 in output_layers, from 0 elsewhere
    inp = keras.Input((4,))
    h = _sub(kind, "mid", [4])(keras.layers.Dense(4, name="d0")(inp))
    outs = _sub(kind, "tail", [3] if kind == "sequential" else [3, 2])(keras.layers.Dense(4, name="d1")(h))
    model = keras.Model(inp, outs, name=f"nested_{kind}")
    _dyadic(model)
    x = np.random.default_rng(1).integers(-8, 9, size=(16, 4)) / 8
    want = model.predict(x, verbose=0)
    want = want if isinstance(want, list) else [want]
    for graph in (lift(model), convert(model, to="ir")):
        got = interpret(graph, x)
        got = got if isinstance(got, list) else [got]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
