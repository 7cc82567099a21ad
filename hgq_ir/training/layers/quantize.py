"""HQuantize: quantizes its input heterogeneously (the usual first layer of an HGQ model)."""

from __future__ import annotations

from typing import Any

import keras

from hgq_ir.training.layers.base import HLayerBase


@keras.saving.register_keras_serializable(package="hgq_ir")
class HQuantize(HLayerBase):
    """``paq(x)``, recording the range; its output widths seed the BOPs of the next layer.

    With ``rnd_strategy='auto'`` it truncates (there is no bias to fold the rounding into).
    """

    def build(self, input_shape: tuple) -> None:
        """Create the paq variables for the input shape."""
        self.build_quantizers(input_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Same as the input."""
        return tuple(input_shape)

    def call(self, x: Any, training: bool | None = None) -> Any:
        """Quantize (and record when training or tracing)."""
        return self.quantize_output(x, bool(training))
