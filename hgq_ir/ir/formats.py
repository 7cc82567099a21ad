"""Format inference: the one routine that propagates exact formats through a graph.

Every value's format follows from the graph inputs' declared formats through each op's format
rule (``op.output_formats``). :func:`propagate` walks the graph once in topological order and is
the only such walk: the graph refreshes its stored formats with it, the interpreter and the
backends' exactness checks read it, and a legalization pass that rewrites quantizers on the way
hooks into it through ``visit``.

Results are memoised per node: formats are immutable, so when the op, the weights and every
input format are the very same objects as last time, the last result is still exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hgq_ir.ir.fixed import FixedFormat

if TYPE_CHECKING:
    from hgq_ir.ir.graph import Graph, Node, Value

Formats = list[FixedFormat | None]
_MEMO = "_formats_memo"


def node_output_formats(node: Node, in_formats: Sequence[FixedFormat | None]) -> Formats:
    """``node.op.output_formats`` on ``in_formats``, memoised in ``node.meta``."""
    memo = node.meta.get(_MEMO)
    if memo is not None:
        op, weights, ins, outs = memo
        if op is node.op and weights is node.weights and len(ins) == len(in_formats) \
                and all(a is b for a, b in zip(ins, in_formats, strict=True)):
            return outs
    outs = node.op.output_formats(list(in_formats), [v.shape for v in node.inputs], node.weights)
    node.meta[_MEMO] = (node.op, node.weights, list(in_formats), outs)
    return outs


def propagate(graph: Graph, input_formats: Sequence[FixedFormat | None] | None = None,
              visit: Callable[[Node, Formats], None] | None = None) -> dict[str, FixedFormat | None]:
    """Exact format of every value of ``graph``, by value name.

    ``input_formats`` overrides the graph inputs' declared formats (a nested graph read with its
    caller's formats). ``visit(node, in_formats)`` is called before each non-source node's rule
    is applied, with the exact formats of its inputs; it may replace the node's op
    (``graph.set_op``), and the walk continues with the new op.
    """
    formats: dict[str, FixedFormat | None] = {}
    declared = dict(zip((v.name for v in graph.inputs), input_formats, strict=True)) if input_formats else {}
    for node in graph.nodes:
        if node.op.is_source:
            for v in node.outputs:
                formats[v.name] = declared.get(v.name, v.format)
            continue
        ins = [formats[v.name] for v in node.inputs]
        if visit is not None:
            visit(node, ins)
        for v, f in zip(node.outputs, node_output_formats(node, ins), strict=True):
            formats[v.name] = f
    return formats


def same_format(a: FixedFormat | None, b: FixedFormat | None) -> bool:
    """True when both are None or equal formats."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    return a == b


def refresh(graph: Graph) -> bool:
    """Store the propagated format on every value; True when any stored format changed."""
    formats = propagate(graph)
    changed = False
    for v in graph.values:
        f = formats[v.name]
        if not same_format(v.format, f):
            changed = True
        v.format = f  # the memoised object itself: later identity checks hit
    return changed


def stale_outputs(node: Node) -> list[Value]:
    """Outputs of ``node`` whose stored format differs from its op's rule on the stored input formats."""
    if node.op.is_source:
        return []
    outs = node_output_formats(node, [v.format for v in node.inputs])
    return [v for v, f in zip(node.outputs, outs, strict=True) if not same_format(v.format, f)]
