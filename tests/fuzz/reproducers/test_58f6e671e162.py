"""Fuzz reproducer 58f6e671e162: hgq_calib.

spec 58f6e671e162 (3 layers, aggressive=True)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: fail 365/512 output 0 row 1 element 10: got np.float64(0.0) want np.float64(-2.0) (485 elements)
  hgq_clean: pass 0/1
  onnx_f32: pass 0/768
  onnx_f64: pass 0/768
  qonnx: pass 0/16
  flagged: warning: layer 'hq3' (Quantize) will not be bit-exact in hls4ml: element (10,) can be -256, but
    hls4ml 1.3 types it fx<k0 i0 f0> and loses the value: a truncation onto a grid of 2**8, coarser than its |
    warning: layer 'hq3' (Quantize) will not be bit-exact in hls4ml: element (10,) can be -256, but hls4ml 1.3
    types it fx<k0 i0 f0> and loses the value: a truncation onto a grid of 2**8, coarser than its

The proxy legalization re-indexed act4's lookup table with the type hls4ml gives hq3, which cannot
hold hq3's -256 (a truncation onto a grid of 2**8): the proxy looked up softsign(0) where the model
computes softsign(-256), on in-range rows, with only an hls4ml warning. Fixed: ``fit_lut_inputs`` re-indexes
a table only where that type holds every value of its input; ``lut_index_cut_by_hls4ml`` warns otherwise.

Run ``.venv/bin/python tests/fuzz/reproducers/test_58f6e671e162.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 17599,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [12], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq1',
            'in': ['x0'],
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': 5,
                    'span': 1,
                    'zero': 0.0,
                    'dead': 0.5,
                    'alive': True}},
           {'op': 'hq',
            'name': 'hq3',
            'in': ['hq1'],
            'paq': {'skip': 'batch',
                    'floor': True,
                    'lo': 0,
                    'span': 0,
                    'zero': 0.1,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'act',
            'name': 'act4',
            'in': ['hq3'],
            'fn': 'softsign',
            'paq': {'skip': 'batch',
                    'floor': True,
                    'lo': -1,
                    'span': 2,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}}],
 'outputs': ['act4'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 6, 'cover': 2.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
