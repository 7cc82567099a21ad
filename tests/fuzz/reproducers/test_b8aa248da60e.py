"""Fuzz reproducer b8aa248da60e: hls.

spec b8aa248da60e (3 layers, aggressive=False)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/0
  hls: fail 16/768 output 0 row 640 element 2: got np.float64(3221225472.0) want np.float64(0.0) (18 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/test_b8aa248da60e.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 56393,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [9, 1], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq1',
            'in': ['x0'],
            'paq': {'skip': 'all', 'floor': False, 'lo': 5, 'span': 2, 'zero': 0.3, 'dead': 0.5}},
           {'op': 'flatten', 'name': 'flatten3', 'in': ['hq1']},
           {'op': 'dense',
            'name': 'dense4',
            'in': ['flatten3'],
            'units': 4,
            'relu': False,
            'bias': True,
            'bn': True,
            'wexp': 0,
            'kq': {'skip': 'all', 'floor': False, 'lo': 2, 'span': 4, 'zero': 0.0, 'dead': 0.25},
            'paq': {'skip': 'all', 'floor': False, 'lo': -3, 'span': 3, 'zero': 0.1, 'dead': 0.0}}],
 'outputs': ['dense4'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
