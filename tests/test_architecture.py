"""The structure docs/architecture.md describes, checked from the code's own imports
and definitions: no import cycle, each layer imports only the ones below it, a small
top level of explorer/, and no class too long to read."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "explorer")
MAX_CLASS_LINES = 400
MAX_TOP_LEVEL_MODULES = 6

# Which parts of explorer/ each part may import (besides models/ and itself), lowest
# first; docs/architecture.md draws the same picture.
ALLOWED = {
    "explorer.startup": set(),
    "explorer.background": {"explorer.startup"},
    "explorer.widgets": {"explorer.startup"},
    "explorer.panels": {"explorer.startup", "explorer.background", "explorer.widgets"},
    "explorer.lab": {"explorer.startup", "explorer.background", "explorer.widgets", "explorer.panels"},
    "explorer.lesson": {"explorer.startup", "explorer.background", "explorer.widgets", "explorer.panels", "explorer.lab"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {"main": ROOT / "main.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, anywhere in the file (functions too), but
    not under ``if TYPE_CHECKING:``, which never runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):
            found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_function_level_and_relative_imports_but_not_type_checking(tmp_path):
    modules = {"pkg": tmp_path / "__init__.py", "pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py",
               "pkg.c": tmp_path / "c.py"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg import c\n"
        "def later():\n    from .b import thing\n"
    )
    modules["pkg.a"].write_text(source)
    assert imports_of("pkg.a", modules["pkg.a"], modules) == {"pkg.b"}


def test_no_import_cycle_anywhere_in_the_project():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def _part(module: str) -> str | None:
    for part in ALLOWED:
        if module == part or module.startswith(part + "."):
            return part
    return None


def test_each_part_of_explorer_imports_only_the_parts_below_it():
    wrong = []
    for name, targets in import_graph().items():
        part = _part(name)
        if part is None:
            continue
        for target in targets:
            other = _part(target)
            if target.startswith("explorer") and other != part and other not in ALLOWED[part]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_startup_and_background_work_are_qt_free_or_gui_free_as_documented():
    # startup.py must not import Qt: the window paints from it before anything heavy loads.
    tree = ast.parse((ROOT / "explorer" / "startup.py").read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in names if m.split(".")[0] in ("PySide6", "pyqtgraph")}


def test_the_top_level_of_explorer_keeps_only_the_entry_the_window_and_packages():
    modules = sorted(p.name for p in (ROOT / "explorer").glob("*.py"))
    packages = sorted(p.name for p in (ROOT / "explorer").iterdir() if (p / "__init__.py").is_file())
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
    assert {"app.py", "window.py", "startup.py"} <= set(modules)
    assert {"background", "lab", "panels", "widgets"} <= set(packages)


@pytest.mark.parametrize("path", sorted((ROOT / "explorer").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_class_in_explorer_is_too_long_to_read(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{n.name}: {n.end_lineno - n.lineno + 1} lines" for n in ast.walk(tree)
            if isinstance(n, ast.ClassDef) and n.end_lineno - n.lineno + 1 > MAX_CLASS_LINES]
    assert not long, long
