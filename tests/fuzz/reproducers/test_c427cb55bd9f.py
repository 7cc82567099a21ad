"""Fuzz reproducer c427cb55bd9f: crash.

spec c427cb55bd9f (3 layers, aggressive=False)
  CRASH hls4ml: RuntimeError: hls4ml C simulation died (signal 6): python:
    firmware/ap_types/etc/ap_private.h:2360: bool ap_private<_AP_W, _AP_S, true>::get_bit(int) const [with int
    _AP_W = 1; bool _AP_S = false]: Assertion `i < _AP_W && "Attempting to read bit beyond MSB"' failed. [at
    strategies.py:isolate
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/0

Run ``.venv/bin/python tests/fuzz/reproducers/test_c427cb55bd9f.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 56393,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [9, 1], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq20',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 1, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'dense',
            'name': 'dense21',
            'in': ['hq20'],
            'units': 7,
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': -4,
            'kq': {'skip': 'none', 'floor': False, 'lo': 0, 'span': 0, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 4, 'span': 2, 'zero': 0.1, 'dead': 0.0}},
           {'op': 'hq',
            'name': 'hq22',
            'in': ['dense21'],
            'paq': {'skip': 'except_last', 'floor': False, 'lo': -2, 'span': 2, 'zero': 0.1, 'dead': 0.25}}],
 'outputs': ['hq22'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
