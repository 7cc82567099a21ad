"""``assign_overflow``: WRAP or SAT on every quantizer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.fixed import FixedFormat, may_overflow
from hgq_ir.ir.graph import Graph


def cannot_overflow(x: FixedFormat, q: FixedFormat) -> bool:
    """True when no value of ``x``, rounded onto ``q``'s grid, falls outside ``q``'s range."""
    return not np.any(may_overflow(x, q))


@dataclass(frozen=True)
class AssignOverflow(Pass):
    """Choose each quantizer's overflow mode. Rules (a quantizer with ``pinned_overflow``, a Signature
    or a QKeras clip, keeps its own):

    1. ``aggressive=True`` (the default, as upstream HGQ): every Quantize wraps (``WRAP``), the
       cheapest logic; values outside the traced range then wrap around.
    2. ``aggressive=False``: ``SAT``, except where the input's exact format proves that no value can
       leave the quantizer's range (then ``WRAP``: cheaper, same result).
    """

    name = "assign_overflow"
    aggressive: bool = True

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            fmt = node.op.quantizer_format
            if fmt is None or node.op.pinned_overflow:
                continue
            x = node.inputs[0].format
            mode = "WRAP" if self.aggressive or (x is not None and cannot_overflow(x, fmt)) else "SAT"
            if fmt.overflow in ("SAT", "SAT_SYM") and mode == "SAT":
                continue  # keep SAT_SYM where the source asked for it
            if fmt.overflow != mode:
                graph.set_op(node, node.op.with_format(fmt.with_modes(overflow=mode)))
                changed = True
        if changed:
            graph.refresh_formats()
        return changed
