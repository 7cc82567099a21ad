"""The public conversion API: lift -> core passes -> the target's legalization -> emit.

>>> proxy = hgq_ir.to_proxy_model(model)                       # doctest: +SKIP
>>> graph = hgq_ir.convert(model, to="ir")                      # the model's own meaning
>>> legal = hgq_ir.convert(model, to="ir", target="proxy")      # what proxy and firmware compute
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hgq_ir.backends.registry import TARGETS, get_target
from hgq_ir.frontends.registry import MODEL_SUFFIXES, lift_model
from hgq_ir.ir.errors import ConfigError, ModelFileError
from hgq_ir.ir.graph import Graph
from hgq_ir.passes.base import Pass
from hgq_ir.passes.manager import PassManager, PipelineResult, core_pipeline

__all__ = ["TARGETS", "check_model_file", "convert", "lift", "load_model", "pipeline", "run_passes", "to_hls4ml",
           "to_proxy_model"]


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_model_file(path: str | os.PathLike) -> None:
    """Refuse, without importing Keras, a model path that cannot be a readable model file.

    Checks that ``path`` exists, is a file, is not empty, ends with ``.keras``/``.h5``/``.hdf5``,
    and starts like one: a ``.keras`` file must open as a zip archive (a truncated one does not,
    its directory sits at the end), an ``.h5`` file must carry the HDF5 signature. Raises
    :class:`ModelFileError` naming the file and what to do. Reads at most the archive's directory.
    """
    import zipfile

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path!r} does not exist")
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a folder, not a model file; hgq-ir reads {', '.join(MODEL_SUFFIXES)} "
                             "files (load a SavedModel folder in Keras and save it as .keras)")
    if not path.endswith(MODEL_SUFFIXES):
        raise ModelFileError(f"{path!r} is not a model file; hgq-ir reads {', '.join(MODEL_SUFFIXES)} files")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
            if path.endswith(".keras") and size > 0:
                with zipfile.ZipFile(fh):
                    pass
    except zipfile.BadZipFile as e:
        raise ModelFileError(f"model file {path!r} is not a readable .keras archive ({e}): it is truncated or "
                             "corrupt; save the model again") from e
    except OSError as e:
        raise ModelFileError(f"cannot read model file {path!r} ({e.strerror or e})") from e
    if size == 0:
        raise ModelFileError(f"model file {path!r} is empty (0 bytes): it is truncated; save the model again")
    if not path.endswith(".keras") and not _has_hdf5_signature(path, head):
        raise ModelFileError(f"cannot read model file {path!r}: it has no HDF5 signature, so it is truncated, "
                             "corrupt or not a Keras .h5 model; save the model again")


def _has_hdf5_signature(path: str, head: bytes) -> bool:
    """True when the HDF5 signature sits at offset 0 or after a user block (512, 1024, 2048... bytes)."""
    if head == _HDF5_SIGNATURE:
        return True
    with open(path, "rb") as fh:
        offset = 512
        while True:
            fh.seek(offset)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return False
            if chunk == _HDF5_SIGNATURE:
                return True
            offset *= 2


def load_model(path: str | os.PathLike) -> Any:
    """Load a ``.keras``/``.h5`` model with hgq_ir's layers registered; typed error if unreadable.

    :func:`check_model_file` runs first, before Keras is imported: a missing, empty, truncated or
    non-model file fails fast with :class:`ModelFileError`.
    """
    path = os.fspath(path)
    check_model_file(path)
    import keras

    import hgq_ir.backends.proxy_layers  # noqa: F401  (registers the proxy layers)
    import hgq_ir.training.layers  # noqa: F401  (registers the HGQ layers)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:
        if path.endswith(".keras"):
            _check_keras_archive(path)  # says "truncated or corrupt" where that is why
        raise ModelFileError(f"cannot read model file {path!r} ({type(e).__name__}: {_first_line(e)}); it may be "
                             "truncated or not a Keras model") from e


def _first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (Keras's run over many lines)."""
    return next((line.strip() for line in str(e).splitlines() if line.strip()), "")


def _check_keras_archive(path: str) -> None:
    """A ``.keras`` file is a zip archive: refuse a truncated or corrupt one with a plain message.

    Called only once Keras has failed to load the file (Keras reports such a file as "File not found").
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFileError(f"model file {path!r} is not a readable .keras archive ({e}): it is truncated or "
                             "corrupt; save the model again") from e
    if bad is not None:
        raise ModelFileError(f"model file {path!r} is corrupt (member {bad!r} fails its checksum); save the "
                             "model again")


def lift(model: Any, calibration: Any = None) -> Graph:
    """The IR of a model before any pass, read by the frontend that accepts it.

    ``model`` may be a live Keras 3 model (HGQ and plain Keras layers), a live tf_keras model, or
    a path to a ``.keras``/``.h5`` file (see ``hgq_ir.frontends.registry``). The model is only read.

    ``calibration`` (QKeras models only; an array of shape ``(N, *input_shape)``, or a list with one
    per model input): a QDense/QConv reading float values (an input with no QActivation) gets
    them quantized to the smallest homogeneous format holding every calibration value exactly
    (RND, SAT: values beyond it saturate, values off its grid round); calibration values off a
    dyadic grid of <= 24 fractional bits are refused (``frontends/qkeras_calibration.py``).
    Other models refuse calibration data with :class:`ConfigError` (HGQ: run ``trace_minmax``).
    """
    return lift_model(model, load=load_model, calibration=calibration)


def pipeline(target: str | None = None, aggressive: bool = True, unary_lut_max_table_size: int = 1024) -> list[Pass]:
    """The core pipeline, followed by ``target``'s legalization passes when a target is named."""
    passes = core_pipeline(aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size)
    if target is not None:
        passes += get_target(target).legalization()
    return passes


