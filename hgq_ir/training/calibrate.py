"""Calibration: record the output range of every HGQ layer over a dataset, and count BOPs.

``trace_minmax`` streams the data batch by batch (numpy arrays, lists of arrays for several
inputs, a batched ``tf.data.Dataset`` or any iterable of batches), so the data set is never copied
whole. Unlike upstream HGQ it also visits layers inside nested models.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np
from tqdm.auto import tqdm

from hgq_ir.ir.errors import ConfigError, HgqIrError
from hgq_ir.training.layers.activation import HActivation
from hgq_ir.training.layers.base import HLayerBase
from hgq_ir.training.layers.graph import iter_layers

_OUTPUT_CLAMPS = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softmax": (0.0, 1.0)}


def hgq_layers(model: keras.layers.Layer) -> list[HLayerBase]:
    """Every H-layer of ``model``, nested models included, in graph order."""
    return [layer for layer in iter_layers(model) if isinstance(layer, HLayerBase)]


def _n_inputs(model: keras.Model) -> int:
    inputs = getattr(model, "inputs", None)
    return len(inputs) if inputs else 1


def _inputs_of(element: Any, n_inputs: int) -> Any:
    """The model input of one dataset element: ``x`` of ``(x, y[, w])``, or the element itself."""
    if isinstance(element, dict):
        return element
    if isinstance(element, tuple | list):
        if n_inputs > 1 and len(element) == n_inputs and not isinstance(element[0], tuple | list):
            return list(element)
        first = element[0]
        return list(first) if isinstance(first, tuple | list) else first
    return element


def _array_batches(arrays: list[np.ndarray], bsz: int) -> Iterator[Any]:
    n = len(arrays[0])
    for start in range(0, n, bsz):
        part = [a[start:start + bsz] for a in arrays]
        yield part if len(part) > 1 else part[0]


def iter_batches(data: Any, bsz: int, n_inputs: int = 1) -> tuple[Iterator[Any], int | None]:
    """Model-input batches of ``data`` and their count when known (None otherwise)."""
    if isinstance(data, np.ndarray):
        return _array_batches([data], bsz), math.ceil(len(data) / bsz)
    if isinstance(data, list | tuple) and data and all(isinstance(a, np.ndarray) for a in data):
        if len({len(a) for a in data}) != 1:
            raise ConfigError(f"trace_minmax: input arrays have different lengths {[len(a) for a in data]}")
        return _array_batches(list(data), bsz), math.ceil(len(data[0]) / bsz)
    if isinstance(data, Iterable):
        total = None
        if hasattr(data, "cardinality"):
            card = int(data.cardinality())
            total = card if card >= 0 else None
        elif hasattr(data, "__len__"):
            total = len(data)
        return (_inputs_of(e, n_inputs) for e in data), total
    raise ConfigError(
        f"trace_minmax: cannot iterate over data of type {type(data).__name__}; pass a numpy array, "
        "a list of arrays, a batched tf.data.Dataset or an iterable of batches"
    )


class _Inference:
    """``model(x, training=False)`` as an object.

    TensorFlow counts traces per code object and warns about "retracing" after five; every
    ``trace_minmax`` call compiles a fresh function on purpose, so each gets its own key.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model

    def __call__(self, x: Any) -> Any:
        return self.model(x, training=False)


