"""Pin hls4ml 1.3's SAT hazard on a real HGQ model, and that ``cap_sat_fraction`` removes it.

hls4ml's bit-exact flow cuts a SAT quantizer's fractional bits to its input's (DESIGN.md), which
moves the saturation bound. The chain below makes that bite: coarse inputs (f 0..1) times coarse
weights (f 0..1), no bias, so the Dense output has at most 2 fractional bits, into heterogeneous
RND + SAT quantizers with 2..4 fractional bits, through relu; ranges traced with
``cover_factor=0.5`` and tested on wider data so that saturation really triggers.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import zoo
from hgq_ir.backends.keras_proxy import to_keras_proxy
from hls4ml_harness import HlsModel

from hgq_ir.convert import convert, lift, pipeline, run_passes, to_proxy_model
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import Quantize
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import HDense, HQuantize

SEED = 7


def _set_bits(q, rng: np.random.Generator, lo: int, hi: int) -> None:  # noqa: ANN001
    q.fbw.assign(rng.integers(lo, hi + 1, size=tuple(q.fbw.shape)).astype(np.float32))


@pytest.fixture(scope="module")
def hazard_model() -> tuple[keras.Model, np.ndarray]:
    """``(model, x_test)``: HQuantize(RND) -> HDense(relu, no bias) -> HDense, SAT-prone."""
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    inp = keras.Input((12,))
    h = HQuantize(paq_conf={"rnd_strategy": "standard_round"}, name="q_in")(inp)
    h = HDense(16, activation="relu", use_bias=False, name="d1")(h)
    out = HDense(6, use_bias=False, name="d2")(h)
    model = keras.Model(inp, out, name="sat_hazard")
    _set_bits(model.get_layer("q_in").paq, rng, 0, 1)
    for name in ("d1", "d2"):
        _set_bits(model.get_layer(name).kq, rng, 0, 1)
        _set_bits(model.get_layer(name).paq, rng, 2, 4)
    x_calib, x_test = zoo.data((12,), SEED)
    with pytest.warns(UserWarning, match="cover_factor"):
        trace_minmax(model, x_calib, verbose=False, cover_factor=0.5)
    return model, 2 * x_test


def _proxy(model: keras.Model, cap: bool, name: str) -> tuple[keras.Model, object]:
    g = lift(model)
    passes = [p for p in pipeline("proxy", aggressive=False) if cap or p.name != "cap_sat_fraction"]
    run_passes(g, passes=passes)
    return to_keras_proxy(g, name=name), g


def test_chain_is_heterogeneous_rnd_sat_and_saturates(hazard_model) -> None:  # noqa: ANN001
    model, x = hazard_model
    _, g = _proxy(model, False, "check")
    quants = {n.name: n.op.format for n in g.nodes if isinstance(n.op, Quantize)}
    assert quants["d1"].overflow == "SAT" and quants["d1"].round == "RND" and not quants["d1"].is_homogeneous
    fmt_in = g.node("d1").inputs[0].format.broadcast_to(quants["d1"].shape)
    assert np.any(quants["d1"].f > fmt_in.f), "the hazard needs f_q > f_in somewhere"
    # saturation triggers: the SAT result differs from the WRAP-free (unclipped) relu on many rows
    z = interpret(lift_and_cut(g, "d1_relu"), x)
    assert np.mean(np.any(z > quants["d1"].max_value, axis=1)) > 0.05


def lift_and_cut(g, value: str):  # noqa: ANN001, ANN201
    """A copy of ``g`` whose output is ``value``."""
    c = g.copy()
    c.set_outputs([c.value(value)])
    return c


@pytest.mark.parametrize("cap", [True, False], ids=["with_cap_sat_fraction", "without"])
def test_proxy_vs_hls4ml(hazard_model, tmp_path, cap: bool) -> None:  # noqa: ANN001
    model, x = hazard_model
    proxy, _ = _proxy(model, cap, f"sat_hazard_{'cap' if cap else 'nocap'}")
    hls = HlsModel(proxy, tmp_path)
    got = hls.predict(x)
    want = np.asarray(proxy.predict(x, batch_size=len(x), verbose=0), dtype=np.float64)
    ok = np.all(got == want, axis=1)
    if cap:
        assert ok.all(), f"hls4ml != proxy on {int((~ok).sum())}/{len(x)} rows"
    else:
        assert not ok.all(), "expected hls4ml 1.3 to disagree with the uncapped SAT proxy"


def _tanh_lut_chain(name: str, seed: int, n_in: int, n_hidden: int, n_out: int,
                    bits: dict[str, tuple[int, int]], paq_conf: dict | None = None) -> keras.Model:
    """``q_in -> d1 (no bias) -> tanh (becomes a LUT) -> d2`` with random trained bits in ``bits`` ranges."""
    from hgq_ir.training.layers import HActivation

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((n_in,))
    h = HQuantize(paq_conf=paq_conf, name="q_in")(inp)
    h = HDense(n_hidden, use_bias=False, name="d1")(h)
    h = HActivation("tanh", name="t")(h)
    model = keras.Model(inp, HDense(n_out, name="d2")(h), name=name)
    _set_bits(model.get_layer("q_in").paq, rng, *bits["q_in"])
    _set_bits(model.get_layer("d1").kq, rng, *bits["d1.kq"])
    _set_bits(model.get_layer("d1").paq, rng, *bits["d1.paq"])
    return model


def _assert_hls_exact(proxy: keras.Model, g, x: np.ndarray, workdir) -> None:  # noqa: ANN001
    """hls4ml's C simulation == the proxy == the reference interpreter, on every row."""
    got = HlsModel(proxy, workdir).predict(x)
    np.testing.assert_array_equal(got, np.asarray(proxy.predict(x, batch_size=len(x), verbose=0), np.float64))
    np.testing.assert_array_equal(interpret(g, x), got)


