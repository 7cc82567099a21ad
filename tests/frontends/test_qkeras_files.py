"""QKeras files: read without qkeras or tf_keras, typed errors naming the layer, never "truncated" when valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import hgq_ir
from hgq_ir.ir.errors import ModelFileError, UnsupportedLayerError

EXT = {"qkeras09": ".h5", "qkeras3": ".keras"}
REPO = Path(__file__).resolve().parents[2]

LIFT_IN_FRESH_PROCESS = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, hgq_ir
x = np.load(sys.argv[2])
y = hgq_ir.interpret(hgq_ir.convert(sys.argv[1], to="ir"), x.astype(np.float64))
np.save(sys.argv[3], y)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("qkeras", "tf_keras"))
assert not loaded, loaded
print("OK")
"""


@pytest.mark.parametrize("flavor", list(EXT))
def test_file_lifts_in_a_process_that_never_imports_qkeras(qkeras_zoo, flavor, tmp_path):
    d = qkeras_zoo(flavor) / "conv2d_bn"
    out = tmp_path / "y.npy"
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-c", LIFT_IN_FRESH_PROCESS, str(d / f"model{EXT[flavor]}"), str(d / "x.npy"),
                        str(out)], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-2000:]
    np.testing.assert_array_equal(np.load(out), np.load(d / "y_qkeras.npy"))


@pytest.mark.parametrize("flavor", list(EXT))
def test_unsupported_quantizer_in_a_file_names_the_layer(qkeras_zoo, flavor):
    with pytest.raises(UnsupportedLayerError, match="auto_dense.*alpha='auto'") as e:
        hgq_ir.lift(qkeras_zoo(flavor) / f"error_auto{EXT[flavor]}")
    assert "truncated" not in str(e.value)


@pytest.mark.parametrize("flavor", list(EXT))
def test_float_input_to_a_kernel_names_the_layer_and_the_fix(qkeras_zoo, flavor):
    with pytest.raises(UnsupportedLayerError, match="raw_dense.*model input.*QActivation"):
        hgq_ir.convert(qkeras_zoo(flavor) / f"error_raw_input{EXT[flavor]}", to="ir")


def test_h5_with_missing_weights_names_the_layer(qkeras_zoo, tmp_path):
    path = tmp_path / "incomplete.h5"
    shutil.copy(qkeras_zoo("qkeras09") / "mlp" / "model.h5", path)
    with h5py.File(path, "r+") as f:
        del f["model_weights/d2/d2/kernel:0"]
    with pytest.raises(ModelFileError, match="'d2'.*kernel") as e:
        hgq_ir.lift(path)
    assert e.value.layer == "d2"


def test_truncated_h5_is_a_model_file_error(qkeras_zoo, tmp_path):
    src = qkeras_zoo("qkeras09") / "mlp" / "model.h5"
    path = tmp_path / "cut.h5"
    path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        hgq_ir.lift(path)


@pytest.mark.parametrize("flavor", list(EXT))
def test_valid_qkeras_file_is_never_reported_truncated(qkeras_zoo, flavor):
    graph = hgq_ir.lift(qkeras_zoo(flavor) / "tanh_lut" / f"model{EXT[flavor]}")
    assert [n.op.kind for n in graph.nodes][:3] == ["Input", "Quantize", "Dense"]
