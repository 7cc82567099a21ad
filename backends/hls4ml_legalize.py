"""Legalization for the Keras proxy / hls4ml 1.3 target: rewrite the IR until hls4ml computes it.

hls4ml 1.3's bit-exact flow (``model/optimizer/passes/bit_exact.py``) derives every type from the
proxy's quantizers its own way. On some patterns that differs from the IR's meaning, and these
passes rewrite the graph so that the proxy, the firmware and ``interpret(legalized graph)`` all
agree. They are not part of the IR's meaning: ``convert(model, to="ir")`` does not run them,
``convert(model, to="ir", target="proxy")`` does.

- :class:`CapSatFraction`: hls4ml cuts a SAT quantizer's fractional bits to its input's, which
  moves the saturation bound (DESIGN.md: integers into ``ufixed<3,1,TRN,SAT>``, input 3.0:
  Keras 1.75, hls4ml 1.0).
- :class:`ZeroRoundedAway`: an element that always rounds to 0 becomes 0 bits wide, where hls4ml
  would cast into it with a rounding that reads beyond its source's MSB (C simulation aborts).
- :class:`FitLUTInputs`: hls4ml indexes a lookup table with every raw bit of the input type it
  derives itself (:func:`hls4ml_quantizer_format`), not with the table's declared input format.

Where no rewrite can make hls4ml compute the IR's result, :class:`FlagHls4mlHazards` warns
(:class:`NotBitExactWarning`, naming the layer and the way out) before anything is emitted:

- a max pooling with padded windows on an unsigned input: hls4ml pads with the value whose top
  bit is set (``nnet::pad_val``: the most negative value of a signed type, but a large positive
  one of an unsigned type), so every padded window returns that value.
- a model output that is an input, or another output, through quantizers and reshapes only:
  hls4ml folds them and generates C++ that does not compile, or asserts.

and :class:`RefuseHls4mlCrashes` refuses (:class:`UnsupportedLayerError`) what hls4ml 1.3 cannot
convert at all:

- an activation other than linear, relu, tanh, sigmoid and softmax that did not become a lookup
  table: hls4ml's bit-exact flow fails on it (``_produce_kif`` of Activation calls
  ``np.ones(k)`` with an array).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from hgq_ir.passes.base import Pass
from hgq_ir.passes.select_lut import representable_inputs

from hgq_ir.ir.errors import NotBitExactWarning, UnsupportedLayerError
from hgq_ir.ir.fixed import FixedFormat, may_overflow, quantize, rounded_range
from hgq_ir.ir.formats import Formats, propagate
from hgq_ir.ir.graph import Graph, Node, Value
from hgq_ir.ir.ops import LUT
from hgq_ir.ir.windows import window_geometry


def quantizer_formats(node: Node) -> tuple[FixedFormat, FixedFormat] | None:
    """``(input format, quantizer format)`` of a quantizer node, both broadcast to its output's
    shape; None for another op or a float input."""
    q = node.op.quantizer_format
    x = node.inputs[0].format if node.inputs else None
    if q is None or x is None:
        return None
    shape = node.output.shape
    return x.broadcast_to(shape), q.broadcast_to(shape)


@dataclass(frozen=True)
class ZeroRoundedAway(Pass):
    """Give 0 bits to quantizer elements whose rounding always gives 0. Rule:

    1. ``%y = Quantize(%x)`` rounding other than ``TRN``, and elements where every value of
       ``%x`` rounds to 0 (its grid is coarser than twice the input's range): those elements get
       the format (0, 0, 0). The value is the same constant 0. hls4ml 1.3 would otherwise cast a
       narrow source into that coarse grid, and ap_types' rounding reads a bit beyond the source's
       MSB: the C simulation aborts ("Attempting to read bit beyond MSB").

    A quantizer that ends up 0 bits wide everywhere is flagged by :class:`FlagHls4mlHazards`
    (hls4ml types it with a placeholder ``ufixed<2,32>``, whatever the rounding).
    """

    name = "zero_rounded_away"

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            formats = quantizer_formats(node)
            if formats is None or formats[1].round == "TRN":
                continue
            xb, qb = formats
            lo, hi = rounded_range(xb, qb)  # both ends round to 0: every value does
            zero = (lo == 0) & (hi == 0) & (qb.b > 0)
            if not np.any(zero):
                continue
            k, i, f = (np.where(zero, 0, a) for a in (qb.k, qb.i, qb.f))
            graph.set_op(node, node.op.with_format(FixedFormat(k, i, f, qb.round, qb.overflow)))
            changed = True
        if changed:
            graph.refresh_formats()
        return changed


@dataclass(frozen=True)
class CapSatFraction(Pass):
    """Make saturating quantizers agree with hls4ml. Rules:

    1. ``%y = Quantize(%x)`` with overflow SAT (hls4ml leaves SAT_SYM alone) and, on some element,
       more fractional bits than ``%x`` carries: those elements get the ``f`` of ``%x`` and keep
       their ``i``. Values on ``%x``'s grid are unchanged; only the saturation bound moves from
       ``2**i - 2**-f_q`` to the largest value on ``%x``'s grid, ``2**i - 2**-f_x``, which is what
       hls4ml 1.3's bit-exact flow computes (it cuts a SAT quantizer's fraction to its input's).
    2. A homogeneous quantizer stays homogeneous: hls4ml merges it into its producer's type, so
       its bound comes from the largest ``f`` over the input's elements.

    Capping one quantizer narrows the values downstream, which may expose the next one: the
    rewrite happens during the one format propagation (``formats.propagate``'s ``visit``), so
    each quantizer sees the exact formats of the already-capped graph above it.
    """

    name = "cap_sat_fraction"

    def run(self, graph: Graph) -> bool:
        capped: list[str] = []

        def visit(node: Node, in_formats: Formats) -> None:
            q = node.op.quantizer_format
            if q is None or q.overflow != "SAT" or not in_formats or in_formats[0] is None:
                return
            new = capped_format(in_formats[0], q)
            if new is not None:
                graph.set_op(node, node.op.with_format(new))
                capped.append(node.name)

        propagate(graph, visit=visit)
        if capped:
            graph.refresh_formats()
        return bool(capped)


def capped_format(x: FixedFormat, q: FixedFormat) -> FixedFormat | None:
    """``q`` with the fraction capped as hls4ml does for input ``x``, or None when nothing changes."""
    shape = np.broadcast_shapes(x.shape, q.shape)
    xb, qb = x.broadcast_to(shape), q.broadcast_to(shape)
    live = (xb.b > 0) & (qb.b > 0)
    if not np.any(live):
        return None
    if q.is_homogeneous:
        # hls4ml folds a homogeneous quantizer into its producer's type: one bound for all
        k, i, f = (int(a.flat[0]) for a in (q.k, q.i, q.f))
        limit = int(xb.f[live].max())
        if f <= limit:
            return None
        return FixedFormat(k, max(i, -limit - k), limit, q.round, q.overflow)
    cut = live & (qb.f > xb.f)
    if not np.any(cut):
        return None
    f = np.where(cut, xb.f, qb.f)
    return FixedFormat(qb.k, np.where(cut, np.maximum(qb.i, -f - qb.k), qb.i), f, q.round, q.overflow)


def hls4ml_quantizer_format(x: FixedFormat, q: FixedFormat) -> FixedFormat:
    """The per-element format hls4ml 1.3 derives for the output of quantizer ``q`` fed by exact ``x``.

    Mirrors ``_produce_kif`` of FixedPointQuantizer in hls4ml's ``bit_exact.py``: the elementwise
    min of both formats (one more integer bit where rounding may carry), always for SAT, and for
    WRAP and SAT_SYM only where ``q``'s range covers ``x``'s.
    """
    shape = np.broadcast_shapes(x.shape, q.shape)
    xb, qb = x.broadcast_to(shape), q.broadcast_to(shape)
    k, i, f = np.minimum(qb.k, xb.k), np.minimum(qb.i, xb.i), np.minimum(qb.f, xb.f)
    carry = (xb.f > qb.f) & (qb.i > xb.i)
    i = i + (carry if q.round != "TRN" else carry & (qb.k == 1))
    if q.overflow != "SAT":  # hls4ml reduces only 'SAT' (and 'SAT_SM') unconditionally; SAT_SYM like WRAP
        keep = (np.ldexp(1.0, qb.i) - np.ldexp(1.0, -qb.f) >= np.ldexp(1.0, xb.i) - np.ldexp(1.0, -xb.f)) \
            & (qb.k >= xb.k)
        k, i, f = (np.where(keep, a, b) for a, b in ((k, qb.k), (i, qb.i), (f, qb.f)))
    zero = (k + i + f <= 0) | (xb.b == 0) | (qb.b == 0)
    k, i, f = (np.where(zero, 0, a) for a in (k, i, f))
    return FixedFormat(k, i, f, q.round, q.overflow)


def hls4ml_type(fmt: FixedFormat) -> FixedFormat:
    """The one type hls4ml 1.3 gives a layer's output of per-element format ``fmt``.

    ``kif_arrs_to_ints`` in ``bit_exact.py``: the max of ``k``, ``i`` and ``f`` over *every*
    element, the 0-bit ones included as (0, 0, 0); unlike :meth:`FixedFormat.homogeneous_cover`,
    which skips them. A 0-bit element thus lifts a negative ``i`` or ``f`` to 0.
    """
    return FixedFormat(int(np.max(fmt.k)), int(np.max(fmt.i)), int(np.max(fmt.f)), fmt.round, fmt.overflow)


def quantizer_reach(xb: FixedFormat, qb: FixedFormat) -> tuple[np.ndarray, np.ndarray]:
    """Least and greatest value quantizer ``qb`` can output on inputs of ``xb`` (both broadcast, per element):
    the input's range rounded, clipped to ``qb``'s, or all of ``qb``'s range where it may wrap."""
    lo, hi = rounded_range(xb, qb)
    if qb.overflow == "WRAP":  # where it may wrap, any value of q's range can come out
        wraps = may_overflow(xb, qb)
        return np.where(wraps, qb.min_value, lo), np.where(wraps, qb.max_value, hi)
    return np.clip(lo, qb.min_value, qb.max_value), np.clip(hi, qb.min_value, qb.max_value)


def lut_index_holds_inputs(node: Node, want: FixedFormat) -> tuple[bool, tuple[int, ...], float]:
    """Whether type ``want`` holds every value LUT ``node``'s input quantizer can output, and where not,
    an element and a value it cannot hold (the value ``nan`` when only the grid is too coarse)."""
    xb, qb = quantizer_formats(node.inputs[0].producer)
    lo, hi = quantizer_reach(xb, qb)
    live = (qb.b > 0) & (xb.b > 0)  # else the value is 0
    grid = np.minimum(qb.f, xb.f)  # the values lie on q's grid, or on x's where that is coarser
    low, high = live & (lo < want.min_value), live & (hi > want.max_value)
    bad = low | high | (live & ((lo != 0) | (hi != 0)) & (grid > want.f))
    if not np.any(bad):
        return True, (), 0.0
    at = tuple(int(a[0]) for a in np.nonzero(bad))
    return False, at, float(lo[at] if low[at] else hi[at] if high[at] else np.nan)


def hls4ml_lut_index_type(node: Node) -> FixedFormat | None:
    """The type whose raw bits hls4ml 1.3 indexes LUT ``node``'s table with, or None (not a LUT fed by a
    quantizer of a fixed-point value): :func:`hls4ml_type` of :func:`hls4ml_quantizer_format`."""
    if not isinstance(node.op, LUT):
        return None
    q = node.inputs[0].producer
    q_fmt = None if q is None else q.op.quantizer_format
    if q_fmt is None or q.inputs[0].format is None:
        return None
    return hls4ml_type(hls4ml_quantizer_format(q.inputs[0].format, q_fmt))


@dataclass(frozen=True)
class FitLUTInputs(Pass):
    """Index every LUT with the input type hls4ml will give it. Rule:

    1. ``%y = LUT(%x)`` with ``%x = Quantize(%w)``: hls4ml indexes the table with all raw bits of
       :func:`hls4ml_lut_index_type`, whatever the LUT's declared ``in_format``. Where that type
       holds every value ``%x`` can take, the LUT's ``in_format`` becomes that type and the table
       is rebuilt on it (the same values on every input). Where it does not, the LUT stays (the
       IR's meaning): hls4ml cannot compute it, and :func:`lut_index_cut_by_hls4ml` says so.
    """

    name = "fit_lut_inputs"

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in graph.nodes:
            want = hls4ml_lut_index_type(node)
            if want is None:
                continue
            op: LUT = node.op
            if want == op.in_format.with_modes(want.round, want.overflow) or int(want.b.flat[0]) == 0:
                continue
            if not lut_index_holds_inputs(node, want)[0]:
                continue
            inputs = representable_inputs(want)
            table = op.evaluate([inputs[None]], {})[0][0]
            graph.set_op(node, LUT(function=op.function, in_format=want, out_format=op.out_format, table=table))
            changed = True
        if changed:
            graph.refresh_formats()
        return changed


def lut_index_cut_by_hls4ml(node: Node) -> str | None:
    """Why hls4ml 1.3 looks up a wrong entry of this LUT's table, or None.

    hls4ml indexes the table with the raw bits of the type it derives for the LUT's input
    (:func:`hls4ml_lut_index_type`); where that type cannot hold a value the input can take (a
    truncation onto a grid coarser than its own input's range: ``floor(-0.06 / 256) * 256 = -256``
    typed with 4 integer bits), the index wraps onto another entry.
    """
    want = hls4ml_lut_index_type(node)
    if want is None or int(want.b.flat[0]) == 0:
        return None
    holds, at, v = lut_index_holds_inputs(node, want)
    if holds:
        return None
    x = node.inputs[0].format
    detail = f" (element {at} can be {v:g})" if not np.isnan(v) else f" (element {at} is finer than its grid)"
    return (f"hls4ml 1.3 indexes its table with {want.ap_type(with_modes=False)}, which cannot hold every value of its "
            f"input {x.summary()}{detail}, and looks up another entry; give the quantizer before it fewer integer "
            "bits or more fractional bits, or use RND rounding there")


def padded_unsigned_max_pool(node: Node) -> str | None:
    """Why hls4ml 1.3 computes this max pooling differently, or None.

    hls4ml gives the pool's input one type (the widest over its elements) and fills padded cells
    with that type's value whose top bit is set: the most negative value when signed, a large
    positive value when unsigned, which then wins every padded window.
    """
    op = node.op
    if node.op.kind not in ("MaxPool1D", "MaxPool2D") or op.padding != "same":
        return None
    x = node.inputs[0]
    spatial = x.shape[:-1]
    padded = any(sum(window_geometry(n, k, s, "same")[1:]) > 0
                 for n, k, s in zip(spatial, op.window, op.strides, strict=True))
    if not padded or x.format is None or int(np.max(x.format.k)) == 1:
        return None
    return ("hls4ml 1.3 pads an unsigned max pooling with a large positive value, which wins every padded "
            "window; use padding='valid', or pool before the relu (max and relu commute)")


def zero_width_quantizer(node: Node) -> str | None:
    """Why hls4ml 1.3 mis-computes a quantizer whose every element is 0 bits wide, or None.

    The IR's value is the constant 0. hls4ml gives such a layer no bits, hence its placeholder
    type ``ufixed<2,32>`` (TRN, WRAP): a negative input truncates to ``3 * 2**30``; with RND,
    ap_types reads a rounding bit beyond the source's MSB and the C simulation aborts
    (``ap_private::get_bit``: "Attempting to read bit beyond MSB"). Measured on the fuzzer's models.
    """
    q = node.op.quantizer_format
    if q is None or np.any(q.b > 0):
        return None
    return ("every element is 0 bits wide (the value is the constant 0), which hls4ml 1.3 computes in a "
            "placeholder type (negative inputs become 3*2**30; with RND the C simulation aborts); remove the layer "
            "or give it at least one bit")


def contracted(fmt: FixedFormat, q: FixedFormat) -> FixedFormat:
    """``fmt`` as hls4ml 1.3 stores a quantizer's output: on every axis where ``q`` has one format
    (size 1), one type, taking the max of ``k``, width and ``k + i`` (``_produce_kif``)."""
    k, b, kk_i = fmt.k, fmt.b, fmt.k + fmt.i
    q_shape = (1,) * (k.ndim - np.ndim(q.k)) + np.shape(q.k)
    for ax, n in enumerate(q_shape):
        if n == 1:
            k, b, kk_i = (np.broadcast_to(a.max(axis=ax, keepdims=True), a.shape) for a in (k, b, kk_i))
    return FixedFormat(k, kk_i - k, b - kk_i, fmt.round, fmt.overflow)


def quantizer_output_cut_by_hls4ml(node: Node) -> str | None:
    """Why hls4ml 1.3 types this quantizer's output too narrow for its values, or None.

    hls4ml allows a quantizer's output one integer bit more than its input's
    (:func:`hls4ml_quantizer_format`): rounding may carry once. Truncation onto a grid coarser
    than twice the input's range carries further: ``floor(-0.06 / 256) * 256 = -256`` from an
    input within ``[-8, 8)``; hls4ml gives that element 4 integer bits, or none at all, and the
    value becomes 0. And a quantizer with one format for many input elements gets one type from
    the max width and the max integer bits, taken separately: integer-valued elements next to
    elements on a grid of 256 leave it with too few fractional bits.
    """
    formats = quantizer_formats(node)
    if formats is None:
        return None
    xb, qb = formats
    lo, hi = quantizer_reach(xb, qb)
    got = contracted(hls4ml_quantizer_format(xb, qb), node.op.quantizer_format)
    live = (qb.b > 0) & (xb.b > 0)
    out_of_range = live & ((lo < got.min_value) | (hi > got.max_value))
    # the values lie on q's grid, or on x's where that is coarser; a coarser type rounds them away
    off_grid = live & ((lo != 0) | (hi != 0)) & (got.f < np.minimum(qb.f, xb.f))
    if not np.any(out_of_range | off_grid):
        return None
    kif = "fx<k{} i{} f{}>"
    if np.any(out_of_range):
        at = tuple(int(a[0]) for a in np.nonzero(out_of_range))
        want = lo[at] if lo[at] < got.min_value[at] else hi[at]
        coarse = int(qb.f[at]) < -int(xb.i[at]) - int(xb.k[at])
        why = (f"a truncation onto a grid of 2**{-int(qb.f[at])}, coarser than its input's range, carries further "
               "than the one integer bit hls4ml allows; use RND rounding or more fractional bits there") if coarse \
            else "hls4ml derives that type from its input's format; use WRAP, or fewer fractional bits than the input"
        what = f"can be {want:g}"
    else:
        at = tuple(int(a[0]) for a in np.nonzero(off_grid))
        what = f"has values on a grid of 2**{-int(min(qb.f[at], xb.f[at]))}"
        why = ("hls4ml takes the widest width and the most integer bits of the elements separately, which leaves "
               "too few fractional bits where the elements' grids differ; give the quantizer per-element bits, or "
               "its input one grid")
    got_at = kif.format(int(got.k[at]), int(got.i[at]), int(got.f[at]))
    return f"element {at} {what}, but hls4ml 1.3 types it {got_at} and loses the value: {why}"


def output_type_without_bits(node: Node) -> str | None:
    """Why hls4ml 1.3 gives this layer's output a type of no bits, or None.

    hls4ml types a layer feeding only quantizers by what they request (``default_register_precision``:
    the elementwise min of the bits the layer produces and the quantizers use, then the max over
    elements). A truncation onto a grid coarser than the layer's whole range requests fewer
    fractional bits than the layer has integer bits, and the width comes out below 1: hls4ml then
    uses a placeholder ``ufixed<2,32>`` and the quantizers after it see 0, where the IR's sign
    still decides between ``-2**-f`` and 0.
    """
    x = node.output.format
    users = node.output.users
    if x is None or node.op.is_source or node.op.quantizer_format is not None or not users or \
            any(u.op.quantizer_format is None for u in users):
        return None
    req_k, req_i, req_f, nonzero, wraps = [], [], [], False, False
    xb = x.broadcast_to(node.output.shape)
    for user in users:
        q = user.op.quantizer_format
        qb = q.broadcast_to(node.output.shape)
        h = hls4ml_quantizer_format(xb, qb)
        saturating = q.overflow != "WRAP"
        wraps |= q.overflow not in ("SAT", "SAT_SYM")
        req_k.append(np.ones_like(h.k) if saturating else h.k)
        req_i.append(np.full(h.i.shape, 126) if saturating else h.i)
        req_f.append(h.f if q.round == "TRN" else h.f + 1 if q.round == "RND" else np.full(h.f.shape, 126))
        lo, hi = rounded_range(xb, qb)
        nonzero |= bool(np.any(((lo != 0) | (hi != 0)) & (xb.b > 0) & (qb.b > 0)))
    rk, ri, rf = (np.maximum.reduce(a) for a in (req_k, req_i, req_f))
    ok = rk if wraps else np.minimum(xb.k, rk)
    width = int(np.max(ok)) + int(np.max(np.minimum(xb.i, ri))) + int(np.max(np.minimum(xb.f, rf)))
    if width >= 1 or not nonzero:
        return None
    return (f"hls4ml 1.3 types its output with {width} bits (the quantizers after it ask for no more fractional bits "
            "than its integer bits), so they compute from 0 instead of its values; use RND in those quantizers, "
            "or give them more fractional bits")


def signature_merged_into_quantizer(node: Node) -> str | None:
    """Why hls4ml 1.3 does not clamp this Signature's out-of-format inputs, or None.

    hls4ml folds the quantizers right after an input into the input's own type
    (``FixInputPrecision``): a Signature (TRN, SAT) followed by another quantizer becomes that
    quantizer's type, so a value outside the Signature's format is never clamped to it first.
    Inside the format all agree.
    """
    if node.op.kind != "Signature" or not any(u.op.quantizer_format is not None for u in node.output.users):
        return None
    names = ", ".join(repr(u.name) for u in node.output.users if u.op.quantizer_format is not None)
    return (f"hls4ml 1.3 folds it and the quantizer {names} after it into one input type, which does not clamp "
            f"values outside the Signature's format {node.op.format.summary()}: feed the firmware only values in "
            "that format (the IR and the proxy clamp them)")


def fused_quantizer_pair(node: Node) -> str | None:
    """Why hls4ml 1.3 skips the quantizer before this one, or None.

    hls4ml fuses a homogeneous quantizer into the type of the layer before it
    (``FuseFixedPointQuantizer``); two homogeneous quantizers in a row are both fused into the
    same layer, the second overwriting the first ("result_t propagated multiple times"), so the
    layer computes ``Q2(x)``, not ``Q2(Q1(x))``. Flagged unless the two agree on every value of the
    input's format (checked on all of them, up to 2**16).
    """
    q2 = node.op.quantizer_format
    first = node.inputs[0].producer if node.inputs else None
    if q2 is None or first is None or not q2.is_homogeneous or len(node.inputs[0].users) != 1:
        return None
    q1 = first.op.quantizer_format
    source = first.inputs[0].producer if first.inputs else None
    if q1 is None or not q1.is_homogeneous or source is None or source.op.is_source or \
            source.op.quantizer_format is not None or len(first.inputs[0].users) != 1:
        return None
    x = first.inputs[0].format
    if x is not None:
        cover = x.homogeneous_cover()
        if int(cover.b.flat[0]) <= 16:
            v = representable_inputs(cover)
            one1, one2 = q1.homogeneous_cover(), q2.homogeneous_cover()  # scalar forms of both
            if np.array_equal(quantize(quantize(v, one1), one2), quantize(v, one2)):
                return None
    return (f"hls4ml 1.3 fuses it and the quantizer {first.name!r} before it into the type of {source.name!r}, "
            f"keeping only this one's rounding and overflow ({q2.round}, {q2.overflow}), which gives another "
            f"result than {first.name!r}'s ({q1.round}, {q1.overflow}) followed by it; merge the two quantizers, "
            "or put a layer between them")


HAZARDS = (padded_unsigned_max_pool, zero_width_quantizer, quantizer_output_cut_by_hls4ml, output_type_without_bits,
           signature_merged_into_quantizer, fused_quantizer_pair, lut_index_cut_by_hls4ml)

#: activations hls4ml 1.3's bit-exact flow handles outside a lookup table
HLS4ML_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")


@dataclass(frozen=True)
class FlagHls4mlHazards(Pass):
    """Warn about patterns hls4ml 1.3 computes differently and no rewrite can fix. Rules:

    1. A node for which a check of :data:`HAZARDS` gives a reason: :class:`NotBitExactWarning`
       naming the layer (its origin) and the reason.
    2. A model output that is a model input passed through quantizers and reshapes only, or the
       same tensor as another output up to such layers: :class:`NotBitExactWarning`. hls4ml folds
       quantizers into types and drops reshapes, so the output becomes the input (the generated
       C++ declares one argument twice and does not compile) or another output (hls4ml's
       ``remove_node`` asserts).

    The graph is not changed.
    """

    name = "flag_hls4ml_hazards"

    def run(self, graph: Graph) -> bool:
        for node in graph.nodes:
            for check in HAZARDS:
                why = check(node)
                if why is not None:
                    warnings.warn(f"layer {node.origin!r} ({node.op.kind}) will not be bit-exact in hls4ml: {why}",
                                  NotBitExactWarning, stacklevel=2)
        for why in folded_outputs(graph):
            warnings.warn(why, NotBitExactWarning, stacklevel=2)
        return False


#: layers hls4ml 1.3 compiles to no code of their own (io_parallel): folded into a type, or dropped
FOLDED_KINDS = ("Reshape", "Flatten")


def folded_root(graph: Graph, value: Value) -> Value:
    """The value hls4ml 1.3 really outputs for ``value``: back through quantizers and reshapes."""
    while value.producer is not None and value not in graph.inputs and (
            value.producer.op.quantizer_format is not None or value.producer.op.kind in FOLDED_KINDS):
        value = value.producer.inputs[0]
    return value


def folded_outputs(graph: Graph) -> list[str]:
    """Why each model output that hls4ml 1.3 folds into an input or into another output fails there."""
    whys, seen = [], {}
    for out in graph.outputs:
        root = folded_root(graph, out)
        if root in graph.inputs:
            whys.append(f"model output {out.name!r} is input {root.name!r} through quantizers and reshapes only: "
                        "hls4ml 1.3 folds those into the input's type and generates C++ that does not compile; "
                        "compute that output in a layer, or take it from the input outside the firmware")
        elif root.name in seen and seen[root.name] != out.name:
            whys.append(f"model outputs {seen[root.name]!r} and {out.name!r} are the same tensor up to quantizers and "
                        "reshapes: hls4ml 1.3 folds them into one and fails (an assertion in remove_node); "
                        "output one of them")
        seen.setdefault(root.name, out.name)
    return whys


@dataclass(frozen=True)
class RefuseHls4mlCrashes(Pass):
    """Refuse what hls4ml 1.3 cannot convert at all. Rule:

    1. An Activation other than :data:`HLS4ML_ACTIVATIONS` (it did not become a lookup table):
       :class:`UnsupportedLayerError` naming the layer, the table it would need and the way out.
    """

    name = "refuse_hls4ml_crashes"

    def run(self, graph: Graph) -> bool:
        for node in graph.nodes:
            fn = node.op.activation if node.op.kind == "Activation" else None
            custom = node.op.kind == "Activation" and fn is None
            if custom or (fn is not None and fn not in HLS4ML_ACTIVATIONS):
                x = node.inputs[0].format
                need = "a fixed-point input" if x is None else \
                    f"{2 ** int(x.homogeneous_cover().b.flat[0])} entries"
                raise UnsupportedLayerError(
                    f"activation {node.origin!r} ({getattr(node.op, 'function', node.op.kind)}) converts to hls4ml 1.3 "
                    f"only as a lookup table (its bit-exact flow fails on it otherwise), which needs {need}: raise "
                    "unary_lut_max_table_size (--lut-size) or narrow the quantizer before it")
        return False


def proxy_legalization() -> list[Pass]:
    """The proxy / hls4ml target's legalization passes, in order, run after the core pipeline."""
    return [ZeroRoundedAway(), CapSatFraction(), FitLUTInputs(), RefuseHls4mlCrashes(), FlagHls4mlHazards()]
