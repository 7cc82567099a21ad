"""``select_lut`` on hand-built graphs: when an activation becomes a table, and what the table computes.

The graph is ``Input -> Quantize(in) -> Activation -> Quantize(out)``; the input quantizer has
width ``b``, so the table needs ``2**b`` entries. Expected values are computed here from the
formats alone (every representable input enumerated independently, then ``quantize(fn(x), out)``).
"""

import numpy as np
import pytest
from hgq_ir.passes.select_lut import SelectLUT

from hgq_ir.ir.errors import TableTooLargeError, UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import Activation, Quantize

IN_FMT = FixedFormat(1, 2, 3)  # b = 6: 64 representable inputs
OUT_FMT = FixedFormat(1, 0, 4, "RND", "SAT")
WIDTH = 6


def chain(act=None, in_fmt=IN_FMT, out_fmt=OUT_FMT, shape=(4,)):
    """``x -> q_in -> act -> q_out``; the activation node has origin ``enc/act``."""
    g = Graph("lut")
    x = g.add_input("x", shape)
    q = g.add_node(Quantize(in_fmt), [x], name="q_in")
    a = g.add_node(act or Activation("tanh"), [q.output], name="act", origin="enc/act")
    o = g.add_node(Quantize(out_fmt), [a.output], name="q_out")
    g.set_outputs([o.output])
    return g


def grid(k, i, f):
    """Every value of the scalar format (k, i, f), ascending: integers n * 2**-f in range."""
    lo = -(2 ** (i + f)) if k else 0
    return np.arange(lo, 2 ** (i + f)) * 2.0**-f


def act_nodes(g):
    return [n for n in g.nodes if n.op.kind in ("Activation", "LUT")]


def test_grid_helper():
    assert grid(1, 2, 3).size == 2**WIDTH and grid(1, 2, 3)[[0, -1]].tolist() == [-4.0, 4.0 - 1 / 8]
    assert grid(0, 1, 2).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def test_table_exactly_at_the_limit_becomes_lut():
    g = chain()
    assert SelectLUT(max_table_size=2**WIDTH).run(g) is True
    g.verify()
    (node,) = act_nodes(g)
    assert node.op.kind == "LUT" and node.op.function == "tanh"
    assert len(node.op.table) == 2**WIDTH
    assert node.origin == "enc/act"
    assert [n.op.kind for n in g.nodes] == ["Input", "Quantize", "LUT", "Quantize"]
    assert SelectLUT(max_table_size=2**WIDTH).run(g) is False  # nothing left to rewrite


@pytest.mark.parametrize("limit", [2**WIDTH - 1, 0, -1])
def test_table_over_the_limit_or_off_stays_activation(limit):
    g = chain()
    before = str(g)
    assert SelectLUT(max_table_size=limit).run(g) is False
    (node,) = act_nodes(g)
    assert node.op.kind == "Activation" and node.op.function == "tanh"
    assert str(g) == before


@pytest.mark.parametrize("limit", [2**WIDTH - 1, 0, -1])
def test_custom_function_over_the_limit_raises(limit):
    g = chain(Activation("mine", fn=np.sin))
    with pytest.raises(TableTooLargeError) as info:
        SelectLUT(max_table_size=limit).run(g)
    msg = str(info.value)
    assert "'enc/act'" in msg and "mine" in msg and str(2**WIDTH) in msg


def test_custom_function_within_the_limit_becomes_lut():
    g = chain(Activation("mine", fn=np.sin))
    assert SelectLUT(max_table_size=2**WIDTH).run(g) is True
    (node,) = act_nodes(g)
    assert node.op.kind == "LUT" and len(node.op.table) == 2**WIDTH
    x = grid(1, 2, 3).reshape(-1, 4)
    np.testing.assert_array_equal(interpret(g, x), quantize(np.sin(x), OUT_FMT))


def test_custom_function_without_quantizer_after_raises():
    g = Graph("bare")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 1, 1)), [x], name="q")
    a = g.add_node(Activation("mine", fn=np.sin), [q.output], name="act", origin="enc/act")
    g.set_outputs([a.output])
    with pytest.raises(TableTooLargeError, match="'enc/act'"):
        SelectLUT(max_table_size=1024).run(g)


def test_tanh_as_graph_output_stays_activation():
    g = Graph("bare")
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 1, 1)), [x], name="q")
    a = g.add_node(Activation("tanh"), [q.output], name="act")
    g.set_outputs([a.output])
    assert SelectLUT(max_table_size=1024).run(g) is False
    assert act_nodes(g)[0].op.kind == "Activation"


# (k, i, f) of the input quantizer, output format
LUT_CASES = {
    "signed_rnd_sat": ((1, 2, 3), FixedFormat(1, 0, 4, "RND", "SAT")),
    "signed_trn_wrap": ((1, 2, 3), FixedFormat(1, 0, 4)),
    "unsigned_in": ((0, 2, 4), FixedFormat(0, 0, 5, "RND", "SAT")),
    "coarse_in_grid": ((1, 3, -1), FixedFormat(1, 1, 3, "RND", "WRAP")),
    "fine_out": ((1, 1, 4), FixedFormat(1, 0, 9, "RND", "SAT")),
    "out_rnd_conv": ((1, 2, 3), FixedFormat(1, 0, 4, "RND_CONV", "SAT")),
    "out_rnd_zero": ((1, 2, 3), FixedFormat(1, 0, 4, "RND_ZERO", "SAT")),
    "out_rnd_inf": ((1, 2, 3), FixedFormat(1, 0, 4, "RND_INF", "SAT")),
    "out_rnd_min_inf": ((1, 2, 3), FixedFormat(1, 0, 4, "RND_MIN_INF", "SAT")),
    "out_trn_zero": ((1, 2, 3), FixedFormat(1, 0, 4, "TRN_ZERO", "SAT")),
}