def run_passes(graph: Graph, passes: Sequence[Pass] | None = None, dump: Sequence[str] | str | None = None,
               diff: bool = False, aggressive: bool = True, unary_lut_max_table_size: int = 1024,
               target: str | None = None) -> PipelineResult:
    """Run ``passes`` (default: :func:`pipeline` for ``target``) over ``graph`` in place."""
    if passes is None:
        passes = pipeline(target, aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size)
    return PassManager(passes).run(graph, dump=dump, diff=diff)


def convert(model: Any, to: str = "proxy", aggressive: bool = True, unary_lut_max_table_size: int = 1024,
            dump: Sequence[str] | str | None = None, target: str | None = None, calibration: Any = None,
            path: str | os.PathLike | None = None) -> Any:
    """Convert ``model`` to target ``to``, a name in ``hgq_ir.convert.TARGETS``.

    Targets: ``"ir"`` (a Graph), ``"proxy"`` (a Keras model for hls4ml), ``"onnx"`` (plain ONNX
    that onnxruntime runs bit-exactly: the emulator), ``"qonnx"`` (ONNX with QONNX Quant nodes),
    ``"hls4ml"`` (the ``hls_config`` dict matching the proxy). ``path`` also writes the artefact
    there, atomically (the suffix must be the target's: ``.txt``, ``.keras``, ``.onnx``, ``.json``).

    ``to="ir"`` returns the Graph after the core pipeline: the model's own meaning, what
    ``interpret`` computes. ``to="ir", target="proxy"`` also runs the proxy target's
    legalization: the graph whose interpretation the proxy and hls4ml's firmware compute bit for
    bit. Any other ``to`` legalizes for itself and returns its artefact (the proxy: a Keras model).

    ``aggressive=True`` (upstream HGQ's default) wraps on overflow everywhere; ``False`` saturates
    where overflow is possible. ``unary_lut_max_table_size`` (default 1024; upstream HGQ's default
    is -1, off) turns activations with at most that many representable inputs into exact lookup
    tables, so that tanh/sigmoid proxies are bit-exact by default. ``dump`` prints the IR after
    the named pass runs (``"infer_formats#2"`` for a pass that runs twice) or ``"all"``.
    ``calibration``: data giving formats to the float values a QKeras model's quantized layers
    read (see :func:`lift`).
    """
    out = get_target(to)
    if path is not None:
        out.check_path(path)
    if target is not None:
        get_target(target)
        if to != "ir" and target != to:
            raise ConfigError(f"target={target!r} only applies to to='ir' (the legalized IR); to={to!r} "
                              f"legalizes for {to!r} itself")
    legalize_for = target if to == "ir" else to
    with paused_gc():
        graph = lift(model, calibration=calibration)
        result = run_passes(graph, aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size,
                            dump=dump, target=None if legalize_for == "ir" else legalize_for)
        if dump:
            for r in result.records:
                if r.ir_after is not None:
                    print(f"# IR after {r.name}\n{r.ir_after}\n")
        artefact = out.emit(result.graph, f"{result.graph.name}_{to}")
    if path is not None:
        out.write(artefact, path)
    return artefact


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a conversion.

    A conversion allocates many small objects (IR nodes, Keras layers) while TensorFlow and the
    user's model keep a large heap alive, so every automatic collection walks that whole heap:
    about a quarter of a proxy's construction time. Reference counting still frees what it can;
    the cycles left wait for the next collection after the conversion.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def to_proxy_model(model: Any, aggressive: bool = True, unary_lut_max_table_size: int = 1024,
                   calibration: Any = None) -> Any:
    """Keras proxy model of an HGQ model, for hls4ml (drop-in for upstream HGQ's ``to_proxy_model``).

    Same defaults as upstream except ``unary_lut_max_table_size``: 1024 here (upstream: -1, off),
    so that tanh/sigmoid activations become exact lookup tables whenever their input is narrow.
    Run ``trace_minmax`` first. The user's model is not modified. ``calibration``: QKeras models
    only, see :func:`lift`.
    """
    return convert(model, to="proxy", aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size,
                   calibration=calibration)


def to_hls4ml(model: Any, output_dir: str | os.PathLike, backend: str = "Vitis", io_type: str = "io_parallel",
              hls_config: dict[str, Any] | None = None, quiet: bool = True, aggressive: bool = True,
              unary_lut_max_table_size: int = 1024, calibration: Any = None, **kwargs: Any) -> Any:
    """An hls4ml ``ModelGraph`` of ``model`` (not compiled): its proxy under the ``hls4ml`` target's configuration.

    ``model``: anything :func:`convert` reads (a live HGQ/QKeras/Keras model or a model file),
    converted once; the proxy and the configuration come from the same legalized graph.
    ``hls_config`` entries override the derived ones, nested dicts key by key
    (``{"LayerName": {"d1_op": {"ReuseFactor": 4}}}``); other keyword arguments (``part``,
    ``clock_period``, ...) go to ``hls4ml.converters.convert_from_keras_model``.
    ``io_type='io_stream'`` raises :class:`ConfigError` naming every layer hls4ml 1.3 cannot stream.

    >>> hls_model = hgq_ir.to_hls4ml(model, "prj", part="xcvu13p-flga2577-2-e")  # doctest: +SKIP
    >>> hls_model.compile()                                                     # doctest: +SKIP
    """
    from hgq_ir.backends.hls4ml_config import check_io_type, hls4ml_model_of

    check_io_type(io_type)
    with paused_gc():
        graph = lift(model, calibration=calibration)
        run_passes(graph, target="proxy", aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size)
    return hls4ml_model_of(graph, output_dir, backend=backend, io_type=io_type, hls_config=hls_config, quiet=quiet,
                           **kwargs)
