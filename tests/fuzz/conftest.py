"""Fixtures of the fuzz tests: the reproducer folder, and hls4ml outcomes shared by the session.

Hypothesis may call a failing test more than once (it replays the failing example; it would also
shrink it, were shrinking on): :class:`ReproducerSink` writes a reproducer on every failing call
and, at the end of the session, keeps only the last one written per test (those it created itself).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fuzz.strategies import Outcome, random_spec, run_spec, spec_hash, write_reproducer  # noqa: E402

REPRODUCERS = Path(__file__).parent / "reproducers"


class ReproducerSink:
    """Writes reproducers into :data:`REPRODUCERS`; :meth:`finish` drops all but the last one per key."""

    def __init__(self, folder: Path = REPRODUCERS) -> None:
        self.folder = folder
        self.created: dict[str, list[Path]] = {}

    def save(self, key: str, spec: dict, outcome: Outcome, hls: bool) -> Path:
        """Write the reproducer of ``spec`` and return its path."""
        path = self.folder / f"{spec_hash(spec)}.py"
        existed = path.exists()
        path = write_reproducer(spec, outcome, self.folder, hls=hls)
        if not existed:
            self.created.setdefault(key, []).append(path)
        return path

    def finish(self) -> None:
        """Remove the intermediate reproducers of each key (hypothesis' shrinking steps)."""
        for paths in self.created.values():
            for p in paths[:-1]:
                if p != paths[-1]:
                    p.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def reproducers() -> Iterator[ReproducerSink]:
    """The session's :class:`ReproducerSink`."""
    sink = ReproducerSink()
    yield sink
    sink.finish()


@pytest.fixture(scope="session")
def hls_outcomes(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[dict, Outcome]]:
    """``get(seed, index, avoid)``: spec ``random_spec(seed, index, avoid)`` and its outcome with hls4ml,
    compiled once a session."""
    cache: dict[tuple, tuple[dict, Outcome]] = {}

    def get(seed: int, index: int, avoid: frozenset[str] = frozenset()) -> tuple[dict, Outcome]:
        key = (seed, index, avoid)
        if key not in cache:
            spec = random_spec(seed, index, avoid)
            cache[key] = spec, run_spec(spec, hls_dir=tmp_path_factory.mktemp(f"fuzz_hls_{seed}_{index}"))
        return cache[key]

    return get
