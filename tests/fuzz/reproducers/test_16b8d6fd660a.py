"""Fuzz reproducer 16b8d6fd660a: crash.

spec 16b8d6fd660a (8 layers, aggressive=True)
  CRASH hls4ml: RuntimeError: hls4ml C simulation died (signal 6): python:
    firmware/ap_types/etc/ap_private.h:2360: bool ap_private<_AP_W, _AP_S, true>::get_bit(int) const [with int
    _AP_W = 1; bool _AP_S = true]: Assertion `i < _AP_W && "Attempting to read bit beyond MSB"' failed. [at
    strategies.py:isolated
  io: pass 0/0
  interp: pass 0/768
  hgq_calib: pass 0/512
  hgq_clean: pass 0/667

Run ``.venv/bin/python tests/fuzz/reproducers/16b8d6fd660a.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_16b8d6fd660a.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = True
SPEC = {'version': 1,
 'seed': 10286,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [3, 1], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq7',
            'in': ['x0'],
            'paq': {'skip': 'except_last',
                    'floor': False,
                    'lo': 4,
                    'span': 1,
                    'zero': 0.3,
                    'dead': 0.25,
                    'alive': True}},
           {'op': 'conv',
            'name': 'conv11',
            'in': ['hq7'],
            'rank': 1,
            'filters': 1,
            'kernel': [1],
            'strides': [1],
            'padding': 'same',
            'relu': False,
            'bias': True,
            'bn': False,
            'wexp': -2,
            'pf': 1,
            'kq': {'skip': 'all', 'floor': False, 'lo': 1, 'span': 0, 'zero': 0.0, 'dead': 0.25},
            'paq': {'skip': 'all',
                    'floor': True,
                    'lo': 3,
                    'span': 3,
                    'zero': 0.0,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'concat', 'name': 'concat14', 'in': ['hq7', 'conv11', 'hq7'], 'axis': 1},
           {'op': 'flatten', 'name': 'flatten16', 'in': ['concat14']},
           {'op': 'hq',
            'name': 'hq17',
            'in': ['flatten16'],
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 2, 'span': 1, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'act',
            'name': 'act18',
            'in': ['hq17'],
            'fn': 'linear',
            'paq': {'skip': 'all',
                    'floor': False,
                    'lo': -3,
                    'span': 3,
                    'zero': 0.3,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'dense',
            'name': 'dense19',
            'in': ['flatten16'],
            'units': 8,
            'relu': True,
            'bias': True,
            'bn': False,
            'wexp': 2,
            'kq': {'skip': 'none', 'floor': True, 'lo': 5, 'span': 0, 'zero': 0.0, 'dead': 0.0},
            'paq': {'skip': 'all',
                    'floor': False,
                    'lo': 6,
                    'span': 3,
                    'zero': 0.1,
                    'dead': 0.0,
                    'alive': True}},
           {'op': 'concat', 'name': 'concat20', 'in': ['act18', 'dense19'], 'axis': -1}],
 'outputs': ['concat20'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
