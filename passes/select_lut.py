"""``select_lut``: turn activations into exact lookup tables where the table is small enough."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.errors import TableTooLargeError
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.ops import LUT, NUMPY_ACTIVATIONS, Activation

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
        if changed:
            graph.refresh_formats()
        return changed

    def _try_rewrite(self, graph: Graph, node: Node) -> bool:
        op: Activation = node.op
        custom = op.fn is not None and op.function not in NUMPY_ACTIVATIONS
        x, y = node.inputs[0], node.output
        quant = y.users[0] if len(y.users) == 1 and y.users[0].op.quantizer_format is not None else None
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
        out = quant.op.quantizer_format
        tfmt = table_format(values, out)
        table = quantize(values, tfmt)
        lut = graph.add_node(LUT(function=op.function, in_format=cover, out_format=tfmt, table=table), [x],
                             name=graph.unique_name(node.name + "_lut"), origin=node.origin)
        lut.meta.update(node.meta)
        graph.replace_all_uses_with(y, lut.output)
        graph.remove_node(node)
        return True
