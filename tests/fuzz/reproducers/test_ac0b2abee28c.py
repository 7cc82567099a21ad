"""Fuzz reproducer ac0b2abee28c: crash.

spec ac0b2abee28c (1 layers, aggressive=False)
  CRASH hls4ml: Exception: Failed to compile project "myproject" [at fpga_backend.py:compile]
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/638

Run ``.venv/bin/python tests/fuzz/reproducers/test_ac0b2abee28c.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 34719,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x1', 'shape': [5, 5, 1], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq2',
            'in': ['x1'],
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['hq2'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
