"""``assign_overflow``: WRAP or SAT on every quantizer, and the SAT fraction canonicalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.fixed import FixedFormat, round_to_integer
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import node_output_formats
from hgq_ir.ir.ops import Input, Quantize, Signature


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


def _replace_format(graph: Graph, node, fmt: FixedFormat) -> None:
    graph.set_op(node, type(node.op)(fmt))


@dataclass(frozen=True)
class AssignOverflow(Pass):
    """Choose each quantizer's overflow mode. Rules (Signatures keep SAT):

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
            if not isinstance(node.op, Quantize) or isinstance(node.op, Signature):
                continue
            fmt, x = node.op.format, node.inputs[0].format
            mode = "WRAP" if self.aggressive or (x is not None and cannot_overflow(x, fmt)) else "SAT"
            if fmt.overflow in ("SAT", "SAT_SYM") and mode == "SAT":
                continue  # keep SAT_SYM where the source asked for it
            if fmt.overflow != mode:
                _replace_format(graph, node, fmt.with_modes(overflow=mode))
                changed = True
        return changed


@dataclass(frozen=True)
class CapSatFraction(Pass):
    """Make saturating quantizers agree with hls4ml. Rule:

    1. ``%y = Quantize(%x)`` with overflow SAT (hls4ml leaves SAT_SYM alone) and, on some element,
       more fractional bits than ``%x`` carries: those elements get the ``f`` of ``%x`` and keep
       their ``i``. Values on ``%x``'s grid are unchanged; only the saturation bound moves from
       ``2**i - 2**-f_q`` to the largest value on ``%x``'s grid, ``2**i - 2**-f_x``, which is what
       hls4ml 1.3's bit-exact flow computes (it cuts a SAT quantizer's fraction to its input's).
    2. A homogeneous quantizer stays homogeneous: hls4ml merges it into its producer's type, so
       its bound comes from the largest ``f`` over the input's elements.
    """

    name = "cap_sat_fraction"

    def run(self, graph: Graph) -> bool:
        # Formats are propagated here, in graph order, as quantizers change: capping one SAT
        # quantizer narrows the values downstream, which may expose the next one (the stored
        # ``Value.format``s would be stale until the next infer_formats and hide it).
        changed = False
        formats: dict[str, FixedFormat | None] = {}
        for node in graph.nodes:
            if isinstance(node.op, Input):
                formats[node.output.name] = node.output.format
                continue
            op = node.op
            x = formats[node.inputs[0].name] if node.inputs else None
            if isinstance(op, Quantize) and x is not None and op.format.overflow == "SAT":
                new = self._capped(x, op.format)
                if new is not None:
                    _replace_format(graph, node, new)
                    changed = True
            outs = node_output_formats(node, [formats[v.name] for v in node.inputs])
            for v, f in zip(node.outputs, outs, strict=True):
                formats[v.name] = f
        return changed

    @staticmethod
    def _capped(x: FixedFormat, q: FixedFormat) -> FixedFormat | None:
        """``q`` with the fraction capped as hls4ml does, or None when nothing changes."""
        shape = np.broadcast_shapes(x.shape, q.shape)
        xb, qb = x.broadcast_to(shape), q.broadcast_to(shape)
        live = (xb.b > 0) & (qb.b > 0)
        if not np.any(live):
            return None
        if q.is_homogeneous:
            # hls4ml folds a homogeneous quantizer into its producer's type: one bound for all
            k, i, f = (int(a.flat[0]) for a in (q.k, q.i, q.f))
            limit = int(xb.f[live].max())
            if f <= limit:
                return None
            return FixedFormat(k, max(i, -limit - k), limit, q.round, q.overflow)
        cut = live & (qb.f > xb.f)
        if not np.any(cut):
            return None
        f = np.where(cut, xb.f, qb.f)
        return FixedFormat(qb.k, np.where(cut, np.maximum(qb.i, -f - qb.k), qb.i), f, q.round, q.overflow)
