"""DESIGN.md's dependency rules between the rooms of the package, read from the import statements.

Rooms: the IR core (``hgq_ir/ir``), the training side (``hgq_ir/training``), passes, frontends,
backends, and the face (``convert``, ``cli``, ``demo``, ``reporting``, ``report_plot``, ``__init__``) that ties them.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted((ROOT / "hgq_ir" / "ir").glob("*.py"))
TRAINING = sorted((ROOT / "hgq_ir" / "training").rglob("*.py"))
OTHER_ROOMS = ("hgq_ir.passes", "hgq_ir.frontends", "hgq_ir.backends", "hgq_ir.training", "hgq_ir.layers",
               "hgq_ir.convert", "hgq_ir.cli", "hgq_ir.demo", "hgq_ir.reporting",
               "hgq_ir.report_plot")


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (at any level, function bodies included)."""
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
    return mods


def test_rooms_exist():
    assert len(CORE) >= 8 and len(TRAINING) >= 10
    for room in ("passes", "frontends", "backends"):
        assert (ROOT / room).is_dir()


def test_core_imports_no_other_room_and_no_keras():
    for f in CORE:
        bad = {m for m in imports(f) if m.startswith((*OTHER_ROOMS, "keras", "tensorflow", "tf_keras"))}
        assert not bad, f"{f.name} imports {bad}"


def test_core_has_no_function_level_imports_of_itself():
    # the ops <-> interpret <-> graph circle stays untangled: core modules import each other at the top
    for f in CORE:
        tree = ast.parse(f.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = {n.module for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and n.module}
                assert not {m for m in inner if m.startswith("hgq_ir")}, f"{f.name}:{fn.name} imports {inner}"


def test_training_side_runs_without_the_converter():
    for f in TRAINING:
        bad = {m for m in imports(f) if m.startswith(OTHER_ROOMS) and not m.startswith("hgq_ir.training")}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_passes_import_only_the_core():
    for f in (ROOT / "passes").glob("*.py"):
        bad = {m for m in imports(f) if m.startswith("hgq_ir.") and not m.startswith(("hgq_ir.passes", "hgq_ir.ir"))}
        assert not bad, f"{f.name} imports {bad}"


def test_frontends_and_backends_do_not_import_each_other_nor_the_face():
    face = ("hgq_ir.convert", "hgq_ir.cli", "hgq_ir.demo", "hgq_ir.reporting",
               "hgq_ir.report_plot")
    for f in (ROOT / "frontends").glob("*.py"):
        bad = {m for m in imports(f) if m.startswith(("hgq_ir.backends", *face))}
        assert not bad, f"{f.name} imports {bad}"
    for f in (ROOT / "backends").glob("*.py"):
        bad = {m for m in imports(f) if m.startswith(("hgq_ir.frontends", *face))}
        assert not bad, f"{f.name} imports {bad}"
