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


def upstream_seconds(python: str | None, depths: list[int]) -> dict[int, float]:
    """Upstream's ``to_proxy_model`` seconds per depth, run in ``python`` (empty when unavailable)."""
    if not python or not os.path.exists(python):
        return {}
    script = Path(__file__).parent / "upstream" / "convert_scaling_hgq026.py"
    res = subprocess.run([python, str(script), *map(str, depths)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"upstream run failed: {res.stderr.strip().splitlines()[-1:]}")
        return {}
    return {int(k): float(v) for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


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
        up = upstream.get(depth)
        rows.append({"depth": depth, "seconds": best, "ms_per_layer": 1e3 * best / depth,
                     "upstream_seconds": up, "upstream_measured": up is not None,
                     "speedup_vs_upstream": (up if up is not None else UPSTREAM_S_PER_LAYER * depth) / best})
        keras.backend.clear_session()
    print(f"{'layers':>7} {'seconds':>9} {'ms/layer':>9} {'upstream s':>11} {'x upstream':>11}")
    for r in rows:
        up = f"{r['upstream_seconds']:.3f}" if r["upstream_measured"] else "(0.18/layer)"
        print(f"{r['depth']:>7} {r['seconds']:>9.3f} {r['ms_per_layer']:>9.2f} {up:>11} "
              f"{r['speedup_vs_upstream']:>11.1f}")
    ratio = max(r["ms_per_layer"] for r in rows) / min(r["ms_per_layer"] for r in rows)
    print(f"per-layer time spread (max/min): {ratio:.2f}x (target <= 2x)")
    out = Path(__file__).parent / "results" / "convert_scaling.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "per_layer_spread": ratio,
                               "upstream_s_per_layer": UPSTREAM_S_PER_LAYER}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
