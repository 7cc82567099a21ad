"""hls4ml backend: convert a Keras proxy model with hls4ml 1.3 and run its C simulation.

The proxy carries every precision (its quantizers), so the model-wide default precision only
matters for values no quantizer covers. Tests pass a deliberately tiny ``fixed<1,0>`` so that
any precision the proxy fails to carry shows up as a mismatch at once.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
from typing import Any

import numpy as np

DEFAULT_PRECISION = "fixed<1,0>"


def hls_config(layer_config: dict[str, dict] | None = None, precision: str = DEFAULT_PRECISION,
               reuse_factor: int = 1) -> dict:
    """The ``hls_config`` dict: model-wide precision, reuse factor and Latency strategy, plus per-layer entries."""
    config: dict[str, Any] = {"Model": {"Precision": precision, "ReuseFactor": reuse_factor, "Strategy": "Latency"}}
    if layer_config:
        config["LayerName"] = layer_config
    return config


def proxy_to_hls4ml(proxy: Any, output_dir: str | os.PathLike, backend: str = "Vitis", io_type: str = "io_parallel",
                    precision: str = DEFAULT_PRECISION, layer_config: dict[str, dict] | None = None,
                    quiet: bool = True) -> Any:
    """An hls4ml ``ModelGraph`` of a proxy model (not compiled), under :func:`hls_config`.

    The test oracle's conversion: a tiny model-wide ``precision`` shows any value the proxy does
    not type. Heterogeneous formats need ``io_parallel``. The public ``hgq_ir.to_hls4ml`` (any
    model, with the derived configuration) is :func:`hgq_ir.backends.hls4ml_config.to_hls4ml`.
    """
    return convert_proxy(proxy, hls_config(layer_config, precision), output_dir, backend=backend, io_type=io_type,
                         quiet=quiet)


def convert_proxy(proxy: Any, config: dict[str, Any], output_dir: str | os.PathLike, backend: str = "Vitis",
                  io_type: str = "io_parallel", quiet: bool = True, **kwargs: Any) -> Any:
    """``hls4ml.converters.convert_from_keras_model`` of a proxy under ``config``, hls4ml's chatter silenced.

    ``kwargs`` go to hls4ml (``part``, ``clock_period``, ...); the da4ml attempt is skipped unless
    ``allow_da_fallback`` says otherwise.
    """
    import hls4ml

    # skip the da4ml attempt where hls4ml offers it
    if "allow_da_fallback" in inspect.signature(hls4ml.converters.convert_from_keras_model).parameters:
        kwargs.setdefault("allow_da_fallback", False)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        return hls4ml.converters.convert_from_keras_model(
            proxy, hls_config=config, output_dir=str(output_dir), backend=backend, io_type=io_type, **kwargs)


def compile_quietly(hls_model: Any, quiet: bool = True) -> None:
    """``hls_model.compile()`` (g++), hls4ml's chatter silenced."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        hls_model.compile()


def c_simulate(hls_model: Any, x: np.ndarray | list[np.ndarray],
               output_shapes: list[tuple[int, ...]]) -> np.ndarray | list[np.ndarray]:
    """C-simulation outputs (float64) of a compiled model, shaped like ``output_shapes`` (batch excluded)."""
    xs = x if isinstance(x, (list, tuple)) else [x]
    n = len(xs[0])
    # hls4ml's ctypes bridge picks the C type from the dtype: hand it contiguous float64
    xs = [np.ascontiguousarray(np.asarray(a, dtype=np.float64).reshape(n, -1)) for a in xs]
    raw = hls_model.predict(xs if len(xs) > 1 else xs[0])
    outs = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if len(outs) != len(output_shapes):
        raise AssertionError(f"hls4ml returned {len(outs)} outputs, expected {len(output_shapes)}")
    res = [np.asarray(o, dtype=np.float64).reshape(n, *s) for o, s in zip(outs, output_shapes, strict=True)]
    return res if len(res) > 1 else res[0]
