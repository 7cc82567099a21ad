"""The qonnx target: qonnx 1.0's executor computes exactly what the interpreter computes.

Every rounding x overflow mode on every tie of a fine grid and on huge values, for homogeneous and
heterogeneous formats (0-bit and 1-bit signed elements included); every op kind on small graphs,
compared value by value (each IR value's tensor carries its name); conv/pool geometries 'same' and
'valid' in the float32 (Conv/AveragePool) and float64 (im2col) lowerings.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from hgq_ir.backends.qonnx_export import execute_qonnx, to_qonnx
from hgq_ir.backends.registry import get_target
from hgq_ir.passes.select_lut import representable_inputs
from qonnx.core.modelwrapper import ModelWrapper

from hgq_ir.ir.errors import NotBitExactWarning, UnsupportedLayerError
from hgq_ir.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, quantize
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import Interpreter, interpret
from hgq_ir.ir.op_base import Weight
from hgq_ir.ir.ops import (
    LUT,
    Activation,
    Add,
    AvgPool1D,
    AvgPool2D,
    BatchNorm,
    Concatenate,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool1D,
    MaxPool2D,
    Quantize,
    Reshape,
    Signature,
)


class Recorder(Interpreter):
    """The interpreter, keeping every value it computes."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.seen: dict[str, np.ndarray] = {}

    def run_node(self, node, args):
        outs = super().run_node(node, args)
        self.seen[node.output.name] = outs[0]
        return outs


def check_every_value(g: Graph, *xs: np.ndarray) -> onnx.ModelProto:
    """Emit ``g``, check the model, run it; every IR value equals the interpreter's on every row."""
    m = to_qonnx(g)
    onnx.checker.check_model(m, full_check=True)
    ModelWrapper(m, make_deepcopy=True)
    rec = Recorder(g)
    rec.run(*xs)
    names = list(rec.seen)
    got = execute_qonnx(m, list(xs), outputs=names)
    for name, y in zip(names, got, strict=True):
        np.testing.assert_array_equal(y, rec.seen[name], err_msg=f"value {name}")
    outs = execute_qonnx(m, list(xs))
    for v, y in zip(g.outputs, outs, strict=True):
        np.testing.assert_array_equal(y, rec.seen[v.name])
    return m


# ---- quantizers: every mode, exhaustive ties, huge values --------------------------------------
def _fmt(k, i, f) -> tuple:
    return np.array(k), np.array(i), np.array(f)


FORMATS = {
    "homogeneous": _fmt(1, 2, 3),
    "unsigned": _fmt(0, 3, 2),
    "negative_f": _fmt(1, 4, -2),
    "one_bit_signed": _fmt(1, 0, 0),
    "zero_bits": _fmt(0, 0, 0),
    "same_kb_per_element_f": _fmt([1] * 8, [0, 1, 2, 3, 4, -1, 2, 5], [5, 4, 3, 2, 1, 6, 3, 0]),
    # b = 0 (unsigned and signed), 1-bit signed (fine and coarse grid), mixed k, negative i and f
    "heterogeneous": _fmt([1, 0, 1, 0, 1, 1, 0, 1], [2, 3, -1, 0, 0, 1, 1, -2], [3, -1, 1, 0, 0, -1, 4, 5]),
}
TIES = np.arange(-40 * 64, 40 * 64 + 1) / 64.0
HUGE = np.array([1e6, -1e6, 2.0**30, -(2.0**30), 12345.678, -33333.3, 2.0**-20, -(2.0**-20), 0.0, 7.999, -8.001])
X_QUANT = np.concatenate([TIES, HUGE.astype(np.float32)]).astype(np.float32)[:, None].repeat(8, axis=1)
MODES = [(r, o) for r in ROUNDING_MODES for o in OVERFLOW_MODES]


def quantizer_bank(fmt: tuple, before: FixedFormat | None = None) -> Graph:
    """One Quantize per rounding x overflow mode, all reading ``x`` (through a Signature ``before``)."""
    g = Graph("bank")
    x = g.add_input("x", (8,))
    if before is not None:
        x = g.add_node(Signature(before), [x], name="sig").output
    outs = [g.add_node(Quantize(FixedFormat(*fmt, r, o)), [x], name=f"q_{r}_{o}").output for r, o in MODES]
    g.set_outputs(outs)
    return g


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_mode_on_every_tie_and_huge_values(name):
    g = quantizer_bank(FORMATS[name])
    outs = execute_qonnx(to_qonnx(g), [X_QUANT])
    for (r, o), y in zip(MODES, outs, strict=True):
        want = quantize(X_QUANT, FixedFormat(*FORMATS[name], r, o))
        np.testing.assert_array_equal(y, want, err_msg=f"{name} {r} {o}")


