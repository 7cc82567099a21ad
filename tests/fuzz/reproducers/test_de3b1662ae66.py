"""Fuzz reproducer de3b1662ae66: crash.

spec de3b1662ae66 (2 layers, aggressive=True)
  CRASH convert: InternalError: internal error emitting node 'act3_act_lut' (LUT, from 'act3') as a Keras
    layer: FormatError: UnaryLUT kif_in (0, 0, 0): need k in (0, 1) and a positive width k+i+f [at
    keras_proxy.py:to_keras_proxy]

Run ``.venv/bin/python tests/fuzz/reproducers/test_de3b1662ae66.py`` (exit status 1 while it fails).
Fixed since: kept as a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = False
SPEC = {'version': 1,
 'seed': 63138,
 'aggressive': True,
 'kind': 'func',
 'inputs': [{'name': 'x0', 'shape': [6, 5, 1], 'sig': [1, 7, 3]}],
 'nodes': [{'op': 'hq',
            'name': 'hq2',
            'in': ['x0'],
            'paq': {'skip': 'except_last', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.1, 'dead': 0.0}},
           {'op': 'act',
            'name': 'act3',
            'in': ['hq2'],
            'fn': 'hard_sigmoid',
            'paq': {'skip': 'batch', 'floor': False, 'lo': 2, 'span': 0, 'zero': 0.0, 'dead': 0.0}}],
 'outputs': ['act3'],
 'data': {'n_calib': 512, 'n_test': 256, 'scale': 0, 'far': 3, 'cover': 1.0}}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
