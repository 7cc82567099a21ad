"""Upstream HGQ 0.2.6 side of ``bench/convert_scaling.py``; run it with the peer venv's python.

Prints one JSON line: ``{"depth": seconds, ...}`` for ``to_proxy_model`` on HQuantize + N x
HDense(16, relu) models traced on random data (the same models as our benchmark).

    ../peer-venv/bin/python bench/upstream/convert_scaling_hgq026.py 8 32 128
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax  # noqa: E402


def deep_model(depth):
    """HQuantize followed by ``depth`` HDense(16, relu) layers, traced on random data."""
    layers = [HQuantize(name="q", input_shape=(16,))]
    layers += [HDense(16, activation="relu", name=f"d{j}") for j in range(depth)]
    model = tf.keras.Sequential(layers)
    trace_minmax(model, np.random.default_rng(0).normal(size=(256, 16)).astype("float32"), verbose=False)
    return model


def main():
    """Time ``to_proxy_model`` for each depth on the command line (best of 2)."""
    out = {}
    for depth in [int(a) for a in sys.argv[1:]] or [8, 32, 128]:
        model = deep_model(depth)
        to_proxy_model(model)
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            to_proxy_model(model)
            best = min(best, time.perf_counter() - t0)
        out[depth] = best
        tf.keras.backend.clear_session()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
