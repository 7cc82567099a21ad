"""Proxy layers: exact against ``hgq_ir.ir.fixed.quantize`` and bit-exact through hls4ml C simulation.

One hand-built proxy with three inputs and many output branches is converted and compiled once
(module fixture, ~10-20 s of g++); every branch is checked three ways with exact equality:
numpy reference (``quantize`` + numpy matmul) == Keras proxy == hls4ml ``predict``.

The *SAT hazard* of hls4ml 1.3 is pinned here too: ``bit_exact.py`` (``_produce_kif`` of
FixedPointQuantizer, ``SAT`` branch) replaces a SAT quantizer's fractional bits ``f`` by
``min(f, f_in)`` where ``f_in`` is what hls4ml derives for the quantizer's input, which moves
the saturation bound ``2**i - 2**-f``. Measured rule (TRN, RND and RND_CONV alike):

- heterogeneous SAT quantizer: proxy == firmware iff ``f <= f_in`` element by element;
- homogeneous (fused) SAT quantizer: iff ``f <= max(f_in)`` over the elements;
- SAT_SYM and WRAP are not affected (SAT_SYM escapes through a ``'SAT_SM'`` typo upstream).
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from hgq_ir.backends.proxy_layers import FixedPointQuantizer, UnaryLUT
from hls4ml_harness import HlsModel

from hgq_ir.ir.errors import FormatError
from hgq_ir.ir.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, quantize

RNG_SEED = 20261124
FIN = FixedFormat(k=[1, 1, 1, 1, 0, 1, 1, 0], i=[3, 2, 3, 1, 3, 3, 0, 0], f=[2, 3, 1, 4, 2, 0, 3, 0],
                  round="RND", overflow="WRAP")  # last element: width 0
# hazard sweep: every (f_in, k, i, f) of a small grid, one element each
SWEEP = list(itertools.product([0, 1], [0, 1], [0, 1], [0, 1, 2]))
FIN2 = FixedFormat(1, 4, [c[0] for c in SWEEP])
SW_K, SW_I, SW_F = (np.array([c[n] for c in SWEEP]) for n in (1, 2, 3))
FIN3 = FixedFormat(1, 7, 0)  # integers


def _weights(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(-8, 9, size=shape) / 4.0


def _dense(x: keras.KerasTensor, w: np.ndarray, name: str,
           bias: np.ndarray | None = None) -> keras.KerasTensor:
    layer = keras.layers.Dense(w.shape[1], use_bias=bias is not None, name=name)
    y = layer(x)
    layer.set_weights([w] if bias is None else [w, bias])
    return y


def _q(x: keras.KerasTensor, fmt: FixedFormat, name: str) -> keras.KerasTensor:
    return FixedPointQuantizer.from_format(fmt, name=name)(x)


def build_case() -> tuple[keras.Model, dict[str, object]]:
    """The proxy and, per output name, a function of the quantized inputs giving the reference."""
    rng = np.random.default_rng(RNG_SEED)
    x1, x2 = keras.Input((8,), name="x1"), keras.Input((len(SWEEP),), name="x2")
    x3 = keras.Input((1,), name="x3")
    h1, h2, h3 = _q(x1, FIN, "q_x1"), _q(x2, FIN2, "q_x2"), _q(x3, FIN3, "q_x3")
    outs: dict[str, keras.KerasTensor] = {}
    refs: dict[str, object] = {}

    def branch(name: str, fmt: FixedFormat, bias: bool = False) -> None:
        w = _weights(rng, (8, 4))
        b = rng.integers(-4, 5, size=4) / 8.0 if bias else None
        outs[name] = _q(_dense(h1, w, f"d_{name}", b), fmt, name)
        refs[name] = lambda a, *_: quantize(a @ w + (0 if b is None else b), fmt)

    branch("hom_wrap_trn", FixedFormat(1, 2, 2, "TRN", "WRAP"))
    branch("hom_sat_rnd", FixedFormat(1, 2, 1, "RND", "SAT"), bias=True)
    branch("het_wrap_rndconv", FixedFormat([1, 0, 0, 1], [1, 2, 0, 3], [3, 1, 0, 2], "RND_CONV", "WRAP"))
    # 1-bit signed element under SAT_SYM: ap_types keeps its minimum -1
    branch("het_satsym_rnd", FixedFormat([1, 1, 0, 1], [2, 0, 1, 1], [1, 0, 2, 3], "RND", "SAT_SYM"))

    # Dense -> SAT -> relu -> SAT: each SAT f within its input's f (the hazard rule)
    w_r = _weights(rng, (8, 4))
    f_sat1 = FixedFormat(1, [2, 1, 3, 0], [2, 3, 1, 2], "TRN", "SAT")
    f_sat2 = FixedFormat(0, [1, 1, 2, 0], [1, 3, 0, 2], "RND", "SAT")
    z = keras.layers.Activation("relu", name="relu_chain")(_q(_dense(h1, w_r, "d_chain"), f_sat1, "q_chain1"))
    outs["het_sat_relu_chain"] = _q(z, f_sat2, "het_sat_relu_chain")
    refs["het_sat_relu_chain"] = lambda a, *_: quantize(np.maximum(quantize(a @ w_r, f_sat1), 0), f_sat2)

    # UnaryLUT: its input quantizer must not be narrowed by hls4ml (range below the Dense's)
    w_l = _weights(rng, (8, 4))
    f_lin, f_lout = FixedFormat(1, 2, 3), FixedFormat(1, 0, 5, "RND", "SAT")
    lut = UnaryLUT.from_function(np.tanh, f_lin, f_lout, name="lut_tanh")
    outs["lut_tanh"] = lut(_q(_dense(h1, w_l, "d_lut"), f_lin, "q_lut_in"))
    refs["lut_tanh"] = lambda a, *_: quantize(np.tanh(quantize(a @ w_l, f_lin)), f_lout)

    # UnaryLUT whose kif_in is wider than what hls4ml derives for its input (1, 1, 4): hls4ml
    # narrows the input type and indexes the table with fewer raw bits
    w_pick = np.zeros((8, 1))
    w_pick[3] = 1.0  # FIN element 3 is fx<k1 i1 f4>
    for name, f_li in (("lut_in_exact", FixedFormat(1, 1, 4)), ("lut_in_narrowed", FixedFormat(1, 2, 4))):
        lut = UnaryLUT.from_function(np.tanh, f_li, f_lout, name=name)
        outs[name] = lut(_q(_dense(h1, w_pick, f"d_{name}"), f_li, f"q_{name}"))
        refs[name] = lambda a, *_, f_li=f_li: quantize(np.tanh(quantize(a[:, 3:4], f_li)), f_lout)

    # hazard sweep: one Dense(eye) feeding heterogeneous quantizers (not fused)
    d2 = _dense(h2, np.eye(len(SWEEP)), "d_sweep")
    fin2_f = FIN2.f
    for rnd, sat, cut in [(r, "SAT", c) for r in ("TRN", "RND", "RND_CONV") for c in (False, True)] + [
        ("TRN", "SAT_SYM", False), ("RND", "SAT_SYM", False)]:
        fmt = FixedFormat(SW_K, SW_I, np.minimum(SW_F, fin2_f) if cut else SW_F, rnd, sat)
        name = f"sweep_{rnd}_{sat}_{'cut' if cut else 'raw'}"
        outs[name] = _q(d2, fmt, name)
        refs[name] = lambda _a, b, _c, fmt=fmt: quantize(b, fmt)

    # homogeneous SAT after a heterogeneous input: the bound is max(f_in) (here 1)
    for f in (1, 2):
        fmt = FixedFormat(0, 1, f, "RND", "SAT")
        name = f"hom_sat_after_het_f{f}"
        outs[name] = _q(_dense(h2, np.eye(len(SWEEP)), f"d_{name}"), fmt, name)
        refs[name] = lambda _a, b, _c, fmt=fmt: quantize(b, fmt)

    # DESIGN.md's minimal case: integers into ufixed<3,1,TRN,SAT>, and the cut ufixed<1,1,TRN,SAT>
    for name, f in (("minimal_raw", 2), ("minimal_cut", 0)):
        fmt = FixedFormat(0, 1, f, "TRN", "SAT")
        outs[name] = _q(_dense(h3, np.ones((1, 1)), f"d_{name}"), fmt, name)
        refs[name] = lambda _a, _b, c, fmt=fmt: quantize(c, fmt)

    model = keras.Model([x1, x2, x3], list(outs.values()), name="proxy_cases")
    return model, refs


def make_inputs(n: int, seed: int = RNG_SEED) -> list[np.ndarray]:
    """float64 inputs on a 2**-6 grid (no hidden bits below what hls4ml's input type keeps)."""
    rng = np.random.default_rng(seed)
    x1 = rng.integers(-12 * 64, 12 * 64, size=(n, 8)) / 64.0
    x2 = rng.integers(-16 * 4, 16 * 4, size=(n, len(SWEEP))) / 4.0
    x3 = rng.integers(-6, 7, size=(n, 1)).astype(np.float64)
    x3[0] = 3.0
    return [x1, x2, x3]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Build, convert and compile once; run the three computations once."""
    model, refs = build_case()
    hls = HlsModel(model, tmp_path_factory.mktemp("hls"))
    xs = make_inputs(400)
    qs = [quantize(x, fmt) for x, fmt in zip(xs, (FIN, FIN2, FIN3), strict=True)]
    names = list(refs)
    return {
        "hls": hls,
        "names": names,
        "ref": dict(zip(names, (refs[n](*qs) for n in names), strict=True)),
        "keras": dict(zip(names, hls.keras_predict(xs), strict=True)),
        "firmware": dict(zip(names, hls.predict(xs), strict=True)),
        "qs": qs,
    }


EXACT = ["hom_wrap_trn", "hom_sat_rnd", "het_wrap_rndconv", "het_satsym_rnd", "het_sat_relu_chain",
         "lut_tanh", "sweep_TRN_SAT_cut", "sweep_RND_SAT_cut", "sweep_RND_CONV_SAT_cut",
         "sweep_TRN_SAT_SYM_raw", "sweep_RND_SAT_SYM_raw", "hom_sat_after_het_f1", "minimal_cut",
         "lut_in_exact"]
HAZARD = ["sweep_TRN_SAT_raw", "sweep_RND_SAT_raw", "sweep_RND_CONV_SAT_raw", "hom_sat_after_het_f2",
          "minimal_raw"]


@pytest.mark.parametrize("name", EXACT)
def test_bit_exact(case: dict, name: str) -> None:
    """hls4ml C simulation == Keras proxy == numpy reference, on every element of every row."""
    np.testing.assert_array_equal(case["firmware"][name], case["keras"][name], err_msg="firmware != proxy")
    np.testing.assert_array_equal(case["keras"][name], case["ref"][name], err_msg="proxy != fixed.quantize")


@pytest.mark.parametrize("name", HAZARD)
def test_sat_hazard_documented(case: dict, name: str) -> None:
    """hls4ml 1.3 computes the SAT quantizer with f cut to its input's f; the proxy does not.

    If this starts failing because firmware == proxy, hls4ml fixed ``_produce_kif``: drop the
    workaround (cutting f in our pass) only once the minimum hls4ml version has the fix.
    """
    proxy, fw = case["keras"][name], case["firmware"][name]
    np.testing.assert_array_equal(proxy, case["ref"][name])
    assert not np.array_equal(fw, proxy), f"{name}: hls4ml no longer shows the SAT hazard"
    # what hls4ml computes instead: the same quantizer with f <= f_in (max over elements if fused)
    fmt: FixedFormat = case["hls"].proxy.get_layer(name).format
    inp = case["qs"][2] if name.startswith("minimal") else case["qs"][1]
    f_in = 0 if name.startswith("minimal") else FIN2.f
    f_cut = np.minimum(fmt.f, np.max(f_in) if fmt.is_homogeneous else f_in)
    cut = FixedFormat(fmt.k, fmt.i, f_cut, fmt.round, fmt.overflow)
    np.testing.assert_array_equal(fw, quantize(inp, cut))


def test_minimal_sat_hazard_values(case: dict) -> None:
    """DESIGN.md's case: 3.0 (integer) into ufixed<3,1,TRN,SAT>: proxy 1.75, firmware 1.0."""
    assert case["qs"][2][0, 0] == 3.0
    assert case["keras"]["minimal_raw"][0, 0] == 1.75
    assert case["firmware"]["minimal_raw"][0, 0] == 1.0
    assert case["keras"]["minimal_cut"][0, 0] == case["firmware"]["minimal_cut"][0, 0] == 1.0


def test_unary_lut_input_narrowing_documented(case: dict) -> None:
    """hls4ml indexes ``unary_lut`` with all raw bits of the input type *it* derives.

    Here the LUT's quantizer is fx<k1 i2 f4> but its input is only fx<k1 i1 f4>, so hls4ml
    narrows the type to 6 bits and reads negative inputs as ``n mod 2**6``: the table must be
    built on the narrowed format (``lut_in_exact`` is).
    """
    proxy, fw = case["keras"]["lut_in_narrowed"], case["firmware"]["lut_in_narrowed"]
    np.testing.assert_array_equal(proxy, case["ref"]["lut_in_narrowed"])
    table = np.asarray(case["hls"].proxy.get_layer("lut_in_narrowed").table)
    n = np.round(case["qs"][0][:, 3:4] * 16).astype(np.int64)
    np.testing.assert_array_equal(fw, table[np.mod(n, 2**6)])
    assert not np.array_equal(fw, proxy)


def test_hazard_elements_are_exactly_those_with_f_above_f_in(case: dict) -> None:
    """Per element, proxy and firmware disagree only where the quantizer's f exceeds f_in."""
    for rnd in ("TRN", "RND", "RND_CONV"):
        name = f"sweep_{rnd}_SAT_raw"
        differs = np.any(case["keras"][name] != case["firmware"][name], axis=0)
        np.testing.assert_array_equal(differs, SW_F > FIN2.f, err_msg=name)


def test_harness_shapes(case: dict) -> None:
    """The harness returns one float64 array per output, shaped like the proxy's."""
    hls: HlsModel = case["hls"]
    for name, shape in zip(case["names"], hls.output_shapes, strict=True):
        assert case["firmware"][name].shape == (400, *shape)
        assert case["firmware"][name].dtype == np.float64
    one = hls.predict([x[:1] for x in make_inputs(1)])
    assert [o.shape[0] for o in one] == [1] * len(case["names"])


# ---- no hls4ml below -----------------------------------------------------------------------------
def _random_format(rng: np.random.Generator, shape: tuple[int, ...]) -> FixedFormat:
    k = rng.integers(0, 2, size=shape)
    f = rng.integers(-3, 9, size=shape)
    i = np.maximum(rng.integers(-3, 9, size=shape), -f - k)
    return FixedFormat(k, i, f, str(rng.choice(ROUNDING_MODES)), str(rng.choice(OVERFLOW_MODES)))


def test_quantizer_matches_reference_on_random_formats() -> None:
    """FixedPointQuantizer == fixed.quantize for 120 random per-element formats and all modes."""
    rng = np.random.default_rng(RNG_SEED)
    for trial in range(120):
        shape = ((), (7,), (3, 5))[trial % 3]
        fmt = _random_format(rng, shape)
        feat = shape or (6,)
        grid = rng.integers(-2**12, 2**12, size=(64, *feat)) / 2.0 ** rng.integers(0, 10)
        x = np.concatenate([grid, rng.normal(scale=40.0, size=(64, *feat))]).astype(np.float32)
        q = FixedPointQuantizer.from_format(fmt)
        np.testing.assert_array_equal(np.asarray(q(x)), quantize(x, fmt), err_msg=repr(fmt))


@pytest.mark.parametrize("rnd", ROUNDING_MODES)
def test_ties_and_huge_values(rnd: str) -> None:
    """Exact ties, negative ties and values far beyond 2**24 codes round and wrap exactly."""
    x = np.array([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.75, -3.75, 1e9 + 0.5, -7e8, 2.0**40 + 2.0**18]],
                 dtype="float32")
    for sat in OVERFLOW_MODES:
        fmt = FixedFormat(1, 3, 0, rnd, sat)
        np.testing.assert_array_equal(np.asarray(FixedPointQuantizer.from_format(fmt)(x)), quantize(x, fmt))


