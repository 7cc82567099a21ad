"""Fuzz reproducer 93bf0541e659: hls.

spec 93bf0541e659 (11 layers, aggressive=False)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/0
  hls: fail 21/768 output 0 row 640 element 0: got np.float64(-226.0) want np.float64(254.0) (21 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/93bf0541e659.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_93bf0541e659.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 56819,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [10, 2], 'sig': None},
            {'name': 'x1', 'shape': [2], 'sig': None},
            {'name': 'x2', 'shape': [7], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq2',
            'in': ['x0'],
            'paq': {'skip': 'except_last',
                    'floor': False,
                    'lo': 3,
                    'span': 4,
                    'zero': 0.0,
                    'dead': 0.25,
                    'alive': True}},
           {'op': 'hq',
            'name': 'hq3',
            'in': ['x1'],
            'paq': {'skip': 'except_last',
                    'floor': True,
                    'lo': 3,
                    'span': 1,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'hq',
            'name': 'hq5',
            'in': ['x2'],
            'paq': {'skip': 'all',
                    'floor': False,
                    'lo': 6,
                    'span': 1,
                    'zero': 0.3,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'flatten', 'name': 'flatten6', 'in': ['hq2']},
           {'op': 'dense',
            'name': 'dense7',
            'in': ['flatten6'],
            'units': 4,
            'relu': True,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'kq': {'skip': 'all', 'floor': False, 'lo': 3, 'span': 2, 'zero': 0.1, 'dead': 0.25},
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': 3,
                    'span': 4,
                    'zero': 0.0,
                    'dead': 0.5,
                    'alive': True}},
           {'op': 'dense',
            'name': 'dense8',
            'in': ['hq3'],
            'units': 4,
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': -4,
            'kq': {'skip': 'none', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.3, 'dead': 0.0},
            'paq': {'skip': 'all',
                    'floor': True,
                    'lo': -1,
                    'span': 2,
                    'zero': 0.1,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'dense',
            'name': 'dense9',
            'in': ['hq5'],
            'units': 4,
            'relu': True,
            'bias': True,
            'bn': True,
            'wexp': 2,
            'kq': {'skip': 'none', 'floor': False, 'lo': 1, 'span': 0, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': 5,
                    'span': 0,
                    'zero': 0.3,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'concat', 'name': 'concat10', 'in': ['dense7', 'dense8', 'dense9'], 'axis': -1},
           {'op': 'hq',
            'name': 'hq11',
            'in': ['concat10'],
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': -1,
                    'span': 2,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'dense',
            'name': 'dense12',
            'in': ['hq11'],
            'units': 1,
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 3,
            'kq': {'skip': 'all', 'floor': False, 'lo': 5, 'span': 4, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'all',
                    'floor': True,
                    'lo': 5,
                    'span': 2,
                    'zero': 0.0,
                    'dead': 0.25,
                    'alive': True}},
           {'op': 'hq',
            'name': 'hq13',
            'in': ['dense12'],
            'paq': {'skip': 'batch',
                    'floor': True,
                    'lo': -1,
                    'span': 0,
                    'zero': 0.1,
                    'dead': 0.0,
                    'alive': True}}],
 'outputs': ['hq13'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 2, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
