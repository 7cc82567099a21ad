"""Calibration of QKeras float values: a QDense reading raw inputs (8-bit ADC counts) or a float layer's output.

``tests/qkeras_zoo.py`` builds ``adc_mlp`` (QDense straight on the input) in each flavor and, for
QKeras 0.9, ``relu_float`` (a float relu feeding a QDense) and the outcomes of a float tanh feeding
a QDense. Formats and semantics: ``frontends/qkeras_calibration.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import hgq_ir
from hgq_ir.ir.errors import ConfigError, InexactError, UnsupportedLayerError

EXT = {"qkeras09": ".h5", "qkeras3": ".keras"}
CALIB_NODE = "%adc_calib: fx<k0 i8 f0 RND SAT>[8] = Quantize(%adc) clips=True"
HEAVY = ("tensorflow", "keras", "tf_keras", "h5py")


def _adc(qkeras_zoo, flavor: str) -> Path:
    return qkeras_zoo(flavor) / "adc_mlp"


def _ld(d: Path, name: str) -> np.ndarray:
    return np.load(d / f"{name}.npy")


@pytest.mark.parametrize("flavor", list(EXT))
def test_raw_adc_inputs_calibrated_qkeras_equals_interpret_equals_proxy(qkeras_zoo, flavor):
    d = _adc(qkeras_zoo, flavor)
    y, x = _ld(d, "y_qkeras"), _ld(d, "x")
    assert len(y) == 2000 and len(np.unique(y)) > 100 and np.array_equal(x, np.round(x)) and x.max() == 255
    np.testing.assert_array_equal(_ld(d, "y_interp"), y)
    np.testing.assert_array_equal(_ld(d, "y_proxy"), y)


@pytest.mark.parametrize("flavor", list(EXT))
def test_values_off_the_calibrated_grid_and_range_round_and_saturate(qkeras_zoo, flavor):
    # documented semantics: RND SAT to the calibrated ufixed<8,8>, i.e. QKeras run on clip(floor(x + 0.5), 0, 255)
    d = _adc(qkeras_zoo, flavor)
    x_out, y_seen = _ld(d, "x_out"), _ld(d, "y_qkeras_out")
    assert (x_out > 255).any() and (x_out < 0).any() and (x_out != np.round(x_out)).any()
    np.testing.assert_array_equal(_ld(d, "y_interp_out"), y_seen)
    np.testing.assert_array_equal(_ld(d, "y_proxy_out"), y_seen)


@pytest.mark.parametrize("flavor", list(EXT))
def test_model_file_calibrated_without_qkeras(qkeras_zoo, flavor):
    d = _adc(qkeras_zoo, flavor)
    path = d / f"model{EXT[flavor]}"
    graph = hgq_ir.convert(path, to="ir", calibration=_ld(d, "x_calib"))
    assert CALIB_NODE in str(graph)
    np.testing.assert_array_equal(hgq_ir.interpret(graph, _ld(d, "x")), _ld(d, "y_qkeras"))
    # the calibration data as a list, one array per input, is the same
    calib = _ld(d, "x_calib")
    assert str(hgq_ir.lift(path, calibration=[calib])) == str(hgq_ir.lift(path, calibration=calib))
    assert not [m for m in sys.modules if m.split(".")[0] == "qkeras"]


@pytest.mark.parametrize("flavor", list(EXT))
def test_without_calibration_the_error_names_the_layer_and_the_way(qkeras_zoo, flavor):
    with pytest.raises(UnsupportedLayerError) as e:
        hgq_ir.to_proxy_model(_adc(qkeras_zoo, flavor) / f"model{EXT[flavor]}")
    msg = str(e.value)
    assert e.value.layer == "d1"
    for part in ("layer 'd1'", "model input 'adc'", "hgq_ir.convert(model, calibration=X)", "--calib X.npy",
                 "QActivation(quantized_bits("):
        assert part in msg, (part, msg)


def test_live_model_without_calibration_names_the_layer_and_the_way(qkeras_zoo):
    errors = json.loads((qkeras_zoo("qkeras09") / "calibration_errors.json").read_text())
    for case, layer, source in (("relu_without_calibration", "d1", "layer 'float_relu'"),
                                ("tanh_without_calibration", "d_after", "layer 'd_tanh'")):
        err = errors[case]
        assert (err["type"], err["layer"]) == ("UnsupportedLayerError", layer)
        assert source in err["message"] and "calibration=X" in err["message"] and "--calib X.npy" in err["message"]


@pytest.mark.parametrize("offset", [0.1, 2.0**-25, 1 / 3])
def test_calibration_off_a_dyadic_grid_is_refused_naming_the_layer(qkeras_zoo, offset):
    d = _adc(qkeras_zoo, "qkeras09")
    with pytest.raises(InexactError, match=r"layer 'd1'.*dyadic grid of <= 24 fractional bits.*quantize it first "
                                           r"with QActivation\(quantized_bits") as e:
        hgq_ir.lift(d / "model.h5", calibration=_ld(d, "x_calib").astype(np.float64) + offset)
    assert e.value.layer == "d1"


def test_calibration_on_a_24_bit_grid_is_accepted(qkeras_zoo):
    d = _adc(qkeras_zoo, "qkeras09")
    x = _ld(d, "x_calib").astype(np.float64) * 2.0**-24  # 8-bit counts scaled: 24 fractional bits
    graph = hgq_ir.lift(d / "model.h5", calibration=x)
    assert "%adc_calib: fx<k0 i-16 f24 RND SAT>[8]" in str(graph)


def test_float_tanh_read_by_a_qdense_refused_even_with_calibration(qkeras_zoo):
    err = json.loads((qkeras_zoo("qkeras09") / "calibration_errors.json").read_text())["tanh_with_calibration"]
    assert (err["type"], err["layer"]) == ("InexactError", "d_after")
    assert "layer 'd_tanh'" in err["message"] and "quantize it first with QActivation(quantized_bits(" in err["message"]


def test_intermediate_float_value_calibrated_from_the_live_model(qkeras_zoo):
    d = qkeras_zoo("qkeras09") / "relu_float"
    y = _ld(d, "y_qkeras")
    assert len(np.unique(y)) > 100
    np.testing.assert_array_equal(_ld(d, "y_interp"), y)
    np.testing.assert_array_equal(_ld(d, "y_proxy"), y)


def test_intermediate_float_value_of_a_file_is_refused(qkeras_zoo):
    d = qkeras_zoo("qkeras09") / "relu_float"
    with pytest.raises(UnsupportedLayerError, match="'d1'.*'float_relu'.*only to the model inputs of a file read "
                                                    "without qkeras.*live QKeras model with calibration=X"):
        hgq_ir.lift(d / "model.h5", calibration=_ld(d, "x_calib"))


def test_calibration_of_the_wrong_shape_or_count(qkeras_zoo):
    path = _adc(qkeras_zoo, "qkeras09") / "model.h5"
    with pytest.raises(ConfigError, match=r"input 'adc' has shape \(5, 4\); expected \(N, 8\)"):
        hgq_ir.lift(path, calibration=np.zeros((5, 4)))
    with pytest.raises(ConfigError, match="the model has 1 inputs .* but 2 arrays"):
        hgq_ir.lift(path, calibration=[np.zeros((5, 8)), np.zeros((5, 8))])
    with pytest.raises(ConfigError, match="NaN or Inf"):
        hgq_ir.lift(path, calibration=np.full((5, 8), np.nan))
    with pytest.raises(ConfigError, match="every calibration value .* is 0"):
        hgq_ir.lift(path, calibration=np.zeros((5, 8)))


def test_hgq_model_refuses_calibration():
    from hgq_ir.training.layers import HDense, HQuantize

    inp = keras.Input((4,))
    model = keras.Model(inp, HDense(2)(HQuantize()(inp)))
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    hgq_ir.trace_minmax(model, x, verbose=False)
    with pytest.raises(ConfigError, match="calibration data is for QKeras models.*trace_minmax"):
        hgq_ir.convert(model, to="ir", calibration=x)


# ---- the command line ------------------------------------------------------------------------
def run_cli(*args: str) -> tuple[int, list[str], set[str], str]:
    """``hgq-ir ARGS`` in a fresh process: exit code, stderr lines, modules imported, stdout."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "hgq_ir.cli", *args], capture_output=True,
                         text=True, env=env, check=False, timeout=600)
    lines = res.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    err = [ln for ln in lines if ln.strip() and not ln.startswith("import time:")]
    return res.returncode, err, imported, res.stdout


