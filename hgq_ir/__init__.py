"""hgq-ir: a typed fixed-point graph IR for heterogeneously quantized Keras models."""

from hgq_ir.errors import HgqIrError
from hgq_ir.fixed import FixedFormat, quantize

__version__ = "0.1.0"
__all__ = ["FixedFormat", "HgqIrError", "quantize", "__version__"]
