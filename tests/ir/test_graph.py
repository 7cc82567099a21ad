"""Text form and verify() of the IR graph."""

import numpy as np
import pytest

from hgq_ir.ir.errors import GraphError
from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph, Value, Weight
from hgq_ir.ir.ops import Activation, Add, Dense, Quantize


def four_node_graph() -> Graph:
    g = Graph("tiny")
    x = g.add_input("x", (3,))
    q = g.add_node(Quantize(FixedFormat(1, np.array([1, 2, 0]), np.array([2, 3, 4]), "RND", "SAT")), [x], name="q0")
    kernel = np.array([[0.5, -1.0], [0.25, 1.0], [1.0, 0.0]])
    d = g.add_node(Dense(), [q.output], name="d1",
                   weights={"kernel": Weight(kernel, FixedFormat.of_constants(kernel))})
    r = g.add_node(Activation("relu"), [d.output], name="r1")
    g.set_outputs([r.output])
    return g


EXPECTED = """\
graph tiny(%x) -> (%r1)
  %x: float[3] = Input()
  %q0: fx<k1 i0..2 f2..4 RND SAT>[3] = Quantize(%x)
  %d1: fx<k1 i2..3 f3..5>[2] = Dense(%q0) kernel=fx<k0..1 i-1..1 f0..2>[3,2]
  %r1: fx<k0 i2..3 f3..5>[2] = Activation(%d1) function=relu"""


def test_text_form_of_a_four_node_graph():
    g = four_node_graph()
    g.verify()
    assert str(g) == EXPECTED


def test_verify_catches_a_dangling_input():
    g = four_node_graph()
    d = g.node("d1")
    ghost = Value("ghost", (3,))
    d.inputs[0] = ghost
    ghost.users.append(d)
    with pytest.raises(GraphError, match=r"node 'd1'.*dangling"):
        g.verify()


def test_verify_catches_a_shape_mismatch():
    g = four_node_graph()
    g.node("r1").output.shape = (5,)
    with pytest.raises(GraphError, match=r"node 'r1'.*shape"):
        g.verify()


def test_add_node_rejects_a_shape_mismatch():
    g = four_node_graph()
    with pytest.raises(GraphError, match=r"node 'bad' \(Add\)"):
        g.add_node(Add(), [g.value("q0"), g.value("d1")], name="bad")


def test_verify_catches_a_cycle():
    g = Graph("loop")
    x = g.add_input("x", (2,))
    a = g.add_node(Add(), [x, x], name="a")
    b = g.add_node(Add(), [a.output, x], name="b")
    g.set_input(a, 1, b.output)
    with pytest.raises(GraphError, match=r"cycle through node '(a|b)'"):
        g.verify()


def test_edit_helpers_keep_use_lists_current():
    g = four_node_graph()
    q, r = g.value("q0"), g.node("r1")
    g.bypass(r)
    assert g.outputs == [g.value("d1")]
    assert not g.has_node("r1")
    g.verify()
    c = g.copy()
    assert str(c) == str(g) and c.value("q0") is not q
