"""The public names users type: the seed's HGQ API and the converter entry points."""

import importlib

import hgq_ir

SEED_NAMES = ["HQuantize", "HDense", "HConv1D", "HConv2D", "HActivation", "HAdd", "HDenseBatchNorm",
              "HConv1DBatchNorm", "HConv2DBatchNorm", "PMaxPooling1D", "PMaxPooling2D", "PAveragePooling1D",
              "PAveragePooling2D", "PMaxPool1D", "PMaxPool2D", "PAvgPool1D", "PAvgPool2D", "PConcatenate",
              "PReshape", "PFlatten", "Signature", "trace_minmax", "to_proxy_model", "ResetMinMax", "FreeBOPs",
              "CalibratedBOPs", "get_default_kq_conf", "get_default_paq_conf", "set_default_kq_conf",
              "set_default_paq_conf"]


def test_seed_names_are_exported():
    missing = [n for n in SEED_NAMES if not hasattr(hgq_ir, n)]
    assert not missing


def test_convert_is_the_function_even_after_importing_its_module():
    importlib.import_module("hgq_ir.convert")
    for name in ("convert", "lift", "run_passes", "to_proxy_model", "interpret"):
        assert callable(getattr(hgq_ir, name)), name
    assert hgq_ir.convert.__name__ == "convert"
