"""Upstream HGQ 0.2.6 side of ``bench/emulate.py``; run it with the peer venv's python.

Builds the demo MLP (HQuantize -> HDense(32, relu) -> HDense(10) on 64 inputs) and the zoo conv
model (HConv2D same relu -> PMaxPool2D -> HConv2DBatchNorm -> PAvgPool2D same -> HConv2D stride 2
-> PFlatten on 8x8x2) with upstream's layers on Keras 2 (seeded random weights: speed is what is
compared, not values), calibrates them with ``trace_minmax`` on the benchmark's own inputs,
converts them with ``to_proxy_model`` and times the proxy: ``predict`` at each batch size and a
direct call on the whole array (best of ``repeat`` runs after one warm-up each).

Prints one JSON line ``{"mlp": {"predict": {bs: samples/s}, "direct": samples/s}, "conv": {...}}``.

    ../peer-venv/bin/python bench/upstream/emulate_hgq026.py MLP.npy CONV.npy [--batch-sizes 1024 8192 32768]
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from HGQ import (  # noqa: E402
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HQuantize,
    PAvgPool2D,
    PFlatten,
    PMaxPool2D,
    to_proxy_model,
    trace_minmax,
)


def mlp():
    """The demo MLP, upstream's layers."""
    inp = tf.keras.Input((64,))
    h = HDense(32, activation="relu", beta=1e-7)(HQuantize(beta=1e-7)(inp))
    return tf.keras.Model(inp, HDense(10, beta=1e-7)(h))


def conv():
    """The zoo conv2d model, upstream's layers (same shapes, kernels, strides and paddings)."""
    inp = tf.keras.Input((8, 8, 2))
    h = HQuantize(beta=1e-7)(inp)
    h = HConv2D(3, 3, padding="same", activation="relu", beta=1e-7)(h)
    h = PMaxPool2D(2)(h)
    h = HConv2DBatchNorm(4, 2, beta=1e-7)(h)
    h = PAvgPool2D(2, padding="same")(h)
    h = HConv2D(4, 2, strides=2, padding="same", beta=1e-7)(h)
    return tf.keras.Model(inp, PFlatten()(h))


def best_rate(fn, n, repeat):
    """Samples per second of ``fn()`` on ``n`` samples: best of ``repeat`` runs after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def time_proxy(build, x, batch_sizes, repeat):
    """``{"predict": {bs: samples/s}, "direct": samples/s}`` of upstream's proxy of ``build()``."""
    tf.keras.utils.set_random_seed(0)
    model = build()
    trace_minmax(model, x[:4096], verbose=False)
    proxy = to_proxy_model(model)
    out = {"predict": {}}
    for bs in batch_sizes:
        out["predict"][str(bs)] = best_rate(lambda bs=bs: proxy.predict(x, batch_size=bs, verbose=0), len(x), repeat)
    xt = tf.constant(x)
    out["direct"] = best_rate(lambda: proxy(xt), len(x), repeat)
    return out


def main():
    """Time upstream's proxy of both models."""
    ap = argparse.ArgumentParser()
    ap.add_argument("mlp_x")
    ap.add_argument("conv_x")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 8192, 32768])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = {}
    for name, build, path in (("mlp", mlp, args.mlp_x), ("conv", conv, args.conv_x)):
        out[name] = time_proxy(build, np.load(path), args.batch_sizes, args.repeat)
    out["versions"] = {"tensorflow": tf.__version__, "hgq": __import__("HGQ").__version__}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
