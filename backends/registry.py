"""The one list of conversion targets: name, legalization passes, emitter, file writer.

``hgq_ir.convert(model, to=NAME)``, ``hgq-ir convert --to NAME`` and ``hgq-ir inspect --target
NAME`` read :data:`TARGETS`; a new target is one module with an emitter plus one entry here.
Emitters are imported when a target is used, so listing the targets loads no Keras.

A target's legalization passes run after the core pipeline and rewrite the graph until the
target's executor computes exactly what the interpreter computes on the legalized graph (or
refuse with a typed error); the core pipeline alone gives the model's own meaning.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hgq_ir.passes.base import Pass

from hgq_ir.atomic import write_atomically
from hgq_ir.ir.errors import ConfigError
from hgq_ir.ir.graph import Graph


@dataclass(frozen=True)
class Target:
    """A conversion target.

    ``emitter`` and ``writer`` are ``"module:function"`` references, imported on first use:
    ``emit(graph, name) -> artefact`` turns a legalized graph into the target's artefact and
    ``write(artefact, path)`` saves it (atomically: :func:`hgq_ir.atomic.write_atomically`).
    ``emitters_of`` names the module whose ``EMITTERS`` / ``REFUSED`` tables say, per op kind,
    how the target emits it or why it refuses it (a test checks every op kind has one).
    """

    name: str
    description: str
    legalization: Callable[[], list[Pass]]
    emitter: str
    writer: str
    suffix: str
    emitters_of: str | None = None

    def emit(self, graph: Graph, name: str | None = None) -> Any:
        """The target's artefact for ``graph`` (already legalized for this target)."""
        return _resolve(self.emitter)(graph, name)

    def check_path(self, path: str | Path) -> Path:
        """``path`` as a Path, after checking its suffix and that its folder exists (ConfigError)."""
        path = Path(path)
        if path.suffix != self.suffix:
            raise ConfigError(f"target {self.name!r} writes {self.suffix} files; got {str(path)!r}")
        if not path.parent.is_dir():
            raise ConfigError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
        return path

    def write(self, artefact: Any, path: str | Path) -> Path:
        """Write ``artefact`` to ``path`` atomically; the path must end with :attr:`suffix`."""
        path = self.check_path(path)
        writer = _resolve(self.writer)
        return write_atomically(path, lambda tmp: writer(artefact, tmp))


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _no_passes() -> list[Pass]:
    return []


def _passes_of(ref: str) -> Callable[[], list[Pass]]:
    """A legalization list imported on first use from ``"module:function"``."""

    def passes() -> list[Pass]:
        return _resolve(ref)()

    passes.__name__ = ref.partition(":")[2]
    return passes


_proxy_legalization = _passes_of("hgq_ir.backends.hls4ml_legalize:proxy_legalization")


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("ir", "the IR after the passes (a Graph; written as text)", _no_passes,
           "hgq_ir.backends.ir_text:emit_graph", "hgq_ir.backends.ir_text:write_text", ".txt"),
    Target("proxy", "Keras proxy model for hls4ml 1.3 (bit-exact firmware)", _proxy_legalization,
           "hgq_ir.backends.keras_proxy:to_keras_proxy", "hgq_ir.backends.keras_proxy:save_proxy", ".keras",
           emitters_of="hgq_ir.backends.keras_proxy"),
    Target("onnx", "plain ONNX that onnxruntime runs bit-exactly (float64; the fast emulator)",
           _passes_of("hgq_ir.backends.onnx_emulator:onnx_legalization"),
           "hgq_ir.backends.onnx_emulator:to_onnx", "hgq_ir.backends.onnx_builder:save_model", ".onnx",
           emitters_of="hgq_ir.backends.onnx_emulator"),
    Target("qonnx", "ONNX with QONNX Quant nodes (qonnx.custom_op.general), for FINN, hls4ml and ONNX tools",
           _passes_of("hgq_ir.backends.qonnx_export:qonnx_legalization"),
           "hgq_ir.backends.qonnx_export:to_qonnx", "hgq_ir.backends.onnx_builder:save_model", ".onnx",
           emitters_of="hgq_ir.backends.qonnx_export"),
    Target("hls4ml", "hls4ml 1.3 hls_config dict for the proxy (per-layer precisions, reuse, strategy)",
           _proxy_legalization,
           "hgq_ir.backends.hls4ml_config:hls_config_of", "hgq_ir.backends.hls4ml_config:write_config", ".json"),
)}


def get_target(name: str) -> Target:
    """The target called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None
