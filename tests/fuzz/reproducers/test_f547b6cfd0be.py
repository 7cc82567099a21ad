"""Fuzz reproducer f547b6cfd0be: crash.

spec f547b6cfd0be (4 layers, aggressive=False)
  CRASH hls4ml: RuntimeError: hls4ml C simulation died (signal 6): python:
    firmware/ap_types/etc/ap_private.h:2360: bool ap_private<_AP_W, _AP_S, true>::get_bit(int) const [with int
    _AP_W = 8; bool _AP_S = true]: Assertion `i < _AP_W && "Attempting to read bit beyond MSB"' failed. [at
    strategies.py:isolated
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/672

Run ``.venv/bin/python tests/fuzz/reproducers/f547b6cfd0be.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_f547b6cfd0be.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 27918,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [16], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq2',
            'in': ['x0'],
            'paq': {'skip': 'batch',
                    'floor': True,
                    'lo': 3,
                    'span': 1,
                    'zero': 0.0,
                    'dead': 0.5,
                    'alive': True}},
           {'op': 'hq',
            'name': 'hq3',
            'in': ['hq2'],
            'paq': {'skip': 'all', 'floor': False, 'lo': 0, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'hq',
            'name': 'hq7',
            'in': ['hq3'],
            'paq': {'skip': 'all',
                    'floor': False,
                    'lo': 8,
                    'span': 4,
                    'zero': 0.1,
                    'dead': 0.25,
                    'alive': True}},
           {'op': 'concat', 'name': 'concat8', 'in': ['hq3', 'hq7'], 'axis': -1}],
 'outputs': ['concat8'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 2.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
