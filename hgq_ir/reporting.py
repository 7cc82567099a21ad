"""Where the bits went: per-layer report of a converted graph, as text, JSON, HTML and a PNG.

>>> rep = hgq_ir.report(model)            # doctest: +SKIP
>>> print(rep.table)                      # the text table (formats, BOPs, overflow modes, LUTs)
>>> rep.to_json()                         # the numbers, machine-readable (schema below)
>>> rep.plot("report.png")                # bitwidth distributions, BOPs, kernel heatmaps
>>> rep                                   # in Jupyter: an HTML table

JSON schema (``Report.to_json``, ``hgq-ir report MODEL --json``); bitwidths are ``k+i+f`` per
element, 0 meaning the element is the constant 0 (pruned)::

    {
      "schema": "hgq-ir-report/1",
      "model": str,                  # the graph's name
      "target": str | null,          # the legalization reported (null: the core IR, the model's meaning)
      "total_bops": float,           # the text report's "total BOPs": sum of layers[*].bops
      "layers": [                    # one per source layer (the nodes' origin), in graph order
        {
          "name": str,               # the Keras layer (path for nested models)
          "nodes": [str],            # its IR nodes
          "ops": [str],              # their op kinds
          "bops": float | null,      # BOPs of its nodes (null: no multiplier)
          "output": null | {         # the layer's output value (null: float, no format)
            "value": str, "shape": [int], "format": str, "bits": BITS},
          "weights": [               # every quantized weight of its nodes (kernels, biases)
            {"node": str, "weight": str, "shape": [int], "format": str, "bits": BITS}]
        }
      ],
      "nodes": [                     # the text table's rows, one per non-input node
        {"node": str, "origin": str, "op": str, "format": str, "shape": str,
         "bops": float | null, "overflow": str, "lut": str}
      ]
    }
    BITS = {"elements": int, "zero_bit_fraction": float, "min": int, "max": int, "mean": float,
            "histogram": [[bits, count], ...]}   # ascending bits; counts sum to elements

BOPs are HGQ's: ``sum(b_in * b_w)`` per Dense/Conv node (conv: times ``parallel_factor`` over the
number of output positions; the weight's sign not counted), ``b_in`` being the width ``k+i+f`` of
each element of the format the node reads. The total equals ``trace_minmax``'s (and upstream HGQ
0.2.6's) on models without pooling. After a pooling layer the IR counts more, on purpose: HGQ takes
a pool's output width as the max-pool of its input widths, while the next layer really reads a max
pool's union format (max k + max i + max f over the window, wider than the widest element when
those come from different elements) or an average pool's format with ``log2(pool size)`` more
fractional bits (zoo conv2d: 2409.60 here vs 2279.16 from ``trace_minmax``). Pinned by
``tests/passes/test_bops_vs_trace.py``.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.graph_html import html_table

SCHEMA = "hgq-ir-report/1"


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


TABLE_COLUMNS = ["node", "op", "format", "shape", "bops", "overflow", "lut"]


def layer_report(graph: Graph) -> str:
    """The per-layer table (node, op, format as min..max of k/i/f, shape, BOPs, overflow, LUT) and total BOPs."""
    table = format_table(layer_rows(graph), TABLE_COLUMNS)
    return f"{table}\ntotal BOPs: {total_bops(graph):.0f}"


def bit_stats(bits: np.ndarray) -> dict[str, Any]:
    """``BITS`` of the schema: element count, 0-bit fraction, min/max/mean and histogram of ``bits``."""
    b = np.asarray(bits, dtype=np.int64).ravel()
    if b.size == 0:
        return {"elements": 0, "zero_bit_fraction": 0.0, "min": 0, "max": 0, "mean": 0.0, "histogram": []}
    values, counts = np.unique(b, return_counts=True)
    return {"elements": int(b.size), "zero_bit_fraction": float(np.mean(b == 0)), "min": int(b.min()),
            "max": int(b.max()), "mean": float(b.mean()),
            "histogram": [[int(v), int(c)] for v, c in zip(values, counts, strict=True)]}


def element_bits(fmt: FixedFormat, shape: tuple[int, ...]) -> np.ndarray:
    """``k+i+f`` of every element of a value or weight of ``shape``."""
    return np.broadcast_to(fmt.b, shape)


def kernel_matrix(bits: np.ndarray) -> np.ndarray:
    """A kernel's bitwidths as inputs x outputs: a conv kernel (*window, c_in, c_out) as (window*c_in, c_out).

    Rows run over window positions (row-major) and, within each, the input channels.
    """
    return bits.reshape(-1, bits.shape[-1]) if bits.ndim >= 2 else bits.reshape(-1, 1)


@dataclass
class LayerStats:
    """The numbers of one source layer: its nodes, BOPs, output and weight bitwidths, kernel heatmaps."""

    name: str
    nodes: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    bops: float | None = None
    output: dict[str, Any] | None = None
    weights: list[dict[str, Any]] = field(default_factory=list)
    #: ``node.kernel`` -> per-element bitwidths, inputs x outputs (for the heatmaps; not in the JSON)
    kernels: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: ``node.kernel`` -> the kernel's own shape (a conv kernel: (*window, c_in, c_out))
    kernel_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The layer as plain data (the schema's ``layers[*]``)."""
        return {"name": self.name, "nodes": list(self.nodes), "ops": list(self.ops), "bops": self.bops,
                "output": self.output, "weights": list(self.weights)}