def test_format_round_trip_and_weights() -> None:
    """from_format -> .format gives the format back; weights are int8 with a leading 1 axis."""
    fmt = FixedFormat([1, 0, 1], [2, 1, -1], [1, 3, 2], "RND_CONV", "SAT_SYM")
    q = FixedPointQuantizer.from_format(fmt, name="q")
    q.build((None, 4, 3))
    assert q.format == fmt
    assert {w.name: (tuple(w.shape), str(w.dtype)) for w in q.weights} == {
        n: ((1, 1, 3), "int8") for n in ("keep_negative", "bits", "integers")}
    assert not q.fusible and q.get_config()["RND"] == "RND_CONV"
    hom = FixedPointQuantizer.from_format(FixedFormat(0, 3, 2, "TRN", "SAT"), name="h")
    hom.build((None, 5))
    assert hom.fusible and tuple(hom.weights[0].shape) == (1,)
    assert repr(hom) == "<FixedPointQuantizer 'h' fx<k0 i3 f2 TRN SAT> homogeneous>"


def test_weights_made_with_the_layer_when_their_shape_is_known() -> None:
    """Homogeneous, ``rank`` given or rebuilt from a config: weights exist before build, same values."""
    het = FixedFormat([1, 0, 1], [2, 1, -1], [1, 3, 2], "RND", "WRAP")
    q = FixedPointQuantizer.from_format(het, name="q", rank=2)
    assert not q.built and [tuple(w.shape) for w in q.weights] == [(1, 1, 3)] * 3
    q.build((None, 4, 3))
    assert q.format == het and len(q.weights) == 3
    hom = FixedPointQuantizer.from_format(FixedFormat(0, 3, 2), name="h")
    assert [tuple(w.shape) for w in hom.weights] == [(1,)] * 3
    again = FixedPointQuantizer.from_config(q.get_config())
    assert [tuple(w.shape) for w in again.weights] == [(1, 1, 3)] * 3
    late = FixedPointQuantizer.from_format(het, name="late")  # rank unknown: made (padded) in build
    assert late.weights == []
    late.build((None, 4, 3))
    assert [tuple(w.shape) for w in late.weights] == [(1, 1, 3)] * 3 and late.format == het
    with pytest.raises(FormatError, match="rank"):
        FixedPointQuantizer.from_format(het, name="r", rank=2)(np.zeros((1, 3), "float32"))
    lut = UnaryLUT((1, 1, 2), (1, 0, 3), table=np.arange(16) / 8)
    np.testing.assert_array_equal(lut.table.numpy(), np.arange(16) / 8)


