"""The one list of frontends: which reader lifts what it is given.

:func:`lift_model` picks the first frontend in :data:`FRONTENDS` that accepts the object: a path
(``.keras``, ``.h5``) is loaded first and the loaded model dispatched again; a live Keras 3 model
goes to the HGQ reader (HGQ and plain Keras layers); a live tf_keras (Keras 2) model to the plain
Keras reader. The QKeras readers register here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hgq_ir.ir.errors import ConfigError, ModelFileError, UnsupportedLayerError
from hgq_ir.ir.graph import Graph

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def keras_family(obj: Any) -> str | None:
    """``"keras3"`` for a Keras 3 model, ``"tf_keras"`` for a tf_keras (Keras 2) model, else None."""
    roots = {c.__module__.split(".")[0] for c in type(obj).__mro__}
    if not hasattr(obj, "get_config") or not hasattr(obj, "layers"):
        return None
    if "tf_keras" in roots:
        return "tf_keras"
    if "keras" in roots:
        return "keras3"
    return None


@dataclass(frozen=True)
class Frontend:
    """A reader: ``accepts(obj)`` says whether it reads ``obj``; ``lift(obj)`` returns its Graph.

    ``calibrates``: ``lift(obj, calibration=X)`` takes calibration data (QKeras: formats of float
    values read by quantized layers); the other readers refuse calibration data.
    """

    name: str
    description: str
    accepts: Callable[[Any], bool]
    lift: Callable[..., Graph]
    calibrates: bool = False


# the readers are imported when used: this list (and MODEL_SUFFIXES) loads no Keras
def _lift_keras3(model: Any) -> Graph:
    from hgq_ir.frontends.hgq import hgq_lifter

    return hgq_lifter().lift(model)


def _lift_qkeras(model: Any, calibration: Any = None) -> Graph:
    from hgq_ir.frontends.qkeras import QKerasLifter
    from hgq_ir.frontends.qkeras_quantizers import QKERAS09, QKERAS3

    return QKerasLifter(QKERAS09 if keras_family(model) == "tf_keras" else QKERAS3).lift(model,
                                                                                          calibration=calibration)


def _is_qkeras(model: Any) -> bool:
    if keras_family(model) is None:
        return False
    from hgq_ir.frontends.qkeras import contains_qkeras

    return contains_qkeras(model)


def _lift_tf_keras(model: Any) -> Graph:
    from hgq_ir.frontends.keras import KerasLifter

    return KerasLifter().lift(model)


FRONTENDS: list[Frontend] = [
    Frontend("qkeras", "live QKeras 0.9 (tf_keras) or qkeras-v3 (Keras 3) model: QKeras and plain Keras layers",
             _is_qkeras, _lift_qkeras, calibrates=True),
    Frontend("hgq", "live Keras 3 model: hgq_ir's HGQ layers and plain Keras layers",
             lambda m: keras_family(m) == "keras3", _lift_keras3),
    Frontend("tf_keras", "live tf_keras (Keras 2) model: plain Keras layers",
             lambda m: keras_family(m) == "tf_keras", _lift_tf_keras),
]


@dataclass(frozen=True)
class FileFrontend:
    """A reader of model files that needs no framework to load them: ``accepts(path)``, ``lift(path)``."""

    name: str
    description: str
    accepts: Callable[[str], bool]
    lift: Callable[..., Graph]
    calibrates: bool = False


def _is_qkeras_file(path: str) -> bool:
    from hgq_ir.frontends.model_files import is_qkeras_file

    return is_qkeras_file(path)


def _lift_qkeras_file(path: str, calibration: Any = None) -> Graph:
    from hgq_ir.frontends.model_files import read_model_file
    from hgq_ir.frontends.qkeras import QKerasLifter
    from hgq_ir.frontends.qkeras_quantizers import QKERAS09, QKERAS3

    return QKerasLifter(QKERAS3 if path.endswith(".keras") else QKERAS09).lift(read_model_file(path),
                                                                                calibration=calibration)


# tried before a file is loaded with Keras: QKeras files load without qkeras or tf_keras
FILE_FRONTENDS: list[FileFrontend] = [
    FileFrontend("qkeras_file", "QKeras 0.9 .h5 or qkeras-v3 .keras file: config JSON and weights read with h5py",
                 _is_qkeras_file, _lift_qkeras_file, calibrates=True),
]


def is_model_path(obj: Any) -> bool:
    """True for a str or path-like naming a ``.keras``/``.h5`` file."""
    return isinstance(obj, (str, os.PathLike))


def _lift_with(reader: Frontend | FileFrontend, obj: Any, calibration: Any) -> Graph:
    """``reader.lift(obj)``, passing ``calibration`` to a reader that takes it and refusing it otherwise."""
    if calibration is None:
        return reader.lift(obj)
    if not reader.calibrates:
        raise ConfigError(
            f"calibration data is for QKeras models (it gives a format to float values a quantized layer reads), "
            f"but this model is read by the {reader.name!r} frontend, whose formats come from the model itself: "
            "for an HGQ model run hgq_ir.trace_minmax(model, X) before converting, and drop calibration=/--calib")
    return reader.lift(obj, calibration=calibration)


def lift_model(model: Any, load: Callable[[str], Any], calibration: Any = None) -> Graph:
    """The IR of ``model`` (a live model or a file path) before any pass; ``load`` reads a path.

    ``calibration`` (an array, or one per model input) goes to a frontend that takes it (QKeras);
    any other frontend refuses it with :class:`ConfigError`. Raises :class:`ModelFileError` for a
    path that is not a model file and :class:`UnsupportedLayerError` for an object no frontend accepts.
    """
    if is_model_path(model):
        path = os.fspath(model)
        if not path.endswith(MODEL_SUFFIXES):
            raise ModelFileError(f"{path!r} is not a model file; hgq-ir reads {', '.join(MODEL_SUFFIXES)} files")
        for reader in FILE_FRONTENDS:
            if reader.accepts(path):
                return _lift_with(reader, path, calibration)
        model = load(path)
    for frontend in FRONTENDS:
        if frontend.accepts(model):
            return _lift_with(frontend, model, calibration)
    raise UnsupportedLayerError(
        f"cannot convert a {type(model).__module__}.{type(model).__qualname__}: hgq-ir reads Keras 3 and tf_keras "
        f"Functional or Sequential models, or {'/'.join(MODEL_SUFFIXES)} files "
        f"(frontends: {', '.join(f.name for f in FRONTENDS)})")
