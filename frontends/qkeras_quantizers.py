"""QKeras quantizers as exact fixed-point operations, read from their configs.

QKeras 0.9 (``qkeras/quantizers.py``, on tf_keras) and qkeras-v3 1.2.1 (the Keras 3 port) compute,
at inference and in float32, for an input ``x`` (``u = bits - keep_negative``, ``m = 2**u``):

==========================================  ===================================================
quantizer (config)                          fixed-point meaning, per element
==========================================  ===================================================
``quantized_bits(bits, integer,             ``round_half_even(x * 2**f)`` clipped to
keep_negative, symmetric)``, alpha None/1   ``[-(m - symmetric) * keep_negative, m - 1]``, times
                                            ``2**-f`` with ``f = u - integer``: format
                                            ``(k=keep_negative, i=integer, f, RND_CONV, SAT)``,
                                            ``SAT_SYM`` when symmetric and signed
``quantized_bits(..., alpha='auto_po2')``   weights only: a power-of-two scale per output channel
                                            found by QKeras' own float32 search (replayed here in
                                            numpy float32); the values are exact constants
``quantized_relu(bits, integer)``           ``(k=0, i=integer, f=bits-integer, RND_CONV, SAT)``:
                                            saturating the rounded value at 0 is the relu
``quantized_tanh(bits)`` (hard tanh)        ``2*clip(x/2+1/2, 0, 1) - 1`` is ``clip(x, -1, 1)``,
                                            so ``(k=1, i=0, f=bits-1, RND_CONV, SAT[_SYM])``
``quantized_tanh(bits, use_real_tanh=1)``   float32 ``tanh`` then that quantizer (a lookup table)
``quantized_sigmoid(bits)``                 float32 ``clip(x/2+1/2, 0, 1)`` (or ``sigmoid`` with
                                            ``use_real_sigmoid``) then ``(k=0, i=0, f=bits,
                                            RND_CONV, SAT)`` (a lookup table)
==========================================  ===================================================

``tf.round`` rounds half to even, hence ``RND_CONV``; the clip happens after rounding, hence
``SAT``. Where QKeras' float math is not that fixed-point operation:

- the straight-through estimator returns ``x + (xq - x)`` in float32, which is ``xq`` except where
  ``x`` is clipped and ``xq - x`` needs more than 24 significant bits (``|x|`` beyond about
  ``2**(24 - f)``): there QKeras returns a value off the grid, the IR the saturated one;
- a layer's matmul/convolution runs in float32: equal to the exact sum while every partial sum
  fits in 24 significant bits;
- ``quantized_tanh``/``quantized_sigmoid`` use a process-wide ``set_internal_sigmoid`` mode that is
  not in any config: the default ``'hard'`` is assumed.

Weights are quantized here in numpy float32 exactly as QKeras does (straight-through estimator
included), so the IR holds the very constants the QKeras model multiplies by.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hgq_ir.ir.errors import UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat

QKERAS09 = "qkeras09"
QKERAS3 = "qkeras3"
EPSILON = np.float32(1e-7)  # keras.backend.epsilon()

# positional parameters of each quantizer's constructor (QKeras 0.9 and qkeras-v3 agree on these)
POSITIONAL: dict[str, tuple[str, ...]] = {
    "quantized_bits": ("bits", "integer", "symmetric", "keep_negative", "alpha", "use_stochastic_rounding",
                       "scale_axis", "qnoise_factor", "var_name", "use_ste", "use_variables"),
    "quantized_relu": ("bits", "integer", "use_sigmoid", "negative_slope", "use_stochastic_rounding",
                       "relu_upper_bound", "is_quantized_clip", "qnoise_factor", "var_name", "use_ste",
                       "use_variables"),
    "quantized_tanh": ("bits", "use_stochastic_rounding", "symmetric", "use_real_tanh"),
    "quantized_sigmoid": ("bits", "symmetric", "use_real_sigmoid", "use_stochastic_rounding"),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "quantized_bits": {"bits": 8, "integer": 0, "symmetric": 0, "keep_negative": True, "alpha": None,
                       "use_stochastic_rounding": False, "scale_axis": None, "qnoise_factor": 1.0, "use_ste": True,
                       "elements_per_scale": None, "min_po2_exponent": None, "max_po2_exponent": None,
                       "post_training_scale": None},
    "quantized_relu": {"bits": 8, "integer": 0, "use_sigmoid": 0, "negative_slope": 0.0,
                       "use_stochastic_rounding": False, "relu_upper_bound": None, "is_quantized_clip": True,
                       "qnoise_factor": 1.0, "use_ste": True},
    "quantized_tanh": {"bits": 8, "use_stochastic_rounding": False, "symmetric": False, "use_real_tanh": False},
    "quantized_sigmoid": {"bits": 8, "symmetric": False, "use_real_sigmoid": False,
                          "use_stochastic_rounding": False},
}
ALTERNATIVE = ("use quantized_bits (alpha=1 or 'auto_po2' on weights), quantized_relu, quantized_tanh or "
               "quantized_sigmoid")


@dataclass(frozen=True)
class QuantizerSpec:
    """A QKeras quantizer read from a config: its class ``name`` and its arguments (defaults filled)."""

    name: str
    config: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.config[key]

    def text(self) -> str:
        """``name(arg=value, ...)`` with the arguments that differ from the defaults."""
        defaults = DEFAULTS.get(self.name, {})
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if defaults.get(k, object()) != v)
        return f"{self.name}({args})"


def _parse_call(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    """``'quantized_bits(4, 0, alpha=1)'`` -> ``('quantized_bits', [4, 0], {'alpha': 1})`` without eval."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:\((.*)\))?\s*", text, re.S)
    if m is None:
        raise UnsupportedLayerError(f"cannot read quantizer {text!r}")
    name, body = m.group(1), m.group(2)
    if not body or not body.strip():
        return name, [], {}
    try:
        call = ast.parse(f"f({body})", mode="eval").body
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError) as e:
        raise UnsupportedLayerError(f"cannot read quantizer {text!r} ({e})") from e
    return name, args, kwargs


