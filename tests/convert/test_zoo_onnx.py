"""The onnx target on the HGQ zoo: onnxruntime == interpret(core IR) on every row, in and far out of range.

For every zoo model and ``aggressive`` (False: SAT, True: WRAP), ``convert(model, to="onnx")`` run
by onnxruntime equals ``interpret`` of ``convert(model, to="ir")`` exactly on the held-out test set
and on the same rows scaled by 64 and by 1e4, where quantizers really overflow (counted here, so
both WRAP and SAT are exercised on the values that matter).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import zoo

import hgq_ir
from hgq_ir.ir.errors import NotBitExactWarning
from hgq_ir.ir.fixed import round_to_integer
from hgq_ir.ir.graph import Graph, Node
from hgq_ir.ir.interpret import Interpreter

ZooCache = Any  # tests/convert/conftest.py
AGGRESSIVE = (False, True)
CASES = [pytest.param(name, aggr, id=f"{name}-{'aggr' if aggr else 'sat'}") for name in zoo.ZOO for aggr in AGGRESSIVE]
SCALES = (1.0, 64.0, 1e4)


class OverflowCounter(Interpreter):
    """The interpreter, counting per overflow mode the elements that leave their quantizer's range."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.by_mode: dict[str, int] = {}

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        fmt = node.op.quantizer_format
        if fmt is not None:
            n = round_to_integer(np.ldexp(args[0], fmt.f), fmt.round)
            lo, hi = np.ldexp(fmt.min_value, fmt.f), np.ldexp(fmt.max_value, fmt.f)
            bad = np.where(fmt.b > 0, (n < lo) | (n > hi), False)
            self.by_mode[fmt.overflow] = self.by_mode.get(fmt.overflow, 0) + int(bad.sum())
        return super().run_node(node, args)


@pytest.mark.parametrize(("name", "aggressive"), CASES)
def test_onnxruntime_equals_interpret_in_and_far_out_of_range(zoo_cache: ZooCache, name: str,
                                                              aggressive: bool) -> None:
    model, _, x_test = zoo_cache.model(name)
    graph = hgq_ir.convert(model, to="ir", aggressive=aggressive)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotBitExactWarning)  # the zoo is fixed-point throughout
        m = hgq_ir.convert(model, to="onnx", aggressive=aggressive)
    onnx.checker.check_model(m, full_check=True)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    (inp,) = graph.inputs
    assert [i.name for i in m.graph.input] == [inp.name]
    overflow = {}
    for scale in SCALES:
        x = np.asarray(x_test, dtype=np.float64) * scale
        assert len(x) >= 1000
        got = sess.run(None, {inp.name: x})
        counter = OverflowCounter(graph)
        want = counter.run(x)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"scale {scale}")
        overflow[scale] = counter.by_mode
    # far out of range, quantizers overflow in the mode ``aggressive`` chose
    far = {mode: n for scale in SCALES[1:] for mode, n in overflow[scale].items() if n}
    wanted = {"WRAP"} if aggressive else {"SAT", "SAT_SYM", "SAT_ZERO"}
    assert far.keys() & wanted, (far, overflow)
