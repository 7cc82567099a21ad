"""Random valid HGQ models for the fuzzer (issue 9): a JSON spec, the model it builds, the checks.

Generation. :func:`generate` draws a *spec* (plain dicts, lists, numbers; JSON-serializable)
through a :class:`Drawer`. Two drawers share the one generator: :func:`model_specs` is the
hypothesis strategy (the CI test; hypothesis shrinks failing specs itself) and :func:`random_spec`
the seeded numpy one of ``bench/fuzz.py`` (which shrinks specs structurally). A spec reads::

    {"seed": 7, "aggressive": True, "kind": "func",            # top model: Functional or Sequential
     "inputs": [{"name": "x0", "shape": [8], "sig": None}],  # sig: [k, bits, int_bits] of a Signature
     "nodes": [{"op": "hq", "name": "hq1", "in": ["x0"], "paq": {...}}, ...],
     "outputs": ["dense2"], "data": {...}}

with node ops ``hq sig dense conv pool act add concat flatten reshape sub`` (``sub``: a nested
Sequential or Functional model with its own ``body``). Quantizer *recipes* (``paq``/``kq``) say how
:func:`build_model` draws per-element fractional bits: a range, 0-bit elements, dead channels,
whole 0-bit layers, homogeneous or heterogeneous, RND or TRN.

Checking, at the end: :func:`run_spec` builds, calibrates, converts and compares (hls4ml's C
simulation in a forked child, which an ``abort()`` in ap_types cannot take down);
:func:`check_spec` raises on a failure; :func:`write_reproducer` saves a standalone reproducer.
"""

from __future__ import annotations

import hashlib
import json
import os
import pprint
import re
import textwrap
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import hgq_ir  # noqa: E402
from hgq_ir.ir.errors import InexactError, TableTooLargeError, UnsupportedLayerError  # noqa: E402
from hgq_ir.ir.fixed import FixedFormat, quantize  # noqa: E402
from hgq_ir.training import layers as H  # noqa: E402
from hgq_ir.training.layers.graph import iter_layers  # noqa: E402
from hgq_ir.verification import RecordingInterpreter  # noqa: E402

SPEC_VERSION = 1
ZERO_BITS = -8  # fractional bits of a "0-bit" element: RND sends |v| < 128 to 0

# =============================================================================================
# custom unary activations (registered: a proxy or HGQ model holding them stays serializable)
# =============================================================================================


@keras.saving.register_keras_serializable(package="hgq_ir_fuzz")
def fuzz_sin2_minus_x(x):  # noqa: ANN001, ANN201
    """``sin(x)**2 - x``: smooth, converts only as a lookup table."""
    return keras.ops.sin(x) ** 2 - x


@keras.saving.register_keras_serializable(package="hgq_ir_fuzz")
def fuzz_cubic(x):  # noqa: ANN001, ANN201
    """``x**3 / 8 - x / 2``: odd polynomial."""
    return x * x * x / 8.0 - x / 2.0


@keras.saving.register_keras_serializable(package="hgq_ir_fuzz")
def fuzz_sqrt_abs(x):  # noqa: ANN001, ANN201
    """``sqrt(|x|)``: not differentiable at 0, irrational values."""
    return keras.ops.sqrt(keras.ops.abs(x))


CUSTOM = {"sin2_minus_x": fuzz_sin2_minus_x, "cubic": fuzz_cubic, "sqrt_abs": fuzz_sqrt_abs}

# weighted by repetition; the first entry is what a shrinker falls back to
ACTIVATIONS = ["tanh", "sigmoid", "relu", "tanh", "sigmoid", "linear", "softplus", "softsign", "elu", "selu",
               "swish", "silu", "hard_sigmoid", "relu6", "exponential", "softmax", "gelu", "leaky_relu", "mish",
               "hard_silu", "hard_tanh", "log_sigmoid", "celu", "squareplus", "tanh_shrink", "soft_shrink",
               "sparse_plus", "custom:sin2_minus_x", "custom:cubic", "custom:sqrt_abs"]

# =============================================================================================
# drawers: one generator, hypothesis or seeded numpy underneath
# =============================================================================================


class Drawer:
    """Where the generator gets its choices (hypothesis shrinks each toward its simplest value)."""

    def integer(self, lo: int, hi: int) -> int:
        """An int in ``[lo, hi]`` (shrinks to ``lo``)."""
        raise NotImplementedError

    def pick(self, options: Sequence[Any]) -> Any:
        """One of ``options`` (shrinks to the first; repeat an entry to weight it)."""
        raise NotImplementedError

    def chance(self, p: float) -> bool:
        """True with probability about ``p`` (shrinks to False)."""
        raise NotImplementedError


class HypothesisDrawer(Drawer):
    """Choices from hypothesis' ``draw`` (inside ``st.composite``)."""

    def __init__(self, draw: Callable[[st.SearchStrategy], Any]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.draw(st.integers(0, len(options) - 1))]

    def chance(self, p: float) -> bool:
        return self.draw(st.integers(0, 99)) >= round(100 * (1 - p))


