"""Fuzz reproducer 63cb601296c6: hls.

spec 63cb601296c6 (2 layers, aggressive=False)
  io: pass 0/0
  interp: pass 0/768
  hgq_clean: pass 0/36
  hls: fail 389/768 output 0 row 3 element 11: got np.float64(0.0) want np.float64(-256.0) (389 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/63cb601296c6.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_63cb601296c6.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 24040,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [13], 'sig': [1, 6, 2]}],
 'nodes': [{'op': 'sig', 'name': 'sig2', 'in': ['x0'], 'k': 1, 'bits': 6, 'int_bits': 2},
           {'op': 'add',
            'name': 'add7',
            'in': ['sig2', 'sig2', 'sig2'],
            'paq': {'skip': 'batch', 'floor': True, 'lo': 5, 'span': 0, 'zero': 0.1, 'dead': 0.0}}],
 'outputs': ['add7'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': -3, 'far': 6, 'cover': 0.5}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
