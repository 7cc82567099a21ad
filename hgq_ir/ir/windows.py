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


def real_cells(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
               padding: str) -> np.ndarray:
    """``idx[p, j]``: the flat index, in the unpadded spatial grid, of cell ``j`` of window ``p`` (windows
    in output order, cells in Keras kernel order), or -1 where the cell is padding."""
    geo = geometry(spatial, kernel, strides, padding)
    real = np.full(geo.padded, -1, dtype=np.int64)
    real[tuple(slice(b, b + n) for b, n in zip(geo.before, spatial, strict=True))] = (
        np.arange(int(np.prod(spatial)), dtype=np.int64).reshape(spatial))
    idx = cell_indices(spatial, kernel, strides, padding)
    return real.reshape(-1)[idx].reshape(-1, int(np.prod(kernel)))


def conv_matrix(cells: np.ndarray, kernel: np.ndarray, n_cells: int) -> np.ndarray:
    """A convolution as one matrix on flattened channels-last samples: ``x.reshape(N, -1) @ M``.

    ``cells``: :func:`real_cells`; ``kernel``: ``(*window, C, O)``; ``n_cells``: input spatial cells.
    ``M[(r, c), (p, o)] = kernel[j, c, o]`` where cell ``j`` of window ``p`` is input cell ``r``, else
    0: the same products as the windows' sums, plus exact zeros.
    """
    c_in, c_out = kernel.shape[-2:]
    k = np.asarray(kernel, dtype=np.float64).reshape(cells.shape[1], c_in, c_out)
    m = np.zeros((n_cells, c_in, cells.shape[0], c_out))
    p, j = np.nonzero(cells >= 0)
    m[cells[p, j], :, p, :] = k[j]  # a window holds each cell once
    return m.reshape(n_cells * c_in, cells.shape[0] * c_out)


def sum_matrix(cells: np.ndarray, channels: int, n_cells: int, weight: np.ndarray | None = None) -> np.ndarray:
    """Per-channel window sums as one matrix on flattened channels-last samples (see :func:`conv_matrix`).

    ``weight[p]``: window ``p``'s factor (default 1).
    """
    w = np.ones(cells.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    m = np.zeros((n_cells, channels, cells.shape[0], channels))
    p, j = np.nonzero(cells >= 0)
    ch = np.arange(channels)
    m[cells[p, j][:, None], ch[None, :], p[:, None], ch[None, :]] = w[p][:, None]
    return m.reshape(n_cells * channels, cells.shape[0] * channels)


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
