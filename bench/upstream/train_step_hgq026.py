"""Upstream HGQ 0.2.6 side of ``bench/train_step.py``; run it with the peer venv's python.

Prints one JSON line ``{"mlp": ms, "conv": ms}``: milliseconds per ``train_on_batch`` (batch 256,
median of 3 runs of 200 steps after 20 warm-up steps) of the same two models built with
upstream's layers on Keras 2, without XLA (upstream's default).
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from HGQ import HConv2D, HDense, HQuantize, PFlatten, PMaxPool2D  # noqa: E402

BATCH, WARMUP, STEPS = 256, 20, 200


def mlp():
    """Digits MLP."""
    inp = tf.keras.Input((64,))
    h = HDense(32, activation="relu", beta=1e-7)(HQuantize(beta=1e-7)(inp))
    return tf.keras.Model(inp, HDense(10, beta=1e-7)(h))


def conv():
    """Conv model on 8x8x1."""
    inp = tf.keras.Input((8, 8, 1))
    h = HConv2D(4, 3, activation="relu", beta=1e-7)(HQuantize(beta=1e-7)(inp))
    h = PFlatten()(PMaxPool2D(2)(h))
    return tf.keras.Model(inp, HDense(10, beta=1e-7)(h))


def ms_per_step(model, x, y):
    """Median-of-3 mean time of STEPS train_on_batch calls, in milliseconds."""
    model.compile(tf.keras.optimizers.Adam(1e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _ in range(WARMUP):
        model.train_on_batch(x, y)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(STEPS):
            model.train_on_batch(x, y)
        runs.append((time.perf_counter() - t0) / STEPS * 1e3)
    return float(np.median(runs))


def main():
    """Time both models."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, BATCH)
    data = {"mlp": rng.uniform(0, 1, (BATCH, 64)).astype(np.float32),
            "conv": rng.uniform(0, 1, (BATCH, 8, 8, 1)).astype(np.float32)}
    out = {name: ms_per_step(build(), data[name], y) for name, build in (("mlp", mlp), ("conv", conv))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
