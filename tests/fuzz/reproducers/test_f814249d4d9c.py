"""Fuzz reproducer f814249d4d9c: crash.

spec f814249d4d9c (2 layers, aggressive=False)
  CRASH convert: InternalError: internal error emitting node 'act5_act_lut' (LUT, from 'act5') as a Keras
    layer: FormatError: UnaryLUT 'act5_act_lut': table entries are not exact in float32 [at
    keras_proxy.py:to_keras_proxy]
  flagged: warning: the float32 proxy cannot compute these exactly (> 24 significant bits): act5_act_lut (26
    bits)

Run ``.venv/bin/python tests/fuzz/reproducers/f814249d4d9c.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_f814249d4d9c.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 4056,
 'aggressive': False,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [1], 'sig': None}],
 'nodes': [{'op': 'hq',
            'name': 'hq1',
            'in': ['x0'],
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}},
           {'op': 'act',
            'name': 'act5',
            'in': ['hq1'],
            'fn': 'exponential',
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['act5'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 2, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
