"""The heterogeneous quantizer of HGQ: trainable per-element fractional bitwidths on Keras 3.

A :class:`HGQuantizer` owns one float32 variable ``fbw`` (fractional bits per element, shared
along ``skip_dims``) and, when ``minmax_record`` is set, the running ``min``/``max`` of the values
it produced. The variables are created on the *host layer* (``host.add_weight``) so that Keras
tracks, trains and saves them like any other weight; the quantizer itself is a plain object.

Forward, with ``f = round(fbw)`` (``exact_q_value`` or inference) and ``s = 2**f``::

    xq = R(x * s) / s

``R`` is the rounding strategy in training; at inference every strategy but ``floor`` becomes
round-half-up ``floor(v + 1/2)`` (``RND``), ``floor`` stays ``TRN``. In training the output value
is ``xq`` but its gradient is 1 with respect to ``x`` (straight-through) and ``-ln2 * (xq - x)``
with respect to ``fbw``: the surrogate bitwidth gradient of the HGQ paper.

Integer bits and the sign are not trained; :meth:`HGQuantizer.get_bits_exact` derives them from
the recorded range (activations) or from the quantized values themselves (weights).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.ir.errors import ConfigError, UntracedModelError
from hgq_ir.ir.fixed import ceil_log2, exact_fraction_bits
from hgq_ir.training.quantizer_config import (
    BitwidthClip,
    MonoL1,
    get_default_kq_conf,
    get_default_paq_conf,
    resolve_conf,
    serialize_conf,
    set_default_kq_conf,
    set_default_paq_conf,
)

__all__ = [
    "HGQ",
    "BitwidthClip",
    "HGQuantizer",
    "MonoL1",
    "get_default_kq_conf",
    "get_default_paq_conf",
    "kif_of_range",
    "kif_of_values",
    "resolve_conf",
    "serialize_conf",
    "set_default_kq_conf",
    "set_default_paq_conf",
]

LN2 = math.log(2.0)

ROUNDING_STRATEGIES = {
    "standard_round": 0,
    "stochastic_round": 1,
    "fast_uniform_noise_injection": 2,
    "floor": 3,
}
"""Name -> code of the training-time rounding strategies (``'auto'`` is resolved by the layer)."""

STANDARD_ROUND, STOCHASTIC_ROUND, NOISE_INJECTION, FLOOR = 0, 1, 2, 3


def _skip_axes(skip_dims: Any, rank: int, layer: str) -> tuple[int, ...]:
    """Normalise ``skip_dims`` (tuple, None or one of the upstream strings) to a tuple of axes."""
    named = {
        "all": tuple(range(rank)),
        "batch": (0,),
        "none": (),
        "except_last": tuple(range(rank - 1)),
        "except_1st": (0, *range(2, rank)),
    }
    if skip_dims is None:
        return ()
    if isinstance(skip_dims, str):
        if skip_dims not in named:
            raise ConfigError(f"{layer}: skip_dims {skip_dims!r} is not one of {sorted(named)} or a tuple")
        return named[skip_dims]
    axes = tuple(sorted({int(a) % rank for a in skip_dims}))
    return axes


def to_numpy(v: Any) -> np.ndarray:
    """Numpy copy of a tensor or a Keras variable."""
    return v.numpy() if isinstance(v, keras.Variable) else np.asarray(ops.convert_to_numpy(v))


def kif_of_values(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element (k, i, f) of constants: the MSB-to-LSB span of ``|w|`` (upstream's weight rule).

    ``i = floor(log2|w|) + 1``, ``f`` = the smallest f with ``w * 2**f`` an integer, ``k = w < 0``;
    zeros get (0, 0, 0). E.g. 0.5 -> (0, 0, 1); 0.375 -> (0, -1, 3); -6 -> (1, 3, -1).
    """
    w = np.asarray(w, dtype=np.float64)
    nz = w != 0
    _, ex = np.frexp(np.where(nz, np.abs(w), 1.0))  # |w| = m * 2**ex, m in [0.5, 1)
    i = np.where(nz, ex, 0).astype(np.int64)
    f = exact_fraction_bits(w)
    k = (w < 0).astype(np.int64)
    return k, i, f


