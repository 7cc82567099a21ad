"""hgq-ir: a typed fixed-point graph IR for heterogeneously quantized Keras models.

The IR core (``FixedFormat``, ``Graph``, ``interpret``) imports no Keras. The training layers,
the converter and the callbacks load Keras on first use:

>>> import hgq_ir
>>> hgq_ir.trace_minmax(model, x_calib)           # doctest: +SKIP
>>> proxy = hgq_ir.to_proxy_model(model)          # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# bound eagerly: the function `convert` must shadow the submodule of the same name
from hgq_ir.convert import convert, lift, load_model, run_passes, to_hls4ml, to_proxy_model
from hgq_ir.ir.errors import HgqIrError, InternalError, NotBitExactWarning
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.ir.graph import Graph
from hgq_ir.ir.interpret import interpret

__version__ = "0.1.0"

_LAZY = {
    "trace_minmax": "hgq_ir.training.calibrate",
    "ResetMinMax": "hgq_ir.training.callbacks",
    "FreeBOPs": "hgq_ir.training.callbacks",
    "CalibratedBOPs": "hgq_ir.training.callbacks",
    "get_default_kq_conf": "hgq_ir.training.quantizer",
    "get_default_paq_conf": "hgq_ir.training.quantizer",
    "set_default_kq_conf": "hgq_ir.training.quantizer",
    "set_default_paq_conf": "hgq_ir.training.quantizer",
    "emulate": "hgq_ir.emulator",
    "Emulator": "hgq_ir.emulator",
    "verify": "hgq_ir.verification",
    "report": "hgq_ir.reporting",
    "Report": "hgq_ir.reporting",
    "qonnx_to_hls4ml": "hgq_ir.backends.qonnx_hls4ml",
    **{name: "hgq_ir.training.layers" for name in (
        "HQuantize", "HDense", "HConv1D", "HConv2D", "HActivation", "HAdd", "HDenseBatchNorm",
        "HConv1DBatchNorm", "HConv2DBatchNorm", "PMaxPooling1D", "PMaxPooling2D", "PAveragePooling1D",
        "PAveragePooling2D", "PMaxPool1D", "PMaxPool2D", "PAvgPool1D", "PAvgPool2D", "PConcatenate",
        "PReshape", "PFlatten", "Signature")},
}

__all__ = ["FixedFormat", "Graph", "HgqIrError", "InternalError", "NotBitExactWarning", "convert", "interpret", "lift",
           "load_model", "quantize",
           "run_passes", "to_hls4ml", "to_proxy_model", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hgq_ir' has no attribute {name!r}")
