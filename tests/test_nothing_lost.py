"""Nothing lost (issue 9): no entry point changes the user's model, and every output is written atomically.

The model's state is hashed (every variable's bytes by path, and its ``get_config()`` as JSON)
before and after each entry point: ``lift``, ``convert`` to every target, ``trace_minmax`` (which
may change the recorded ranges, and the BOPs computed from them, only), the report, the reference
interpreter and the ``hgq-ir`` commands on a saved file (whose bytes must not change). Writers are
interrupted midway to check that neither a half-written output nor a temporary file is left, and
that an existing output survives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import zoo
from hgq_ir.backends.registry import TARGETS

import hgq_ir
from hgq_ir.atomic import write_atomically
from hgq_ir.cli import main
from hgq_ir.ir.interpret import interpret
from hgq_ir.reporting import layer_report
from hgq_ir.training.calibrate import trace_minmax

MODELS = ("dense_hetero", "branches")  # BatchNorm fusion and a LUT; branches and a nested model


def model_state(model: keras.Model) -> dict[str, str]:
    """sha256 of every variable (dtype, shape and bytes) by path, and of the config under ``<config>``."""
    state = {}
    for v in model.variables:
        a = np.ascontiguousarray(keras.ops.convert_to_numpy(v))
        state[v.path] = hashlib.sha256(f"{a.dtype}{a.shape}".encode() + a.tobytes()).hexdigest()
    assert len(state) == len(model.variables), "variable paths are not unique"
    config = json.dumps(model.get_config(), sort_keys=True, default=repr)
    state["<config>"] = hashlib.sha256(config.encode()).hexdigest()
    return state


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert before.keys() == after.keys()
    return {k for k in before if before[k] != after[k]}


def file_digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture(scope="module", params=MODELS)
def traced(request: pytest.FixtureRequest) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A zoo model, traced, with its calibration and test data."""
    return zoo.ZOO[request.param]()


# ---- the model ---------------------------------------------------------------------------------
def test_lift_and_every_target_leave_the_model_untouched(traced: Any) -> None:
    model = traced[0]
    before = model_state(model)
    steps: dict[str, Callable[[], Any]] = {
        "lift": lambda: hgq_ir.lift(model),
        "to_proxy_model": lambda: hgq_ir.to_proxy_model(model),
        "convert(to='ir', target='proxy')": lambda: hgq_ir.convert(model, to="ir", target="proxy"),
        "convert(aggressive=False)": lambda: hgq_ir.convert(model, aggressive=False),
        **{f"convert(to={t!r})": (lambda t=t: hgq_ir.convert(model, to=t)) for t in TARGETS},
    }
    for name, step in steps.items():
        assert step() is not None
        assert not changed(before, model_state(model)), f"{name} changed the model"


def test_trace_minmax_changes_only_the_ranges_and_their_bops(traced: Any) -> None:
    model, x_calib, _ = traced
    before = model_state(model)
    trace_minmax(model, x_calib, verbose=False)  # the same data: the same ranges
    assert not changed(before, model_state(model))
    trace_minmax(model, x_calib * 1.5, verbose=False)
    diff = changed(before, model_state(model))
    assert any(k.endswith(("_min", "_max")) for k in diff), "wider data must widen some range"
    assert all(k.endswith(("_min", "_max", "/bops")) for k in diff), sorted(diff)
    trace_minmax(model, x_calib, verbose=False)  # back to the fixture's ranges for the other tests
    assert not changed(before, model_state(model))


def test_failed_trace_minmax_keeps_the_ranges(traced: Any) -> None:
    model, x_calib, _ = traced
    before = model_state(model)

    def interrupted():
        yield x_calib[:100] * 3
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trace_minmax(model, interrupted(), verbose=False)
    assert not changed(before, model_state(model))


def test_report_and_interpreter_leave_model_and_graph_untouched(traced: Any) -> None:
    model, _, x_test = traced
    before = model_state(model)
    graph = hgq_ir.convert(model, to="ir")
    text = str(graph)
    assert "total BOPs" in layer_report(graph)
    interpret(graph, x_test[:64])
    assert str(graph) == text
    assert not changed(before, model_state(model))


