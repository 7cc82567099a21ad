"""Fuzz reproducer b79d37fc03d6: hgq_calib, hgq_clean.

spec b79d37fc03d6 (8 layers, aggressive=True)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: fail 5/512 output 0 row 227 element 29: got np.float64(-7.5) want np.float64(-7.0) (15 elements)
  hgq_clean: fail 7/638 output 0 row 227 element 29: got np.float64(-7.5) want np.float64(-7.0) (21 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/b79d37fc03d6.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_b79d37fc03d6.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 27,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [14], 'sig': [1, 6, 3]}],
 'nodes': [{'op': 'hq',
            'name': 'hq2',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'hq',
            'name': 'hq3',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'concat', 'name': 'concat5', 'in': ['hq2', 'hq3'], 'axis': -1},
           {'op': 'concat', 'name': 'concat9', 'in': ['concat5', 'concat5'], 'axis': -1},
           {'op': 'reshape', 'name': 'reshape10', 'in': ['concat9'], 'target': [1, 4, 14]},
           {'op': 'conv',
            'name': 'conv15',
            'in': ['reshape10'],
            'rank': 2,
            'filters': 3,
            'kernel': [1, 2],
            'strides': [1, 1],
            'padding': 'same',
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'pf': 1,
            'kq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'concat', 'name': 'concat16', 'in': ['reshape10', 'reshape10', 'conv15'], 'axis': -1},
           {'op': 'act',
            'name': 'act17',
            'in': ['concat16'],
            'fn': 'tanh_shrink',
            'paq': {'skip': 'batch', 'floor': False, 'lo': 1, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['act17'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
