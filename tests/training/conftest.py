"""Shared fixtures of the HGQ layer tests: the digits data and small model builders."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hgq_ir.training.layers import (  # noqa: E402
    HActivation,
    HAdd,
    HConv2D,
    HDense,
    HDenseBatchNorm,
    HQuantize,
    PFlatten,
    PMaxPooling2D,
)


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn digits: train = first 1400 rows, test = the rest; inputs / 16, float32."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    return x[:1400], y[:1400], x[1400:], y[1400:]


def mlp(beta: float = 0.0, seed: int = 0) -> keras.Model:
    """HQuantize -> HDense(32, relu) -> HDense(10) on 64 inputs."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64,))
    h = HQuantize(beta=beta)(inp)
    h = HDense(32, activation="relu", beta=beta)(h)
    return keras.Model(inp, HDense(10, beta=beta)(h))


def conv_model(beta: float = 1e-7, seed: int = 0) -> keras.Model:
    """HQuantize -> HConv2D(4, 3, relu) -> PMaxPooling2D -> PFlatten -> HDense(10) on 8x8x1."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    h = HQuantize(beta=beta)(inp)
    h = HConv2D(4, 3, activation="relu", beta=beta)(h)
    h = PMaxPooling2D(2)(h)
    h = PFlatten()(h)
    return keras.Model(inp, HDense(10, beta=beta)(h))


def branchy_model(beta: float = 1e-7, seed: int = 0) -> keras.Model:
    """HQuantize -> two HDenseBatchNorm branches -> HAdd -> HActivation('tanh') -> HDense(10)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64,))
    q = HQuantize(beta=beta)(inp)
    a = HDenseBatchNorm(16, beta=beta)(q)
    b = HDense(16, beta=beta)(HQuantize(beta=beta)(inp))
    s = HAdd(beta=beta)([a, b])
    t = HActivation("tanh", beta=beta)(s)
    return keras.Model(inp, HDense(10, beta=beta)(t))


def compile_for_digits(model: keras.Model, lr: float = 3e-3) -> keras.Model:
    """Adam + sparse categorical cross-entropy on logits, with accuracy."""
    model.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


class Builders:
    """The model builders of this file, handed to tests through the ``models`` fixture."""

    mlp = staticmethod(mlp)
    conv = staticmethod(conv_model)
    branchy = staticmethod(branchy_model)
    compile = staticmethod(compile_for_digits)


@pytest.fixture
def models() -> type[Builders]:
    """Model builders: ``models.mlp(beta)``, ``models.conv()``, ``models.branchy()``, ``models.compile(m)``."""
    return Builders
