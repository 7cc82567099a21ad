"""hls4ml 1.3's ONNX frontend on the ``qonnx`` target of QKeras zoo models (QKeras 0.9 ``.h5``).

``mlp`` (RND_CONV -> ROUND quantizers, quantized_relu, a Dense without bias) and ``conv2d``
(QConv2D, QAveragePooling2D with an activation quantizer, max pool, dense), read without qkeras:
``qonnx_to_hls4ml`` ingests them, and the compiled C simulation equals ``interpret`` of the IR on
every row of the zoo's inputs and of far-outside ones (``x * 64``, ``x * 1e4``: SAT clipping).
Two compiles.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hgq_ir.backends.hls4ml import c_simulate, compile_quietly
from hgq_ir.backends.qonnx_hls4ml import qonnx_to_hls4ml

import hgq_ir


@pytest.mark.parametrize("name", ["mlp", "conv2d"])
def test_qkeras_csim_equals_interpret(qkeras_zoo, name: str, tmp_path: Path) -> None:
    d = qkeras_zoo("qkeras09") / name
    path = d / "model.h5"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = hgq_ir.convert(path, to="qonnx", aggressive=False)
        graph = hgq_ir.convert(path, to="ir", aggressive=False)
        hls_model = qonnx_to_hls4ml(q, tmp_path / "prj")
    assert not [w for w in caught if "bit-exact" in str(w.message) or str(w.message).startswith("hls4ml:")]
    if name == "conv2d":  # hls4ml would give the average its input's type (#1297): the exact one is set
        pool = hls_model.graph["AveragePool_0"]
        assert pool.get_output_variable().type.precision.width > pool.get_input_variable().type.precision.width
    compile_quietly(hls_model)
    x = np.load(d / "x.npy").astype(np.float32)
    xs = np.concatenate([x, x * np.float32(64), x * np.float32(1e4)]).astype(np.float32)
    want = hgq_ir.interpret(graph, xs)
    got = c_simulate(hls_model, np.ascontiguousarray(xs, dtype=np.float64), [tuple(v.shape) for v in graph.outputs])
    assert got.shape == want.shape and len(np.unique(want)) > 10
    np.testing.assert_array_equal(got, want)
