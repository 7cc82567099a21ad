"""The fast emulator: the ``onnx`` target's model run by onnxruntime, in batches.

>>> y = hgq_ir.emulate(model, x)                          # doctest: +SKIP
>>> em = hgq_ir.emulator.Emulator(model); y = em(x)       # keep the session for many calls

The ``onnx`` target computes every value in float64 (or in float32 where the formats prove it
exact), so onnxruntime returns exactly what :func:`hgq_ir.interpret` returns on the same graph,
at ONNX speed. ``target="proxy"`` emulates what the proxy and hls4ml's firmware compute (the IR
after the proxy's legalization) instead of the model's own meaning.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hgq_ir.ir.errors import ConfigError, GraphError
from hgq_ir.ir.fixed import float32_values
from hgq_ir.ir.graph import Graph
from hgq_ir.progress import Progress

#: rows a batch holds by default: large enough to amortise onnxruntime's per-call overhead, small
#: enough for the tensors to stay in cache (measured, one thread: demo MLP 2.9M/s at 1024 and 2048
#: rows, 2.2M/s at 4096; zoo conv2d 0.48M/s at 1024, 0.40M/s at 2048)
DEFAULT_BATCH = 1024
#: rows the Emulator's models compute as one in per-element quantizers (``to_onnx(row_block=...)``);
#: batches are padded to a multiple of it
ROW_BLOCK = 32
#: batches run at once by default at most (one onnxruntime thread each)
MAX_THREADS = 4
#: batches from which a progress bar shows by default (on a terminal)
PROGRESS_FROM_BATCHES = 8


def _onnx_graph_of(model_or_graph: Any, target: str | None = None, **convert_kwargs: Any) -> Graph:
    """The graph the ``onnx`` target lowers: a model converted (and legalized), or a Graph's legalized copy."""
    from hgq_ir.backends.registry import get_target
    from hgq_ir.convert import convert
    from hgq_ir.passes.manager import PassManager

    if isinstance(model_or_graph, Graph):
        if target is not None or convert_kwargs:
            raise ConfigError("a Graph is emulated as given: convert with target=... / options before, e.g. "
                              "hgq_ir.convert(model, to='ir', target='proxy')")
        graph = model_or_graph.copy()
    elif target is None:
        return convert(model_or_graph, to="ir", target="onnx", **convert_kwargs)  # legalized for onnx already
    else:
        graph = convert(model_or_graph, to="ir", target=target, **convert_kwargs)
    return PassManager(get_target("onnx").legalization()).run(graph).graph


def _input_dtype(input_dtype: Any) -> str:
    """``"auto"``, ``"float32"`` or ``"float64"`` (ConfigError otherwise)."""
    name = "auto" if input_dtype is None or input_dtype == "auto" else None
    if name is None:
        try:
            name = np.dtype(input_dtype).name
        except TypeError:
            name = repr(input_dtype)
    if name not in ("auto", "float32", "float64"):
        raise ConfigError(f"input_dtype must be 'auto', 'float32' or 'float64', got {name}")
    return name