def test_cli_calib_verifies_and_reports(qkeras_zoo, tmp_path):
    d = _adc(qkeras_zoo, "qkeras09")
    model, calib = str(d / "model.h5"), str(d / "x_calib.npy")
    code, err, _, out = run_cli("verify", model, "--calib", calib, "--data", str(d / "x.npy"))
    assert (code, err) == (0, []), err
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    for executor in ("Keras proxy", "onnxruntime (onnx target)"):
        assert "100.00% of 2000 rows" in rows[executor], out
    assert "100.00% of 256 rows" in rows["qonnx executor (qonnx target)"], out
    # a QKeras 0.9 file does not load in Keras 3: the table says so instead of passing quietly
    assert "not run" in rows["source model (Keras predict)"], out
    code, err, _, out = run_cli("inspect", model, "--calib", calib)
    assert code == 0 and CALIB_NODE in out, err
    code, err, _, _ = run_cli("report", model)
    assert code == 2 and len(err) == 1 and "'d1'" in err[0] and "--calib X.npy" in err[0], err
    words = tmp_path / "words.npy"
    np.save(words, np.array([["a", "b"]]))
    for bad, fragment in ((str(tmp_path / "nope.npy"), "--calib '" + str(tmp_path / "nope.npy") + "' does not exist"),
                          (str(words), "not numbers")):
        for cmd in (("convert", model, "--to", "ir"), ("report", model), ("inspect", model), ("verify", model)):
            code, err, imported, _ = run_cli(*cmd, "--calib", bad)
            assert code == 2 and len(err) == 1 and err[0].startswith("hgq-ir: error: ") and fragment in err[0], err
            assert not {m for m in imported if m.split(".")[0] in HEAVY}, cmd


def test_cli_calib_off_the_grid_is_one_line(qkeras_zoo, tmp_path):
    d = _adc(qkeras_zoo, "qkeras09")
    bad = tmp_path / "bad_calib.npy"
    np.save(bad, np.load(d / "x_calib.npy") + 0.1)
    code, err, _, _ = run_cli("convert", str(d / "model.h5"), "--to", "ir", "--calib", str(bad))
    assert code == 2 and len(err) == 1 and "'d1'" in err[0] and "dyadic" in err[0], err
