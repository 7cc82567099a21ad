"""Fuzz reproducer e770abb6aeaa: interp.

spec e770abb6aeaa (2 layers, aggressive=False)
  io: pass 0/0
  interp: fail 767/768 output 0 row 0 element 3: got np.float64(-0.5) want np.float64(0.25) (3934 elements)
  hgq_calib: pass 0/512
  hgq_clean: pass 0/617
  onnx_f32: pass 0/768
  onnx_f64: pass 0/768
  qonnx: pass 0/16

TensorFlow's Conv2D computes a 'valid' convolution with one output position along an axis wrongly
(kernel 2, stride 2 on 3 cells), in the proxy and in the HGQ model alike; the proxy target flagged
only 'same' ones. Fixed: ``tensorflow_conv_hazards`` flags the 'valid' geometries too (measured by
``tests/backends/test_tensorflow_conv_hazard.py``); the mismatch is now announced, not silent.

Run ``.venv/bin/python tests/fuzz/reproducers/test_e770abb6aeaa.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 15510,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [5, 3, 1], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq1',
            'in': ['x0'],
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': 2,
                    'span': 0,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'conv',
            'name': 'conv2',
            'in': ['hq1'],
            'rank': 2,
            'filters': 3,
            'kernel': [3, 2],
            'strides': [1, 2],
            'padding': 'valid',
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'pf': 1,
            'kq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': 2,
                    'span': 0,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}}],
 'outputs': ['conv2'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
