"""Fuzz reproducer 05b45079e01f: refused.

spec 05b45079e01f (2 layers, aggressive=True)
  REFUSED convert: GraphError: model 'fz_05b45079e01f' output reads output #0 of call 1 of layer 'sub2', which
    has 0 output(s): the model config is inconsistent (edited by hand?); rebuild the model and save it again
    [at keras.py:_tensor]

Run ``.venv/bin/python tests/fuzz/reproducers/test_05b45079e01f.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 16898,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [15], 'sig': None}],
 'nodes': [{'op': 'sub',
            'name': 'sub2',
            'in': ['x0'],
            'kind': 'func',
            'body': {'inputs': [{'name': 'sub2_in0', 'shape': [15]}],
                     'nodes': [{'op': 'reshape', 'name': 'reshape3', 'in': ['sub2_in0'], 'target': [1, 15]}],
                     'outputs': ['reshape3']},
            'outs': ['sub2_out0']}],
 'outputs': ['sub2_out0'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