class RandomDrawer(Drawer):
    """Seeded numpy choices."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(0, len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


# =============================================================================================
# generation
# =============================================================================================


def conv_out(n: int, k: int, s: int, padding: str) -> int:
    """Output length of a convolution or pooling window along one axis (Keras rules)."""
    return (n - k) // s + 1 if padding == "valid" else -(-n // s)


def _factorizations(n: int, rank: int) -> list[list[int]]:
    """Shapes of ``rank`` axes holding ``n`` elements, small first."""
    if rank == 1:
        return [[n]]
    out = []
    for a in range(1, n + 1):
        if n % a == 0 and a <= 12:
            out += [[a, *rest] for rest in _factorizations(n // a, rank - 1)]
    return [s for s in out if all(d <= 16 for d in s)] or [[1] * (rank - 1) + [n]]


class _Scope:
    """The nodes of one model (the top one or a nested one) and the shapes of its tensors."""

    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.inputs: list[dict] = []

    def add(self, node: dict, shape: Sequence[int]) -> str:
        self.nodes.append(node)
        self.shapes[node["name"]] = tuple(int(d) for d in shape)
        return node["name"]


class _Gen:
    """The generator: one method per kind of block; every choice goes through ``self.d``."""

    MAX_NEST = 2

    def __init__(self, d: Drawer, avoid: frozenset[str] = frozenset()) -> None:
        self.d = d
        self.count = 0
        self.avoid = avoid

    def name(self, op: str) -> str:
        self.count += 1
        return f"{op}{self.count}"

    # ---- quantizer recipes ---------------------------------------------------------------------
    def paq(self) -> dict:
        d, zl = self.d, "zero_layer" in self.avoid
        # mostly live bits: a negative lo often leaves a small-valued layer 0 bits wide everywhere,
        # which hgq-ir flags for hls4ml (and a flagged model proves less there)
        lo = d.pick([2, 1, 3, 0, 4, 5, 2, 3, 6, 8, -1, 4])
        if not zl and d.chance(0.008):  # a whole 0-bit layer (hgq-ir flags it for hls4ml)
            lo = ZERO_BITS
        return {"skip": d.pick(["batch", "batch", "all", "except_last"]), "floor": d.chance(0.25),
                "lo": lo, "span": d.integer(0, 4),
                "zero": d.pick([0.0, 0.0, 0.0, 0.1, 0.3]), "dead": d.pick([0.0, 0.0, 0.0, 0.25] + [0.5] * (not zl)),
                "alive": True}

    def narrow_paq(self) -> dict:
        d = self.d
        return {"skip": d.pick(["batch", "all", "except_last"]), "floor": d.chance(0.25), "lo": d.integer(0, 3),
                "span": d.integer(0, 1), "zero": d.pick([0.0, 0.0, 0.1]), "dead": 0.0, "alive": True}

    def kq(self) -> dict:
        d = self.d
        return {"skip": d.pick(["none", "none", "all"]), "floor": d.chance(0.1),
                "lo": d.pick([3, 2, 4, 1, 5, 0, -1, 6, 8]) if "zero_layer" in self.avoid or not d.chance(0.008)
                else ZERO_BITS, "span": d.integer(0, 4),
                "zero": d.pick([0.0, 0.0, 0.0, 0.1, 0.3]), "dead": d.pick([0.0, 0.0, 0.0, 0.25])}

    # ---- single layers -------------------------------------------------------------------------
    def hq(self, sc: _Scope, t: str) -> str:
        return sc.add({"op": "hq", "name": self.name("hq"), "in": [t], "paq": self.paq()}, sc.shapes[t])

    def act(self, sc: _Scope, t: str) -> str:
        if "lut_zero" in self.avoid or self.d.chance(0.6):  # narrow: most activations then become tables
            paq = self.narrow_paq()
            if "lut_zero" in self.avoid:
                paq.update(lo=max(paq["lo"], 2), zero=0.0)
            t = sc.add({"op": "hq", "name": self.name("hq"), "in": [t], "paq": paq}, sc.shapes[t])
        fn = self.d.pick(HLS_ACTIVATIONS if "hls_act" in self.avoid else ACTIVATIONS)
        return sc.add({"op": "act", "name": self.name("act"), "in": [t], "fn": fn, "paq": self.paq()},
                      sc.shapes[t])

    def dense(self, sc: _Scope, t: str, units: int | None = None) -> str:
        d, s = self.d, sc.shapes[t]
        if units is None:
            units = d.integer(1, max(1, min(12, 1024 // max(1, int(np.prod(s))))))
        node = {"op": "dense", "name": self.name("dense"), "in": [t], "units": units, "relu": d.chance(0.4),
                "bias": not d.chance(0.15), "bn": d.chance(0.2), "wexp": d.pick([0, 0, 0, -2, 2, -4, 3]),
                "kq": self.kq(), "paq": self.paq()}
        return sc.add(node, (*s[:-1], units))

    def conv(self, sc: _Scope, t: str, filters: int | None = None, keep: bool = False) -> str:
        d, s = self.d, sc.shapes[t]
        rank = len(s) - 1
        kernel = [d.integer(1, 3) for _ in range(rank)]
        strides = [1] * rank if keep else [d.pick([1, 1, 2]) for _ in range(rank)]
        padding = "same" if keep else d.pick(["valid", "same"])
        if padding == "valid" and any(n < k for n, k in zip(s[:-1], kernel, strict=True)):
            padding = "same"
        if "tf_conv_stride" in self.avoid and rank == 2 and strides[1] > s[1]:
            strides[1] = 1
        out = [conv_out(n, k, st_, padding) for n, k, st_ in zip(s[:-1], kernel, strides, strict=True)]
        filters = filters or d.integer(1, 4)
        pf = 1
        if d.chance(0.1):
            n_pos = int(np.prod(out))
            pf = d.pick([p for p in (2, 4, 3) if n_pos % p == 0] or [1])
        node = {"op": "conv", "name": self.name("conv"), "in": [t], "rank": rank, "filters": filters,
                "kernel": kernel, "strides": strides, "padding": padding, "relu": d.chance(0.4),
                "bias": not d.chance(0.15), "bn": d.chance(0.2), "wexp": d.pick([0, 0, 0, -2, 2, -4]), "pf": pf,
                "kq": self.kq(), "paq": self.paq()}
        return sc.add(node, (*out, filters))

    def pool(self, sc: _Scope, t: str, keep: bool = False) -> str:
        d, s = self.d, sc.shapes[t]
        rank = len(s) - 1
        kind = d.pick(["max", "avg"])
        pool = [d.pick([2, 2, 1, 3, 4]) for _ in range(rank)]
        strides = [1] * rank if keep else [d.pick([p, p, 1, 2]) for p in pool]
        padding = "same" if keep else d.pick(["valid", "same"])
        if padding == "valid" and any(n < p for n, p in zip(s[:-1], pool, strict=True)):
            padding = "same"
        out = [conv_out(n, p, st_, padding) for n, p, st_ in zip(s[:-1], pool, strides, strict=True)]
        node = {"op": "pool", "name": self.name(f"{kind}pool"), "in": [t], "rank": rank, "kind": kind,
                "pool": pool, "strides": strides, "padding": padding}
        return sc.add(node, (*out, s[-1]))

    def flatten(self, sc: _Scope, t: str) -> str:
        return sc.add({"op": "flatten", "name": self.name("flatten"), "in": [t]}, (int(np.prod(sc.shapes[t])),))

    def reshape(self, sc: _Scope, t: str) -> str:
        n = int(np.prod(sc.shapes[t]))
        rank = self.d.pick([r for r in (1, 2, 3) if r != len(sc.shapes[t])])
        target = self.d.pick(_factorizations(n, rank))
        return sc.add({"op": "reshape", "name": self.name("reshape"), "in": [t], "target": target}, target)

    # ---- blocks ------------------------------------------------------------------------------------
    def block(self, sc: _Scope, t: str, nest: int) -> str:
        """One block on ``t``: a layer, a passive layer (maybe with an activation behind it), a merge,
        or any of these inside a nested model."""
        d = self.d
        if nest < self.MAX_NEST and d.chance(0.15):
            return self.sub(sc, [t], lambda inner, ts: [self.block(inner, ts[0], nest + 1)], nest)[0]
        s = sc.shapes[t]
        spatial = len(s) > 1
        options = ["dense", "act", "hq", "add", "concat", "reshape"]
        if spatial:
            options = ["conv", "pool", "conv", "pool", "flatten", *options]
            if int(np.prod(s)) > 96:  # keep Dense kernels small: pool or convolve it down first
                options = [o for o in options if o not in ("dense", "reshape")]
        kind = d.pick(options)
        if kind == "dense" and spatial and not d.chance(0.3):
            kind = "flatten"  # Dense on a multi-axis input: allowed, but rarer
        if kind in ("add", "concat"):
            return self.merge(sc, t, kind, nest)
        out = getattr(self, kind)(sc, t)
        if kind in ("pool", "flatten", "reshape") and d.chance(0.4):
            out = self.act(sc, out)  # an activation behind passive layers
        return out

    def branch(self, sc: _Scope, t: str, nest: int, keep_all: bool) -> str:
        """One branch of a merge: identity or one layer; ``keep_all``: the shape is kept, else only
        the non-channel axes."""
        d, s = self.d, sc.shapes[t]
        options = ["id", "hq", "act", "dense"] + (["conv", "pool"] if len(s) > 1 else [])
        if nest < self.MAX_NEST:
            options.append("sub")
        kind = d.pick(options)
        if kind == "id":
            return t
        if kind == "sub":
            return self.sub(sc, [t], lambda inner, ts: [self.branch(inner, ts[0], nest + 1, keep_all)], nest)[0]
        if kind == "dense":
            return self.dense(sc, t, units=s[-1] if keep_all else None)
        if kind == "conv":
            return self.conv(sc, t, filters=s[-1] if keep_all else None, keep=True)
        if kind == "pool":
            return self.pool(sc, t, keep=True)
        return getattr(self, kind)(sc, t)

    def merge(self, sc: _Scope, t: str, kind: str, nest: int) -> str:
        """HAdd or PConcatenate of 2 to 4 branches of ``t``."""
        d, rank = self.d, len(sc.shapes[t])
        axis = -1
        if kind == "concat" and rank > 1 and d.chance(0.25):
            axis = d.integer(1, rank - 1)
        k = 2 if kind == "add" and "add_many" in self.avoid else d.integer(2, 4)
        ts = [self.branch(sc, t, nest, keep_all=kind == "add" or axis != -1) for _ in range(k)]
        return self.join(sc, ts, kind, axis)

    def join(self, sc: _Scope, ts: list[str], kind: str, axis: int = -1) -> str:
        if kind == "add":
            node = {"op": "add", "name": self.name("add"), "in": ts, "paq": self.paq()}
            return sc.add(node, sc.shapes[ts[0]])
        shape = list(sc.shapes[ts[0]])
        a = axis - 1 if axis > 0 else axis  # Keras counts the batch axis
        shape[a] = sum(sc.shapes[x][a] for x in ts)
        out = sc.add({"op": "concat", "name": self.name("concat"), "in": ts, "axis": axis}, shape)
        return self.act(sc, out) if self.d.chance(0.25) else out

    def sub(self, sc: _Scope, ts: list[str], body: Callable[[_Scope, list[str]], list[str]],
            nest: int) -> list[str]:
        """A nested model around ``body`` (Sequential when it is a chain, else Functional)."""
        name = self.name("sub")
        inner = _Scope()
        ins = []
        for j, t in enumerate(ts):
            iname = f"{name}_in{j}"
            inner.inputs.append({"name": iname, "shape": list(sc.shapes[t])})
            inner.shapes[iname] = sc.shapes[t]
            ins.append(iname)
        outs = body(inner, ins)
        if any(o in ins for o in outs):  # an identity body: give it one layer
            outs = [self.hq(inner, o) if o in ins else o for o in outs]
        chain = _is_chain(inner, ins, outs)
        kind = "seq" if chain and self.d.chance(0.5) else "func"
        avoid_out = kind == "func" and "func_output" in self.avoid
        if kind == "func" and len(inner.nodes) > 1 and not avoid_out and self.d.chance(0.2):
            extra = self.d.pick([_tensor_of(n) for n in inner.nodes[:-1]])
            if extra not in outs:
                outs = [*outs, extra]
        outer = [f"{name}_out{j}" for j in range(len(outs))]
        node = {"op": "sub", "name": name, "in": list(ts), "kind": kind,
                "body": {"inputs": inner.inputs, "nodes": inner.nodes, "outputs": outs}, "outs": outer}
        sc.nodes.append(node)
        for o, i in zip(outer, outs, strict=True):
            sc.shapes[o] = inner.shapes[i]
        if sc is self.top:  # a second output of a nested model becomes a model output
            self.extra_outputs.extend(outer[1:])
        if avoid_out:  # a layer reads the output, which is then no scope's output
            return [self.hq(sc, outer[0])]
        return outer

    # ---- the whole model ---------------------------------------------------------------------------
    def input_spec(self, j: int) -> dict:
        d = self.d
        rank = d.pick([1, 1, 2, 3])
        if rank == 1:
            shape = [d.integer(1, 16)]
        elif rank == 2:
            shape = [d.integer(2, 12), d.integer(1, 3)]
        else:
            shape = [d.integer(2, 6), d.integer(2, 6), d.integer(1, 3)]
        sig = None
        if d.chance(0.25):
            k, i, f = d.pick([1, 0]), d.pick([2, 1, 3, 0, -1, 4]), d.pick([3, 2, 4, 0, 5, -1])
            f = max(f, 1 - k - i)
            sig = [k, k + i + f, k + i]
        return {"name": f"x{j}", "shape": shape, "sig": sig}

    def head(self, sc: _Scope, inp: dict) -> str:
        """The first layers on a model input: Signature or HQuantize, maybe one block, maybe nested."""
        def body(inner: _Scope, ts: list[str]) -> list[str]:
            t = ts[0]
            if inp["sig"] is not None:
                k, bits, ib = inp["sig"]
                t = inner.add({"op": "sig", "name": self.name("sig"), "in": [t], "k": k, "bits": bits,
                               "int_bits": ib}, inner.shapes[t])
            if inp["sig"] is None or self.d.chance(0.15):  # a Signature then a quantizer: flagged for hls4ml
                t = self.hq(inner, t)
            return [t]

        if self.d.chance(0.15):
            return self.sub(sc, [inp["name"]], body, 0)[0]
        return body(sc, [inp["name"]])[0]

    def model(self) -> dict:
        d = self.d
        self.extra_outputs: list[str] = []
        sc = self.top = _Scope()
        n_in = 1 if "multi_input" in self.avoid else d.pick([1, 1, 1, 1, 2, 3])
        for j in range(n_in):
            inp = self.input_spec(j)
            sc.inputs.append(inp)
            sc.shapes[inp["name"]] = tuple(inp["shape"])
        ts = [self.head(sc, inp) for inp in sc.inputs]
        outputs = []
        if len(ts) > 1:
            if d.chance(0.3):  # separate paths, one output each (the last one goes on below)
                for t in ts[:-1]:
                    outputs.append(self.block(sc, t, 0) if d.chance(0.5) else t)
                t = ts[-1]
            else:  # project to a common size, then add or concatenate
                units = d.integer(1, 8)
                ps = [self.dense(sc, self.flatten(sc, t) if len(sc.shapes[t]) > 1 else t, units=units) for t in ts]
                t = self.join(sc, ps, d.pick(["add", "concat"]))
        else:
            t = ts[0]
        for _ in range(d.integer(1, 6)):
            t = self.block(sc, t, 0)
        outputs.append(t)
        outputs += [o for o in self.extra_outputs if o not in outputs]
        if d.chance(0.2):
            cands = [_tensor_of(n) for n in sc.nodes if _tensor_of(n) not in outputs]
            if cands:
                outputs.append(d.pick(cands))
        # an output that is an input through quantizers and reshapes only is flagged for hls4ml (which
        # folds it away): compute something there, so that hls4ml checks the rest of the model
        outputs = [self.dense(sc, o) if _folded(sc, o) else o for o in outputs]
        chain = len(sc.inputs) == 1 and _is_chain(sc, [sc.inputs[0]["name"]], outputs)
        return {"version": SPEC_VERSION, "seed": d.integer(0, 2**16 - 1), "aggressive": d.chance(0.5),
                "kind": "seq" if chain and d.chance(0.3) else "func", "inputs": sc.inputs,
                "nodes": sc.nodes, "outputs": outputs,
                "data": {"n_calib": 512, "n_test": 256, "scale": d.pick([0, 0, 0, 0, -3, 2, -6]),
                         "far": d.pick([3, 6, 10]), "cover": d.pick([1.0, 1.0, 1.0, 1.0, 0.5, 2.0])}}


def _tensor_of(node: dict) -> str:
    """The (first) output tensor of a node."""
    return node["outs"][0] if node["op"] == "sub" else node["name"]


def _folded(sc: _Scope, t: str) -> bool:
    """True when tensor ``t`` of scope ``sc`` is one of its inputs through quantizers and reshapes only."""
    by_name = {_tensor_of(n): n for n in sc.nodes}
    inputs = {i["name"] for i in sc.inputs}
    while t in by_name and by_name[t]["op"] in ("hq", "sig", "reshape", "flatten"):
        t = by_name[t]["in"][0]
    return t in inputs


def _is_chain(sc: _Scope, ins: list[str], outs: list[str]) -> bool:
    """True when the scope's nodes form one chain from its single input to its single output."""
    if len(ins) != 1 or len(outs) != 1 or not sc.nodes:
        return False
    prev = ins[0]
    for n in sc.nodes:
        if n["in"] != [prev] or (n["op"] == "sub" and len(n["outs"]) != 1):
            return False
        prev = _tensor_of(n)
    return prev == outs[0]


