"""Where a layer sits in its Keras graph: single-use check, predecessors, and model traversal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras

from hgq_ir.ir.errors import LayerReuseError


def inbound_layers(node: Any) -> list[Any]:
    """The operations producing the inputs of a Keras ``Node`` (``None`` for graph inputs)."""
    return [getattr(t, "_keras_history", (None,))[0] for t in node.input_tensors]


def check_single_use(layer: keras.layers.Layer) -> None:
    """Raise :class:`LayerReuseError` when ``layer`` was called on inputs from different layers.

    A ``Sequential`` model that rebuilds itself calls each layer again on the same producers, so
    only calls with a *different* set of producing layers count as reuse.
    """
    sources = {tuple(id(op) for op in inbound_layers(n)) for n in layer._inbound_nodes}
    if len(sources) > 1:
        raise LayerReuseError(
            f"layer '{layer.name}' is called {len(sources)} times on different inputs; HGQ layers must be "
            "used once each (their bitwidths and recorded ranges belong to one tensor). "
            "Create one layer per call."
        )


def predecessors(layer: keras.layers.Layer) -> list[Any]:
    """Layers feeding ``layer`` (its last symbolic call), or ``[]`` when it was never wired."""
    if not layer._inbound_nodes:
        return []
    return inbound_layers(layer._inbound_nodes[-1])


def iter_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model`` in graph order, descending into nested models (models excluded)."""
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer
