"""What every emitter loop shares: find a node's emitter, and tell a user's error from a bug of ours.

Each target module has ``EMITTERS`` (op kind -> emitter) and ``REFUSED`` (op kind -> why not);
:func:`emitter_of` reads both, :func:`emitting` wraps one node's emission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hgq_ir.ir.errors import GraphError, InexactError, InternalError, UnsupportedLayerError
from hgq_ir.ir.graph import Node

#: errors an emitter raises for the user to act on; anything else escaping an emitter is our bug
USER_ERRORS = (UnsupportedLayerError, GraphError, InexactError)


def emitter_of(node: Node, emitters: Mapping[str, Callable[..., Any]], refused: Mapping[str, str],
               target: str) -> Callable[..., Any]:
    """The emitter of ``node``'s op kind; :class:`GraphError` naming the node and the refusal otherwise.

    ``target`` names the target in the message (``"the Keras proxy"``, ``"the onnx target"``).
    """
    emit = emitters.get(node.op.kind)
    if emit is None:
        why = refused.get(node.op.kind, "no emitter")
        raise GraphError(f"node {node.name!r} (from {node.origin!r}): {target} cannot emit {node.op.kind}: {why}")
    return emit


@contextmanager
def emitting(node: Node, as_what: str, step: str) -> Iterator[None]:
    """Emit ``node`` inside: typed user errors pass, any other exception becomes :class:`InternalError`.

    The message names the node, its op and origin, and what it was being emitted ``as_what``
    (``"as ONNX"``); ``step`` is the InternalError's step (``"emit onnx"``).
    """
    try:
        yield
    except USER_ERRORS:
        raise
    except Exception as e:
        raise InternalError(f"internal error emitting node {node.name!r} ({node.op.kind}, from {node.origin!r}) "
                            f"{as_what}: {type(e).__name__}: {e}", step=step, node=node.name) from e
