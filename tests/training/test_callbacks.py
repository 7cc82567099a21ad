"""Callbacks: ResetMinMax, FreeBOPs and CalibratedBOPs during fit."""

from __future__ import annotations

import numpy as np

from hgq_ir.training.callbacks import CalibratedBOPs, FreeBOPs, ResetMinMax


class _Probe(ResetMinMax.__mro__[1]):  # a plain keras Callback that looks at the ranges after reset
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.max_after = self.model.layers[1].paq._max.numpy().copy()


def test_free_bops_and_reset(models, digits) -> None:
    x, y = digits[0], digits[1]
    model = models.compile(models.mlp(beta=1e-6))
    probe = _Probe()
    hist = model.fit(x, y, batch_size=128, epochs=2, verbose=0, callbacks=[FreeBOPs(), ResetMinMax(), probe])
    assert len(hist.history["bops"]) == 2 and all(b > 0 for b in hist.history["bops"])
    assert np.all(probe.max_after == -np.inf)


def test_calibrated_bops(models, digits) -> None:
    x, y = digits[0], digits[1]
    model = models.compile(models.mlp(beta=1e-6))
    hist = model.fit(x, y, batch_size=128, epochs=2, verbose=0, callbacks=[CalibratedBOPs(x[:500])])
    assert len(hist.history["bops"]) == 2 and hist.history["bops"][-1] > 0
    assert not model.layers[1].record_minmax
