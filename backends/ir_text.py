"""The ``ir`` target: the graph itself, written as its text form."""

from __future__ import annotations

from pathlib import Path

from hgq_ir.ir.graph import Graph


def emit_graph(graph: Graph, name: str | None = None) -> Graph:
    """The graph itself (the IR after the pipeline is this target's artefact)."""
    return graph


def write_text(graph: Graph, path: Path) -> None:
    """Write ``str(graph)`` and a final newline to ``path``."""
    Path(path).write_text(str(graph) + "\n")
