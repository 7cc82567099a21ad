"""What a pass is: a small object with a ``name`` and ``run(graph) -> bool`` (changed or not).

Write a pass as a frozen dataclass whose fields are its options, subclassing :class:`Pass`,
or as one function decorated with :func:`function_pass`. A pass edits the graph only through
the Graph helpers (``add_node``, ``replace_all_uses_with``, ``bypass``, ``remove_node``).
"""

from __future__ import annotations

from collections.abc import Callable

from hgq_ir.ir.graph import Graph


class Pass:
    """Base class: subclasses (frozen dataclasses, fields = options) set ``name`` and implement :meth:`run`."""

    name: str = "pass"

    def run(self, graph: Graph) -> bool:
        """Rewrite ``graph`` in place; return True when anything changed."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<pass {self.name}>"


class FunctionPass(Pass):
    """A pass made of one function ``fn(graph) -> bool``."""

    def __init__(self, fn: Callable[[Graph], bool], name: str) -> None:
        self.fn = fn
        self.name = name

    def run(self, graph: Graph) -> bool:
        """Call the function."""
        return bool(self.fn(graph))


def function_pass(name: str) -> Callable[[Callable[[Graph], bool]], FunctionPass]:
    """Decorator turning ``fn(graph) -> bool`` into a pass called ``name``.

    >>> @function_pass("noop")
    ... def noop(graph):
    ...     return False
    """

    def wrap(fn: Callable[[Graph], bool]) -> FunctionPass:
        return FunctionPass(fn, name)

    return wrap