def parse_quantizer(obj: Any) -> QuantizerSpec | str | None:
    """A quantizer given as a config string, a serialized dict or a live object, as a spec.

    Returns None for no quantizer, and a plain string for a Keras activation name (``'relu'``).
    Unknown quantizer classes come back as a spec too: :func:`check_supported` refuses them.
    """
    if obj is None:
        return None
    if isinstance(obj, str):
        name, args, kwargs = _parse_call(obj)
        if name not in DEFAULTS and not args and not kwargs and "(" not in obj:
            return name  # a Keras activation name
        params = POSITIONAL.get(name, ())
        config = dict(zip(params, args, strict=False))
        config.update(kwargs)
    elif isinstance(obj, dict) and "class_name" in obj:
        name, config = obj["class_name"], dict(obj.get("config") or {})
        if name == "function" or (name not in DEFAULTS and obj.get("module", "").startswith("keras")):
            return str(config) if isinstance(config, str) else obj.get("config")
    elif hasattr(obj, "get_config") and type(obj).__module__.split(".")[0] == "qkeras":
        name, config = type(obj).__name__, dict(obj.get_config())
        if hasattr(obj, "is_quantized_clip"):  # not in QKeras 0.9's config: read it off the live object
            config["is_quantized_clip"] = bool(obj.is_quantized_clip)
    elif callable(obj):
        return getattr(obj, "__name__", str(obj))
    else:
        raise UnsupportedLayerError(f"cannot read quantizer {obj!r}")
    full = dict(DEFAULTS.get(name, {}))
    full.update({k: v for k, v in config.items() if k not in ("var_name", "use_variables")})
    return QuantizerSpec(name, full)


