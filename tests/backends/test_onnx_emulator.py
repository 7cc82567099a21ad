"""The onnx target: onnxruntime on the emitted model == hgq_ir.interpret, bit for bit, on every row.

Quantizers: every rounding x overflow mode on homogeneous and per-element formats (0-bit elements,
1-bit signed, unsigned, coarse grids), on every tie of a fine grid and on huge values, once reading
a graph input (a float of unknown range: every step emitted) and once reading a quantized value
(the format-proven shortcuts). Then each op kind in small graphs, window geometries, lookup tables
with negative codes, several inputs and outputs, and the naming contract (every IR value is the
tensor of its name).
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hgq_ir.backends import onnx_emulator
from hgq_ir.backends.onnx_emulator import to_onnx
from hgq_ir.backends.registry import get_target

from hgq_ir.emulator import Emulator, _prune
from hgq_ir.ir import fixed
from hgq_ir.ir.errors import ConfigError, InexactError, NotBitExactWarning, UnsupportedLayerError
from hgq_ir.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, quantize
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.graph import Graph, Weight
from hgq_ir.ir.interpret import Interpreter, interpret
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
)

RNG = np.random.default_rng(11)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A checked model's CPU session (the checker runs on every emitted model)."""
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_onnx(graph: Graph, xs: list[np.ndarray], model: onnx.ModelProto | None = None) -> list[np.ndarray]:
    model = model or to_onnx(graph)
    feeds = {v.name: np.asarray(x, dtype=np.float64) for v, x in zip(graph.inputs, xs, strict=True)}
    return session(model).run(None, feeds)


def assert_matches(graph: Graph, *xs: np.ndarray) -> list[np.ndarray]:
    """ORT == interpret on every output (and every declared output is float64 named after its value),
    with float64 graph inputs, then with float32 ones on the data rounded to float32 (float32 end to end)."""
    model = to_onnx(graph)
    assert [o.name for o in model.graph.output] == [v.name for v in graph.outputs]
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE for o in model.graph.output)
    got = run_onnx(graph, list(xs), model)
    want = Interpreter(graph).run(*xs)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float64
        np.testing.assert_array_equal(g, w)
    x32 = [_pad4(np.asarray(x, dtype=np.float32)) for x in xs]  # 4 rows as one in per-element quantizers
    model32 = to_onnx(graph, input_dtype=np.float32, row_block=4)
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE for o in model32.graph.output)
    got32 = session(model32).run(None, {v.name: x for v, x in zip(graph.inputs, x32, strict=True)})
    for g, w in zip(got32, Interpreter(graph).run(*x32), strict=True):
        np.testing.assert_array_equal(g, w)
    return got


def _pad4(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, RNG.normal(0, 4, (-len(x) % 4, *x.shape[1:])).astype(x.dtype)])


# ---- quantizers -------------------------------------------------------------------------
FORMATS = {
    "homogeneous": FixedFormat(1, 2, 3),
    "unsigned": FixedFormat(0, 3, 2),
    "hetero": FixedFormat(np.array([1, 0, 1, 0, 1, 1, 0, 1]), np.array([2, 3, 0, -2, 4, 0, 0, -3]),
                          np.array([3, 1, 4, 6, -2, 0, 0, 3])),  # b = 6,4,5,4,3,1(1-bit signed),0,1
    "one_bit_signed": FixedFormat(1, np.array([0, 2, -1]), np.array([0, -2, 1])),
    "coarse": FixedFormat(np.array([1, 0, 1]), np.array([5, 6, 3]), np.array([-2, -1, 0])),
}
TIES = np.arange(-40 * 64, 40 * 64 + 1) / 64.0  # every tie of every grid up to 2**-6
HUGE = np.array([1e6, -1e6, 2.0**30, -(2.0**30), 2.0**30 + 2.0**-5, -(2.0**30) - 2.0**-5, 1e6 + 0.5, -1e6 - 0.5])
ODD = np.array([0.49999999999999994, -0.49999999999999994, 1.4999999999999998, 2.5000000000000004, -0.0,
                5e-324, -5e-324, 1e-300, 0.1, -0.1, 1 / 3])


