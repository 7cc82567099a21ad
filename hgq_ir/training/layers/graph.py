"""Where a layer sits in its Keras graph: single-use check, predecessors, and model traversal."""

from __future__ import annotations

import weakref
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


_NESTED_INPUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""``InputLayer`` of a nested model -> ``(nested model, input index)``; filled by :func:`link_nested_models`."""


def link_nested_models(model: keras.layers.Layer) -> None:
    """Remember, for every model nested in ``model``, which of its inputs is which.

    A nested model's layers see only its own ``InputLayer``; with this link :func:`predecessors`
    can continue to the outer layer that feeds the nested model (and so find its widths).
    """
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            for k, t in enumerate(getattr(layer, "inputs", None) or []):
                op = getattr(t, "_keras_history", (None,))[0]
                if op is not None:
                    _NESTED_INPUTS[op] = (layer, k)
            link_nested_models(layer)


def _resolve(op: Any, tensor: Any, depth: int = 0) -> Any:
    """The layer that really produces ``tensor`` (``op``'s output), looking through nested models.

    A nested model stands for the layer producing its output; a nested model's ``InputLayer``
    stands for the outer producer of the matching input (once linked by
    :func:`link_nested_models`). Anything else is returned as is.
    """
    if depth > 64:
        return op
    if isinstance(op, keras.Model) and getattr(op, "outputs", None):
        index = getattr(tensor, "_keras_history", (None, 0, 0))[2] if tensor is not None else 0
        inner = op.outputs[index if index < len(op.outputs) else 0]
        return _resolve(getattr(inner, "_keras_history", (None,))[0], inner, depth + 1)
    owner = _NESTED_INPUTS.get(op) if op is not None else None
    if owner is not None:
        model, k = owner
        if model._inbound_nodes:
            outer = list(model._inbound_nodes[-1].input_tensors)
            if k < len(outer):
                return _resolve(getattr(outer[k], "_keras_history", (None,))[0], outer[k], depth + 1)
    return op


def predecessors(layer: keras.layers.Layer) -> list[Any]:
    """Layers feeding ``layer`` (its last symbolic call), or ``[]`` when it was never wired.

    Nested models are looked through (see :func:`_resolve`): a layer after a nested model is fed
    by the nested model's last layer, and the first layer inside it by the outer producer.
    """
    if not layer._inbound_nodes:
        return []
    node = layer._inbound_nodes[-1]
    return [_resolve(op, t) for op, t in zip(inbound_layers(node), node.input_tensors, strict=True)]


def iter_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model`` in graph order, descending into nested models (models excluded).

    Also links the nested models' inputs to their outer producers (:func:`link_nested_models`).
    """
    link_nested_models(model)
    yield from _iter_layers(model)


def _iter_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            yield from _iter_layers(layer)
        else:
            yield layer
