"""``cleanup``: drop operations that compute nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hgq_ir.passes.base import Pass

from hgq_ir.ir.graph import Graph, Node


@dataclass(frozen=True)
class Cleanup(Pass):
    """Remove identities (``op.is_identity``). Rewrite rules, each replacing all uses of ``y`` by ``x``:

    1. ``y = Activation(x) function=linear``
    2. ``y = Reshape(x)`` whose target is the shape of ``x``, or ``y = Flatten(x)`` of a 1-D ``x``
    3. ``y = Quantize(x)`` where the format of ``x`` fits in the quantizer's format (every value of
       ``x`` is representable, so neither rounding nor overflow can act). Signatures are kept.

    Not when ``y`` is a graph output and ``x`` a graph input (no backend takes such a model).
    """

    name: ClassVar[str] = "cleanup"

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            # formats downstream of a removal are refreshed once at the end: until then they are
            # the removed quantizer's, which hold every value the new ones do (the test stays safe)
            if self._is_identity(node) and not self._feeds_output_from_input(graph, node):
                graph.bypass(node)
                changed = True
        if changed:
            graph.refresh_formats()
        return changed

    @staticmethod
    def _is_identity(node: Node) -> bool:
        return len(node.inputs) == 1 and len(node.outputs) == 1 and \
            node.op.is_identity([v.shape for v in node.inputs], [v.format for v in node.inputs])

    @staticmethod
    def _feeds_output_from_input(graph: Graph, node: Node) -> bool:
        return node.output in graph.outputs and node.inputs[0] in graph.inputs