def test_errors() -> None:
    """Bad modes, fusible heterogeneous formats, mismatched shapes and tables are refused."""
    with pytest.raises(FormatError, match="rounding"):
        FixedPointQuantizer(1, 4, 2, RND="ROUND")
    with pytest.raises(FormatError, match="fusible"):
        FixedPointQuantizer([1, 0], 4, 2, fusible=True)
    with pytest.raises(FormatError, match="broadcast"):
        FixedPointQuantizer([1, 0, 1], 4, 2, name="q3")(np.zeros((1, 4), "float32"))
    with pytest.raises(FormatError, match="int8"):
        FixedPointQuantizer(1, 200, 2)
    with pytest.raises(FormatError, match="entries"):
        UnaryLUT((1, 1, 2), (1, 0, 3), table=np.zeros(8))


def test_keras_round_trip(tmp_path: object) -> None:
    """Saving as .keras and loading back gives identical outputs and formats."""
    model, _ = build_case()
    path = tmp_path / "proxy.keras"  # type: ignore[operator]
    model.save(path)
    loaded = keras.models.load_model(path)
    xs = [x.astype(np.float32) for x in make_inputs(64, seed=1)]
    for a, b in zip(model(xs), loaded(xs), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for name in ("het_wrap_rndconv", "hom_sat_rnd"):
        assert loaded.get_layer(name).format == model.get_layer(name).format
    assert loaded.get_layer("lut_tanh").kif_in == (1, 2, 3)
    assert {str(w.dtype) for w in loaded.get_layer("het_wrap_rndconv").weights} == {"int8"}


@pytest.mark.parametrize("rnd", ROUNDING_MODES)
def test_rounding_just_above_minus_one_half(rnd: str) -> None:
    """float32 ``1 + x`` rounds to exactly 1/2 just above -1/2: not a tie (RND_INF/RND_MIN_INF gave -1)."""
    x = np.array([[np.nextafter(np.float32(-0.5), np.float32(0)), -0.5, np.nextafter(np.float32(-0.5), np.float32(-1)),
                   np.float32(-2.0**-30), np.nextafter(np.float32(0.5), np.float32(0))]], dtype=np.float32)
    for f in (0, 3):
        fmt = FixedFormat(1, 4, f, rnd, "SAT")
        xs = np.ldexp(x, -f)
        got = np.asarray(FixedPointQuantizer.from_format(fmt, name="q")(xs), dtype=np.float64)
        np.testing.assert_array_equal(got, quantize(xs.astype(np.float64), fmt), err_msg=f"{rnd} f={f}")
