"""The IR core: fixed-point formats, the graph, its ops, format inference and the reference interpreter.

Imports no Keras, no pass, no frontend or backend:

>>> from hgq_ir.ir import FixedFormat, Graph, Weight, interpret
>>> from hgq_ir.ir.ops import Dense, Quantize
"""

from hgq_ir.ir.errors import HgqIrError, NotBitExactWarning
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.ir.graph import Graph, Node, Value, Weight
from hgq_ir.ir.interpret import Interpreter, interpret

__all__ = ["FixedFormat", "Graph", "HgqIrError", "Interpreter", "Node", "NotBitExactWarning", "Value", "Weight",
           "interpret", "quantize"]
