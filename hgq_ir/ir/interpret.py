"""Reference interpreter of the IR: exact numpy evaluation, the yardstick of every backend.

Values travel as float64 arrays. Between quantization points arithmetic is exact as long as
every intermediate fits in 53 bits; the interpreter derives, node by node, the bits each
evaluation needs from the exact input formats, and raises :class:`InexactError` naming the
node instead of returning a rounded result.

Like ``torch.fx.Interpreter``, :class:`Interpreter` walks the graph and calls one method per
node (``run_node``); subclass it to observe or change one behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hgq_ir.ir.errors import GraphError, InexactError
from hgq_ir.ir.fixed import MAX_EXACT_BITS, FixedFormat
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.graph import Graph, Node


class Interpreter:
    """Runs a :class:`Graph` on numpy inputs, exactly. ``check_exact=False`` skips the bit checks."""

    def __init__(self, graph: Graph, check_exact: bool = True,
                 input_formats: Sequence[FixedFormat | None] | None = None) -> None:
        self.graph = graph
        self.check_exact = check_exact
        self.input_formats = input_formats
        self.formats: dict[str, FixedFormat | None] = propagate(graph, input_formats) if check_exact else {}

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Evaluate the graph; returns one array per graph output."""
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise GraphError(f"graph {g.name!r} takes {len(g.inputs)} inputs, got {len(inputs)}")
        env: dict[str, np.ndarray] = {}
        for v, x in zip(g.inputs, inputs, strict=True):
            x = np.asarray(x, dtype=np.float64)
            if x.shape[1:] != v.shape:
                raise GraphError(f"input %{v.name} expects shape (batch, {', '.join(map(str, v.shape))}), "
                                 f"got {x.shape}")
            env[v.name] = x
        for node in g.nodes:
            if node.op.is_source:
                continue
            outs = self.run_node(node, [env[v.name] for v in node.inputs])
            for v, y in zip(node.outputs, outs, strict=True):
                env[v.name] = y
        return [env[v.name] for v in g.outputs]

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        """Evaluate one node, after checking that float64 computes it exactly.

        A node running a nested graph (a Submodel) is evaluated by an interpreter of that graph,
        given the exact formats of the node's inputs.
        """
        sub = node.op.subgraph
        if sub is not None:
            fmts = [self.formats.get(v.name) for v in node.inputs]
            return Interpreter(sub, self.check_exact, fmts if self.check_exact else None).run(*args)
        if self.check_exact:
            self.check_node(node)
        return node.op.evaluate(args, node.weights)

    def check_node(self, node: Node) -> None:
        """Raise :class:`InexactError` when ``node`` needs more than 53 bits."""
        fmts = [self.formats.get(v.name) for v in node.inputs]
        bits = node.op.exact_bits(fmts, [v.shape for v in node.inputs], node.weights)
        if bits > MAX_EXACT_BITS:
            raise InexactError(
                f"node {node.name!r} ({node.op.kind}, from {node.origin!r}) needs {bits} bits, more than the "
                f"{MAX_EXACT_BITS} float64 computes exactly; narrow the quantizers feeding it")


def interpret(graph: Graph, inputs: np.ndarray | Sequence[np.ndarray], check_exact: bool = True
              ) -> np.ndarray | list[np.ndarray]:
    """Run ``graph`` exactly on ``inputs`` (an array, or a list for several graph inputs).

    Returns an array for a single-output graph, else a list of arrays.

    >>> y = interpret(graph, x)  # doctest: +SKIP
    """
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence):
        inputs = [inputs]
    outs = Interpreter(graph, check_exact).run(*inputs)
    return outs[0] if len(outs) == 1 else outs

