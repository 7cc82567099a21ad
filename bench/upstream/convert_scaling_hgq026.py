"""Upstream HGQ 0.2.6 side of ``bench/convert_scaling.py``; run it with the peer venv's python.

Prints one JSON line ``{"depth": {"cold": s, "warm": s}, ...}`` for ``to_proxy_model`` on
HQuantize + N x HDense(16, relu) models traced on random data (the same models as our benchmark):
``cold`` is the first call on a freshly built model (median of 3 models up to 128 layers, one
model above), ``warm`` the best of two more calls on the last one.

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
    """Time ``to_proxy_model`` for each depth on the command line."""
    sys.setrecursionlimit(100000)  # Keras maps deep functional graphs recursively (512 layers need it)
    out = {}
    for depth in [int(a) for a in sys.argv[1:]] or [8, 32, 128]:
        colds = []
        for _ in range(3 if depth <= 128 else 1):
            tf.keras.backend.clear_session()
            model = deep_model(depth)
            t0 = time.perf_counter()
            to_proxy_model(model)
            colds.append(time.perf_counter() - t0)
        cold = float(np.median(colds))
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            to_proxy_model(model)
            best = min(best, time.perf_counter() - t0)
        out[depth] = {"cold": cold, "warm": best}
        tf.keras.backend.clear_session()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
