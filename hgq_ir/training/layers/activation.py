"""HActivation: any Keras activation or unary callable, followed by a heterogeneous quantizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from hgq_ir.ir.errors import ConfigError
from hgq_ir.training.layers.base import HLayerBase


def resolve_activation(activation: Any, layer: str) -> Callable[[Any], Any]:
    """A Keras activation name / config, or a unary callable; anything else raises ConfigError."""
    if isinstance(activation, str | dict):
        try:
            return keras.activations.get(activation)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{layer}: unknown activation {activation!r}: {e}") from e
    if callable(activation):
        return activation
    raise ConfigError(
        f"{layer}: activation must be a Keras activation name or a unary callable, "
        f"got {activation!r} of type {type(activation).__name__}"
    )


@keras.saving.register_keras_serializable(package="hgq_ir")
class HActivation(HLayerBase):
    """``paq(activation(x))``; the range recorded is the post-activation one.

    ``rnd_strategy='auto'`` means standard rounding here. Only a few activations are bit-exact
    in hardware (linear, relu; tanh/sigmoid under conditions; softmax never).
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = resolve_activation(activation, self.name)
        self.activation_name = getattr(self.activation, "__name__", type(self.activation).__name__).lower()
        if self.paq.rnd_strategy is None:
            self.paq.rnd_strategy = 0

    def build(self, input_shape: tuple) -> None:
        """Create the paq variables."""
        self.build_quantizers(input_shape)
        self.paq.pos_only = False  # the paq sees the activation's output, its own range says it all

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Same as the input."""
        return tuple(input_shape)

    def call(self, x: Any, training: bool | None = None) -> Any:
        """Activation, then the quantizer."""
        training = bool(training)
        return self.paq(self.activation(x), training, record=training or self.record_minmax)

    def get_config(self) -> dict[str, Any]:
        """Keras config; the activation is serialized by Keras (built-ins by name)."""
        return {**super().get_config(), "activation": keras.saving.serialize_keras_object(self.activation)}
