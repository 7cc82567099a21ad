"""Fuzz reproducer eeef917687fc: hgq_calib, hgq_clean.

spec eeef917687fc (3 layers, aggressive=True)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: fail 30/512 output 0 row 14 element 34: got np.float64(-256.0) want np.float64(-0.0) (30
    elements)
  hgq_clean: fail 47/768 output 0 row 14 element 34: got np.float64(-256.0) want np.float64(-0.0) (47
    elements)

Run ``.venv/bin/python tests/fuzz/reproducers/eeef917687fc.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_eeef917687fc.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 9560,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x2', 'shape': [10, 3], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq5',
            'in': ['x2'],
            'paq': {'skip': 'batch',
                    'floor': True,
                    'lo': -8,
                    'span': 3,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'conv',
            'name': 'conv6',
            'in': ['hq5'],
            'rank': 1,
            'filters': 4,
            'kernel': [2],
            'strides': [1],
            'padding': 'valid',
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'pf': 1,
            'kq': {'skip': 'none', 'floor': True, 'lo': 6, 'span': 4, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'except_last',
                    'floor': True,
                    'lo': -3,
                    'span': 4,
                    'zero': 0.0,
                    'dead': 0.5,
                    'alive': True}},
           {'op': 'act',
            'name': 'act7',
            'in': ['conv6'],
            'fn': 'mish',
            'paq': {'skip': 'except_last',
                    'floor': True,
                    'lo': -8,
                    'span': 1,
                    'zero': 0.1,
                    'dead': 0.0,
                    'alive': True}}],
 'outputs': ['act7'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
