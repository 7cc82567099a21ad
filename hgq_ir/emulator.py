"""The fast emulator: the ``onnx`` target's model run by onnxruntime, in batches.

>>> y = hgq_ir.emulate(model, x)                          # doctest: +SKIP
>>> em = hgq_ir.emulator.Emulator(model); y = em(x)       # keep the session for many calls

The ``onnx`` target computes every value in float64 (or in float32 where the formats prove it
exact), so onnxruntime returns exactly what :func:`hgq_ir.interpret` returns on the same graph,
at ONNX speed. ``target="proxy"`` emulates what the proxy and hls4ml's firmware compute (the IR
after the proxy's legalization) instead of the model's own meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hgq_ir.ir.errors import ConfigError, GraphError
from hgq_ir.ir.graph import Graph

#: rows a batch holds by default: large enough to amortise onnxruntime's per-call overhead, small
#: enough for the float64 tensors to stay in cache (measured on the demo MLP: 1024-2048 best,
#: one batch of 100k rows half as fast)
DEFAULT_BATCH = 2048
#: batches from which a progress bar shows by default (on a terminal)
PROGRESS_FROM_BATCHES = 8


def onnx_model_of(model_or_graph: Any, target: str | None = None, **convert_kwargs: Any) -> Any:
    """The ``onnx`` target's ModelProto of a model, a Graph (used as it is) or a ModelProto.

    A model (live, or a file path) is converted with ``convert_kwargs``; ``target`` legalizes it
    for that target first (``"proxy"``: what hls4ml's firmware computes). A Graph is lowered as
    given (run the passes first: ``hgq_ir.convert(model, to="ir")``), after the ``onnx`` target's
    own legalization on a copy.
    """
    import onnx

    from hgq_ir.backends.registry import get_target
    from hgq_ir.convert import convert
    from hgq_ir.passes.manager import PassManager

    if isinstance(model_or_graph, onnx.ModelProto):
        return model_or_graph
    onnx_target = get_target("onnx")
    if isinstance(model_or_graph, Graph):
        if target is not None or convert_kwargs:
            raise ConfigError("a Graph is emulated as given: convert with target=... / options before, e.g. "
                              "hgq_ir.convert(model, to='ir', target='proxy')")
        graph = model_or_graph.copy()
    else:
        if target is None:
            return convert(model_or_graph, to="onnx", **convert_kwargs)
        graph = convert(model_or_graph, to="ir", target=target, **convert_kwargs)
    graph = PassManager(onnx_target.legalization()).run(graph).graph
    return onnx_target.emit(graph, f"{graph.name}_onnx")


class Emulator:
    """An onnxruntime session of a model's ``onnx`` target, called like a function.

    ``threads``: onnxruntime's intra-op threads (default: all cores). Conversion options
    (``aggressive``, ``calibration``, ``unary_lut_max_table_size``, ``target``) apply when a
    model is given.
    """

    def __init__(self, model_or_graph: Any, threads: int | None = None, **convert_kwargs: Any) -> None:
        import onnxruntime as ort

        self.model = onnx_model_of(model_or_graph, **convert_kwargs)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(self.model.SerializeToString(), opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_shapes = [tuple(i.shape[1:]) for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}{list(s)}" for n, s in zip(self.input_names, self.input_shapes, strict=True))
        return f"<Emulator {self.model.graph.name!r}: ({ins}) -> ({', '.join(self.output_names)})>"

    def _inputs(self, x: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        xs = [x] if isinstance(x, np.ndarray) or not isinstance(x, (list, tuple)) else list(x)
        if len(xs) != len(self.input_names):
            raise GraphError(f"the emulated model takes {len(self.input_names)} inputs "
                             f"({', '.join(self.input_names)}), got {len(xs)}")
        out = []
        for name, shape, a in zip(self.input_names, self.input_shapes, xs, strict=True):
            a = np.ascontiguousarray(a, dtype=np.float64)
            if a.shape[1:] != shape:
                raise GraphError(f"input {name!r} expects shape (batch, {', '.join(map(str, shape))}), got {a.shape}")
            out.append(a)
        if len({len(a) for a in out}) > 1:
            raise GraphError(f"inputs have different batch sizes: {[len(a) for a in out]}")
        return out

    def __call__(self, x: np.ndarray | Sequence[np.ndarray], batch_size: int | None = None,
                 progress: bool | None = None) -> np.ndarray | list[np.ndarray]:
        """Outputs (float64) for inputs ``x`` (an array, or a list for several inputs).

        Runs in batches of ``batch_size`` rows (default :data:`DEFAULT_BATCH`); ``progress``
        shows a progress bar (default: on a terminal, from :data:`PROGRESS_FROM_BATCHES` batches).
        """
        outs = self.run(x, self.output_names, batch_size, progress)
        return outs[0] if len(outs) == 1 else outs

    def run(self, x: np.ndarray | Sequence[np.ndarray], names: Sequence[str], batch_size: int | None = None,
            progress: bool | None = False) -> list[np.ndarray]:
        """The tensors called ``names`` (graph outputs, or any IR value's name) for inputs ``x``.

        The ``onnx`` target names the tensor holding each IR value's result after the value, so
        ``run(x, ["d1"])`` reads IR value ``%d1``: how ``hgq-ir verify`` finds the first node
        where two executors diverge.
        """
        xs = self._inputs(x)
        n = len(xs[0])
        bs = DEFAULT_BATCH if batch_size is None else int(batch_size)
        if bs < 1:
            raise ConfigError(f"batch_size must be >= 1, got {bs}")
        session = self.session if set(names) <= set(self.output_names) else self._session_reading(names)
        starts = range(0, max(n, 1), bs)
        bar = None
        if progress or (progress is None and len(starts) >= PROGRESS_FROM_BATCHES):
            from tqdm.auto import tqdm

            bar = tqdm(total=n, unit="rows", desc="emulate", disable=None if progress is None else False)
        chunks: list[list[np.ndarray]] = []
        try:
            for s in starts:
                feed = {k: a[s:s + bs] for k, a in zip(self.input_names, xs, strict=True)}
                chunks.append(session.run(list(names), feed))
                if bar is not None:
                    bar.update(min(bs, n - s))
        finally:
            if bar is not None:
                bar.close()
        return [np.asarray(np.concatenate([c[j] for c in chunks]), dtype=np.float64) for j in range(len(names))]

    def _session_reading(self, names: Sequence[str]) -> Any:
        """A session of the same model with ``names`` added as graph outputs."""
        import onnx
        import onnxruntime as ort

        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        known = {o.name for o in m.graph.output}
        produced = {o for node in m.graph.node for o in node.output} | {i.name for i in m.graph.input}
        missing = [nm for nm in names if nm not in produced]
        if missing:
            raise GraphError(f"the emulated model has no tensor called {', '.join(map(repr, missing))}")
        m.graph.output.extend(onnx.ValueInfoProto(name=nm) for nm in names if nm not in known)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


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
