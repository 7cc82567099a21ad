"""HConv1D / HConv2D: convolutions with heterogeneously quantized kernel and output."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.ir.errors import ConfigError
from hgq_ir.training.layers.kernel import HKernelLayer


def _tuple(v: Any, n: int, what: str, layer: str) -> tuple[int, ...]:
    t = (int(v),) * n if isinstance(v, int) else tuple(int(a) for a in v)
    if len(t) != n:
        raise ConfigError(f"{layer}: {what} must be an int or {n} ints, got {v!r}")
    return t


class HConvBase(HKernelLayer):
    """Channels-last N-d convolution; ``parallel_factor`` output positions are computed at once.

    BOPs: ``sum(conv(input_bw, kernel_bw)) * parallel_factor / P`` with ``P`` the number of output
    positions (the hardware reuses one set of multipliers ``P / parallel_factor`` times).
    """

    rank = 2

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 parallel_factor: int = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(activation=activation, use_bias=use_bias, parallel_factor=int(parallel_factor),
                         **kwargs)
        if data_format not in (None, "channels_last"):
            raise ConfigError(f"{self.name}: only data_format='channels_last' is supported, got {data_format!r}")
        if padding not in ("valid", "same"):
            raise ConfigError(f"{self.name}: padding must be 'valid' or 'same', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size", self.name)
        self.strides = _tuple(strides, self.rank, "strides", self.name)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate", self.name)
        self.padding = padding

    def kernel_shape(self, input_shape: tuple) -> tuple[int, ...]:
        """``kernel_size + (in_channels, filters)``."""
        return (*self.kernel_size, int(input_shape[-1]), self.filters)

    def build(self, input_shape: tuple) -> None:
        """Weights and quantizers; the kernel quantizer's gradient scale includes parallel_factor."""
        super().build(input_shape)
        self.kq.degeneracy *= self.parallel_factor
        self._n_positions = int(np.prod(self._hgq_out_shape[1:-1]))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Standard convolution output shape."""
        spatial = []
        for n, k, s, d in zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                              strict=True):
            if n is None:
                spatial.append(None)
                continue
            span = (k - 1) * d + 1
            spatial.append((n - span) // s + 1 if self.padding == "valid" else -(-n // s))
        return (input_shape[0], *spatial, self.filters)

    def linear_op(self, x: Any, kernel: Any) -> Any:
        """The convolution (no bias)."""
        return ops.conv(x, kernel, strides=self.strides, padding=self.padding,
                        data_format="channels_last", dilation_rate=self.dilation_rate)

    def bops_op(self, input_bw: Any, kernel_bw: Any) -> Any:
        """``sum(conv(input_bw, kernel_bw)) * parallel_factor / P``."""
        total = ops.sum(self.linear_op(input_bw, kernel_bw))
        return total * (self.parallel_factor / self._n_positions)

    def exact_bops(self, input_bw: np.ndarray, kernel_bw: np.ndarray) -> float:
        """``sum * parallel_factor / P`` in float64 (the sum of integer products is exact in float32)."""
        conv = ops.convert_to_numpy(self.linear_op(ops.convert_to_tensor(input_bw), ops.convert_to_tensor(kernel_bw)))
        return float(conv.astype(np.float64).sum()) * self.parallel_factor / self._n_positions

    def get_config(self) -> dict[str, Any]:
        """Keras config."""
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate}


@keras.saving.register_keras_serializable(package="hgq_ir")
class HConv1D(HConvBase):
    """1-D HGQ convolution on ``(batch, steps, channels)``."""

    rank = 1


@keras.saving.register_keras_serializable(package="hgq_ir")
class HConv2D(HConvBase):
    """2-D HGQ convolution on ``(batch, rows, cols, channels)``."""

    rank = 2
