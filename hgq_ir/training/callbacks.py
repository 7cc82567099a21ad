"""Training callbacks: reset recorded ranges, and report BOPs as the ``bops`` metric.

Order them ``[FreeBOPs() or CalibratedBOPs(...), ..., ResetMinMax()]``: BOPs are read from the
ranges of the epoch before ResetMinMax forgets them.
"""

from __future__ import annotations

from typing import Any

import keras

from hgq_ir.training.calibrate import hgq_layers, trace_minmax


class _LinksNestedModels(keras.callbacks.Callback):
    """Before training, link nested models' inputs to their outer layers (``hgq_layers`` does).

    Without the link, the first layer inside a nested model finds no input widths, and its BOPs
    stay out of the training loss until something lists the layers.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Link nested models (listing the H-layers does it)."""
        hgq_layers(self.model)


class ResetMinMax(_LinksNestedModels):
    """Forget every H-layer's recorded range at the end of each epoch (nested models included).

    Ranges recorded while the bitwidths move overestimate the final ones; resetting keeps the
    training-time BOPs close to the current model.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Reset the ranges."""
        for layer in hgq_layers(self.model):
            layer.reset_minmax()


class FreeBOPs(_LinksNestedModels):
    """Log ``bops``: the sum of the layers' BOPs of the last training step (an overestimate)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Add ``logs['bops']``."""
        if logs is not None:
            logs["bops"] = float(sum(float(layer.bops.numpy()) for layer in hgq_layers(self.model)))


class CalibratedBOPs(_LinksNestedModels):
    """Log ``bops`` as the exact BOPs after ``trace_minmax`` on ``calibration_data``.

    ``bsz`` defaults to the whole calibration set in one batch (as upstream).
    """

    def __init__(self, calibration_data: Any, bsz: int | None = None) -> None:
        super().__init__()
        self.calibration_data = calibration_data
        self.bsz = bsz

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Trace and add ``logs['bops']``."""
        data = self.calibration_data
        bsz = self.bsz
        if bsz is None:  # one batch of everything for arrays; datasets keep their own batching
            arrays = data if isinstance(data, list | tuple) else [data]
            bsz = len(arrays[0]) if hasattr(arrays[0], "shape") else 16384
        bops = trace_minmax(self.model, data, bsz=bsz, verbose=False)
        if logs is not None:
            logs["bops"] = float(bops)
