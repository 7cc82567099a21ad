"""HAdd: element-wise sum of its inputs, followed by a heterogeneous quantizer."""

from __future__ import annotations

from typing import Any

import keras

from hgq_ir.ir.errors import ConfigError
from hgq_ir.training.layers.base import HLayerBase


@keras.saving.register_keras_serializable(package="hgq_ir")
class HAdd(HLayerBase):
    """``paq(x_0 + x_1 + ...)`` on inputs of one shape; no BOPs (an adder tree is not counted)."""

    def build(self, input_shape: list) -> None:
        """Check the inputs and create the paq variables."""
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2 or any(s[1:] != shapes[0][1:] for s in shapes):
            raise ConfigError(f"{self.name}: HAdd needs >= 2 inputs of one shape, got {shapes}")
        self.build_quantizers(shapes)

    def compute_output_shape(self, input_shape: list) -> tuple:
        """The common input shape."""
        return tuple(input_shape[0])

    def call(self, inputs: list, training: bool | None = None) -> Any:
        """Sum, then quantize."""
        total = inputs[0]
        for x in inputs[1:]:
            total = total + x
        return self.quantize_output(total, bool(training))
