"""``assign_overflow``: WRAP or SAT on every quantizer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.fixed import FixedFormat, round_to_integer
from hgq_ir.ir.graph import Graph


def cannot_overflow(x: FixedFormat, q: FixedFormat) -> bool:
    """True when no value of ``x``, rounded onto ``q``'s grid, falls outside ``q``'s range."""
    shape = np.broadcast_shapes(x.shape, q.shape)
    xb, qb = x.broadcast_to(shape), q.broadcast_to(shape)
    n_hi = round_to_integer(np.ldexp(xb.max_value, qb.f), q.round)
    n_lo = round_to_integer(np.ldexp(xb.min_value, qb.f), q.round)
    n_max = np.ldexp(1.0, qb.i + qb.f) - 1
    n_min = np.where(qb.k == 1, -np.ldexp(1.0, qb.i + qb.f), 0.0)
    ok = (n_hi <= n_max) & (n_lo >= n_min)
    return bool(np.all(ok | (qb.b == 0)))


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