def _rows(e: int) -> np.ndarray:
    vals = np.concatenate([TIES, HUGE, ODD, RNG.normal(0, 20, 500)])
    x = np.repeat(vals[:, None], e, axis=1)
    return x + 0.0 * RNG.normal(size=x.shape)  # every element sees every value


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@pytest.mark.parametrize("rnd", ROUNDING_MODES)
def test_quantize_every_mode_on_ties_and_huge_values(rnd, overflow):
    for label, base in FORMATS.items():
        fmt = base.with_modes(rnd, overflow)
        e = fmt.shape[0] if fmt.shape else 4
        x = _rows(e)
        # a graph input (unknown range) and a quantized value (known format: shortcuts) feeding the quantizer
        g = Graph(f"q_{label}")
        v = g.add_input("x", (e,))
        direct = g.add_node(Quantize(fmt), [v], name="direct")
        wide = g.add_node(Quantize(FixedFormat(1, 31, 7, "RND_CONV", "SAT")), [v], name="wide")
        known = g.add_node(Quantize(fmt), [wide.output], name="known")
        whole = g.add_node(Quantize(FixedFormat(1, 31, -2, "TRN", "SAT")), [v], name="whole")  # on every grid
        on_grid = g.add_node(Quantize(fmt), [whole.output], name="on_grid")  # overflow only, in value units
        g.set_outputs([direct.output, known.output, on_grid.output])
        got = run_onnx(g, [x])
        np.testing.assert_array_equal(got[0], quantize(x, fmt), err_msg=label)
        np.testing.assert_array_equal(got[1], quantize(quantize(x, wide.op.format), fmt), err_msg=label)
        np.testing.assert_array_equal(got[2], quantize(quantize(x, whole.op.format), fmt), err_msg=label)


def _float32_rows(e: int) -> np.ndarray:
    """Float32 values next to every tie (one float32 ulp either side), odd integers in [2**23, 2**24) scaled
    onto each grid (where float32 ``v + 1/2`` would round to even), huge values (up to 2**40), subnormals, -0."""
    f32 = np.float32
    ties = TIES.astype(f32)
    near = np.concatenate([np.nextafter(ties, f32(np.inf)), np.nextafter(ties, f32(-np.inf))])
    odd = np.array([(2**23 + j) * 2.0**-f for j in (1, 3, 2**23 - 1) for f in range(-3, 8)])
    huge = np.array([2.0**40, 2.0**40 - 2**17, 1e11 + 1.5, 3e7 + 0.25, 2.0**24 + 2])
    tiny = np.array([1e-45, 1.1754942e-38, 1.17549435e-38, 1e-40, 2.0**-60, 0.0, -0.0])
    vals = np.concatenate([ties, near, odd, -odd, huge, -huge, tiny, -tiny, RNG.normal(0, 20, 500)]).astype(f32)
    return np.repeat(vals[:, None], e, axis=1)


