"""The model zoo: small HGQ models, each combining several features, for the conversion tests.

Every builder is cheap (no training: seeded random weights, random per-element bitwidths and
BatchNorm statistics, then ``trace_minmax`` on calibration data) and returns
``(model, x_calib, x_test)``. Data are ``N(0, 1) * U(0, 1)`` (seeded, some spread); the test set
is held out from the calibration set, so a few test rows overflow the traced ranges.

Kept SMALL on purpose: each distinct proxy costs one hls4ml compile (~6-15 s) per overflow mode.

=================  ==========================================================================
model              features
=================  ==========================================================================
``dense_hetero``   HQuantize (TRN), HDense relu (bias folds RND), HDenseBatchNorm,
                   HActivation tanh (LUT), heterogeneous activations everywhere
``dense_homog``    Signature input, homogeneous activations (skip_dims 'all'), rnd_strategy
                   floor (TRN) and RND, HActivation sigmoid (LUT), a custom unary function
                   ``sin(x)**2 - x`` (LUT; serializable: registered Keras function)
``conv1d``         HConv1D same + relu, PMaxPooling1D, HConv1D valid stride 2, PAveragePooling1D
                   same with a padded edge pool (size 1), PFlatten, HDense
``conv2d``         HConv2D same + relu (parallel_factor 4), PMaxPooling2D, HConv2DBatchNorm valid, PAveragePooling2D
                   same with padded edge pools (sizes 2x1, 1x2, 1x1), HConv2D stride 2, PFlatten
``branches``       HAdd of two HDense branches, PConcatenate, PReshape, a nested Sequential
                   used as a layer (HDense + HActivation tanh), homogeneous HAdd output
=================  ==========================================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hgq_ir.ir.fixed import FixedFormat, quantize  # noqa: E402
from hgq_ir.training.calibrate import trace_minmax  # noqa: E402
from hgq_ir.training.layers import (  # noqa: E402
    HActivation,
    HAdd,
    HConv1D,
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HDenseBatchNorm,
    HQuantize,
    PAveragePooling1D,
    PAveragePooling2D,
    PConcatenate,
    PFlatten,
    PMaxPooling1D,
    PMaxPooling2D,
    PReshape,
    Signature,
)
from hgq_ir.training.layers.graph import iter_layers  # noqa: E402

N_CALIB, N_TEST = 4096, 1024
Zoo = tuple[keras.Model, np.ndarray, np.ndarray]

HOMOG = {"skip_dims": "all"}
FLOOR = {"rnd_strategy": "floor"}


@keras.saving.register_keras_serializable(package="hgq_ir_zoo")
def sin2_minus_x(x):  # noqa: ANN001, ANN201  (a Keras activation)
    """An arbitrary unary function, only convertible as a lookup table."""
    return keras.ops.sin(x) ** 2 - x


def data(shape: tuple[int, ...], seed: int, n: int = N_CALIB + N_TEST) -> tuple[np.ndarray, np.ndarray]:
    """``(x_calib, x_test)`` of ``N(0,1) * U(0,1)`` samples of ``shape`` (float32, seeded)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, *shape)) * rng.uniform(0, 1, (n, *shape))).astype(np.float32)
    return x[:N_CALIB], x[N_CALIB:]


