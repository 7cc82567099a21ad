"""Milliseconds per training step (batch 256) of HGQ models vs the same plain Keras models.

Models: the digits MLP (quantize -> dense(32, relu) -> dense(10)) and a small conv model on
8x8x1 digits (quantize -> conv2d(4, 3, relu) -> maxpool(2) -> flatten -> dense(10)). Each is
timed with ``train_on_batch`` after a warm-up, with and without XLA (``jit_compile``).
Prints a table and writes ``bench/results/train_step.json``. Target: HGQ <= 2x plain Keras.
With upstream HGQ 0.2.6 in a separate venv (``--upstream-python``, default ``$HGQ_UPSTREAM_PYTHON``
or ``../peer-venv/bin/python``), its figure for the same models stands beside ours
(target: at most 1x upstream).

    TF_CPP_MIN_LOG_LEVEL=3 /work/venv/bin/python bench/train_step.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hgq_ir.training.layers import HConv2D, HDense, HQuantize, PFlatten, PMaxPooling2D  # noqa: E402

BATCH, WARMUP, STEPS = 256, 20, 200


def mlp(hgq: bool) -> keras.Model:
    """Digits MLP, HGQ or plain."""
    inp = keras.Input((64,))
    if hgq:
        h = HDense(32, activation="relu", beta=1e-7)(HQuantize(beta=1e-7)(inp))
        return keras.Model(inp, HDense(10, beta=1e-7)(h))
    h = keras.layers.Dense(32, activation="relu")(inp)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def conv(hgq: bool) -> keras.Model:
    """Conv model on 8x8x1, HGQ or plain."""
    inp = keras.Input((8, 8, 1))
    if hgq:
        h = HConv2D(4, 3, activation="relu", beta=1e-7)(HQuantize(beta=1e-7)(inp))
        h = PFlatten()(PMaxPooling2D(2)(h))
        return keras.Model(inp, HDense(10, beta=1e-7)(h))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    h = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(h))
    return keras.Model(inp, keras.layers.Dense(10)(h))


def ms_per_step(model: keras.Model, x: np.ndarray, y: np.ndarray, jit: bool) -> float:
    """Median-of-3 mean time of ``STEPS`` train_on_batch calls, in milliseconds."""
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    for _ in range(WARMUP):
        model.train_on_batch(x, y)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(STEPS):
            model.train_on_batch(x, y)
        runs.append((time.perf_counter() - t0) / STEPS * 1e3)
    return float(np.median(runs))


def upstream_ms(python: str | None) -> dict[str, float]:
    """Upstream HGQ 0.2.6's ms per step for both models, run in ``python`` (empty when unavailable)."""
    if not python or not os.path.exists(python):
        return {}
    script = Path(__file__).parent / "upstream" / "train_step_hgq026.py"
    res = subprocess.run([python, str(script)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"upstream run failed: {res.stderr.strip().splitlines()[-1:]}")
        return {}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    """Time every (model, flavour, jit) combination; print and save the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    peer = Path(__file__).resolve().parents[2] / "peer-venv" / "bin" / "python"
    ap.add_argument("--upstream-python", default=os.environ.get("HGQ_UPSTREAM_PYTHON") or str(peer))
    args = ap.parse_args()
    upstream = upstream_ms(args.upstream_python)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, BATCH)
    data = {"mlp": rng.uniform(0, 1, (BATCH, 64)).astype(np.float32),
            "conv": rng.uniform(0, 1, (BATCH, 8, 8, 1)).astype(np.float32)}
    builders = {"mlp": mlp, "conv": conv}
    rows = []
    for name, build in builders.items():
        for jit in (False, True):
            keras.utils.set_random_seed(0)
            plain = ms_per_step(build(False), data[name], y, jit)
            keras.utils.set_random_seed(0)
            hgq = ms_per_step(build(True), data[name], y, jit)
            rows.append({"model": name, "jit_compile": jit, "plain_ms": round(plain, 3), "hgq_ms": round(hgq, 3),
                         "ratio": round(hgq / plain, 2)})
    best = {n: min(r["hgq_ms"] for r in rows if r["model"] == n) /
            min(r["plain_ms"] for r in rows if r["model"] == n) for n in builders}
    print(f"{'model':<6} {'jit':<5} {'plain ms':>9} {'hgq ms':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['model']:<6} {r['jit_compile']!s:<5} {r['plain_ms']:>9.3f} {r['hgq_ms']:>9.3f} {r['ratio']:>6.2f}")
    print("best HGQ / best plain: " + ", ".join(f"{n} {v:.2f}x" for n, v in best.items()))
    vs_up = {}
    for n, ms in upstream.items():
        ours = min(r["hgq_ms"] for r in rows if r["model"] == n)
        vs_up[n] = round(ours / ms, 2)
        print(f"upstream HGQ 0.2.6 {n}: {ms:.3f} ms/step; ours (best) / upstream = {vs_up[n]:.2f}x (target <= 1x)")
    out = Path(__file__).parent / "results" / "train_step.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"batch": BATCH, "steps": STEPS, "rows": rows,
                               "best_ratio": {n: round(v, 2) for n, v in best.items()},
                               "upstream_ms": upstream, "ours_over_upstream": vs_up}, indent=2) + "\n")


if __name__ == "__main__":
    main()
