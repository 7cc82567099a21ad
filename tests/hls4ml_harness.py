"""hls4ml C simulation as a test oracle for Keras proxy models.

Converts a proxy model with hls4ml 1.3 (Vitis backend, ``io_parallel``) under a deliberately
tiny default precision ``fixed<1,0>``, so that any precision the proxy does not carry shows up
as a mismatch, compiles the C++ once with g++, and predicts many times.

Each conversion + compile costs seconds; share one :class:`HlsModel` per proxy through a
module- or session-scoped fixture::

    @pytest.fixture(scope="module")
    def hls(tmp_path_factory):
        return HlsModel(build_proxy(), tmp_path_factory.mktemp("hls"))

    def test_exact(hls):
        np.testing.assert_array_equal(hls.predict(x), hls.keras_predict(x))
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from hgq_ir.backends.hls4ml import c_simulate, compile_quietly, proxy_to_hls4ml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class HlsModel:
    """A proxy model converted and compiled by hls4ml once; :meth:`predict` runs the C simulation.

    Args:
        proxy: the Keras 3 proxy model.
        workdir: directory for the generated project (one subdirectory per model).
        layer_config: optional ``hls_config['LayerName']`` entries.
        quiet: silence hls4ml's printing during conversion and compilation.

    Attributes ``convert_seconds`` and ``compile_seconds`` hold the measured wall times.
    """

    def __init__(self, proxy: Any, workdir: str | os.PathLike, layer_config: dict[str, dict] | None = None,
                 quiet: bool = True) -> None:
        self.proxy = proxy
        self.output_dir = Path(workdir) / f"hls4ml_prj_{proxy.name}"
        t0 = time.perf_counter()
        self.hls_model = proxy_to_hls4ml(proxy, self.output_dir, layer_config=layer_config, quiet=quiet)
        t1 = time.perf_counter()
        compile_quietly(self.hls_model, quiet)
        t2 = time.perf_counter()
        self.convert_seconds = t1 - t0
        self.compile_seconds = t2 - t1

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        """Output shapes of the proxy, batch axis excluded."""
        return [tuple(int(d) for d in o.shape[1:]) for o in self.proxy.outputs]

    def predict(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """C-simulation outputs (float64), shaped like the proxy's outputs; a list when it has several."""
        return c_simulate(self.hls_model, x, self.output_shapes)

    def keras_predict(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """The proxy's own outputs (float64), in the same layout as :meth:`predict`."""
        xs = x if isinstance(x, (list, tuple)) else [x]
        xs = [np.asarray(a, dtype=np.float32) for a in xs]
        raw = self.proxy(xs if len(xs) > 1 else xs[0], training=False)
        outs = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        res = [np.asarray(o, dtype=np.float64) for o in outs]
        return res if len(res) > 1 else res[0]
