"""The HGQ training side on Keras 3: quantizers, layers, calibration (``trace_minmax``) and callbacks.

Runs without the converter. Users import the layers as ``hgq_ir.layers`` and the rest from
``hgq_ir`` itself (``hgq_ir.trace_minmax``, ``hgq_ir.FreeBOPs``, ...).
"""
