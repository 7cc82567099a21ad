"""DESIGN.md's dependency rules between the rooms of the package."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ["hgq_ir/fixed.py", "hgq_ir/graph.py", "hgq_ir/ops.py", "hgq_ir/interpret.py", "hgq_ir/errors.py",
        "hgq_ir/windows.py", "hgq_ir/op_base.py", "hgq_ir/window_ops.py"]


def imports(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
    return mods


def test_core_imports_no_other_room_and_no_keras():
    for f in CORE:
        bad = {m for m in imports(ROOT / f) if m.startswith(("hgq_ir.passes", "hgq_ir.frontends", "hgq_ir.backends",
                                                              "hgq_ir.layers", "hgq_ir.convert", "keras",
                                                              "tensorflow"))}
        assert not bad, f"{f} imports {bad}"


def test_passes_import_only_the_core():
    for f in (ROOT / "passes").glob("*.py"):
        bad = {m for m in imports(f) if m.startswith("hgq_ir.") and not m.startswith("hgq_ir.passes")
               and m not in {c[:-3].replace("/", ".") for c in CORE}}
        assert not bad, f"{f.name} imports {bad}"


def test_frontends_and_backends_do_not_import_each_other():
    for f in (ROOT / "frontends").glob("*.py"):
        assert not any(m.startswith("hgq_ir.backends") for m in imports(f)), f.name
    for f in (ROOT / "backends").glob("*.py"):
        assert not any(m.startswith("hgq_ir.frontends") for m in imports(f)), f.name
