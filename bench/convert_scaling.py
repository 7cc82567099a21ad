"""Benchmark: wall time of ``to_proxy_model`` for deep HDense(16) stacks (8 to 512 layers), and QKeras stacks.

Prints a table and writes ``bench/results/convert_scaling.json``. Target (issue 4): >= 10x faster
than upstream HGQ 0.2.6 (about 0.17-0.18 s a layer on this machine, measured in a separate venv)
and a per-layer time within 2x from 8 to 512 layers.

    python bench/convert_scaling.py [--depths 8 32 128 512] [--repeat 3] [--upstream-python PY]
                                    [--qkeras-depths 32]

QKeras column (issue 10): a QActivation + ``depth`` x QDense(16, quantized_bits kernels,
quantized_relu) stack in QKeras 0.9, built and converted live in a subprocess (QKeras 0.9 needs
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported), which also saves it as ``.h5``; this
process then converts the ``.h5`` file (read with h5py, no qkeras). ``--qkeras-depths`` with no
value skips it.

With ``--upstream-python`` (default: ``$HGQ_UPSTREAM_PYTHON`` or ``../peer-venv/bin/python`` when
present), upstream HGQ 0.2.6 is timed on the same models in that interpreter, side by side;
otherwise the speed-up column uses the figure measured earlier (0.18 s a layer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import hgq_ir  # noqa: E402
from hgq_ir.ir.errors import NotBitExactWarning  # noqa: E402
from hgq_ir.training.layers import HDense, HQuantize  # noqa: E402

UPSTREAM_S_PER_LAYER = 0.18  # HGQ 0.2.6, measured here (DESIGN.md / HGQ_FACTS.md)


def deep_model(depth: int) -> keras.Model:
    """HQuantize followed by ``depth`` HDense(16, relu) layers, traced on random data."""
    layers = [keras.Input((16,)), HQuantize(name="q")]
    layers += [HDense(16, activation="relu", name=f"d{j}") for j in range(depth)]
    model = keras.Sequential(layers, name=f"deep{depth}")
    hgq_ir.trace_minmax(model, np.random.default_rng(0).normal(size=(256, 16)).astype("float32"), verbose=False)
    return model


def upstream_seconds(python: str | None, depths: list[int]) -> dict[int, dict[str, float]]:
    """Upstream's ``to_proxy_model`` cold/warm seconds per depth, run in ``python`` (empty when unavailable)."""
    if not python or not os.path.exists(python):
        return {}
    script = Path(__file__).parent / "upstream" / "convert_scaling_hgq026.py"
    res = subprocess.run([python, str(script), *map(str, depths)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"upstream run failed: {res.stderr.strip().splitlines()[-1:]}")
        return {}
    return {int(k): v for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


def time_ours(depth: int, repeat: int) -> dict[str, float]:
    """Cold and warm seconds of ``to_proxy_model``, measured as the upstream script does.

    Cold: the first call on a freshly built model (median of 3 models up to 128 layers, one above);
    warm: the best of ``repeat`` more calls on the last model.
    """
    colds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotBitExactWarning)  # random weights: wide sums are expected
        for _ in range(3 if depth <= 128 else 1):
            keras.backend.clear_session()
            model = deep_model(depth)
            t0 = time.perf_counter()
            hgq_ir.to_proxy_model(model)
            colds.append(time.perf_counter() - t0)
        cold = float(np.median(colds))
        warm = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            hgq_ir.to_proxy_model(model)
            warm = min(warm, time.perf_counter() - t0)
    keras.backend.clear_session()
    return {"cold": cold, "warm": warm}


QKERAS_WORKER = r"""
import json, os, sys, time, warnings
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import qkeras as q
import tf_keras as keras
import hgq_ir
depth, path, repeat = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
warnings.simplefilter("ignore")

def build(n):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    inp = keras.Input((16,), name="x")
    h = q.QActivation("quantized_bits(8,3,alpha=1)", name="q_in")(inp)
    for j in range(n):
        h = q.QDense(16, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                     bias_quantizer=q.quantized_bits(8, 3, alpha=1), activation=q.quantized_relu(8, 3),
                     name=f"d{j}")(h)
    return keras.Model(inp, h, name=f"qdeep{n}")

hgq_ir.to_proxy_model(build(8))  # warm-up: imports and first-use costs
colds = []
for _ in range(3):
    model = build(depth)
    t0 = time.perf_counter()
    hgq_ir.to_proxy_model(model)
    colds.append(time.perf_counter() - t0)
warm = float("inf")
for _ in range(repeat):
    t0 = time.perf_counter()
    hgq_ir.to_proxy_model(model)
    warm = min(warm, time.perf_counter() - t0)
model.save(path)
print(json.dumps({"cold": float(np.median(colds)), "warm": warm}))
"""


def time_qkeras(depth: int, repeat: int) -> dict[str, float] | None:
    """Seconds of ``to_proxy_model`` on a QKeras 0.9 QDense stack: live (in a subprocess) and from its ``.h5``.

    Cold: median of 3 first calls on fresh models (live) or of 3 calls on the file (each reads it
    again); warm: best of ``repeat`` more calls on the same live model. None when QKeras 0.9 is
    not installed (the subprocess fails; its last error line is printed).
    """
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / f"qdeep{depth}.h5")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        res = subprocess.run([sys.executable, "-c", QKERAS_WORKER, str(depth), path, str(repeat)], env=env,
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"QKeras run failed: {res.stderr.strip().splitlines()[-1:]}")
            return None
        live = json.loads(res.stdout.strip().splitlines()[-1])
        files = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotBitExactWarning)
            for _ in range(1 + max(repeat, 3)):
                t0 = time.perf_counter()
                hgq_ir.to_proxy_model(path)
                files.append(time.perf_counter() - t0)
    return {"live_cold": live["cold"], "live_warm": live["warm"], "file_cold": float(np.median(files[1:4])),
            "file_warm": min(files[1:])}


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 32, 128, 512])
    ap.add_argument("--repeat", type=int, default=3)
    peer = Path(__file__).resolve().parents[2] / "peer-venv" / "bin" / "python"
    default_py = os.environ.get("HGQ_UPSTREAM_PYTHON") or str(peer)
    ap.add_argument("--upstream-python", default=default_py)
    ap.add_argument("--qkeras-depths", type=int, nargs="*", default=[32],
                    help="depths of the QKeras 0.9 QDense stacks (default 32; none: skip)")
    args = ap.parse_args()
    upstream = upstream_seconds(args.upstream_python, args.depths)
    time_ours(8, 1)  # warm-up: imports and first-use costs of Keras and TF
    rows = []
    for depth in args.depths:
        ours = time_ours(depth, args.repeat)
        up = upstream.get(depth)
        ref_cold = up["cold"] if up else UPSTREAM_S_PER_LAYER * depth
        rows.append({"depth": depth, "cold_s": ours["cold"], "warm_s": ours["warm"],
                     "cold_ms_per_layer": 1e3 * ours["cold"] / depth, "warm_ms_per_layer": 1e3 * ours["warm"] / depth,
                     "upstream_cold_s": up["cold"] if up else None, "upstream_warm_s": up["warm"] if up else None,
                     "speedup_cold": ref_cold / ours["cold"],
                     "speedup_warm": (up["warm"] / ours["warm"]) if up else None})
    qkeras = []
    for depth in args.qkeras_depths:
        t = time_qkeras(depth, args.repeat)
        if t is not None:
            qkeras.append({"depth": depth, **{f"{k}_s": v for k, v in t.items()},
                           **{f"{k}_ms_per_layer": 1e3 * v / depth for k, v in t.items()}})
    by_depth = {r["depth"]: r for r in qkeras}
    for r in rows:  # the QKeras column: a live QKeras 0.9 stack of the same depth, cold
        r["qkeras_cold_ms_per_layer"] = by_depth[r["depth"]]["live_cold_ms_per_layer"] if r["depth"] in by_depth \
            else None
    print(f"{'layers':>6} {'cold s':>8} {'warm s':>8} {'ms/layer':>9} {'upstream cold':>14} {'upstream warm':>14} "
          f"{'x cold':>7} {'x warm':>7} {'QKeras ms/layer':>16}")
    for r in rows:
        uc = f"{r['upstream_cold_s']:.2f}" if r["upstream_cold_s"] is not None else "(0.18/layer)"
        uw = f"{r['upstream_warm_s']:.2f}" if r["upstream_warm_s"] is not None else "-"
        xw = f"{r['speedup_warm']:.1f}" if r["speedup_warm"] is not None else "-"
        qk = f"{r['qkeras_cold_ms_per_layer']:.2f}" if r["qkeras_cold_ms_per_layer"] is not None else "-"
        print(f"{r['depth']:>6} {r['cold_s']:>8.3f} {r['warm_s']:>8.3f} {r['cold_ms_per_layer']:>9.2f} {uc:>14} "
              f"{uw:>14} {r['speedup_cold']:>7.1f} {xw:>7} {qk:>16}")
    per_layer = [r["cold_ms_per_layer"] for r in rows]
    spread = max(per_layer) / min(per_layer)
    print(f"per-layer time spread (max/min, cold): {spread:.2f}x (target <= 2x); "
          f"speed-up vs upstream (cold): {min(r['speedup_cold'] for r in rows):.1f}x at worst (target >= 10x)")
    if qkeras:
        print("QKeras 0.9 QDense(16) stacks (live: tf_keras model, in a subprocess; .h5: read without qkeras)")
        print(f"{'layers':>6} {'live cold s':>12} {'live warm s':>12} {'ms/layer':>9} {'.h5 cold s':>11} "
              f"{'.h5 warm s':>11} {'ms/layer':>9}")
        for r in qkeras:
            print(f"{r['depth']:>6} {r['live_cold_s']:>12.3f} {r['live_warm_s']:>12.3f} "
                  f"{r['live_cold_ms_per_layer']:>9.2f} {r['file_cold_s']:>11.3f} {r['file_warm_s']:>11.3f} "
                  f"{r['file_cold_ms_per_layer']:>9.2f}")
    out = Path(__file__).parent / "results" / "convert_scaling.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "per_layer_spread": spread, "upstream_measured": bool(upstream),
                               "upstream_fallback_s_per_layer": UPSTREAM_S_PER_LAYER, "qkeras": qkeras}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
