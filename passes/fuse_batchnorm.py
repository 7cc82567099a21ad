"""``fuse_batchnorm``: fold inference batch normalisation into the preceding kernel op."""

from __future__ import annotations

from dataclasses import dataclass

from hgq_ir.passes.base import Pass

from hgq_ir.ir.graph import Graph, Node


@dataclass(frozen=True)
class FuseBatchNorm(Pass):
    """Fold a per-channel affine op (``op.as_scale_shift``: BatchNorm) into its producer. Rule:

    1. ``%z = P(%x) W; %y = BatchNorm(%z)`` where ``bn(v) = v * s + t``, ``%z`` has no other
       user and is not a graph output, and ``P`` can absorb the affine map
       (``P.fold_scale_shift``: Dense and Conv give ``kernel*s``, ``bias*s+t``, float weights):
       becomes ``%z = P(%x) W'`` and uses of ``%y`` read ``%z``. H*BatchNorm layers arrive
       already fused (their kernel quantizer sees the fused kernel), so this only meets plain
       Keras BatchNormalization. A BatchNorm left unfused stays a float op: targets say so.
    """

    name = "fuse_batchnorm"

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            changed |= self._try_rewrite(graph, node)
        if changed:
            graph.refresh_formats()
        return changed

    @staticmethod
    def _try_rewrite(graph: Graph, bn: Node) -> bool:
        if len(bn.inputs) != 1:
            return False
        z = bn.inputs[0]
        producer = z.producer
        if producer is None or len(z.users) != 1 or z in graph.outputs:
            return False
        affine = bn.op.as_scale_shift(bn.weights, z.shape[-1] if z.shape else 1)
        if affine is None:
            return False
        weights = producer.op.fold_scale_shift(producer.weights, *affine)
        if weights is None:
            return False
        graph.set_weights(producer, weights)
        graph.replace_all_uses_with(bn.output, z)
        graph.remove_node(bn)
        return True