def _types(model: onnx.ModelProto) -> dict[str, int]:
    infos = [*model.graph.value_info, *model.graph.input, *model.graph.output]
    return {vi.name: vi.type.tensor_type.elem_type for vi in infos}


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@pytest.mark.parametrize("rnd", ROUNDING_MODES)
def test_quantize_float32_inputs_every_mode_next_to_ties_huge_and_subnormal(rnd, overflow):
    """Float32 graph inputs: quantizers compute in float32 (grids 2**-f, f >= 0) or from float32 values in
    float64 (the cheap rounding), exactly; a 24-bit quantized value feeds a float32 quantizer."""
    for label, base in FORMATS.items():
        fmt = base.with_modes(rnd, overflow)
        e = fmt.shape[0] if fmt.shape else 4
        x = _float32_rows(e)
        g = Graph(f"q32_{label}")
        v = g.add_input("x", (e,))
        direct = g.add_node(Quantize(fmt), [v], name="direct")
        mid = g.add_node(Quantize(FixedFormat(1, 18, 5, "RND_CONV", "WRAP")), [v], name="mid")  # 24 bits
        known = g.add_node(Quantize(fmt), [mid.output], name="known")
        hidden = g.add_node(Quantize(fmt), [v], name="hidden")  # not an output: float32 where it can be
        inner = g.add_node(Activation("relu"), [hidden.output], name="inner")
        again = g.add_node(Quantize(fmt), [inner.output], name="again")
        wide = g.add_node(Quantize(FixedFormat(1, 20, 10, rnd, overflow)), [v], name="wide")  # float64, cheap
        g.set_outputs([direct.output, known.output, again.output, wide.output])
        x = _pad4(x)
        model = to_onnx(g, input_dtype=np.float32, row_block=4)  # per-element formats: 4 rows as one
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert all(o.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE for o in model.graph.output)
        if np.all((fmt.b <= 0) | (fmt.f >= 0)):  # quantizers of float32 inputs onto grids 2**-f, f >= 0: float32
            assert _types(model)["inner"] == onnx.TensorProto.FLOAT, label
        got = session(model).run(None, {"x": x})
        x64 = x.astype(np.float64)
        want_direct = quantize(x64, fmt)
        np.testing.assert_array_equal(got[0], want_direct, err_msg=label)
        np.testing.assert_array_equal(got[1], quantize(quantize(x64, mid.op.format), fmt), err_msg=label)
        np.testing.assert_array_equal(got[2], quantize(np.maximum(want_direct, 0), fmt), err_msg=label)
        np.testing.assert_array_equal(got[3], quantize(x64, wide.op.format), err_msg=label)


def test_kernels_compute_in_float32_only_within_24_bits():
    g = Graph("f32_kernels")
    x = _quantized_input(g, (8,), FixedFormat(1, 6, 6, "RND", "WRAP"))  # 13 bits
    narrow = g.add_node(Dense(), [x], name="narrow", weights={"kernel": Weight(_kernel(8, 3))})  # < 24 bits
    wide = g.add_node(Dense(), [x], name="wide",
                      weights={"kernel": Weight(RNG.integers(-2**12, 2**12, (8, 3)) / 2.0**9)})  # > 24 bits
    sums = g.add_node(Add(), [narrow.output, narrow.output], name="sums")
    qn = g.add_node(Quantize(FixedFormat(1, 4, 2, "RND", "WRAP")), [sums.output], name="qn")
    qw = g.add_node(Quantize(FixedFormat(1, 4, 2, "RND", "WRAP")), [wide.output], name="qw")
    g.set_outputs([qn.output, qw.output])
    fmts = propagate(g, input_formats=[None])
    assert fixed.required_bits(fmts["wide"]) > 24 >= fixed.required_bits(fmts["sums"])
    for dtype in (np.float64, np.float32):
        types = _types(to_onnx(g, input_dtype=dtype))
        assert types["narrow"] == types["sums"] == onnx.TensorProto.FLOAT
        assert types["wide"] == onnx.TensorProto.DOUBLE
    xs = RNG.normal(0, 30, (3000, 8))
    assert_matches(g, xs)
    model = to_onnx(g, input_dtype=np.float32)
    got = session(model).run(None, {"x": xs.astype(np.float32)})
    for gv, w in zip(got, interpret(g, xs.astype(np.float32)), strict=True):
        np.testing.assert_array_equal(gv, w)


def test_average_pool_of_far_apart_grids_stays_float64():
    # each cell fits 16 bits, but a window sums 2**14-sized and 2**-15-grid cells: 30 bits, beyond float32
    g = Graph("apart")
    x = _quantized_input(g, (2, 3), FixedFormat(1, np.array([[14], [0]]), np.array([[0], [15]]), "RND", "WRAP"))
    p = g.add_node(AvgPool1D(window=(2,), strides=(2,), padding="valid"), [x], name="p")
    q = g.add_node(Quantize(FixedFormat(1, 15, 16, "TRN", "WRAP")), [p.output], name="q")
    g.set_outputs([q.output])
    assert _types(to_onnx(g, input_dtype=np.float32))["p"] == onnx.TensorProto.DOUBLE
    assert_matches(g, RNG.normal(0, 2**12, (300, 2, 3)))


