"""``select_lut``: turn activations into exact lookup tables where the table is small enough."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.errors import TableTooLargeError
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.ops import LUT, NUMPY_ACTIVATIONS, Activation, Quantize

NEVER_TABLED = ("linear", "relu", "softmax")


def representable_inputs(fmt: FixedFormat) -> np.ndarray:
    """Every value of a homogeneous format, indexed by its raw bits (two's complement order)."""
    k, i, f = (int(a.flat[0]) for a in (fmt.k, fmt.i, fmt.f))
    n = 2 ** (k + i + f)
    codes = np.arange(n, dtype=np.float64)
    if k:
        codes = np.where(codes < n // 2, codes, codes - n)
    return np.ldexp(codes, -f)


def table_format(values: np.ndarray, out: FixedFormat) -> FixedFormat:
    """Homogeneous format of the table entries feeding quantizer ``out``.

    The grid is the finest of ``out`` (plus one bit when ``out`` rounds to nearest: truncating to
    a grid one bit finer and then rounding equals rounding directly), and the range holds every
    entry, so the quantizer after the table does all the rounding and overflow, exactly.
    """
    cover = out.homogeneous_cover()
    f = int(cover.f.flat[0]) + (0 if out.round == "TRN" else 1)
    q = np.ldexp(np.floor(np.ldexp(values, f)), -f)
    lo, hi = float(q.min(initial=0.0)), float(q.max(initial=0.0))
    rng = FixedFormat.from_range(min(lo, 0.0), hi, f)
    return FixedFormat(rng.k, rng.i, f, "TRN", "WRAP")


@dataclass(frozen=True)
class SelectLUT(Pass):
    """Replace activations by lookup tables. Rule:

    1. ``%y = Activation(%x) function=F; %z = Quantize(%y)`` with F not linear/relu/softmax, ``%x``
       fixed-point of homogeneous cover width ``b``, ``%y`` used only by that Quantize, and
       ``2**b <= max_table_size``: ``%y = LUT(%x)`` whose table holds F on every representable
       input, truncated to the grid of the quantizer (see :func:`table_format`).
    2. A custom function (no Keras name) that cannot become a table raises
       :class:`TableTooLargeError` giving the size it needs and the limit: hls4ml has no other way
       to compute it. ``max_table_size <= 0`` turns tables off.
    """

    name = "select_lut"
    max_table_size: int = 1024

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            if isinstance(node.op, Activation) and node.op.function not in NEVER_TABLED:
                changed |= self._try_rewrite(graph, node)
        return changed

    def _try_rewrite(self, graph: Graph, node: Node) -> bool:
        op: Activation = node.op
        custom = op.fn is not None and op.function not in NUMPY_ACTIVATIONS
        x, y = node.inputs[0], node.output
        quant = y.users[0] if len(y.users) == 1 and isinstance(y.users[0].op, Quantize) else None
        if x.format is None or quant is None or y in graph.outputs:
            if custom:
                raise TableTooLargeError(
                    f"activation {node.origin!r} ({op.function}) is a custom function: it converts only as a "
                    "lookup table, which needs a fixed-point input and a quantizer after it")
            return False
        cover = x.format.homogeneous_cover()
        size = 2 ** int(cover.b.flat[0])
        if size > self.max_table_size:
            if custom:
                raise TableTooLargeError(
                    f"activation {node.origin!r} ({op.function}) needs a table of {size} entries (input "
                    f"{cover.summary()}), over unary_lut_max_table_size={self.max_table_size}; raise the limit "
                    "or narrow the input quantizer")
            return False
        inputs = representable_inputs(cover)
        values = np.asarray(op.evaluate([inputs[None]], {})[0][0], dtype=np.float64)
        out = quant.op.format
        tfmt = table_format(values, out)
        table = quantize(values, tfmt)
        lut = graph.add_node(LUT(function=op.function, in_format=cover, out_format=tfmt, table=table), [x],
                             name=graph.unique_name(node.name + "_lut"), origin=node.origin)
        lut.meta.update(node.meta)
        graph.replace_all_uses_with(y, lut.output)
        graph.remove_node(node)
        return True


def hls4ml_quantizer_format(x: FixedFormat, q: FixedFormat) -> FixedFormat:
    """The per-element format hls4ml 1.3 derives for the output of quantizer ``q`` fed by exact ``x``.

    Mirrors ``_produce_kif`` of FixedPointQuantizer in hls4ml's ``bit_exact.py``: the elementwise
    min of both formats (one more integer bit where rounding may carry), always for SAT, and for
    WRAP only where ``q``'s range covers ``x``'s.
    """
    shape = np.broadcast_shapes(x.shape, q.shape)
    xb, qb = x.broadcast_to(shape), q.broadcast_to(shape)
    k, i, f = np.minimum(qb.k, xb.k), np.minimum(qb.i, xb.i), np.minimum(qb.f, xb.f)
    carry = (xb.f > qb.f) & (qb.i > xb.i)
    i = i + (carry if q.round != "TRN" else carry & (qb.k == 1))
    if q.overflow not in ("SAT", "SAT_SYM"):
        keep = (np.ldexp(1.0, qb.i) - np.ldexp(1.0, -qb.f) >= np.ldexp(1.0, xb.i) - np.ldexp(1.0, -xb.f)) \
            & (qb.k >= xb.k)
        k, i, f = (np.where(keep, a, b) for a, b in ((k, qb.k), (i, qb.i), (f, qb.f)))
    zero = (k + i + f <= 0) | (xb.b == 0) | (qb.b == 0)
    k, i, f = (np.where(zero, 0, a) for a in (k, i, f))
    return FixedFormat(k, i, f, q.round, q.overflow)


@dataclass(frozen=True)
class FitLUTInputs(Pass):
    """Index every LUT with the input type hls4ml will give it. Rule:

    1. ``%y = LUT(%x)`` with ``%x = Quantize(%w)``: hls4ml indexes the table with all raw bits of
       the homogeneous cover of :func:`hls4ml_quantizer_format` (``%w``, quantizer). Passes after
       ``select_lut`` (``cap_sat_fraction``) may narrow the quantizer, so the LUT's ``in_format``
       is re-derived here and the table re-indexed (same values on every reachable input).
    """

    name = "fit_lut_inputs"

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            if not isinstance(node.op, LUT):
                continue
            q = node.inputs[0].producer
            if q is None or not isinstance(q.op, Quantize) or q.inputs[0].format is None:
                continue
            want = hls4ml_quantizer_format(q.inputs[0].format, q.op.format).homogeneous_cover()
            op: LUT = node.op
            if want == op.in_format.with_modes(want.round, want.overflow) or int(want.b.flat[0]) == 0:
                continue
            inputs = representable_inputs(want)
            table = op.evaluate([inputs[None]], {})[0][0]
            graph.set_op(node, LUT(function=op.function, in_format=want, out_format=op.out_format, table=table))
            changed = True
        return changed
