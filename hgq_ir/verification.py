"""Run every executor of a model on the same inputs and compare each with the reference interpreter.

>>> v = hgq_ir.verify(model, x_test, hls=True)      # doctest: +SKIP
>>> print(v.table()); assert v.ok

Executors: the source model itself (Keras ``predict``), the IR after the proxy's legalization
(what the firmware means; this row informs and never fails the check), the Keras proxy, onnxruntime on the
``onnx`` target, qonnx's executor on the ``qonnx`` target (on the first ``qonnx_rows`` rows: it
runs one onnxruntime session per node), and hls4ml's C simulation of the proxy (``hls=True``).
Each is compared with ``interpret`` of the graph its target computes: the core IR (the model's
meaning) for the source model, ``onnx`` and ``qonnx``; the IR after the proxy's legalization for
the proxy and hls4ml. For a mismatch, the table names the first IR value (in graph order) where
the executor's intermediate values leave the interpreter's, where the executor can show them.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hgq_ir.ir.errors import ConfigError, GraphError, HgqIrError, NotBitExactWarning
from hgq_ir.ir.fixed import quantize, round_to_integer
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.interpret import Interpreter
from hgq_ir.progress import Progress

#: rows the divergence search looks at (the first mismatching ones)
DIVERGENCE_ROWS = 64


@dataclass
class ExecutorCheck:
    """One executor's comparison: equal rows out of ``rows``, or why it did not run."""

    executor: str
    reference: str
    rows: int = 0
    equal_rows: int = 0
    first_divergence: str = ""
    not_run: str = ""
    #: False for a comparison that informs rather than checks (the legalized IR vs the model's meaning)
    counts: bool = True

    @property
    def ok(self) -> bool:
        """True when it ran and every row matched."""
        return not self.not_run and self.equal_rows == self.rows

    def rate_text(self) -> str:
        """``100.00% of 1000 rows``, or ``not run``."""
        if self.not_run:
            return "not run"
        return f"{100 * self.equal_rows / max(self.rows, 1):.2f}% of {self.rows} rows"