def test_emulator_runs_float32_data_on_the_float32_model_and_other_data_on_float64():
    g = Graph("auto")
    x = _quantized_input(g, (5,), FixedFormat(1, 3, 4, "RND", "WRAP"))
    d = g.add_node(Dense(), [x], name="d", weights={"kernel": Weight(_kernel(5, 2))})
    g.set_outputs([g.add_node(Quantize(FixedFormat(1, 2, 2, "TRN", "SAT")), [d.output], name="q").output])
    em = Emulator(g)
    assert em.model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x32 = RNG.normal(0, 9, (500, 5)).astype(np.float32)
    x64 = x32.astype(np.float64) + 2.0**-40  # no longer float32 values
    for data in (x32, x32.astype(np.float64), x64, x64 * 1e6):
        np.testing.assert_array_equal(em(data, batch_size=64), interpret(g, data))
    assert set(em._models) == {"float32", "float64"}
    np.testing.assert_array_equal(Emulator(g, input_dtype="float64")(x32), interpret(g, x32))
    strict = Emulator(g, input_dtype="float32")
    np.testing.assert_array_equal(strict(x32.astype(np.float64)), interpret(g, x32))
    with pytest.raises(ConfigError, match="float32 cannot hold"):
        strict(x64)
    with pytest.raises(ConfigError, match="input_dtype must be"):
        Emulator(g, input_dtype="int8")


def test_emulator_runs_in_a_forked_child_after_its_parent_ran_it(tmp_path):
    """The batches' thread pool is per process: a child forked after the parent ran the Emulator (whose
    pool threads it does not inherit) runs it too, instead of waiting forever on the parent's pool."""
    import multiprocessing

    g = Graph("fork")
    x = _quantized_input(g, (5,), FixedFormat(1, 3, 4, "RND", "WRAP"))
    d = g.add_node(Dense(), [x], name="d", weights={"kernel": Weight(_kernel(5, 2))})
    g.set_outputs([d.output])
    em = Emulator(g, threads=2)
    data = RNG.normal(0, 9, (640, 5))
    want = interpret(g, data)
    np.testing.assert_array_equal(em(data, batch_size=64), want)  # the parent's pool now exists
    out = tmp_path / "child.npy"
    child = multiprocessing.get_context("fork").Process(
        target=lambda: np.save(out, em(data, batch_size=64, progress=False)))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child's Emulator hung")
    assert child.exitcode == 0
    np.testing.assert_array_equal(np.load(out), want)


@pytest.mark.parametrize("input_dtype", ["float32", "float64"])
def test_kernel_layers_fold_the_quantizer_scales_and_every_value_stays_readable(input_dtype):
    """A kernel layer reads its input quantizer's codes (scale folded into the kernel's rows) and gives its
    result in the next quantizer's units (folded into the columns and bias, through relu / linear); each
    IR value is still the tensor of its name, and the Emulator's session drops the unread ones."""
    g = Graph("folds")
    x = _quantized_input(g, (4, 4, 3), FixedFormat(1, 2, np.array([2, 4, 3]), "RND", "WRAP"))  # per channel
    c = g.add_node(Conv2D(window=(2, 2), strides=(1, 1), padding="same"), [x], name="c",
                   weights={"kernel": Weight(_kernel(2, 2, 3, 4)), "bias": Weight(np.array([0.5, -1, 0, 0.25]))})
    r = g.add_node(Activation("relu"), [c.output], name="r")
    q1 = g.add_node(Quantize(FixedFormat(0, 3, np.array([1, 2, 0, 3]), "TRN", "WRAP")), [r.output], name="q1")
    f = g.add_node(Flatten(), [q1.output], name="f")
    d = g.add_node(Dense(), [f.output], name="d", weights={"kernel": Weight(_kernel(64, 5)),
                                                          "bias": Weight(np.full(5, -0.75))})
    lin = g.add_node(Activation("linear"), [d.output], name="lin")
    q2 = g.add_node(Quantize(FixedFormat(1, 4, np.array([2, 1, 3, 0, 2]), "RND_CONV", "SAT")), [lin.output],
                    name="q2")
    d2 = g.add_node(Dense(), [q2.output], name="d2", weights={"kernel": Weight(_kernel(5, 2))})
    q3 = g.add_node(Quantize(FixedFormat(1, 3, 2, "RND", "SAT")), [d2.output], name="q3")
    g.set_outputs([q3.output])
    _assert_folded_and_readable(g, RNG.normal(0, 3, (400, 4, 4, 3)), input_dtype,
                                {"xq", "c", "r", "d", "lin", "q2", "d2"})


