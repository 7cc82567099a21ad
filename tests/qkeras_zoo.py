"""The QKeras zoo: small QKeras models built, run and converted in a process of their own.

QKeras 0.9 needs tf_keras (``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported) and qkeras-v3
installs the same ``qkeras`` module name, so neither can load into the pytest process. Run as::

    python tests/qkeras_zoo.py {qkeras09|qkeras3} OUT_DIR

it builds every model of the flavor with seeded random weights, and writes per model into
``OUT_DIR/<name>/``: ``x.npy`` (test inputs), ``y_qkeras.npy`` (the QKeras model's predictions),
``y_interp.npy`` (``interpret`` of the live model's IR), ``y_proxy.npy`` (its proxy's
predictions), ``proxy.keras`` and the model file (``model.h5`` for 0.9, ``model.keras`` for v3).

=================  ==========================================================================
model              features
=================  ==========================================================================
``mlp``            QActivation quantized_bits input, QDense alpha=1 + quantized_relu, plain
                   ``relu``, quantized_bits activation, Dense without bias
``conv1d``         QConv1D same + quantized_relu, MaxPooling1D, QConv1D valid stride 2, Flatten
``conv2d``         QConv2D + quantized_relu, QAveragePooling2D with an activation quantizer,
                   QConv2D same stride 2, MaxPooling2D, Flatten, QDense
``conv2d_bn``      QConv2DBatchnorm (default kernel quantizer: auto_po2) + quantized_relu
``auto_po2``       QDense kernel quantized_bits without alpha (QKeras makes it auto_po2),
                   explicit alpha='auto_po2' on a QConv1D, keep_negative=False activation
``symmetric``      symmetric kernels and activations (SAT_SYM), alpha=1
``tanh_lut``       quantized_tanh(use_real_tanh) and quantized_sigmoid (hard and real) through
                   lookup tables, a plain tanh quantized after it, hard quantized_tanh
``dense_bn``       QDenseBatchnorm (qkeras-v3 only: QKeras 0.9 has no QDenseBatchnorm)
``qbn``            twice QDense -> QBatchNormalization (folded into it) -> QActivation, quantized_bits
                   parameter quantizers (the default po2 ones are refused), epsilon 1/16. qkeras-v3:
                   ``bn1`` quantizes ``s = gamma / sqrt(var + eps)`` with an ``inverse_quantizer``,
                   ``bn2`` has moving variances ``4**n - 1/16`` (so ``s = gamma * 2**-n``): exact.
                   QKeras 0.9 is not exact (see ``INEXACT``); ``y_f32bn.npy`` is interpret of the
                   lifted IR with every BatchNorm computed as QKeras 0.9 does, in float32
``adc_mlp``        QDense on the raw input (8-bit ADC counts, no QActivation): converted with
                   ``calibration=`` (``x_calib.npy``); also ``x_out.npy``, rows beyond the
                   calibrated range and off its grid, with ``y_qkeras_out.npy`` (QKeras on those
                   rows saturated and rounded as documented), ``y_interp_out``, ``y_proxy_out``
=================  ==========================================================================

``calibration_cases`` (QKeras 0.9) adds ``relu_float`` (a float ``Activation('relu')`` on the raw
input feeding a QDense: calibrated from the live model's own relu outputs) and records, in
``calibration_errors.json``, what a float tanh read by a QDense gives with and without calibration.

Every matmul of these models fits float32 exactly (narrow weights and activations, every
partial sum within 24 significant bits), so QKeras' float32 predictions are the exact ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FLAVORS = ("qkeras09", "qkeras3")
N_TEST = 2000
MODELS = ("mlp", "conv1d", "conv2d", "conv2d_bn", "auto_po2", "symmetric", "tanh_lut", "dense_bn", "adc_mlp",
          "qbn")
INEXACT = {("qkeras09", "qbn"): (
    "QKeras 0.9's QBatchNormalization computes x * s + t in float32 with s = gamma * rsqrt(var + eps) from "
    "TensorFlow's vectorized rsqrt, which is not correctly rounded (rsqrt of a vector of 1.0 is 1 - 2**-23): s is "
    "never a short dyadic, so the product rounds and the exact value the IR computes differs near quantizer ties")}
CALIBRATED = ("adc_mlp",)  # models reading raw float inputs: converted with calibration data
ADC_MAX = 255
ONLY_V3 = ("dense_bn",)


def models_of(flavor: str) -> tuple[str, ...]:
    """The zoo model names built for ``flavor``."""
    return tuple(m for m in MODELS if flavor == "qkeras3" or m not in ONLY_V3)


def _randomize(model, rng) -> None:
    """Seeded weights: kernels in [-1, 1], biases in [-2, 2], batchnorm statistics around 1."""
    for layer in model.layers:
        values = []
        for v in layer.weights:
            short = v.name.split("/")[-1].split(":")[0]
            shape = tuple(v.shape)
            if short in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 2.0, shape))
            elif short in ("beta", "moving_mean", "bias"):
                values.append(rng.uniform(-2.0, 2.0, shape))
            elif short == "kernel":
                values.append(rng.uniform(-1.0, 1.0, shape))
            else:
                values.append(v.numpy())
        if values:
            layer.set_weights(values)


QBN_EPSILON = 1.0 / 16
QBN_VARIANCES = tuple(4.0**n - QBN_EPSILON for n in (-1, 0, 1))  # variance + epsilon: 1/4, 1, 4


def qbn_quantizers(q, inverse: bool) -> dict:
    """QBatchNormalization arguments of the ``qbn`` model (the default po2 quantizers are not supported).

    ``inverse``: quantize ``s`` with an ``inverse_quantizer`` where the QKeras has one (qkeras-v3).
    """
    import inspect

    qb = q.quantized_bits
    kw = {"gamma_quantizer": qb(6, 2, alpha=1), "beta_quantizer": qb(6, 2, alpha=1),
          "mean_quantizer": qb(6, 2, alpha=1), "variance_quantizer": qb(8, 4, keep_negative=False, alpha=1),
          "epsilon": QBN_EPSILON}
    if inverse and "inverse_quantizer" in inspect.signature(q.QBatchNormalization.__init__).parameters:
        # qkeras-v3 asserts that gamma and variance are then not quantized themselves
        kw.update(inverse_quantizer=qb(8, 3, alpha=1), gamma_quantizer=None, variance_quantizer=None)
    return kw


def float32_batchnorm_outputs(model, x):
    """``interpret`` of the lifted IR with every BatchNorm computed as QKeras does: ``f32(f32(x * s) + t)``."""
    import numpy as np

    import hgq_ir
    from hgq_ir.ir.ops import BatchNorm

    class Float32BatchNorm(BatchNorm):
        def evaluate(self, xs, weights):
            s, t = self.scale_shift(weights, xs[0].shape[-1])
            f32 = np.float32
            return [((xs[0].astype(f32) * s.astype(f32)).astype(f32) + t.astype(f32)).astype(np.float64)]

    graph = hgq_ir.lift(model)
    for node in graph.nodes:
        if isinstance(node.op, BatchNorm):
            graph.set_op(node, Float32BatchNorm(epsilon=node.op.epsilon))
    return hgq_ir.interpret(graph, x.astype(np.float64))


def exact_qbn_variances(model, rng) -> None:
    """QKeras 0.9 ``qbn``: moving variances with ``variance + epsilon`` a power of 4 (so ``1/sqrt`` is exact)."""
    for layer in model.layers:
        if type(layer).__name__ == "QBatchNormalization" and layer.get_config().get("inverse_quantizer") is None:
            weights = layer.get_weights()  # gamma, beta, moving_mean, moving_variance
            weights[3] = rng.choice(QBN_VARIANCES, size=weights[3].shape)
            layer.set_weights(weights)


def build(name: str, keras, q):
    """``(model, input shape)`` of zoo model ``name``, built with ``keras`` and the ``qkeras`` module ``q``."""
    qb, qr = q.quantized_bits, q.quantized_relu
    if name == "mlp":
        inp = keras.Input((10,), name="x")
        h = q.QActivation("quantized_bits(8,3,alpha=1)", name="q_in")(inp)
        h = q.QDense(16, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(8, 3, alpha=1),
                     activation=qr(6, 2), name="d1")(h)
        h = q.QDense(12, kernel_quantizer=qb(5, 1, alpha=1), bias_quantizer=qb(6, 2, alpha=1), activation="relu",
                     name="d2")(h)
        h = q.QActivation(qb(7, 3, alpha=1), name="q2")(h)
        h = q.QDense(6, kernel_quantizer="quantized_bits(4,1,alpha=1)", use_bias=False, name="d3")(h)
        out = q.QActivation("quantized_bits(8,4,alpha=1)", name="q_out")(h)
        return keras.Model(inp, out, name=name), (10,)
    if name == "qbn":
        inp = keras.Input((10,), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QDense(8, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1), name="d1")(h)
        h = q.QBatchNormalization(name="bn1", **qbn_quantizers(q, inverse=True))(h)
        h = q.QActivation(qr(6, 2), name="r1")(h)
        h = q.QDense(6, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1), name="d2")(h)
        h = q.QBatchNormalization(name="bn2", **qbn_quantizers(q, inverse=False))(h)
        out = q.QActivation(qb(8, 3, alpha=1), name="q_out")(h)
        return keras.Model(inp, out, name=name), (10,)
    if name == "adc_mlp":
        inp = keras.Input((8,), name="adc")
        h = q.QDense(16, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(8, 3, alpha=1),
                     activation=qr(12, 10), name="d1")(inp)
        h = q.QDense(4, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                     activation=qb(12, 9, alpha=1), name="d2")(h)
        return keras.Model(inp, h, name=name), (8,)
    if name == "conv1d":
        inp = keras.Input((16, 3), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QConv1D(4, 3, padding="same", kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                      activation=qr(6, 2), name="c1")(h)
        h = keras.layers.MaxPooling1D(2, name="mp")(h)
        h = q.QConv1D(5, 3, strides=2, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                      activation=qb(8, 3, alpha=1), name="c2")(h)
        out = keras.layers.Flatten(name="flat")(h)
        return keras.Model(inp, out, name=name), (16, 3)
    if name == "conv2d":
        inp = keras.Input((8, 8, 2), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QConv2D(3, 3, padding="same", kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                      activation=qr(6, 2), name="c1")(h)
        h = q.QAveragePooling2D(2, activation=qb(8, 2, alpha=1), name="ap")(h)
        h = q.QConv2D(4, 2, strides=2, padding="same", kernel_quantizer=qb(4, 0, alpha=1),
                      bias_quantizer=qb(6, 2, alpha=1), activation=qb(8, 3, alpha=1), name="c2")(h)
        h = keras.layers.MaxPooling2D(2, name="mp")(h)
        h = keras.layers.Flatten(name="flat")(h)
        out = q.QDense(3, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                       activation=qb(10, 4, alpha=1), name="d")(h)
        return keras.Model(inp, out, name=name), (8, 8, 2)
    if name == "conv2d_bn":
        inp = keras.Input((6, 6, 2), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QConv2DBatchnorm(4, 3, kernel_quantizer=qb(5, 1), bias_quantizer=qb(8, 3, alpha=1),
                               activation=qr(6, 2), name="cbn")(h)
        out = keras.layers.Flatten(name="flat")(h)
        return keras.Model(inp, out, name=name), (6, 6, 2)
    if name == "dense_bn":
        inp = keras.Input((10,), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QDenseBatchnorm(8, kernel_quantizer=qb(5, 1), bias_quantizer=qb(8, 3, alpha=1),
                              activation=qr(6, 2), name="dbn")(h)
        out = q.QDense(4, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                       activation=qb(8, 3, alpha=1), name="d")(h)
        return keras.Model(inp, out, name=name), (10,)
    if name == "auto_po2":
        inp = keras.Input((12, 2), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QConv1D(4, 3, kernel_quantizer=qb(4, 0, alpha="auto_po2"), bias_quantizer=qb(6, 2, alpha=1),
                      activation=qb(8, 3, alpha=1), name="c")(h)
        h = keras.layers.Flatten(name="flat")(h)
        h = q.QDense(8, kernel_quantizer=qb(4, 0), bias_quantizer=qb(6, 2, alpha=1),
                     activation=qb(7, 2, keep_negative=False, alpha=1), name="d1")(h)
        out = q.QDense(3, kernel_quantizer=qb(6, 2), bias_quantizer=qb(6, 2, alpha=1),
                       activation=qb(9, 4, alpha=1), name="d2")(h)
        return keras.Model(inp, out, name=name), (12, 2)
    if name == "symmetric":
        inp = keras.Input((10,), name="x")
        h = q.QActivation(qb(6, 2, symmetric=1, alpha=1), name="q_in")(inp)
        h = q.QDense(10, kernel_quantizer=qb(4, 0, symmetric=1, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                     activation=qb(5, 1, symmetric=1, alpha=1), name="d1")(h)
        out = q.QDense(4, kernel_quantizer=qb(3, 0, symmetric=1, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                       activation=qb(4, 1, symmetric=1, alpha=1), name="d2")(h)
        return keras.Model(inp, out, name=name), (10,)
    if name == "tanh_lut":
        inp = keras.Input((8,), name="x")
        h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
        h = q.QDense(8, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                     activation=qb(7, 2, alpha=1), name="d1")(h)
        a = q.QActivation(q.quantized_tanh(6, use_real_tanh=True), name="tanh")(h)
        b = q.QActivation("quantized_sigmoid(5)", name="hsig")(h)
        c = q.QActivation(q.quantized_sigmoid(6, use_real_sigmoid=True), name="sig")(h)
        d = keras.layers.Activation("tanh", name="ftanh")(h)
        d = q.QActivation(qb(6, 0, alpha=1), name="q_ftanh")(d)
        h = keras.layers.Concatenate(name="cat")([a, b, c, d])
        h = q.QDense(6, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1), name="d2")(h)
        out = q.QActivation("quantized_tanh(6)", name="htanh")(h)
        return keras.Model(inp, out, name=name), (8,)
    raise KeyError(name)


ACTIVATION_CASES = (
    "quantized_bits(6,2,alpha=1)", "quantized_bits(5,0,symmetric=1,alpha=1)",
    "quantized_bits(6,2,keep_negative=False,alpha=1)", "quantized_bits(7,3)",
    "quantized_relu(4,1)", "quantized_relu(6,0)", "quantized_relu(5,3)", "quantized_tanh(5)",
    "quantized_tanh(4,symmetric=1)", "quantized_sigmoid(5)", "quantized_tanh(6,use_real_tanh=1)",
    "quantized_sigmoid(6,use_real_sigmoid=1)",
)
WEIGHT_CASES = ("quantized_bits(4,0)", "quantized_bits(6,2,alpha='auto_po2')", "quantized_bits(3,0,alpha='auto_po2')",
                "quantized_bits(5,1,alpha=1)", "quantized_bits(4,0,symmetric=1,alpha=1)",
                "quantized_bits(5,1,alpha=0.5)")
HUGE = (2.0**30, -(2.0**30), 1.0e9, 3.0e7)


def quantizer_cases(out: Path, q) -> None:
    """Each quantizer of ACTIVATION_CASES on a grid hitting every tie, and of WEIGHT_CASES on kernels."""
    import numpy as np

    get = q.quantizers.get_quantizer
    x = np.arange(-12.0, 12.0, 2.0**-9, dtype=np.float32)
    arrays = {"x": x, "x_huge": np.array(HUGE, dtype=np.float32)}
    for i, case in enumerate(ACTIVATION_CASES):
        arrays[f"a{i}"] = np.asarray(get(case)(x), dtype=np.float64)
        arrays[f"a{i}_huge"] = np.asarray(get(case)(arrays["x_huge"]), dtype=np.float64)
    rng = np.random.default_rng(7)
    kernels = [rng.normal(size=(20, 7)).astype(np.float32), rng.uniform(-3, 3, (3, 3, 4, 6)).astype(np.float32),
               rng.normal(size=(9,)).astype(np.float32)]
    for j, k in enumerate(kernels):
        arrays[f"k{j}"] = k
        for i, case in enumerate(WEIGHT_CASES):
            quantizer = get(case)
            if "alpha" not in case:
                quantizer._set_trainable_parameter()  # what QDense does to its kernel quantizer
            arrays[f"w{i}_{j}"] = np.asarray(quantizer(k), dtype=np.float64)
    np.savez(out / "quantizers.npz", **arrays)


def error_models(out: Path, keras, q, ext: str) -> None:
    """Models hgq-ir must refuse, naming the layer: alpha='auto' kernels, a QDense on the raw input, po2 QBN."""
    inp = keras.Input((4,), name="x")
    h = q.QActivation("quantized_bits(6,2,alpha=1)", name="q_in")(inp)
    out_ = q.QDense(3, kernel_quantizer=q.quantized_bits(4, 0, alpha="auto"), name="auto_dense")(h)
    keras.Model(inp, out_, name="auto").save(out / f"error_auto{ext}")
    inp = keras.Input((4,), name="x")
    out_ = q.QDense(3, kernel_quantizer=q.quantized_bits(4, 0, alpha=1), name="raw_dense")(inp)
    keras.Model(inp, out_, name="raw").save(out / f"error_raw_input{ext}")
    inp = keras.Input((4,), name="x")
    h = q.QActivation("quantized_bits(6,2,alpha=1)", name="q_in")(inp)
    out_ = q.QBatchNormalization(name="default_bn")(h)  # QKeras' default po2 parameter quantizers
    keras.Model(inp, out_, name="default_bn").save(out / f"error_default_bn{ext}")


def adc_counts(rng, n: int, shape: tuple[int, ...]):
    """``n`` rows of integer ADC counts in ``[0, ADC_MAX]`` (float32), the first two all 0 and all ADC_MAX."""
    import numpy as np

    x = rng.integers(0, ADC_MAX + 1, size=(n, *shape)).astype(np.float32)
    x[0], x[1] = 0, ADC_MAX
    return x


def out_of_calibration(rng, x):
    """``(x_out, x_seen)``: rows off the calibrated grid and range, and what the calibrated quantizer makes of them.

    The calibrated format of ADC counts is ``ufixed<8,8>`` RND SAT: values round to the nearest integer
    (ties up) and saturate to ``[0, ADC_MAX]``.
    """
    import numpy as np

    x_out = (x + rng.choice(np.float32([0.0, 0.25, 0.5, -0.5, 0.75]), size=x.shape)).astype(np.float32)
    x_out[::3] *= np.float32(1.5)  # beyond ADC_MAX
    x_out[1::7] -= np.float32(40.0)  # below 0
    return x_out, np.clip(np.floor(x_out.astype(np.float64) + 0.5), 0, ADC_MAX).astype(np.float32)


def _predict(model, x):
    import numpy as np

    return np.asarray(model.predict(x, batch_size=len(x), verbose=0), dtype=np.float64)


def _outcome(fn) -> dict:
    """``{"type": ..., "message": ...}`` of the error ``fn()`` raises, or ``{"type": None}``."""
    try:
        fn()
    except Exception as e:
        return {"type": type(e).__name__, "message": str(e), "layer": getattr(e, "layer", None)}
    return {"type": None}


def calibration_cases(out: Path, keras, q, ext: str) -> None:
    """Float values read by a QDense inside the model: a float relu (calibrated), a float tanh (refused)."""
    import json

    import numpy as np

    import hgq_ir

    qb = q.quantized_bits
    rng = np.random.default_rng(300)
    keras.utils.set_random_seed(300)
    inp = keras.Input((8,), name="adc")
    h = keras.layers.Activation("relu", name="float_relu")(inp)
    h = q.QDense(6, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1),
                 activation=qb(14, 10, alpha=1), name="d1")(h)
    model = keras.Model(inp, h, name="relu_float")
    _randomize(model, rng)
    d = out / "relu_float"
    d.mkdir(parents=True, exist_ok=True)
    x = (adc_counts(rng, N_TEST, (8,)) - np.float32(100)).astype(np.float32)  # signed counts: relu acts
    x_calib = (adc_counts(rng, 500, (8,)) - np.float32(100)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.save(d / "x_calib.npy", x_calib)
    np.save(d / "y_qkeras.npy", _predict(model, x))
    np.save(d / "y_interp.npy", hgq_ir.interpret(hgq_ir.convert(model, to="ir", calibration=x_calib),
                                                 x.astype(np.float64)))
    np.save(d / "y_proxy.npy", _predict(hgq_ir.to_proxy_model(model, calibration=x_calib), x))
    model.save(d / f"model{ext}")

    inp = keras.Input((8,), name="x")
    h = q.QActivation(qb(8, 3, alpha=1), name="q_in")(inp)
    h = q.QDense(8, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(6, 2, alpha=1), activation="tanh",
                 name="d_tanh")(h)
    h = q.QDense(3, kernel_quantizer=qb(4, 0, alpha=1), name="d_after")(h)
    tanh_model = keras.Model(inp, h, name="tanh_float")
    _randomize(tanh_model, rng)
    x_t = rng.normal(size=(200, 8)).astype(np.float32)
    errors = {
        "tanh_without_calibration": _outcome(lambda: hgq_ir.convert(tanh_model, to="ir")),
        "tanh_with_calibration": _outcome(lambda: hgq_ir.convert(tanh_model, to="ir", calibration=x_t)),
        "relu_without_calibration": _outcome(lambda: hgq_ir.convert(model, to="ir")),
    }
    (out / "calibration_errors.json").write_text(json.dumps(errors, indent=1))


def main(flavor: str, out_dir: str) -> None:
    """Build, run, convert and save every zoo model of ``flavor`` into ``out_dir``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if flavor == "qkeras09":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as keras
    else:
        import keras
    import json
    import warnings

    import numpy as np
    import qkeras

    import hgq_ir

    for i, name in enumerate(models_of(flavor)):
        d = Path(out_dir) / name
        d.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(100 + i)
        model, shape = build(name, keras, qkeras)
        rng = np.random.default_rng(100 + i)
        _randomize(model, rng)
        if name == "qbn":
            exact_qbn_variances(model, rng)
        calib = None
        if name in CALIBRATED:
            x, calib = adc_counts(rng, N_TEST, shape), adc_counts(rng, 500, shape)
            np.save(d / "x_calib.npy", calib)
        else:
            x = (rng.normal(size=(N_TEST, *shape)) * rng.uniform(0.5, 4.0, size=(N_TEST,) + (1,) * len(shape)))
            x = x.astype(np.float32)
        np.save(d / "x.npy", x)
        np.save(d / "y_qkeras.npy", _predict(model, x))
        graph = hgq_ir.convert(model, to="ir", calibration=calib)
        np.save(d / "y_interp.npy", hgq_ir.interpret(graph, x.astype(np.float64)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", hgq_ir.NotBitExactWarning)
            proxy = hgq_ir.to_proxy_model(model, calibration=calib)
        (d / "warnings.json").write_text(json.dumps([str(w.message) for w in caught
                                                     if issubclass(w.category, hgq_ir.NotBitExactWarning)]))
        if name == "qbn":
            np.save(d / "y_f32bn.npy", float32_batchnorm_outputs(model, x))
        np.save(d / "y_proxy.npy", _predict(proxy, x))
        if name in CALIBRATED:
            x_out, x_seen = out_of_calibration(rng, x)
            np.save(d / "x_out.npy", x_out)
            np.save(d / "y_qkeras_out.npy", _predict(model, x_seen))
            np.save(d / "y_interp_out.npy", hgq_ir.interpret(graph, x_out.astype(np.float64)))
            np.save(d / "y_proxy_out.npy", _predict(proxy, x_out))
        proxy.save(d / "proxy.keras")
        model.save(d / ("model.h5" if flavor == "qkeras09" else "model.keras"))
    quantizer_cases(Path(out_dir), qkeras)
    error_models(Path(out_dir), keras, qkeras, ".h5" if flavor == "qkeras09" else ".keras")
    if flavor == "qkeras09":
        calibration_cases(Path(out_dir), keras, qkeras, ".h5")
    (Path(out_dir) / "DONE").write_text(" ".join(sorted(m for m in sys.modules if m.split(".")[0] == "qkeras"))[:200])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
