"""Sliding windows for convolution and pooling (channels-last, Keras padding rules)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def window_geometry(n: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """Output length and (before, after) padding of one spatial axis, as Keras computes them."""
    if padding == "valid":
        return (n - k) // s + 1, 0, 0
    if padding == "same":
        out = math.ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        return out, total // 2, total - total // 2
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


class Geometry(NamedTuple):
    """Per spatial axis of a window op: output size, Keras padding before and after, padded size."""

    out: tuple[int, ...]
    before: tuple[int, ...]
    after: tuple[int, ...]
    padded: tuple[int, ...]


def geometry(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
             padding: str) -> Geometry:
    """The :class:`Geometry` of every spatial axis (``window_geometry`` axis by axis)."""
    geo = [window_geometry(n, k, s, padding) for n, k, s in zip(spatial, kernel, strides, strict=True)]
    return Geometry(tuple(g[0] for g in geo), tuple(g[1] for g in geo), tuple(g[2] for g in geo),
                    tuple(n + g[1] + g[2] for n, g in zip(spatial, geo, strict=True)))


def cell_indices(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                 padding: str) -> np.ndarray:
    """``idx[*out, j]``: the flat index, in the padded spatial grid, of cell ``j`` of window ``out``.

    Cells are in Keras kernel order (as :func:`extract_patches` orders them): an im2col ``Gather``.
    """
    padded = geometry(spatial, kernel, strides, padding).padded
    cells = np.arange(int(np.prod(padded)), dtype=np.float64).reshape(1, *padded, 1)
    return extract_patches(cells, kernel, strides, "valid", 0.0)[0, ..., 0].astype(np.int64)


def output_spatial(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                   padding: str) -> tuple[int, ...]:
    """Spatial output shape of a window op."""
    return tuple(window_geometry(n, k, s, padding)[0] for n, k, s in zip(spatial, kernel, strides, strict=True))


def extract_patches(x: np.ndarray, kernel: tuple[int, ...], strides: tuple[int, ...], padding: str,
                    fill: float) -> np.ndarray:
    """Patches of ``x`` (batch, *spatial, C) as (batch, *out_spatial, prod(kernel), C).

    Padded cells hold ``fill``. The window axis is ordered like a Keras kernel's leading axes.
    """
    nd = len(kernel)
    spatial = x.shape[1:1 + nd]
    geo = [window_geometry(n, k, s, padding) for n, k, s in zip(spatial, kernel, strides, strict=True)]
    pad = [(0, 0)] + [(b, a) for _, b, a in geo] + [(0, 0)]
    xp = np.pad(x, pad, constant_values=fill)
    win = sliding_window_view(xp, kernel, axis=tuple(range(1, 1 + nd)))  # (B, *full, C, *kernel)
    sl = (slice(None),) + tuple(slice(None, out * s, s) for (out, _, _), s in zip(geo, strides, strict=True))
    win = win[sl]
    # (B, *out, C, *kernel) -> (B, *out, *kernel, C)
    win = np.moveaxis(win, 1 + nd, -1)
    return win.reshape(*win.shape[:1 + nd], int(np.prod(kernel)), x.shape[-1])


def window_counts(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                  padding: str) -> np.ndarray:
    """Number of real (unpadded) cells in each output window, shape (*out_spatial,)."""
    ones = np.ones((1, *spatial, 1))
    return extract_patches(ones, kernel, strides, padding, 0.0).sum(axis=-2)[0, ..., 0]
