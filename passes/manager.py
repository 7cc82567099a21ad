"""The pass manager and the target-independent core pipeline.

:class:`PassManager` runs an explicit list of passes, verifies the graph after each one, times
each, and can keep the IR text after any of them (``dump``) and its diff against the text
before (``diff``), so that what every step did can be read. A pass that runs more than once in a
list is recorded as ``name#1``, ``name#2``, ...

A failure inside a pass that is not a user's :class:`HgqIrError` (a bug of ours) becomes an
:class:`InternalError` naming the pass and the node it was working on.
"""

from __future__ import annotations

import difflib
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from hgq_ir.passes.assign_overflow import AssignOverflow
from hgq_ir.passes.base import Pass
from hgq_ir.passes.cleanup import Cleanup
from hgq_ir.passes.flatten_nested import FlattenNested
from hgq_ir.passes.fuse_batchnorm import FuseBatchNorm
from hgq_ir.passes.infer_formats import InferFormats
from hgq_ir.passes.select_lut import SelectLUT

from hgq_ir.ir.errors import HgqIrError, InternalError, PassError
from hgq_ir.ir.graph import Graph, Node


@dataclass
class PassRecord:
    """What one pass did: whether it changed the graph, how long it took, the IR after it."""

    name: str
    changed: bool
    seconds: float
    ir_after: str | None = None
    diff: str | None = None


@dataclass
class PipelineResult:
    """The rewritten graph and one :class:`PassRecord` per pass run."""

    graph: Graph
    records: list[PassRecord] = field(default_factory=list)

    def record(self, name: str) -> PassRecord:
        """The record of run ``name`` (``infer_formats#2`` for a pass that runs several times)."""
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(f"no pass run named {name!r}; the runs are {[r.name for r in self.records]}")

    def dump(self, name: str) -> str:
        """IR text kept after run ``name`` (must have been requested with ``dump``)."""
        r = self.record(name)
        if r.ir_after is None:
            raise KeyError(f"no dump kept for pass {name!r}; pass dump=[{name!r}] or dump='all'")
        return r.ir_after

    def table(self) -> str:
        """One line a pass: name, changed, milliseconds."""
        lines = [f"{'pass':<22} {'changed':<8} {'ms':>8}"]
        lines += [f"{r.name:<22} {'yes' if r.changed else 'no':<8} {r.seconds * 1e3:8.2f}" for r in self.records]
        return "\n".join(lines)


def run_names(passes: Sequence[Pass]) -> list[str]:
    """The record name of each pass run: its name, or ``name#k`` when the list runs it more than once."""
    total = Counter(p.name for p in passes)
    seen: Counter[str] = Counter()
    names = []
    for p in passes:
        seen[p.name] += 1
        names.append(f"{p.name}#{seen[p.name]}" if total[p.name] > 1 else p.name)
    return names


def failing_node(exc: BaseException) -> Node | None:
    """The IR node the innermost frame of ``exc``'s traceback was working on (a local named ``node``)."""
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        for value in frame.f_locals.values():
            if isinstance(value, Node):
                found = value
                break
    return found


def ir_diff(before: str, after: str, name: str) -> str:
    """Unified diff of two IR texts."""
    return "".join(difflib.unified_diff((before + "\n").splitlines(True), (after + "\n").splitlines(True),
                                        f"before {name}", f"after {name}"))


class PassManager:
    """Runs ``passes`` in order over a graph.

    >>> result = PassManager([Cleanup()]).run(graph, dump="all", diff=True)  # doctest: +SKIP
    >>> print(result.records[0].diff)  # doctest: +SKIP
    """

    def __init__(self, passes: Sequence[Pass]) -> None:
        self.passes = list(passes)

    def run(self, graph: Graph, dump: Sequence[str] | str | None = None, diff: bool = False) -> PipelineResult:
        """Run every pass on ``graph`` (in place) and return a :class:`PipelineResult`.

        ``dump`` is a list of pass names, or ``"all"``: keep the IR text after those passes.
        ``diff`` also keeps a unified diff against the text before each dumped pass.
        """
        names = run_names(self.passes)
        wanted = self._wanted(names, dump)
        graph.verify()
        result = PipelineResult(graph)
        for p, name in zip(self.passes, names, strict=True):
            keep = name in wanted
            before = str(graph) if keep and diff else None
            t0 = time.perf_counter()
            try:
                changed = bool(p.run(graph))
            except InternalError:
                raise
            except HgqIrError as e:
                if hasattr(e, "add_note"):
                    e.add_note(f"in pass {name!r}, after {[r.name for r in result.records]}")
                raise
            except Exception as e:
                node = failing_node(e)
                where = f" at node {node.name!r} ({node.op.kind}, from {node.origin!r})" if node is not None else ""
                raise InternalError(f"internal error in pass {name!r}{where}: {type(e).__name__}: {e}",
                                    step=name, node=node.name if node is not None else None) from e
            seconds = time.perf_counter() - t0
            try:
                graph.verify()
            except HgqIrError as e:
                raise InternalError(f"internal error: pass {name!r} left an invalid graph: {e}", step=name) from e
            after = str(graph) if keep else None
            result.records.append(PassRecord(name, changed, seconds, after,
                                             ir_diff(before, after, name) if before is not None else None))
        return result

    @staticmethod
    def _wanted(names: list[str], dump: Sequence[str] | str | None) -> set[str]:
        """Run names to keep: ``"all"``, or names given as runs (``infer_formats#2``) or passes run once."""
        if dump == "all":
            return set(names)
        wanted = set()
        for d in [dump] if isinstance(dump, str) else dump or ():
            if d in names:
                wanted.add(d)
                continue
            runs = [n for n in names if n.startswith(f"{d}#")]
            if runs:
                raise PassError(f"pass {d!r} runs {len(runs)} times in this pipeline; name one run: {runs}")
            raise PassError(f"cannot dump unknown pass {d!r}; the pipeline runs {names}")
        return wanted


def core_pipeline(aggressive: bool = True, unary_lut_max_table_size: int = 1024) -> list[Pass]:
    """The target-independent pipeline, in order (DESIGN.md): the IR's own meaning of the model.

    Targets append their own legalization passes (``hgq_ir.backends.registry``).
    """
    return [
        FlattenNested(),
        FuseBatchNorm(),
        InferFormats(),
        Cleanup(),
        SelectLUT(max_table_size=unary_lut_max_table_size),
        AssignOverflow(aggressive=aggressive),
        InferFormats(),
    ]
