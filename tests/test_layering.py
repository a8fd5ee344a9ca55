"""The arrow between the layers: ``models/`` never imports Qt, pyqtgraph or the GUI,
so it stays usable from a notebook or a training script on a headless machine."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
FORBIDDEN = ("PySide6", "PySide2", "PyQt", "shiboken6", "shiboken2", "pyqtgraph", "explorer")


def _is_forbidden(module: str) -> bool:
    top = module.split(".")[0]
    return any(top == name or (name == "PyQt" and top.startswith("PyQt")) for name in FORBIDDEN)


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """'line: module' for every import of a GUI module in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if _is_forbidden(name)]
    return found


def model_sources() -> list[Path]:
    return sorted(MODELS.rglob("*.py"))


def test_the_checker_catches_every_form_of_gui_import():
    source = "\n".join(
        [
            "import os, PySide6.QtCore",
            "from PySide6 import QtWidgets",
            "import PyQt5",
            "from PyQt6.QtGui import QImage",
            "import shiboken6",
            "import pyqtgraph as pg",
            "from explorer.widgets.latent_plot import LatentView",
            "import explorer",
            "def later():",
            "    import importlib; importlib.import_module('pyqtgraph')",
            "from models import nets",
            "from .nets import AE",
            "import explorers_guide",
        ]
    )
    found = forbidden_imports(source)
    assert [f.split(": ")[1] for f in found] == [
        "PySide6.QtCore",
        "PySide6",
        "PyQt5",
        "PyQt6.QtGui",
        "shiboken6",
        "pyqtgraph",
        "explorer.widgets.latent_plot",
        "explorer",
        "pyqtgraph",
    ]


def test_models_package_has_the_core_modules():
    names = {p.stem for p in model_sources()}
    assert {"nets", "losses", "metrics", "train", "checkpoint", "report"} <= names


@pytest.mark.parametrize("path", model_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_never_import_the_gui(path):
    found = forbidden_imports(path.read_text(encoding="utf-8"), str(path))
    assert not found, f"{path.relative_to(ROOT)} imports GUI modules: {found}"


@pytest.mark.slow
def test_importing_the_model_core_loads_no_gui_module():
    code = (
        "import models.nets, models.losses, models.metrics, models.train, models.checkpoint, "
        "models.report, models.data, models.corrupt; import sys; "
        # every other module of the package too, including ones added later
        "import importlib, pkgutil, models; "
        "[importlib.import_module('models.' + m.name) for m in pkgutil.iter_modules(models.__path__)]; "
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'shiboken', 'pyqtgraph', 'explorer'))); "
        "assert not bad, bad"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