AVOIDABLE = {
    "func_output": "no nested Functional model's output is a model's (or nested model's) output",
    "multi_input": "one model input only",
    "add_many": "HAdd of two inputs only",
    "lut_zero": "a quantizer of >= 2 fractional bits, no 0-bit elements, before every activation",
    "hls_act": "activations hls4ml's bit-exact flow handles only (relu, tanh, sigmoid, linear, custom tables)",
    "zero_layer": "no quantizer with all fractional bits at -8 and no half-dead layers (whole 0-bit layers rarer)",
    "tf_conv_stride": "no Conv2D with a column stride above the input width (TensorFlow's oneDNN Conv2D errs there)",
}
"""Patterns :func:`generate` can leave out (``avoid=``), to fuzz on past a known, still open failure."""

HLS_ACTIVATIONS = ["tanh", "sigmoid", "relu", "linear", "custom:sin2_minus_x", "custom:cubic", "custom:sqrt_abs"]


def generate(d: Drawer, avoid: frozenset[str] | set[str] = frozenset()) -> dict:
    """A random valid model spec, every choice drawn from ``d``, without the :data:`AVOIDABLE` patterns in ``avoid``."""
    unknown = set(avoid) - set(AVOIDABLE)
    if unknown:
        raise ValueError(f"unknown patterns to avoid {sorted(unknown)}; known: {sorted(AVOIDABLE)}")
    return _Gen(d, frozenset(avoid)).model()


