"""``infer_formats``: exact per-element formats of every value, and BOPs per node."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.interpret import infer_value_formats
from hgq_ir.ir.ops import Conv1D, Conv2D, Dense
from hgq_ir.ir.windows import extract_patches


def _input_widths(node: Node) -> np.ndarray | None:
    fmt = node.inputs[0].format
    if fmt is None:
        return None
    return np.broadcast_to(fmt.b, node.inputs[0].shape).astype(np.float64)


def _kernel_widths(node: Node) -> np.ndarray:
    w = node.weights["kernel"]
    fmt = w.format if w.format is not None else FixedFormat.of_constants(w.array)
    fmt = fmt.broadcast_to(w.array.shape)
    # the sign of a weight costs nothing in a multiplier (HGQ's rule): count i + f only
    return np.maximum(fmt.i + fmt.f, 0).astype(np.float64) * (np.asarray(w.array) != 0)


def node_bops(node: Node) -> float | None:
    """BOPs of a Dense/Conv node (HGQ's definition), None for other ops or float inputs.

    Dense: ``sum_ij b_in[i] * b_w[i, j]`` (per position for inputs of rank > 1, summed);
    Conv: the same over every output position, divided by the number of positions and
    multiplied by ``meta['parallel_factor']`` (default 1).
    """
    if not isinstance(node.op, (Dense, Conv1D, Conv2D)):
        return None
    bin_ = _input_widths(node)
    if bin_ is None:
        return None
    bw = _kernel_widths(node)
    if isinstance(node.op, Dense):
        return float((bin_ @ bw).sum())
    patches = extract_patches(bin_[None], node.op.window, node.op.strides, node.op.padding, 0.0)[0]
    per_pos = patches.reshape(*patches.shape[:-2], -1) @ bw.reshape(-1, bw.shape[-1])
    n_pos = int(np.prod(per_pos.shape[:-1]))
    return float(per_pos.sum()) / n_pos * float(node.meta.get("parallel_factor", 1))


def _memo_bops(node: Node) -> float | None:
    """:func:`node_bops`, recomputed only when the input format, weights or op changed."""
    key = (node.op, node.weights, node.inputs[0].format if node.inputs else None)
    memo = node.meta.get("_bops_memo")
    if memo is not None and all(a is b for a, b in zip(memo[0], key, strict=True)):
        return memo[1]
    bops = node_bops(node)
    node.meta["_bops_memo"] = (key, bops)
    return bops


@dataclass(frozen=True)
class InferFormats(Pass):
    """Set every value's format to the exact format its inputs give it. Rules:

    1. Input values keep their format (None = float).
    2. Every other value gets ``op.output_formats(input formats)``: exact containers by
       interval arithmetic on the actual constants (see ``hgq_ir.ir.fixed``); None (float) where
       the op is not exact (float activations) or an input is float.
    3. ``node.meta['bops']`` is set on Dense/Conv nodes whose input is fixed-point.
    Changed means some format or BOPs figure differs from before.
    """

    name = "infer_formats"

    def run(self, graph: Graph) -> bool:
        formats = infer_value_formats(graph)
        changed = False
        for node in graph.nodes:
            for v in node.outputs:
                new = formats[v.name]
                if not _same(v.format, new):
                    v.format = new
                    changed = True
            bops = _memo_bops(node)
            if bops is not None and node.meta.get("bops") != bops:
                node.meta["bops"] = bops
                changed = True
        return changed


def _same(a: FixedFormat | None, b: FixedFormat | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return a is b
    return a == b
