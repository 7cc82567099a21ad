"""Fuzz reproducer c2570a2dfae1: interp, hls.

spec c2570a2dfae1 (3 layers, aggressive=True)
  io: pass 0/0
  interp: fail 548/768 output 0 row 0 element 4: got np.float64(0.2109375) want np.float64(0.0234375) (1048
    elements)
  hgq_calib: pass 0/512
  hgq_clean: pass 0/308
  hls: fail 548/768 output 0 row 0 element 4: got np.float64(0.0234375) want np.float64(0.2109375) (1048
    elements)

Run ``.venv/bin/python tests/fuzz/reproducers/test_c2570a2dfae1.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 26853,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [7], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq2',
            'in': ['x0'],
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 6, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'reshape', 'name': 'reshape6', 'in': ['hq2'], 'target': [7, 1, 1]},
           {'op': 'conv',
            'name': 'conv7',
            'in': ['reshape6'],
            'rank': 2,
            'filters': 1,
            'kernel': [2, 3],
            'strides': [1, 2],
            'padding': 'same',
            'relu': True,
            'bias': True,
            'bn': False,
            'wexp': 0,
            'pf': 1,
            'kq': {'skip': 'all', 'floor': False, 'lo': 5, 'span': 3, 'zero': 0.1, 'dead': 0.25},
            'paq': {'skip': 'batch', 'floor': True, 'lo': 6, 'span': 2, 'zero': 0.1, 'dead': 0.0}}],
 'outputs': ['conv7'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 10, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
