"""The base of every IR operation, and helpers the op modules share.

An op is a small frozen dataclass carrying its own behaviour, dispatched by type: a shape rule,
an exact format rule, a numpy evaluation, and its attributes for the text form (see ``ops.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.fixed import FixedFormat

if TYPE_CHECKING:
    from hgq_ir.ir.graph import Shape, Weight

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


def full_format(fmt: FixedFormat, shape: Shape) -> FixedFormat:
    return fmt.broadcast_to(tuple(shape))


def weight_array(weights: dict[str, Weight], name: str) -> np.ndarray | None:
    w = weights.get(name)
    return None if w is None else np.asarray(w.array, dtype=np.float64)
