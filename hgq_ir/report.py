"""Per-layer report of a converted graph: formats, BOPs, overflow modes, lookup tables."""

from __future__ import annotations

from hgq_ir.ir.graph import Graph


def layer_rows(graph: Graph) -> list[dict[str, object]]:
    """One dict a node: ``node``, ``origin``, ``op``, ``format``, ``bops``, ``overflow``, ``lut``."""
    rows = []
    for node in graph.nodes:
        if node.op.is_source:
            continue
        v = node.outputs[0]
        rows.append({
            "node": node.name,
            "origin": node.origin,
            "op": node.op.kind,
            "format": v.format.summary() if v.format is not None else "float",
            "shape": "x".join(map(str, v.shape)),
            "bops": node.meta.get("bops"),
            "overflow": node.op.quantizer_format.overflow if node.op.quantizer_format is not None else "",
            "lut": f"{len(node.op.table)} entries" if node.op.kind == "LUT" else "",
        })
    return rows


def total_bops(graph: Graph) -> float:
    """Sum of the BOPs of every node that has them (run ``infer_formats`` first)."""
    return float(sum(float(n.meta.get("bops") or 0.0) for n in graph.nodes))


def format_table(rows: list[dict[str, object]], columns: list[str]) -> str:
    """Plain-text table of ``rows`` with the given ``columns``."""
    cells = [[("" if r.get(c) is None else f"{r[c]:.0f}" if isinstance(r.get(c), float) else str(r[c]))
              for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def layer_report(graph: Graph) -> str:
    """The per-layer table (node, op, format as min..max of k/i/f, shape, BOPs, overflow, LUT) and total BOPs."""
    table = format_table(layer_rows(graph), ["node", "op", "format", "shape", "bops", "overflow", "lut"])
    return f"{table}\ntotal BOPs: {total_bops(graph):.0f}"
