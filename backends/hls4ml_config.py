"""The ``hls4ml`` target: the ``hls_config`` dict of a model's proxy, and ``to_hls4ml``.

``convert(model, to="hls4ml")`` returns the dict :func:`hls_config_of` builds: the shape of
``hls4ml.utils.config_from_keras_model(proxy, granularity='name')`` (``Model`` plus one
``LayerName`` entry per proxy layer, named exactly as the proxy names them), with the precisions
hls4ml 1.3 derives from the proxy's quantizers (``hgq_ir.backends.hls4ml_precision``),
``ReuseFactor`` 1, the ``Latency`` strategy and each convolution's ``ParallelizationFactor``.

:func:`hls4ml_model_of` builds the proxy and that configuration from the same legalized graph
and hands both to hls4ml (``hgq_ir.to_hls4ml`` converts a model, then calls it).
``io_type='io_stream'`` is refused before hls4ml runs where hls4ml 1.3 cannot stream the model
(:func:`stream_refusals`).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from hgq_ir.backends.hls4ml_precision import Requests, chain_precision, node_precision
from hgq_ir.backends.keras_proxy import layer_names

from hgq_ir.ir.errors import ConfigError
from hgq_ir.ir.graph import Graph, Node

#: hls4ml's own default for values no layer entry types (every layer here has an entry)
DEFAULT_PRECISION = "fixed<16,6>"
IO_TYPES = ("io_parallel", "io_stream")


def _layer_entry(node: Node, precision: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Trace": False, "Precision": precision}
    if node.op.has_kernel:
        entry["ReuseFactor"] = 1
        if getattr(node.op, "window", None) is not None:
            entry["ParallelizationFactor"] = int(node.meta.get("parallel_factor", 1))
    return entry


def hls_config_of(graph: Graph, name: str | None = None) -> dict[str, Any]:
    """The ``hls_config`` dict of the proxy of ``graph`` (already legalized for the proxy).

    >>> cfg = hgq_ir.convert(model, to="hls4ml")          # doctest: +SKIP
    >>> cfg["LayerName"]["d1_op"]["Precision"]["result"]  # doctest: +SKIP
    'fixed<10,5>'
    """
    del name  # the registry's emitter signature; a config has no name
    req = Requests()
    all_names = layer_names(graph)
    layers: dict[str, Any] = {}
    for node in graph.nodes:
        names = all_names[node.name]
        for j, lname in enumerate(names[:-1], start=1):
            layers[lname] = {"Trace": False, "Precision": chain_precision(node, j, req)}
        layers[names[-1]] = _layer_entry(node, node_precision(node, req))
    return {
        "Model": {"Precision": {"default": DEFAULT_PRECISION}, "ReuseFactor": 1, "Strategy": "Latency",
                  "BramFactor": 1_000_000_000, "TraceOutput": False},
        "LayerName": layers,
    }


def write_config(cfg: dict[str, Any], path: str | os.PathLike) -> None:
    """Write an ``hls_config`` dict as JSON (the registry's writer renames it into place)."""
    Path(path).write_text(json.dumps(cfg, indent=2) + "\n")


def _padding(n: int, k: int, s: int) -> int:
    out = -(-n // s)
    return max((out - 1) * s + k - n, 0)


def stream_refusals(graph: Graph) -> list[str]:
    """Why hls4ml 1.3 cannot stream this proxy (``io_stream``), one ``layer (reason)`` per layer; empty if it can.

    Measured with hls4ml 1.3.0 (``tests/backends/test_hls4ml_target.py`` pins the refusals):

    - a heterogeneous quantizer: hls4ml implements per-element quantizers for ``io_parallel`` only
      (``NotImplementedError`` while converting);
    - a homogeneous quantizer whose input also feeds another layer (or a model input read by two
      quantizers): hls4ml cannot fold it into the layer before it, and an unfolded quantizer is
      ``io_parallel`` only (the same ``NotImplementedError``);
    - a pooling layer whose windows reach past the input (``'same'`` padding that really pads):
      hls4ml's streaming pooling does not pad; the C simulation aborts the process on an assertion.

    Streamed exactly: homogeneous quantizers, 'same' convolutions, 'same' pooling that does not pad.
    """
    names = layer_names(graph)
    bad = []
    for node in graph.nodes:
        label = f"{names[node.name][-1]!r} (from {node.origin or node.name!r})"
        q = node.op.quantizer_format
        if q is not None:
            if not q.is_homogeneous:
                bad.append(f"{label}: heterogeneous quantizer")
            elif len(node.inputs[0].users) > 1 or node.inputs[0].producer is None:
                bad.append(f"{label}: quantizer whose input feeds other layers too (hls4ml cannot fuse it)")
            continue
        window = getattr(node.op, "window", None)
        if window is not None and not node.op.has_kernel and node.op.padding == "same":
            spatial = node.inputs[0].shape[:-1]
            if any(_padding(n, k, s) for n, k, s in zip(spatial, window, node.op.strides, strict=True)):
                bad.append(f"{label}: pooling with padded windows (use padding='valid' or sizes that divide)")
    return bad


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s entries put in, nested dicts merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def check_io_type(io_type: str) -> None:
    """Refuse an ``io_type`` hls4ml does not have, with :class:`ConfigError`."""
    if io_type not in IO_TYPES:
        raise ConfigError(f"io_type must be one of {', '.join(IO_TYPES)}; got {io_type!r}")


def hls4ml_model_of(graph: Graph, output_dir: str | os.PathLike, backend: str = "Vitis",
                    io_type: str = "io_parallel", hls_config: dict[str, Any] | None = None, quiet: bool = True,
                    proxy: Any = None, **kwargs: Any) -> Any:
    """hls4ml's ``ModelGraph`` (not compiled) of ``graph`` (legalized for the proxy), under :func:`hls_config_of`.

    ``hls_config`` entries override the derived ones, nested dicts key by key; ``kwargs`` go to
    ``hls4ml.converters.convert_from_keras_model``. ``io_type='io_stream'`` raises
    :class:`ConfigError` naming every layer hls4ml cannot stream (:func:`stream_refusals`).
    ``proxy``: the proxy already emitted from ``graph``, if the caller has it. The public entry
    point is ``hgq_ir.to_hls4ml(model, ...)``.
    """
    from hgq_ir.backends.hls4ml import convert_proxy
    from hgq_ir.backends.registry import get_target

    check_io_type(io_type)
    if io_type == "io_stream":
        refused = stream_refusals(graph)
        if refused:
            raise ConfigError("hls4ml 1.3 cannot stream these layers (io_type='io_stream'): " + "; ".join(refused)
                              + ". Use io_type='io_parallel', or make the quantizers homogeneous "
                              "(skip_dims='all') and the pooling unpadded")
    config = hls_config_of(graph)
    if proxy is None:
        proxy = get_target("proxy").emit(graph, f"{graph.name}_proxy")
    if hls_config:
        config = _merge(config, hls_config)
    with warnings.catch_warnings():
        # the proxy's quantizers carry the same ParallelizationFactor: the configuration wins, as it should
        warnings.filterwarnings("ignore", message="Config key parallelization_factor is defined")
        return convert_proxy(proxy, config, output_dir, backend=backend, io_type=io_type, quiet=quiet, **kwargs)
