"""Calibration: record the output range of every HGQ layer over a dataset, and count BOPs.

``trace_minmax`` streams the data batch by batch (numpy arrays, lists of arrays for several
inputs, a batched ``tf.data.Dataset`` or any iterable of batches), so the data set is never copied
whole. Unlike upstream HGQ it also visits layers inside nested models and counts the BOPs of the
layers reading across a nested model's boundary (upstream fails on those in the forward pass).
Otherwise the BOPs are upstream HGQ 0.2.6's to the bit (float64, conv as ``sum * pf / P``); the
IR's report counts more after pooling layers (see :mod:`hgq_ir.reporting`).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np

from hgq_ir.ir.errors import ConfigError, FormatError
from hgq_ir.progress import Progress
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


def _input_specs(model: keras.Model) -> list[tuple[str, tuple]]:
    """``(name, shape without the batch axis)`` of each model input; empty when the model has none yet."""
    specs = []
    for k, t in enumerate(getattr(model, "inputs", None) or []):
        shape = getattr(t, "shape", None)
        specs.append((str(getattr(t, "name", k)), tuple(shape[1:]) if shape is not None else None))
    return specs


def _nonfinite_rows(a: np.ndarray, chunk: int = 4096) -> tuple[int, int]:
    """``(number of rows holding NaN or Inf, index of the first one or -1)``, a chunk of rows at a time."""
    if a.dtype.kind not in "fc" or a.ndim == 0 or a.size == 0:
        return 0, -1
    count, first = 0, -1
    for start in range(0, len(a), chunk):
        bad = ~np.isfinite(a[start:start + chunk]).reshape(min(chunk, len(a) - start), -1).all(axis=1)
        n = int(bad.sum())
        if n and first < 0:
            first = start + int(np.argmax(bad))
        count += n
    return count, first


def check_calibration_arrays(arrays: list[Any], specs: list[tuple[str, tuple]], row0: int = 0,
                             where: str = "") -> None:
    """Refuse calibration inputs that are not numbers, have the wrong shape, or hold NaN/Inf.

    ``arrays`` holds one array (or tensor) per model input, ``specs`` the model's inputs (see
    :func:`_input_specs`); ``row0`` and ``where`` place the arrays in a stream of batches for the
    message. Raises :class:`ConfigError` naming the input, the rows and what to do.
    """
    if specs and len(arrays) != len(specs):
        raise ConfigError(f"trace_minmax: the model has {len(specs)} inputs "
                          f"({', '.join(repr(n) for n, _ in specs)}) but the data{where} holds {len(arrays)} "
                          "arrays; pass one array per input, in order")
    for k, a in enumerate(arrays):
        name = specs[k][0] if specs else str(k)
        try:
            a = np.asarray(keras.ops.convert_to_numpy(a) if not isinstance(a, np.ndarray) else a)
        except Exception as e:
            raise ConfigError(f"trace_minmax: input {k} ({name!r}){where} is not an array of numbers "
                              f"({type(e).__name__}: {e})") from e
        if a.dtype.kind not in "fiub":
            raise ConfigError(f"trace_minmax: input {k} ({name!r}){where} holds {a.dtype} values; pass numbers "
                              "(a float array)")
        shape = specs[k][1] if specs else None
        if shape is not None and (a.ndim != len(shape) + 1 or any(
                s is not None and int(s) != d for s, d in zip(shape, a.shape[1:], strict=True))):
            raise ConfigError(f"trace_minmax: input {k} ({name!r}) expects rows of shape "
                              f"{tuple(None if s is None else int(s) for s in shape)}, but the data{where} has "
                              f"shape {a.shape} (rows first)")
        bad, first = _nonfinite_rows(a)
        if bad:
            raise ConfigError(f"trace_minmax: input {k} ({name!r}) has {bad} of {len(a)} rows{where} holding NaN "
                              f"or Inf (first: row {row0 + first}); remove or replace them (e.g. np.nan_to_num) "
                              "before calibrating")


def _batch_arrays(batch: Any) -> list[Any]:
    """The arrays of one model-input batch, one per input (a dict's values in order)."""
    if isinstance(batch, dict):
        return list(batch.values())
    return list(batch) if isinstance(batch, list | tuple) else [batch]


def _check_ranges_are_numbers(layers: list[HLayerBase]) -> None:
    """Refuse recorded ranges holding NaN: the model computed NaN on finite data (bitwidths out of range)."""
    for layer in layers:
        paq = layer.paq
        if not paq.minmax_record:
            continue
        if np.isnan(paq._min.numpy()).any() or np.isnan(paq._max.numpy()).any():
            fbw = [np.asarray(q.fbw.numpy(), np.float64) for q in (paq, getattr(layer, "kq", None))
                   if q is not None and getattr(q, "fbw", None) is not None]
            span = f"{min(float(np.min(a)) for a in fbw):g}..{max(float(np.max(a)) for a in fbw):g}" if fbw else "?"
            raise FormatError(f"trace_minmax: layer {layer.name!r} ({type(layer).__name__}) computed NaN on finite "
                              f"calibration data: its bitwidths or weights are out of range (fractional bits "
                              f"{span}; float32 overflows beyond 2**127); retrain, or bound the bitwidths with "
                              "bw_clip. The previous ranges are kept")


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


def _record(model: keras.Model, layers: list[HLayerBase], batches: Iterator[Any], total: int | None,
            specs: list[tuple[str, tuple]], streamed: bool, progress: bool, return_predictions: bool) -> list[Any]:
    """Run the model over ``batches`` with range recording on; the predictions when asked for."""
    forward = _forward(model)
    predictions, n_batches, rows = [], 0, 0
    for layer in layers:
        layer.record_minmax = True
    try:
        for batch in Progress("trace_minmax", total=total, unit="batch", enabled=progress).iterate(batches):
            if streamed:
                arrays = _batch_arrays(batch)
                check_calibration_arrays(arrays, specs if not isinstance(batch, dict) else [], rows,
                                         f" (batch {n_batches})")
                shape = getattr(arrays[0], "shape", ()) if arrays else ()
                rows += int(shape[0] or 0) if len(shape) else 0
            out = forward(batch)
            n_batches += 1
            if return_predictions:
                predictions.append(keras.tree.map_structure(keras.ops.convert_to_numpy, out))
    finally:
        for layer in layers:
            layer.record_minmax = False
    if n_batches == 0:
        raise ConfigError("trace_minmax: the dataset is empty (it yielded no batch); pass at least one sample")
    return predictions


def trace_minmax(model: keras.Model, data: Any, bsz: int = 16384, verbose: bool = True,
                 return_predictions: bool = False, no_bops_computation: bool = False, rst: bool = True,
                 cover_factor: float = 1.0, progress: bool | None = None) -> float | tuple[float, Any]:
    """Record the output range of every H-layer over ``data`` and return the model's exact BOPs.

    ``data`` is a numpy array, a list of arrays (one per model input), a batched
    ``tf.data.Dataset`` or any iterable of batches (``(x, y[, w])`` elements use ``x``); arrays are
    cut into batches of ``bsz``. ``rst`` first forgets the previous ranges. ``cover_factor``
    widens each range about its centre (< 1 narrows it and warns: overflow becomes likely).
    Outputs of sigmoid/tanh/softmax HActivations are clamped to their true range. Returns the
    total BOPs (-1 with ``no_bops_computation``), or ``(bops, predictions)``.

    ``verbose`` prints the per-layer BOPs table and shows progress over the batches (``progress``,
    default ``verbose``: one line on a terminal, a few plain lines in a log, on stderr; nothing
    under ``hgq_ir.progress.quiet()`` or ``hgq-ir --quiet``).

    >>> bops = trace_minmax(model, x_train, verbose=False)  # doctest: +SKIP
    """
    if not cover_factor > 0:
        raise ConfigError(f"trace_minmax: cover_factor must be > 0, got {cover_factor}")
    if cover_factor < 1:
        warnings.warn(f"trace_minmax: cover_factor {cover_factor} < 1 narrows the ranges; values outside "
                      "them will overflow after conversion", stacklevel=2)
    given_arrays = isinstance(data, np.ndarray) or (isinstance(data, list | tuple) and len(data) > 0
                                                    and all(isinstance(a, np.ndarray) for a in data))
    arrays = ([data] if isinstance(data, np.ndarray) else list(data)) if given_arrays else []
    if given_arrays and len(arrays[0]) == 0:
        raise ConfigError("trace_minmax: the dataset is empty (0 rows); pass at least one sample")
    if not (isinstance(bsz, numbers.Real) and bsz >= 1 and int(bsz) == bsz):
        raise ConfigError(f"trace_minmax: bsz (the batch size) must be an integer >= 1, got {bsz!r}")
    specs = _input_specs(model)
    batches, total = iter_batches(data, int(bsz), _n_inputs(model))
    if given_arrays:  # checked whole before any range is touched; streamed batches are checked one by one
        check_calibration_arrays(arrays, specs)
    layers = hgq_layers(model)
    saved = [(v, v.numpy()) for layer in layers if layer.paq.minmax_record
             for v in (layer.paq._min, layer.paq._max)]
    try:
        if rst:
            for layer in layers:
                layer.reset_minmax()
        predictions = _record(model, layers, batches, total, specs, not given_arrays,
                              verbose if progress is None else progress, return_predictions)
        _check_ranges_are_numbers(layers)
        for layer in layers:
            _widen_and_clamp(layer, float(cover_factor))
    except BaseException:
        for v, value in saved:  # a failed or interrupted calibration keeps the previous ranges
            v.assign(value)
        raise
    bops = -1.0 if no_bops_computation else compute_bops(model, verbose=verbose)
    if not return_predictions:
        return bops
    if isinstance(predictions[0], list | tuple):
        preds: Any = [np.concatenate(parts) for parts in zip(*predictions, strict=True)]
    else:
        preds = np.concatenate(predictions)
    return bops, preds
