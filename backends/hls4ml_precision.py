"""The types hls4ml 1.3 gives each layer of a proxy, computed from the legalized IR.

hls4ml's bit-exact flow (``model/optimizer/passes/bit_exact.py``) types every layer itself from
the proxy's quantizers, whatever the configuration says. A configuration that states other
precisions would describe firmware that does not exist, so this module states the ones hls4ml
derives, from the IR's exact formats (read there as what a layer *produces*) and from what the
quantizers after it keep (what is *requested* of it):

1. ``result``: per element, ``min(produced, requested)`` in ``i`` and ``f``, and ``k`` requested
   when a wrapping quantizer reads the value (else ``min``); then the maximum over elements.
   Requests: a wrapping quantizer asks for its own ``k, i`` (a saturating one for everything),
   and its ``f`` plus one when it rounds (RND); reshapes, concatenations and linear activations
   pass the request of their output on, a relu passes on ``f`` only; anything else asks for all.
2. ``accum`` of kernel and pooling layers: the produced format; average pooling adds
   ``ceil(log2(pool size))`` integer bits. ``weight`` / ``bias``: the smallest type holding the
   constants exactly.
3. A homogeneous quantizer whose producer feeds nothing else is fused into it: the producer's
   ``result`` becomes the quantizer's type, with its rounding and overflow.
4. A model input typed wider than 100 bits (a saturating quantizer reads it) gets the
   quantizers' ``k, i``, its own ``f``, and SAT when they all saturate.

The test ``tests/backends/test_hls4ml_target.py`` checks these against the types hls4ml builds.
"""

from __future__ import annotations

import math

import numpy as np

from hgq_ir.ir.fixed import FixedFormat, ceil_log2, exact_fraction_bits
from hgq_ir.ir.graph import Node, Value

KIF = tuple[np.ndarray, np.ndarray, np.ndarray]
#: hls4ml's stand-in for "as many bits as it takes"
UNBOUNDED = 126
#: wider than this, hls4ml retypes a model input (``FixInputPrecision``)
MAX_INPUT_WIDTH = 100


def type_string(k: int, i: int, f: int, round: str = "TRN", overflow: str = "WRAP") -> str:
    """hls4ml precision string of a scalar ``(k, i, f)``, as hls4ml builds it (no width: its placeholder)."""
    width, integer = k + i + f, k + i
    if width < 1:
        return "ufixed<2,32>"
    base = f"{'' if k else 'u'}fixed<{width},{integer}"
    return base + (">" if (round, overflow) == ("TRN", "WRAP") else f",{round},{overflow}>")


def _ints(kif: KIF) -> tuple[int, int, int]:
    return tuple(int(np.max(a)) if a.size else 0 for a in kif)  # type: ignore[return-value]


def _kif(fmt: FixedFormat, shape: tuple[int, ...]) -> KIF:
    b = fmt.broadcast_to(shape)
    return (np.array(b.k, dtype=np.int64), np.array(b.i, dtype=np.int64), np.array(b.f, dtype=np.int64))


def _unbounded(shape: tuple[int, ...]) -> KIF:
    return np.ones(shape, np.int64), np.full(shape, UNBOUNDED, np.int64), np.full(shape, UNBOUNDED, np.int64)


def constant_type(values: np.ndarray) -> str:
    """The smallest hls4ml type holding every constant exactly, as hls4ml sizes weights.

    Per element ``f`` = its exact fractional bits, ``i = ceil(log2(max(v + 2**-f, -v)))``, ``k``
    = negative; zeros count as 0 bits; then the maximum of each over the elements.
    """
    v = np.asarray(values, dtype=np.float64)
    f = exact_fraction_bits(v)
    zero = v == 0
    i = ceil_log2(np.where(zero, 1.0, np.maximum(v + np.ldexp(1.0, -f), -v)))
    k = (v < 0).astype(np.int64)
    return type_string(*_ints((k, np.where(zero, 0, i), np.where(zero, 0, f))))


class Requests:
    """What the layers after each value keep of it (hls4ml's ``requested_kif``), memoised."""

    def __init__(self) -> None:
        self._memo: dict[str, KIF] = {}

    def of(self, value: Value) -> KIF:
        """Per element ``(k, i, f)`` the users of ``value`` ask for."""
        if value.name not in self._memo:
            self._memo[value.name] = self._compute(value)
        return self._memo[value.name]

    def _compute(self, value: Value) -> KIF:
        if not value.users:
            return _unbounded(value.shape)
        k = np.zeros(value.shape, np.int64)
        i = np.full(value.shape, -127, np.int64)
        f = i.copy()
        for user in value.users:
            for idx, v in enumerate(user.inputs):
                if v is value:
                    rk, ri, rf = self._asked_by(user, idx)
                    k, i, f = np.maximum(k, rk), np.maximum(i, ri), np.maximum(f, rf)
        return k, i, f

    def _asked_by(self, user: Node, idx: int) -> KIF:
        shape = user.inputs[idx].shape
        q = user.op.quantizer_format
        if q is not None:
            k, i, f = _kif(q, shape)
            if q.overflow != "WRAP":
                k, i = np.ones_like(k), np.full_like(i, UNBOUNDED)
            if q.round == "RND":
                f = f + 1
            elif q.round != "TRN":
                f = np.full_like(f, UNBOUNDED)
            return k, i, f
        kind = user.op.kind
        if kind in ("Reshape", "Flatten"):
            return tuple(a.reshape(shape) for a in self.of(user.output))  # type: ignore[return-value]
        if user.op.activation == "linear":
            return self.of(user.output)
        if user.op.activation == "relu":
            f = self.of(user.output)[2]
            return np.ones_like(f), np.full_like(f, UNBOUNDED), f
        if kind == "Concatenate":
            axis = user.op.axis
            start = sum(v.shape[axis] for v in user.inputs[:idx])
            sl = tuple(slice(start, start + shape[axis]) if d == axis else slice(None) for d in range(len(shape)))
            return tuple(a[sl] for a in self.of(user.output))  # type: ignore[return-value]
        return _unbounded(shape)

    def wrapping_reader(self, value: Value) -> bool:
        """True when a wrapping quantizer reads ``value`` (through reshapes): hls4ml then keeps its ``k``."""
        for user in value.users:
            q = user.op.quantizer_format
            if q is not None and q.overflow not in ("SAT", "SAT_SYM"):
                return True
            if user.op.kind in ("Reshape", "Flatten"):
                return self.wrapping_reader(user.output)
        return False