def kif_of_range(lo: np.ndarray, hi: np.ndarray, f: np.ndarray, pos_only: bool) -> tuple[np.ndarray, ...]:
    """(k, i, f) holding every value of ``[lo, hi]`` on the grid ``2**-f`` (the recorded-range rule).

    ``k = lo < 0`` (0 when ``pos_only``); ``i`` is the smallest count with ``hi <= 2**i - 2**-f`` and
    ``-2**i <= lo``, clipped to ``[-f-k, 32]``; an element of width ``k+i+f == 0`` becomes (0, 0, 0).
    """
    lo, hi, f = np.broadcast_arrays(np.asarray(lo, np.float64), np.asarray(hi, np.float64), np.asarray(f))
    f = f.astype(np.int64)
    if pos_only:
        lo, hi = np.zeros_like(lo), np.maximum(hi, 0.0)
    k = (lo < 0).astype(np.int64)
    very_small = np.full(f.shape, -(2**20), dtype=np.int64)
    top = hi + np.ldexp(1.0, -f)
    i_hi = np.where(top > 0, ceil_log2(top), very_small)
    i_lo = np.where(lo < 0, ceil_log2(-lo), very_small)
    i = np.clip(np.maximum(i_hi, i_lo), -f - k, 32)
    empty = (k + i + f) <= 0
    return tuple(np.where(empty, 0, a).astype(np.int64) for a in (k, i, f))