def check_supported(spec: QuantizerSpec, where: str, weights: bool) -> None:
    """Refuse, naming ``where`` and the quantizer, what has no exact fixed-point meaning here."""

    def refuse(why: str, instead: str = ALTERNATIVE) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"layer {where!r}: quantizer {spec.text()} {why}; {instead}")

    if spec.name not in DEFAULTS:
        raise refuse("is not supported (no exact fixed-point equivalent in hgq-ir)")
    c = spec.config
    if c.get("use_stochastic_rounding"):
        raise refuse("uses stochastic rounding", "train with it, then set use_stochastic_rounding=False to convert "
                     "(QKeras rounds half to even at inference)")
    if float(c.get("qnoise_factor", 1.0)) != 1.0:
        raise refuse("mixes float and quantized values (qnoise_factor != 1)", "set qnoise_factor=1.0 to convert")
    if spec.name == "quantized_bits":
        alpha = c["alpha"]
        if int(c["bits"]) - int(bool(c["keep_negative"])) <= 0:
            raise refuse("is a binary (sign) quantizer", "use bits >= 2 (bits >= 1 unsigned)")
        if isinstance(alpha, str) and alpha != "auto_po2":
            raise refuse(f"has alpha={alpha!r}: per-channel float scales are not fixed-point",
                         "use alpha=1 or alpha='auto_po2'")
        if alpha == "auto_po2" and not weights:
            raise refuse("with alpha='auto_po2' on activations scales each batch differently",
                         "use alpha=1 on activations")
        if alpha == "auto_po2" and any(c.get(k) is not None for k in
                                       ("elements_per_scale", "min_po2_exponent", "max_po2_exponent",
                                        "post_training_scale", "scale_axis")):
            raise refuse("sets scale_axis/elements_per_scale/po2 exponent bounds/post_training_scale",
                         "use alpha='auto_po2' with its defaults")
        if not isinstance(alpha, str) and alpha is not None and not _is_power_of_two(float(alpha)):
            raise refuse(f"has alpha={alpha!r}, not a power of two", "use alpha=1 or alpha='auto_po2'")
        if not weights and not isinstance(alpha, str) and alpha is not None and float(alpha) != 1.0:
            raise refuse(f"has alpha={alpha!r}: it multiplies the quantized activation by alpha",
                         "use alpha=1 on activations")
    elif spec.name == "quantized_relu":
        if c["use_sigmoid"]:
            raise refuse("uses use_sigmoid", "use quantized_relu(bits, integer) or quantized_sigmoid")
        if float(c["negative_slope"]) != 0.0:
            raise refuse("has negative_slope != 0", "use negative_slope=0")
        ub = c.get("relu_upper_bound")
        top = 2.0 ** int(c["integer"]) * (1 - 2.0 ** -int(c["bits"]))
        if not c.get("is_quantized_clip", True) and ub is not None and float(ub) < top:
            raise refuse(f"clips at relu_upper_bound={ub}, below its largest value {top}",
                         "use is_quantized_clip=True or an integer width that ends at the bound")
    elif c.get("symmetric") and spec.name == "quantized_sigmoid":
        raise refuse("is symmetric (its lowest value 2**-bits is no fixed-point saturation)",
                     "use symmetric=False")


def _is_power_of_two(a: float) -> bool:
    m, _ = np.frexp(a)
    return a > 0 and m == 0.5


# ---- activations: the fixed-point format after the quantizer -------------------------------------
def output_format(spec: QuantizerSpec) -> FixedFormat:
    """The fixed-point format a supported activation quantizer rounds and clips to."""
    c = spec.config
    bits = int(c["bits"])
    if spec.name == "quantized_bits":
        k = int(bool(c["keep_negative"]))
        integer = int(c["integer"])
        f = bits - k - integer
        sym = bool(c["symmetric"]) and k == 1
        return FixedFormat(k, integer, f, "RND_CONV", "SAT_SYM" if sym else "SAT")
    if spec.name == "quantized_relu":
        integer = int(c["integer"])
        return FixedFormat(0, integer, bits - integer, "RND_CONV", "SAT")
    if spec.name == "quantized_tanh":
        return FixedFormat(1, 0, bits - 1, "RND_CONV", "SAT_SYM" if c["symmetric"] else "SAT")
    if spec.name == "quantized_sigmoid":
        return FixedFormat(0, 0, bits, "RND_CONV", "SAT")
    raise UnsupportedLayerError(f"quantizer {spec.text()} has no fixed-point output format")


def float32_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The float32 function QKeras applies before rounding (``'tanh'``, ``'sigmoid'``, ``'hard_sigmoid'``).

    ``tanh``/``sigmoid`` run TensorFlow's own float32 kernels, which QKeras calls: numpy's float32
    functions round differently, and the rounding after them would see it.
    """

    def hard_sigmoid(x: np.ndarray) -> np.ndarray:
        x32 = np.asarray(x, dtype=np.float32)
        return np.clip(np.float32(0.5) * x32 + np.float32(0.5), 0.0, 1.0).astype(np.float64)

    def tf_function(x: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        fn = tf.math.tanh if name == "tanh" else tf.math.sigmoid
        return np.asarray(fn(tf.constant(np.asarray(x, dtype=np.float32))), dtype=np.float64)

    fn = hard_sigmoid if name == "hard_sigmoid" else tf_function
    fn.__name__ = f"qkeras_{name}"
    return fn


def activation_steps(spec: QuantizerSpec) -> tuple[str | None, FixedFormat]:
    """``(float32 function to apply first or None, format of the quantizer after it)``."""
    c = spec.config
    if spec.name == "quantized_tanh":
        return ("tanh" if c["use_real_tanh"] else None), output_format(spec)
    if spec.name == "quantized_sigmoid":
        return ("sigmoid" if c["use_real_sigmoid"] else "hard_sigmoid"), output_format(spec)
    return None, output_format(spec)


# ---- weights: the constants QKeras multiplies by ----------------------------------------------
def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.round(x)  # numpy rounds half to even, as tf.round


def _ste(x: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """QKeras' straight-through output ``x + (xq - x)``, in float32 like QKeras."""
    x = x.astype(np.float32)
    return (x + (xq.astype(np.float32) - x)).astype(np.float32)


