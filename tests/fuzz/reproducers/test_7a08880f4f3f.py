"""Fuzz reproducer 7a08880f4f3f: refused.

spec 7a08880f4f3f (8 layers, aggressive=True)
  REFUSED convert: GraphError: layer 'sub10' (Functional): model 'sub10' output reads output #0 of call 1 of
    layer 'sub11', which has 0 output(s): the model config is inconsistent (edited by hand?); rebuild the
    model and save it again; its weights or config do not fit the shapes of its inputs: the model confi

Run ``.venv/bin/python tests/fuzz/reproducers/test_7a08880f4f3f.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 46172,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [5], 'sig': None},
            {'name': 'x1', 'shape': [15], 'sig': [1, 5, 3]},
            {'name': 'x2', 'shape': [2, 6, 2], 'sig': None}],
 'nodes': [{'op': 'dense',
            'name': 'dense5',
            'in': ['x0'],
            'units': 6,
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'kq': {'skip': 'none', 'floor': True, 'lo': 1, 'span': 3, 'zero': 0.1, 'dead': 0.25},
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'dense',
            'name': 'dense6',
            'in': ['x1'],
            'units': 6,
            'relu': False,
            'bias': True,
            'bn': True,
            'wexp': -2,
            'kq': {'skip': 'none', 'floor': False, 'lo': 2, 'span': 1, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'batch', 'floor': True, 'lo': -1, 'span': 0, 'zero': 0.0, 'dead': 0.25}},
           {'op': 'flatten', 'name': 'flatten7', 'in': ['x2']},
           {'op': 'dense',
            'name': 'dense8',
            'in': ['flatten7'],
            'units': 6,
            'relu': False,
            'bias': True,
            'bn': True,
            'wexp': -2,
            'kq': {'skip': 'none', 'floor': False, 'lo': 6, 'span': 2, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 6, 'span': 1, 'zero': 0.1, 'dead': 0.0}},
           {'op': 'concat', 'name': 'concat9', 'in': ['dense5', 'dense6', 'dense8'], 'axis': -1},
           {'op': 'sub',
            'name': 'sub10',
            'in': ['concat9'],
            'kind': 'func',
            'body': {'inputs': [{'name': 'sub10_in0', 'shape': [18]}],
                     'nodes': [{'op': 'sub',
                                'name': 'sub11',
                                'in': ['sub10_in0'],
                                'kind': 'func',
                                'body': {'inputs': [{'name': 'sub11_in0', 'shape': [18]}],
                                         'nodes': [{'op': 'add',
                                                    'name': 'add13',
                                                    'in': ['sub11_in0', 'sub11_in0'],
                                                    'paq': {'skip': 'batch',
                                                            'floor': False,
                                                            'lo': 5,
                                                            'span': 3,
                                                            'zero': 0.0,
                                                            'dead': 0.0}}],
                                         'outputs': ['add13']},
                                'outs': ['sub11_out0']}],
                     'outputs': ['sub11_out0']},
            'outs': ['sub10_out0']}],
 'outputs': ['sub10_out0'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
