"""Keras 3 proxy layers that hls4ml 1.3 reads: ``FixedPointQuantizer`` and ``UnaryLUT``.

A *proxy model* is a plain Keras model (Dense, Conv, Activation('relu'), ...) holding quantized
weights, with these two layers at every quantization point. hls4ml 1.3 parses both through its
Keras-2 handler fallback (``hls4ml/converters/keras/hgq_proxy_model.py``), dispatching on the class
name, so the class names, config keys and weight names below are an interface, not a choice:

- ``FixedPointQuantizer``: config ``RND``, ``SAT``, ``fusible``, ``overrides``; int8 weights
  ``keep_negative``, ``bits`` (= W) and ``integers`` (= I) with a leading axis of size 1 (float
  weights generate C++ that does not compile; hls4ml looks weights up by substring of the name).
- ``UnaryLUT``: config ``kif_in``, ``kif_out``; weight ``table`` with ``2**(k+i+f)`` entries of
  the input format, in raw-bit (two's complement) order.

Both compute in float32, which is exact while every quantized value fits 24 significant bits
and stays in float32's normal range (TensorFlow flushes subnormals to zero on CPU).

Speed (TensorFlow): each call is one graph function (:func:`_function`): the constants once on
the weights' shape, then the elementwise work XLA-compiled on large inputs, op by op on small
ones, with the same bits either way. Eager Keras ops cost ~2 ms a call and a pass over memory per
op, which made the proxy 2-4x slower than upstream HGQ's (whose quantizer is XLA-compiled).

>>> q = FixedPointQuantizer.from_format(FixedFormat(1, 2, 1, "RND", "SAT"), name="q")
>>> q(np.array([[0.26, 5.0, -9.0]], dtype="float32")).numpy().tolist()
[[0.5, 3.5, -4.0]]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.ir.errors import FormatError
from hgq_ir.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, float32_values, quantize

__all__ = ["FixedPointQuantizer", "UnaryLUT", "lut_inputs"]

# Exact powers of two, gathered instead of computed: pow/exp2 kernels are not guaranteed exact.
_POW2_MIN, _POW2_MAX = -126, 127
_POW2 = np.ldexp(1.0, np.arange(_POW2_MIN, _POW2_MAX + 1)).astype(np.float32)


def _pow2(e: Any) -> Any:
    """Exact ``2**e`` (float32) for an integer-valued float tensor ``e`` in the normal range."""
    idx = ops.cast(ops.clip(e, _POW2_MIN, _POW2_MAX) - _POW2_MIN, "int32")
    return ops.take(ops.convert_to_tensor(_POW2), idx)


#: widest ``b`` for which :func:`_mod_pow2` equals ``ops.mod(n, 2**b)``; wider formats use ``mod``
FLOOR_MOD_MAX_BITS = 100


def _mod_pow2(n: Any, p: Any, inv: Any) -> Any:
    """``n mod p`` (floor semantics) for integer-valued float32 ``n`` and ``p = 1 / inv = 2**e``, ``0 <= e <= 100``.

    The same value as ``ops.mod(n, p)`` for every finite ``n`` (up to the sign of a zero result), at a
    fraction of its cost (``mod`` is a scalar ``fmod`` call per element): ``n * inv`` is exact (a
    power-of-two scaling whose result stays normal), so is ``floor(.) * p`` (below ``2**127``),
    and the difference is either exact or the same single rounding ``n + p`` that ``mod`` does.
    """
    return n - ops.floor(n * inv) * p


def _round(x: Any, mode: str) -> Any:
    """Round float32 integers-to-be with an ap_fixed rounding mode, exactly.

    ``floor(x + 0.5)`` would double-round above 2**23. ``x - floor(x)`` is exact except on
    (-1/2, 0), where ``1 + x`` may round to exactly 1/2 (x = -0.49999997): the true fraction is
    above 1/2 there, so those values always round up (to 0).
    """
    fl = ops.floor(x)
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return ops.where(x < 0, ops.ceil(x), fl)
    frac = x - fl
    tie_up = {
        "RND": lambda: ops.ones_like(x, dtype="bool"),
        "RND_ZERO": lambda: x < 0,
        "RND_INF": lambda: x > 0,
        "RND_MIN_INF": lambda: ops.zeros_like(x, dtype="bool"),
        "RND_CONV": lambda: ops.not_equal(_mod_pow2(fl, 2.0, 0.5), 0.0),  # fl is odd
    }[mode]()
    near_zero = ops.logical_and(x > -0.5, x < 0)
    tie = ops.logical_and(ops.equal(frac, 0.5), ops.logical_not(near_zero))
    up = ops.logical_or(ops.logical_or(frac > 0.5, near_zero), ops.logical_and(tie, tie_up))
    return fl + ops.cast(up, x.dtype)


def _overflow_constants(k: Any, b: Any, mode: str) -> tuple[Any, ...]:
    """What overflow mode ``mode`` needs of the format ``k``, ``b`` (float32, the weights' shape)."""
    ib = b - k  # i + f, the magnitude bits
    n_max = _pow2(ib) - 1.0
    if mode == "WRAP":
        # below 100 bits the exact floor formula, else mod: a cond, so only one of them runs
        return n_max, k > 0, _pow2(b), _pow2(-b), ops.max(b) <= FLOOR_MOD_MAX_BITS
    lo = -k * _pow2(ib)
    if mode == "SAT_SYM":
        # ap_types keeps the minimum of a 1-bit signed type under AP_SAT_SYM
        lo = ops.where(ops.logical_and(k > 0, b > 1), -n_max, lo)
    return n_max, lo


def _overflow(n: Any, mode: str, n_max: Any, *c: Any) -> Any:
    """Apply an ap_fixed overflow mode to integer codes ``n``, given :func:`_overflow_constants`."""
    if mode == "WRAP":
        signed, p, inv_p, floor_ok = c
        # mod first keeps every intermediate below 2**b, exact even for huge n
        r = ops.cond(floor_ok, lambda: _mod_pow2(n, p, inv_p), lambda: ops.mod(n, p))
        return ops.where(ops.logical_and(signed, r > n_max), r - p, r)
    (lo,) = c
    hi_val, lo_val = (0.0, 0.0) if mode == "SAT_ZERO" else (n_max, lo)
    n = ops.where(n > n_max, hi_val, n)
    return ops.where(n < lo, lo_val, n)


def _fixed_constants(k: Any, b: Any, I: Any, *, SAT: str, scalar: bool, **_: Any) -> tuple[Any, ...]:
    """A quantizer's constants from its int8 ``k, b, I`` weights (``scalar``: homogeneous): scales, bounds.

    Computed once per call on the weights' shape, not per element: XLA would otherwise fuse every
    power-of-two lookup into the loop over the batch, repeating it for every row.
    """
    k, b, I = (ops.cast(w, "float32") for w in (k, b, I))
    if scalar:
        k, b, I = k[0], b[0], I[0]
    f = b - I
    return _pow2(f), _pow2(-f), b > 0, *_overflow_constants(k, b, SAT)


def _fixed(x: Any, scale: Any, unscale: Any, live: Any, *over: Any, RND: str, SAT: str, **_: Any) -> Any:
    """``FixedPointQuantizer``'s computation on ``x``, given :func:`_fixed_constants`."""
    x = ops.cast(x, "float32")
    n = _round(x * scale, RND)
    n = _overflow(n, SAT, *over)
    r = ops.where(live, n * unscale, 0.0)  # zero-width elements are 0 (also for inf/NaN inputs)
    return ops.where(r == 0.0, 0.0, r)  # -0.0 becomes 0.0 (XLA simplifies ``r + 0.0`` to ``r``)


def _lut_constants(table: Any, **_: Any) -> tuple[Any, ...]:
    """A lookup table's constants: the table."""
    return (table,)


def _lut(x: Any, table: Any, *, f_in: int, size: int, **_: Any) -> Any:
    """``UnaryLUT``'s computation: ``table[round(x * 2**f_in) mod size]``."""
    x = ops.cast(x, "float32")
    n = _round(x * _pow2(ops.convert_to_tensor(float(f_in))), "RND")
    wrapped = _mod_pow2(n, float(size), 1.0 / size) if size <= 2**FLOOR_MOD_MAX_BITS else ops.mod(n, float(size))
    idx = ops.cast(wrapped, "int32")
    return ops.take(table, idx)


#: layer kind -> (its constants from its weights, its computation from its input and constants, whether the
#: constants are per element: shaped like the input's features, or scalars)
_KINDS: dict[str, tuple[Callable[..., tuple[Any, ...]], Callable[..., Any], bool]] = {
    "fixed": (_fixed_constants, _fixed, True),
    "lut": (_lut_constants, _lut, False),
}
#: calls on at least this many input elements run XLA-compiled under TensorFlow; smaller ones run op by op
XLA_MIN_ELEMENTS = 1 << 15
#: traced functions kept (least recently used dropped first): a long fuzz run meets thousands of shapes
MAX_FUNCTIONS = 512
_FUNCTIONS: OrderedDict[tuple[Any, ...], Callable[..., Any]] = OrderedDict()


def _function(kind: str, x: Any, weights: tuple[Any, ...], static: dict[str, Any]) -> Callable[..., Any]:
    """The TensorFlow function computing layer ``kind`` from ``(x, *weights)``; one per static arguments and shapes.

    A graph, not eager ops: one call instead of thirty Keras op dispatches (about 2 ms a call, which
    dominated small batches). Inside, the constants (the weights' shape) are computed once, then
    the elementwise computation runs XLA-compiled on inputs of at least :data:`XLA_MIN_ELEMENTS`
    elements (XLA fuses the twenty-odd ops into one loop over the batch; TensorFlow makes one pass
    over memory per op), op by op below (compiling, about 0.1 s per layer and batch size, would
    not pay off). A ``cond`` on the size picks the branch per call, so ``predict`` switches per
    batch; only the branch taken runs, and XLA compiles lazily. Both branches give the same bits
    (tested). The batch axis is left open: no retracing per batch size.
    """
    import tensorflow as tf

    key = (kind, tuple(sorted(static.items())), XLA_MIN_ELEMENTS, x.dtype, tuple(x.shape[1:]),
           *((w.dtype, tuple(w.shape)) for w in weights))
    fn = _FUNCTIONS.get(key)
    if fn is not None:
        _FUNCTIONS.move_to_end(key)
    else:
        prepare, body, per_element = _KINDS[kind]
        threshold = XLA_MIN_ELEMENTS
        xla = tf.function(lambda x, *c: body(x, *c, **static), jit_compile=True, autograph=False)
        feat = tuple(x.shape[1:])
        flat = len(feat) > 1 and None not in feat  # (N, 8, 8, 2) -> (N, 128): XLA vectorizes along 128, not 2
        size = int(np.prod(feat)) if flat else 0

        def run(x: Any, *w: Any) -> Any:
            consts = prepare(*w, **static)
            if flat:
                x_in = tf.reshape(x, (-1, size))
                if per_element:
                    consts = tuple(c if c.shape.rank == 0 else tf.reshape(tf.broadcast_to(c, (1, *feat)), (1, size))
                                   for c in consts)
            else:
                x_in = x
            y = tf.cond(tf.size(x, out_type=tf.int64) >= threshold, lambda: xla(x_in, *consts),
                        lambda: body(x_in, *consts, **static))
            return tf.reshape(y, tf.shape(x)) if flat else y

        spec = [tf.TensorSpec((None, *x.shape[1:]), x.dtype)] + [tf.TensorSpec(w.shape, w.dtype) for w in weights]
        fn = _FUNCTIONS[key] = tf.function(run, input_signature=spec, autograph=False)
        while len(_FUNCTIONS) > MAX_FUNCTIONS:
            _FUNCTIONS.popitem(last=False)
    return fn


def _run(kind: str, x: Any, weights: tuple[Any, ...], **static: Any) -> Any:
    """Layer ``kind``'s output for input ``x``: its constants from ``weights``, then its elementwise computation.

    Under TensorFlow one :func:`_function` call; other backends run the Keras ops directly.
    """
    if keras.backend.backend() != "tensorflow":
        prepare, body, _ = _KINDS[kind]
        return body(x, *prepare(*weights, **static), **static)
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    weights = tuple(tf.convert_to_tensor(w) for w in weights)
    return _function(kind, x, weights, static)(x, *weights)


def _check_modes(RND: str, SAT: str, where: str) -> None:
    if RND not in ROUNDING_MODES:
        raise FormatError(f"{where}: unknown rounding mode {RND!r}; use one of {ROUNDING_MODES}")
    if SAT not in OVERFLOW_MODES:
        raise FormatError(f"{where}: unknown overflow mode {SAT!r}; use one of {OVERFLOW_MODES}")


def _int8(a: Any, what: str, where: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise FormatError(f"{where}: {what} must hold integers, got {arr!r}")
    if np.any(arr < -128) or np.any(arr > 127):
        raise FormatError(f"{where}: {what} out of int8 range (hls4ml stores k, b, I as int8)")
    return arr.astype(np.int8)


def constant_initializer(value: np.ndarray) -> Any:
    """An initializer returning ``value`` (Keras casts it to the variable's dtype).

    Building a proxy starts every weight from its known value: one op instead of a random or zero
    initialisation followed by an assignment. Not serializable: keep it out of layer configs.
    """

    def init(shape: Any, dtype: Any = None) -> np.ndarray:
        return np.asarray(value).reshape(shape)

    return init


@keras.saving.register_keras_serializable(package="hgq_ir")
class FixedPointQuantizer(keras.layers.Layer):
    """Quantize to a per-element fixed-point format, as ``hgq_ir.ir.fixed.quantize`` does.

    Args:
        keep_negative, bits, integers: hls4ml's ``(k, W, I)`` arrays (``W = k+i+f``,
            ``I = k+i``), broadcastable together and against the input (batch axis excluded).
            Elements with ``bits == 0`` output 0. ``None`` only when loading from a config.
        RND: ap_fixed rounding mode (``TRN``, ``RND``, ``RND_CONV``, ...).
        SAT: ap_fixed overflow mode (``WRAP``, ``SAT``, ``SAT_SYM``, ``SAT_ZERO``).
        overrides: hls4ml per-layer overrides, e.g. ``{'layers': {'dense': {'parallelization_factor': 4}}}``.
        fusible: let hls4ml fold the quantizer into its producer's type. Default: the format is
            homogeneous. ``True`` on a heterogeneous format is refused (hls4ml would keep only
            the first element).
        shape: shape of the stored weights without the leading 1 (taken from the arrays when
            they are given; needed to rebuild from a config).
        rank: rank of the input without the batch axis, when known: heterogeneous arrays are
            padded to it with leading axes of size 1 (hls4ml wants the input's rank).

    The weights are created with the layer whenever their final shape is known (homogeneous,
    ``rank`` given, or rebuilt from a config), otherwise in :meth:`build`. Creating them here,
    outside the layer's name scope, gives every quantizer's variables the same TensorFlow debug
    names, so TF reuses its cached variable kernels: about 0.4 ms less per variable, which is a
    good part of a proxy's construction time.
    """

    def __init__(
        self,
        keep_negative: Any = None,
        bits: Any = None,
        integers: Any = None,
        RND: str = "TRN",
        SAT: str = "WRAP",
        overrides: dict | None = None,
        fusible: bool | None = None,
        shape: Sequence[int] | None = None,
        rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        where = f"FixedPointQuantizer {self.name!r}"
        _check_modes(RND, SAT, where)
        self.RND, self.SAT = RND, SAT
        self.overrides = dict(overrides) if overrides else {}
        self._init_kbi: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if keep_negative is None:
            if shape is None:
                raise FormatError(f"{where}: give keep_negative, bits, integers (or shape, when loading)")
            self._shape = tuple(int(s) for s in shape)
            homogeneous = all(s == 1 for s in self._shape)
        else:
            if bits is None or integers is None:
                raise FormatError(f"{where}: give all of keep_negative, bits and integers")
            k, b, I = (_int8(a, n, where) for a, n in ((keep_negative, "keep_negative"), (bits, "bits"),
                                                        (integers, "integers")))
            try:
                full = np.broadcast_shapes(k.shape, b.shape, I.shape)
            except ValueError as e:
                raise FormatError(f"{where}: k {k.shape}, b {b.shape}, I {I.shape} do not broadcast") from e
            k, b, I = (np.broadcast_to(a, full) for a in (k, b, I))
            if np.any((k != 0) & (k != 1)):
                raise FormatError(f"{where}: keep_negative must be 0 or 1")
            if np.any(b < 0):
                raise FormatError(f"{where}: negative bits {int(b.min())}")
            # a zero-width element is the constant 0 whatever k and I say; normalise for hls4ml
            k, I = np.where(b == 0, 0, k).astype(np.int8), np.where(b == 0, 0, I).astype(np.int8)
            homogeneous = all(np.all(a == a.flat[0]) for a in (k, b, I))
            if homogeneous:
                k, b, I = (a.reshape(-1)[:1] for a in (k, b, I))
            self._shape = () if homogeneous else tuple(full)
            if rank is not None and not homogeneous:
                self._shape = self._padded(self._shape, rank)
                k, b, I = (a.reshape(self._shape) for a in (k, b, I))
            self._init_kbi = (k, b, I)
        if fusible and not homogeneous:
            raise FormatError(f"{where}: fusible=True needs a homogeneous format (hls4ml keeps element 0)")
        self.fusible = homogeneous if fusible is None else bool(fusible)
        if keep_negative is None or homogeneous or rank is not None:
            self._make_weights()

    def _padded(self, shape: tuple[int, ...], rank: int) -> tuple[int, ...]:
        """``shape`` with leading 1s up to ``rank`` axes (hls4ml asserts the mask has the input's rank)."""
        if len(shape) > rank:
            raise FormatError(f"FixedPointQuantizer {self.name!r}: format of shape {shape} has more axes than "
                              f"its input (rank {rank})")
        return (1,) * (rank - len(shape)) + shape if shape else ()

    def _make_weights(self) -> None:
        """Create the int8 weights ``(1, *shape)`` from the known values (zeros when loading)."""
        wshape = (1, *self._shape) if self._shape else (1,)
        init = self._init_kbi
        for j, wname in enumerate(("keep_negative", "bits", "integers")):
            start = np.zeros(wshape, np.int8) if init is None else init[j].reshape(wshape)
            # a plain attribute: Keras tracks it as a weight, and outside add_weight's name scope
            setattr(self, f"_{wname}", keras.Variable(start, dtype="int8", trainable=False, name=wname))
        self._init_kbi = None

    @classmethod
    def from_format(cls, fmt: FixedFormat, name: str | None = None, overrides: dict | None = None,
                    **kwargs: Any) -> FixedPointQuantizer:
        """Quantizer computing ``quantize(x, fmt)``; ``fmt`` broadcasts against the input."""
        k, b, I = fmt.to_kbi()
        return cls(k, b, I, RND=fmt.round, SAT=fmt.overflow, overrides=overrides, name=name, **kwargs)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check the format against the input; create the weights if ``__init__`` could not."""
        feat = tuple(input_shape[1:])
        made = hasattr(self, "_bits")
        if made and self._shape and len(self._shape) != len(feat):
            raise FormatError(f"FixedPointQuantizer {self.name!r}: format of shape {self._shape} does not have "
                              f"the rank of its input {feat}")
        shape = self._shape if made else self._padded(self._shape, len(feat))
        try:
            np.broadcast_shapes(shape, tuple(1 if s is None else s for s in feat))
        except ValueError as e:
            raise FormatError(f"FixedPointQuantizer {self.name!r}: format of shape {self._shape} does not "
                              f"broadcast to the input's {feat}") from e
        if not made:
            self._shape = shape
            self._make_weights()

    def call(self, inputs: Any) -> Any:
        """Quantize ``inputs``: scale by ``2**f``, round, apply overflow on the codes, scale back."""
        weights = (self._keep_negative.value, self._bits.value, self._integers.value)
        return _run("fixed", inputs, weights, RND=self.RND, SAT=self.SAT, scalar=not self._shape)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Same shape as the input."""
        return tuple(input_shape)

    @property
    def kbi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keep_negative, bits, integers)`` as int64 arrays, without the leading axis."""
        if not hasattr(self, "_bits"):
            if self._init_kbi is None:
                raise FormatError(f"FixedPointQuantizer {self.name!r} has no format before it is built")
            return tuple(a.astype(np.int64) for a in self._init_kbi)  # type: ignore[return-value]
        arrs = (np.asarray(w.numpy(), dtype=np.int64)[0] for w in (self._keep_negative, self._bits,
                                                                       self._integers))
        return tuple(arrs)  # type: ignore[return-value]

    @property
    def format(self) -> FixedFormat:
        """The quantizer's :class:`FixedFormat` (rounding ``RND``, overflow ``SAT``)."""
        return FixedFormat.from_kbi(*self.kbi, round=self.RND, overflow=self.SAT)

    def get_config(self) -> dict[str, Any]:
        """Config keys hls4ml reads (``RND``, ``SAT``, ``fusible``, ``overrides``) plus ``shape``."""
        config = super().get_config()
        config.update(RND=self.RND, SAT=self.SAT, fusible=self.fusible, overrides=self.overrides,
                      shape=list(self._shape))
        return config

    def __repr__(self) -> str:
        try:
            fmt = self.format.summary()
        except FormatError:
            fmt = "unset"
        kind = "homogeneous" if self.fusible else f"per-element {self._shape}"
        return f"<FixedPointQuantizer {self.name!r} {fmt} {kind}>"


def _kif(kif: Sequence[int], what: str) -> tuple[int, int, int]:
    k, i, f = (int(v) for v in kif)
    if k not in (0, 1) or k + i + f <= 0:
        raise FormatError(f"UnaryLUT {what} {kif!r}: need k in (0, 1) and a positive width k+i+f")
    return k, i, f


def lut_inputs(kif_in: Sequence[int]) -> np.ndarray:
    """Every value of the homogeneous format ``kif_in``, in raw-bit (two's complement) order."""
    k, i, f = _kif(kif_in, "kif_in")
    n = 2 ** (k + i + f)
    codes = np.arange(n, dtype=np.float64)
    if k:
        codes = np.where(codes >= n // 2, codes - n, codes)
    return np.ldexp(codes, -f)


@keras.saving.register_keras_serializable(package="hgq_ir")
class UnaryLUT(keras.layers.Layer):
    """Elementwise lookup table on a homogeneous input format ``kif_in = (k, i, f)``.

    ``table[j]`` is the output for the input whose raw ``k+i+f`` bits read ``j``; inference is
    ``table[round(x * 2**f) mod 2**(k+i+f)]`` (half up), which is hls4ml's ``unary_lut`` for
    inputs on the grid. hls4ml indexes with *all* bits of its input type, so ``kif_in`` must
    be exactly the format hls4ml derives for the LUT's input. ``RND`` and ``SAT`` record how
    the table was quantized to ``kif_out``.
    """

    def __init__(
        self,
        kif_in: Sequence[int],
        kif_out: Sequence[int],
        table: Any = None,
        RND: str = "TRN",
        SAT: str = "WRAP",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        _check_modes(RND, SAT, f"UnaryLUT {self.name!r}")
        self.kif_in, self.kif_out = _kif(kif_in, "kif_in"), _kif(kif_out, "kif_out")
        self.RND, self.SAT = RND, SAT
        self.table_size = 2 ** sum(self.kif_in)
        start = np.zeros(self.table_size, np.float32)
        if table is not None:
            t = np.asarray(table, dtype=np.float64).reshape(-1)
            if t.size != self.table_size:
                raise FormatError(f"UnaryLUT {self.name!r}: table has {t.size} entries, kif_in {self.kif_in} "
                                  f"needs {self.table_size}")
            if not float32_values(t):
                raise FormatError(f"UnaryLUT {self.name!r}: table entries are not exact in float32")
            start = t.astype(np.float32)
        # made with the layer, outside add_weight's name scope: see FixedPointQuantizer
        self.table = keras.Variable(start, dtype="float32", trainable=False, name="table")

    @classmethod
    def from_function(cls, fn: Callable[[np.ndarray], np.ndarray], fmt_in: FixedFormat, fmt_out: FixedFormat,
                      name: str | None = None, **kwargs: Any) -> UnaryLUT:
        """Table of ``quantize(fn(x), fmt_out)`` over every ``x`` of ``fmt_in`` (both homogeneous).

        >>> lut = UnaryLUT.from_function(np.tanh, FixedFormat(1, 1, 3), FixedFormat(1, 0, 5, "RND", "SAT"))
        """
        for what, fmt in (("input", fmt_in), ("output", fmt_out)):
            if not fmt.is_homogeneous:
                raise FormatError(f"UnaryLUT {name!r}: {what} format {fmt.summary()} must be homogeneous")
        kif_in = tuple(int(a.flat[0]) for a in (fmt_in.k, fmt_in.i, fmt_in.f))
        kif_out = tuple(int(a.flat[0]) for a in (fmt_out.k, fmt_out.i, fmt_out.f))
        table = quantize(fn(lut_inputs(kif_in)), fmt_out)
        return cls(kif_in, kif_out, table, RND=fmt_out.round, SAT=fmt_out.overflow, name=name, **kwargs)

    def call(self, inputs: Any) -> Any:
        """Gather ``table[round(x * 2**f_in) mod N]``."""
        return _run("lut", inputs, (self.table.value,), f_in=self.kif_in[2], size=self.table_size)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Same shape as the input."""
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        """Config keys hls4ml reads (``kif_in``, ``kif_out``) plus the table's ``RND``/``SAT``."""
        config = super().get_config()
        config.update(kif_in=list(self.kif_in), kif_out=list(self.kif_out), RND=self.RND, SAT=self.SAT)
        return config

    def __repr__(self) -> str:
        return (f"<UnaryLUT {self.name!r} in=fx<k{self.kif_in[0]} i{self.kif_in[1]} f{self.kif_in[2]}> "
                f"out=fx<k{self.kif_out[0]} i{self.kif_out[1]} f{self.kif_out[2]} {self.RND} {self.SAT}> "
                f"{self.table_size} entries>")
