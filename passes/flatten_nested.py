"""``flatten_nested``: inline nested models."""

from __future__ import annotations

from dataclasses import dataclass

from hgq_ir.passes.base import Pass

from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.graph import Graph, Node, Value

MAX_DEPTH = 64


@dataclass(frozen=True)
class FlattenNested(Pass):
    """Inline every node that runs a nested graph (``op.subgraph``, a Submodel). Rules:

    1. ``%y = Submodel(%x) graph=g``: each node ``n`` of ``g`` but its sources (Inputs) is copied
       into the outer graph as ``<submodel>_<n>`` (origin keeps the layer path ``sub/n``),
       reading the outer values in place of ``g``'s inputs; uses of ``%y`` read the copy of
       ``g``'s output.
    2. Repeat until no nested graph is left (nested models inside nested models), at most 64 levels.
    """

    name = "flatten_nested"

    def run(self, graph: Graph) -> bool:
        changed = False
        for _ in range(MAX_DEPTH):
            subs = [n for n in graph.nodes if n.op.subgraph is not None]
            if not subs:
                if changed:
                    graph.refresh_formats()
                return changed
            for node in subs:
                self._inline(graph, node)
            changed = True
        raise GraphError(f"graph {graph.name!r}: models nested deeper than {MAX_DEPTH} levels")

    @staticmethod
    def _inline(graph: Graph, node: Node) -> None:
        inner: Graph = node.op.subgraph
        mapping: dict[int, Value] = {id(v): x for v, x in zip(inner.inputs, node.inputs, strict=True)}
        for n in inner.nodes:
            if n.op.is_source:
                continue
            new = graph.add_node(n.op, [mapping[id(v)] for v in n.inputs], name=f"{node.name}_{n.name}",
                                 weights=dict(n.weights), origin=n.origin)
            new.meta.update({k: v for k, v in n.meta.items() if not k.startswith("_")})
            for old_v, new_v in zip(n.outputs, new.outputs, strict=True):
                mapping[id(old_v)] = new_v
        for out, inner_out in zip(node.outputs, inner.outputs, strict=True):
            graph.replace_all_uses_with(out, mapping[id(inner_out)])
        graph.remove_node(node)