def layer_stats(graph: Graph) -> list[LayerStats]:
    """Per source layer (node origin, in graph order): BOPs, output and weight bitwidth statistics."""
    layers: dict[str, LayerStats] = {}
    for node in graph.nodes:
        if node.op.is_source:
            continue
        layer = layers.setdefault(node.origin or node.name, LayerStats(node.origin or node.name))
        layer.nodes.append(node.name)
        layer.ops.append(node.op.kind)
        if node.meta.get("bops") is not None:
            layer.bops = (layer.bops or 0.0) + float(node.meta["bops"])
        v = node.outputs[0]
        layer.output = None if v.format is None else {
            "value": v.name, "shape": [int(s) for s in v.shape], "format": v.format.summary(),
            "bits": bit_stats(element_bits(v.format, v.shape))}
        for wname, w in node.weights.items():
            if w.format is None:
                continue
            bits = element_bits(w.format, w.array.shape)
            layer.weights.append({"node": node.name, "weight": wname, "shape": [int(s) for s in w.array.shape],
                                  "format": w.format.summary(), "bits": bit_stats(bits)})
            if wname == "kernel" and node.op.has_kernel:
                layer.kernels[f"{node.name}.kernel"] = kernel_matrix(np.asarray(bits))
                layer.kernel_shapes[f"{node.name}.kernel"] = tuple(int(s) for s in w.array.shape)
    return list(layers.values())


@dataclass
class Report:
    """The report of one graph: the text ``table``, per-layer ``layers``, ``total_bops``; JSON, HTML, PNG."""

    graph: Graph
    target: str | None = None
    passes: Any = None  # the PipelineResult of the passes run by ``report`` (None for a given Graph)
    layers: list[LayerStats] = field(init=False)
    total_bops: float = field(init=False)
    table: str = field(init=False)

    def __post_init__(self) -> None:
        self.layers = layer_stats(self.graph)
        self.total_bops = total_bops(self.graph)
        self.table = layer_report(self.graph)

    def __str__(self) -> str:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data, following the schema of this module's docstring."""
        return {"schema": SCHEMA, "model": self.graph.name, "target": self.target, "total_bops": self.total_bops,
                "layers": [layer.to_dict() for layer in self.layers], "nodes": layer_rows(self.graph)}

    def to_json(self, path: str | os.PathLike | None = None, indent: int = 2) -> str:
        """The JSON text (schema in this module's docstring); also written to ``path`` (atomically) if given."""
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            from hgq_ir.atomic import write_atomically

            write_atomically(path, lambda p: p.write_text(text))
        return text

    def plot(self, path: str | os.PathLike, layers_per_page: int = 8) -> list[Path]:
        """Write the figure(s) to ``path`` (PNG): bitwidths, 0-bit fractions, BOPs, kernel heatmaps.

        One 16:9 figure per ``layers_per_page`` layers: ``path`` for the first page, then
        ``<stem>_p2.png``... Returns the files written. Needs matplotlib (no display).
        """
        from hgq_ir.report_plot import plot_report

        return plot_report(self, Path(path), layers_per_page=layers_per_page)

    def _repr_html_(self) -> str:
        title = html.escape(f"{self.graph.name}: total BOPs {self.total_bops:,.0f}"
                            + (f" (legalized for {self.target})" if self.target else ""))
        inputs = ", ".join(html.escape(n.name) for n in self.graph.nodes if n.op.is_source)

        def bits_text(stats: dict[str, Any] | None) -> str:
            if stats is None:
                return ""
            return f"{stats['mean']:.1f} ({100 * stats['zero_bit_fraction']:.0f}% 0-bit)"

        summary = [{"layer": s.name, "bops": "" if s.bops is None else f"{s.bops:,.0f}",
                    "weight bits: mean (0-bit)": "; ".join(f"{w['weight']} {bits_text(w['bits'])}" for w in s.weights),
                    "output bits: mean (0-bit)": bits_text(s.output["bits"]) if s.output else "float"}
                   for s in self.layers]
        rows = [{c: ("" if r[c] is None else f"{r[c]:,.0f}" if isinstance(r[c], float) else r[c])
                 for c in TABLE_COLUMNS} for r in layer_rows(self.graph)]
        return (f"<div><b>{title}</b><br>inputs: {inputs}"
                + html_table(list(summary[0]) if summary else ["layer"], summary)
                + html_table(TABLE_COLUMNS, rows) + "</div>")


def report(model_or_graph: Any, target: str | None = None, aggressive: bool = True,
           unary_lut_max_table_size: int = 1024, calibration: Any = None) -> Report:
    """The report of a model (live, or a ``.keras``/``.h5`` path) or of a :class:`Graph`.

    A model is lifted and run through the core pipeline (and ``target``'s legalization); the
    options are :func:`hgq_ir.convert`'s. A Graph is reported as it is (run ``run_passes`` on it
    first for formats and BOPs).
    """
    if isinstance(model_or_graph, Graph):
        return Report(model_or_graph, target=target)
    from hgq_ir.convert import lift, run_passes

    graph = lift(model_or_graph, calibration=calibration)
    result = run_passes(graph, aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size,
                        target=target)
    return Report(graph, target=target, passes=result)
