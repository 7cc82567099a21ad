"""Every pass of the default pipeline: IR text before and after on a tiny graph."""

import numpy as np
from hgq_ir.passes.assign_overflow import AssignOverflow
from hgq_ir.passes.flatten_nested import FlattenNested
from hgq_ir.passes.fuse_batchnorm import FuseBatchNorm
from hgq_ir.passes.infer_formats import InferFormats

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph, Weight
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import Activation, Add, BatchNorm, Dense, Quantize, Submodel

KERNEL = Weight(np.array([[1.0, 0.5], [0.25, -1.0]]))


def nested() -> Graph:
    inner = Graph("enc")
    a = inner.add_input("a", (2,))
    d = inner.add_node(Dense(), [a], name="d", weights={"kernel": KERNEL}, origin="enc/d")
    r = inner.add_node(Activation("relu"), [d.output], name="r", origin="enc/r")
    inner.set_outputs([r.output])
    g = Graph("outer")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 2, 2)), [x], name="q")
    s = g.add_node(Submodel(graph=inner), [q.output], name="enc")
    o = g.add_node(Add(), [s.output, q.output], name="o")
    g.set_outputs([o.output])
    return g


def test_flatten_nested():
    g = nested()
    assert str(g) == """\
graph outer(%x) -> (%o)
  %x: float[2] = Input()
  %q: fx<k1 i2 f2>[2] = Quantize(%x)
  %enc: fx<k0 i3 f3..4>[2] = Submodel(%q) graph=enc
    graph enc(%a) -> (%r)
      %a: float[2] = Input()
      %d: float[2] = Dense(%a) kernel=float[2,2]
      %r: float[2] = Activation(%d) function=relu
  %o: fx<k1 i4 f3..4>[2] = Add(%enc, %q)"""
    x = np.array([[1.3, -0.6], [0.2, 1.9]])
    before = interpret(g, x)
    assert FlattenNested().run(g) is True
    InferFormats().run(g)
    assert str(g) == """\
graph outer(%x) -> (%o)
  %x: float[2] = Input()
  %q: fx<k1 i2 f2>[2] = Quantize(%x)
  %enc_d: fx<k1 i3 f3..4>[2] = Dense(%q) kernel=float[2,2]
  %enc_r: fx<k0 i3 f3..4>[2] = Activation(%enc_d) function=relu
  %o: fx<k1 i4 f3..4>[2] = Add(%enc_r, %q)"""
    assert g.node("enc_d").origin == "enc/d"
    np.testing.assert_array_equal(interpret(g, x), before)
    assert FlattenNested().run(g) is False


def test_fuse_batchnorm():
    g = Graph("bn")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 2, 2)), [x], name="q")
    d = g.add_node(Dense(), [q.output], name="d", weights={"kernel": KERNEL, "bias": Weight(np.array([0.5, 0.0]))})
    bn_w = {"gamma": [2.0, 1.0], "beta": [0.0, 1.0], "moving_mean": [0.5, 0.0], "moving_variance": [1.0, 4.0]}
    b = g.add_node(BatchNorm(epsilon=0.0), [d.output], name="bn",
                   weights={k: Weight(np.array(v)) for k, v in bn_w.items()})
    g.set_outputs([b.output])
    x_in = np.array([[1.25, -0.5], [0.75, 1.5]])
    before = interpret(g, x_in)
    assert FuseBatchNorm().run(g) is True
    InferFormats().run(g)
    assert str(g) == """\
graph bn(%x) -> (%d)
  %x: float[2] = Input()
  %q: fx<k1 i2 f2>[2] = Quantize(%x)
  %d: fx<k1 i2..4 f3..4>[2] = Dense(%q) kernel=float[2,2] bias=float[2]"""
    # s = gamma / sqrt(var) = [2, 0.5]; t = beta - mean * s = [-1, 1]
    np.testing.assert_array_equal(g.node("d").weights["kernel"].array, [[2.0, 0.25], [0.5, -0.5]])
    np.testing.assert_array_equal(g.node("d").weights["bias"].array, [0.0, 1.0])
    np.testing.assert_array_equal(interpret(g, x_in), before)


def overflow_graph() -> Graph:
    g = Graph("ov")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 1, 2)), [x], name="q")
    safe = g.add_node(Quantize(FixedFormat(1, 2, 3, "RND")), [q.output], name="safe")
    tight = g.add_node(Quantize(FixedFormat(1, 0, 1, "RND")), [q.output], name="tight")
    o = g.add_node(Add(), [safe.output, tight.output], name="o")
    g.set_outputs([o.output])
    return g


def test_assign_overflow_conservative_saturates_only_where_overflow_is_possible():
    g = overflow_graph()
    assert AssignOverflow(aggressive=False).run(g) is True
    assert str(g) == """\
graph ov(%x) -> (%o)
  %x: float[2] = Input()
  %q: fx<k1 i1 f2 TRN SAT>[2] = Quantize(%x)
  %safe: fx<k1 i2 f3 RND WRAP>[2] = Quantize(%q)
  %tight: fx<k1 i0 f1 RND SAT>[2] = Quantize(%q)
  %o: fx<k1 i3 f3>[2] = Add(%safe, %tight)"""
    assert AssignOverflow(aggressive=False).run(g) is False


def test_assign_overflow_aggressive_wraps_everywhere():
    g = overflow_graph()
    text = str(g)
    assert AssignOverflow(aggressive=True).run(g) is False  # everything already wraps
    assert str(g) == text


def test_aggressive_rewrites_saturation_to_wrap():
    # conservative first (SAT where overflow is possible), then aggressive: a real SAT -> WRAP rewrite
    g = overflow_graph()
    AssignOverflow(aggressive=False).run(g)
    x = np.array([[1.75, -2.0]])  # %q saturates nothing; %tight overflows on both elements
    np.testing.assert_array_equal(interpret(g, x), [[1.75 + 0.5, -2.0 - 1.0]])
    assert AssignOverflow(aggressive=True).run(g) is True
    assert str(g) == """\
graph ov(%x) -> (%o)
  %x: float[2] = Input()
  %q: fx<k1 i1 f2>[2] = Quantize(%x)
  %safe: fx<k1 i2 f3 RND WRAP>[2] = Quantize(%q)
  %tight: fx<k1 i0 f1 RND WRAP>[2] = Quantize(%q)
  %o: fx<k1 i3 f3>[2] = Add(%safe, %tight)"""
    # fx<k1 i0 f1> holds the codes -2..1 (-1.0..0.5): 1.75 rounds to 2.0 (code 4) and -2.0 is code
    # -4; both wrap to code 0
    np.testing.assert_array_equal(interpret(g, x), [[1.75 + 0.0, -2.0 + 0.0]])


def test_assign_overflow_keeps_a_clipping_quantizer():
    # a QKeras quantizer clips whatever ``aggressive`` says: SAT stays SAT, and the flag is printed
    g = Graph("clip")
    x = g.add_input("x", (2,))
    c = g.add_node(Quantize(FixedFormat(1, 0, 1, "RND_CONV", "SAT"), clips=True), [x], name="c")
    g.set_outputs([c.output])
    assert AssignOverflow(aggressive=True).run(g) is False
    assert str(g) == """\
graph clip(%x) -> (%c)
  %x: float[2] = Input()
  %c: fx<k1 i0 f1 RND_CONV SAT>[2] = Quantize(%x) clips=True"""
    np.testing.assert_array_equal(interpret(g, np.array([[3.0, -3.0]])), [[0.5, -1.0]])
    assert g.nodes[1].op.with_format(FixedFormat(1, 1, 1)).clips  # a legalization keeps the flag
