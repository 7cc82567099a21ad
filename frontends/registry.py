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

from hgq_ir.ir.errors import ModelFileError, UnsupportedLayerError
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
    """A reader: ``accepts(obj)`` says whether it reads ``obj``; ``lift(obj)`` returns its Graph."""

    name: str
    description: str
    accepts: Callable[[Any], bool]
    lift: Callable[[Any], Graph]


# the readers are imported when used: this list (and MODEL_SUFFIXES) loads no Keras
def _lift_keras3(model: Any) -> Graph:
    from hgq_ir.frontends.hgq import hgq_lifter

    return hgq_lifter().lift(model)


def _lift_qkeras(model: Any) -> Graph:
    from hgq_ir.frontends.qkeras import QKerasLifter
    from hgq_ir.frontends.qkeras_quantizers import QKERAS09, QKERAS3

    return QKerasLifter(QKERAS09 if keras_family(model) == "tf_keras" else QKERAS3).lift(model)


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
             _is_qkeras, _lift_qkeras),
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
    lift: Callable[[str], Graph]


def _is_qkeras_file(path: str) -> bool:
    from hgq_ir.frontends.model_files import is_qkeras_file

    return is_qkeras_file(path)


def _lift_qkeras_file(path: str) -> Graph:
    from hgq_ir.frontends.model_files import read_model_file
    from hgq_ir.frontends.qkeras import QKerasLifter
    from hgq_ir.frontends.qkeras_quantizers import QKERAS09, QKERAS3

    return QKerasLifter(QKERAS3 if path.endswith(".keras") else QKERAS09).lift(read_model_file(path))


# tried before a file is loaded with Keras: QKeras files load without qkeras or tf_keras
FILE_FRONTENDS: list[FileFrontend] = [
    FileFrontend("qkeras_file", "QKeras 0.9 .h5 or qkeras-v3 .keras file: config JSON and weights read with h5py",
                 _is_qkeras_file, _lift_qkeras_file),
]


def is_model_path(obj: Any) -> bool:
    """True for a str or path-like naming a ``.keras``/``.h5`` file."""
    return isinstance(obj, (str, os.PathLike))


def lift_model(model: Any, load: Callable[[str], Any]) -> Graph:
    """The IR of ``model`` (a live model or a file path) before any pass; ``load`` reads a path.

    Raises :class:`ModelFileError` for a path that is not a model file and
    :class:`UnsupportedLayerError` for an object no frontend accepts.
    """
    if is_model_path(model):
        path = os.fspath(model)
        if not path.endswith(MODEL_SUFFIXES):
            raise ModelFileError(f"{path!r} is not a model file; hgq-ir reads {', '.join(MODEL_SUFFIXES)} files")
        for reader in FILE_FRONTENDS:
            if reader.accepts(path):
                return reader.lift(path)
        model = load(path)
    for frontend in FRONTENDS:
        if frontend.accepts(model):
            return frontend.lift(model)
    raise UnsupportedLayerError(
        f"cannot convert a {type(model).__module__}.{type(model).__qualname__}: hgq-ir reads Keras 3 and tf_keras "
        f"Functional or Sequential models, or {'/'.join(MODEL_SUFFIXES)} files "
        f"(frontends: {', '.join(f.name for f in FRONTENDS)})")
