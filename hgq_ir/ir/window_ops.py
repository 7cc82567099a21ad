"""Sliding-window ops: Conv1D/2D, MaxPool1D/2D, AvgPool1D/2D (channels-last, Keras padding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hgq_ir.ir import fixed
from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.op_base import Op, folded_kernel_weights, full_format, kernel_widths, weight_array
from hgq_ir.ir.windows import (
    Geometry,
    cell_indices,
    extract_patches,
    geometry,
    output_spatial,
    real_cells,
    window_counts,
)

Shape = tuple[int, ...]


@dataclass(frozen=True, eq=False)
class _Window(Op):
    """Shared geometry of convolution and pooling (channels-last)."""

    rank: ClassVar[int] = 2
    window: tuple[int, ...] = (2, 2)
    strides: tuple[int, ...] = (2, 2)
    padding: str = "valid"

    def __post_init__(self) -> None:
        if len(self.window) != self.rank or len(self.strides) != self.rank:
            raise GraphError(f"{self.kind}: window {self.window} and strides {self.strides} need {self.rank} dims")
        if self.padding not in ("valid", "same"):
            raise GraphError(f"{self.kind}: padding must be 'valid' or 'same', got {self.padding!r}")

    def _spatial_out(self, in_shape: Shape, where: str) -> tuple[int, ...]:
        if len(in_shape) != self.rank + 1:
            raise GraphError(f"node {where!r} ({self.kind}): input shape {in_shape} is not "
                             f"{self.rank} spatial axes + channels")
        out = output_spatial(in_shape[:-1], self.window, self.strides, self.padding)
        if min(out) < 1:
            raise GraphError(f"node {where!r} ({self.kind}): window {self.window} larger than input {in_shape}")
        return out

    def geometry(self, in_shape: Shape) -> Geometry:
        """Per spatial axis of ``in_shape`` (channels last): output size, Keras pads, padded size."""
        return geometry(tuple(in_shape[:-1]), self.window, self.strides, self.padding)

    def cell_indices(self, in_shape: Shape) -> np.ndarray:
        """``idx[*out, j]``: flat index in the padded grid of window cell ``j`` of output ``out``."""
        return cell_indices(tuple(in_shape[:-1]), self.window, self.strides, self.padding)

    def real_cells(self, in_shape: Shape) -> np.ndarray:
        """``idx[p, j]``: flat index in the unpadded grid of cell ``j`` of window ``p``, -1 for padding."""
        return real_cells(tuple(in_shape[:-1]), self.window, self.strides, self.padding)

    def _patches(self, x: np.ndarray, fill: float) -> np.ndarray:
        return extract_patches(x, self.window, self.strides, self.padding, fill)

    def _interval_patches(self, fmt: FixedFormat, shape: Shape, lo_fill: float):
        lo, hi, f = (a[None] for a in fixed.interval(full_format(fmt, shape)))
        return (self._patches(lo, lo_fill)[0], self._patches(hi, lo_fill)[0],
                self._patches(f.astype(np.float64), fixed.ZERO_WIDTH_F)[0].astype(np.int64))


@dataclass(frozen=True, eq=False)
class _Conv(_Window):
    """Convolution with weights ``kernel`` (*window, c_in, c_out) and optional ``bias``."""

    strides: tuple[int, ...] = (1, 1)
    has_kernel: ClassVar[bool] = True

    def bops(self, in_format, in_shape, weights, parallel_factor=1):
        # every output position's multiplies, averaged over positions, times the parallel factor
        b_in = np.broadcast_to(in_format.b, in_shape).astype(np.float64)
        bw = kernel_widths(weights)
        patches = extract_patches(b_in[None], self.window, self.strides, self.padding, 0.0)[0]
        per_pos = patches.reshape(*patches.shape[:-2], -1) @ bw.reshape(-1, bw.shape[-1])
        n_pos = int(np.prod(per_pos.shape[:-1]))
        return float(per_pos.sum()) * float(parallel_factor) / n_pos  # upstream HGQ's order of operations

    def fold_scale_shift(self, weights, s, t):
        return folded_kernel_weights(weights, s, t)

    def shape_rule(self, in_shapes, weights, where):
        out = self._spatial_out(in_shapes[0], where)
        k = weights["kernel"].array if "kernel" in weights else None
        if k is None or k.shape[:-1] != (*self.window, in_shapes[0][-1]):
            got = None if k is None else k.shape
            raise GraphError(f"node {where!r} ({self.kind}): kernel shape {got} does not match "
                             f"window {self.window} and input channels of {in_shapes[0]}")
        return (*out, k.shape[-1])

    def _kernel2d(self, weights) -> np.ndarray:
        k = weight_array(weights, "kernel")
        return k.reshape(-1, k.shape[-1])

    def format_rule(self, in_formats, in_shapes, weights):
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], 0.0)
        flat = [a.reshape(*a.shape[:-2], -1) for a in (lo, hi, f)]
        return fixed.interval_matmul(*flat, self._kernel2d(weights), weight_array(weights, "bias"))

    def exact_bits(self, in_formats, in_shapes, weights):
        if in_formats[0] is None:
            return 0
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], 0.0)
        flat = [a.reshape(*a.shape[:-2], -1) for a in (lo, hi, f)]
        return fixed.matmul_partial_sum_bits(*flat, self._kernel2d(weights), weight_array(weights, "bias"))

    def evaluate(self, xs, weights):
        p = self._patches(xs[0], 0.0)
        y = p.reshape(*p.shape[:-2], -1) @ self._kernel2d(weights)
        b = weight_array(weights, "bias")
        return [y if b is None else y + b]


@dataclass(frozen=True, eq=False)
class Conv1D(_Conv):
    """1-D convolution, channels-last; ``window`` is the kernel size."""

    kind: ClassVar[str] = "Conv1D"
    rank: ClassVar[int] = 1
    window: tuple[int, ...] = (3,)
    strides: tuple[int, ...] = (1,)


@dataclass(frozen=True, eq=False)
class Conv2D(_Conv):
    """2-D convolution, channels-last; ``window`` is the kernel size."""

    kind: ClassVar[str] = "Conv2D"
    window: tuple[int, ...] = (3, 3)


# ---- pooling --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _MaxPool(_Window):
    def shape_rule(self, in_shapes, weights, where):
        return (*self._spatial_out(in_shapes[0], where), in_shapes[0][-1])

    def format_rule(self, in_formats, in_shapes, weights):
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], -np.inf)
        return fixed.from_interval(lo.max(axis=-2), hi.max(axis=-2), f.max(axis=-2))

    def evaluate(self, xs, weights):
        return [self._patches(xs[0], -np.inf).max(axis=-2)]


@dataclass(frozen=True, eq=False)
class MaxPool1D(_MaxPool):
    """1-D max pooling (padded cells never win)."""

    kind: ClassVar[str] = "MaxPool1D"
    rank: ClassVar[int] = 1
    window: tuple[int, ...] = (2,)
    strides: tuple[int, ...] = (2,)


@dataclass(frozen=True, eq=False)
class MaxPool2D(_MaxPool):
    """2-D max pooling (padded cells never win)."""

    kind: ClassVar[str] = "MaxPool2D"


@dataclass(frozen=True, eq=False)
class _AvgPool(_Window):
    def shape_rule(self, in_shapes, weights, where):
        return (*self._spatial_out(in_shapes[0], where), in_shapes[0][-1])

    def counts(self, in_shape: Shape) -> np.ndarray:
        """Real cells per window, shape (*out_spatial, 1); padded cells are not counted (Keras)."""
        return window_counts(tuple(in_shape[:-1]), self.window, self.strides, self.padding)[..., None]

    def is_exact(self, in_shape: Shape) -> bool:
        """True when every window (edge windows included) averages a power-of-2 count."""
        c = self.counts(in_shape).astype(np.int64)
        return bool(np.all((c & (c - 1)) == 0))

    def format_rule(self, in_formats, in_shapes, weights):
        if not self.is_exact(in_shapes[0]):
            return None
        lo, hi, f = self._interval_patches(in_formats[0], in_shapes[0], 0.0)
        c = self.counts(in_shapes[0])
        log2c = np.log2(c).astype(np.int64)
        return fixed.from_interval(lo.sum(axis=-2) / c, hi.sum(axis=-2) / c, f.max(axis=-2) + log2c)

    def evaluate(self, xs, weights):
        c = self.counts(xs[0].shape[1:])
        return [self._patches(xs[0], 0.0).sum(axis=-2) / c]


@dataclass(frozen=True, eq=False)
class AvgPool1D(_AvgPool):
    """1-D average pooling; exact when every window holds a power-of-2 count of cells."""

    kind: ClassVar[str] = "AvgPool1D"
    rank: ClassVar[int] = 1
    window: tuple[int, ...] = (2,)
    strides: tuple[int, ...] = (2,)


@dataclass(frozen=True, eq=False)
class AvgPool2D(_AvgPool):
    """2-D average pooling; exact when every window holds a power-of-2 count of cells."""

    kind: ClassVar[str] = "AvgPool2D"
