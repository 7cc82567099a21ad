"""Passive layers (P-prefix): plain Keras layers that also propagate per-element bitwidths.

They carry no quantizer; their ``act_bw`` is derived from the inputs' widths so that the next
H-layer can count its BOPs. Average pooling is bit-exact in hardware only when every pool,
including the partial border pools of ``padding='same'``, has a power-of-2 size; otherwise the
layer still works but warns with :class:`hgq_ir.ir.errors.NotBitExactWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.ir.errors import NotBitExactWarning
from hgq_ir.training.layers.base import BitwidthMixin


class PassiveMixin(BitwidthMixin):
    """``act_bw`` = ``map_bw`` of the inputs' widths; exact widths go through the same map."""

    def map_bw(self, bws: list[Any]) -> Any:
        """Output widths from the input widths (each of shape ``(1,) + input_shape[1:]``)."""
        raise NotImplementedError

    def act_bw(self, exact: bool = False) -> Any:
        """Per-element output width, or None when an input carries none."""
        bws = self.input_bw(exact)
        if bws is None:
            return None
        if exact:
            return ops.convert_to_numpy(self.map_bw([ops.convert_to_tensor(b) for b in bws]))
        return self.map_bw(bws)

    def _out_shape(self) -> tuple:
        return tuple(self._inbound_nodes[-1].outputs[0].shape)

    def _reshape_bw(self, bws: list[Any]) -> Any:
        return ops.reshape(bws[0], (1, *self._out_shape()[1:]))


@keras.saving.register_keras_serializable(package="hgq_ir")
class PReshape(PassiveMixin, keras.layers.Reshape):
    """Reshape; widths are reshaped alike."""

    map_bw = PassiveMixin._reshape_bw


@keras.saving.register_keras_serializable(package="hgq_ir")
class PFlatten(PassiveMixin, keras.layers.Flatten):
    """Flatten; widths are flattened alike."""

    map_bw = PassiveMixin._reshape_bw


@keras.saving.register_keras_serializable(package="hgq_ir")
class PConcatenate(PassiveMixin, keras.layers.Concatenate):
    """Concatenate; widths are concatenated along the same axis."""

    def map_bw(self, bws: list[Any]) -> Any:
        """Concatenation of the inputs' widths (each broadcast to its full input shape)."""
        shapes = [tuple(t.shape) for t in self._inbound_nodes[-1].input_tensors]
        full = [ops.broadcast_to(b, (1, *s[1:])) for b, s in zip(bws, shapes, strict=True)]
        return ops.concatenate(full, axis=self.axis)


class _PoolBw:
    def map_bw(self, bws: list[Any]) -> Any:
        """Max-pool of the input widths (also for average pooling: the widest input dominates)."""
        return ops.max_pool(bws[0], self.pool_size, self.strides, self.padding, "channels_last")


@keras.saving.register_keras_serializable(package="hgq_ir")
class PMaxPooling1D(_PoolBw, PassiveMixin, keras.layers.MaxPooling1D):
    """1-D max pooling."""


@keras.saving.register_keras_serializable(package="hgq_ir")
class PMaxPooling2D(_PoolBw, PassiveMixin, keras.layers.MaxPooling2D):
    """2-D max pooling."""


def _window_counts(n: int, pool: int, stride: int, padding: str) -> set[int]:
    """Number of real (unpadded) elements in each pooling window along one axis."""
    if padding == "valid":
        return {pool} if n >= pool else set()
    out = -(-n // stride)
    pad_before = max((out - 1) * stride + pool - n, 0) // 2
    counts = set()
    for o in range(out):
        start = o * stride - pad_before
        counts.add(min(start + pool, n) - max(start, 0))
    return counts


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class _AvgPoolCheck(_PoolBw):
    def _warn_not_exact(self, detail: str) -> None:
        warnings.warn(
            f"{self.name}: average pooling with {detail} is not a power of 2, so it will not be bit-exact "
            "after conversion (the division is no longer a shift). Use power-of-2 pools "
            "(and padding='valid' or sizes that keep border pools power-of-2) for bit-exact hardware.",
            NotBitExactWarning, stacklevel=3,
        )

    def _check_pool_size(self) -> None:
        if not all(_is_pow2(int(p)) for p in self.pool_size):
            self._warn_not_exact(f"pool_size {tuple(self.pool_size)}")

    def build(self, input_shape: tuple) -> None:
        """Warn when a border pool of padding='same' has a non-power-of-2 size."""
        super().build(input_shape)
        if not all(_is_pow2(int(p)) for p in self.pool_size):
            return  # already warned at construction
        for n, p, s in zip(input_shape[1:-1], self.pool_size, self.strides, strict=True):
            if n is None:
                continue
            bad = sorted(c for c in _window_counts(int(n), int(p), int(s), self.padding) if not _is_pow2(c))
            if bad:
                self._warn_not_exact(f"padding='same' border pools of size {bad}: a pool size")
                return


@keras.saving.register_keras_serializable(package="hgq_ir")
class PAveragePooling1D(_AvgPoolCheck, PassiveMixin, keras.layers.AveragePooling1D):
    """1-D average pooling; warns when a pool is not a power of 2 (not bit-exact)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_pool_size()


@keras.saving.register_keras_serializable(package="hgq_ir")
class PAveragePooling2D(_AvgPoolCheck, PassiveMixin, keras.layers.AveragePooling2D):
    """2-D average pooling; warns when a pool is not a power of 2 (not bit-exact)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_pool_size()


PMaxPool1D, PMaxPool2D = PMaxPooling1D, PMaxPooling2D
PAvgPool1D, PAvgPool2D = PAveragePooling1D, PAveragePooling2D


def pool_log2(layer: keras.layers.Layer) -> int:
    """``log2`` of the full pool size of a power-of-2 average pool (the extra fractional bits)."""
    return int(np.log2(int(np.prod(layer.pool_size))))
