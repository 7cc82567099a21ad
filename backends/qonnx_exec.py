"""Run a ``qonnx`` target model with qonnx 1.0's own executor (``execute_onnx``).

qonnx's executor needs a fixed batch size, every tensor shape and the nodes in topological
order; it runs each standard node in its own onnxruntime session and each ``Quant`` in numpy.
:func:`execute_qonnx` prepares a copy of the model for that and returns float64 arrays.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto

from hgq_ir.ir.errors import ConfigError, NotBitExactWarning

_NP = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.INT64: np.int64}


def _fix_batch(model: onnx.ModelProto, n: int) -> None:
    """Replace every symbolic dimension (the batch ``N``) by ``n`` in the graph's declared types."""
    g = model.graph
    for vi in [*g.input, *g.output, *g.value_info]:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                d.dim_value = n


def execute_qonnx(model: onnx.ModelProto, inputs: Sequence[np.ndarray],
                  outputs: Sequence[str] | None = None) -> list[np.ndarray]:
    """Run ``model`` on ``inputs`` (one array per graph input, batch first) with qonnx's ``execute_onnx``.

    Returns float64 arrays: the graph outputs, or the tensors named in ``outputs`` (any
    intermediate tensor, e.g. an IR value's name, to find the first divergent node). The model
    is not modified (the batch is fixed on a deep copy). Inputs are fed as the graph declares
    them (float32); a value float32 cannot hold warns :class:`NotBitExactWarning`.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    m = copy.deepcopy(model)
    graph_inputs = [v for v in m.graph.input if v.name not in {t.name for t in m.graph.initializer}]
    if len(inputs) != len(graph_inputs):
        raise ConfigError(f"the model takes {len(graph_inputs)} inputs ({[v.name for v in graph_inputs]}), "
                          f"got {len(inputs)}")
    feed = {}
    for v, x in zip(graph_inputs, inputs, strict=True):
        x = np.asarray(x)
        dtype = _NP.get(v.type.tensor_type.elem_type, np.float32)
        fed = x.astype(dtype)
        if not np.array_equal(fed.astype(np.float64), x.astype(np.float64), equal_nan=True):
            warnings.warn(f"input {v.name!r}: some values are not exactly {np.dtype(dtype).name}; the model "
                          "computes on the rounded values", NotBitExactWarning, stacklevel=2)
        feed[v.name] = fed
    batch = {x.shape[0] for x in feed.values()}
    if len(batch) != 1:
        raise ConfigError(f"inputs have different batch sizes: {sorted(batch)}")
    _fix_batch(m, batch.pop())
    mw = ModelWrapper(m).transform(InferShapes())
    full = outputs is not None
    ctx = execute_onnx(mw, feed, return_full_exec_context=full)
    names = list(outputs) if full else [v.name for v in m.graph.output]
    missing = [n for n in names if n not in ctx]
    if missing:
        raise ConfigError(f"no tensor named {missing} in the model")
    return [np.asarray(ctx[n], dtype=np.float64) for n in names]
