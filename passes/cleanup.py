"""``cleanup``: drop operations that compute nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hgq_ir.passes.base import Pass

from hgq_ir.ir.fixed import fits_in
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.ops import Activation, Flatten, Quantize, Reshape, Signature


@dataclass(frozen=True)
class Cleanup(Pass):
    """Remove identities. Rewrite rules, each replacing all uses of ``y`` by ``x``:

    1. ``y = Activation(x) function=linear``
    2. ``y = Reshape(x)`` whose target is the shape of ``x``, or ``y = Flatten(x)`` of a 1-D ``x``
    3. ``y = Quantize(x)`` where the format of ``x`` fits in the quantizer's format (every value of
       ``x`` is representable, so neither rounding nor overflow can act). Signatures are kept.
    """

    name: ClassVar[str] = "cleanup"

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            if self._is_identity(node) and not self._feeds_output_from_input(graph, node):
                graph.bypass(node)
                changed = True
        return changed

    @staticmethod
    def _is_identity(node: Node) -> bool:
        op, x = node.op, node.inputs[0] if node.inputs else None
        if isinstance(op, Activation):
            return op.function == "linear" and op.fn is None
        if isinstance(op, (Reshape, Flatten)):
            return x.shape == node.output.shape
        if isinstance(op, Quantize) and not isinstance(op, Signature):
            return x.format is not None and fits_in(x.format, op.format)
        return False

    @staticmethod
    def _feeds_output_from_input(graph: Graph, node: Node) -> bool:
        # a graph output that would become a graph input is no model any backend accepts
        return node.output in graph.outputs and node.inputs[0] in graph.inputs