class Emulator:
    """An onnxruntime session of a model's ``onnx`` target, called like a function.

    ``input_dtype``: ``"auto"`` (default) runs data whose every value is a float32 value (a
    float32 array, or float64 data holding float32 values: Keras models' inputs) on the model with
    float32 inputs, which is faster, and any other data on the float64 one (built on first use);
    both compute exactly :func:`hgq_ir.interpret`'s result. ``"float32"`` refuses other data
    (:class:`ConfigError`); ``"float64"`` always runs the float64 model.

    ``threads``: batches run at once, each on one onnxruntime thread (default: one per core, at
    most :data:`MAX_THREADS`; batches in parallel beat onnxruntime's intra-op threads, which spin
    and lose badly on a busy machine). Conversion options (``aggressive``, ``calibration``,
    ``unary_lut_max_table_size``, ``target``) apply when a model is given. ``model`` is the
    ONNX model of the default input type (float32 unless ``input_dtype="float64"``).
    """

    def __init__(self, model_or_graph: Any, threads: int | None = None, input_dtype: Any = "auto",
                 **convert_kwargs: Any) -> None:
        import onnx

        self.input_dtype = _input_dtype(input_dtype)
        self.threads = int(threads) if threads else min(os.cpu_count() or 1, MAX_THREADS)
        if self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        self._graph: Graph | None = None
        self._models: dict[str, Any] = {}
        self._sessions: dict[str, Any] = {}
        self._produced_names: dict[str, set[str]] = {}
        self.row_block = 1
        if isinstance(model_or_graph, onnx.ModelProto):
            elem = model_or_graph.graph.input[0].type.tensor_type.elem_type if model_or_graph.graph.input else 11
            kind = "float32" if elem == onnx.TensorProto.FLOAT else "float64"
            if self.input_dtype not in ("auto", kind):
                raise ConfigError(f"this ONNX model reads {kind} inputs, not {self.input_dtype}")
            self.input_dtype = kind
            self._models[kind] = model_or_graph
        else:
            self._graph = _onnx_graph_of(model_or_graph, **convert_kwargs)
            self.row_block = ROW_BLOCK
        self.default_dtype = "float64" if self.input_dtype == "float64" else "float32"
        self.model = self._model(self.default_dtype)
        self.session = self._session(self.default_dtype)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_shapes = [tuple(i.shape[1:]) for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}{list(s)}" for n, s in zip(self.input_names, self.input_shapes, strict=True))
        return f"<Emulator {self.model.graph.name!r}: ({ins}) -> ({', '.join(self.output_names)})>"

    def _model(self, dtype: str) -> Any:
        """The ONNX model with ``dtype`` inputs (lowered on first use)."""
        if dtype not in self._models:
            from hgq_ir.backends.onnx_emulator import to_onnx

            assert self._graph is not None
            self._models[dtype] = to_onnx(self._graph, f"{self._graph.name}_onnx", input_dtype=np.dtype(dtype),
                                          row_block=ROW_BLOCK)
        return self._models[dtype]

    def _session(self, dtype: str, names: Sequence[str] = ()) -> Any:
        """A session of the ``dtype`` model, with the tensors ``names`` added as outputs."""
        extra = tuple(n for n in names if n not in {o.name for o in self._model(dtype).graph.output})
        key = f"{dtype}:{','.join(extra)}"
        if key not in self._sessions:
            self._sessions[key] = _make_session(self._model(dtype), extra)
        return self._sessions[key]

    def _inputs(self, x: np.ndarray | Sequence[np.ndarray]) -> tuple[list[np.ndarray], str]:
        """The input arrays, contiguous in the float type of the model chosen for them, and that type."""
        xs = [x] if isinstance(x, np.ndarray) or not isinstance(x, (list, tuple)) else list(x)
        if len(xs) != len(self.input_names):
            raise GraphError(f"the emulated model takes {len(self.input_names)} inputs "
                             f"({', '.join(self.input_names)}), got {len(xs)}")
        arrays = []
        for name, shape, a in zip(self.input_names, self.input_shapes, xs, strict=True):
            a = np.asarray(a)
            if a.shape[1:] != shape:
                raise GraphError(f"input {name!r} expects shape (batch, {', '.join(map(str, shape))}), got {a.shape}")
            arrays.append(a)
        if len({len(a) for a in arrays}) > 1:
            raise GraphError(f"inputs have different batch sizes: {[len(a) for a in arrays]}")
        dtype = self.input_dtype
        if dtype != "float64":
            f32 = all(float32_values(a, nan=True) for a in arrays)
            if dtype == "float32" and not f32:
                raise ConfigError("input_dtype='float32': the inputs hold values float32 cannot hold; pass "
                                  "input_dtype='auto' (or 'float64') to emulate them in float64")
            dtype = "float32" if f32 else "float64"
        return [np.ascontiguousarray(a, dtype=dtype) for a in arrays], dtype

    def __call__(self, x: np.ndarray | Sequence[np.ndarray], batch_size: int | None = None,
                 progress: bool | None = None) -> np.ndarray | list[np.ndarray]:
        """Outputs (float64) for inputs ``x`` (an array, or a list for several inputs).

        Runs in batches of ``batch_size`` rows (default :data:`DEFAULT_BATCH`); ``progress``
        shows progress (``hgq_ir.progress.Progress``: one line on a terminal, a few in a log; by
        default from :data:`PROGRESS_FROM_BATCHES` batches; never under ``hgq_ir.progress.quiet()`` /
        ``--quiet`` / ``HGQ_IR_QUIET=1``).
        """
        outs = self.run(x, self.output_names, batch_size, progress)
        return outs[0] if len(outs) == 1 else outs

    def run(self, x: np.ndarray | Sequence[np.ndarray], names: Sequence[str], batch_size: int | None = None,
            progress: bool | None = False) -> list[np.ndarray]:
        """The tensors called ``names`` (graph outputs, or any IR value's name) for inputs ``x``, as float64.

        The ``onnx`` target names the tensor holding each IR value's result after the value, so
        ``run(x, ["d1"])`` reads IR value ``%d1``: how ``hgq-ir verify`` finds the first node
        where two executors diverge.
        """
        xs, dtype = self._inputs(x)
        n = len(xs[0])
        bs = DEFAULT_BATCH if batch_size is None else int(batch_size)
        if bs < 1:
            raise ConfigError(f"batch_size must be >= 1, got {bs}")
        bs = -(-bs // self.row_block) * self.row_block
        missing = [nm for nm in names if nm not in self._produced(dtype)]
        if missing:
            raise GraphError(f"the emulated model has no tensor called {', '.join(map(repr, missing))}")
        session = self._session(dtype, names)
        names = list(names)
        starts = range(0, max(n, 1), bs)
        shown = bool(progress) or (progress is None and len(starts) >= PROGRESS_FROM_BATCHES)
        bar = Progress("emulate", total=n, unit="row", enabled=shown) if shown else None
        outs: list[np.ndarray] = []
        lock = threading.Lock()

        def one(s: int) -> None:
            rows = min(bs, n - s)
            feed = {k: _pad_rows(a[s:s + bs], self.row_block) for k, a in zip(self.input_names, xs, strict=True)}
            got = session.run(names, feed)
            with lock:
                if not outs:  # every tensor's shape is known from the first batch done
                    outs.extend(np.empty((n, *g.shape[1:]), dtype=np.float64) for g in got)
            for out, g in zip(outs, got, strict=True):
                out[s:s + rows] = g[:rows]  # float64, written by the batch's own thread
            if bar is not None:
                bar.update(rows)

        try:
            if self.threads > 1 and len(starts) > 1:
                list(_pool(self.threads).map(one, starts))
            else:
                for s in starts:
                    one(s)
        finally:
            if bar is not None:
                bar.close(f"{n} rows")
        return outs

    def _produced(self, dtype: str) -> set[str]:
        """The names of every tensor the ``dtype`` model computes or reads as input."""
        if dtype not in self._produced_names:
            self._produced_names[dtype] = {o for node in self._model(dtype).graph.node for o in node.output} | set(
                self.input_names)
        return self._produced_names[dtype]


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """A thread pool of ``threads`` workers shared by every Emulator of this process (made once: starting
    threads costs a few percent of a fast model's run; a forked child, which has none of its parent's
    threads, makes its own)."""
    key = (os.getpid(), threads)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="hgq-ir-emulate")
        return _POOLS[key]


