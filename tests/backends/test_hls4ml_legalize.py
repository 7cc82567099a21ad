"""The proxy / hls4ml target's legalization passes: IR text before and after on tiny graphs."""

import numpy as np
from hgq_ir.backends.hls4ml_legalize import CapSatFraction

from hgq_ir.ir.fixed import FixedFormat
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import Quantize


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
