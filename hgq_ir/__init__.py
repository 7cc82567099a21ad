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
from hgq_ir.convert import convert, lift, load_model, run_passes, to_proxy_model
from hgq_ir.errors import HgqIrError
from hgq_ir.fixed import FixedFormat, quantize
from hgq_ir.graph import Graph
from hgq_ir.interpret import interpret

__version__ = "0.1.0"

_LAZY = {
    "trace_minmax": "hgq_ir.calibrate",
    "ResetMinMax": "hgq_ir.callbacks",
    "FreeBOPs": "hgq_ir.callbacks",
    "CalibratedBOPs": "hgq_ir.callbacks",
    "get_default_kq_conf": "hgq_ir.quantizer",
    "get_default_paq_conf": "hgq_ir.quantizer",
    "set_default_kq_conf": "hgq_ir.quantizer",
    "set_default_paq_conf": "hgq_ir.quantizer",
    **{name: "hgq_ir.layers" for name in (
        "HQuantize", "HDense", "HConv1D", "HConv2D", "HActivation", "HAdd", "HDenseBatchNorm",
        "HConv1DBatchNorm", "HConv2DBatchNorm", "PMaxPooling1D", "PMaxPooling2D", "PAveragePooling1D",
        "PAveragePooling2D", "PMaxPool1D", "PMaxPool2D", "PAvgPool1D", "PAvgPool2D", "PConcatenate",
        "PReshape", "PFlatten", "Signature")},
}

__all__ = ["FixedFormat", "Graph", "HgqIrError", "convert", "interpret", "lift", "load_model", "quantize",
           "run_passes", "to_proxy_model", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hgq_ir' has no attribute {name!r}")