def randomize(model: keras.Model, seed: int, paq_bits: tuple[int, int] = (1, 4),
              kq_bits: tuple[int, int] = (2, 5)) -> None:
    """Random integer fractional bits per element (paq and kq), biases and BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    for layer in iter_layers(model):
        for q, (lo, hi) in ((getattr(layer, "paq", None), paq_bits), (getattr(layer, "kq", None), kq_bits)):
            if q is not None and q.fbw is not None:
                q.fbw.assign(rng.integers(lo, hi + 1, size=tuple(q.fbw.shape)).astype(np.float32))
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(rng.normal(0, 0.3, size=tuple(bias.shape)).astype(np.float32))
        for name, make in (("moving_mean", lambda s: rng.normal(0, 0.3, s)),
                           ("moving_variance", lambda s: rng.uniform(0.3, 2.0, s)),
                           ("bn_gamma", lambda s: rng.uniform(0.5, 1.5, s)),
                           ("bn_beta", lambda s: rng.normal(0, 0.3, s))):
            v = getattr(layer, name, None)
            if v is not None:
                v.assign(np.asarray(make(tuple(v.shape)), dtype=np.float32))


def _finish(model: keras.Model, x_calib: np.ndarray, x_test: np.ndarray, seed: int) -> Zoo:
    randomize(model, seed)
    trace_minmax(model, x_calib, verbose=False)
    return model, x_calib, x_test


def dense_hetero() -> Zoo:
    """HQuantize -> HDense(relu) -> HDenseBatchNorm -> HActivation(tanh) -> HDense; heterogeneous."""
    keras.utils.set_random_seed(1)
    x_calib, x_test = data((16,), 1)
    inp = keras.Input((16,), name="x")
    h = HQuantize(name="q_in")(inp)
    h = HDense(24, activation="relu", name="d1")(h)
    h = HDenseBatchNorm(16, name="d2_bn")(h)
    h = HActivation("tanh", name="tanh")(h)
    out = HDense(6, name="d3")(h)
    return _finish(keras.Model(inp, out, name="dense_hetero"), x_calib, x_test, 1)


SIGNATURE_FORMAT = FixedFormat(1, 2, 4, "TRN", "SAT")  # Signature(keep_negative=1, bits=7, int_bits=3)


def dense_homog() -> Zoo:
    """Signature -> HDense(relu, homogeneous, floor) -> HActivation(sigmoid) -> HDense -> custom LUT -> HDense."""
    keras.utils.set_random_seed(2)
    x_calib, x_test = (quantize(2 * a, SIGNATURE_FORMAT).astype(np.float32) for a in data((12,), 2))
    inp = keras.Input((12,), name="x")
    h = Signature(keep_negative=1, bits=7, int_bits=3, name="sig")(inp)
    h = HDense(16, activation="relu", paq_conf={**HOMOG, **FLOOR}, name="d1")(h)
    h = HActivation("sigmoid", paq_conf=HOMOG, name="sigm")(h)
    h = HDense(8, paq_conf=FLOOR, name="d2")(h)
    h = HActivation(sin2_minus_x, name="custom")(h)
    out = HDense(4, paq_conf=HOMOG, name="d3")(h)
    return _finish(keras.Model(inp, out, name="dense_homog"), x_calib, x_test, 2)


def conv1d() -> Zoo:
    """HConv1D(same, relu) -> max pool -> HConv1D(valid, stride 2) -> avg pool(same, edge) -> flatten -> HDense."""
    keras.utils.set_random_seed(3)
    x_calib, x_test = data((16, 3), 3)
    inp = keras.Input((16, 3), name="x")
    h = HQuantize(name="q_in")(inp)
    h = HConv1D(4, 3, padding="same", activation="relu", name="c1")(h)  # 16 x 4
    h = PMaxPooling1D(2, name="mp")(h)  # 8 x 4
    h = HConv1D(6, 3, strides=2, name="c2")(h)  # 3 x 6
    h = PAveragePooling1D(2, padding="same", name="ap")(h)  # 2 x 6, edge pool of 1
    h = PFlatten(name="flat")(h)
    out = HDense(4, name="d")(h)
    return _finish(keras.Model(inp, out, name="conv1d"), x_calib, x_test, 3)


def conv2d() -> Zoo:
    """HConv2D(same, relu, pf 4) -> max pool -> HConv2DBatchNorm -> avg pool(same, edges) -> HConv2D(s2) -> flatten."""
    keras.utils.set_random_seed(4)
    x_calib, x_test = data((8, 8, 2), 4)
    inp = keras.Input((8, 8, 2), name="x")
    h = HQuantize(name="q_in")(inp)
    h = HConv2D(3, 3, padding="same", activation="relu", parallel_factor=4, name="c1")(h)  # 8x8x3
    h = PMaxPooling2D(2, name="mp")(h)  # 4x4x3
    h = HConv2DBatchNorm(4, 2, name="c2_bn")(h)  # 3x3x4
    h = PAveragePooling2D(2, padding="same", name="ap")(h)  # 2x2x4, edge pools 2x1, 1x2, 1x1
    h = HConv2D(4, 2, strides=2, padding="same", name="c3")(h)  # 1x1x4
    out = PFlatten(name="flat")(h)
    return _finish(keras.Model(inp, out, name="conv2d"), x_calib, x_test, 4)


def branches() -> Zoo:
    """Two HDense branches -> HAdd -> PConcatenate -> PReshape -> PFlatten -> nested Sequential -> HDense."""
    keras.utils.set_random_seed(5)
    x_calib, x_test = data((12,), 5)
    inp = keras.Input((12,), name="x")
    q = HQuantize(paq_conf=HOMOG, name="q_in")(inp)
    a = HDense(8, activation="relu", name="a")(q)
    b = HDense(8, name="b")(q)
    s = HAdd(paq_conf=HOMOG, name="add")([a, b])
    c = PConcatenate(name="cat")([s, a])  # 16
    r = PReshape((4, 4), name="rs")(c)
    f = PFlatten(name="flat")(r)
    inner = keras.Sequential([keras.Input((16,)), HDense(6, name="inner_d"), HActivation("tanh", name="inner_t")],
                             name="inner")
    h = inner(f)
    out = HDense(3, name="d_out")(h)
    return _finish(keras.Model(inp, out, name="branches"), x_calib, x_test, 5)


ZOO: dict[str, Callable[[], Zoo]] = {
    "dense_hetero": dense_hetero,
    "dense_homog": dense_homog,
    "conv1d": conv1d,
    "conv2d": conv2d,
    "branches": branches,
}
