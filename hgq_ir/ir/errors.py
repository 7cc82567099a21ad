"""Typed errors of hgq-ir.

Every error a user can meet derives from :class:`HgqIrError`, so ``except hgq_ir.HgqIrError``
catches them all. Messages name the layer or node concerned and say what to do.
"""

from __future__ import annotations


class HgqIrError(Exception):
    """Base class of every error raised by hgq-ir."""


class FormatError(HgqIrError, ValueError):
    """A fixed-point format is malformed (negative width, bad mode, shapes that do not broadcast)."""


class GraphError(HgqIrError):
    """The IR graph is inconsistent: dangling value, shape mismatch, cycle, duplicate name."""


class InexactError(HgqIrError):
    """A value cannot be computed or emulated exactly (e.g. it needs more than 53 bits)."""


class UnsupportedLayerError(HgqIrError):
    """A model contains a layer or option the frontend cannot lift."""


class UntracedModelError(HgqIrError):
    """An HGQ model is converted before ``trace_minmax`` recorded the activation ranges."""


class TableTooLargeError(HgqIrError):
    """A lookup table would exceed the configured size limit."""


class ModelFileError(HgqIrError):
    """A model file is missing, malformed or truncated."""


class ConfigError(HgqIrError, ValueError):
    """A configuration dict or argument is invalid (unknown or missing keys, bad values)."""


class PassError(HgqIrError):
    """A pass failed; the message names the pass and the passes that ran before it."""


class LayerReuseError(HgqIrError):
    """An HGQ layer is called more than once; each HGQ layer must be used exactly once."""


class NotBitExactWarning(UserWarning):
    """A layer is allowed but its hardware result will not match the Keras model bit for bit."""


class InternalError(HgqIrError):
    """A bug inside hgq-ir (a pass or an emitter failed on a valid graph): not the user's to fix.

    The message names the pass (or step) and the node it was working on; the CLI exits 3 and asks
    for a report. ``__cause__`` holds the original exception.
    """

    def __init__(self, message: str, step: str = "", node: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.node = node
