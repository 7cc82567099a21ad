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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.op_base import (
    Formats,
    Input,
    Op,
    Weight,
    folded_kernel_weights,
    full_format,
    kernel_widths,
    weight_array,
)
from hgq_ir.ir.window_ops import AvgPool1D, AvgPool2D, Conv1D, Conv2D, MaxPool1D, MaxPool2D

if TYPE_CHECKING:
    from hgq_ir.ir.graph import Graph

__all__ = ["ALL_OPS", "NUMPY_ACTIVATIONS", "LUT", "Activation", "Add", "AvgPool1D", "AvgPool2D", "BatchNorm",
           "Concatenate", "Conv1D", "Conv2D", "Dense", "Flatten", "Formats", "Input", "MaxPool1D", "MaxPool2D",
           "Op", "Quantize", "Reshape", "Signature", "Submodel"]


# ---- quantizers -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Quantize(Op):
    """Round and overflow to ``format`` (ap_fixed semantics); the only lossy linear op.

    ``clips=True`` marks an overflow mode that is the source model's meaning, not a choice: a
    QKeras quantizer clips whatever ``aggressive`` says, so ``assign_overflow`` keeps it.
    """

    kind: ClassVar[str] = "Quantize"
    format: FixedFormat = field(default_factory=lambda: FixedFormat(1, 0, 0), repr=False)
    clips: bool = False
    formats_without_inputs: ClassVar[bool] = True
    is_elementwise: ClassVar[bool] = True

    @property
    def quantizer_format(self) -> FixedFormat:
        return self.format

    @property
    def pinned_overflow(self) -> bool:
        return self.clips

    def with_format(self, fmt: FixedFormat) -> Quantize:
        """The same quantizer with another format."""
        return replace(self, format=fmt)

    def is_identity(self, in_shapes, in_formats):
        # every value of the input is representable: neither rounding nor overflow can act
        return in_formats[0] is not None and fixed.fits_in(in_formats[0], self.format)

    def format_rule(self, in_formats, in_shapes, weights):
        return self.format

    def evaluate(self, xs, weights):
        return [fixed.quantize(xs[0], self.format)]


@dataclass(frozen=True, eq=False)
class Signature(Quantize):
    """Marks an input as already quantized to ``format`` (emitted as a TRN/SAT quantizer)."""

    kind: ClassVar[str] = "Signature"

    @property
    def pinned_overflow(self) -> bool:
        return True  # an input's declared format (TRN, SAT)

    def is_identity(self, in_shapes, in_formats):
        return False  # it declares the input's format: keep it


