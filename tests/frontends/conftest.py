"""Session fixtures of the frontend tests: the QKeras zoo, built once per flavor in its own process.

QKeras 0.9 needs ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported, and qkeras-v3 installs
the same ``qkeras`` module name, so neither loads into this process (which never imports qkeras):
``tests/qkeras_zoo.py`` runs in a subprocess per flavor and writes predictions and files. A
missing QKeras fails the tests (it does not skip them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = str(REPO / "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

QKERAS3_DIR = Path(os.environ.get("HGQ_IR_QKERAS3_DIR", REPO / ".qkeras3"))
QKERAS3_INSTALL = f"pip install --no-deps --target {QKERAS3_DIR} qkeras-v3==1.2.1"
V3_ONLY_MODULE = "qkeras.base_quantizer"  # exists in qkeras-v3, not in QKeras 0.9


def zoo_env(flavor: str) -> dict[str, str]:
    """The environment of a subprocess running ``flavor`` (``qkeras09`` or ``qkeras3``)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if flavor == "qkeras3":
        if not (QKERAS3_DIR / "qkeras").is_dir():
            pytest.fail(f"qkeras-v3 is not installed in {QKERAS3_DIR}; install it with `{QKERAS3_INSTALL}` "
                        "(or point HGQ_IR_QKERAS3_DIR at its directory)")
        env["PYTHONPATH"] = os.pathsep.join([str(QKERAS3_DIR), *filter(None, [env.get("PYTHONPATH")])])
    return env


class QKerasZoo:
    """The zoo outputs of each flavor, built on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, Path] = {}

    def __call__(self, flavor: str) -> Path:
        """The directory ``tests/qkeras_zoo.py`` wrote for ``flavor``."""
        if flavor not in self._dirs:
            out = self.root / flavor
            r = subprocess.run([sys.executable, str(REPO / "tests" / "qkeras_zoo.py"), flavor, str(out)],
                               env=zoo_env(flavor), capture_output=True, text=True, timeout=900)
            if r.returncode != 0 or not (out / "DONE").exists():
                pytest.fail(f"building the {flavor} zoo failed (is QKeras installed?):\n{r.stderr[-3000:]}")
            loaded = (out / "DONE").read_text()
            assert (V3_ONLY_MODULE in loaded) == (flavor == "qkeras3"), f"{flavor} ran the wrong qkeras: {loaded}"
            self._dirs[flavor] = out
        return self._dirs[flavor]


@pytest.fixture(scope="session")
def qkeras_zoo(tmp_path_factory: pytest.TempPathFactory) -> QKerasZoo:
    """The session's :class:`QKerasZoo`."""
    return QKerasZoo(tmp_path_factory.mktemp("qkeras_zoo"))
