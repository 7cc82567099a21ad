"""Fuzz hgq-ir with random valid HGQ models (issue 9): pass rates per comparison, reproducers.

    python bench/fuzz.py [--n 1000] [--hls-every K] [--seed S] [--out DIR] [--shrink-budget N] [--avoid P,...]
    python bench/fuzz.py --shrink tests/fuzz/reproducers/<hash>.py      # shrink a reproducer further

Model ``i`` is ``tests/fuzz/strategies.random_spec(seed, i)``; every K-th one (``--hls-every``, 0 =
none) also goes through hls4ml 1.3 and its C simulation. Prints a table of pass rates per
comparison (io, interp == proxy, HGQ == proxy on calibration rows and on rows without overflow,
proxy == hls4ml), the flagged / refused / crashed counts, and writes ``bench/results/fuzz.json``.
The first failure of each kind (``failure_signature``) is shrunk (:func:`shrink`: fewer outputs,
nested models inlined, layers bypassed, options simplified, while the same failure persists; at
most ``--shrink-budget`` runs) and saved as a standalone reproducer ``<out>/<hash>.py``.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # fuzz.strategies, hls4ml_harness (ahead of bench/: this file is fuzz.py)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fuzz.strategies import (  # noqa: E402
    AVOIDABLE,
    CHECKS,
    Outcome,
    failure_signature,
    random_spec,
    run_spec,
    spec_hash,
    spec_size,
    write_reproducer,
)

# =============================================================================================
# structural shrinking of a spec
# =============================================================================================


def _scopes(scope: dict) -> Iterator[dict]:
    """The spec (it has inputs/nodes/outputs like a nested body) and every nested body."""
    yield scope
    for n in scope["nodes"]:
        if n["op"] == "sub":
            yield from _scopes(n["body"])


def _outs(node: dict) -> list[str]:
    return node["outs"] if node["op"] == "sub" else [node["name"]]


def _rename(scope: dict, old: str, new: str) -> None:
    for n in scope["nodes"]:
        n["in"] = [new if t == old else t for t in n["in"]]
    scope["outputs"] = [new if t == old else t for t in scope["outputs"]]


def prune(spec: dict) -> dict:
    """Drop nodes nobody reads (every scope) and top inputs nobody reads."""
    for scope in _scopes(spec):
        changed = True
        while changed:
            used = set(scope["outputs"]) | {t for n in scope["nodes"] for t in n["in"]}
            keep = [n for n in scope["nodes"] if any(o in used for o in _outs(n))]
            changed = len(keep) != len(scope["nodes"])
            scope["nodes"] = keep
    used = {t for n in spec["nodes"] for t in n["in"]} | set(spec["outputs"])
    spec["inputs"] = [i for i in spec["inputs"] if i["name"] in used] or spec["inputs"][:1]
    return spec


def _inline(scope: dict, k: int) -> None:
    """Replace the nested model at ``scope['nodes'][k]`` by its layers (a Functional scope)."""
    node = scope["nodes"][k]
    body = copy.deepcopy(node["body"])
    for inner, outer in zip([i["name"] for i in body["inputs"]], node["in"], strict=True):
        _rename(body, inner, outer)
    scope["nodes"][k:k + 1] = body["nodes"]
    for outer, inner in zip(node["outs"], body["outputs"], strict=True):
        _rename(scope, outer, inner)


_SIMPLE = {"relu": False, "bn": False, "bias": True, "wexp": 0, "pf": 1, "padding": "valid", "kind": "func"}
_SIMPLE_RECIPE = {"zero": 0.0, "dead": 0.0, "floor": False, "skip": "batch", "span": 0, "lo": 2}
_SIMPLE_DATA = {"cover": 1.0, "scale": 0, "far": 3}


def candidates(spec: dict) -> Iterator[dict]:
    """Simpler variants of ``spec`` (some may not build: the run then fails differently and is rejected)."""
    def variant(edit: Callable[[dict], None]) -> dict:
        s = copy.deepcopy(spec)
        edit(s)
        return prune(s)

    tensors = [t for n in spec["nodes"] for t in _outs(n)]
    for t in tensors:  # an earlier tensor as the only output
        yield variant(lambda s, t=t: s.__setitem__("outputs", [t]))
    for j in range(len(spec["outputs"])):
        if len(spec["outputs"]) > 1:
            yield variant(lambda s, j=j: s["outputs"].pop(j))
    paths = list(_scope_paths(spec))
    for path in paths:  # inline nested models
        for k, n in enumerate(_get(spec, path)["nodes"]):
            if n["op"] == "sub":
                yield variant(lambda s, path=path, k=k: _inline(_get(s, path), k))
    for path in paths:  # bypass a layer (its first input takes its place), drop merge inputs
        for k, n in enumerate(_get(spec, path)["nodes"]):
            if len(_outs(n)) == 1 and len(_get(spec, path)["nodes"]) > 1:
                yield variant(lambda s, path=path, k=k: _bypass(_get(s, path), k))
            if n["op"] in ("add", "concat") and len(n["in"]) > 2:
                yield variant(lambda s, path=path, k=k: _get(s, path)["nodes"][k]["in"].pop())
    if spec["kind"] != "func":
        yield variant(lambda s: s.__setitem__("kind", "func"))
    for key, value in _SIMPLE_DATA.items():
        if spec["data"][key] != value:
            yield variant(lambda s, key=key, value=value: s["data"].__setitem__(key, value))
    for path in paths:  # simpler options and quantizer recipes
        for k, n in enumerate(_get(spec, path)["nodes"]):
            for key, value in _SIMPLE.items():
                if key in n and n[key] != value:
                    yield variant(lambda s, p=path, k=k, key=key, v=value: _get(s, p)["nodes"][k].__setitem__(key, v))
            for q in ("paq", "kq"):
                for key, value in _SIMPLE_RECIPE.items():
                    if q in n and n[q][key] != value:
                        yield variant(lambda s, p=path, k=k, q=q, key=key, v=value:
                                      _get(s, p)["nodes"][k][q].__setitem__(key, v))
            if n["op"] in ("conv", "pool") and any(x != 1 for x in n["strides"]):
                yield variant(lambda s, p=path, k=k: _get(s, p)["nodes"][k].__setitem__(
                    "strides", [1] * len(_get(s, p)["nodes"][k]["strides"])))


def _scope_paths(scope: dict, path: tuple = ()) -> Iterator[tuple]:
    yield path
    for k, n in enumerate(scope["nodes"]):
        if n["op"] == "sub":
            yield from _scope_paths(n["body"], (*path, k))


def _get(spec: dict, path: tuple) -> dict:
    scope = spec
    for k in path:
        scope = scope["nodes"][k]["body"]
    return scope


def _bypass(scope: dict, k: int) -> None:
    node = scope["nodes"].pop(k)
    _rename(scope, _outs(node)[0], node["in"][0])


def shrink(spec: dict, signature: str, hls: bool, budget: int, log: Callable[[str], None]) -> tuple[dict, Outcome, int]:
    """Greedy structural shrinking: take the first candidate that still fails with ``signature``, repeat."""
    def run(s: dict) -> Outcome:
        with tempfile.TemporaryDirectory() as d:
            return run_spec(s, hls_dir=d if hls else None)

    outcome, runs, tried = run(spec), 1, {spec_hash(spec)}
    if failure_signature(outcome) != signature:
        return spec, outcome, runs
    progress = True
    while progress and runs < budget:
        progress = False
        size = spec_size(spec)
        # cheap runs: the biggest cuts first; hls4ml runs (seconds each): one layer less first, options last
        order = (lambda c, n=size: (n == spec_size(c), n - spec_size(c))) if hls else spec_size
        for cand in sorted(candidates(spec), key=order):
            h = spec_hash(cand)
            if h in tried or spec_size(cand) > spec_size(spec) or runs >= budget:
                continue
            tried.add(h)
            o = run(cand)
            runs += 1
            if failure_signature(o) == signature:
                spec, outcome, progress = cand, o, True
                log(f"shrinking {signature[:50]}: {spec_size(spec)} layers (run {runs}/{budget})")
                break
    return spec, outcome, runs


# =============================================================================================
# the run
# =============================================================================================


def flag_kind(msg: str) -> str:
    """A short class of a flag message, for counting."""
    rules = [("float32 proxy", "float32 proxy > 24 bits"), ("TableTooLarge", "lookup table too large"),
             ("InexactError", "interpreter > 53 bits"), ("average pooling", "avg pool not power of 2"),
             ("pads an unsigned max pooling", "unsigned max pool padding"),
             ("own approximation", "activation approximated by hls4ml"),
             ("compute float values", "float value between fixed-point ones"),
             ("UnsupportedLayerError", "unsupported (typed)"),
             ("every element is 0 bits wide", "whole 0-bit quantizer"),
             ("through quantizers and reshapes only", "output is an input (folded)"),
             ("same tensor up to quantizers", "two outputs one tensor (folded)")]
    for needle, kind in rules:
        if needle in msg:
            return kind
    return re.sub(r"'[^']*'", "'_'", msg)[:60]


def table(results: list[dict]) -> tuple[str, dict]:
    """The pass-rate table and its numbers."""
    rows, stats = [], {}
    for c in CHECKS:
        ran = [r for r in results if c in r["checks"]]
        passed = sum(r["checks"][c]["status"] == "pass" for r in ran)
        failed = sum(r["checks"][c]["status"] == "fail" and c in r["failures"] for r in ran)
        excused = len(ran) - passed - failed
        stats[c] = {"ran": len(ran), "pass": passed, "fail": failed, "fail_flagged": excused}
        rate = f"{100 * passed / len(ran):6.1f}%" if ran else "      -"
        rows.append(f"{c:<10} {len(ran):>5} {passed:>5} {failed:>5} {excused:>8}  {rate}")
    head = f"{'check':<10} {'ran':>5} {'pass':>5} {'fail':>5} {'flagged':>8}  pass rate"
    return "\n".join([head, *rows]), stats


def report(results: list[dict], counts: collections.Counter, elapsed: float, args: argparse.Namespace) -> dict:
    """Print the table and counts; the summary for the JSON file."""
    text, stats = table(results)
    flag_kinds = collections.Counter(flag_kind(f) for r in results for f in set(r["flags"]))
    n = len(results)
    avoided = f", avoiding {args.avoid}" if args.avoid else ""
    n_hls = sum(r["hls"] for r in results)
    print(f"fuzz: {n} models (seed {args.seed}, from {args.start}{avoided}), hls4ml on {n_hls}, "
          f"{elapsed:.0f} s ({elapsed / max(n, 1):.2f} s/model)")
    print(text)
    print(f"failed models {counts['failed']}/{n}: crashed {counts['crash']}, refused {counts['refused']} "
          f"(typed error on a valid model); flagged by hgq-ir {counts['flagged']}/{n}:")
    for kind, c in flag_kinds.most_common():
        print(f"  {c:>4}  {kind}")
    sigs = collections.Counter(r["signature"] for r in results if r["signature"])
    print("failures by kind:")
    for sig, c in sigs.most_common():
        print(f"  {c:>4}  {sig}")
    return {"checks": stats, "counts": dict(counts), "flag_kinds": dict(flag_kinds), "failure_kinds": dict(sigs)}


def shrink_file(path: Path, args: argparse.Namespace) -> None:
    """Shrink the spec of a reproducer file (written by the CI test or by hand) and save the result."""
    import importlib.util

    mod_spec = importlib.util.spec_from_file_location("reproducer", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    with tempfile.TemporaryDirectory() as d:
        sig = failure_signature(run_spec(mod.SPEC, hls_dir=d if mod.HLS else None))
    if sig is None:
        print(f"{path}: passes, nothing to shrink")
        return
    budget = args.hls_shrink_budget if mod.HLS else args.shrink_budget
    spec, out, runs = shrink(mod.SPEC, sig, mod.HLS, budget, lambda m: sys.stderr.write("\r\033[K" + m[:150]))
    sys.stderr.write("\r\033[K")
    new = write_reproducer(spec, out, args.out, hls=mod.HLS)
    print(f"{sig}: {spec_size(mod.SPEC)} -> {spec_size(spec)} layers in {runs} runs: {new}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="number of random models")
    ap.add_argument("--hls-every", type=int, default=0, help="hls4ml C simulation on every K-th model (0: never)")
    ap.add_argument("--seed", type=int, default=0, help="stream of models")
    ap.add_argument("--start", type=int, default=0, help="index of the first model")
    ap.add_argument("--out", default=str(ROOT / "tests/fuzz/reproducers"), help="reproducer folder")
    ap.add_argument("--shrink-budget", type=int, default=150, help="runs per shrinking (0: save unshrunk)")
    ap.add_argument("--hls-shrink-budget", type=int, default=30, help="runs per shrinking of an hls4ml failure")
    ap.add_argument("--avoid", default="", help=f"comma-separated patterns to leave out: {', '.join(AVOIDABLE)}")
    ap.add_argument("--json", default=str(ROOT / "bench/results/fuzz.json"))
    ap.add_argument("--shrink", metavar="REPRODUCER", help="only shrink this reproducer file's SPEC further")
    args = ap.parse_args()
    if args.shrink:
        shrink_file(Path(args.shrink), args)
        return
    avoid = frozenset(a for a in args.avoid.split(",") if a)

    def log(msg: str) -> None:
        sys.stderr.write("\r\033[K" + msg[:150])
        sys.stderr.flush()

    results: list[dict] = []
    first_of: dict[str, tuple[int, bool]] = {}
    counts: collections.Counter = collections.Counter()
    hls_root = Path(tempfile.mkdtemp(prefix="hgq_fuzz_hls_"))
    t_start = time.perf_counter()
    try:
        for i in range(args.start, args.start + args.n):
            hls = args.hls_every > 0 and i % args.hls_every == 0
            out = run_spec(random_spec(args.seed, i, avoid), hls_dir=hls_root / str(i) if hls else None)
            sig = failure_signature(out)
            results.append({"index": i, "hls": hls, "signature": sig, "summary": out.summary() if sig else "",
                            **out.to_json()})
            counts.update(crash=bool(out.crash), refused=bool(out.refused), flagged=out.flagged, failed=bool(sig))
            if sig is not None:
                first_of.setdefault(sig, (i, hls))
            done = i - args.start + 1
            log(f"[{done}/{args.n}] failed {counts['failed']} (crash {counts['crash']}, refused {counts['refused']}) "
                f"flagged {counts['flagged']} | {len(first_of)} kinds | "
                f"{(time.perf_counter() - t_start) / done:.1f} s/model")
    except KeyboardInterrupt:
        log("interrupted: reporting what ran\n")
    elapsed = time.perf_counter() - t_start
    log("")
    sys.stderr.write("\r\033[K")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    doc = {"command": "python bench/fuzz.py " + " ".join(sys.argv[1:]), "seed": args.seed, "start": args.start,
           "avoid": sorted(avoid),
           "n": len(results), "hls_every": args.hls_every, "git_head": head, "date": time.strftime("%Y-%m-%d %H:%M"),
           "seconds": round(elapsed, 1), **report(results, counts, elapsed, args), "reproducers": [],
           "models": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(doc, indent=1, default=str))

    print("reproducers (first failure of each kind, shrunk):")
    for sig, (i, hls) in first_of.items():
        budget = args.hls_shrink_budget if hls else args.shrink_budget
        spec = random_spec(args.seed, i, avoid)
        spec, out, runs = shrink(spec, sig, hls, budget, log) if budget > 0 else (spec, run_spec(spec), 0)
        log("")
        sys.stderr.write("\r\033[K")
        path = write_reproducer(spec, out, args.out, hls=hls)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        rep = {"signature": sig, "first_index": i, "count": doc["failure_kinds"].get(sig, 0), "reproducer": str(shown),
               "layers": spec_size(spec), "shrink_runs": runs, "still_fails": failure_signature(out) == sig,
               "summary": out.summary()}
        doc["reproducers"].append(rep)
        print(f"  {rep['count']:>4} x {sig}\n         -> {shown} ({rep['layers']} layers, {runs} runs)")
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str))


if __name__ == "__main__":
    main()
