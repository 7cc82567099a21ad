"""Fuzz reproducer 70467451c49d: hls.

spec 70467451c49d (3 layers, aggressive=True)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/638
  hls: fail 498/768 output 0 row 0 element 2: got np.float64(2.0) want np.float64(5.0) (709 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/test_70467451c49d.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 10425,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [6], 'sig': [0, 2, 3]}],
 'nodes': [{'op': 'sig', 'name': 'sig2', 'in': ['x0'], 'k': 0, 'bits': 2, 'int_bits': 3},
           {'op': 'act',
            'name': 'act4',
            'in': ['sig2'],
            'fn': 'custom:cubic',
            'paq': {'skip': 'batch', 'floor': True, 'lo': -2, 'span': 4, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'act',
            'name': 'act6',
            'in': ['act4'],
            'fn': 'custom:sqrt_abs',
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 0, 'span': 2, 'zero': 0.3, 'dead': 0.0}}],
 'outputs': ['act6'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
