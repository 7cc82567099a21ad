"""Fuzz reproducer 57c9e203bce5: hls.

spec 57c9e203bce5 (3 layers, aggressive=True)
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/187
  hls: fail 129/768 output 0 row 513 element 0: got np.float64(0.0) want np.float64(4.0) (620 elements)

Run ``.venv/bin/python tests/fuzz/reproducers/57c9e203bce5.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_57c9e203bce5.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 13203,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [7], 'sig': [0, 5, 2]}],
 'nodes': [{'op': 'sig', 'name': 'sig1', 'in': ['x0'], 'k': 0, 'bits': 5, 'int_bits': 2},
           {'op': 'hq',
            'name': 'hq2',
            'in': ['sig1'],
            'paq': {'skip': 'all', 'floor': False, 'lo': 1, 'span': 1, 'zero': 0.1, 'dead': 0.0}},
           {'op': 'act',
            'name': 'act3',
            'in': ['hq2'],
            'fn': 'leaky_relu',
            'paq': {'skip': 'batch',
                    'floor': False,
                    'lo': 4,
                    'span': 0,
                    'zero': 0.3,
                    'dead': 0.0,
                    'alive': True}}],
 'outputs': ['act3'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 10, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
