"""The proxy / hls4ml target's legalization passes: IR text before and after on tiny graphs."""

import numpy as np
from hgq_ir.backends.hls4ml_legalize import (
    CapSatFraction,
    FitLUTInputs,
    ZeroRoundedAway,
    fused_quantizer_pair,
    lut_index_cut_by_hls4ml,
    output_type_without_bits,
    quantizer_output_cut_by_hls4ml,
)
from hgq_ir.passes.select_lut import representable_inputs

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import LUT, Add, Quantize


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


def _lut_after_truncation(i0: int, f0: int) -> Graph:
    """x -> Quantize fx<k1 i3 f2> -> Quantize (element 0: fx<k1 i{i0} f{f0} TRN>, element 1: fx<k1 i3 f0 TRN>)
    -> LUT indexed on fx<k1 i9 f0>, whose table is input / 512."""
    g = Graph("lut_cut")
    x = g.add_input("x", (2,))
    q1 = g.add_node(Quantize(FixedFormat(1, 3, 2, "RND", "WRAP")), [x], name="q1")
    q3 = g.add_node(Quantize(FixedFormat(1, np.array([i0, 3]), np.array([f0, 0]), "TRN", "WRAP")), [q1.output],
                    name="q3")
    index = FixedFormat(1, 9, 0)
    lut = g.add_node(LUT("ident", index, FixedFormat(1, 0, 9), representable_inputs(index) / 512), [q3.output],
                     name="lut")
    g.set_outputs([lut.output])
    return g


def test_lut_indexed_with_a_type_too_narrow_for_its_input_keeps_its_table_and_is_flagged():
    # q3's element 0 truncates [-8, 7.75] onto a grid of 256: -256 or 0. hls4ml types q3 by the max over
    # elements: element 0 gets no bits (its format narrowed to the input's is below 1 bit), element 1
    # fx<k1 i3 f0> -> ap_fixed<4,4>, [-8, 7]: -256 would index entry 0 (softsign(0) in the fuzzer's model).
    g = _lut_after_truncation(9, -8)
    x = np.array([[-0.25, 3.0], [5.5, -7.0]])
    before = interpret(g, x)
    np.testing.assert_array_equal(before, [[-256 / 512, 3 / 512], [0.0, -7 / 512]])
    why = lut_index_cut_by_hls4ml(g.node("lut"))
    assert why is not None and "ap_fixed<4,4>" in why and "element (0,) can be -256" in why, why
    assert FitLUTInputs().run(g) is False  # the IR's meaning stays: the proxy computes the model
    np.testing.assert_array_equal(interpret(g, x), before)


def test_lut_indexed_with_a_type_that_holds_its_input_is_rebuilt_on_it():
    g = _lut_after_truncation(3, 0)  # both elements fx<k1 i3 f0 TRN>: [-8, 7], which ap_fixed<4,4> holds
    x = np.array([[-0.25, 3.0], [5.5, -7.0], [-8.0, 7.75]])
    before = interpret(g, x)
    np.testing.assert_array_equal(before, [[-1 / 512, 3 / 512], [5 / 512, -7 / 512], [-8 / 512, 7 / 512]])
    assert lut_index_cut_by_hls4ml(g.node("lut")) is None
    assert FitLUTInputs().run(g) is True
    assert g.node("lut").op.in_format == FixedFormat(1, 3, 0) and len(g.node("lut").op.table) == 16
    np.testing.assert_array_equal(interpret(g, x), before)
