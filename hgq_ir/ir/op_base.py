"""The base of every IR operation, the ``Input`` op, and helpers the op modules share.

An op is a small frozen dataclass carrying its own behaviour, dispatched by type: a shape rule,
an exact format rule, a numpy evaluation, its attributes for the text form (see ``ops.py``), and
the *traits* passes and backends ask instead of switching on the op's class (``has_kernel``,
``bops``, ``fold_scale_shift``, ``as_scale_shift``, ``is_identity``, ``is_elementwise``,
``quantizer_format``, ``subgraph``, ``is_source``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.fixed import FixedFormat

if TYPE_CHECKING:
    from hgq_ir.ir.graph import Graph

Shape = tuple[int, ...]


class Weight(NamedTuple):
    """A constant tensor of a node and its fixed-point format (None = float)."""

    array: np.ndarray
    format: FixedFormat | None = None


Formats = list[FixedFormat | None]


@dataclass(frozen=True, eq=False)
class Op:
    """Base of every op. ``arity`` None means variadic (at least ``min_arity`` inputs)."""

    kind: ClassVar[str] = "Op"
    arity: ClassVar[int | None] = 1
    min_arity: ClassVar[int] = 1
    #: True for ops that read no value (graph inputs)
    is_source: ClassVar[bool] = False
    #: True for ops with a ``kernel`` weight multiplied into their input (Dense, Conv)
    has_kernel: ClassVar[bool] = False
    #: True when output element j depends only on input element j
    is_elementwise: ClassVar[bool] = False
    #: True for a quantizer whose overflow mode is the model's meaning (``assign_overflow`` keeps it)
    pinned_overflow: ClassVar[bool] = False

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

    # ---- traits passes and backends ask ---------------------------------------------------
    @property
    def subgraph(self) -> Graph | None:
        """The nested graph this op runs (a Submodel), else None."""
        return None

    @property
    def quantizer_format(self) -> FixedFormat | None:
        """The format this op rounds and overflows its input to (Quantize), else None."""
        return None

    @property
    def activation(self) -> str | None:
        """The Keras name of the standard elementwise function this op applies, else None."""
        return None

    def is_identity(self, in_shapes: list[Shape], in_formats: Formats) -> bool:
        """True when the op returns its (single) input unchanged for every input it can receive."""
        return False

    def bops(self, in_format: FixedFormat, in_shape: Shape, weights: dict[str, Weight],
             parallel_factor: int = 1) -> float | None:
        """Bit operations of one evaluation (HGQ's definition), None for ops without multipliers."""
        return None

    def as_scale_shift(self, weights: dict[str, Weight], channels: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(s, t)`` when the op is ``x * s + t`` per channel (last axis), else None."""
        return None

    def fold_scale_shift(self, weights: dict[str, Weight], s: np.ndarray,
                         t: np.ndarray) -> dict[str, Weight] | None:
        """Weights computing ``op(x) * s + t`` with this same op, or None when it cannot absorb that."""
        return None

    def attrs_text(self) -> str:
        """``key=value`` text of the attributes worth printing."""
        parts = []
        for fd in fields(self):
            if not fd.repr:
                continue
            v = getattr(self, fd.name)
            if (v is False or v is None) and fd.default is v:
                continue  # an off switch or an unset option says nothing
            if isinstance(v, FixedFormat):
                v = v.summary()
            elif isinstance(v, tuple):
                v = "(" + ",".join(map(str, v)) + ")"
            parts.append(f"{fd.name}={v}")
        return " ".join(parts)


def full_format(fmt: FixedFormat, shape: Shape) -> FixedFormat:
    return fmt.broadcast_to(tuple(shape))


def weight_array(weights: dict[str, Weight], name: str) -> np.ndarray | None:
    w = weights.get(name)
    return None if w is None else np.asarray(w.array, dtype=np.float64)


def kernel_widths(weights: dict[str, Weight]) -> np.ndarray:
    """Per-weight bits of the ``kernel`` for BOPs: ``i + f`` of each nonzero weight (HGQ's rule).

    The sign of a weight costs nothing in a multiplier, so it is not counted.
    """
    w = weights["kernel"]
    fmt = w.format if w.format is not None else FixedFormat.of_constants(np.asarray(w.array))
    fmt = fmt.broadcast_to(w.array.shape)
    return np.maximum(fmt.i + fmt.f, 0).astype(np.float64) * (np.asarray(w.array) != 0)


def folded_kernel_weights(weights: dict[str, Weight], s: np.ndarray, t: np.ndarray) -> dict[str, Weight]:
    """``kernel * s`` and ``bias * s + t`` (float weights) for a kernel op followed by ``x * s + t``."""
    kernel = np.asarray(weights["kernel"].array, dtype=np.float64)
    bias = weights.get("bias")
    b = np.zeros(kernel.shape[-1]) if bias is None else np.asarray(bias.array, dtype=np.float64)
    return {"kernel": Weight(kernel * s), "bias": Weight(b * s + t)}


@dataclass(frozen=True, eq=False)
class Input(Op):
    """A graph input of ``shape`` (batch axis excluded)."""

    kind: ClassVar[str] = "Input"
    arity: ClassVar[int | None] = 0
    is_source: ClassVar[bool] = True
    shape: tuple[int, ...] = field(default=(), repr=False)

    def shape_rule(self, in_shapes: list[Shape], weights: dict[str, Weight], where: str) -> Shape:
        return self.shape

    def output_formats(self, in_formats: Formats, in_shapes: list[Shape], weights: dict[str, Weight]) -> Formats:
        # an input's format is the graph's to declare (Graph.add_input), not a rule's
        return [None]