@st.composite
def model_specs(draw: Callable[[st.SearchStrategy], Any], avoid: frozenset[str] = frozenset()) -> dict:
    """Hypothesis strategy of model specs."""
    return generate(HypothesisDrawer(draw), avoid)


def random_spec(seed: int, index: int, avoid: frozenset[str] | set[str] = frozenset()) -> dict:
    """Spec number ``index`` of the stream ``seed`` (numpy choices, no hypothesis)."""
    return generate(RandomDrawer(np.random.default_rng([seed, index])), avoid)


def spec_hash(spec: dict) -> str:
    """Short stable hash of a spec."""
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def failure_signature(out: Any) -> str | None:
    """What kind of failure an :class:`Outcome` shows (None when it passes), for grouping and
    minimising: the first failing check, or for a crash/refusal the phase, the exception type (and
    the type it wraps) and the function that raised it."""
    if not out.failures:
        return None
    first = out.failures[0]
    if first in ("crash", "refused"):
        line = (out.crash or out.refused).splitlines()[0]
        phase, _, rest = line.partition(": ")
        kind = rest.split(":", 1)[0]
        inner = re.findall(r"\b(\w+(?:Error|Exception))\b:", rest.split(":", 1)[-1])
        where = line.rpartition(" [at ")[2].rstrip("]")
        return f"{first}: {phase}: {kind}{'/' + inner[0] if inner else ''} at {where}"
    return first


def spec_size(spec: dict) -> int:
    """Number of layers, nested ones included."""
    def count(nodes: list[dict]) -> int:
        return sum(1 + (count(n["body"]["nodes"]) if n["op"] == "sub" else 0) for n in nodes)
    return count(spec["nodes"])


# =============================================================================================
# building
# =============================================================================================

SKIP = {"batch": (0,), "all": "all", "except_last": "except_last", "none": None}


