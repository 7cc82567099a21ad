"""Benchmark: wall time of ``to_proxy_model`` for deep HDense(16) stacks (8 to 512 layers).

Prints a table and writes ``bench/results/convert_scaling.json``. Target (issue 4): >= 10x faster
than upstream HGQ 0.2.6 (about 0.17-0.18 s a layer on this machine, measured in a separate venv)
and a per-layer time within 2x from 8 to 512 layers.

    python bench/convert_scaling.py [--depths 8 32 128 512] [--repeat 3] [--upstream-python PY]

With ``--upstream-python`` (default: ``$HGQ_UPSTREAM_PYTHON`` or ``../peer-venv/bin/python`` when
present), upstream HGQ 0.2.6 is timed on the same models in that interpreter, side by side;
otherwise the speed-up column uses the figure measured earlier (0.18 s a layer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 32, 128, 512])
    ap.add_argument("--repeat", type=int, default=3)
    peer = Path(__file__).resolve().parents[2] / "peer-venv" / "bin" / "python"
    default_py = os.environ.get("HGQ_UPSTREAM_PYTHON") or str(peer)
    ap.add_argument("--upstream-python", default=default_py)
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
    print(f"{'layers':>6} {'cold s':>8} {'warm s':>8} {'ms/layer':>9} {'upstream cold':>14} {'upstream warm':>14} "
          f"{'x cold':>7} {'x warm':>7}")
    for r in rows:
        uc = f"{r['upstream_cold_s']:.2f}" if r["upstream_cold_s"] is not None else "(0.18/layer)"
        uw = f"{r['upstream_warm_s']:.2f}" if r["upstream_warm_s"] is not None else "-"
        xw = f"{r['speedup_warm']:.1f}" if r["speedup_warm"] is not None else "-"
        print(f"{r['depth']:>6} {r['cold_s']:>8.3f} {r['warm_s']:>8.3f} {r['cold_ms_per_layer']:>9.2f} {uc:>14} "
              f"{uw:>14} {r['speedup_cold']:>7.1f} {xw:>7}")
    per_layer = [r["cold_ms_per_layer"] for r in rows]
    spread = max(per_layer) / min(per_layer)
    print(f"per-layer time spread (max/min, cold): {spread:.2f}x (target <= 2x); "
          f"speed-up vs upstream (cold): {min(r['speedup_cold'] for r in rows):.1f}x at worst (target >= 10x)")
    out = Path(__file__).parent / "results" / "convert_scaling.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "per_layer_spread": spread, "upstream_measured": bool(upstream),
                               "upstream_fallback_s_per_layer": UPSTREAM_S_PER_LAYER}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
