"""Read a QKeras model file without importing qkeras or tf_keras: its config JSON and its weights.

- QKeras 0.9 ``.h5`` (tf_keras HDF5): attribute ``model_config`` holds the config; group
  ``model_weights/<layer>`` lists its weights in attribute ``weight_names`` (``d1/kernel:0``).
- qkeras-v3 ``.keras`` (Keras 3 zip): ``config.json``, and ``model.weights.h5`` where the layers of
  a model are stored under ``layers/<snake_case(class)>[_n]/vars/<i>`` in the model's layer order,
  their variables numbered trainable first, then non-trainable (Keras 3 ``saving_lib``).

:class:`FileModel` and :class:`FileLayer` offer what the lifter reads from a live model
(``get_config``, ``get_layer``, a layer's weights by short name), so files and live models go
through the same handlers (``frontends/qkeras.py``).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from typing import Any

import numpy as np

from hgq_ir.ir.errors import ModelFileError, UnsupportedLayerError

QKERAS_CLASS_NAMES = frozenset((
    "QDense", "QConv1D", "QConv2D", "QActivation", "QBatchNormalization", "QDenseBatchnorm", "QConv2DBatchnorm",
    "QAveragePooling2D", "QGlobalAveragePooling2D", "QDepthwiseConv2D", "QDepthwiseConv2DBatchnorm",
    "QSeparableConv1D", "QSeparableConv2D", "QConv2DTranspose", "QSimpleRNN", "QLSTM", "QGRU", "QBidirectional",
    "QAdaptiveActivation", "QOctaveConv2D"))
MODEL_CLASSES = ("Functional", "Sequential", "Model")
# variable names of a layer's own variables, in Keras' order (trainable first), by class
_BN_VARS = ("gamma", "beta", "moving_mean", "moving_variance")


class FileLayer:
    """A layer read from a file: its class name, config and weights (float32, by short name).

    Config entries and weights are also attributes (``layer.kernel``, ``layer.use_bias``), which is
    how the plain-Keras handlers read a live layer.
    """

    def __init__(self, name: str, class_name: str, config: dict, arrays: dict[str, np.ndarray]) -> None:
        self.name, self.class_name, self.config, self.arrays = name, class_name, config, arrays

    def get_config(self) -> dict:
        """The layer's config, as saved."""
        return self.config

    def __getattr__(self, key: str) -> Any:
        d = self.__dict__
        if key in d.get("arrays", {}):
            return d["arrays"][key]
        if key in d.get("config", {}):
            return d["config"][key]
        raise AttributeError(key)


class FileModel:
    """A model read from a file: ``get_config()``, ``get_layer(name)``, ``layers``, ``name``."""

    def __init__(self, name: str, config: dict, layers: list[FileLayer]) -> None:
        self.name, self.config, self.layers = name, config, layers
        self._by_name = {layer.name: layer for layer in layers}
        first = config.get("layers", [{}])[0].get("config", {}) if config.get("layers") else {}
        self.input_shape = first.get("batch_input_shape") or first.get("batch_shape")

    def get_config(self) -> dict:
        """The model's config (``layers``, ``input_layers``, ``output_layers``)."""
        return self.config

    def get_layer(self, name: str) -> FileLayer:
        """The layer called ``name``."""
        return self._by_name[name]


def _layer_entries(model_config: dict) -> list[dict]:
    return list(model_config.get("config", {}).get("layers", []))


def names_qkeras(model_config: dict) -> bool:
    """True when a model config has a QKeras layer (by class name or module)."""
    for entry in _layer_entries(model_config):
        if entry.get("class_name") in QKERAS_CLASS_NAMES or str(entry.get("module", "")).startswith("qkeras"):
            return True
        if entry.get("class_name") in MODEL_CLASSES and names_qkeras(entry):
            return True
    return False


