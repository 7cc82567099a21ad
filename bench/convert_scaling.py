"""Benchmark: wall time of ``to_proxy_model`` for deep HDense(16) stacks (8 to 512 layers).

Prints a table and writes ``bench/results/convert_scaling.json``. Target (issue 4): >= 10x faster
than upstream HGQ 0.2.6 (about 0.17-0.18 s a layer on this machine, measured in a separate venv)
and a per-layer time within 2x from 8 to 512 layers.

    python bench/convert_scaling.py [--depths 8 32 128 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import hgq_ir  # noqa: E402
from hgq_ir.layers import HDense, HQuantize  # noqa: E402

UPSTREAM_S_PER_LAYER = 0.18  # HGQ 0.2.6, measured here (DESIGN.md / HGQ_FACTS.md)


def deep_model(depth: int) -> keras.Model:
    """HQuantize followed by ``depth`` HDense(16, relu) layers, traced on random data."""
    layers = [keras.Input((16,)), HQuantize(name="q")]
    layers += [HDense(16, activation="relu", name=f"d{j}") for j in range(depth)]
    model = keras.Sequential(layers, name=f"deep{depth}")
    hgq_ir.trace_minmax(model, np.random.default_rng(0).normal(size=(256, 16)).astype("float32"), verbose=False)
    return model


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 32, 128, 512])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for depth in args.depths:
        model = deep_model(depth)
        hgq_ir.to_proxy_model(model)  # warm-up (imports, tracing of the proxy layers)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            hgq_ir.to_proxy_model(model)
            times.append(time.perf_counter() - t0)
        best = min(times)
        rows.append({"depth": depth, "seconds": best, "ms_per_layer": 1e3 * best / depth,
                     "speedup_vs_upstream": UPSTREAM_S_PER_LAYER * depth / best})
        keras.backend.clear_session()
    print(f"{'layers':>7} {'seconds':>9} {'ms/layer':>9} {'x upstream':>11}")
    for r in rows:
        print(f"{r['depth']:>7} {r['seconds']:>9.3f} {r['ms_per_layer']:>9.2f} {r['speedup_vs_upstream']:>11.1f}")
    ratio = max(r["ms_per_layer"] for r in rows) / min(r["ms_per_layer"] for r in rows)
    print(f"per-layer time spread (max/min): {ratio:.2f}x (target <= 2x)")
    out = Path(__file__).parent / "results" / "convert_scaling.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "per_layer_spread": ratio,
                               "upstream_s_per_layer": UPSTREAM_S_PER_LAYER}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
