"""Operations of the IR: one small frozen dataclass per op kind.

Each op carries its own behaviour, dispatched by type:

- ``output_shapes(in_shapes, weights)``: the shape rule (batch axis excluded);
- ``output_formats(in_formats, in_shapes, weights)``: the exact format of the result, or None
  when the result is not a fixed-point value (float activations, unknown inputs);
- ``evaluate(xs, weights)``: numpy evaluation (batch axis first), exact in float64 whenever
  ``exact_bits`` <= 53;
- ``attrs_text()``: the key attributes for the text form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hgq_ir import fixed
from hgq_ir.errors import GraphError
from hgq_ir.fixed import FixedFormat
from hgq_ir.windows import extract_patches, output_spatial, window_counts

if TYPE_CHECKING:
    from hgq_ir.graph import Graph, Shape, Weight

Formats = list[FixedFormat | None]


@dataclass(frozen=True, eq=False)
class Op:
    """Base of every op. ``arity`` None means variadic (at least ``min_arity`` inputs)."""

    kind: ClassVar[str] = "Op"
    arity: ClassVar[int | None] = 1
    min_arity: ClassVar[int] = 1

    # ---- rules every op provides -------------------------------------------------------
    def output_shapes(self, in_shapes: list[Shape], weights: dict[str, Weight], where: str = "") -> list[Shape]:
        """Shapes of the outputs; raises :class:`GraphError` naming ``where`` on a mismatch."""
        n = len(in_shapes)
        if (self.arity is not None and n != self.arity) or (self.arity is None and n < self.min_arity):
            want = self.arity if self.arity is not None else f">= {self.min_arity}"
            raise GraphError(f"node {where!r} ({self.kind}): takes {want} inputs, got {n}")
        return [tuple(int(s) for s in self.shape_rule(in_shapes, weights, where))]

    def shape_rule(self, in_shapes: list[Shape], weights: dict[str, Weight], where: str) -> Shape:
        """Shape of the single output."""
        return in_shapes[0]

    def output_formats(self, in_formats: Formats, in_shapes: list[Shape], weights: dict[str, Weight]) -> Formats:
        """Exact formats of the outputs (None where not a fixed-point value)."""
        if any(f is None for f in in_formats) and not self.formats_without_inputs:
            return [None]
        return [self.format_rule(in_formats, in_shapes, weights)]

    formats_without_inputs: ClassVar[bool] = False

    def format_rule(self, in_formats: list[FixedFormat], in_shapes: list[Shape],
                    weights: dict[str, Weight]) -> FixedFormat | None:
        """Exact format of the single output, given known input formats."""
        return None

    def exact_bits(self, in_formats: Formats, in_shapes: list[Shape], weights: dict[str, Weight]) -> int:
        """Bits the float64 evaluation needs to be exact (0 when not applicable)."""
        outs = self.output_formats(in_formats, in_shapes, weights)
        return max((fixed.required_bits(f) for f in outs if f is not None), default=0)

    def evaluate(self, xs: list[np.ndarray], weights: dict[str, Weight]) -> list[np.ndarray]:
        """Outputs for batched inputs ``xs``."""
        raise NotImplementedError(f"{self.kind} has no evaluation")

    def attrs_text(self) -> str:
        """``key=value`` text of the attributes worth printing."""
        parts = []
        for fd in fields(self):
            if not fd.repr:
                continue
            v = getattr(self, fd.name)
            if isinstance(v, FixedFormat):
                v = v.summary()
            elif isinstance(v, tuple):
                v = "(" + ",".join(map(str, v)) + ")"
            parts.append(f"{fd.name}={v}")
        return " ".join(parts)


def _full(fmt: FixedFormat, shape: Shape) -> FixedFormat:
    return fmt.broadcast_to(tuple(shape))


def _w(weights: dict[str, Weight], name: str) -> np.ndarray | None:
    w = weights.get(name)
    return None if w is None else np.asarray(w.array, dtype=np.float64)


# ---- sources and quantizers ---------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Input(Op):
    """A graph input of ``shape`` (batch axis excluded)."""

    kind: ClassVar[str] = "Input"
    arity: ClassVar[int | None] = 0
    shape: tuple[int, ...] = field(default=(), repr=False)

    def shape_rule(self, in_shapes, weights, where):
        return self.shape


@dataclass(frozen=True, eq=False)
class Quantize(Op):
    """Round and overflow to ``format`` (ap_fixed semantics); the only lossy linear op."""

    kind: ClassVar[str] = "Quantize"
    format: FixedFormat = field(default_factory=lambda: FixedFormat(1, 0, 0), repr=False)
    formats_without_inputs: ClassVar[bool] = True

    def format_rule(self, in_formats, in_shapes, weights):
        return self.format

    def evaluate(self, xs, weights):
        return [fixed.quantize(xs[0], self.format)]


@dataclass(frozen=True, eq=False)
class Signature(Quantize):
    """Marks an input as already quantized to ``format`` (emitted as a TRN/SAT quantizer)."""

    kind: ClassVar[str] = "Signature"


# ---- linear algebra -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dense(Op):
    """``x @ kernel + bias`` on the last axis; weights ``kernel`` (n_in, n_out), optional ``bias``."""

    kind: ClassVar[str] = "Dense"

    def shape_rule(self, in_shapes, weights, where):
        if "kernel" not in weights:
            raise GraphError(f"node {where!r} (Dense): missing weight 'kernel'")
        k = weights["kernel"].array
        if k.ndim != 2 or not in_shapes[0] or in_shapes[0][-1] != k.shape[0]:
            raise GraphError(f"node {where!r} (Dense): input shape {in_shapes[0]} does not match "
                             f"kernel shape {k.shape}")
        b = weights.get("bias")
        if b is not None and b.array.shape != (k.shape[1],):
            raise GraphError(f"node {where!r} (Dense): bias shape {b.array.shape} != ({k.shape[1]},)")
        return (*in_shapes[0][:-1], k.shape[1])

    def format_rule(self, in_formats, in_shapes, weights):
        x = _full(in_formats[0], in_shapes[0])
        return fixed.interval_matmul(*fixed.interval(x), _w(weights, "kernel"), _w(weights, "bias"))

    def exact_bits(self, in_formats, in_shapes, weights):
        if in_formats[0] is None:
            return 0
        x = _full(in_formats[0], in_shapes[0])
        return fixed.matmul_partial_sum_bits(*fixed.interval(x), _w(weights, "kernel"), _w(weights, "bias"))

    def evaluate(self, xs, weights):
        y = xs[0] @ _w(weights, "kernel")
        b = _w(weights, "bias")
        return [y if b is None else y + b]


@dataclass(frozen=True, eq=False)
class _Window(Op):
    """Shared geometry of convolution and pooling (channels-last)."""

    rank: ClassVar[int] = 2
    window: tuple[int, ...] = (2, 2)
    strides: tuple[int, ...] = (2, 2)
    padding: str = "valid"

    def __post_init__(self) -> None:
        if len(self.window) != self.rank or len(self.strides) != self.rank:
            raise GraphError(f"{self.kind}: window {self.window} and strides {self.strides} need {self.rank} dims")
        if self.padding not in ("valid", "same"):
            raise GraphError(f"{self.kind}: padding must be 'valid' or 'same', got {self.padding!r}")

    def _spatial_out(self, in_shape: Shape, where: str) -> tuple[int, ...]:
        if len(in_shape) != self.rank + 1:
            raise GraphError(f"node {where!r} ({self.kind}): input shape {in_shape} is not "
                             f"{self.rank} spatial axes + channels")
        out = output_spatial(in_shape[:-1], self.window, self.strides, self.padding)
        if min(out) < 1:
            raise GraphError(f"node {where!r} ({self.kind}): window {self.window} larger than input {in_shape}")
        return out

    def _patches(self, x: np.ndarray, fill: float) -> np.ndarray:
        return extract_patches(x, self.window, self.strides, self.padding, fill)

    def _interval_patches(self, fmt: FixedFormat, shape: Shape, lo_fill: float):
        lo, hi, f = (a[None] for a in fixed.interval(_full(fmt, shape)))
        return (self._patches(lo, lo_fill)[0], self._patches(hi, lo_fill)[0],
                self._patches(f.astype(np.float64), fixed.ZERO_WIDTH_F)[0].astype(np.int64))


@dataclass(frozen=True, eq=False)
class _Conv(_Window):
    """Convolution with weights ``kernel`` (*window, c_in, c_out) and optional ``bias``."""

    strides: tuple[int, ...] = (1, 1)

    def shape_rule(self, in_shapes, weights, where):
        out = self._spatial_out(in_shapes[0], where)
        k = weights["kernel"].array if "kernel" in weights else None
        if k is None or k.shape[:-1] != (*self.window, in_shapes[0][-1]):
            got = None if k is None else k.shape
            raise GraphError(f"node {where!r} ({self.kind}): kernel shape {got} does not match "
                             f"window {self.window} and input channels of {in_shapes[0]}")
        return (*out, k.shape[-1])

    def _kernel2d(self, weights) -> np.ndarray:
        k = _w(weights, "kernel")
        return k.reshape(-1, k.shape[-1])

    def format_rule(self, in_formats, in_shapes, weights):
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], 0.0)
        flat = [a.reshape(*a.shape[:-2], -1) for a in (lo, hi, f)]
        return fixed.interval_matmul(*flat, self._kernel2d(weights), _w(weights, "bias"))

    def exact_bits(self, in_formats, in_shapes, weights):
        if in_formats[0] is None:
            return 0
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], 0.0)
        flat = [a.reshape(*a.shape[:-2], -1) for a in (lo, hi, f)]
        return fixed.matmul_partial_sum_bits(*flat, self._kernel2d(weights), _w(weights, "bias"))

    def evaluate(self, xs, weights):
        p = self._patches(xs[0], 0.0)
        y = p.reshape(*p.shape[:-2], -1) @ self._kernel2d(weights)
        b = _w(weights, "bias")
        return [y if b is None else y + b]


@dataclass(frozen=True, eq=False)
class Conv1D(_Conv):
    """1-D convolution, channels-last; ``window`` is the kernel size."""

    kind: ClassVar[str] = "Conv1D"
    rank: ClassVar[int] = 1
    window: tuple[int, ...] = (3,)
    strides: tuple[int, ...] = (1,)


@dataclass(frozen=True, eq=False)
class Conv2D(_Conv):
    """2-D convolution, channels-last; ``window`` is the kernel size."""

    kind: ClassVar[str] = "Conv2D"
    window: tuple[int, ...] = (3, 3)


# ---- pooling --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _MaxPool(_Window):
    def shape_rule(self, in_shapes, weights, where):
        return (*self._spatial_out(in_shapes[0], where), in_shapes[0][-1])

    def format_rule(self, in_formats, in_shapes, weights):
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], -np.inf)
        return fixed.from_interval(lo.max(axis=-2), hi.max(axis=-2), f.max(axis=-2))

    def evaluate(self, xs, weights):
        return [self._patches(xs[0], -np.inf).max(axis=-2)]


@dataclass(frozen=True, eq=False)
class MaxPool1D(_MaxPool):
    """1-D max pooling (padded cells never win)."""

    kind: ClassVar[str] = "MaxPool1D"
    rank: ClassVar[int] = 1
    window: tuple[int, ...] = (2,)
    strides: tuple[int, ...] = (2,)


@dataclass(frozen=True, eq=False)
class MaxPool2D(_MaxPool):
    """2-D max pooling (padded cells never win)."""

    kind: ClassVar[str] = "MaxPool2D"


@dataclass(frozen=True, eq=False)
class _AvgPool(_Window):
    def shape_rule(self, in_shapes, weights, where):
        return (*self._spatial_out(in_shapes[0], where), in_shapes[0][-1])

    def counts(self, in_shape: Shape) -> np.ndarray:
        """Real cells per window, shape (*out_spatial, 1); padded cells are not counted (Keras)."""
        return window_counts(tuple(in_shape[:-1]), self.window, self.strides, self.padding)[..., None]

    def is_exact(self, in_shape: Shape) -> bool:
        """True when every window (edge windows included) averages a power-of-2 count."""
        c = self.counts(in_shape).astype(np.int64)
        return bool(np.all((c & (c - 1)) == 0))

    def format_rule(self, in_formats, in_shapes, weights):
        if not self.is_exact(in_shapes[0]):
            return None
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], 0.0)
        c = self.counts(in_shapes[0])
        log2c = np.log2(c).astype(np.int64)
        return fixed.from_interval(lo.sum(axis=-2) / c, hi.sum(axis=-2) / c, f.max(axis=-2) + log2c)

    def evaluate(self, xs, weights):
        c = self.counts(xs[0].shape[1:])
        return [self._patches(xs[0], 0.0).sum(axis=-2) / c]


@dataclass(frozen=True, eq=False)
class AvgPool1D(_AvgPool):
    """1-D average pooling; exact when every window holds a power-of-2 count of cells."""

    kind: ClassVar[str] = "AvgPool1D"
    rank: ClassVar[int] = 1
    window: tuple[int, ...] = (2,)
    strides: tuple[int, ...] = (2,)


@dataclass(frozen=True, eq=False)
class AvgPool2D(_AvgPool):
    """2-D average pooling; exact when every window holds a power-of-2 count of cells."""

    kind: ClassVar[str] = "AvgPool2D"


# ---- elementwise and structural -------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "exponential": np.exp,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
}


@dataclass(frozen=True, eq=False)
class Activation(Op):
    """Elementwise activation ``function`` (a Keras name), or any unary numpy callable ``fn``.

    Only ``linear`` and ``relu`` are exact; others compute in float64 (use a LUT for exactness).
    """

    kind: ClassVar[str] = "Activation"
    function: str = "linear"
    fn: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.fn is None and self.function not in NUMPY_ACTIVATIONS:
            raise GraphError(f"Activation {self.function!r} is unknown; pass fn= (a numpy callable) "
                             f"or use one of {sorted(NUMPY_ACTIVATIONS)}")

    @property
    def is_elementwise(self) -> bool:
        """False for softmax (it mixes the last axis)."""
        return self.function != "softmax"

    def format_rule(self, in_formats, in_shapes, weights):
        if self.function == "linear":
            return in_formats[0]
        if self.function == "relu":
            return fixed.relu_format(in_formats[0])
        return None

    def evaluate(self, xs, weights):
        fn = self.fn or NUMPY_ACTIVATIONS[self.function]
        return [np.asarray(fn(xs[0]), dtype=np.float64)]


@dataclass(frozen=True, eq=False)
class LUT(Op):
    """Table lookup: ``table[round(x * 2**f_in) mod len(table)]`` (two's complement order).

    ``in_format`` and ``out_format`` are homogeneous; ``table`` holds one output per
    representable input, already quantized to ``out_format``.
    """

    kind: ClassVar[str] = "LUT"
    function: str = "lut"
    in_format: FixedFormat = field(default_factory=lambda: FixedFormat(1, 0, 0))
    out_format: FixedFormat = field(default_factory=lambda: FixedFormat(1, 0, 0))
    table: np.ndarray = field(default_factory=lambda: np.zeros(1), repr=False)
    formats_without_inputs: ClassVar[bool] = True

    def format_rule(self, in_formats, in_shapes, weights):
        return self.out_format

    def evaluate(self, xs, weights):
        f = int(self.in_format.f.flat[0])
        idx = np.floor(np.ldexp(xs[0], f) + 0.5).astype(np.int64) % len(self.table)
        return [np.asarray(self.table, dtype=np.float64)[idx]]


@dataclass(frozen=True, eq=False)
class Add(Op):
    """Elementwise sum of two or more inputs of one shape."""

    kind: ClassVar[str] = "Add"
    arity: ClassVar[int | None] = None
    min_arity: ClassVar[int] = 2

    def shape_rule(self, in_shapes, weights, where):
        if len(set(in_shapes)) != 1:
            raise GraphError(f"node {where!r} (Add): input shapes differ: {in_shapes}")
        return in_shapes[0]

    def format_rule(self, in_formats, in_shapes, weights):
        return fixed.add_format(*(_full(f, s) for f, s in zip(in_formats, in_shapes, strict=True)))

    def evaluate(self, xs, weights):
        return [sum(xs[1:], xs[0])]


@dataclass(frozen=True, eq=False)
class Concatenate(Op):
    """Concatenation along ``axis`` (counted without the batch axis, non-negative)."""

    kind: ClassVar[str] = "Concatenate"
    arity: ClassVar[int | None] = None
    axis: int = 0

    def shape_rule(self, in_shapes, weights, where):
        ranks = {len(s) for s in in_shapes}
        if len(ranks) != 1 or not 0 <= self.axis < ranks.pop():
            raise GraphError(f"node {where!r} (Concatenate): ranks {in_shapes} / axis {self.axis} do not fit")
        rest = {tuple(d for j, d in enumerate(s) if j != self.axis) for s in in_shapes}
        if len(rest) != 1:
            raise GraphError(f"node {where!r} (Concatenate): shapes {in_shapes} differ off axis {self.axis}")
        out = list(in_shapes[0])
        out[self.axis] = sum(s[self.axis] for s in in_shapes)
        return tuple(out)

    def format_rule(self, in_formats, in_shapes, weights):
        return fixed.concat_format(list(in_formats), list(in_shapes), self.axis)

    def evaluate(self, xs, weights):
        return [np.concatenate(xs, axis=self.axis + 1)]


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """Row-major reshape to ``target`` (batch axis excluded, no -1)."""

    kind: ClassVar[str] = "Reshape"
    target: tuple[int, ...] = ()

    def shape_rule(self, in_shapes, weights, where):
        if int(np.prod(self.target)) != int(np.prod(in_shapes[0])):
            raise GraphError(f"node {where!r} (Reshape): cannot reshape {in_shapes[0]} to {self.target}")
        return self.target

    def format_rule(self, in_formats, in_shapes, weights):
        return fixed.reshape_format(in_formats[0], in_shapes[0], self.target)

    def evaluate(self, xs, weights):
        return [xs[0].reshape(xs[0].shape[0], *self.target)]


@dataclass(frozen=True, eq=False)
class Flatten(Op):
    """Row-major flatten to one axis."""

    kind: ClassVar[str] = "Flatten"

    def shape_rule(self, in_shapes, weights, where):
        return (int(np.prod(in_shapes[0])),)

    def format_rule(self, in_formats, in_shapes, weights):
        return fixed.reshape_format(in_formats[0], in_shapes[0], (int(np.prod(in_shapes[0])),))

    def evaluate(self, xs, weights):
        return [xs[0].reshape(xs[0].shape[0], -1)]


@dataclass(frozen=True, eq=False)
class BatchNorm(Op):
    """Inference batch normalisation on the last axis; weights gamma, beta, moving_mean, moving_variance."""

    kind: ClassVar[str] = "BatchNorm"
    epsilon: float = 1e-3

    def scale_shift(self, weights: dict[str, Weight], channels: int) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)`` with ``bn(x) = x * s + t``."""
        gamma = _w(weights, "gamma")
        beta = _w(weights, "beta")
        mean = _w(weights, "moving_mean")
        var = _w(weights, "moving_variance")
        gamma = np.ones(channels) if gamma is None else gamma
        beta = np.zeros(channels) if beta is None else beta
        mean = np.zeros(channels) if mean is None else mean
        var = np.ones(channels) if var is None else var
        s = gamma / np.sqrt(var + self.epsilon)
        return s, beta - mean * s

    def evaluate(self, xs, weights):
        s, t = self.scale_shift(weights, xs[0].shape[-1])
        return [xs[0] * s + t]


@dataclass(frozen=True, eq=False)
class Submodel(Op):
    """A nested graph (a Keras Model used as a layer); ``flatten_nested`` inlines it."""

    kind: ClassVar[str] = "Submodel"
    arity: ClassVar[int | None] = None
    graph: Graph | None = field(default=None, repr=False)

    def output_shapes(self, in_shapes, weights, where=""):
        inner = self.graph
        if inner is None or [v.shape for v in inner.inputs] != [tuple(s) for s in in_shapes]:
            got = None if inner is None else [v.shape for v in inner.inputs]
            raise GraphError(f"node {where!r} (Submodel): inputs {in_shapes} do not match inner inputs {got}")
        return [v.shape for v in inner.outputs]

    def output_formats(self, in_formats, in_shapes, weights):
        return [v.format for v in self.graph.outputs]

    def evaluate(self, xs, weights):
        from hgq_ir.interpret import interpret

        out = interpret(self.graph, xs)
        return out if isinstance(out, list) else [out]

    def attrs_text(self) -> str:
        return f"graph={self.graph.name}"


ALL_OPS: tuple[type[Op], ...] = (
    Input, Quantize, Signature, Dense, Conv1D, Conv2D, MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D,
    Activation, LUT, Add, Concatenate, Reshape, Flatten, BatchNorm, Submodel,
)
