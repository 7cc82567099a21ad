"""HTML tables of a graph, for Jupyter (``Graph._repr_html_``): one row a node, formats included.

Standard library only; every name and format is escaped (``html.escape``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hgq_ir.ir.graph import Graph, Node

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px;text-align:left"
_CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"


def html_table(columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> str:
    """An HTML ``<table>`` of ``rows`` (dicts) under ``columns``; every cell escaped."""
    head = "".join(f'<th style="{_CELL}">{html.escape(str(c))}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{html.escape(str(r.get(c, "")))}</td>' for c in columns)
                   + "</tr>" for r in rows)
    return f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _node_row(node: Node) -> dict[str, object]:
    weights = "; ".join(node.weights_text())
    bops = node.meta.get("bops")
    return {"node": node.name, "op": node.op.kind, "inputs": ", ".join(f"%{v.name}" for v in node.inputs),
            "output: format[shape]": "; ".join(v.type_text() for v in node.outputs),
            "weights": weights, "attributes": node.op.attrs_text(),
            "bops": "" if bops is None else f"{float(bops):,.0f}", "origin": node.origin}


COLUMNS = ["node", "op", "inputs", "output: format[shape]", "weights", "attributes", "bops", "origin"]


def graph_html(graph: Graph) -> str:
    """The graph as an HTML table: name, op, inputs, output formats and shapes, weights, BOPs, origin."""
    title = (f"graph {graph.name}(" + ", ".join(f"%{v.name}" for v in graph.inputs) + ") -> ("
             + ", ".join(f"%{v.name}" for v in graph.outputs) + f"): {len(graph)} nodes")
    parts = [f"<div><b>{html.escape(title)}</b>", html_table(COLUMNS, [_node_row(n) for n in graph.nodes])]
    for node in graph.nodes:
        sub = node.op.subgraph
        if sub is not None:
            parts.append(f"<details><summary>{html.escape(node.name)}: subgraph</summary>{graph_html(sub)}</details>")
    return "".join(parts) + "</div>"
