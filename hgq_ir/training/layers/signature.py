"""Signature: marks an input that is already quantized to a known fixed-point format."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.training.layers.base import BitwidthMixin


@keras.saving.register_keras_serializable(package="hgq_ir")
class Signature(BitwidthMixin, keras.layers.Layer):
    """Identity that declares its input format: ``keep_negative``, ``bits``, ``int_bits``.

    As upstream, ``int_bits`` counts the sign (``I = k + i``), so the format is
    ``(k, i, f) = (keep_negative, int_bits - keep_negative, bits - int_bits)``, TRN, SAT.
    Each argument is a scalar or an array broadcastable to ``(1,) + input_shape[1:]``.
    """

    def __init__(self, keep_negative: Any, bits: Any, int_bits: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep_negative = np.asarray(keep_negative, dtype=np.int64)
        self.bits = np.asarray(bits, dtype=np.int64)
        self.int_bits = np.asarray(int_bits, dtype=np.int64)
        self.format = FixedFormat(self.keep_negative, self.int_bits - self.keep_negative,
                                  self.bits - self.int_bits, "TRN", "SAT")

    def build(self, input_shape: tuple) -> None:
        """Remember the output shape for the width map."""
        self._hgq_out_shape = tuple(input_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Same as the input."""
        return tuple(input_shape)

    def call(self, x: Any) -> Any:
        """Identity."""
        return x

    def get_bits_exact(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, i, f) int arrays of the declared format (i excludes the sign)."""
        return self.format.k, self.format.i, self.format.f

    def act_bw(self, exact: bool = False) -> Any:
        """``bits`` broadcast to ``(1,) + input_shape[1:]``."""
        bw = np.broadcast_to(self.bits.astype(np.float32), self._full_bw_shape())
        return bw if exact else ops.convert_to_tensor(bw)

    def get_config(self) -> dict[str, Any]:
        """Keras config (the three arrays as nested lists)."""
        return {**super().get_config(), "keep_negative": self.keep_negative.tolist(),
                "bits": self.bits.tolist(), "int_bits": self.int_bits.tolist()}
