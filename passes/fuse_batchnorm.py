"""``fuse_batchnorm``: fold inference batch normalisation into the preceding Dense/Conv."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.graph import Graph, Node, Weight
from hgq_ir.ir.ops import BatchNorm, Conv1D, Conv2D, Dense


@dataclass(frozen=True)
class FuseBatchNorm(Pass):
    """Fold ``BatchNorm`` into its producer. Rule:

    1. ``%z = Dense|Conv(%x) kernel=K bias=b; %y = BatchNorm(%z)`` where ``%z`` has no other
       user and is not a graph output, with ``bn(v) = v * s + t``: becomes
       ``%z = Dense|Conv(%x) kernel=K*s bias=b*s+t`` (float weights), and uses of ``%y`` read
       ``%z``. H*BatchNorm layers arrive already fused (their kernel quantizer sees the fused
       kernel), so this only meets plain Keras BatchNormalization.
    """

    name = "fuse_batchnorm"

    def run(self, graph: Graph) -> bool:
        changed = False
        for bn in graph.nodes:
            if isinstance(bn.op, BatchNorm) and self._fusible(graph, bn):
                self._fuse(graph, bn)
                changed = True
        return changed

    @staticmethod
    def _fusible(graph: Graph, bn: Node) -> bool:
        z = bn.inputs[0]
        return (z.producer is not None and isinstance(z.producer.op, (Dense, Conv1D, Conv2D))
                and len(z.users) == 1 and z not in graph.outputs)

    @staticmethod
    def _fuse(graph: Graph, bn: Node) -> None:
        lin = bn.inputs[0].producer
        kernel = np.asarray(lin.weights["kernel"].array, dtype=np.float64)
        s, t = bn.op.scale_shift(bn.weights, kernel.shape[-1])
        bias = lin.weights.get("bias")
        b = np.zeros(kernel.shape[-1]) if bias is None else np.asarray(bias.array, dtype=np.float64)
        graph.set_weights(lin, {"kernel": Weight(kernel * s), "bias": Weight(b * s + t)})
        graph.replace_all_uses_with(bn.output, lin.output)
        graph.remove_node(bn)
