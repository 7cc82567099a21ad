"""cleanup: IR text before and after on a tiny graph."""

import numpy as np
from hgq_ir.passes.cleanup import Cleanup
from hgq_ir.passes.manager import PassManager

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.ops import Activation, Flatten, Quantize, Reshape


def tiny() -> Graph:
    g = Graph("tiny")
    x = g.add_input("x", (2, 2))
    q = g.add_node(Quantize(FixedFormat(1, 2, 2)), [x], name="q")
    lin = g.add_node(Activation("linear"), [q.output], name="lin")
    same = g.add_node(Reshape((2, 2)), [lin.output], name="same")
    wide = g.add_node(Quantize(FixedFormat(1, 3, 4, "RND", "SAT")), [same.output], name="wide")
    flat = g.add_node(Flatten(), [wide.output], name="flat")
    narrow = g.add_node(Quantize(FixedFormat(1, 1, np.array([1, 2, 3, 4]))), [flat.output], name="narrow")
    g.set_outputs([narrow.output])
    return g


BEFORE = """\
graph tiny(%x) -> (%narrow)
  %x: float[2,2] = Input()
  %q: fx<k1 i2 f2>[2,2] = Quantize(%x)
  %lin: fx<k1 i2 f2>[2,2] = Activation(%q) function=linear
  %same: fx<k1 i2 f2>[2,2] = Reshape(%lin) target=(2,2)
  %wide: fx<k1 i3 f4 RND SAT>[2,2] = Quantize(%same)
  %flat: fx<k1 i3 f4 RND SAT>[4] = Flatten(%wide)
  %narrow: fx<k1 i1 f1..4>[4] = Quantize(%flat)"""

# %flat now reads %q: the flattened format of %q, no longer the removed %wide's
AFTER = """\
graph tiny(%x) -> (%narrow)
  %x: float[2,2] = Input()
  %q: fx<k1 i2 f2>[2,2] = Quantize(%x)
  %flat: fx<k1 i2 f2>[4] = Flatten(%q)
  %narrow: fx<k1 i1 f1..4>[4] = Quantize(%flat)"""


def test_cleanup_before_after():
    g = tiny()
    assert str(g) == BEFORE
    assert Cleanup().run(g) is True
    g.verify()
    assert str(g) == AFTER
    assert Cleanup().run(g) is False


def test_manager_dumps_and_diffs():
    g = tiny()
    result = PassManager([Cleanup()]).run(g, dump="all", diff=True)
    (rec,) = result.records
    assert rec.name == "cleanup" and rec.changed and rec.seconds >= 0
    assert result.dump("cleanup") == AFTER
    assert "-  %lin: fx<k1 i2 f2>[2,2] = Activation(%q) function=linear" in rec.diff
    assert "cleanup" in result.table()


def test_stale_formats_fail_verify():
    import pytest

    from hgq_ir.ir.errors import GraphError

    g = tiny()
    g.bypass(g.node("wide"))  # an edit without refreshing the formats downstream
    with pytest.raises(GraphError, match="'flat'.*stale"):
        g.verify()
    assert g.refresh_formats() is True
    g.verify()
    g.node("narrow").output.format = FixedFormat(1, 1, 1)  # a hand-set wrong format
    with pytest.raises(GraphError, match="'narrow'.*stale"):
        g.verify()