def _assert_folded_and_readable(g: Graph, xs: np.ndarray, input_dtype: str, folded: set[str]) -> None:
    """ORT == interpret; the Emulator's session computes none of the ``folded`` values' tensors (their
    readers use folded scalings), yet asking for any IR value gives exactly the interpreter's."""
    assert_matches(g, xs)
    em = Emulator(g, input_dtype=input_dtype)
    main = onnx.ModelProto()
    main.CopyFrom(em.model)
    _prune(main.graph)
    computed = {o for n in main.graph.node for o in n.output}
    assert computed.isdisjoint(folded), computed & folded
    names = [v.name for v in g.values if v not in g.inputs]
    got = em.run(xs.astype(em.default_dtype), names)
    rec = _Recorder(g)
    rec.run(xs.astype(em.default_dtype))
    for n, value in zip(names, got, strict=True):
        np.testing.assert_array_equal(value, rec.env[n], err_msg=n)


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
def test_quantize_after_dense_uses_proven_shortcuts_exactly(overflow):
    # a known, narrow input: rounding and overflow steps are emitted only where the formats need them
    g = Graph("after_dense")
    v = g.add_input("x", (6,))
    q = g.add_node(Quantize(FixedFormat(1, 3, 4, "RND", "SAT")), [v], name="q")
    w = RNG.integers(-16, 16, (6, 5)) / 8.0
    d = g.add_node(Dense(), [q.output], name="d", weights={"kernel": Weight(w), "bias": Weight(np.full(5, 0.25))})
    outs = []
    for rnd in ROUNDING_MODES:
        fmt = FixedFormat(np.array([1, 0, 1, 1, 0]), np.array([2, 3, 8, 1, 0]), np.array([1, 0, 2, 3, 0]), rnd,
                          overflow)
        outs.append(g.add_node(Quantize(fmt), [d.output], name=f"q_{rnd}").output)
    g.set_outputs(outs)
    assert_matches(g, RNG.normal(0, 6, (4000, 6)))


def test_quantize_that_changes_nothing_is_an_identity_named_after_its_value():
    g = Graph("ident")
    v = g.add_input("x", (3,))
    a = g.add_node(Quantize(FixedFormat(1, 2, 2, "RND", "SAT")), [v], name="a")
    b = g.add_node(Quantize(FixedFormat(1, 4, 4, "TRN", "WRAP")), [a.output], name="b")
    g.set_outputs([b.output])
    model = to_onnx(g)
    producer = [n for n in model.graph.node if "b" in n.output][0]
    assert producer.op_type == "Identity"
    assert_matches(g, RNG.normal(0, 9, (100, 3)))


def test_quantize_nodes_say_what_they_implement():
    g = Graph("doc")
    v = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 2, 2, "RND", "WRAP")), [v], name="q")
    g.set_outputs([q.output])
    docs = [n.doc_string for n in to_onnx(g).graph.node]
    assert docs and all("quantize q to fx<k1 i2 f2 RND WRAP>" in d for d in docs)


# ---- op kinds -----------------------------------------------------------------------------
def _quantized_input(g: Graph, shape: tuple[int, ...], fmt: FixedFormat | None = None):
    v = g.add_input("x", shape)
    return g.add_node(Quantize(fmt or FixedFormat(1, 3, 3, "RND", "SAT")), [v], name="xq").output


def _kernel(*shape: int) -> np.ndarray:
    return RNG.integers(-8, 8, shape) / 4.0


CONV2D = [((7, 6, 2), (3, 2), (2, 2), "same"), ((8, 5, 3), (4, 4), (3, 2), "same"),
          ((5, 5, 1), (2, 2), (1, 1), "same"), ((7, 7, 2), (3, 3), (2, 1), "valid"),
          ((6, 5, 2), (1, 1), (1, 1), "valid"), ((3, 3, 2), (3, 3), (1, 1), "same"),
          ((7, 6, 2), (2, 2), (2, 2), "same"), ((7, 5, 3), (3, 2), (3, 2), "valid")]  # tiling windows