def _forward(model: keras.Model) -> Any:
    """A fresh compiled inference function (fresh, so it sees the layers' recording flags)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(_Inference(model), reduce_retracing=True)
    return _Inference(model)


def _widen_and_clamp(layer: HLayerBase, cover_factor: float) -> None:
    paq = layer.paq
    if not paq.minmax_record:
        return
    lo, hi = (np.asarray(v.numpy(), np.float64) for v in (paq._min, paq._max))
    valid = lo <= hi
    if cover_factor != 1.0:
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * cover_factor
        lo = np.where(valid, keras.ops.convert_to_numpy(paq.round_to_grid((mid - half).astype(np.float32))), lo)
        hi = np.where(valid, keras.ops.convert_to_numpy(paq.round_to_grid((mid + half).astype(np.float32))), hi)
    clamp = _OUTPUT_CLAMPS.get(layer.activation_name) if isinstance(layer, HActivation) else None
    if clamp is not None:
        lo = np.where(valid, np.clip(lo, *clamp), lo)
        hi = np.where(valid, np.clip(hi, *clamp), hi)
    paq._min.assign(lo.astype(np.float32))
    paq._max.assign(hi.astype(np.float32))


def compute_bops(model: keras.Model, verbose: bool = False) -> float:
    """Sum of the exact BOPs of every H-layer (needs traced ranges); prints a table when verbose."""
    rows = [(layer.name, type(layer).__name__, layer.compute_exact_bops()) for layer in hgq_layers(model)]
    total = float(sum(r[2] for r in rows))
    if verbose:
        width = max([len(r[0]) for r in rows] + [5])
        print(f"{'layer':<{width}}  {'class':<18} {'BOPs':>14}")
        for name, cls, bops in rows:
            print(f"{name:<{width}}  {cls:<18} {bops:>14,.0f}")
        print(f"{'total':<{width}}  {'':<18} {total:>14,.0f}")
    return total


def trace_minmax(model: keras.Model, data: Any, bsz: int = 16384, verbose: bool = True,
                 return_predictions: bool = False, no_bops_computation: bool = False, rst: bool = True,
                 cover_factor: float = 1.0) -> float | tuple[float, Any]:
    """Record the output range of every H-layer over ``data`` and return the model's exact BOPs.

    ``data`` is a numpy array, a list of arrays (one per model input), a batched
    ``tf.data.Dataset`` or any iterable of batches (``(x, y[, w])`` elements use ``x``); arrays are
    cut into batches of ``bsz``. ``rst`` first forgets the previous ranges. ``cover_factor``
    widens each range about its centre (< 1 narrows it and warns: overflow becomes likely).
    Outputs of sigmoid/tanh/softmax HActivations are clamped to their true range. Returns the
    total BOPs (-1 with ``no_bops_computation``), or ``(bops, predictions)``.

    >>> bops = trace_minmax(model, x_train, verbose=False)  # doctest: +SKIP
    """
    if not cover_factor > 0:
        raise ConfigError(f"trace_minmax: cover_factor must be > 0, got {cover_factor}")
    if cover_factor < 1:
        warnings.warn(f"trace_minmax: cover_factor {cover_factor} < 1 narrows the ranges; values outside "
                      "them will overflow after conversion", stacklevel=2)
    layers = hgq_layers(model)
    if rst:
        for layer in layers:
            layer.reset_minmax()
    batches, total = iter_batches(data, int(bsz), _n_inputs(model))
    forward = _forward(model)
    predictions, n_batches = [], 0
    for layer in layers:
        layer.record_minmax = True
    try:
        for batch in tqdm(batches, total=total, disable=not verbose, desc="trace_minmax", unit="batch"):
            out = forward(batch)
            n_batches += 1
            if return_predictions:
                predictions.append(keras.tree.map_structure(keras.ops.convert_to_numpy, out))
    finally:
        for layer in layers:
            layer.record_minmax = False
    if n_batches == 0:
        raise HgqIrError("trace_minmax: the dataset is empty (it yielded no batch); pass at least one sample")
    for layer in layers:
        _widen_and_clamp(layer, float(cover_factor))
    bops = -1.0 if no_bops_computation else compute_bops(model, verbose=verbose)
    if not return_predictions:
        return bops
    if isinstance(predictions[0], list | tuple):
        preds: Any = [np.concatenate(parts) for parts in zip(*predictions, strict=True)]
    else:
        preds = np.concatenate(predictions)
    return bops, preds
