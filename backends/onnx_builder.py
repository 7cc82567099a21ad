"""A small builder of ONNX graphs, shared by the ``onnx`` (emulator) and ``qonnx`` targets.

It keeps names unique, stores constants as initializers (deduplicated by value), and records the
element type and shape of every tensor it creates so the model it returns carries complete
``value_info`` (qonnx's executor needs every shape; the checker needs the outputs' shapes).

>>> b = OnnxBuilder("tiny")                          # doctest: +SKIP
>>> x = b.input("x", np.float64, (None, 3))
>>> y = b.op("Mul", [x, b.const(np.float64(0.5))])
>>> b.output(y, np.float64, (None, 3)); model = b.model()
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"
#: the IR version onnxruntime 1.32 and qonnx 1.0 both read
IR_VERSION = 10

_ELEM = {np.dtype(np.float64): TensorProto.DOUBLE, np.dtype(np.float32): TensorProto.FLOAT,
         np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32,
         np.dtype(np.bool_): TensorProto.BOOL}

Dim = int | str | None


def elem_type(dtype: Any) -> int:
    """The ONNX element type of a numpy dtype (float64, float32, int64, int32, bool)."""
    try:
        return _ELEM[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"no ONNX element type for dtype {np.dtype(dtype)}") from None


class OnnxBuilder:
    """Accumulates nodes, initializers and value infos; :meth:`model` returns the ModelProto.

    ``opset`` is the default-domain opset; ``custom_domains`` maps extra domains (e.g.
    :data:`QONNX_DOMAIN`) to their versions, declared in ``opset_import``.
    """

    def __init__(self, name: str, opset: int = 13, custom_domains: dict[str, int] | None = None) -> None:
        self.name = name
        self.opset = opset
        self.custom_domains = dict(custom_domains or {})
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.types: dict[str, tuple[int, tuple[Dim, ...] | None]] = {}
        self._names: set[str] = set()
        self._consts: dict[tuple[str, bytes], str] = {}

    # ---- names -------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """``base`` if unused, else ``base_1``, ``base_2``, ..."""
        base = base or "t"
        name, n = base, 0
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    # ---- tensors -------------------------------------------------------------------------
    def input(self, name: str, dtype: Any, shape: Sequence[Dim]) -> str:
        """Declare a graph input; returns its name (which must be new)."""
        if name in self._names:
            raise ValueError(f"ONNX name {name!r} is taken")
        self._names.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type(dtype), list(shape)))
        self.types[name] = (elem_type(dtype), tuple(shape))
        return name

    def output(self, name: str, dtype: Any, shape: Sequence[Dim]) -> str:
        """Declare tensor ``name`` a graph output of ``dtype`` and ``shape``; returns the output's name.

        A tensor that is already a graph input or output (a model giving one value twice, or its
        input) is output through an ``Identity`` under a fresh name: ONNX tools want one ValueInfo a
        name (qonnx's ModelWrapper asserts on two).
        """
        if name in {v.name for v in self.inputs} | {v.name for v in self.outputs}:
            out = self.fresh(f"{name}_out")
            self.nodes.append(helper.make_node("Identity", [name], [out], name=self.fresh(f"{out}_identity"),
                                               doc_string="the same value as another graph input or output"))
            name = out
        self.outputs.append(helper.make_tensor_value_info(name, elem_type(dtype), list(shape)))
        return name

    def const(self, value: Any, dtype: Any = np.float64, name: str = "c", share: bool = True) -> str:
        """An initializer holding ``value`` as ``dtype`` (a 0-d value stays 0-d).

        Equal constants share one initializer unless ``share=False`` (qonnx's cleanup copies a
        shared Quant parameter without its shape, and hls4ml's ONNX parser needs every shape).
        """
        arr = np.array(value, dtype=dtype, order="C")  # np.ascontiguousarray would make a 0-d value 1-d
        key = (f"{arr.dtype.str}{arr.shape}", hashlib.sha1(arr.tobytes()).digest())
        if share and key in self._consts:
            return self._consts[key]
        tname = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(arr, tname))
        self.types[tname] = (elem_type(arr.dtype), arr.shape)
        if share:
            self._consts[key] = tname
        return tname

    def declare(self, name: str, dtype: Any, shape: Sequence[Dim] | None) -> None:
        """Record the type of tensor ``name`` (written as ``value_info`` by :meth:`model`)."""
        self.types[name] = (elem_type(dtype), None if shape is None else tuple(shape))

    # ---- nodes ---------------------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], name: str | None = None, n_out: int = 1,
           domain: str = "", doc: str = "", out_dtype: Any = None, out_shape: Sequence[Dim] | None = None,
           **attrs: Any) -> Any:
        """Append a node; returns its output name (a list of names when ``n_out > 1``).

        ``out_dtype``/``out_shape`` record the output's type for ``value_info`` (optional: shape
        inference fills the rest). ``doc`` becomes the node's ``doc_string`` (where a lowering
        says why it is exact).
        """
        base = name or op_type.lower()
        outs = [self.fresh(base if n_out == 1 else f"{base}_out{j}") for j in range(n_out)]
        node = helper.make_node(op_type, list(inputs), outs, name=self.fresh(f"{base}_node"), domain=domain or None,
                                **attrs)
        if doc:
            node.doc_string = doc
        self.nodes.append(node)
        if out_dtype is not None:
            for o in outs:
                self.declare(o, out_dtype, out_shape)
        return outs[0] if n_out == 1 else outs

    # ---- the model -----------------------------------------------------------------------
    def model(self, doc: str = "", producer: str = "hgq-ir") -> onnx.ModelProto:
        """The ModelProto of everything added so far (value_info for every declared tensor)."""
        io = {v.name for v in self.inputs} | {v.name for v in self.outputs} | {t.name for t in self.initializers}
        infos = [helper.make_tensor_value_info(n, t, None if s is None else list(s))
                 for n, (t, s) in self.types.items() if n not in io]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers,
                                  value_info=infos)
        opsets = [helper.make_opsetid("", self.opset)]
        opsets += [helper.make_opsetid(d, v) for d, v in self.custom_domains.items()]
        m = helper.make_model(graph, opset_imports=opsets, producer_name=producer, doc_string=doc)
        m.ir_version = IR_VERSION
        return m


def save_model(model: onnx.ModelProto, path: Any) -> None:
    """Write ``model`` to ``path`` (the registry's writer renames the file into place)."""
    onnx.save_model(model, str(path))
