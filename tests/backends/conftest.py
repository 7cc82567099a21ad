"""Make ``tests/hls4ml_harness.py`` importable as ``hls4ml_harness`` from the backend tests."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