class HGQuantizer:
    """Heterogeneous fixed-point quantizer with a trainable fractional bitwidth per element.

    Build it with :meth:`build` from a host layer; then ``q(x, training)`` quantizes, and
    ``q(x, training, record=True)`` also widens the recorded ``[min, max]``.

    Attributes the converter reads (see ``hgq_ir.training.layers`` for the full contract):
    ``fbw`` (variable), ``get_bits_exact()``, ``inference_round`` ('RND'/'TRN'), ``pos_only``.
    """

    def __init__(self, conf: dict[str, Any], name: str) -> None:
        self.conf = conf
        self.name = name
        rnd = conf["rnd_strategy"]
        if isinstance(rnd, int):
            if rnd not in ROUNDING_STRATEGIES.values():
                raise ConfigError(f"{name}: rnd_strategy code {rnd} is not one of 0..3")
            self.rnd_strategy = rnd
        elif rnd == "auto":
            self.rnd_strategy = None  # the host layer resolves it once it knows its bias
        elif rnd in ROUNDING_STRATEGIES:
            self.rnd_strategy = ROUNDING_STRATEGIES[rnd]
        else:
            raise ConfigError(
                f"{name}: unknown rnd_strategy {rnd!r}; use one of {sorted(ROUNDING_STRATEGIES)} or 'auto'"
            )
        lo, hi = conf["bw_clip"] if conf["bw_clip"] else (-1e9, 1e9)
        self.bw_clip = (float(lo), float(hi))
        self.exact_q_value = bool(conf["exact_q_value"])
        self.minmax_record = bool(conf.get("minmax_record", False))
        self.dtype = conf["dtype"]
        self.pos_only = False
        """True when a relu follows: integer bits and sign then come from the post-relu range."""
        self.bias_folds_rounding = False
        """True when the host folded the half-LSB into its bias: inference then truncates."""
        self.skip_axes: tuple[int, ...] = ()
        self.degeneracy = 1.0
        self.fbw: Any = None
        self._min: Any = None
        self._max: Any = None
        self._seed: Any = None

    # ---- building ---------------------------------------------------------------------------
    def build(self, host: keras.layers.Layer, value_shape: tuple, weight_name: str) -> None:
        """Create ``fbw`` (and ``min``/``max``) on ``host`` for values of ``value_shape``."""
        axes = _skip_axes(self.conf["skip_dims"], len(value_shape), self.name)
        shape, degeneracy = [], 1
        for ax, n in enumerate(value_shape):
            if ax in axes:
                degeneracy *= 1 if n is None else int(n)
                shape.append(1)
            elif n is None:
                raise ConfigError(
                    f"{self.name}: skip_dims {self.conf['skip_dims']!r} must include the batch axis 0 "
                    f"(value shape {tuple(value_shape)} has an unknown size on axis {ax})"
                )
            else:
                shape.append(int(n))
        self.skip_axes, self.degeneracy = axes, float(degeneracy)
        trainable = bool(self.conf["trainable"]) and host.trainable
        self.fbw = host.add_weight(
            name=weight_name,
            shape=tuple(shape),
            initializer=keras.initializers.Constant(float(self.conf["init_bw"])),
            trainable=trainable,
            regularizer=self.conf["regularizer"] if trainable else None,
            constraint=BitwidthClip(*self.bw_clip),
            dtype="float32",
        )
        if self.minmax_record:
            init = keras.initializers.Constant(np.inf)
            self._min = host.add_weight(name=f"{weight_name}_min", shape=tuple(shape), initializer=init,
                                        trainable=False, dtype="float32")
            self._max = host.add_weight(name=f"{weight_name}_max", shape=tuple(shape),
                                        initializer=keras.initializers.Constant(-np.inf),
                                        trainable=False, dtype="float32")
        if self.rnd_strategy in (STOCHASTIC_ROUND, NOISE_INJECTION):
            self._seed = keras.random.SeedGenerator(seed=None, name=f"{weight_name}_seed")

    def adapt_bw_bits(self, ref: Any) -> None:
        """Make ``init_bw`` count significant bits of ``ref``: ``fbw -= log2|ref|`` (min over skip axes)."""
        ref = np.abs(to_numpy(ref).astype(np.float64))
        with np.errstate(divide="ignore"):
            shift = np.log2(ref)
        shift = np.where(np.isfinite(shift), shift, 0.0)
        new = np.asarray(self.fbw.numpy(), dtype=np.float64) - shift
        if self.skip_axes:
            new = np.min(new, axis=self.skip_axes, keepdims=True)
        self.fbw.assign(np.clip(new, *self.bw_clip).astype(np.float32))

    def reset_minmax(self) -> None:
        """Forget the recorded range (min = +inf, max = -inf)."""
        if self.minmax_record:
            self._min.assign(np.full(self._min.shape, np.inf, np.float32))
            self._max.assign(np.full(self._max.shape, -np.inf, np.float32))

    # ---- forward ----------------------------------------------------------------------------
    def _strategy(self, training: bool) -> int:
        if self.rnd_strategy is None:
            raise ConfigError(f"{self.name}: rnd_strategy 'auto' was never resolved by its layer")
        if training:
            return self.rnd_strategy
        return FLOOR if self.rnd_strategy == FLOOR else STANDARD_ROUND

    def _round(self, v: Any, strategy: int) -> Any:
        if strategy == STANDARD_ROUND:
            return ops.floor(v + 0.5)
        if strategy == FLOOR:
            return ops.floor(v)
        noise = keras.random.uniform(ops.shape(v), seed=self._seed)
        if strategy == STOCHASTIC_ROUND:
            low = ops.floor(v)
            return ops.where(noise < v - low, low + 1.0, low)
        # noise injection: U(-1/2, 1/2) added, but values within 1/2 of zero go exactly to zero
        return ops.where(ops.abs(v) <= 0.5, 0.0, v + (noise - 0.5))

    def _apply(self, x: Any, fbw: Any, training: bool, strategy: int) -> Any:
        dtype = self.dtype or "float32"
        xc = ops.cast(x, dtype)
        f = fbw if (training and not self.exact_q_value) else ops.round(fbw)
        scale = ops.cast(ops.power(2.0, f), dtype)
        xq = self._round(xc * scale, strategy) / scale
        if not training:
            return ops.cast(xq, x.dtype)
        xq = ops.stop_gradient(xq)
        delta = xq - ops.stop_gradient(xc)
        # value is exactly xq; d/dx = 1 (STE) and d/dfbw = -ln2 * delta (HGQ surrogate)
        surrogate = ops.cast(fbw - ops.stop_gradient(fbw), dtype) * (-LN2) * delta
        out = xq + (xc - ops.stop_gradient(xc)) + surrogate
        return ops.cast(out, x.dtype)

    def __call__(self, x: Any, training: bool = False, record: bool = False) -> Any:
        """Quantize ``x``; with ``record`` also widen the recorded min/max (reduced over skip axes)."""
        if training:
            xq = self._apply(x, self.fbw, True, self._strategy(True))
        else:
            xq = self.quantize_inference(x)
        if record and self.minmax_record:
            v = ops.stop_gradient(xq)
            lo = ops.min(v, axis=self.skip_axes, keepdims=True) if self.skip_axes else v
            hi = ops.max(v, axis=self.skip_axes, keepdims=True) if self.skip_axes else v
            self._min.assign(ops.minimum(self._min, lo))
            self._max.assign(ops.maximum(self._max, hi))
        return xq

    def channel_fbw(self) -> Any:
        """``fbw`` max-reduced over every axis but the last (the channel): the bias grid."""
        rank = len(self.fbw.shape)
        return ops.max(self.fbw, axis=tuple(range(rank - 1))) if rank > 1 else self.fbw

    def bias_forward(self, b: Any, training: bool = False) -> Any:
        """Quantize a per-channel bias on the paq's grid, max-reduced over non-channel axes."""
        return self._apply(b, self.channel_fbw(), bool(training), self._strategy(bool(training)))

    def _apply_numpy(self, x: Any, fbw: np.ndarray, strategy: int) -> np.ndarray:
        """Numpy twin of the inference branch of ``_apply``: the same float32 operations, bit for bit.

        The converter reads weights through it: numpy avoids dozens of eager TF ops a layer.
        """
        dtype = np.dtype(self.dtype or "float32")
        scale = np.power(2.0, np.round(np.asarray(fbw, np.float64))).astype(dtype)
        v = np.asarray(x, dtype) * scale
        r = np.floor(v + dtype.type(0.5)) if strategy == STANDARD_ROUND else np.floor(v)
        return (r / scale).astype(dtype)

    def quantize_inference_numpy(self, x: Any) -> np.ndarray:
        """Numpy twin of :meth:`quantize_inference`."""
        self._strategy(False)
        strategy = FLOOR if self.inference_round == "TRN" else STANDARD_ROUND
        return self._apply_numpy(x, self.fbw.numpy(), strategy)

    def channel_fbw_numpy(self) -> np.ndarray:
        """Numpy twin of :meth:`channel_fbw`."""
        fbw = self.fbw.numpy()
        return fbw.max(axis=tuple(range(fbw.ndim - 1))) if fbw.ndim > 1 else fbw

    def bias_numpy(self, b: Any, channel_fbw: np.ndarray | None = None) -> np.ndarray:
        """Numpy twin of ``bias_forward(b, training=False)`` (``channel_fbw``: a value already read)."""
        channel = self.channel_fbw_numpy() if channel_fbw is None else channel_fbw
        return self._apply_numpy(b, channel, self._strategy(False))

    def quantize_inference(self, x: Any) -> Any:
        """Inference quantization with the layer's inference rounding (``floor`` when folded)."""
        self._strategy(False)  # fails clearly on an unresolved 'auto'
        strategy = FLOOR if self.inference_round == "TRN" else STANDARD_ROUND
        return self._apply(x, self.fbw, False, strategy)

    def round_to_grid(self, x: Any) -> Any:
        """Round ``x`` to this quantizer's grid as the unfolded inference path does (RND, or TRN for floor)."""
        return self._apply(ops.convert_to_tensor(x), self.fbw, False, self._strategy(False))

    @property
    def inference_round(self) -> str:
        """Rounding mode at inference: 'TRN' for floor or when the bias folds the half LSB, else 'RND'."""
        return "TRN" if (self.rnd_strategy == FLOOR or self.bias_folds_rounding) else "RND"

    # ---- bit counts -------------------------------------------------------------------------
    def _ste_round_fbw(self) -> Any:
        return self.fbw + ops.stop_gradient(ops.round(self.fbw) - self.fbw)

    def act_bits(self, pos_only: bool) -> Any:
        """Differentiable width ``relu(k + i + f)`` per element from the record (grad through f)."""
        lo, hi = ops.stop_gradient(self._min), ops.stop_gradient(self._max)
        mag = ops.maximum(hi, 0.0) if pos_only else ops.maximum(ops.abs(lo), ops.abs(hi))
        traced = ops.logical_and(hi >= lo, mag > 0)
        safe = ops.where(traced, mag, 1.0)
        i = ops.where(traced, ops.floor(ops.log2(safe)) + 1.0, -64.0)
        k = 0.0 if pos_only else ops.cast(lo < 0, "float32")
        return ops.relu(i + self._ste_round_fbw() + k)

    def kernel_bits(self, qk: Any) -> Any:
        """Differentiable width ``relu(i + f)`` per kernel element (sign not counted), from ``qk``."""
        mag = ops.abs(ops.stop_gradient(qk))
        safe = ops.where(mag > 0, mag, 1.0)
        i = ops.where(mag > 0, ops.floor(ops.log2(safe)) + 1.0, -64.0)
        if self.skip_axes:
            i = ops.max(i, axis=self.skip_axes, keepdims=True)
        return ops.broadcast_to(ops.relu(i + self._ste_round_fbw()), ops.shape(qk))

    def get_bits_exact(self, x: Any = None, pos_only: bool | None = None) -> tuple[np.ndarray, ...]:
        """Exact ``(k, i, f)`` int64 arrays of the fixed-point format this quantizer stands for.

        * ``x is None`` (activations): from the recorded range; shape = ``fbw.shape`` (a leading 1
          for the batch axis). ``pos_only`` defaults to ``self.pos_only`` (relu after the paq).
          Raises :class:`UntracedModelError` when the range was never recorded.
        * ``x`` given (weights): ``x`` is quantized at inference and each element gets the span of
          its own bits (:func:`kif_of_values`); shape = ``x.shape``.
        """
        if x is not None:
            return kif_of_values(self._apply_numpy(ops.convert_to_numpy(x), self.fbw.numpy(), self._strategy(False)))
        if not self.minmax_record:
            raise UntracedModelError(f"{self.name}: this quantizer records no range; pass the tensor to get_bits_exact")
        lo, hi = (np.asarray(v.numpy(), np.float64) for v in (self._min, self._max))
        if np.any(lo > hi):
            raise UntracedModelError(
                f"{self.name}: min/max were never recorded ({int(np.sum(lo > hi))} elements untouched); "
                "run trace_minmax first"
            )
        f = np.round(self.fbw.numpy()).astype(np.int64)
        return kif_of_range(lo, hi, f, self.pos_only if pos_only is None else pos_only)


HGQ = HGQuantizer
"""Upstream's name for the quantizer class."""
