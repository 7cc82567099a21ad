"""Read the layer graph of a Keras model from ``get_config()``: Keras 3 and tf_keras (Keras 2).

Only the topology comes from the config (which layer feeds which); weights come from the live
layer objects. Both config dialects are handled, so a Keras 3 model, a QKeras (tf_keras) model
and a model loaded from a file go through the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hgq_ir.ir.errors import GraphError, ModelFileError

TensorRef = tuple[str, int, int]  # (layer name, node index, tensor index)


@dataclass(frozen=True)
class LayerCall:
    """One call of a layer in the model's graph: which tensors it reads."""

    layer_name: str
    class_name: str
    node_index: int
    inputs: tuple[TensorRef, ...]
    config: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ModelTopology:
    """Calls in execution order, plus the model's input and output tensors."""

    calls: tuple[LayerCall, ...]
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef, ...]
    sequential: bool


def _refs(obj: Any) -> Iterator[TensorRef]:
    """Tensor references inside a Keras 3 ``inbound_nodes`` entry, in argument order."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            name, node, tensor = obj["config"]["keras_history"]
            yield (str(name), int(node), int(tensor))
            return
        for v in obj.values():
            yield from _refs(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _refs(v)


def _keras2_refs(node: Any) -> Iterator[TensorRef]:
    """Tensor references of a tf_keras node: ``[[name, node, tensor, kwargs], ...]``."""
    if isinstance(node, dict):  # tf_keras >= 2.13 may also use the dict form
        yield from _refs(node)
        return
    for entry in node:
        if isinstance(entry, (list, tuple)) and len(entry) >= 3 and isinstance(entry[0], str):
            yield (entry[0], int(entry[1]), int(entry[2]))
        else:
            yield from _keras2_refs(entry)


def _ref_list(spec: Any) -> tuple[TensorRef, ...]:
    if not spec:
        return ()
    if isinstance(spec[0], str):  # a single [name, node, tensor]
        spec = [spec]
    return tuple((str(s[0]), int(s[1]), int(s[2])) for s in spec)


def read_topology(model: Any) -> ModelTopology:
    """Topology of a Functional or Sequential model (Keras 3 or tf_keras) from its config."""
    try:
        config = model.get_config()
    except Exception as e:  # a subclassed model without get_config
        raise ModelFileError(f"model {getattr(model, 'name', model)!r} has no usable get_config(); "
                             f"build it as a Functional or Sequential model ({e})") from e
    layers = config.get("layers")
    if layers is None:
        raise ModelFileError(f"model {getattr(model, 'name', '?')!r}: config has no 'layers'; only "
                             "Functional and Sequential models can be converted")
    _check_unique_names(layers, getattr(model, "name", "?"))
    if "input_layers" not in config:  # Sequential: a chain
        calls, prev = [], None
        for entry in layers:
            name = _layer_name(entry)
            calls.append(LayerCall(name, entry["class_name"], 0, () if prev is None else ((prev, 0, 0),),
                                   entry.get("config", {})))
            prev = name
        if calls and calls[0].class_name != "InputLayer":
            shape = getattr(model, "input_shape", None)
            calls.insert(0, LayerCall("__input__", "InputLayer", 0, (), {"batch_shape": shape}))
            first = calls[1]
            calls[1] = LayerCall(first.layer_name, first.class_name, 0, (("__input__", 0, 0),), first.config)
        return ModelTopology(tuple(calls), ((calls[0].layer_name, 0, 0),), ((prev, 0, 0),), True)
    calls = []
    for entry in layers:
        name = _layer_name(entry)
        nodes = entry.get("inbound_nodes") or []
        if not nodes:
            calls.append(LayerCall(name, entry["class_name"], 0, (), entry.get("config", {})))
        for idx, node in enumerate(nodes):
            refs = tuple(_refs(node)) if isinstance(node, dict) else tuple(_keras2_refs(node))
            calls.append(LayerCall(name, entry["class_name"], idx, refs, entry.get("config", {})))
    outputs = tuple(_output_ref(ref, calls) for ref in _ref_list(config["output_layers"]))
    return ModelTopology(tuple(_execution_order(calls)), _ref_list(config["input_layers"]), outputs, False)


def _output_ref(ref: TensorRef, calls: list[LayerCall]) -> TensorRef:
    """``ref`` as a reference to one of ``calls``.

    Keras 3 numbers a nested Functional model's calls from 1 in ``output_layers`` (its node 0 is
    the model's own construction) but from 0 in other layers' inbound nodes, which is how the
    calls are listed; such an output reference is shifted back by one.
    """
    name, node, tensor = ref
    made = {c.node_index for c in calls if c.layer_name == name}
    if node not in made and node - 1 in made \
            and next(c.class_name for c in calls if c.layer_name == name) in ("Functional", "Model"):
        return (name, node - 1, tensor)
    return ref


def _layer_name(entry: Any) -> str:
    """The name of a layer entry of a model config (Keras 3: top level; tf_keras: in ``config``)."""
    name = entry.get("name") or entry.get("config", {}).get("name")
    if not name:
        raise ModelFileError(f"a {entry.get('class_name', '?')} layer of the model config has no name; the config "
                             "is corrupt: save the model again")
    return str(name)


def _check_unique_names(layers: list[dict], model_name: str) -> None:
    """Refuse a config in which two layers share a name: layers are found, and wired, by name."""
    seen: dict[str, str] = {}
    for entry in layers:
        name, cls = _layer_name(entry), entry.get("class_name", "?")
        if name in seen:
            raise GraphError(f"model {model_name!r} has two layers named {name!r} ({seen[name]} and {cls}); layer "
                             "names must be unique (hgq-ir wires layers by name): give each layer its own name= and "
                             "save the model again")
        seen[name] = cls


def _execution_order(calls: list[LayerCall]) -> list[LayerCall]:
    """Calls sorted so that every call comes after the calls producing its inputs."""
    done: set[tuple[str, int]] = set()
    pending, out = list(calls), []
    while pending:
        progressed = False
        for c in list(pending):
            if all((r[0], r[1]) in done for r in c.inputs):
                out.append(c)
                done.add((c.layer_name, c.node_index))
                pending.remove(c)
                progressed = True
        if not progressed:
            missing = {r for c in pending for r in c.inputs if (r[0], r[1]) not in done}
            raise ModelFileError(f"model config references tensors nobody produces: {sorted(missing)} "
                                 f"(layers {[c.layer_name for c in pending]}); the file may be truncated")
    return out