CONV1D = [((9, 2), (3,), (1,), "same"), ((10, 3), (4,), (3,), "same"), ((11, 2), (3,), (2,), "valid"),
          ((5, 1), (2,), (1,), "same"), ((9, 2), (2,), (2,), "valid"), ((10, 3), (3,), (3,), "same")]


@pytest.fixture(params=["matrix", "windows"])
def lowering(request, monkeypatch) -> str:
    """Small convolutions and average poolings become one matrix; larger ones gather windows (or, in
    float32, run onnxruntime's Conv): every geometry runs both ways."""
    if request.param == "windows":
        monkeypatch.setattr(onnx_emulator, "DENSE_MAX_ENTRIES", 0)
    return request.param


def _lowered_as(graph: Graph, node: str) -> set[str]:
    """How the onnx target lowered ``node`` in its float64 and float32 models: "matrix" and/or "windows"."""
    return {"matrix" if any(n.name.startswith(f"{node}_dense") for n in to_onnx(graph, input_dtype=dtype).graph.node)
            else "windows" for dtype in (np.float64, np.float32)}


@pytest.mark.parametrize(("shape", "window", "strides", "padding"), CONV2D + CONV1D)
def test_convolution_geometries(shape, window, strides, padding, lowering):
    g = Graph("conv")
    x = _quantized_input(g, shape)
    cls = Conv2D if len(window) == 2 else Conv1D
    c = g.add_node(cls(window=window, strides=strides, padding=padding), [x], name="c",
                   weights={"kernel": Weight(_kernel(*window, shape[-1], 3)), "bias": Weight(np.array([0.5, -1, 0]))})
    g.set_outputs([c.output])
    assert _lowered_as(g, "c") == {lowering}
    assert_matches(g, RNG.normal(0, 4, (64, *shape)))


@pytest.mark.parametrize(("shape", "window", "strides", "padding"), CONV2D + CONV1D)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_geometries(kind, shape, window, strides, padding, lowering):
    g = Graph("pool")
    x = _quantized_input(g, shape)  # signed: a padded -inf/0 cell must never win / count
    cls = {("max", 2): MaxPool2D, ("max", 1): MaxPool1D, ("avg", 2): AvgPool2D, ("avg", 1): AvgPool1D}[
        (kind, len(window))]
    p = g.add_node(cls(window=window, strides=strides, padding=padding), [x], name="p")
    g.set_outputs([p.output])
    if kind == "avg":
        assert _lowered_as(g, "p") == {lowering}
    assert_matches(g, RNG.normal(0, 4, (64, *shape)) - 3)


def test_a_large_convolution_gathers_windows_and_a_small_one_is_a_matrix():
    g = Graph("sizes")
    x = _quantized_input(g, (16, 16, 4))
    big = g.add_node(Conv2D(window=(3, 3), strides=(1, 1), padding="same"), [x], name="big",
                     weights={"kernel": Weight(_kernel(3, 3, 4, 8))})  # 1024 x 2048 entries: windows
    pool = g.add_node(AvgPool2D(window=(4, 4), strides=(4, 4), padding="valid"), [big.output], name="pool")
    q = g.add_node(Quantize(FixedFormat(1, 6, 3, "RND", "WRAP")), [pool.output], name="q")
    small = g.add_node(Conv2D(window=(2, 2), strides=(1, 1), padding="valid"), [q.output], name="small",
                       weights={"kernel": Weight(_kernel(2, 2, 8, 2))})  # 128 x 18 entries: a matrix
    g.set_outputs([small.output])
    assert _lowered_as(g, "big") == {"windows"}
    assert _lowered_as(g, "small") == {"matrix"}
    assert_matches(g, RNG.normal(0, 4, (32, 16, 16, 4)))