def test_lut_after_capped_sat_quantizer(tmp_path) -> None:  # noqa: ANN001
    """A LUT fed by a SAT quantizer that ``cap_sat_fraction`` narrows: ``fit_lut_inputs`` re-indexes it.

    Without that pass the table kept the pre-cap ``f`` and hls4ml agreed on 0.1% of rows.
    """
    model = _tanh_lut_chain("lut_cap", 0, 8, 8, 3, {"q_in": (0, 1), "d1.kq": (0, 1), "d1.paq": (3, 4)},
                            paq_conf={"rnd_strategy": "standard_round"})
    x_calib, x_test = zoo.data((8,), 0)
    with pytest.warns(UserWarning, match="cover_factor"):
        trace_minmax(model, x_calib, verbose=False, cover_factor=0.5)
    proxy, g = _proxy(model, True, "lut_cap")
    assert int(g.node("d1").op.format.f.max()) < 3  # capped below the 3..4 trained bits
    _assert_hls_exact(proxy, g, 2 * x_test, tmp_path)


@pytest.mark.parametrize("aggressive", [False, True], ids=["sat", "wrap"])
def test_lut_after_quantizer_wider_than_its_input(tmp_path, aggressive: bool) -> None:  # noqa: ANN001
    """A LUT fed by a quantizer with more integer bits than its input can reach (range widened 16x).

    hls4ml narrows that quantizer's type to its input's integer bits and indexes the table with
    the narrower type's raw bits; ``fit_lut_inputs`` must build the table on that same type.
    Without it, hls4ml agreed with the proxy on about half of the rows.
    """
    # one input: the exact bound of d1's output is tight
    model = _tanh_lut_chain("lut_wide", 1, 1, 4, 2, {"q_in": (1, 2), "d1.kq": (1, 2), "d1.paq": (2, 2)})
    x_calib, x_test = zoo.data((1,), 1)
    trace_minmax(model, x_calib, verbose=False)
    paq = model.get_layer("d1").paq  # as if d1 alone had been calibrated on 16x wider data
    paq._min.assign(16 * paq._min.numpy())
    paq._max.assign(16 * paq._max.numpy())
    g = lift(model)
    run_passes(g, aggressive=aggressive, target="proxy")
    q = g.node("d1")
    reach = q.inputs[0].format.broadcast_to(q.op.format.shape)
    assert np.any(q.op.format.i > reach.i), "the case needs a quantizer wider than its input"
    lut = g.node("t_act_lut").op
    assert int(lut.in_format.i.max()) < int(q.op.format.i.max())  # indexed on the narrowed type
    _assert_hls_exact(to_keras_proxy(g, name=f"lut_wide_{aggressive}"), g, x_test, tmp_path)