def _qconf(recipe: dict, kind: str) -> dict:
    conf = {"skip_dims": SKIP[recipe["skip"]]}
    if recipe["floor"]:
        conf["rnd_strategy"] = "floor"
    return conf


def _layer(node: dict) -> keras.layers.Layer:
    """The Keras layer of one (non-sub) node."""
    op, name = node["op"], node["name"]
    if op == "hq":
        return H.HQuantize(name=name, paq_conf=_qconf(node["paq"], "paq"))
    if op == "sig":
        return H.Signature(keep_negative=node["k"], bits=node["bits"], int_bits=node["int_bits"], name=name)
    if op == "act":
        fn = node["fn"]
        fn = CUSTOM[fn.split(":", 1)[1]] if fn.startswith("custom:") else fn
        return H.HActivation(fn, name=name, paq_conf=_qconf(node["paq"], "paq"))
    if op == "add":
        return H.HAdd(name=name, paq_conf=_qconf(node["paq"], "paq"))
    if op == "concat":
        return H.PConcatenate(axis=node["axis"], name=name)
    if op == "flatten":
        return H.PFlatten(name=name)
    if op == "reshape":
        return H.PReshape(tuple(node["target"]), name=name)
    if op == "pool":
        cls = {("max", 1): H.PMaxPooling1D, ("max", 2): H.PMaxPooling2D, ("avg", 1): H.PAveragePooling1D,
               ("avg", 2): H.PAveragePooling2D}[(node["kind"], node["rank"])]
        return cls(tuple(node["pool"]), strides=tuple(node["strides"]), padding=node["padding"], name=name)
    common = {"activation": "relu" if node["relu"] else None, "use_bias": node["bias"], "name": name,
              "kq_conf": _qconf(node["kq"], "kq"), "paq_conf": _qconf(node["paq"], "paq")}
    if op == "dense":
        cls = H.HDenseBatchNorm if node["bn"] else H.HDense
        return cls(node["units"], **common)
    if op == "conv":
        cls = {(1, False): H.HConv1D, (2, False): H.HConv2D, (1, True): H.HConv1DBatchNorm,
               (2, True): H.HConv2DBatchNorm}[(node["rank"], node["bn"])]
        return cls(node["filters"], tuple(node["kernel"]), strides=tuple(node["strides"]), padding=node["padding"],
                   parallel_factor=node["pf"], **common)
    raise ValueError(f"unknown op {op!r}")


def _build_scope(name: str, kind: str, inputs: list[dict], nodes: list[dict], outputs: list[str]) -> keras.Model:
    """A Keras model (Sequential or Functional) of one scope of the spec; nested scopes recursively."""
    def make(node: dict) -> keras.layers.Layer:
        if node["op"] == "sub":
            b = node["body"]
            return _build_scope(node["name"], node["kind"], b["inputs"], b["nodes"], b["outputs"])
        return _layer(node)

    if kind == "seq":
        inp = inputs[0]
        return keras.Sequential([keras.Input(tuple(inp["shape"]), name=inp["name"]), *(make(n) for n in nodes)],
                                name=name)
    tensors = {i["name"]: keras.Input(tuple(i["shape"]), name=i["name"]) for i in inputs}
    for node in nodes:
        layer = make(node)
        args = [tensors[t] for t in node["in"]]
        out = layer(args if node["op"] in ("add", "concat") or (node["op"] == "sub" and len(args) > 1) else args[0])
        if node["op"] == "sub":
            outs = out if isinstance(out, (list, tuple)) else [out]
            tensors.update(zip(node["outs"], outs, strict=True))
        else:
            tensors[node["name"]] = out
    ins = [tensors[i["name"]] for i in inputs]
    outs = [tensors[o] for o in outputs]
    return keras.Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0], name=name)


def _nodes_by_name(nodes: list[dict], out: dict[str, dict] | None = None) -> dict[str, dict]:
    out = {} if out is None else out
    for n in nodes:
        out[n["name"]] = n
        if n["op"] == "sub":
            _nodes_by_name(n["body"]["nodes"], out)
    return out


def _assign_bits(q: Any, recipe: dict, rng: np.random.Generator, shift: int = 0) -> None:
    shape = tuple(q.fbw.shape)
    f = rng.integers(recipe["lo"], recipe["lo"] + recipe["span"] + 1, size=shape).astype(np.float32)
    if recipe.get("alive"):  # newer specs: ``shift`` more fractional bits on small data (as training would)
        f += shift
    if recipe["zero"] and f.size > 1:  # 0-bit elements (a whole 0-bit layer only from ``lo``)
        f[rng.random(shape) < recipe["zero"]] = ZERO_BITS
    if recipe["dead"] and shape[-1] > 1:  # dead channels, one left alive
        dead = rng.random(shape[-1]) < recipe["dead"]
        if recipe.get("alive"):  # newer specs keep one channel: a whole 0-bit layer only from ``lo``
            dead[rng.integers(shape[-1])] = False
        f[..., dead] = ZERO_BITS
    q.fbw.assign(f)


def randomize(model: keras.Model, spec: dict) -> None:
    """Seeded weights, biases, BatchNorm statistics and per-element fractional bits, layer by layer."""
    nodes = _nodes_by_name(spec["nodes"])
    for layer in iter_layers(model):
        node = nodes.get(layer.name)
        if node is None:
            continue
        rng = np.random.default_rng([spec["seed"], zlib.crc32(layer.name.encode())])
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            shape = tuple(kernel.shape)
            fan_in, fan_out = int(np.prod(shape[:-1])), int(shape[-1])
            lim = np.sqrt(6 / (fan_in + fan_out)) * 2.0 ** node["wexp"]
            kernel.assign(rng.uniform(-lim, lim, shape).astype(np.float32))
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(rng.normal(0, 0.3, tuple(bias.shape)).astype(np.float32))
        for name, dist, a, b in (("moving_mean", "normal", 0, 0.3), ("moving_variance", "uniform", 0.3, 2.0),
                                 ("bn_gamma", "uniform", 0.5, 1.5), ("bn_beta", "normal", 0, 0.3)):
            v = getattr(layer, name, None)
            if v is not None:
                v.assign(getattr(rng, dist)(a, b, tuple(v.shape)).astype(np.float32))
        if getattr(layer, "kq", None) is not None and "kq" in node:
            _assign_bits(layer.kq, node["kq"], rng)
        if getattr(layer, "paq", None) is not None and "paq" in node:
            _assign_bits(layer.paq, node["paq"], rng, shift=max(0, -spec["data"]["scale"]))


