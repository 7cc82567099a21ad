"""Make ``tests/hls4ml_harness.py`` importable as ``hls4ml_harness`` from the backend tests; graphs several
backends' tests share."""

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture
def multi_io_graph():  # noqa: ANN201
    """Two inputs, four outputs: a sum, an input as it is, a quantizer, and the sum again."""
    from hgq_ir.ir.fixed import FixedFormat
    from hgq_ir.ir.graph import Graph
    from hgq_ir.ir.ops import Add, Quantize

    g = Graph("multi")
    a = g.add_input("a", (3,))
    b = g.add_input("b", (3,))
    qa = g.add_node(Quantize(FixedFormat(1, 2, 2, "RND", "WRAP")), [a], name="qa")
    qb = g.add_node(Quantize(FixedFormat(0, 2, 3, "TRN", "SAT")), [b], name="qb")
    s = g.add_node(Add(), [qa.output, qb.output], name="s")
    g.set_outputs([s.output, b, qa.output, s.output])
    return g