def _scaling_axes(ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - 1)) if ndim > 1 else (0,)


def _po2(scale: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        e = _round_half_even(np.log(scale + EPSILON) / np.float32(np.log(2.0)))
    return np.power(np.float32(2.0), e.astype(np.float32)).astype(np.float32)


def _auto_po2_z(x: np.ndarray, scale: np.ndarray, levels: int) -> np.ndarray:
    v = np.floor(np.abs(x) / scale + np.float32(0.5)).astype(np.float32)
    half = np.float32(levels / 2)
    return (np.sign(x) * np.where(v < half, v, half)).astype(np.float32)


def _least_squares_po2(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    if x.ndim > 1:
        axes = tuple(range(x.ndim - 1))
        qx = np.mean(x * z, axis=axes, keepdims=True, dtype=np.float32)
        qq = np.mean(z * z, axis=axes, keepdims=True, dtype=np.float32)
    else:
        qx, qq = x * z, z * z
    return _po2((qx / (qq + EPSILON)).astype(np.float32))


def _auto_po2(w: np.ndarray, bits: int, integer: int, keep_negative: bool, flavor: str) -> np.ndarray:
    """quantized_bits(alpha='auto_po2') on a weight tensor, replayed in numpy float32."""
    u = bits - int(keep_negative)
    m, m_i = np.float32(2.0**u), np.float32(2.0**integer)
    x = (w / m_i).astype(np.float32)
    levels = (2 ** (bits - 1) - 1) * 2
    scale = (np.max(np.abs(x), axis=_scaling_axes(x.ndim), keepdims=True) * np.float32(2)) / np.float32(levels)
    scale = _po2(scale.astype(np.float32))
    z = None
    for _ in range(5):
        z = _auto_po2_z(x, scale, levels)
        scale = _least_squares_po2(x, z)
    if flavor == QKERAS3:  # qkeras-v3 rounds once more with the final scale
        z = _auto_po2_z(x, scale, levels)
    xq = (m_i * z / m).astype(np.float32) * (scale * m).astype(np.float32)
    return _ste((m_i * x).astype(np.float32), xq)


def quantize_weight(spec: QuantizerSpec | None, w: np.ndarray, where: str, flavor: str) -> np.ndarray:
    """The values QKeras uses for weight ``w`` under quantizer ``spec`` (float64, exact float32 values)."""
    w = np.asarray(w, dtype=np.float32)
    if spec is None:
        return w.astype(np.float64)
    if isinstance(spec, str):
        raise UnsupportedLayerError(f"layer {where!r}: weight quantizer {spec!r} is not a QKeras quantizer; "
                                    f"{ALTERNATIVE}")
    check_supported(spec, where, weights=True)
    c = spec.config
    if spec.name == "quantized_bits" and c["alpha"] == "auto_po2":
        return _auto_po2(w, int(c["bits"]), int(c["integer"]), bool(c["keep_negative"]), flavor).astype(np.float64)
    if spec.name != "quantized_bits":
        fn, fmt = activation_steps(spec)
        if fn is not None:
            raise UnsupportedLayerError(f"layer {where!r}: {spec.text()} as a weight quantizer is not supported; "
                                        "use quantized_bits")
        return _ste(w, _clip_round(w, fmt)).astype(np.float64)
    alpha = np.float32(1.0 if c["alpha"] is None else float(c["alpha"]))  # a power of two: exact
    return _ste(w, alpha * _clip_round(w, output_format(spec))).astype(np.float64)


def _clip_round(w: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """Round half to even onto ``fmt``'s grid, then clip (float32 in, float32 out)."""
    from hgq_ir.ir.fixed import quantize

    return quantize(w.astype(np.float64), fmt).astype(np.float32)
