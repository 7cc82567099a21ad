"""Fuzz reproducer 5eb5d6c2a395: crash.

spec 5eb5d6c2a395 (3 layers, aggressive=True)
  CRASH hls4ml: Exception: Failed to compile project "myproject" [at fpga_backend.py:compile]
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/638

Run ``.venv/bin/python tests/fuzz/reproducers/5eb5d6c2a395.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_5eb5d6c2a395.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 1,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [16], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq1',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 7, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'reshape', 'name': 'reshape2', 'in': ['hq1'], 'target': [4, 4]},
           {'op': 'hq',
            'name': 'hq3',
            'in': ['reshape2'],
            'paq': {'skip': 'batch', 'floor': True, 'lo': 0, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['hq3'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': -3, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