@pytest.mark.parametrize("before", [FixedFormat(1, 7, 8, "TRN", "SAT"), FixedFormat(1, 1, 2, "TRN", "SAT"),
                                    FixedFormat(0, 2, 4, "TRN", "SAT")])
@pytest.mark.parametrize("name", ["homogeneous", "heterogeneous", "one_bit_signed"])
def test_every_mode_after_a_known_format(name, before):
    # the input's format proves some quantizers cannot overflow or are already on the grid
    check_every_value(quantizer_bank(FORMATS[name], before), X_QUANT)


def test_plain_homogeneous_quantizers_are_one_quant_node():
    for r, mode in (("TRN", "FLOOR"), ("RND_CONV", "ROUND")):
        for o, narrow in (("SAT", 0), ("SAT_SYM", 1)):
            g = Graph("one")
            x = g.add_input("x", (4,))
            g.set_outputs([g.add_node(Quantize(FixedFormat(1, 2, 3, r, o)), [x], name="q").output])
            nodes = to_qonnx(g).graph.node
            assert [n.op_type for n in nodes] == ["Quant"]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
            assert attrs == {"signed": 1, "narrow": narrow, "rounding_mode": mode.encode()}


def test_quantizer_wider_than_float32_warns_naming_the_layer():
    g = Graph("wide")
    x = g.add_input("x", (2,))
    g.set_outputs([g.add_node(Quantize(FixedFormat(1, 10, 20, "TRN", "SAT")), [x], name="q", origin="enc/q").output])
    with pytest.warns(NotBitExactWarning, match="enc/q"):
        to_qonnx(g)


# ---- ops ------------------------------------------------------------------------------------
RNG = np.random.default_rng(7)


def rand_fmt(shape, b_max=6, k=None, rnd="RND", ov="WRAP") -> FixedFormat:
    k = RNG.integers(0, 2, shape) if k is None else np.full(shape, k)
    i = RNG.integers(-1, 3, shape)
    f = np.maximum(RNG.integers(0, b_max, shape), -i - k)
    return FixedFormat(k, i, f, rnd, ov)


def weight(shape, fmt=None) -> Weight:
    fmt = fmt or rand_fmt(shape, ov="SAT")
    return Weight(quantize(RNG.standard_normal(shape), fmt), fmt)


def data(shape, n=512) -> np.ndarray:
    return (RNG.standard_normal((n, *shape)) * RNG.choice([1.0, 8.0, 300.0], (n, *[1] * len(shape)))).astype(
        np.float32)


def test_dense_relu_add_concat_reshape_flatten_lut_batchnorm():
    g = Graph("ops")
    x = g.add_input("x", (6,))
    q = g.add_node(Quantize(rand_fmt((6,))), [x], name="q_in").output
    d = g.add_node(Dense(), [q], name="d", weights={"kernel": weight((6, 8)), "bias": weight((8,))}).output
    r = g.add_node(Activation("relu"), [d], name="r").output
    a = g.add_node(Quantize(rand_fmt((8,), rnd="RND_CONV", ov="SAT")), [r], name="a").output
    b2 = g.add_node(Quantize(rand_fmt((8,), rnd="TRN", ov="SAT_SYM")), [d], name="b").output
    s = g.add_node(Add(), [a, b2, a], name="s").output
    c = g.add_node(Concatenate(axis=0), [s, a], name="c").output
    rs = g.add_node(Reshape((4, 4)), [c], name="rs").output
    fl = g.add_node(Flatten(), [rs], name="fl").output
    in_fmt = FixedFormat(1, 2, 3, "TRN", "WRAP")
    lq = g.add_node(Quantize(in_fmt), [fl], name="lq").output
    table = quantize(np.tanh(representable_inputs(in_fmt)), FixedFormat(1, 0, 6, "RND", "SAT"))
    lut = g.add_node(LUT("tanh", in_fmt, FixedFormat(1, 0, 6), table), [lq], name="lut").output
    bn_w = {"gamma": Weight(RNG.uniform(0.5, 2, 16)), "beta": Weight(RNG.standard_normal(16)),
            "moving_mean": Weight(RNG.standard_normal(16)), "moving_variance": Weight(RNG.uniform(0.5, 2, 16))}
    bn = g.add_node(BatchNorm(), [lut], name="bn", weights=bn_w).output
    out = g.add_node(Quantize(rand_fmt((16,), rnd="RND_ZERO", ov="SAT_ZERO")), [bn], name="out").output
    g.set_outputs([out, c])
    check_every_value(g, data((6,)))