def test_core_and_proxy_legalized_ir_differ_only_where_hls4ml_saturation_forces_it(hazard_model, tmp_path) -> None:  # noqa: ANN001
    """``convert(to="ir")`` is the model's meaning; ``target="proxy"`` is what proxy and firmware compute.

    The two graphs have the same nodes; only SAT quantizers whose fraction exceeds their input's
    change op (``cap_sat_fraction``), and formats downstream of them. Each graph is exact against
    its own executor: the core IR against the HGQ model wherever values stay inside the traced
    ranges, the legalized IR against the proxy and hls4ml's C simulation on every row, saturating
    ones included; and the two really differ on rows that saturate.
    """
    model, x = hazard_model
    core = convert(model, to="ir", aggressive=False)
    legal = convert(model, to="ir", target="proxy", aggressive=False)
    assert [n.name for n in core.nodes] == [n.name for n in legal.nodes]
    changed_ops = []
    for n in core.nodes:
        other = legal.node(n.name)
        assert type(n.op) is type(other.op) and n.weights.keys() == other.weights.keys(), n.name
        for w in n.weights:
            np.testing.assert_array_equal(n.weights[w].array, other.weights[w].array)
        if n.op.quantizer_format != other.op.quantizer_format:
            changed_ops.append(n.name)
        elif n.op.quantizer_format is None:
            assert n.op.attrs_text() == other.op.attrs_text(), n.name
    assert changed_ops, "the hazard model must need legalization"
    for name in changed_ops:
        before, after = core.node(name).op.quantizer_format, legal.node(name).op.quantizer_format
        assert before.overflow == "SAT" and not before.is_homogeneous, name
        # the input's exact format in the legalized graph: capping d1 also narrows what d2 receives
        x_fmt = legal.node(name).inputs[0].format.broadcast_to(before.shape)
        live = (x_fmt.b > 0) & (before.b > 0)
        # rule 1 of cap_sat_fraction: f = min(f_q, f_x) where both are live; k and i kept
        np.testing.assert_array_equal(after.f, np.where(live, np.minimum(before.f, x_fmt.f), before.f))
        np.testing.assert_array_equal(after.k, before.k)
    # the legalized IR is what the proxy and the firmware compute, on every row
    proxy = to_proxy_model(model, aggressive=False)
    want = interpret(legal, x)
    np.testing.assert_array_equal(np.asarray(proxy.predict(x, batch_size=len(x), verbose=0), np.float64), want)
    np.testing.assert_array_equal(HlsModel(proxy, tmp_path).predict(x), want)
    # the core IR is the model's meaning: equal to the HGQ model inside the traced ranges ...
    x_in = x / 16
    np.testing.assert_array_equal(interpret(core, x_in), np.asarray(model.predict(x_in, verbose=0), np.float64))
    np.testing.assert_array_equal(interpret(core, x_in), interpret(legal, x_in))
    # ... and it differs from the legalized IR only where saturation moves the bound
    differ = np.any(interpret(core, x) != want, axis=1)
    assert 0 < differ.mean() < 1
