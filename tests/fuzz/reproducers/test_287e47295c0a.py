"""Fuzz reproducer 287e47295c0a: hls.

spec 287e47295c0a (6 layers, aggressive=True)
  io: pass 0/0
  interp: pass 0/768
  hgq_clean: pass 0/249
  hls: fail 429/768 output 0 row 0 element 2: got np.float64(0.0) want np.float64(-1.0) (3419 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/287e47295c0a.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_287e47295c0a.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 49085,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [9, 3], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq1',
            'in': ['x0'],
            'paq': {'skip': 'all', 'floor': False, 'lo': 6, 'span': 1, 'zero': 0.3, 'dead': 0.25}},
           {'op': 'pool',
            'name': 'maxpool2',
            'in': ['hq1'],
            'rank': 1,
            'kind': 'max',
            'pool': [3],
            'strides': [3],
            'padding': 'same'},
           {'op': 'hq',
            'name': 'hq4',
            'in': ['maxpool2'],
            'paq': {'skip': 'except_last', 'floor': True, 'lo': 0, 'span': 0, 'zero': 0.1, 'dead': 0.0}},
           {'op': 'dense',
            'name': 'dense10',
            'in': ['hq4'],
            'units': 10,
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'kq': {'skip': 'none', 'floor': False, 'lo': 3, 'span': 2, 'zero': 0.1, 'dead': 0.0},
            'paq': {'skip': 'batch', 'floor': True, 'lo': -2, 'span': 3, 'zero': 0.1, 'dead': 0.0}},
           {'op': 'dense',
            'name': 'dense11',
            'in': ['hq4'],
            'units': 11,
            'relu': False,
            'bias': False,
            'bn': False,
            'wexp': -2,
            'kq': {'skip': 'all', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.1, 'dead': 0.0},
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 1, 'span': 2, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'concat', 'name': 'concat12', 'in': ['hq4', 'dense10', 'dense11'], 'axis': -1}],
 'outputs': ['concat12'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': -3, 'far': 3, 'cover': 0.5}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
