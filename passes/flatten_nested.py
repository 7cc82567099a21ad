"""``flatten_nested``: inline nested models."""

from __future__ import annotations

from dataclasses import dataclass

from hgq_ir.passes.base import Pass

from hgq_ir.ir.graph import Graph, Node, Value
from hgq_ir.ir.ops import Input, Submodel

MAX_DEPTH = 64


@dataclass(frozen=True)
class FlattenNested(Pass):
    """Inline every ``Submodel`` node. Rules:

    1. ``%y = Submodel(%x) graph=g``: each node ``n`` of ``g`` but its Inputs is copied into the
       outer graph as ``<submodel>_<n>`` (origin keeps the layer path ``sub/n``), reading the
       outer values in place of ``g``'s inputs; uses of ``%y`` read the copy of ``g``'s output.
    2. Repeat until no Submodel is left (nested models inside nested models), at most 64 levels.
    """

    name = "flatten_nested"

    def run(self, graph: Graph) -> bool:
        changed = False
        for _ in range(MAX_DEPTH):
            subs = [n for n in graph.nodes if isinstance(n.op, Submodel)]
            if not subs:
                return changed
            for node in subs:
                self._inline(graph, node)
            changed = True
        raise RecursionError(f"models nested deeper than {MAX_DEPTH} levels")

    @staticmethod
    def _inline(graph: Graph, node: Node) -> None:
        inner: Graph = node.op.graph
        mapping: dict[int, Value] = {id(v): x for v, x in zip(inner.inputs, node.inputs, strict=True)}
        for n in inner.nodes:
            if isinstance(n.op, Input):
                continue
            new = graph.add_node(n.op, [mapping[id(v)] for v in n.inputs], name=f"{node.name}_{n.name}",
                                 weights=dict(n.weights), origin=n.origin)
            new.meta.update(n.meta)
            for old_v, new_v in zip(n.outputs, new.outputs, strict=True):
                mapping[id(old_v)] = new_v
        for out, inner_out in zip(node.outputs, inner.outputs, strict=True):
            graph.replace_all_uses_with(out, mapping[id(inner_out)])
        graph.remove_node(node)
