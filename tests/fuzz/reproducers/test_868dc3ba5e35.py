"""Fuzz reproducer 868dc3ba5e35: hls.

spec 868dc3ba5e35 (2 layers, aggressive=False)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/1
  hls: fail 558/768 output 0 row 0 element 1: got np.float64(0.0) want np.float64(0.25) (769 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/test_868dc3ba5e35.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 34432,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x1', 'shape': [10], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq3',
            'in': ['x1'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': -8, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'dense',
            'name': 'dense5',
            'in': ['hq3'],
            'units': 2,
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'kq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['dense5'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