@pytest.mark.parametrize("case", sorted(LUT_CASES))
def test_lut_equals_quantized_tanh_on_every_input(case):
    (k, i, f), out_fmt = LUT_CASES[case]
    g = chain(in_fmt=FixedFormat(k, i, f), out_fmt=out_fmt, shape=(1,))
    assert SelectLUT(max_table_size=1024).run(g) is True
    g.verify()
    assert act_nodes(g)[0].op.kind == "LUT"
    x = grid(k, i, f)[:, None]
    got = interpret(g, x)
    expected = quantize(np.tanh(x), out_fmt)
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, (f"{bad.size} of {x.size} inputs differ, e.g. x={x[bad[:4], 0].tolist()}: "
                           f"LUT {got[bad[:4], 0].tolist()} != quantize(tanh) {expected[bad[:4], 0].tolist()}")


def test_lut_on_heterogeneous_input_format():
    """Per-element input formats: one table over their homogeneous cover serves every element."""
    in_fmt = FixedFormat([1, 0, 1], [2, 1, 0], [3, 3, 2])  # cover (1, 2, 3): 64 entries
    g = chain(in_fmt=in_fmt, shape=(3,))
    assert SelectLUT(max_table_size=2**WIDTH).run(g) is True
    assert len(act_nodes(g)[0].op.table) == 2**WIDTH
    for col, (k, i, f) in enumerate([(1, 2, 3), (0, 1, 3), (1, 0, 2)]):
        x = np.zeros((2 ** (k + i + f), 3))
        x[:, col] = grid(k, i, f)
        np.testing.assert_array_equal(interpret(g, x)[:, col], quantize(np.tanh(x[:, col]), OUT_FMT))


def test_rewrite_keeps_the_meaning_of_the_graph():
    """The LUT graph equals the Activation graph (float64 tanh, then the output quantizer)."""
    x = np.linspace(-5, 5, 97).reshape(-1, 1)  # off-grid and out-of-range inputs too
    g = chain(shape=(1,))
    before = interpret(g, x)
    SelectLUT(max_table_size=1024).run(g)
    np.testing.assert_array_equal(interpret(g, x), before)


def test_tie_breaking_rounding_on_a_per_element_grid_is_not_tabled():
    # RND_CONV breaks ties by parity: a table on one grid cannot serve elements of different grids
    out = FixedFormat(1, 0, np.array([2, 3, 4, 4]), "RND_CONV", "SAT")
    g = chain(out_fmt=out)
    text = str(g)
    assert SelectLUT(max_table_size=2**WIDTH).run(g) is False
    assert str(g) == text
    g = chain(act=Activation("mine", fn=np.sin), out_fmt=out)
    with pytest.raises(UnsupportedLayerError, match="'enc/act'.*RND_CONV"):
        SelectLUT(max_table_size=2**WIDTH).run(g)


def test_constant_zero_input_and_all_zero_table_still_get_one_bit_types():
    # every input element 0 bits: the table is indexed by a 1-bit type whose raw bits are always 0
    g = chain(act=Activation("sigmoid"), in_fmt=FixedFormat(0, 0, 0), out_fmt=FixedFormat(0, 0, 2, "RND"))
    assert SelectLUT(max_table_size=2).run(g) is True
    (lut,) = act_nodes(g)
    assert int(lut.op.in_format.b.flat[0]) == 1 and int(lut.op.out_format.b.flat[0]) >= 1
    np.testing.assert_array_equal(interpret(g, np.full((3, 4), 7.0)), np.full((3, 4), 0.5))
    # tanh into a 0-bit quantizer: the entries are floor(tanh) on the integer grid, the output all 0
    g = chain(out_fmt=FixedFormat(0, 0, 0))
    assert SelectLUT(max_table_size=2**WIDTH).run(g) is True
    (lut,) = act_nodes(g)
    assert int(lut.op.out_format.b.flat[0]) >= 1
    np.testing.assert_array_equal(interpret(g, np.linspace(-3, 3, 8).reshape(2, 4)), np.zeros((2, 4)))


def test_float32_flush_to_zero_is_detected():
    from hgq_ir.passes.select_lut import float32_flush_differs

    # mish(-87) = -1.43e-36 in float32; times 2**-8 it is -5.6e-39, below float32's smallest normal
    # 2**-126 = 1.18e-38: TensorFlow flushes it to 0 and floors to 0, the exact quantizer floors to -1
    v = np.array([-1.431856e-36])
    assert float32_flush_differs(v, FixedFormat(1, 9, -8, "TRN"))
    assert not float32_flush_differs(v, FixedFormat(1, 9, 0, "RND"))  # rounds to 0 either way
    assert not float32_flush_differs(np.array([-3.0]), FixedFormat(1, 9, -8, "TRN"))
    # one f for elements whose i differs (f stored unbroadcast): the grid is still checked
    assert float32_flush_differs(v, FixedFormat(1, np.array([9, 10]), -8, "TRN"))
