"""HDense: a dense layer with heterogeneously quantized kernel and output."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.training.layers.kernel import HKernelLayer


@keras.saving.register_keras_serializable(package="hgq_ir")
class HDense(HKernelLayer):
    """``activation(paq(x @ kq(kernel) + bias))``; activation is 'linear' (None) or 'relu'.

    ``parallel_factor`` (hls4ml hint) defaults to the number of matmul positions,
    ``prod(input_shape[1:-1])``, i.e. 1 for a plain (batch, features) input.
    BOPs: ``sum(input_bw @ kernel_bw)`` over every position.
    """

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 parallel_factor: int | None = None, **kwargs: Any) -> None:
        super().__init__(activation=activation, use_bias=use_bias, parallel_factor=parallel_factor, **kwargs)
        self.units = int(units)

    def kernel_shape(self, input_shape: tuple) -> tuple[int, ...]:
        """``(n_in, units)``."""
        return (int(input_shape[-1]), self.units)

    def build(self, input_shape: tuple) -> None:
        """Weights, quantizers, and the default ``parallel_factor``."""
        super().build(input_shape)
        if self.parallel_factor is None:
            self.parallel_factor = int(np.prod(input_shape[1:-1])) if len(input_shape) > 2 else 1

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``input_shape[:-1] + (units,)``."""
        return (*tuple(input_shape)[:-1], self.units)

    def linear_op(self, x: Any, kernel: Any) -> Any:
        """``x @ kernel``."""
        return ops.matmul(x, kernel)

    def bops_op(self, input_bw: Any, kernel_bw: Any) -> Any:
        """``sum(input_bw @ kernel_bw)``."""
        return ops.sum(ops.matmul(input_bw, kernel_bw))

    def exact_bops(self, input_bw: np.ndarray, kernel_bw: np.ndarray) -> float:
        """``sum(input_bw @ kernel_bw)`` in float64 (exact for any model size, like the IR's)."""
        return float(np.sum(np.asarray(input_bw, np.float64) @ np.asarray(kernel_bw, np.float64)))

    def get_config(self) -> dict[str, Any]:
        """Keras config."""
        return {**super().get_config(), "units": self.units}