def _pad_rows(a: np.ndarray, block: int) -> np.ndarray:
    """``a`` with zero rows appended up to a multiple of ``block`` rows (their results are dropped)."""
    extra = -len(a) % block
    return a if not extra else np.concatenate([a, np.zeros((extra, *a.shape[1:]), a.dtype)])


def _make_session(model: Any, extra_outputs: Sequence[str] = ()) -> Any:
    """A one-thread CPU session of ``model`` with ``extra_outputs`` (tensor names) added as graph outputs."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.extend(onnx.ValueInfoProto(name=nm) for nm in extra_outputs)
    _prune(m.graph)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _prune(graph: Any) -> None:
    """Drop the nodes no graph output needs (onnxruntime runs every node): the ``onnx`` target keeps each IR
    value's tensor, some only for reading (a kernel layer reads its input quantizer's integer codes)."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    if len(keep) < len(graph.node):
        del graph.node[:]
        graph.node.extend(reversed(keep))
        used = {i for node in keep for i in node.input}
        kept_inits = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept_inits)


def emulate(model_or_graph: Any, x: np.ndarray | Sequence[np.ndarray], batch_size: int | None = None,
            progress: bool | None = None, **convert_kwargs: Any) -> np.ndarray | list[np.ndarray]:
    """Run ``model_or_graph``'s ``onnx`` target in onnxruntime on ``x``: exactly ``interpret``'s result.

    ``model_or_graph``: a model (live or a file path; ``convert_kwargs`` such as ``aggressive``,
    ``calibration``, ``target="proxy"`` apply), an IR Graph after the passes, or the ONNX model.
    Build an :class:`Emulator` once to run many calls.

    >>> y = hgq_ir.emulate(model, x_test)                 # doctest: +SKIP
    >>> assert (y == hgq_ir.interpret(hgq_ir.convert(model, to="ir"), x_test)).all()  # doctest: +SKIP
    """
    return Emulator(model_or_graph, **convert_kwargs)(x, batch_size=batch_size, progress=progress)