@pytest.mark.parametrize("input_dtype", ["float32", "float64"])
def test_a_convolution_matrix_folds_per_element_quantizer_scales(input_dtype):
    """Formats that vary across positions (not only channels) fold into a convolution matrix's rows
    and columns: the conv reads its input quantizer's codes, and the quantizer after its relu reads
    the result in its own units; the values are still readable and exact."""
    g = Graph("element_folds")
    f_in = RNG.integers(0, 5, (5, 5, 2))
    x = _quantized_input(g, (5, 5, 2), FixedFormat(1, 2, f_in, "RND", "WRAP"))
    c = g.add_node(Conv2D(window=(3, 3), strides=(1, 1), padding="same"), [x], name="c",
                   weights={"kernel": Weight(_kernel(3, 3, 2, 3)), "bias": Weight(np.array([0.5, -1, 0.25]))})
    r = g.add_node(Activation("relu"), [c.output], name="r")
    q = g.add_node(Quantize(FixedFormat(0, 4, RNG.integers(0, 4, (5, 5, 3)), "RND", "WRAP")), [r.output], name="q")
    g.set_outputs([q.output])
    assert _lowered_as(g, "c") == {"matrix"}
    _assert_folded_and_readable(g, RNG.normal(0, 3, (400, 5, 5, 2)), input_dtype, {"xq", "c", "r"})


def test_lut_with_negative_codes():
    fin = FixedFormat(1, 2, 2, "RND", "WRAP")  # codes -16..15, table in two's complement order
    fout = FixedFormat(1, 1, 5, "RND", "SAT")
    codes = np.arange(32)
    values = np.where(codes < 16, codes, codes - 32) / 4.0
    table = quantize(np.tanh(values), fout)
    g = Graph("lut")
    x = _quantized_input(g, (5,), fin)
    t = g.add_node(LUT("tanh", fin, fout, table), [x], name="t")
    g.set_outputs([t.output])
    xs = RNG.normal(0, 3, (2000, 5))
    got = assert_matches(g, xs)
    np.testing.assert_array_equal(got[0], quantize(np.tanh(quantize(xs, fin)), fout))


def test_dense_relu_batchnorm_add_concat_reshape_flatten():
    g = Graph("mix")
    x = _quantized_input(g, (6,))
    d1 = g.add_node(Dense(), [x], name="d1", weights={"kernel": Weight(_kernel(6, 4))})
    r = g.add_node(Activation("relu"), [d1.output], name="r")
    lin = g.add_node(Activation("linear"), [r.output], name="lin")
    bn = g.add_node(BatchNorm(epsilon=1e-3), [d1.output], name="bn", weights={
        "gamma": Weight(RNG.uniform(0.5, 2, 4)), "beta": Weight(RNG.normal(size=4)),
        "moving_mean": Weight(RNG.normal(size=4)), "moving_variance": Weight(RNG.uniform(0.5, 2, 4))})
    s = g.add_node(Add(), [d1.output, lin.output, bn.output], name="s")
    c = g.add_node(Concatenate(axis=0), [s.output, x], name="c")
    rs = g.add_node(Reshape(target=(5, 2)), [c.output], name="rs")
    f = g.add_node(Flatten(), [rs.output], name="f")
    q = g.add_node(Quantize(FixedFormat(1, 4, 2, "RND_CONV", "SAT_SYM")), [f.output], name="q")
    g.set_outputs([q.output, rs.output])
    assert_matches(g, RNG.normal(0, 3, (3000, 6)))


def test_several_inputs_and_outputs_an_output_that_is_an_input_and_one_given_twice(multi_io_graph):
    g = multi_io_graph
    model = to_onnx(g)
    assert [i.name for i in model.graph.input] == ["a", "b"]
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == ["N", 3]
    xa, xb = RNG.normal(0, 5, (500, 3)), RNG.normal(0, 5, (500, 3))
    got = run_onnx(g, [xa, xb], model)
    want = interpret(g, [xa, xb])
    for gg, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(gg, w)


