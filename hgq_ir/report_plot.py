"""The report as a picture (matplotlib, Agg canvas: no display, no change to pyplot's backend).

One 16:9 page (1600 x 900 px) per group of layers: BOPs per layer as bars; the distribution of
the bitwidths (k+i+f) of the weights and of the output values of each layer, as a layer x bits
grid of shares with the 0-bit (pruned) share written beside it; below, one heatmap of per-element
bitwidths for each kernel (inputs x outputs; a conv kernel's rows run over window positions and
input channels).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hgq_ir.reporting import LayerStats, Report

PAGE_INCHES, DPI = (16.0, 9.0), 100
KERNELS_PER_ROW = 4


def share_grid(stats: list[dict[str, Any] | None], max_bits: int) -> np.ndarray:
    """Rows: one ``BITS`` record each (None: a NaN row); columns 0..max_bits: share of elements."""
    grid = np.full((len(stats), max_bits + 1), np.nan)
    for r, s in enumerate(stats):
        if s is None or not s["elements"]:
            continue
        grid[r] = 0.0
        for bits, count in s["histogram"]:
            grid[r, min(max(bits, 0), max_bits)] += count / s["elements"]
    return grid


def merged_weight_bits(layer: LayerStats) -> dict[str, Any] | None:
    """All weights of a layer as one ``BITS`` record (None when it has no quantized weight)."""
    if not layer.weights:
        return None
    hist: dict[int, int] = {}
    for w in layer.weights:
        for bits, count in w["bits"]["histogram"]:
            hist[bits] = hist.get(bits, 0) + count
    n = sum(hist.values())
    return {"elements": n, "zero_bit_fraction": hist.get(0, 0) / n if n else 0.0,
            "histogram": sorted([b, c] for b, c in hist.items())}


def _share_panel(ax: Any, layers: list[LayerStats], stats: list[dict[str, Any] | None], max_bits: int,
                 title: str) -> Any:
    grid = share_grid(stats, max_bits)
    masked = np.ma.masked_invalid(grid)
    im = ax.imshow(masked, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_facecolor("#eeeeee")  # layers without the quantity
    ax.set_title(title, fontsize=12)
    ax.set_xlabel("bits (k+i+f)")
    ax.set_xticks(range(0, max_bits + 1, max(1, (max_bits + 1) // 12)))
    ax.set_yticks(range(len(layers)), [""] * len(layers))
    for r, s in enumerate(stats):
        for c in range(max_bits + 1):
            if np.isfinite(grid[r, c]) and grid[r, c] >= 0.05 and max_bits <= 24:
                ax.text(c, r, f"{100 * grid[r, c]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if grid[r, c] > 0.6 else "black")
        label = "no quantized weights" if s is None else f"0-bit: {100 * s['zero_bit_fraction']:.1f}%"
        ax.text(1.01, r, label, transform=ax.get_yaxis_transform(), va="center", fontsize=9,
                color="#b00000" if s is not None and s["zero_bit_fraction"] > 0 else "black")
    return im


def _bops_panel(ax: Any, layers: list[LayerStats]) -> None:
    names = [layer.name for layer in layers]
    values = [layer.bops or 0.0 for layer in layers]
    ax.barh(range(len(layers)), values, color="#d95f02")
    ax.set_yticks(range(len(layers)), names, fontsize=10)
    ax.set_ylim(len(layers) - 0.5, -0.5)
    ax.set_title("BOPs per layer", fontsize=12)
    top = max(values) if values and max(values) > 0 else 1.0
    ax.set_xlim(0, top * 1.35)
    for r, v in enumerate(values):
        if v:
            ax.text(v, r, f" {v:,.0f}", va="center", fontsize=9)


def _kernel_panels(fig: Any, spec: Any, kernels: list[tuple[str, np.ndarray, tuple[int, ...]]], max_bits: int) -> None:
    if not kernels:
        ax = fig.add_subplot(spec)
        ax.axis("off")
        ax.text(0.5, 0.5, "no kernels on this page", ha="center", va="center", fontsize=12)
        return
    cols = min(KERNELS_PER_ROW, len(kernels))
    rows = math.ceil(len(kernels) / cols)
    sub = spec.subgridspec(rows, cols + 1, width_ratios=[1] * cols + [0.05], hspace=0.45, wspace=0.3)
    im = None
    from matplotlib.ticker import MaxNLocator

    for j, (name, bits, shape) in enumerate(kernels):
        ax = fig.add_subplot(sub[j // cols, j % cols])
        im = ax.imshow(bits, aspect="auto", cmap="viridis", vmin=0, vmax=max(max_bits, 1), interpolation="nearest")
        pruned = float(np.mean(bits == 0)) if bits.size else 0.0
        ax.set_title(f"{name} [{','.join(map(str, shape))}], 0-bit {100 * pruned:.0f}%", fontsize=10)
        ax.set_xlabel("output channel" if len(shape) > 2 else "output", fontsize=9)
        ax.set_ylabel("window position x input channel" if len(shape) > 2 else "input", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
    cax = fig.add_subplot(sub[:, cols])
    fig.colorbar(im, cax=cax).set_label("kernel bits (k+i+f); 0 = pruned", fontsize=9)


def draw_page(report: Report, layers: list[LayerStats], page: int, pages: int) -> Any:
    """One page's Figure (not attached to pyplot)."""
    from matplotlib.figure import Figure

    weights = [merged_weight_bits(layer) for layer in layers]
    outputs = [layer.output["bits"] if layer.output else None for layer in layers]
    kernels = [(name, bits, layer.kernel_shapes.get(name, bits.shape)) for layer in layers
               for name, bits in layer.kernels.items()]
    max_bits = max([1] + [b for s in weights + outputs if s for b, _ in s["histogram"]])
    fig = Figure(figsize=PAGE_INCHES, dpi=DPI, layout="constrained")
    title = f"{report.graph.name}: where the bits went — total BOPs {report.total_bops:,.0f}"
    if report.target:
        title += f" (legalized for {report.target})"
    if pages > 1:
        title += f" — page {page}/{pages}"
    fig.suptitle(title, fontsize=15)
    outer = fig.add_gridspec(2, 1, height_ratios=[1, 1.1])
    top = outer[0].subgridspec(1, 4, width_ratios=[1.1, 1, 1, 0.04])
    _bops_panel(fig.add_subplot(top[0]), layers)
    im = _share_panel(fig.add_subplot(top[1]), layers, weights, max_bits, "weight bitwidths (% of elements)")
    _share_panel(fig.add_subplot(top[2]), layers, outputs, max_bits, "output bitwidths (% of elements)")
    fig.colorbar(im, cax=fig.add_subplot(top[3])).set_label("share of the layer's elements", fontsize=9)
    _kernel_panels(fig, outer[1], kernels, max_bits)
    return fig


def page_paths(path: Path, pages: int) -> list[Path]:
    """``path`` for page 1, ``<stem>_p2<suffix>``... for the others."""
    return [path] + [path.with_name(f"{path.stem}_p{k}{path.suffix}") for k in range(2, pages + 1)]


def plot_report(report: Report, path: Path, layers_per_page: int = 8) -> list[Path]:
    """Draw ``report`` and write its pages as PNG files (atomically); returns the paths written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from hgq_ir.atomic import write_atomically

    per = max(1, int(layers_per_page))
    layers = report.layers or []
    chunks = [layers[s:s + per] for s in range(0, len(layers), per)] or [[]]
    paths = page_paths(path, len(chunks))
    for k, (chunk, out) in enumerate(zip(chunks, paths, strict=True), start=1):
        fig = draw_page(report, chunk, k, len(chunks))
        FigureCanvasAgg(fig)
        write_atomically(out, lambda p, fig=fig: fig.savefig(p, format="png", dpi=DPI))
    return paths