def build_model(spec: dict) -> keras.Model:
    """The Keras model of ``spec``, weights and bitwidths set (not calibrated)."""
    keras.utils.set_random_seed(spec["seed"])
    model = _build_scope(f"fz_{spec_hash(spec)}", spec["kind"], spec["inputs"], spec["nodes"], spec["outputs"])
    randomize(model, spec)
    return model


def _sig_format(sig: list[int]) -> FixedFormat:
    k, bits, ib = sig
    return FixedFormat(k, ib - k, bits - ib, "TRN", "SAT")


def make_data(spec: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(x_calib, x_test)``, one float32 array per input. Calibration: ``N(0,1) * U(0,1) * 2**scale``
    (on the Signature's grid for a Signature input). Test: half of the same kind, a quarter
    ``2**far`` times wider, a quarter wider and off any grid, plus a zero row and constant rows."""
    dc = spec["data"]
    rng = np.random.default_rng([spec["seed"], 1])
    calib, test = [], []
    for inp in spec["inputs"]:
        shape, n, m = tuple(inp["shape"]), dc["n_calib"], dc["n_test"]
        xc, xt = (rng.standard_normal((k, *shape)) * rng.uniform(0, 1, (k, *shape)) * 2.0 ** dc["scale"]
                  for k in (n, m))
        q = m // 2
        xt[q:] *= 2.0 ** dc["far"]
        xt[q + m // 4:] += rng.uniform(-1, 1, xt[q + m // 4:].shape) * 2.0 ** (dc["far"] - 7)
        xt[0] = 0.0
        xt[1] = 2.0 ** dc["far"]
        xt[2] = -(2.0 ** dc["far"])
        if inp["sig"] is not None:
            fmt = _sig_format(inp["sig"])
            xc = quantize(xc * 2.0 ** (fmt.i.max() + 1 - dc["scale"]) / 2, fmt)
            xt[3:q] = quantize(xt[3:q] * 2.0 ** (fmt.i.max() + 1 - dc["scale"]) / 2, fmt)
        calib.append(xc.astype(np.float32))
        test.append(xt.astype(np.float32))
    return calib, test


# =============================================================================================
# checking
# =============================================================================================

CHECKS = ("io", "interp", "hgq_calib", "hgq_clean", "onnx_f32", "onnx_f64", "qonnx", "hls")
"""``io``: the proxy takes the model's inputs in the model's order; ``interp``: interpret(legalized
IR) == proxy on calibration and test rows; ``hgq_calib``: HGQ model == proxy on every calibration
row (cover_factor >= 1); ``hgq_clean``: HGQ model == proxy on every row where the core IR proves
that no quantizer overflows (and no Signature alters its input); ``onnx_f32`` / ``onnx_f64``:
onnxruntime on the onnx target == interpret(core IR) on every row, float32 data and data nudged
off float32; ``qonnx``: qonnx's executor on the qonnx target == interpret(core IR) on the first
rows; ``hls``: hls4ml C simulation == proxy on every row. Inputs are matched by name, so that a
wrong ``io`` does not hide the rest."""

ALLOWED_ERRORS = (TableTooLargeError, InexactError, UnsupportedLayerError)
"""Typed errors that flag a model as legitimately not (exactly) convertible. Any other typed
error on a generated (valid) model is a refusal, counted as a failure."""


class OverflowInterpreter(RecordingInterpreter):
    """The exact interpreter, flagging per row (``dirty``) whether a Quantize overflowed or a Signature changed
    its input (``hgq_ir.verification.RecordingInterpreter.overflow_rows``)."""

    def __init__(self, graph: Any) -> None:
        super().__init__(graph, keep_values=False)

    @property
    def dirty(self) -> np.ndarray | None:
        return self.overflow_rows


def _as_list(y: Any) -> list[np.ndarray]:
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    return [np.asarray(keras.ops.convert_to_numpy(a), dtype=np.float64) for a in ys]


def _call(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _as_list(model(xs if len(xs) > 1 else xs[0], training=False))


def _by_name(names: list[str], xs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Inputs in the order ``names`` asks for (the model's order when a name is unknown)."""
    if sorted(names) != sorted(xs):
        return list(xs.values())
    return [xs[n] for n in names]


def compare(got: list[np.ndarray], want: list[np.ndarray], rows: np.ndarray | None = None) -> dict:
    """Row-wise exact comparison of two output lists (restricted to ``rows``): counts and first difference."""
    n = len(want[0])
    rows = np.ones(n, bool) if rows is None else rows
    if len(got) != len(want):
        return {"status": "fail", "rows": int(rows.sum()), "bad": int(rows.sum()),
                "detail": f"{len(got)} outputs != {len(want)}"}
    bad = np.zeros(n, bool)
    detail = ""
    for j, (a, b) in enumerate(zip(got, want, strict=True)):
        if a.shape != b.shape:
            return {"status": "fail", "rows": int(rows.sum()), "bad": int(rows.sum()),
                    "detail": f"output {j}: shape {a.shape} != {b.shape}"}
        diff = (a != b).reshape(n, -1) & rows[:, None]
        bad |= diff.any(axis=1)
        if not detail and diff.any():
            r, e = (int(v[0]) for v in np.nonzero(diff))
            detail = (f"output {j} row {r} element {e}: got {a.reshape(n, -1)[r, e]!r} want "
                      f"{b.reshape(n, -1)[r, e]!r} ({int(diff.sum())} elements)")
    return {"status": "fail" if bad.any() else "pass", "rows": int(rows.sum()), "bad": int(bad.sum()),
            "detail": detail}


#: the beginnings of hgq-ir's warnings about hls4ml alone: they excuse no mismatch of the proxy
HLS4ML_ONLY_FLAGS = ("will not be bit-exact in hls4ml", "is computed by hls4ml's own approximation",
                     "through quantizers and reshapes only: hls4ml", "up to quantizers and reshapes: hls4ml")


@dataclass
class Outcome:
    """What :func:`run_spec` found: flags (hgq-ir's own warnings and allowed typed errors), refusals
    (other typed errors), a crash (any other exception), and the result of each check."""

    spec: dict
    flags: list[str] = field(default_factory=list)
    refused: str | None = None
    crash: str | None = None
    checks: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: the warnings each of :data:`TARGET_CHECKS` gave while converting to and running its target
    target_flags: dict[str, list[str]] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def excused(self, check: str) -> bool:
        """Whether hgq-ir's own flags excuse a mismatch in ``check``: any flag excuses hls4ml; only a
        flag about the model or the proxy itself (not one of :data:`HLS4ML_ONLY_FLAGS`) excuses the
        proxy's checks, and a mismatch of ``interp`` located at an IR value only when it names a layer
        at or before it (a flag elsewhere proves nothing there); only the target's own warnings excuse
        an onnx or qonnx check (they compare with the interpreter, whatever the proxy or hls4ml do);
        nothing excuses the input-order check."""
        if check == "io":
            return False
        if check in TARGET_CHECKS:
            return bool(self.target_flags.get(check))
        proxy_flags = [f for f in self.flags if check == "hls" or not any(m in f for m in HLS4ML_ONLY_FLAGS)]
        upstream = self.checks.get(check, {}).get("upstream") if check == "interp" else None
        if upstream is not None:  # located: a flag must name a layer at or before the divergence
            return any(_names_layer(f, o) for f in proxy_flags for o in upstream)
        return bool(proxy_flags)

    @property
    def failures(self) -> list[str]:
        """Unexcused failures: a crash (in hls4ml: only on a model hgq-ir flagged), a refusal, or a
        mismatching check that no flag excuses (:meth:`excused`)."""
        excused_crash = self.flagged and self.crash is not None and self.crash.startswith("hls4ml:")
        out = ["crash"] * (bool(self.crash) and not excused_crash) + ["refused"] * bool(self.refused)
        out += [c for c, r in self.checks.items() if r["status"] == "fail" and not self.excused(c)]
        return out

    def summary(self) -> str:
        parts = [f"spec {spec_hash(self.spec)} ({spec_size(self.spec)} layers, aggressive={self.spec['aggressive']})"]
        if self.crash:
            parts.append(f"CRASH {self.crash.splitlines()[0][:300]}")
        if self.refused:
            parts.append(f"REFUSED {self.refused[:300]}")
        for c, r in self.checks.items():
            parts.append(f"{c}: {r['status']} {r.get('bad', 0)}/{r.get('rows', 0)} {r.get('detail', '')}".rstrip())
        if self.flags:
            parts.append(f"flagged: {' | '.join(f[:200] for f in self.flags)}")
        for c, fl in self.target_flags.items():
            if fl:
                parts.append(f"{c} flagged: {' | '.join(f[:200] for f in fl)}")
        return "\n  ".join(parts)

    def to_json(self) -> dict:
        return {"hash": spec_hash(self.spec), "size": spec_size(self.spec), "flags": self.flags,
                "target_flags": self.target_flags, "refused": self.refused, "crash": self.crash,
                "checks": self.checks, "seconds": self.seconds, "failures": self.failures}


def run_spec(spec: dict, hls_dir: str | os.PathLike | None = None) -> Outcome:
    """Build, calibrate and convert ``spec``'s model, then run the checks (hls4ml too when ``hls_dir``).

    A ``NotBitExactWarning`` or an :data:`ALLOWED_ERRORS` error flags the model; another typed
    ``HgqIrError`` (not ``InternalError``) is a refusal; any other exception is a crash. Never raises.
    """
    out = Outcome(spec)
    phase, t0 = "build", time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = build_model(spec)
            x_calib, x_test = make_data(spec)
            phase = "trace_minmax"
            hgq_ir.trace_minmax(model, x_calib if len(x_calib) > 1 else x_calib[0], verbose=False,
                                cover_factor=spec["data"]["cover"])
            out.seconds["build"] = time.perf_counter() - t0
            phase, t0 = "convert", time.perf_counter()
            proxy = hgq_ir.to_proxy_model(model, aggressive=spec["aggressive"])
            legal = hgq_ir.convert(model, to="ir", target="proxy", aggressive=spec["aggressive"])
            core = hgq_ir.convert(model, to="ir", aggressive=spec["aggressive"])
            out.seconds["convert"] = time.perf_counter() - t0
            phase, t0 = "check", time.perf_counter()
            names = [i["name"] for i in spec["inputs"]]
            xs = {n: np.concatenate([a, b]) for n, a, b in zip(names, x_calib, x_test, strict=True)}
            _checks(out, model, proxy, legal, core, xs, len(x_calib[0]))
            out.seconds["check"] = time.perf_counter() - t0
            if hls_dir is not None:
                phase, t0 = "hls4ml", time.perf_counter()
                _hls_check(out, proxy, xs, hls_dir)
                out.seconds["hls"] = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001  (everything is a finding)
            frame = traceback.extract_tb(e.__traceback__)[-1]
            msg = f"{phase}: {type(e).__name__}: {e} [at {Path(frame.filename).name}:{frame.name}]"
            if isinstance(e, ALLOWED_ERRORS) or (phase == "trace_minmax" and "computed NaN" in str(e)):
                # the second: the Keras model's own float32 arithmetic overflows on the data (a deep
                # stack of wide layers), which trace_minmax refuses naming the layer: not a valid model
                out.flags.append(msg)
            elif isinstance(e, hgq_ir.HgqIrError) and not isinstance(e, hgq_ir.InternalError):
                out.refused = msg
            else:
                out.crash = f"{msg}\n{''.join(traceback.format_exception(e)[-6:])}"
    out.flags += [f"warning: {w.message}" for w in caught if issubclass(w.category, hgq_ir.NotBitExactWarning)]
    keras.backend.clear_session()
    return out


def _checks(out: Outcome, model: Any, proxy: Any, legal: Any, core: Any, xs: dict[str, np.ndarray],
            n_calib: int) -> None:
    names = list(xs)
    proxy_names = [t.name for t in proxy.inputs]
    ok = proxy_names == names
    out.checks["io"] = {"status": "pass" if ok else "fail", "rows": 0, "bad": 0,
                        "detail": "" if ok else f"proxy inputs {proxy_names} != model inputs {names}"}
    y_proxy = _call(proxy, _by_name(proxy_names, xs))
    x_legal = _by_name([v.name for v in legal.inputs], xs)
    y_ir = _as_list(hgq_ir.interpret(legal, x_legal))
    out.checks["interp"] = compare(y_proxy, y_ir)
    if out.checks["interp"]["status"] == "fail":
        out.checks["interp"]["upstream"] = _divergence_upstream(proxy, legal, x_legal, y_proxy, y_ir)
    y_hgq = _call(model, list(xs.values()))
    rows = len(y_hgq[0])
    if out.spec["data"]["cover"] >= 1:
        out.checks["hgq_calib"] = compare(y_proxy, y_hgq, np.arange(rows) < n_calib)
    it = OverflowInterpreter(core)
    it.run(*_by_name([v.name for v in core.inputs], xs))
    clean = ~it.dirty if it.dirty is not None else np.ones(rows, bool)
    out.checks["hgq_clean"] = compare(y_proxy, y_hgq, clean)
    _target_checks(out, core, xs)


def _divergence_upstream(proxy: Any, legal: Any, x: list[np.ndarray], got: list[np.ndarray],
                        want: list[np.ndarray]) -> list[str] | None:
    """The layers (IR node names and their origins) at and before the first IR value where the proxy
    leaves the interpreter (``hgq_ir.verify``'s search, on the first mismatching rows), or None where it
    is not located."""
    from hgq_ir.verification import _proxy_reader, first_divergence

    n = len(x[0])
    bad = np.zeros(n, bool)
    for a, b in zip(got, want, strict=True):
        bad |= np.any(a.reshape(n, -1) != b.reshape(n, -1), axis=1)
    rows = np.flatnonzero(bad)[:64]
    where = re.match(r"%(\S+) \(", first_divergence(legal, [a[rows] for a in x], _proxy_reader(proxy, legal)))
    if where is None:
        return None
    seen, todo = set(), [legal.value(where.group(1)).producer]
    while todo:
        node = todo.pop()
        if node is not None and node.name not in seen:
            seen.add(node.name)
            todo.extend(v.producer for v in node.inputs)
    return sorted(seen | {legal.node(nm).origin for nm in seen if legal.node(nm).origin})  # flags name either


def _names_layer(flag: str, origin: str) -> bool:
    """Whether the flag's text names layer ``origin`` (a whole name: ``conv1`` is not ``conv12``)."""
    return re.search(rf"(?<![\w/]){re.escape(origin)}(?![\w])", flag) is not None


#: rows of every example given to qonnx's executor (a numpy loop over nodes: slow)
QONNX_ROWS = 16
#: the checks of the onnx and qonnx targets (:func:`_target_checks`)
TARGET_CHECKS = ("onnx_f32", "onnx_f64", "qonnx")


def _target_checks(out: Outcome, core: Any, xs: dict[str, np.ndarray]) -> None:
    """The onnx target (onnxruntime) == interpret(core) on every row, on the data (float32 values: the
    float32 model) and on it nudged off float32 (the float64 model); qonnx's executor on the qonnx target
    == interpret(core) on the first :data:`QONNX_ROWS` rows. Each records the warnings its target gives
    (``out.target_flags``): only those excuse its mismatches."""
    from hgq_ir.backends.qonnx_export import execute_qonnx
    from hgq_ir.backends.registry import get_target
    from hgq_ir.passes.manager import PassManager

    x = _by_name([v.name for v in core.inputs], xs)
    nudged = [np.asarray(a, np.float64) * (1 + 2.0**-30) for a in x]
    first = [a[:QONNX_ROWS] for a in x]

    def qonnx_outputs() -> list[np.ndarray]:
        target = get_target("qonnx")
        model = target.emit(PassManager(target.legalization()).run(core.copy()).graph, f"{core.name}_qonnx")
        return _as_list(execute_qonnx(model, first))

    runs = {"onnx_f32": (lambda: _as_list(hgq_ir.emulate(core, x if len(x) > 1 else x[0])), x),
            "onnx_f64": (lambda: _as_list(hgq_ir.emulate(core, nudged if len(nudged) > 1 else nudged[0])), nudged),
            "qonnx": (qonnx_outputs, first)}
    for key, (run, data) in runs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = run()
        out.target_flags[key] = [f"warning: {w.message}" for w in caught
                                 if issubclass(w.category, hgq_ir.NotBitExactWarning)]
        out.checks[key] = compare(got, _as_list(hgq_ir.interpret(core, data)))


def _hls_check(out: Outcome, proxy: Any, xs: dict[str, np.ndarray], hls_dir: str | os.PathLike) -> None:
    from hls4ml_harness import HlsModel

    xp = _by_name([t.name for t in proxy.inputs], xs)
    hls = HlsModel(proxy, hls_dir)
    out.seconds["hls_compile"] = hls.convert_seconds + hls.compile_seconds
    got = isolated_predict(hls, xp if len(xp) > 1 else xp[0], Path(hls_dir))
    out.checks["hls"] = compare(_as_list(got), _call(proxy, xp))


def isolated_predict(hls: Any, x: Any, workdir: Path) -> Any:
    """``hls.predict(x)`` in a forked child: an assertion inside the C simulation (``abort()``)
    must not kill the fuzzer. Raises ``RuntimeError`` with the child's stderr when it dies."""
    res, err = workdir / "csim_out.npz", workdir / "csim_stderr.txt"
    pid = os.fork()
    if pid == 0:  # child: numpy and ctypes only
        code = 3
        try:
            import faulthandler

            faulthandler.disable()  # pytest's handler would dump every thread to the terminal on abort()
            fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            y = hls.predict(x)
            ys = list(y) if isinstance(y, list) else [y]
            np.savez(res, *ys)
            code = 0
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        with np.load(res) as z:
            ys = [z[f"arr_{j}"] for j in range(len(z.files))]
        return ys if len(ys) > 1 else ys[0]
    why = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
    tail = err.read_text(errors="replace").strip().splitlines()[-3:] if err.exists() else []
    raise RuntimeError(f"hls4ml C simulation died ({why}): {' / '.join(tail)}")


def check_spec(spec: dict, hls_dir: str | os.PathLike | None = None) -> Outcome:
    """:func:`run_spec`, raising ``AssertionError`` with the summary on an unexcused failure."""
    out = run_spec(spec, hls_dir)
    assert not out.failures, out.summary()
    return out


REPRODUCER = '''"""Fuzz reproducer {hash}: {what}.

{summary}

Run ``.venv/bin/python tests/fuzz/reproducers/{hash}.py`` (exit status 1 while it fails). Once
fixed, rename it ``test_{hash}.py``: it becomes a regression test.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: fuzz.strategies, hls4ml_harness

from fuzz.strategies import check_spec, run_spec  # noqa: E402

HLS = {hls}
SPEC = {spec}


def test_reproducer(tmp_path):
    check_spec(SPEC, hls_dir=tmp_path if HLS else None)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        outcome = run_spec(SPEC, hls_dir=d if HLS else None)
    print(outcome.summary())
    sys.exit(1 if outcome.failures else 0)
'''


def write_reproducer(spec: dict, outcome: Outcome, folder: str | os.PathLike, hls: bool) -> Path:
    """Save ``spec`` as ``<folder>/<hash>.py``, a standalone script and (once renamed) a pytest test."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    h = spec_hash(spec)
    summary = "\n".join(textwrap.fill(line.replace('"""', "'''").rstrip(), 110, subsequent_indent="    ")
                        for line in outcome.summary().splitlines())
    text = REPRODUCER.format(hash=h, what=", ".join(outcome.failures) or "passes", summary=summary, hls=hls,
                             spec=pprint.pformat(spec, width=110, sort_dicts=False))
    path = folder / f"{h}.py"
    path.write_text(text)
    return path