def result_type(produced: KIF, requested: KIF, keep_requested_sign: bool) -> tuple[int, int, int]:
    """Rule 1: the scalar ``(k, i, f)`` of a layer's result."""
    (pk, pi, pf), (rk, ri, rf) = produced, requested
    k = rk if keep_requested_sign else np.minimum(pk, rk)
    return _ints((k, np.minimum(pi, ri), np.minimum(pf, rf)))


def _input_type(node: Node, req: Requests) -> str:
    k, i, f = result_type(_unbounded(node.output.shape), req.of(node.output), req.wrapping_reader(node.output))
    if k + i + f <= MAX_INPUT_WIDTH:
        return type_string(k, i, f)
    quantizers = _quantizers_after(node.output)
    if not quantizers:
        return type_string(0, 0, 1)
    fmts = [q.output.format.homogeneous_cover() for q in quantizers if q.output.format is not None]
    k = max((int(a.k.flat[0]) for a in fmts), default=1)
    i = max((int(a.i.flat[0]) for a in fmts), default=0)
    if any(q.op.quantizer_format.round not in ("TRN", "RND") for q in quantizers):
        f = 24
    sat = all("SAT" in q.op.quantizer_format.overflow for q in quantizers)
    return type_string(k, i, f, "TRN", "SAT" if sat else "WRAP")


def _quantizers_after(value: Value) -> list[Node]:
    out: list[Node] = []
    for user in value.users:
        if user.op.quantizer_format is not None:
            out.append(user)
        elif user.op.kind in ("Reshape", "Flatten", "Concatenate"):
            out += _quantizers_after(user.output)
    return out


def _fused_quantizer_type(node: Node, req: Requests) -> str | None:
    """Rule 3: the type a homogeneous quantizer after ``node`` gives it when hls4ml fuses the two."""
    users = node.output.users
    if len(users) != 1:
        return None
    q_node = users[0]
    q = q_node.op.quantizer_format
    if q is None or not q.is_homogeneous or q_node.output.format is None:
        return None
    if (q.round, q.overflow) == ("TRN", "WRAP"):
        return node_result(q_node, req)
    k, i, f = (int(a.flat[0]) for a in (q.k, q.i, q.f))
    width = max(k + i + f, 1)  # hls4ml builds the type from the mask's bits, at least one
    return type_string(k, i, width - k - i, q.round, q.overflow)


def node_result(node: Node, req: Requests) -> str:
    """Rule 1 for one node's output (``'auto'`` for a float value)."""
    fmt = node.output.format
    if fmt is None:
        return "auto"
    produced = _kif(fmt, node.output.shape)
    return type_string(*result_type(produced, req.of(node.output), req.wrapping_reader(node.output)))


def node_precision(node: Node, req: Requests) -> dict[str, str]:
    """The ``Precision`` entry of the layer a node becomes: ``result`` and, where hls4ml has them,
    ``accum``, ``weight``, ``bias``."""
    fused = _fused_quantizer_type(node, req)
    if node.op.is_source:
        return {"result": fused or _input_type(node, req)}
    prec = {"result": fused or node_result(node, req)}
    fmt = node.output.format
    window = getattr(node.op, "window", None)
    if fmt is not None and (node.op.has_kernel or window is not None):
        k, i, f = _ints(_kif(fmt, node.output.shape))
        if node.op.kind.startswith("AvgPool"):
            i += math.ceil(math.log2(math.prod(window)))
        prec["accum"] = type_string(k, i, f)
    for name in ("kernel", "bias"):
        if name in node.weights:
            prec["weight" if name == "kernel" else name] = constant_type(node.weights[name].array)
    return prec


def chain_precision(node: Node, j: int, req: Requests) -> dict[str, str]:
    """``result`` of the ``j``-th pairwise layer (``j`` inputs combined) of an Add/Concatenate chain."""
    fmts = [v.format for v in node.inputs[: j + 1]]
    if any(f is None for f in fmts):
        return {"result": "auto"}
    shapes = [v.shape for v in node.inputs[: j + 1]]
    out = node.op.output_formats(fmts, shapes, node.weights)[0]
    shape = node.op.output_shapes(shapes, node.weights)[0]
    produced = _kif(out, shape)
    if node.op.kind == "Concatenate":
        axis = node.op.axis
        sl = tuple(slice(0, shape[axis]) if d == axis else slice(None) for d in range(len(shape)))
        requested = tuple(a[sl] for a in req.of(node.output))
    else:
        requested = _unbounded(shape)
    return {"result": type_string(*result_type(produced, requested, False))}  # type: ignore[arg-type]
