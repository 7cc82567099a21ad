"""The IR graph: values carrying shapes and fixed-point formats, nodes applying ops to them.

Edges are object references (a :class:`Value` knows its producer and its users); the graph
keeps a networkx DiGraph of node names in step, for topological order and cycle checks. Every
edit goes through a few helpers (:meth:`Graph.add_node`, :meth:`Graph.replace_all_uses_with`,
:meth:`Graph.remove_node`), so use lists never go stale.

``str(graph)`` prints one line a node, e.g.::

    %d1: fx<k1 i2..5 f3..6>[32] = Dense(%q0) kernel=fx<k1 i0 f2..7>[64,32]
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from hgq_ir.ir import formats as format_inference
from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph_html import graph_html
from hgq_ir.ir.op_base import Input, Op, Shape, Weight

__all__ = ["Graph", "Node", "Shape", "Value", "Weight"]


@dataclass(eq=False)
class Value:
    """An SSA value: ``shape`` excludes the batch axis; ``format`` None means float."""

    name: str
    shape: Shape
    format: FixedFormat | None = None
    producer: Node | None = field(default=None, repr=False)
    users: list[Node] = field(default_factory=list, repr=False)

    def type_text(self) -> str:
        """``fx<k.. i.. f..>[shape]`` or ``float[shape]``."""
        fmt = self.format.summary() if self.format is not None else "float"
        return f"{fmt}[{','.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type_text()}"


@dataclass(eq=False)
class Node:
    """One operation: ``op`` applied to ``inputs``, producing ``outputs``.

    ``origin`` is the path of the source layer (``encoder/dense_1``), kept for messages.
    ``meta`` holds analysis results and export hints (BOPs, overflow proofs), never semantics.
    """

    name: str
    op: Op
    inputs: list[Value]
    outputs: list[Value]
    weights: dict[str, Weight] = field(default_factory=dict)
    origin: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def output(self) -> Value:
        """The single output value (most ops have exactly one)."""
        if len(self.outputs) != 1:
            raise GraphError(f"node {self.name!r} has {len(self.outputs)} outputs, not one")
        return self.outputs[0]

    def text(self) -> str:
        """One line of the text form."""
        outs = ", ".join(f"%{v.name}: {v.type_text()}" for v in self.outputs)
        args = ", ".join(f"%{v.name}" for v in self.inputs)
        parts = [f"{outs} = {self.op.kind}({args})"]
        attrs = self.op.attrs_text()
        if attrs:
            parts.append(attrs)
        parts += self.weights_text()
        return " ".join(parts)

    def weights_text(self) -> list[str]:
        """``name=format[shape]`` of every weight (``float`` for a weight without format)."""
        return [f"{name}={w.format.summary() if w.format is not None else 'float'}[{','.join(map(str, w.array.shape))}]"
                for name, w in self.weights.items()]

    def __repr__(self) -> str:
        return f"Node({self.text()})"


class Graph:
    """A dataflow graph of :class:`Node` objects; inputs are ``Input`` nodes' outputs."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._nodes: dict[str, Node] = {}
        self._values: dict[str, Value] = {}
        self._order: dict[str, int] = {}
        self._counter = itertools.count()
        self._dag = nx.DiGraph()
        self._topo: list[Node] | None = None  # cached order; every edit of _dag clears it
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []

    # ---- queries -----------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """Nodes in a stable topological order (ties broken by insertion order)."""
        if self._topo is not None:
            return list(self._topo)
        try:
            names = nx.lexicographical_topological_sort(self._dag, key=self._order.__getitem__)
            self._topo = [self._nodes[n] for n in names]
            return list(self._topo)
        except nx.NetworkXUnfeasible as e:
            cycle = nx.find_cycle(self._dag)
            raise GraphError(f"graph {self.name!r} has a cycle through node {cycle[0][0]!r}: {cycle}") from e

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"no node named {name!r} in graph {self.name!r}") from None

    def value(self, name: str) -> Value:
        """The value called ``name``."""
        try:
            return self._values[name]
        except KeyError:
            raise GraphError(f"no value named {name!r} in graph {self.name!r}") from None

    @property
    def values(self) -> list[Value]:
        """Every value, in node order."""
        return [v for n in self.nodes for v in n.outputs]

    def has_node(self, name: str) -> bool:
        """True when a node called ``name`` exists."""
        return name in self._nodes

    def unique_name(self, base: str) -> str:
        """``base`` if free, else ``base_1``, ``base_2``, ... (free for both nodes and values)."""
        if base not in self._nodes and base not in self._values:
            return base
        for n in itertools.count(1):
            cand = f"{base}_{n}"
            if cand not in self._nodes and cand not in self._values:
                return cand
        raise AssertionError("unreachable")

    # ---- edits ------------------------------------------------------------------------
    def add_input(self, name: str, shape: Iterable[int], format: FixedFormat | None = None,
                  origin: str = "") -> Value:
        """Add an ``Input`` node and return its value (appended to ``graph.inputs``)."""
        node = self.add_node(Input(tuple(int(s) for s in shape)), [], name=name, origin=origin)
        node.output.format = format
        self.inputs.append(node.output)
        return node.output

    def add_node(self, op: Op, inputs: list[Value], name: str | None = None,
                 weights: dict[str, Weight] | None = None, origin: str = "",
                 formats: list[FixedFormat | None] | None = None) -> Node:
        """Create a node, infer its output shapes with ``op``, and wire it into the graph."""
        name = self.unique_name(name or op.kind.lower())
        for v in inputs:
            if self._values.get(v.name) is not v:
                raise GraphError(f"node {name!r}: input %{v.name} is not a value of graph {self.name!r}")
        weights = dict(weights or {})
        shapes = op.output_shapes([v.shape for v in inputs], weights, where=name)
        node = Node(name, op, list(inputs), [], weights, origin or name)
        if formats is None:
            formats = format_inference.node_output_formats(node, [v.format for v in inputs])
        for idx, shape in enumerate(shapes):
            vname = name if len(shapes) == 1 else self.unique_name(f"{name}.{idx}")
            fmt = formats[idx] if formats else None
            val = Value(vname, tuple(shape), fmt, producer=node)
            node.outputs.append(val)
            self._values[vname] = val
        self._nodes[name] = node
        self._order[name] = next(self._counter)
        self._topo = None
        self._dag.add_node(name)
        for v in inputs:
            v.users.append(node)
            if v.producer is not None:
                self._topo = None
                self._dag.add_edge(v.producer.name, name)
        return node

    def set_outputs(self, values: list[Value]) -> None:
        """Declare the graph outputs."""
        self.outputs = list(values)

    def replace_all_uses_with(self, old: Value, new: Value) -> None:
        """Make every user of ``old`` (and the graph outputs) read ``new`` instead."""
        for user in list(old.users):
            user.inputs = [new if v is old else v for v in user.inputs]
            new.users.append(user)
            self._rebuild_edges(user)
        old.users.clear()
        self.outputs = [new if v is old else v for v in self.outputs]

    def set_input(self, node: Node, index: int, value: Value) -> None:
        """Rewire input ``index`` of ``node`` to ``value``."""
        old = node.inputs[index]
        node.inputs[index] = value
        old.users.remove(node)  # one entry per use, so remove exactly one
        value.users.append(node)
        self._rebuild_edges(node)

    def set_op(self, node: Node, op: Op) -> None:
        """Swap the op of ``node`` for one with the same output shapes; refresh intrinsic formats."""
        in_shapes = [v.shape for v in node.inputs]
        shapes = op.output_shapes(in_shapes, node.weights, where=node.name)
        if [tuple(s) for s in shapes] != [v.shape for v in node.outputs]:
            raise GraphError(f"node {node.name!r}: op {op.kind} changes its output shapes to {shapes}")
        node.op = op
        fmts = format_inference.node_output_formats(node, [v.format for v in node.inputs])
        for v, f in zip(node.outputs, fmts, strict=True):
            v.format = f

    def set_weights(self, node: Node, weights: dict[str, Weight]) -> None:
        """Replace the weights of ``node`` (its output shapes must not change); refresh its formats."""
        shapes = node.op.output_shapes([v.shape for v in node.inputs], weights, where=node.name)
        if [tuple(s) for s in shapes] != [v.shape for v in node.outputs]:
            raise GraphError(f"node {node.name!r}: new weights change its output shapes to {shapes}")
        node.weights = dict(weights)
        fmts = format_inference.node_output_formats(node, [v.format for v in node.inputs])
        for v, f in zip(node.outputs, fmts, strict=True):
            v.format = f

    def refresh_formats(self) -> bool:
        """Re-derive every value's format from its op's rule, in graph order; True when any changed.

        Edits that rewire values (``replace_all_uses_with``, ``bypass``, ``set_input``) leave the
        formats downstream of the edit to this call: every pass that edits ends with it, and
        :meth:`verify` refuses a graph whose stored formats are stale.
        """
        return format_inference.refresh(self)

    def remove_node(self, node: Node) -> None:
        """Remove ``node``; its outputs must have no users and not be graph outputs."""
        for v in node.outputs:
            if v.users:
                raise GraphError(f"cannot remove node {node.name!r}: %{v.name} still used by "
                                 f"{[u.name for u in v.users]}")
            if v in self.outputs:
                raise GraphError(f"cannot remove node {node.name!r}: %{v.name} is a graph output")
        for v in node.inputs:
            while node in v.users:
                v.users.remove(node)
        for v in node.outputs:
            del self._values[v.name]
        if node.outputs and node.outputs[0] in self.inputs:
            self.inputs.remove(node.outputs[0])
        del self._nodes[node.name]
        del self._order[node.name]
        self._topo = None
        self._dag.remove_node(node.name)

    def bypass(self, node: Node) -> None:
        """Replace the single output of ``node`` by its first input, then remove ``node``."""
        self.replace_all_uses_with(node.output, node.inputs[0])
        self.remove_node(node)

    def _rebuild_edges(self, node: Node) -> None:
        for pred in list(self._dag.predecessors(node.name)):
            self._topo = None
            self._dag.remove_edge(pred, node.name)
        for v in node.inputs:
            if v.producer is not None:
                self._topo = None
                self._dag.add_edge(v.producer.name, node.name)

    def copy(self) -> Graph:
        """A deep copy (ops and weight arrays are shared: both are immutable by convention)."""
        memo: dict[int, object] = {}
        for n in self._nodes.values():
            memo[id(n.op)] = n.op
            for w in n.weights.values():
                memo[id(w.array)] = w.array
        return copy.deepcopy(self, memo)

    # ---- checks and text ---------------------------------------------------------------
    def verify(self) -> None:
        """Check names, wiring, shapes, format broadcastability and acyclicity.

        Every stored format must be the one its op's rule gives for the stored input formats
        (formats are never stale). Raises :class:`GraphError` naming the offending node.
        """
        if not nx.is_directed_acyclic_graph(self._dag):
            cycle = nx.find_cycle(self._dag)
            raise GraphError(f"graph {self.name!r} has a cycle through node {cycle[0][0]!r}: {cycle}")
        for node in self.nodes:
            for v in node.inputs:
                if v.producer is None or self._nodes.get(v.producer.name) is not v.producer:
                    raise GraphError(f"node {node.name!r}: input %{v.name} is dangling (its producer "
                                     f"is not in graph {self.name!r})")
                if node not in v.users:
                    raise GraphError(f"node {node.name!r}: use list of %{v.name} is stale")
            if node.op.is_source and node.inputs:
                raise GraphError(f"node {node.name!r}: {node.op.kind} takes no inputs")
            expected = node.op.output_shapes([v.shape for v in node.inputs], node.weights, where=node.name)
            got = [v.shape for v in node.outputs]
            if [tuple(s) for s in expected] != got:
                raise GraphError(f"node {node.name!r} ({node.op.kind}): output shape {got} but its "
                                 f"inputs give {[tuple(s) for s in expected]}")
            for v in node.outputs:
                if v.format is not None:
                    try:
                        np.broadcast_shapes(v.format.shape, v.shape)
                        if len(v.format.shape) > len(v.shape):
                            raise ValueError
                    except ValueError:
                        raise GraphError(f"node {node.name!r}: format shape {v.format.shape} does not "
                                         f"broadcast to value shape {v.shape}") from None
            for wname, w in node.weights.items():
                if w.format is not None:
                    try:
                        if np.broadcast_shapes(w.format.shape, w.array.shape) != w.array.shape:
                            raise ValueError
                    except ValueError:
                        raise GraphError(f"node {node.name!r}: format of weight {wname!r} "
                                         f"{w.format.shape} does not broadcast to {w.array.shape}") from None
            stale = format_inference.stale_outputs(node)
            if stale:
                raise GraphError(f"node {node.name!r} ({node.op.kind}): stored format of "
                                 f"{', '.join('%' + v.name for v in stale)} is stale (its op's rule gives another); "
                                 "call graph.refresh_formats() after editing")
        for v in self.outputs:
            if v.producer is None or self._nodes.get(v.producer.name) is not v.producer:
                raise GraphError(f"graph output %{v.name} is dangling (no producer in graph {self.name!r})")

    def __str__(self) -> str:
        lines = [f"graph {self.name}("
                 + ", ".join(f"%{v.name}" for v in self.inputs) + ") -> ("
                 + ", ".join(f"%{v.name}" for v in self.outputs) + ")"]
        for node in self.nodes:
            lines.append("  " + node.text())
            sub = node.op.subgraph
            if sub is not None:
                lines.extend("    " + line for line in str(sub).splitlines())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The graph as an HTML table in Jupyter: one row a node, formats, weights and BOPs included."""
        return graph_html(self)

    def __repr__(self) -> str:
        return f"<Graph {self.name!r}: {len(self)} nodes, inputs {self.inputs}, outputs {self.outputs}>"
