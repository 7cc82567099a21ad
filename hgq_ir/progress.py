"""Progress of long steps: one live line on a terminal, a few plain lines in a log, nothing when quiet.

A leaf module (it imports nothing of hgq-ir), so every room may use it. Progress goes to stderr,
keeping stdout for results (tables, JSON). ``hgq-ir --quiet`` (or ``with quiet():``, or the
environment variable ``HGQ_IR_QUIET=1``) silences it everywhere.

>>> with Progress("verify", total=3) as p:  # doctest: +SKIP
...     p.step("Keras proxy")
...     p.step("onnxruntime")
...     p.step("hls4ml: compiling with g++")
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_QUIET = [False]


def is_quiet() -> bool:
    """True inside ``quiet()`` or when the environment variable ``HGQ_IR_QUIET`` is set (not ``0``)."""
    return _QUIET[0] or os.environ.get("HGQ_IR_QUIET", "") not in ("", "0")


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Silence every progress line inside the block (when ``on``); the previous state comes back after."""
    saved = _QUIET[0]
    _QUIET[0] = saved or on
    try:
        yield
    finally:
        _QUIET[0] = saved


def plural(unit: str, n: int) -> str:
    """``unit`` for one, else its plural (``batch`` -> ``batches``, ``step`` -> ``steps``)."""
    if n == 1:
        return unit
    return unit + ("es" if unit.endswith(("ch", "sh", "s", "x")) else "s")


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """Progress of ``total`` units (None when unknown) under ``title``.

    On a terminal: one tqdm line, rewritten in place. Elsewhere (a CI log, a pipe, a notebook's
    stderr): a plain line at each :meth:`step`, or at each quarter of :meth:`update` units, and
    one at the end. Disabled (``enabled=False``, or :func:`is_quiet`): nothing at all.
    :meth:`update` may be called from several threads (the emulator's batches run in parallel).
    """

    def __init__(self, title: str, total: int | None = None, unit: str = "step", stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.title, self.total, self.unit = title, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and not is_quiet()
        self.live = self.enabled and _is_terminal(self.stream)
        self.count, self.steps, self._quarter = 0, 0, 0
        self._start = time.perf_counter()
        self._bar: Any = None
        self._lock = threading.Lock()
        if self.live:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=title, unit=unit, file=self.stream, dynamic_ncols=True, leave=True)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def step(self, text: str) -> None:
        """Start the next named step (the previous one counts as done)."""
        if not self.enabled:
            return
        if self.steps:
            self._advance(1)
        self.steps += 1
        if self.live:
            self._bar.set_postfix_str(text, refresh=True)
        else:
            of = f"/{self.total}" if self.total else ""
            self._line(f"{self.title} [{self.steps}{of}] {text}")

    def update(self, n: int = 1) -> None:
        """``n`` more units done (a log gets a line at each quarter of a known total)."""
        if not self.enabled:
            return
        with self._lock:
            self._advance(n)
            if not self.live and self.total:
                quarter = min(4, 4 * self.count // self.total)
                if quarter > self._quarter and quarter < 4:
                    self._quarter = quarter
                    self._line(f"{self.title}: {self.count}/{self.total} {plural(self.unit, self.total)}")

    def _advance(self, n: int) -> None:
        self.count += n
        if self.live:
            self._bar.update(n)

    def close(self, summary: str = "") -> None:
        """Finish: the last step counts as done; a log gets ``TITLE: done (SUMMARY, 1.2 s)``."""
        if not self.enabled:
            return
        if self.steps:
            self._advance(1)
            self.steps = 0
        seconds = time.perf_counter() - self._start
        if self.live:
            if summary:
                self._bar.set_postfix_str(summary, refresh=False)
            self._bar.close()
            self.live, self.enabled = False, False
            return
        self.enabled = False
        self._line(f"{self.title}: done ({summary + ', ' if summary else ''}{seconds:.1f} s)")

    def iterate(self, items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``items``, one unit each, then close."""
        for item in items:
            yield item
            self.update(1)
        self.close(f"{self.count} {plural(self.unit, self.count)}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # an error: leave the terminal line as it is, print no "done"
            if self._bar is not None:
                self._bar.close()
            self.enabled = False
            return
        self.close()
