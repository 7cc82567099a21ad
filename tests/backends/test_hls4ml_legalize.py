"""The proxy / hls4ml target's legalization passes: IR text before and after on tiny graphs."""

import numpy as np
from hgq_ir.backends.hls4ml_legalize import (
    CapSatFraction,
    ZeroRoundedAway,
    fused_quantizer_pair,
    output_type_without_bits,
    quantizer_output_cut_by_hls4ml,
)

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import Add, Quantize


def test_cap_sat_fraction_heterogeneous_and_homogeneous():
    g = Graph("cap")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(0, 3, np.array([0, 2]))), [x], name="q")
    s = g.add_node(Quantize(FixedFormat(0, 1, np.array([2, 1]), "TRN", "SAT")), [q.output], name="s")
    h = g.add_node(Quantize(FixedFormat(0, 1, 3, "TRN", "SAT")), [q.output], name="h")
    g.set_outputs([s.output, h.output])
    # before: 3.0 saturates to the largest value of each quantizer's own grid
    s_out, h_out = interpret(g, np.array([[3.0, 3.0]]))
    np.testing.assert_array_equal(s_out, [[1.75, 1.5]])
    np.testing.assert_array_equal(h_out, [[1.875, 1.875]])
    assert CapSatFraction().run(g) is True
    g.verify()
    # element 0 of %s: f 2 > the input's f 0 -> f 0; element 1: f 1 <= 2, kept.
    # %h is homogeneous: one bound from the input's largest f (2)
    assert str(g) == """\
graph cap(%x) -> (%s, %h)
  %x: float[2] = Input()
  %q: fx<k0 i3 f0..2>[2] = Quantize(%x)
  %s: fx<k0 i1 f0..1 TRN SAT>[2] = Quantize(%q)
  %h: fx<k0 i1 f2 TRN SAT>[2] = Quantize(%q)"""
    # after: 3.0 saturates to the largest value on the input's grid, as hls4ml computes it
    s_out, h_out = interpret(g, np.array([[3.0, 3.0]]))
    np.testing.assert_array_equal(s_out, [[1.0, 1.5]])
    np.testing.assert_array_equal(h_out, [[1.75, 1.75]])
    assert CapSatFraction().run(g) is False


def test_zero_rounded_away_gives_constant_zero_elements_no_bits():
    g = Graph("zra")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, np.array([-2, 1]), 4)), [x], name="q")
    r = g.add_node(Quantize(FixedFormat(1, 3, 0, "RND")), [q.output], name="r")
    t = g.add_node(Quantize(FixedFormat(1, 3, 0, "TRN")), [q.output], name="t")
    g.set_outputs([r.output, t.output])
    grid = np.stack([np.arange(-40, 40) / 16, np.arange(-40, 40) / 16], axis=1)
    before = interpret(g, grid)
    assert ZeroRoundedAway().run(g) is True
    g.verify()
    # %q element 0 lies in [-0.25, 0.1875]: rounded to the nearest integer it is always 0, so %r's
    # element 0 becomes 0 bits wide; element 1 ([-2, 1.9375]) keeps fx<k1 i3 f0>. %t truncates:
    # floor(-0.25) = -1, not constant, and TRN reads no rounding bit: untouched.
    assert str(g) == """\
graph zra(%x) -> (%r, %t)
  %x: float[2] = Input()
  %q: fx<k1 i-2..1 f4>[2] = Quantize(%x)
  %r: fx<k0..1 i0..3 f0 RND WRAP>[2] = Quantize(%q)
  %t: fx<k1 i3 f0>[2] = Quantize(%q)"""
    for a, b in zip(interpret(g, grid), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ZeroRoundedAway().run(g) is False


def test_truncation_coarser_than_the_input_range_is_flagged():
    # %a in [-8, 7.9375]; truncating onto a grid of 256 gives -256 for every negative value, but
    # hls4ml allows min(8, 3) + 1 = 4 integer bits: fx<k1 i4 f-8> has -3 bits and becomes 0 bits
    g = Graph("coarse")
    x = g.add_input("x", (1,))
    a = g.add_node(Quantize(FixedFormat(1, 3, 4)), [x], name="a")
    q = g.add_node(Quantize(FixedFormat(1, 8, -8, "TRN", "SAT")), [a.output], name="q")
    g.set_outputs([q.output])
    why = quantizer_output_cut_by_hls4ml(q)
    assert why is not None and "can be -256" in why and "fx<k0 i0 f0>" in why
    assert quantizer_output_cut_by_hls4ml(a) is None  # a float input: nothing to compare


def test_layer_typed_without_bits_is_flagged():
    # %s = a + a in [-0.5, 0.4921875]; the quantizer after it truncates to integers (WRAP): hls4ml
    # types %s with k 1 + i min(-1, 0) + f min(7, 0) = 0 bits, yet floor(-0.25) = -1
    g = Graph("nobits")
    x = g.add_input("x", (1,))
    a = g.add_node(Quantize(FixedFormat(1, -2, 7)), [x], name="a")
    s = g.add_node(Add(), [a.output, a.output], name="s")
    q = g.add_node(Quantize(FixedFormat(1, 0, 0, "TRN", "WRAP")), [s.output], name="q")
    g.set_outputs([q.output])
    why = output_type_without_bits(s)
    assert why is not None and "with 0 bits" in why
    assert output_type_without_bits(q) is None  # a quantizer itself is typed by its own rule


def test_two_homogeneous_quantizers_in_a_row_are_flagged_unless_the_first_changes_nothing_after_the_second():
    def chain(q1: FixedFormat, q2: FixedFormat) -> Graph:
        g = Graph("pair")
        x = g.add_input("x", (1,))
        a = g.add_node(Quantize(FixedFormat(1, 3, 2)), [x], name="a")
        s = g.add_node(Add(), [a.output, a.output], name="s")  # fx<k1 i4 f2>: [-16, 15.5]
        first = g.add_node(Quantize(q1), [s.output], name="q1")
        second = g.add_node(Quantize(q2), [first.output], name="q2")
        g.set_outputs([second.output])
        return g

    # q1 saturates 7 to 3.75, q2 then truncates to 3; hls4ml keeps q2 only: 7
    g = chain(FixedFormat(1, 2, 2, "TRN", "SAT"), FixedFormat(1, 4, 0, "TRN", "WRAP"))
    why = fused_quantizer_pair(g.node("q2"))
    assert why is not None and "'q1'" in why and "'s'" in why
    # floor to 0.5, then to 1, is floor to 1 (no overflow either way): nothing to flag
    g = chain(FixedFormat(1, 4, 1, "TRN", "WRAP"), FixedFormat(1, 4, 0, "TRN", "WRAP"))
    assert fused_quantizer_pair(g.node("q2")) is None