# ---- the commands on a saved file ---------------------------------------------------------------
def test_commands_leave_the_model_file_untouched(traced: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    model = traced[0]
    saved = tmp_path / f"{model.name}.keras"
    model.save(saved)
    digest = file_digest(saved)
    commands = [["report", str(saved)], ["report", str(saved), "--target", "proxy"], ["inspect", str(saved)],
                ["verify", str(saved), "--samples", "64"],
                *[["convert", str(saved), "--to", t, "--out", str(tmp_path / f"out_{t}{target.suffix}")]
                  for t, target in TARGETS.items()]]
    for argv in commands:
        assert main(argv) == 0, (argv, capsys.readouterr().err)
        assert file_digest(saved) == digest, f"hgq-ir {' '.join(argv)} changed the model file"
    capsys.readouterr()


# ---- atomic writes ------------------------------------------------------------------------------
def _writer_module_and_name(target: str) -> tuple[Any, str]:
    import importlib

    module, _, name = TARGETS[target].writer.partition(":")
    return importlib.import_module(module), name


@pytest.fixture(scope="module")
def artefacts() -> dict[str, Any]:
    """One artefact per target, of the first zoo model."""
    model = zoo.ZOO[MODELS[0]]()[0]
    return {t: hgq_ir.convert(model, to=t) for t in TARGETS}


@pytest.mark.parametrize("target", list(TARGETS))
def test_targets_write_through_a_temporary_file(target: str, artefacts: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    module, name = _writer_module_and_name(target)
    real, seen = getattr(module, name), []

    def spy(artefact: Any, path: Path) -> None:
        seen.append(Path(path))
        real(artefact, path)

    monkeypatch.setattr(module, name, spy)
    dest = tmp_path / f"out{TARGETS[target].suffix}"
    assert TARGETS[target].write(artefacts[target], dest) == dest
    assert len(seen) == 1 and seen[0] != dest and seen[0].parent == dest.parent  # same folder: one rename
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
@pytest.mark.parametrize("target", list(TARGETS))
def test_an_interrupted_write_leaves_nothing_behind(target: str, interruption: BaseException,
                                                    artefacts: dict[str, Any], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    module, name = _writer_module_and_name(target)

    def half_then_fail(artefact: Any, path: Path) -> None:
        Path(path).write_bytes(b"half a model")
        raise interruption

    monkeypatch.setattr(module, name, half_then_fail)
    dest = tmp_path / f"out{TARGETS[target].suffix}"
    with pytest.raises(type(interruption)):
        TARGETS[target].write(artefacts[target], dest)
    assert not list(tmp_path.iterdir())  # neither the output nor a temporary file
    dest.write_bytes(b"the previous output")
    with pytest.raises(type(interruption)):
        TARGETS[target].write(artefacts[target], dest)
    assert dest.read_bytes() == b"the previous output"
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]


def test_an_interrupted_convert_keeps_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    model = zoo.ZOO[MODELS[0]]()[0]
    saved = tmp_path / "m.keras"
    model.save(saved)
    out = tmp_path / "m_proxy.keras"
    assert main(["convert", str(saved), "--out", str(out)]) == 0
    good = file_digest(out)
    module, name = _writer_module_and_name("proxy")

    def half_then_fail(artefact: Any, path: Path) -> None:
        Path(path).write_bytes(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, name, half_then_fail)
    assert main(["convert", str(saved), "--out", str(out)]) == 3
    capsys.readouterr()
    assert file_digest(out) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m_proxy.keras"]


def test_write_atomically_replaces_only_once_complete(tmp_path: Path) -> None:
    dest = tmp_path / "a.txt"
    dest.write_text("old")

    def write(p: Path) -> None:
        assert dest.read_text() == "old"  # the destination is untouched while the writer runs
        p.write_text("new")

    assert write_atomically(dest, write) == dest
    assert dest.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
