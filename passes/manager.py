"""The pass manager and the default pipeline.

:class:`PassManager` runs an explicit list of passes, verifies the graph after each one, times
each, and can keep the IR text after any of them (``dump``) and its diff against the text
before (``diff``), so that what every step did can be read.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hgq_ir.passes.base import Pass

from hgq_ir.ir.errors import HgqIrError, PassError
from hgq_ir.ir.graph import Graph


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

    def dump(self, name: str) -> str:
        """IR text kept after pass ``name`` (must have been requested with ``dump``)."""
        for r in self.records:
            if r.name == name and r.ir_after is not None:
                return r.ir_after
        raise KeyError(f"no dump kept for pass {name!r}; pass dump=[{name!r}] or dump='all'")

    def table(self) -> str:
        """One line a pass: name, changed, milliseconds."""
        lines = [f"{'pass':<20} {'changed':<8} {'ms':>8}"]
        lines += [f"{r.name:<20} {'yes' if r.changed else 'no':<8} {r.seconds * 1e3:8.2f}" for r in self.records]
        return "\n".join(lines)


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
        wanted = {p.name for p in self.passes} if dump == "all" else set(dump or ())
        unknown = wanted - {p.name for p in self.passes}
        if unknown:
            raise PassError(f"cannot dump unknown pass(es) {sorted(unknown)}; the pipeline runs "
                            f"{[p.name for p in self.passes]}")
        graph.verify()
        result = PipelineResult(graph)
        for p in self.passes:
            keep = p.name in wanted
            before = str(graph) if keep and diff else None
            t0 = time.perf_counter()
            try:
                changed = bool(p.run(graph))
            except HgqIrError as e:
                if hasattr(e, "add_note"):
                    e.add_note(f"in pass {p.name!r}, after {[r.name for r in result.records]}")
                raise
            except Exception as e:
                raise PassError(f"pass {p.name!r} failed (after {[r.name for r in result.records]}): "
                                f"{type(e).__name__}: {e}") from e
            seconds = time.perf_counter() - t0
            try:
                graph.verify()
            except HgqIrError as e:
                raise PassError(f"pass {p.name!r} left an invalid graph: {e}") from e
            after = str(graph) if keep else None
            result.records.append(PassRecord(p.name, changed, seconds, after,
                                             ir_diff(before, after, p.name) if before is not None else None))
        return result


def default_pipeline(aggressive: bool = True, unary_lut_max_table_size: int = 1024) -> list[Pass]:
    """The default pipeline, in order (DESIGN.md)."""
    from hgq_ir.passes.assign_overflow import AssignOverflow, CapSatFraction
    from hgq_ir.passes.cleanup import Cleanup
    from hgq_ir.passes.flatten_nested import FlattenNested
    from hgq_ir.passes.fuse_batchnorm import FuseBatchNorm
    from hgq_ir.passes.infer_formats import InferFormats
    from hgq_ir.passes.select_lut import FitLUTInputs, SelectLUT

    return [
        FlattenNested(),
        FuseBatchNorm(),
        InferFormats(),
        Cleanup(),
        InferFormats(),
        SelectLUT(max_table_size=unary_lut_max_table_size),
        AssignOverflow(aggressive=aggressive),
        InferFormats(),
        CapSatFraction(),
        InferFormats(),
        FitLUTInputs(),
    ]
