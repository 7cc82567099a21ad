"""``select_lut``: turn activations into exact lookup tables where the table is small enough."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.errors import NotBitExactWarning, TableTooLargeError, UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat, round_to_integer
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.ops import LUT, Activation

NEVER_TABLED = ("linear", "relu", "softmax")


def representable_inputs(fmt: FixedFormat) -> np.ndarray:
    """Every value of a homogeneous format, indexed by its raw bits (two's complement order)."""
    k, i, f = (int(a.flat[0]) for a in (fmt.k, fmt.i, fmt.f))
    n = 2 ** (k + i + f)
    codes = np.arange(n, dtype=np.float64)
    if k:
        codes = np.where(codes < n // 2, codes, codes - n)
    return np.ldexp(codes, -f)


def table_entries(values: np.ndarray, out: FixedFormat) -> tuple[np.ndarray, FixedFormat] | None:
    """Table entries for ``values`` feeding quantizer ``out``, and their homogeneous format.

    The quantizer after the table must compute exactly ``out(values)``; the entries' format
    (:func:`entries_format`) holds every entry, so it is the quantizer that overflows. Rounding:

    - ``TRN`` and ``RND`` (floor-based): entries truncated to the finest grid of ``out`` (one bit
      finer for ``RND``): every decision point of ``out``'s rounding lies on that grid, so
      truncating first and rounding afterwards equals rounding directly, even where ``out``'s
      grid differs per element.
    - the other modes break ties by sign or parity, which truncation does not preserve: the
      entries are rounded with ``out``'s own mode onto ``out``'s grid, where the quantizer's
      rounding is then the identity. That needs one grid for every element; None otherwise.
    """
    cover = out.homogeneous_cover()
    f = int(cover.f.flat[0])
    if out.round in ("TRN", "RND"):
        f += 0 if out.round == "TRN" else 1
        q = np.ldexp(np.floor(np.ldexp(values, f)), -f)
    elif np.all(out.f == f):
        q = np.ldexp(round_to_integer(np.ldexp(values, f), out.round), -f)
    else:
        return None
    return q, entries_format(q)


def entries_format(entries: np.ndarray) -> FixedFormat:
    """One homogeneous format of a table's entries: the max of each entry's exact ``k``, ``i``, ``f``.

    A zero entry counts as (0, 0, 0), which is what hls4ml 1.3 derives for a table (``minimal_kif``),
    so the IR and the firmware agree on the type of a LUT's output. At least one bit wide.
    """
    exact = FixedFormat.of_constants(entries).broadcast_to(np.shape(entries))
    live = np.asarray(entries) != 0
    k, i, f = (int(np.where(live, a, 0).max(initial=0)) for a in (exact.k, exact.i, exact.f))
    # every entry 0: still one bit wide (a table of a zero-width type cannot be emitted)
    return FixedFormat(k, max(i, 1 - f - k), f, "TRN", "WRAP")


FLOAT32_MIN_NORMAL = 2.0**-126


def float32_flush_differs(values: np.ndarray, out: FixedFormat) -> bool:
    """Whether a float32 model, quantizing ``values`` with ``out`` (``x * 2**f`` rounded, subnormal
    products flushed to 0 as TensorFlow does on CPU), gets another result than the exact quantizer."""
    for f in np.unique(np.broadcast_to(out.f, out.b.shape)[out.b > 0]):  # each live grid once
        scaled = np.ldexp(values, int(f))
        flushed = np.where(np.abs(scaled) < FLOAT32_MIN_NORMAL, 0.0, scaled)
        if np.any(round_to_integer(scaled, out.round) != round_to_integer(flushed, out.round)):
            return True
    return False


@dataclass(frozen=True)
class SelectLUT(Pass):
    """Replace activations by lookup tables. Rule:

    1. ``%y = Activation(%x) function=F; %z = Quantize(%y)`` with F not linear/relu/softmax, ``%x``
       fixed-point of homogeneous cover width ``b``, ``%y`` used only by that Quantize, and
       ``2**b <= max_table_size``: ``%y = LUT(%x)`` whose table holds F on every representable
       input, rounded so that the quantizer after it computes exactly what it did (see :func:`table_entries`).
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
        custom = op.custom
        x, y = node.inputs[0], node.output
        quant = y.users[0] if len(y.users) == 1 and y.users[0].op.quantizer_format is not None else None
        if x.format is None or quant is None or y in graph.outputs:
            if custom:
                raise TableTooLargeError(
                    f"activation {node.origin!r} ({op.function}) is a custom function: it converts only as a "
                    "lookup table, which needs a fixed-point input and a quantizer after it")
            return False
        cover = x.format.homogeneous_cover()
        if int(cover.b.flat[0]) == 0:
            # a constant-zero input (every element 0 bits): a 1-bit index that is always 0
            cover = FixedFormat(0, 0, 1)
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
        entries = table_entries(values, quant.op.quantizer_format)
        if entries is None:
            if custom:
                raise UnsupportedLayerError(
                    f"activation {node.origin!r} ({op.function}) is a custom function and converts only as a lookup "
                    f"table, but its quantizer {quant.name!r} rounds with {quant.op.quantizer_format.round} on a grid "
                    "that differs per element; use RND or TRN, or one fractional width for the whole tensor")
            return False
        table, tfmt = entries
        if op.dtype == "float32" and float32_flush_differs(values, quant.op.quantizer_format):
            warnings.warn(f"activation {node.origin!r} ({op.function}): the Keras model quantizes its output in "
                          "float32, which flushes subnormal products to 0, so on outputs this small it computes 0 "
                          "where the fixed-point quantizer (the IR, the proxy, the firmware) computes its grid's "
                          "value; they differ from the Keras model there", NotBitExactWarning, stacklevel=2)
        lut = graph.add_node(LUT(function=op.function, in_format=cover, out_format=tfmt, table=table), [x],
                             name=graph.unique_name(node.name + "_lut"), origin=node.origin)
        lut.meta.update(node.meta)
        graph.replace_all_uses_with(y, lut.output)
        graph.remove_node(node)
        return True
