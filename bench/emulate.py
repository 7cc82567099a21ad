"""Benchmark: inference speed (samples/s) of every executor of two models, on 100k samples.

Rows: the onnxruntime emulator (``hgq_ir.emulator.Emulator``, best of batch sizes), our Keras
proxy (``predict``, best of batch sizes, and a direct call on the whole array), hls4ml 1.3's C
simulation, the reference interpreter, upstream HGQ 0.2.6's proxy of the same architecture (in a
separate venv: ``bench/upstream/emulate_hgq026.py``), and the same network without quantizers as the
floor, in float32 numpy and in float32 onnxruntime (run like the emulator: no onnxruntime emulator,
which computes the quantizers too, can be faster).
Columns: the demo MLP (64 -> HQuantize -> HDense(32, relu) -> HDense(10), ``hgq_ir/demo.py``,
calibrated on digits, not trained) and the zoo ``conv2d`` model (``tests/zoo.py``).

Targets (issue): emulator >= 100x hls4ml C simulation, >= 5x our proxy, >= 2x upstream's proxy;
our proxy no slower than upstream's. Prints a table and the ratios, writes
``bench/results/emulate.json`` with the machine's description.

    python bench/emulate.py [--n 100000] [--hls-n 20000 5000] [--interp-n 100000 20000]
                            [--upstream-python PY] [--repeat 3] [--skip-hls4ml]

Executors slower than the others run on fewer samples (``--hls-n`` / ``--interp-n``, one figure per
model); their rate is the measured one, marked ``*`` (extrapolated to 100k). Every executor that
computes the model bit for bit is checked against the interpreter on the rows it ran ("exact").
hls4ml's compile time (g++) is reported apart, not counted.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import hgq_ir  # noqa: E402
from hgq_ir.ir.errors import NotBitExactWarning  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mlp", "conv2d")
TITLES = {"mlp": "demo MLP", "conv2d": "zoo conv2d"}
PROXY_BATCHES = (1024, 8192, 32768)
EMULATOR_BATCHES = (1024, 4096, 16384)
TARGETS = {"emulator / hls4ml C sim": 100.0, "emulator / our proxy": 5.0, "emulator / upstream proxy": 2.0,
           "our proxy / upstream proxy": 1.0}


def best_seconds(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def build(name: str, n: int) -> tuple[keras.Model, np.ndarray]:
    """The model ``name`` (calibrated) and ``n`` float32 input samples for it."""
    rng = np.random.default_rng(0)
    if name == "mlp":
        from hgq_ir.demo import build_model, load_digits_split

        keras.utils.set_random_seed(0)
        xtr = load_digits_split()[0]
        model = build_model()
        hgq_ir.trace_minmax(model, xtr, verbose=False)
        return model, xtr[rng.integers(0, len(xtr), n)]
    sys.path.insert(0, str(ROOT / "tests"))
    import zoo

    model, _, _ = zoo.conv2d()
    return model, zoo.data((8, 8, 2), 40, n=zoo.N_CALIB + n)[1]  # the zoo's distribution, held out


# ---- unquantized floors ----------------------------------------------------------------------------
def _windows(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int], padding: str,
             fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(N, H', W', C, kh, kw)`` of a channels-last batch and how many real elements each holds."""
    kh, kw = pool
    sh, sw = strides
    h, w = x.shape[1:3]
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w, 0)
        pads = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
        ones = np.pad(np.ones((1, h, w, 1), x.dtype), pads)
        x = np.pad(x, pads, constant_values=fill)
    else:
        ones = np.ones((1, h, w, 1), x.dtype)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    count = np.lib.stride_tricks.sliding_window_view(ones, (kh, kw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(-2, -1))
    return win, count


def _dense_map(layer_fn: Callable[[np.ndarray], np.ndarray], in_shape: tuple[int, ...]) -> np.ndarray:
    """The matrix of a linear map on flattened samples, probed with the identity (float64, then float32)."""
    n = int(np.prod(in_shape))
    return layer_fn(np.eye(n).reshape(n, *in_shape)).reshape(n, -1).astype(np.float32)


def float_steps(proxy: keras.Model) -> list[tuple[Any, ...]]:
    """The proxy's network with its quantizers left out, as steps both floors run (float32).

    ``("affine", m, b, out_shape)``: ``x.reshape(N, -1) @ m + b``, reshaped (a Dense, or a
    convolution / average pooling as one dense matrix of the flattened sample, probed once);
    ``("relu",)``; ``("maxpool", cfg, in_shape)``; ``("flatten",)``.
    """
    from hgq_ir.backends.proxy_layers import FixedPointQuantizer, UnaryLUT

    steps: list[tuple[Any, ...]] = []
    shape = tuple(proxy.inputs[0].shape[1:])
    for layer in proxy.layers:
        if isinstance(layer, (keras.layers.InputLayer, FixedPointQuantizer, UnaryLUT)):
            continue
        cfg = layer.get_config()
        weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
        act = cfg.get("activation", "linear")
        out_shape = tuple(layer.output.shape[1:])
        if isinstance(layer, keras.layers.Dense):
            bias = weights[1] if len(weights) > 1 else np.zeros(out_shape)
            steps.append(("affine", weights[0].astype(np.float32), bias.astype(np.float32), out_shape))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.AveragePooling2D)):
            if isinstance(layer, keras.layers.Conv2D):
                def lin(x: np.ndarray, w: list = weights, c: dict = cfg) -> np.ndarray:
                    win, _ = _windows(x, c["kernel_size"], c["strides"], c["padding"], 0.0)
                    return np.einsum("nhwcij,ijco->nhwo", win, w[0])
                bias = weights[1] if len(weights) > 1 else np.float64(0)
            else:
                def lin(x: np.ndarray, c: dict = cfg) -> np.ndarray:
                    win, count = _windows(x, c["pool_size"], c["strides"], c["padding"], 0.0)
                    return win.sum(axis=(-2, -1)) / count
                bias = np.float64(0)
            b = np.broadcast_to(bias, out_shape).reshape(-1).astype(np.float32)
            steps.append(("affine", _dense_map(lin, shape), b, out_shape))
        elif isinstance(layer, keras.layers.MaxPooling2D):
            steps.append(("maxpool", cfg, shape))
        elif isinstance(layer, keras.layers.Flatten):
            steps.append(("flatten",))
        elif not isinstance(layer, keras.layers.Activation):
            raise NotImplementedError(f"float floor: no version of {type(layer).__name__}")
        if act == "relu" or (isinstance(layer, keras.layers.Activation) and cfg["activation"] == "relu"):
            steps.append(("relu",))
        elif act != "linear":
            raise NotImplementedError(f"float floor: activation {act}")
        shape = out_shape
    return steps