class _Recorder(Interpreter):
    """The interpreter, keeping every value it computes."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.env: dict[str, np.ndarray] = {}

    def run_node(self, node, args):
        outs = super().run_node(node, args)
        for v, y in zip(node.outputs, outs, strict=True):
            self.env[v.name] = y
        return outs


def test_every_ir_value_is_the_tensor_of_its_name():
    g = Graph("names")
    x = _quantized_input(g, (6, 6, 2))
    c = g.add_node(Conv2D(window=(3, 3), strides=(1, 1), padding="same"), [x], name="c",
                   weights={"kernel": Weight(_kernel(3, 3, 2, 3))})
    r = g.add_node(Activation("relu"), [c.output], name="r")
    q = g.add_node(Quantize(FixedFormat(0, 3, 1, "TRN", "WRAP")), [r.output], name="q")
    p = g.add_node(MaxPool2D(window=(2, 2), strides=(2, 2)), [q.output], name="p")
    f = g.add_node(Flatten(), [p.output], name="f")
    d = g.add_node(Dense(), [f.output], name="d", weights={"kernel": Weight(_kernel(27, 2))})
    g.set_outputs([d.output])
    model = to_onnx(g)
    names = [v.name for v in g.values if v not in g.inputs]
    # internal values are float32 tensors where float32 computes them exactly, else float64
    types = {vi.name: vi.type.tensor_type.elem_type for vi in model.graph.value_info}
    assert {types[n] for n in names if n != "d"} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE}
    model.graph.output.extend([onnx.helper.make_tensor_value_info(n, types[n], ["N", *g.value(n).shape])
                               for n in names if n != "d"])
    xs = RNG.normal(0, 4, (50, 6, 6, 2))
    got = dict(zip([o.name for o in model.graph.output], run_onnx(g, [xs], model), strict=True))
    rec = _Recorder(g)
    rec.run(xs)
    for n in names:
        np.testing.assert_array_equal(got[n], rec.env[n], err_msg=n)


def test_float_activation_warns_naming_the_layer_and_custom_is_refused():
    g = Graph("floats")
    x = _quantized_input(g, (4,))
    t = g.add_node(Activation("tanh", fn=lambda a: np.tanh(a.astype(np.float32)), dtype="float32"), [x], name="t",
                   origin="model/my_tanh")
    sm = g.add_node(Activation("softmax"), [t.output], name="sm", origin="model/probs")
    g.set_outputs([sm.output])
    with pytest.warns(NotBitExactWarning, match="my_tanh.*probs"):
        model = to_onnx(g)
    xs = RNG.normal(0, 2, (200, 4))
    got = run_onnx(g, [xs], model)[0]
    np.testing.assert_allclose(got, interpret(g, xs), rtol=1e-5, atol=1e-6)  # close, not exact: warned above

    g2 = Graph("custom")
    x2 = _quantized_input(g2, (4,))
    cu = g2.add_node(Activation("sin2", fn=np.sin), [x2], name="cu", origin="model/wobble")
    g2.set_outputs([cu.output])
    with pytest.raises(UnsupportedLayerError, match="wobble.*lookup table"):
        to_onnx(g2)


def test_fixed_point_graph_gives_no_warning():
    g = Graph("quiet")
    x = _quantized_input(g, (4,))
    d = g.add_node(Dense(), [x], name="d", weights={"kernel": Weight(_kernel(4, 2))})
    g.set_outputs([d.output])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_onnx(g)


def test_more_than_53_bits_is_refused_like_the_interpreter_refuses_it():
    g = Graph("wide")
    x = _quantized_input(g, (2,), FixedFormat(1, 30, 10))
    d = g.add_node(Dense(), [x], name="d", origin="model/huge",
                   weights={"kernel": Weight(np.array([[2.0**20 + 2.0**-12], [1.0]]))})
    g.set_outputs([d.output])
    with pytest.raises(InexactError, match="huge.*53"):
        to_onnx(g)


def test_the_registry_writes_a_model_onnxruntime_loads(tmp_path):
    g = Graph("written")
    x = _quantized_input(g, (3,))
    d = g.add_node(Dense(), [x], name="d", weights={"kernel": Weight(_kernel(3, 2))})
    g.set_outputs([d.output])
    target = get_target("onnx")
    path = target.write(target.emit(g, "written"), tmp_path / "m.onnx")
    sess = session(onnx.load(str(path)))
    xs = RNG.normal(0, 3, (100, 3))
    np.testing.assert_array_equal(sess.run(None, {"x": xs})[0], interpret(g, xs))