@dataclass
class Verification:
    """The checks of every executor, and the NotBitExactWarnings the conversions gave."""

    checks: list[ExecutorCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every executor that ran matched on every row (informative rows aside)."""
        return all(c.ok for c in self.checks if not c.not_run and c.counts)

    def table(self) -> str:
        """A fixed-width table: executor, reference, exact-match rate, first divergence or why not run."""
        head = ("executor", "compared with", "exact rows", "first divergence / note")
        rows = [(c.executor, c.reference, c.rate_text(), c.not_run or c.first_divergence or "-") for c in self.checks]
        widths = [max(len(r[j]) for r in [head, *rows]) for j in range(3)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head[:3], widths, strict=True)) + "  " + head[3]]
        lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(head[3]))
        lines += ["  ".join(v.ljust(w) for v, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The checks and warnings as plain data (for JSON)."""
        return {"ok": self.ok, "warnings": list(self.warnings),
                "checks": [{"executor": c.executor, "reference": c.reference, "rows": c.rows,
                            "equal_rows": c.equal_rows, "first_divergence": c.first_divergence,
                            "not_run": c.not_run, "counts": c.counts} for c in self.checks]}


class RecordingInterpreter(Interpreter):
    """An :class:`Interpreter` that keeps every value it computes, by IR value name.

    It also marks, per row, whether any quantizer overflowed (its rounded input fell outside its
    format's range) or a Signature changed its input (the input was not in the declared format):
    :attr:`overflow_rows`. On the other rows, a model that never wraps nor saturates (an HGQ
    model's own layers) must agree with the IR.
    """

    def __init__(self, graph: Graph, keep_values: bool = True) -> None:
        super().__init__(graph)
        self.keep_values = keep_values
        self.values: dict[str, np.ndarray] = {}
        self.overflow_rows: np.ndarray | None = None

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Evaluate the graph, recording the inputs and every node's outputs."""
        if self.keep_values:
            for v, x in zip(self.graph.inputs, inputs, strict=False):
                self.values[v.name] = np.asarray(x, dtype=np.float64)
        return super().run(*inputs)

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        """Evaluate ``node`` and record its outputs (and the rows where a quantizer overflows)."""
        fmt = node.op.quantizer_format
        if fmt is not None:
            x = args[0]
            n = round_to_integer(np.ldexp(x, fmt.f), fmt.round)
            lo, hi = np.ldexp(fmt.min_value, fmt.f), np.ldexp(fmt.max_value, fmt.f)
            bad = np.where(fmt.b > 0, (n < lo) | (n > hi), x != 0)
            if node.op.kind == "Signature":
                bad = bad | (quantize(x, fmt) != x)
            rows = np.broadcast_to(bad, x.shape).reshape(len(x), -1).any(axis=1)
            self.overflow_rows = rows if self.overflow_rows is None else self.overflow_rows | rows
        outs = super().run_node(node, args)
        if self.keep_values:
            for v, y in zip(node.outputs, outs, strict=True):
                self.values[v.name] = y
        return outs


def equal_rows(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean per row: every output array equal on that row (shapes must agree)."""
    ok: np.ndarray | None = None
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        if g.shape != w.shape:
            raise GraphError(f"executor returned shape {g.shape}, the interpreter {w.shape}")
        rows = np.all((g == w).reshape(len(w), -1), axis=1)
        ok = rows if ok is None else ok & rows
    assert ok is not None
    return ok


def first_divergence(graph: Graph, xs: list[np.ndarray], read: Callable[[list[str], list[np.ndarray]], dict]) -> str:
    """The first IR value, in graph order, where ``read`` disagrees with the interpreter on ``xs``.

    ``read(names, xs)`` returns the executor's values for those IR value names it can show (a
    dict; names it cannot show are left out).
    """
    ref = RecordingInterpreter(graph)
    ref.run(*xs)
    names = [v.name for node in graph.nodes if not node.op.is_source for v in node.outputs]
    got = read(names, xs)
    for node in graph.nodes:
        for v in node.outputs:
            if v.name in got and not node.op.is_source:
                g = np.asarray(got[v.name], dtype=np.float64).reshape(ref.values[v.name].shape)
                if not np.array_equal(g, ref.values[v.name]):
                    return f"%{v.name} ({node.op.kind}, from {node.origin!r})"
    return "not located (the executor shows no intermediate value that differs)"


def _check(executor: str, reference: str, graph: Graph, xs: list[np.ndarray], ref: list[np.ndarray],
           run: Callable[[list[np.ndarray]], list[np.ndarray]],
           read: Callable[[list[str], list[np.ndarray]], dict] | None) -> ExecutorCheck:
    """Run one executor on ``xs`` and compare with ``ref``; locate the divergence when asked."""
    check = ExecutorCheck(executor, reference, rows=len(xs[0]))
    try:
        got = run(xs)
    except HgqIrError as e:
        check.not_run = f"failed: {e}"
        return check
    ok = equal_rows(got, ref)
    check.equal_rows = int(ok.sum())
    if not ok.all() and read is None:
        check.first_divergence = "not traced (this executor shows no intermediate values)"
    elif not ok.all():
        bad = np.flatnonzero(~ok)[:DIVERGENCE_ROWS]
        try:
            check.first_divergence = first_divergence(graph, [x[bad] for x in xs], read)
        except HgqIrError as e:
            check.first_divergence = f"not located ({e})"
    return check


def _as_list(y: Any) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in (y if isinstance(y, (list, tuple)) else [y])]


def _proxy_reader(proxy: Any, graph: Graph) -> Callable[[list[str], list[np.ndarray]], dict]:
    """Intermediate values of the proxy built from ``graph``: the output of the Keras layer that holds
    each IR value (:func:`proxy_layer_of_values`)."""
    holder = proxy_layer_of_values(graph)

    def read(names: list[str], xs: list[np.ndarray]) -> dict:
        import keras

        layers = {layer.name: layer for layer in proxy.layers}
        shown = [n for n in names if holder.get(n) in layers and not isinstance(layers[holder[n]],
                                                                               keras.layers.InputLayer)]
        if not shown:
            return {}
        probe = keras.Model(proxy.inputs, [layers[holder[n]].output for n in shown])
        outs = _as_list(probe.predict(xs if len(xs) > 1 else xs[0], verbose=0, batch_size=len(xs[0])))
        return dict(zip(shown, outs, strict=True))

    return read


def _source_model(model: Any) -> tuple[Any, str]:
    """The live Keras model behind ``model`` (loaded from a file if needed), or None and why not."""
    if not isinstance(model, (str, bytes)) and not hasattr(model, "__fspath__"):
        return model, ""
    from hgq_ir.convert import load_model

    try:
        return load_model(model), ""
    except HgqIrError as e:
        return None, f"cannot load the model file in Keras 3 ({str(e).split(';')[0]})"


def verify(model: Any, x: np.ndarray | Sequence[np.ndarray] | None = None, samples: int = 1000, hls: bool = False,
           qonnx_rows: int = 256, aggressive: bool = True, unary_lut_max_table_size: int = 1024,
           calibration: Any = None, source: bool = True, hls_dir: str | None = None,
           source_x: np.ndarray | Sequence[np.ndarray] | None = None) -> Verification:
    """Every executor of ``model`` on ``x`` (default: ``samples`` standard-normal rows) vs the interpreter.

    ``hls=True`` also compiles the proxy with hls4ml (g++) and runs its C simulation;
    ``qonnx_rows`` bounds the rows given to qonnx's (slow) executor (0: skip it); ``source=False``
    skips the source model's own predictions. The source model (an HGQ model's own layers neither
    wrap nor saturate) is compared on the rows of ``x`` where no quantizer overflows, or on every
    row of ``source_x`` when given (e.g. the calibration data, inside the traced ranges by
    construction). Conversion options are those of ``convert``.
    With ``hls=True`` (the slow one: a g++ compile) the steps show progress on stderr: one line on
    a terminal, a line a step in a log, nothing under ``hgq_ir.progress.quiet()``.
    """
    from hgq_ir.backends.registry import get_target
    from hgq_ir.convert import lift, run_passes
    from hgq_ir.passes.manager import PassManager

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotBitExactWarning)
        core = lift(model, calibration=calibration)
        run_passes(core, aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size)
        legal = {}
        for name in ("proxy", "onnx", "qonnx"):
            legal[name] = PassManager(get_target(name).legalization()).run(core.copy()).graph
        proxy = get_target("proxy").emit(legal["proxy"], f"{core.name}_proxy")
        onnx_model = get_target("onnx").emit(legal["onnx"], f"{core.name}_onnx")
        qonnx_model = get_target("qonnx").emit(legal["qonnx"], f"{core.name}_qonnx") if qonnx_rows else None
    result = Verification(warnings=list(dict.fromkeys(str(w.message) for w in caught
                                                      if issubclass(w.category, NotBitExactWarning))))
    xs = _inputs(core, x, samples)
    reference = RecordingInterpreter(core, keep_values=False)
    ref = _as_list(reference.run(*xs))
    clean = np.ones(len(xs[0]), bool) if reference.overflow_rows is None else ~reference.overflow_rows
    ref_proxy = _as_list(Interpreter(legal["proxy"]).run(*xs))
    meaning, firmware = "IR interpreter", "IR interpreter (proxy legalization)"

    steps = int(source) + 2 + int(qonnx_model is not None) + 3
    progress = Progress("verify", total=steps, enabled=hls)
    if source:
        progress.step("source model (Keras predict)")
        # the source model's own layers neither wrap nor saturate like the IR: compare where nothing overflows
        live, why = _source_model(model)
        inside = f"{meaning}, rows without overflow"
        sx, sref = [a[clean] for a in xs], [r[clean] for r in ref]
        if source_x is not None:
            inside = f"{meaning}, calibration rows"
            sx = _inputs(core, source_x, samples)
            sref = _as_list(Interpreter(core).run(*sx))
        elif live is not None and not clean.any():
            why = "every row overflows a quantizer (give inputs inside the calibrated ranges)"
        check = ExecutorCheck("source model (Keras predict)", inside, not_run=why)
        if not why:
            check = _check(check.executor, inside, core, sx, sref,
                           lambda a: _as_list(live.predict(a if len(a) > 1 else a[0], verbose=0,
                                                           batch_size=min(len(a[0]), 8192))), None)
        result.checks.append(check)
    # what the firmware's legalization changes (a SAT bound hls4ml derives its own way): informs, not an executor
    legalized = _check(firmware, meaning, core, xs, ref, lambda a: ref_proxy, _interpreter_reader(legal["proxy"]))
    legalized.counts = False
    if legalized.equal_rows < legalized.rows:
        legalized.first_divergence = "(informs: the firmware's meaning differs here) " + legalized.first_divergence
    result.checks.append(legalized)
    progress.step("Keras proxy")
    result.checks.append(_check("Keras proxy", firmware, legal["proxy"], xs, ref_proxy,
                                lambda a: _as_list(proxy.predict(a if len(a) > 1 else a[0], verbose=0,
                                                                 batch_size=min(len(a[0]), 8192))),
                                _proxy_reader(proxy, legal["proxy"])))
    from hgq_ir.emulator import Emulator

    progress.step("onnxruntime (onnx target)")
    emulator = Emulator(onnx_model)
    result.checks.append(_check("onnxruntime (onnx target)", meaning, legal["onnx"], xs, ref,
                                lambda a: emulator.run(a, emulator.output_names),
                                _tensor_reader(emulator.model, emulator.run)))
    if qonnx_model is not None:
        from hgq_ir.backends.qonnx_export import execute_qonnx

        progress.step("qonnx executor (qonnx target)")
        k = min(qonnx_rows, len(xs[0]))
        out_names = [o.name for o in qonnx_model.graph.output]
        result.checks.append(_check("qonnx executor (qonnx target)", meaning, legal["qonnx"], [a[:k] for a in xs],
                                    [r[:k] for r in ref],
                                    lambda a: execute_qonnx(qonnx_model, a, out_names),
                                    _tensor_reader(qonnx_model, lambda a, names: execute_qonnx(qonnx_model, a, names))))
    if hls:
        result.checks.append(_hls_check(proxy, legal["proxy"], xs, ref_proxy, firmware, hls_dir, progress))
    progress.close()
    return result


def proxy_layer_of_values(graph: Graph) -> dict[str, str]:
    """IR value name -> the name of the proxy's Keras layer whose output is that value.

    A kernel layer that absorbs the relu after it outputs the relu's value, so its own value has
    no layer; a quantizer may be renamed (``hls_safe_name``); an Add or Concatenate of more than two
    inputs is a chain whose last layer holds the value.
    """
    from hgq_ir.backends.keras_proxy import fused_relu, layer_names

    names = layer_names(graph)
    holder: dict[str, str] = {}
    absorbed: set[str] = set()
    for node in graph.nodes:
        if node.op.is_source or node.name in absorbed:
            continue
        relu = fused_relu(graph, node)
        if relu is not None:
            absorbed.add(relu.name)
            holder[relu.output.name] = names[node.name][-1]
        else:
            holder[node.output.name] = names[node.name][-1]
    return holder


def _interpreter_reader(graph: Graph) -> Callable[[list[str], list[np.ndarray]], dict]:
    """Intermediate values of the interpreter of another graph (a legalized one), by IR value name."""

    def read(names: list[str], xs: list[np.ndarray]) -> dict:
        it = RecordingInterpreter(graph)
        it.run(*xs)
        return {n: it.values[n] for n in names if n in it.values}

    return read


def _tensor_reader(model: Any, run: Callable[[list[np.ndarray], list[str]], list[np.ndarray]]
                   ) -> Callable[[list[str], list[np.ndarray]], dict]:
    """Intermediate values of an ONNX executor: the tensors named after IR values that ``model`` has.

    ``run(xs, names)`` returns those tensors for inputs ``xs`` (onnxruntime or qonnx's executor).
    """
    produced = {o for node in model.graph.node for o in node.output}

    def read(names: list[str], xs: list[np.ndarray]) -> dict:
        shown = [n for n in names if n in produced]
        return dict(zip(shown, run(xs, shown), strict=True)) if shown else {}

    return read


def _hls_check(proxy: Any, graph: Graph, xs: list[np.ndarray], ref: list[np.ndarray], reference: str,
               hls_dir: str | None, progress: Progress | None = None) -> ExecutorCheck:
    """hls4ml's C simulation of the proxy under the ``hls4ml`` target's configuration.

    Compiled with g++ in ``hls_dir`` (or a temporary folder); not run, saying so, without g++.
    """
    from hgq_ir.backends.hls4ml import c_simulate, compile_quietly
    from hgq_ir.backends.hls4ml_config import hls4ml_model_of

    if shutil.which("g++") is None:
        return ExecutorCheck("hls4ml C simulation", reference, rows=len(xs[0]),
                             not_run="g++ not found: install g++ to compile hls4ml's C simulation")

    step = progress.step if progress is not None else (lambda text: None)

    def run(a: list[np.ndarray]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory() if hls_dir is None else contextlib.nullcontext(hls_dir) as d:
            step("hls4ml: writing the project")
            m = hls4ml_model_of(graph, d, proxy=proxy)
            step("hls4ml: compiling the C simulation with g++")
            compile_quietly(m)
            step(f"hls4ml: C simulation of {len(a[0])} rows")
            return _as_list(c_simulate(m, a if len(a) > 1 else a[0], [tuple(v.shape) for v in graph.outputs]))

    return _check("hls4ml C simulation", reference, graph, xs, ref, run, None)


def _inputs(graph: Graph, x: Any, samples: int) -> list[np.ndarray]:
    """The inputs as a list of float64 arrays, checked against the graph's input shapes."""
    if x is None:
        if samples < 1:
            raise ConfigError(f"samples must be >= 1, got {samples}")
        rng = np.random.default_rng(0)
        return [rng.normal(size=(samples, *v.shape)) for v in graph.inputs]
    xs = [np.asarray(a, dtype=np.float64) for a in (x if isinstance(x, (list, tuple)) else [x])]
    if len(xs) != len(graph.inputs):
        raise ConfigError(f"the model has {len(graph.inputs)} inputs, got {len(xs)} arrays")
    for v, a in zip(graph.inputs, xs, strict=True):
        if a.shape[1:] != tuple(v.shape):
            raise ConfigError(f"the data has rows of shape {a.shape[1:]} (array {a.shape}), but the model's input "
                              f"{v.name!r} takes rows of shape {tuple(v.shape)}: pass an array of shape "
                              f"(N, {', '.join(map(str, v.shape))})")
    if len({len(a) for a in xs}) > 1 or len(xs[0]) == 0:
        raise ConfigError(f"inputs need the same, non-zero number of rows; got {[len(a) for a in xs]}")
    return xs
