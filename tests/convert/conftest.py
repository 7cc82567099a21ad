"""Session fixtures of the conversion tests: zoo models, their IR and proxies, compiled hls4ml models.

Everything is built lazily and once per session: a zoo model once, its IR and proxy once per
``aggressive`` value, its hls4ml C simulation (the expensive part, ~6-15 s of g++) once per proxy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

import zoo  # noqa: E402
from hls4ml_harness import HlsModel  # noqa: E402

from hgq_ir.convert import lift, run_passes, to_proxy_model  # noqa: E402
from hgq_ir.ir.graph import Graph  # noqa: E402

AGGRESSIVE = (False, True)


class ZooCache:
    """Lazily built, memoised zoo artefacts, keyed by model name (and ``aggressive``)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._models: dict[str, zoo.Zoo] = {}
        self._graphs: dict[tuple[str, bool], Graph] = {}
        self._proxies: dict[tuple[str, bool], Any] = {}
        self._hls: dict[tuple[str, bool], HlsModel] = {}

    def model(self, name: str) -> zoo.Zoo:
        """``(model, x_calib, x_test)`` of zoo model ``name``."""
        if name not in self._models:
            self._models[name] = zoo.ZOO[name]()
        return self._models[name]

    def graph(self, name: str, aggressive: bool) -> Graph:
        """The IR after the core pipeline and the proxy target's legalization (what the proxy computes)."""
        key = (name, aggressive)
        if key not in self._graphs:
            g = lift(self.model(name)[0])
            run_passes(g, aggressive=aggressive, target="proxy")
            self._graphs[key] = g
        return self._graphs[key]

    def proxy(self, name: str, aggressive: bool) -> Any:
        """The Keras proxy from the public ``to_proxy_model``."""
        key = (name, aggressive)
        if key not in self._proxies:
            self._proxies[key] = to_proxy_model(self.model(name)[0], aggressive=aggressive)
        return self._proxies[key]

    def hls(self, name: str, aggressive: bool) -> HlsModel:
        """The proxy converted and compiled by hls4ml 1.3."""
        key = (name, aggressive)
        if key not in self._hls:
            d = self.workdir / f"{name}_{'aggr' if aggressive else 'sat'}"
            self._hls[key] = HlsModel(self.proxy(name, aggressive), d)
        return self._hls[key]


@pytest.fixture(scope="session")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> ZooCache:
    """The shared :class:`ZooCache` of the session."""
    return ZooCache(tmp_path_factory.mktemp("zoo_hls"))