def test_wide_dense_runs_in_float64():
    g = Graph("wide")
    x = g.add_input("x", (5,))
    q = g.add_node(Signature(FixedFormat(1, 8, 12, "TRN", "SAT")), [x], name="sig").output
    d = g.add_node(Dense(), [q], name="d", weights={"kernel": weight((5, 3), FixedFormat(1, 3, 10, "RND", "SAT"))})
    out = g.add_node(Quantize(FixedFormat(1, 6, 4, "RND_INF", "WRAP")), [d.output], name="out").output
    g.set_outputs([out])
    m = check_every_value(g, data((5,)) * 40)
    assert "Cast" in {n.op_type for n in m.graph.node}


GEOMETRIES_2D = [((7, 6, 2), (3, 2), (2, 2)), ((8, 5, 3), (4, 4), (3, 2)), ((5, 5, 2), (2, 2), (1, 1)),
                 ((4, 4, 1), (3, 3), (1, 1))]


@pytest.mark.parametrize("wide", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("geo", GEOMETRIES_2D, ids=lambda g: "x".join(map(str, g[0])))
def test_conv2d_and_pools(geo, padding, wide):
    shape, window, strides = geo
    g = Graph("conv")
    x = g.add_input("x", shape)
    in_fmt = FixedFormat(1, 8, 14, "RND", "SAT") if wide else rand_fmt(shape)
    q = g.add_node(Quantize(in_fmt), [x], name="q").output
    kshape = (*window, shape[-1], 3)
    c = g.add_node(Conv2D(window, strides, padding), [q], name="conv",
                   weights={"kernel": weight(kshape), "bias": weight((3,))}).output
    cq = g.add_node(Quantize(rand_fmt(c.shape, rnd="RND_CONV")), [c], name="cq").output
    mp = g.add_node(MaxPool2D(window, strides, padding), [q], name="mp").output
    ap = g.add_node(AvgPool2D(window, strides, padding), [q], name="ap").output
    g.set_outputs([cq, mp, ap])
    m = check_every_value(g, data(shape) * (50 if wide else 1))
    ops = {n.op_type for n in m.graph.node}
    assert ("Conv" in ops) != wide  # float64 convolutions become im2col MatMuls


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("n, k, s", [(9, 3, 2), (8, 2, 2), (5, 4, 1), (6, 3, 3)])
def test_conv1d_and_pools(n, k, s, padding):
    g = Graph("conv1d")
    x = g.add_input("x", (n, 2))
    q = g.add_node(Quantize(rand_fmt((n, 2))), [x], name="q").output
    c = g.add_node(Conv1D((k,), (s,), padding), [q], name="conv",
                   weights={"kernel": weight((k, 2, 4)), "bias": weight((4,))}).output
    mp = g.add_node(MaxPool1D((k,), (s,), padding), [q], name="mp").output
    ap = g.add_node(AvgPool1D((k,), (s,), padding), [q], name="ap").output
    g.set_outputs([c, mp, ap])
    check_every_value(g, data((n, 2)))


def test_float_activation_warns_and_custom_refuses():
    g = Graph("act")
    x = g.add_input("x", (3,))
    g.set_outputs([g.add_node(Activation("tanh"), [x], name="t", origin="enc/tanh").output])
    with pytest.warns(NotBitExactWarning, match="enc/tanh"):
        to_qonnx(g)
    g = Graph("custom")
    x = g.add_input("x", (3,))
    g.set_outputs([g.add_node(Activation("mine", fn=np.sin), [x], name="c", origin="enc/mine").output])
    with pytest.raises(UnsupportedLayerError, match="enc/mine"):
        to_qonnx(g)


def test_written_file_passes_the_checker_and_opens_in_modelwrapper(tmp_path):
    g = quantizer_bank(FORMATS["heterogeneous"], FixedFormat(1, 3, 3, "TRN", "SAT"))
    path = get_target("qonnx").write(to_qonnx(g), tmp_path / "bank.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    mw = ModelWrapper(str(path))
    assert [i.name for i in mw.graph.input] == ["x"]
    assert mw.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotBitExactWarning)
        got = execute_qonnx(onnx.load(str(path)), [X_QUANT[:64]])
    assert len(got) == len(MODES)


def test_homogeneous_weights_are_a_quant_with_a_scalar_po2_scale_feeding_matmul():
    g = Graph("mlp")
    x = g.add_input("x", (4,))
    q = g.add_node(Signature(FixedFormat(1, 2, 3, "TRN", "SAT")), [x], name="sig").output
    wf = FixedFormat(1, 1, 4, "RND_CONV", "SAT")
    d = g.add_node(Dense(), [q], name="d", weights={"kernel": weight((4, 3), wf), "bias": weight((3,), wf)}).output
    g.set_outputs([g.add_node(Quantize(FixedFormat(1, 3, 2, "RND_CONV", "SAT")), [d], name="out").output])
    m = check_every_value(g, data((4,)))
    nodes = {o: n for n in m.graph.node for o in n.output}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    matmul = next(n for n in m.graph.node if n.op_type == "MatMul")
    wq = nodes[matmul.input[1]]
    assert wq.op_type == "Quant" and wq.input[0] in inits and inits[wq.input[1]].shape == ()
    assert float(inits[wq.input[1]]) == 2.0**-4 and float(inits[wq.input[3]]) == 6.0
    assert [n.op_type for n in m.graph.node if n.output[0] in ("sig", "out")] == ["Quant", "Quant"]


def test_an_input_float32_cannot_hold_warns():
    g = quantizer_bank(FORMATS["homogeneous"])
    with pytest.warns(NotBitExactWarning, match="not exactly float32"):
        execute_qonnx(to_qonnx(g), [np.full((2, 8), 2.0**30 + 2.0**-5)])


@pytest.mark.parametrize("rnd", ["RND", "RND_CONV", "RND_INF", "RND_ZERO", "RND_MIN_INF", "TRN", "TRN_ZERO"])
def test_float32_inputs_next_to_ties_round_exactly(rnd):
    """qonnx rounds HALF_UP/HALF_DOWN as sign(v) * floor(|v| +- 1/2), which rounds in float32 (-0.49999997 -> -1)."""
    from hgq_ir.backends.qonnx_export import execute_qonnx, to_qonnx

    from hgq_ir.ir import FixedFormat, Graph, interpret
    from hgq_ir.ir.ops import Quantize

    f32 = np.float32
    rng = np.random.default_rng(3)
    near = [np.nextafter(f32(t), f32(t) + d) for t in (-2.5, -1.5, -0.5, 0.5, 1.5) for d in (-1, 1)]
    big = [2.0**23 + 1, -(2.0**23) - 1, 2.0**24 + 2]
    spread = rng.standard_normal(500) * 2.0 ** rng.integers(-30, 30, 500)
    x = np.concatenate([near, big, spread]).astype(f32).astype(np.float64)[:, None]
    for overflow in ("SAT", "WRAP"):
        for f in (0, 3, -2):
            g = Graph("t")
            q = g.add_node(Quantize(FixedFormat(1, 8, f, rnd, overflow)), [g.add_input("x", (1,))], name="q")
            g.set_outputs([q.output])
            got = execute_qonnx(to_qonnx(g), [x.astype(f32)])[0]
            np.testing.assert_array_equal(got, interpret(g, x), err_msg=f"{rnd} {overflow} f={f}")


def test_an_output_given_twice_and_an_output_that_is_an_input(multi_io_graph):
    """ONNX tools want one ValueInfo a name (qonnx's ModelWrapper asserts on two; a fuzz finding):
    a value output twice, or an input output as is, goes out through an Identity of its own name."""
    g = multi_io_graph
    m = to_qonnx(g)
    onnx.checker.check_model(m, full_check=True)
    ModelWrapper(m, make_deepcopy=True)
    names = [o.name for o in m.graph.output]
    assert names[0] == "s" and names[2] == "qa" and len(set(names)) == 4 and "b" not in names
    xa, xb = (np.random.default_rng(j).normal(0, 5, (64, 3)).astype(np.float32).astype(np.float64) for j in (0, 1))
    for got, want in zip(execute_qonnx(m, [xa, xb]), interpret(g, [xa, xb]), strict=True):
        np.testing.assert_array_equal(got, want)
