"""``infer_formats``: exact per-element formats of every value, and BOPs per node."""

from __future__ import annotations

from dataclasses import dataclass

from hgq_ir.passes.base import Pass

from hgq_ir.ir.graph import Graph, Node


def node_bops(node: Node) -> float | None:
    """BOPs of a node (``op.bops``, HGQ's definition), None for ops without multipliers or float inputs.

    Dense: ``sum_ij b_in[i] * b_w[i, j]`` (per position for inputs of rank > 1, summed); Conv: the
    same over every output position, divided by the number of positions and multiplied by
    ``meta['parallel_factor']`` (default 1). The sign of a weight is not counted.
    """
    if not node.inputs or node.inputs[0].format is None:
        return None
    x = node.inputs[0]
    return node.op.bops(x.format, x.shape, node.weights, int(node.meta.get("parallel_factor", 1)))


def _memo_bops(node: Node) -> float | None:
    """:func:`node_bops`, recomputed only when the input format, weights or op changed."""
    key = (node.op, node.weights, node.inputs[0].format if node.inputs else None)
    memo = node.meta.get("_bops_memo")
    if memo is not None and all(a is b for a, b in zip(memo[0], key, strict=True)):
        return memo[1]
    bops = node_bops(node)
    node.meta["_bops_memo"] = (key, bops)
    return bops


@dataclass(frozen=True)
class InferFormats(Pass):
    """Set every value's format to the exact format its inputs give it. Rules:

    1. Input values keep their declared format (None = float).
    2. Every other value gets ``op.output_formats(input formats)``: exact containers by
       interval arithmetic on the actual constants (see ``hgq_ir.ir.fixed``); None (float) where
       the op is not exact (float activations) or an input is float.
    3. ``node.meta['bops']`` is set on nodes whose op has BOPs (Dense, Conv) and whose input is
       fixed-point.

    Every pass keeps formats fresh itself (``graph.refresh_formats()``, checked by ``verify``),
    so rule 2 changes nothing after a well-behaved pass; rule 3 is this pass's own work.
    Changed means some format or BOPs figure differs from before.
    """

    name = "infer_formats"

    def run(self, graph: Graph) -> bool:
        changed = graph.refresh_formats()
        for node in graph.nodes:
            bops = _memo_bops(node)
            if bops is None:
                changed |= node.meta.pop("bops", None) is not None
            elif node.meta.get("bops") != bops:
                node.meta["bops"] = bops
                changed = True
        return changed
