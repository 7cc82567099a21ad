"""Fuzz reproducer e77074e21234: hgq_calib, hgq_clean.

spec e77074e21234 (2 layers, aggressive=False)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: fail 24/512 output 0 row 16 element 7: got np.float64(0.0) want np.float64(2.0) (25 elements)
  hgq_clean: fail 5/61 output 0 row 77 element 5: got np.float64(0.0) want np.float64(2.0) (5 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/e77074e21234.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_e77074e21234.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 17920,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [15], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq4',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'act',
            'name': 'act11',
            'in': ['hq4'],
            'fn': 'tanh',
            'paq': {'skip': 'batch', 'floor': False, 'lo': -1, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['act11'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 2, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
