"""The HGQ training layers, under the name users import: ``from hgq_ir.layers import HDense``.

They live in :mod:`hgq_ir.training.layers`; this module re-exports them.
"""

from hgq_ir.training.layers import *  # noqa: F403
from hgq_ir.training.layers import __all__  # noqa: F401
