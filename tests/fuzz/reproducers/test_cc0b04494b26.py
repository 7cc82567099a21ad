"""Fuzz reproducer cc0b04494b26: crash.

spec cc0b04494b26 (2 layers, aggressive=True)
  CRASH hls4ml: AssertionError: Remove leaf node reshape7 will connect its input node hq3 to output, but it
    already is. [at graph.py:remove_node]
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/2

Run ``.venv/bin/python tests/fuzz/reproducers/cc0b04494b26.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_cc0b04494b26.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 64112,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [13], 'sig': [1, 2, 2]}],
 'nodes': [{'op': 'hq',
            'name': 'hq3',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 6, 'span': 2, 'zero': 0.3, 'dead': 0.0}},
           {'op': 'reshape', 'name': 'reshape7', 'in': ['hq3'], 'target': [1, 13]}],
 'outputs': ['reshape7', 'hq3'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': -6, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