def read_config(path: str) -> dict | None:
    """The model config of a ``.h5``/``.keras`` file, or None when it cannot be read as one."""
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                return None
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def is_qkeras_file(path: Any) -> bool:
    """True for a ``.h5``/``.hdf5``/``.keras`` path whose readable config names QKeras layers."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    path = os.fspath(path)
    if not path.endswith((".h5", ".hdf5", ".keras")) or not os.path.isfile(path):
        return False
    config = read_config(path)
    return config is not None and names_qkeras(config)


def _missing(path: str, layer: str, what: str, e: Exception | None = None) -> ModelFileError:
    err = ModelFileError(f"model file {path!r}: layer {layer!r}: {what}{f' ({e})' if e else ''}; the file is "
                         "truncated or incomplete: save the model again")
    err.layer = layer
    return err


def _h5_layer_arrays(path: str, weights: Any, name: str) -> dict[str, np.ndarray]:
    """Weights of layer ``name`` of a tf_keras ``.h5`` (group ``model_weights``), by short name."""
    if name not in weights:
        raise _missing(path, name, "its weights are not in the file")
    group = weights[name]
    out = {}
    for wname in group.attrs.get("weight_names", []):
        wname = wname.decode() if isinstance(wname, bytes) else str(wname)
        try:
            out[wname.split("/")[-1].split(":")[0]] = np.asarray(group[wname], dtype=np.float32)
        except (KeyError, OSError) as e:
            raise _missing(path, name, f"weight {wname!r} cannot be read", e) from e
    return out


def _keras_layer_arrays(path: str, group: Any, entry: dict) -> dict[str, np.ndarray]:
    """Weights of one layer of a Keras 3 weights file: ``vars/<i>``, named by the layer's class."""
    cls, cfg = entry["class_name"], entry.get("config", {})
    names: list[str] = []
    if cls.endswith("Batchnorm") or "kernel_size" in cfg or "units" in cfg:
        names = ["kernel"] + (["bias"] if cfg.get("use_bias", True) else [])
    elif "BatchNormalization" in cls:
        skip = {"gamma"} if not cfg.get("scale", True) else set()
        skip |= {"beta"} if not cfg.get("center", True) else set()
        names = [n for n in _BN_VARS if n not in skip]
    out: dict[str, np.ndarray] = {}
    own = group.get("vars") if group is not None else None
    for i, n in enumerate(names):
        if own is None or str(i) not in own:
            raise _missing(path, cfg.get("name", cls), f"weight {n!r} (vars/{i}) is not in the file")
        out[n] = np.asarray(own[str(i)], dtype=np.float32)
    if cls.endswith("Batchnorm"):
        bn = group.get("batchnorm")
        bn_entry = {"class_name": "BatchNormalization", "config": {"name": cfg.get("name", cls),
                                                                   "scale": cfg.get("scale", True),
                                                                   "center": cfg.get("center", True)}}
        out.update(_keras_layer_arrays(path, bn, bn_entry))
    return out


def read_model_file(path: str) -> FileModel:
    """Read a QKeras ``.h5`` (QKeras 0.9) or ``.keras`` (qkeras-v3) model file into a :class:`FileModel`."""
    config = read_config(path)
    if config is None:
        raise ModelFileError(f"model file {path!r} holds no readable model config; save the model again")
    entries = _layer_entries(config)
    for entry in entries:
        if entry.get("class_name") in MODEL_CLASSES:
            raise UnsupportedLayerError(f"layer {entry.get('config', {}).get('name')!r}: a nested model in a QKeras "
                                        "file is not supported yet; convert the live model instead")
    layers = []
    if path.endswith(".keras"):
        import h5py
        from keras.src.utils.naming import to_snake_case

        with zipfile.ZipFile(path) as z, z.open("model.weights.h5") as fh, h5py.File(fh, "r") as f:
            stored = f.get("layers")
            used: dict[str, int] = {}
            for entry in entries:
                key = to_snake_case(entry["class_name"])
                used[key] = used.get(key, -1) + 1
                key = key if used[key] == 0 else f"{key}_{used[key]}"
                name = entry.get("config", {}).get("name") or entry.get("name")
                group = stored.get(key) if stored is not None else None
                layers.append(FileLayer(name, entry["class_name"], entry.get("config", {}),
                                        _keras_layer_arrays(path, group, entry)))
    else:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                weights = f["model_weights"] if "model_weights" in f else f
                for entry in entries:
                    name = entry.get("config", {}).get("name") or entry.get("name")
                    arrays = {} if entry["class_name"] == "InputLayer" else _h5_layer_arrays(path, weights, name)
                    layers.append(FileLayer(name, entry["class_name"], entry.get("config", {}), arrays))
        except OSError as e:
            raise ModelFileError(f"model file {path!r} cannot be read ({e}); it is truncated or corrupt: save the "
                                 "model again") from e
    name = config.get("config", {}).get("name") or re.sub(r"\W", "_", os.path.basename(path).rsplit(".", 1)[0])
    return FileModel(name, config.get("config", {}), layers)