def _tiling_pool(cfg: dict, shape: tuple[int, ...]) -> bool:
    (ph, pw), st = cfg["pool_size"], tuple(cfg["strides"])
    return st == (ph, pw) and cfg["padding"] == "valid" and shape[0] % ph == 0 and shape[1] % pw == 0


def float_forward(steps: list[tuple[Any, ...]]) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`float_steps` in numpy: every layer one matmul on the flattened batch; max pooling the maximum
    of strided views where its windows tile the input, else a reduction over gathered windows."""
    def run(x: np.ndarray) -> np.ndarray:
        for step in steps:
            if step[0] == "affine":
                x = (x.reshape(len(x), -1) @ step[1] + step[2]).reshape(len(x), *step[3])
            elif step[0] == "relu":
                x = np.maximum(x, np.float32(0))
            elif step[0] == "flatten":
                x = x.reshape(len(x), -1)
            elif _tiling_pool(*step[1:]):  # far faster than a reduction over two inner axes
                ph, pw = step[1]["pool_size"]
                x = functools.reduce(np.maximum, [x[:, i::ph, j::pw] for i in range(ph) for j in range(pw)])
            else:
                c = step[1]
                x = _windows(x, c["pool_size"], c["strides"], c["padding"], -np.inf)[0].max(axis=(-2, -1))
        return x

    return run


def float_onnx(steps: list[tuple[Any, ...]], in_shape: tuple[int, ...]) -> Any:
    """:func:`float_steps` as a float32 ONNX model (MatMul + Add, Relu, Reshape + ReduceMax for tiling max
    pooling): what onnxruntime takes for the network without any quantizer."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, t, cur = [], [], "x", tuple(in_shape)

    def const(a: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(a), f"c{len(inits)}"))
        return inits[-1].name

    def op(kind: str, ins: list[str], **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, ins, [f"t{len(nodes)}"], **attrs))
        return nodes[-1].output[0]

    def shape(*dims: int) -> str:
        return const(np.asarray([-1, *dims], np.int64))

    for step in steps:
        if step[0] == "affine":
            flat = op("Reshape", [t, shape(step[1].shape[0])])
            t, cur = op("Reshape", [op("Add", [op("MatMul", [flat, const(step[1])]), const(step[2])]),
                                    shape(*step[3])]), step[3]
        elif step[0] == "relu":
            t = op("Relu", [t])
        elif step[0] == "flatten":
            cur = (int(np.prod(cur)),)
            t = op("Reshape", [t, shape(*cur)])
        elif _tiling_pool(*step[1:]):
            (ph, pw), (h, w, c) = step[1]["pool_size"], cur
            t = op("ReduceMax", [op("Reshape", [t, shape(h // ph, ph, w // pw, pw, c)])], axes=[2, 4], keepdims=0)
            cur = (h // ph, w // pw, c)
        else:
            raise NotImplementedError("float onnxruntime floor: max pooling whose windows do not tile")
    graph = helper.make_graph(nodes, "float_floor", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                   ["N", *in_shape])],
                              [helper.make_tensor_value_info(t, TensorProto.FLOAT, ["N", *cur])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# ---- executors ------------------------------------------------------------------------------------
def exact_rate(got: np.ndarray, want: np.ndarray) -> float:
    """Fraction of rows equal on every element."""
    got, want = np.asarray(got, np.float64).reshape(len(want), -1), np.asarray(want).reshape(len(want), -1)
    return float(np.mean(np.all(got == want, axis=1)))


def time_emulator(model: keras.Model, x: np.ndarray, ref: np.ndarray, repeat: int) -> dict[str, Any]:
    """Samples/s of ``Emulator(model)`` at each batch size (best and median of ``repeat`` runs), or why not.

    The data are float32 (Keras inputs): the Emulator runs them on its float32-input model.
    """
    import statistics

    try:
        from hgq_ir.emulator import Emulator

        t0 = time.perf_counter()
        em = Emulator(model)
        build_s = time.perf_counter() - t0
    except Exception as e:  # the onnx lowering may not cover the model yet
        return {"available": False, "why": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
    rates, medians = {}, {}
    for bs in EMULATOR_BATCHES:
        em(x, batch_size=bs, progress=False)
        times = []
        for _ in range(max(repeat, 5)):
            t0 = time.perf_counter()
            em(x, batch_size=bs, progress=False)
            times.append(time.perf_counter() - t0)
        rates[str(bs)], medians[str(bs)] = len(x) / min(times), len(x) / statistics.median(times)
    best = max(rates, key=rates.get)
    return {"available": True, "rate": rates[best], "batch_size": int(best), "by_batch": rates,
            "median_by_batch": medians, "threads": em.threads, "input_dtype": str(x.dtype),
            "build_s": build_s, "exact": exact_rate(em(x[:len(ref)], progress=False), ref), "n": len(x)}


def time_proxy(proxy: keras.Model, x: np.ndarray, ref: np.ndarray, repeat: int) -> dict[str, Any]:
    """Samples/s of our proxy: ``predict`` at each batch size and a direct call on the whole array (a tensor)."""
    rates = {str(bs): len(x) / best_seconds(lambda bs=bs: proxy.predict(x, batch_size=bs, verbose=0), repeat)
             for bs in PROXY_BATCHES}
    best = max(rates, key=rates.get)
    import tensorflow as tf

    xt = tf.constant(x)  # as upstream's side does: the call on a tensor, the output left a tensor
    direct = len(x) / best_seconds(lambda: proxy([xt]), repeat)
    return {"predict": {"rate": rates[best], "batch_size": int(best), "by_batch": rates}, "direct": {"rate": direct},
            "exact": exact_rate(proxy.predict(x[:len(ref)], verbose=0), ref), "n": len(x)}


def time_hls4ml(model: keras.Model, x: np.ndarray, ref: np.ndarray, repeat: int) -> dict[str, Any]:
    """Samples/s of hls4ml's C simulation (``hgq_ir.to_hls4ml``) on ``x`` (compile time apart), or why not."""
    import shutil

    if not shutil.which("g++"):
        return {"available": False, "why": "g++ not found"}
    from hgq_ir.backends.hls4ml import c_simulate, compile_quietly

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        hls = hgq_ir.to_hls4ml(model, Path(d) / "prj")
        compile_quietly(hls)
        compile_s = time.perf_counter() - t0
        shapes = [tuple(model.outputs[0].shape[1:])]
        sec = best_seconds(lambda: c_simulate(hls, x, shapes), max(1, repeat - 1))
        exact = exact_rate(c_simulate(hls, x[:len(ref)], shapes), ref)
    return {"available": True, "rate": len(x) / sec, "n": len(x), "compile_s": compile_s, "exact": exact}


def time_interpreter(graph: Any, x: np.ndarray, repeat: int) -> dict[str, Any]:
    """Samples/s of the reference interpreter on ``x``."""
    sec = best_seconds(lambda: hgq_ir.interpret(graph, x), max(1, repeat - 1))
    return {"rate": len(x) / sec, "n": len(x)}


def time_float(proxy: keras.Model, x: np.ndarray, repeat: int) -> dict[str, Any]:
    """Samples/s of the network in float32 numpy, quantizers left out."""
    run = float_forward(float_steps(proxy))
    return {"rate": len(x) / best_seconds(lambda: run(x), repeat), "n": len(x)}


def time_float_onnx(proxy: keras.Model, x: np.ndarray, repeat: int) -> dict[str, Any]:
    """Samples/s of the network in float32 onnxruntime, quantizers left out, run like the emulator (an
    ``Emulator`` of that ONNX model: the same threads and batches): what no onnxruntime emulator can beat."""
    from hgq_ir.emulator import Emulator

    model = float_onnx(float_steps(proxy), tuple(proxy.inputs[0].shape[1:]))
    em = Emulator(model)
    run = float_forward(float_steps(proxy))
    rates = {}
    for bs in EMULATOR_BATCHES:
        rates[str(bs)] = len(x) / best_seconds(lambda bs=bs: em(x, batch_size=bs, progress=False), max(repeat, 5))
    best = max(rates, key=rates.get)
    same = np.allclose(em(x[:1000], progress=False), run(x[:1000]), rtol=1e-5, atol=1e-5)  # the same network
    return {"rate": rates[best], "batch_size": int(best), "by_batch": rates, "n": len(x), "same_as_numpy": bool(same)}


def upstream_rates(python: str | None, xs: dict[str, np.ndarray], repeat: int) -> dict[str, Any]:
    """Upstream's proxy rates from the peer venv (empty when it is not installed or fails)."""
    if not python or not os.path.exists(python):
        return {}
    script = Path(__file__).parent / "upstream" / "emulate_hgq026.py"
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name in MODELS:
            paths.append(str(Path(d) / f"{name}.npy"))
            np.save(paths[-1], xs[name])
        cmd = [python, str(script), *paths, "--repeat", str(repeat), "--batch-sizes", *map(str, PROXY_BATCHES)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if res.returncode != 0:
        print(f"upstream run failed: {res.stderr.strip().splitlines()[-1:]}")
        return {}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {"conv2d" if k == "conv" else k: v for k, v in out.items()}


# ---- report ---------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import importlib.metadata as md

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    versions = {}
    for pkg in ("numpy", "keras", "tensorflow", "onnxruntime", "onnx", "hls4ml"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu, "cores": os.cpu_count(),
            "load_average": list(os.getloadavg()), "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions}


def fmt_rate(cell: dict[str, Any] | None, key: str = "rate") -> str:
    """``123.4k/s`` with the detail that matters (batch size, samples, exactness)."""
    if not cell:
        return "-"
    if cell.get("available") is False:
        return "not available"
    r = cell[key]
    txt = f"{r / 1e6:.2f}M/s" if r >= 1e6 else f"{r / 1e3:.1f}k/s"
    if "batch_size" in cell:
        txt += f" (bs {cell['batch_size']})"
    if cell.get("n", 10**9) < 100_000:
        txt += f" * ({cell['n']} samples)"
    if cell.get("exact") is not None and cell["exact"] < 1.0:
        txt += f" [exact {100 * cell['exact']:.1f}%]"
    return txt


def table_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """(executor, {model: cell text}) in display order."""
    def cell(model: str, path: tuple[str, ...]) -> dict[str, Any] | None:
        node: Any = results[model]
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
        return node

    rows = [("onnxruntime emulator (Emulator)", ("emulator",)),
            ("our Keras proxy, predict (best batch)", ("proxy", "predict")),
            ("our Keras proxy, direct call", ("proxy", "direct")),
            ("upstream HGQ 0.2.6 proxy, predict (best batch)", ("upstream", "predict")),
            ("upstream HGQ 0.2.6 proxy, direct call", ("upstream", "direct")),
            ("hls4ml 1.3 C simulation", ("hls4ml",)),
            ("reference interpreter", ("interpreter",)),
            ("float32 numpy, unquantized (floor)", ("float",)),
            ("float32 onnxruntime, unquantized (floor)", ("float_onnx",))]
    return [(label, {m: fmt_rate(cell(m, path)) for m in MODELS}) for label, path in rows]


def rate(results: dict[str, Any], model: str, *path: str) -> float | None:
    """A rate from the results, None when missing or not available."""
    node: Any = results[model]
    for p in path:
        node = node.get(p) if isinstance(node, dict) else None
    if not isinstance(node, dict) or node.get("available") is False:
        return None
    return node.get("rate")


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """The issue's ratios per model (our/upstream proxy: best of predict and direct on each side)."""
    out: dict[str, dict[str, float | None]] = {}
    for m in MODELS:
        em = rate(results, m, "emulator")
        ours = max(filter(None, [rate(results, m, "proxy", "predict"), rate(results, m, "proxy", "direct")]),
                   default=None)
        up = max(filter(None, [rate(results, m, "upstream", "predict"), rate(results, m, "upstream", "direct")]),
                 default=None)
        hls = rate(results, m, "hls4ml")

        def div(a: float | None, b: float | None) -> float | None:
            return a / b if a and b else None

        out[m] = {"emulator / hls4ml C sim": div(em, hls), "emulator / our proxy": div(em, ours),
                  "emulator / upstream proxy": div(em, up), "our proxy / upstream proxy": div(ours, up),
                  "our proxy direct / upstream direct": div(rate(results, m, "proxy", "direct"),
                                                            rate(results, m, "upstream", "direct")),
                  "our proxy predict / upstream predict": div(rate(results, m, "proxy", "predict"),
                                                              rate(results, m, "upstream", "predict"))}
    return out


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--hls-n", type=int, nargs=2, default=[20_000, 5_000], metavar=("MLP", "CONV"))
    ap.add_argument("--interp-n", type=int, nargs=2, default=[100_000, 20_000], metavar=("MLP", "CONV"))
    ap.add_argument("--repeat", type=int, default=3)
    peer = ROOT.parent / "peer-venv" / "bin" / "python"
    ap.add_argument("--upstream-python", default=os.environ.get("HGQ_UPSTREAM_PYTHON") or str(peer))
    ap.add_argument("--skip-hls4ml", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore", NotBitExactWarning)
    info = machine()
    built = {m: build(m, args.n) for m in MODELS}
    results: dict[str, dict[str, Any]] = {}
    for j, m in enumerate(MODELS):
        model, x = built[m]
        print(f"[{TITLES[m]}] converting", flush=True)
        graph = hgq_ir.convert(model, to="ir")  # the model's meaning: what the emulator computes
        graph_proxy = hgq_ir.convert(model, to="ir", target="proxy")  # what the proxy and hls4ml compute
        proxy = hgq_ir.to_proxy_model(model)
        n_check = min(len(x), 10_000)
        ref, ref_proxy = hgq_ir.interpret(graph, x[:n_check]), hgq_ir.interpret(graph_proxy, x[:n_check])
        r: dict[str, Any] = {}
        print(f"[{TITLES[m]}] emulator", flush=True)
        r["emulator"] = time_emulator(model, x, ref, args.repeat)
        print(f"[{TITLES[m]}] Keras proxy", flush=True)
        r["proxy"] = time_proxy(proxy, x, ref_proxy, args.repeat)
        print(f"[{TITLES[m]}] interpreter", flush=True)
        r["interpreter"] = time_interpreter(graph, x[:args.interp_n[j]], args.repeat)
        r["float"] = time_float(proxy, x, args.repeat)
        r["float_onnx"] = time_float_onnx(proxy, x, args.repeat)
        if not args.skip_hls4ml:
            print(f"[{TITLES[m]}] hls4ml C simulation (compiling)", flush=True)
            r["hls4ml"] = time_hls4ml(model, x[:args.hls_n[j]], ref_proxy[:min(n_check, args.hls_n[j])],
                                      args.repeat)
        results[m] = r
    print("upstream HGQ 0.2.6 proxies (peer venv)", flush=True)
    upstream = upstream_rates(args.upstream_python, {m: built[m][1] for m in MODELS}, args.repeat)
    for m in MODELS:
        up = upstream.get(m)
        if up:
            best = max(up["predict"], key=up["predict"].get)
            results[m]["upstream"] = {"predict": {"rate": up["predict"][best], "batch_size": int(best),
                                                  "by_batch": up["predict"]}, "direct": {"rate": up["direct"]}}
    info["load_average_end"] = list(os.getloadavg())
    info["upstream"] = upstream.get("versions")

    rows = table_rows(results)
    w0 = max(len(label) for label, _ in rows)
    w = {m: max(len(TITLES[m]), *(len(c[m]) for _, c in rows)) for m in MODELS}
    print(f"\n{'executor':<{w0}}  " + "  ".join(f"{TITLES[m]:>{w[m]}}" for m in MODELS))
    for label, cells in rows:
        print(f"{label:<{w0}}  " + "  ".join(f"{cells[m]:>{w[m]}}" for m in MODELS))
    print("* measured on fewer samples (rate extrapolated to 100k); [exact x%]: rows equal to the interpreter")
    rat = ratios(results)
    print(f"\n{'ratio (target)':<44}" + "".join(f"{TITLES[m]:>14}" for m in MODELS))
    for key in rat[MODELS[0]]:
        target = f" (>= {TARGETS[key]:g}x)" if key in TARGETS else ""
        vals = "".join(f"{rat[m][key]:>13.1f}x" if rat[m][key] else f"{'-':>14}" for m in MODELS)
        print(f"{key + target:<44}{vals}")
    print(f"\nmachine: {info['cpu']}, {info['cores']} cores, load {info['load_average'][0]:.1f} -> "
          f"{info['load_average_end'][0]:.1f}")
    out = Path(__file__).parent / "results" / "emulate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": info, "n": args.n, "results": results, "ratios": rat, "targets": TARGETS},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
