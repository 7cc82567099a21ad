"""Atomic file writes: a temporary file in the destination's folder, then one rename.

An interrupted write never leaves a half-written output under the destination's name, and an
existing file is replaced only once the new one is complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path`` (same suffix), then rename it to ``path``.

    >>> write_atomically("ir.txt", lambda p: p.write_text("graph ..."))  # doctest: +SKIP
    """
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()  # writers such as Keras refuse or append to an existing file
        write(tmp_path)
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return dest
