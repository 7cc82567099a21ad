"""The target registry: every target is listed once, emits every op kind or declares why not."""

import importlib

import pytest
from hgq_ir.backends.registry import TARGETS, get_target

from hgq_ir.ir import ops
from hgq_ir.ir.errors import ConfigError
from hgq_ir.ir.op_base import Op


def all_op_kinds() -> set[str]:
    """Every concrete op kind the IR defines (subclasses of Op found in hgq_ir.ir.ops)."""
    kinds = set()
    stack = [Op]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.kind != "Op" and not cls.__name__.startswith("_") and cls.__module__.startswith("hgq_ir.ir"):
            kinds.add(cls.kind)
    return kinds


def test_all_ops_lists_every_op_kind():
    assert {op.kind for op in ops.ALL_OPS} == all_op_kinds()


@pytest.mark.parametrize("name", [t.name for t in TARGETS.values() if t.emitters_of])
def test_every_op_kind_has_an_emitter_or_a_declared_refusal(name):
    module = importlib.import_module(TARGETS[name].emitters_of)
    emitted, refused = set(module.EMITTERS), set(module.REFUSED)
    assert not emitted & refused, f"{name}: both emitted and refused: {emitted & refused}"
    missing = all_op_kinds() - emitted - refused
    assert not missing, f"target {name!r} has no emitter and no declared refusal for {sorted(missing)}"
    assert all(module.REFUSED[k] for k in refused), "every refusal says why"


def test_a_new_op_without_emitter_is_caught(monkeypatch):
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True, eq=False)
    class Frobnicate(Op):
        kind: ClassVar[str] = "Frobnicate"

    Frobnicate.__module__ = "hgq_ir.ir.ops"
    try:
        assert "Frobnicate" in all_op_kinds()
        module = importlib.import_module(TARGETS["proxy"].emitters_of)
        assert "Frobnicate" not in set(module.EMITTERS) | set(module.REFUSED)
    finally:
        del Frobnicate  # the class object lingers in __subclasses__ until collected
        import gc

        gc.collect()


def test_unknown_target_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown target 'vivado'.*ir, proxy, onnx, qonnx, hls4ml"):
        get_target("vivado")


def test_targets_know_their_file_suffix_and_refuse_another(tmp_path):
    ir = get_target("ir")
    with pytest.raises(ConfigError, match=r"\.txt"):
        ir.write(object(), tmp_path / "graph.keras")
    with pytest.raises(ConfigError, match="does not exist"):
        ir.write(object(), tmp_path / "missing" / "graph.txt")


def test_listing_targets_imports_no_keras():
    import subprocess
    import sys

    code = ("import sys; from hgq_ir.backends.registry import TARGETS; list(TARGETS); "
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


EMITTING = [t.name for t in TARGETS.values() if t.emitters_of]


def _tiny_graph():
    import numpy as np

    from hgq_ir.ir.fixed import FixedFormat
    from hgq_ir.ir.graph import Graph, Weight
    from hgq_ir.ir.ops import Dense, Quantize

    g = Graph("tiny")
    q = g.add_node(Quantize(FixedFormat(1, 2, 2, "RND", "SAT")), [g.add_input("x", (3,))], name="q")
    d = g.add_node(Dense(), [q.output], name="d", weights={"kernel": Weight(np.full((3, 2), 0.5))})
    g.set_outputs([d.output])
    return g


@pytest.mark.parametrize("name", EMITTING)
def test_an_emitter_bug_is_an_internal_error_naming_the_node(name, monkeypatch):
    from hgq_ir.ir.errors import InternalError

    module = importlib.import_module(TARGETS[name].emitters_of)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(module.EMITTERS, "Dense", broken)
    with pytest.raises(InternalError, match=r"internal error emitting node 'd' \(Dense, from 'd'\).*ZeroDivisionError"):
        get_target(name).emit(_tiny_graph())


@pytest.mark.parametrize("name", EMITTING)
def test_a_refused_op_kind_says_why_naming_the_node(name, monkeypatch):
    module = importlib.import_module(TARGETS[name].emitters_of)
    monkeypatch.delitem(module.EMITTERS, "Dense")
    monkeypatch.setitem(module.REFUSED, "Dense", "not today")
    from hgq_ir.ir.errors import GraphError

    with pytest.raises(GraphError, match=r"node 'd' \(from 'd'\): the .* cannot emit Dense: not today"):
        get_target(name).emit(_tiny_graph())