# ---- linear algebra -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dense(Op):
    """``x @ kernel + bias`` on the last axis; weights ``kernel`` (n_in, n_out), optional ``bias``."""

    kind: ClassVar[str] = "Dense"
    has_kernel: ClassVar[bool] = True

    def bops(self, in_format, in_shape, weights, parallel_factor=1):
        # per position for inputs of rank > 1, summed
        b_in = np.broadcast_to(in_format.b, in_shape).astype(np.float64)
        return float((b_in @ kernel_widths(weights)).sum())

    def fold_scale_shift(self, weights, s, t):
        return folded_kernel_weights(weights, s, t)

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
        x = full_format(in_formats[0], in_shapes[0])
        return fixed.interval_matmul(*fixed.interval(x), weight_array(weights, "kernel"), weight_array(weights, "bias"))

    def exact_bits(self, in_formats, in_shapes, weights):
        if in_formats[0] is None:
            return 0
        x = full_format(in_formats[0], in_shapes[0])
        kernel, bias = weight_array(weights, "kernel"), weight_array(weights, "bias")
        return fixed.matmul_partial_sum_bits(*fixed.interval(x), kernel, bias)

    def evaluate(self, xs, weights):
        y = xs[0] @ weight_array(weights, "kernel")
        b = weight_array(weights, "bias")
        return [y if b is None else y + b]


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
    """Elementwise activation ``function`` (a Keras name, or a custom function's name).

    ``fn`` is how the source model computes it: a frontend passes the framework's own function at
    the layer's compute dtype (Keras' float32 ``tanh`` rounds to exactly 1.0 where float64 does not,
    and a quantizer after it sees the difference), so the IR means what the trained model
    computes. ``dtype`` names that float type (``float32``: the source also quantizes the result in
    float32, flushing subnormal products to 0). Without ``fn``, a Keras name computes in numpy
    float64. Only ``linear`` and ``relu``
    are exact; a lookup table (``select_lut``) makes the others exact on fixed-point inputs.
    """

    kind: ClassVar[str] = "Activation"
    function: str = "linear"
    fn: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    dtype: str | None = None

    def __post_init__(self) -> None:
        if self.fn is None and self.function not in NUMPY_ACTIVATIONS:
            raise GraphError(f"Activation {self.function!r} is unknown; pass fn= (a numpy callable) "
                             f"or use one of {sorted(NUMPY_ACTIVATIONS)}")

    @property
    def is_elementwise(self) -> bool:
        """False for softmax (it mixes the last axis)."""
        return self.function != "softmax"

    @property
    def activation(self) -> str | None:
        return None if self.custom else self.function

    @property
    def custom(self) -> bool:
        """True for a function with no Keras name: it converts only as a lookup table."""
        return self.function not in NUMPY_ACTIVATIONS

    def is_identity(self, in_shapes, in_formats):
        return self.function == "linear"

    def format_rule(self, in_formats, in_shapes, weights):
        if self.function == "linear":
            return in_formats[0]
        if self.function == "relu":
            return fixed.relu_format(in_formats[0])
        return None

    def evaluate(self, xs, weights):
        if self.function in ("linear", "relu"):
            fn = NUMPY_ACTIVATIONS[self.function]  # exact in any dtype
        else:
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
    is_elementwise: ClassVar[bool] = True

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
    is_elementwise: ClassVar[bool] = True

    def shape_rule(self, in_shapes, weights, where):
        if len(set(in_shapes)) != 1:
            raise GraphError(f"node {where!r} (Add): input shapes differ: {in_shapes}")
        return in_shapes[0]

    def format_rule(self, in_formats, in_shapes, weights):
        return fixed.add_format(*(full_format(f, s) for f, s in zip(in_formats, in_shapes, strict=True)))

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

    def is_identity(self, in_shapes, in_formats):
        return tuple(in_shapes[0]) == tuple(self.target)

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

    def is_identity(self, in_shapes, in_formats):
        return len(in_shapes[0]) == 1

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
        gamma = weight_array(weights, "gamma")
        beta = weight_array(weights, "beta")
        mean = weight_array(weights, "moving_mean")
        var = weight_array(weights, "moving_variance")
        gamma = np.ones(channels) if gamma is None else gamma
        beta = np.zeros(channels) if beta is None else beta
        mean = np.zeros(channels) if mean is None else mean
        var = np.ones(channels) if var is None else var
        s = gamma / np.sqrt(var + self.epsilon)
        return s, beta - mean * s

    def as_scale_shift(self, weights, channels):
        return self.scale_shift(weights, channels)

    def evaluate(self, xs, weights):
        s, t = self.scale_shift(weights, xs[0].shape[-1])
        return [xs[0] * s + t]


@dataclass(frozen=True, eq=False)
class Submodel(Op):
    """A nested graph (a Keras Model used as a layer); ``flatten_nested`` inlines it."""

    kind: ClassVar[str] = "Submodel"
    arity: ClassVar[int | None] = None
    graph: Graph | None = field(default=None, repr=False)

    @property
    def subgraph(self) -> Graph | None:
        return self.graph

    def output_shapes(self, in_shapes, weights, where=""):
        inner = self.graph
        if inner is None or [v.shape for v in inner.inputs] != [tuple(s) for s in in_shapes]:
            got = None if inner is None else [v.shape for v in inner.inputs]
            raise GraphError(f"node {where!r} (Submodel): inputs {in_shapes} do not match inner inputs {got}")
        return [v.shape for v in inner.outputs]

    def output_formats(self, in_formats, in_shapes, weights):
        # the inner graph read with the caller's input formats (the interpreter runs it)
        formats = propagate(self.graph, input_formats=in_formats)
        return [formats[v.name] for v in self.graph.outputs]

    def attrs_text(self) -> str:
        return f"graph={self.graph.name}"


ALL_OPS: tuple[type[Op], ...] = (
    Input, Quantize, Signature, Dense, Conv1D, Conv2D, MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D,
    Activation, LUT, Add, Concatenate, Reshape, Flatten, BatchNorm, Submodel,
)
