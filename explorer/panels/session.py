"""Sessions: what the window shows, saved as a JSON file and opened again to the same
view (File › Save session… / Open session…).

A session holds the dataset, the model on each plot (a checkpoint path, or "bundled"
for the dataset's own AE or VAE), each plot's view, the selected test image, the
interpolation, the prior samples, the probe, the classes and backgrounds shown, the
panel in front and the key settings of the Denoise panel and the Lab.

Opening is all or nothing: the whole file is checked first (its form, the dataset,
every checkpoint, which is loaded, the panel and settings named), and any problem is
reported, naming each thing that is wrong, with nothing changed. Files are plain
JSON, written atomically; nothing is unpickled."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QStatusBar, QWidget

from explorer.panels.explore import ExplorePanel
from explorer.startup import DEFAULT_MODELS, SIDES, DatasetContext
from explorer.widgets.plot_backgrounds import BACKGROUND_NAMES
from models.data import DATASETS
from models.files import atomic_write_bytes, bundled_models_dir

if TYPE_CHECKING:
    from models.checkpoint import Checkpoint

FORMAT = "latent-explorer-session"
VERSION = 1
BUNDLED = "bundled"
SESSION_FILTER = "Latent Explorer sessions (*.json);;All files (*)"
LAST_DIR_KEY = "session/last_dir"
STATUS_MS = 8000
MAX_BYTES = 1_000_000  # a session is a few kB; anything far larger is not one


class SessionError(ValueError):
    """A session file that cannot be opened; ``problems`` lists each thing wrong."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: " + ("; ".join(problems) if len(problems) == 1 else "\n- " + "\n- ".join(problems)))


class SessionWindow(Protocol):
    """What a session needs of the window (MainWindow)."""

    explore: ExplorePanel
    context: DatasetContext

    def wait_for_models(self) -> None: ...

    def set_dataset(self, name: str) -> bool: ...

    def panel_names(self) -> tuple[str, ...]: ...

    def panel(self, name: str) -> QWidget: ...

    def panel_built(self, name: str) -> bool: ...

    def show_panel(self, name: str) -> None: ...

    def current_panel_name(self) -> str: ...

    def show_error(self, title: str, message: str) -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


def bundled_path(dataset: str, side: str) -> Path:
    """The checkpoint start-up shows on ``side`` for ``dataset``."""
    kind = dict(DEFAULT_MODELS)[side]
    return bundled_models_dir(dataset) / f"{kind}.pt"


def _same_file(a: Path | None, b: Path | None) -> bool:
    return a is not None and b is not None and a.resolve() == b.resolve()


# ---------------------------------------------------------------- reading a file's values


class _Checker:
    """Reads typed values out of the parsed JSON, collecting what is wrong."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, text: str) -> None:
        self.problems.append(text)

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            if not optional:
                self.bad(f"{where}{key} is missing")
            return None
        value = obj[key]
        if value is None and optional:
            return None
        # JSON has no int/float distinction for whole numbers; bool is not a number here.
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if ok and isinstance(value, float) and not math.isfinite(value):
            ok = False
        if not ok:
            self.bad(f"{where}{key} should be {_kind_name(kind)}, not {json.dumps(value)[:40]}")
            return None
        return value

    def view(self, obj: Any, side: str) -> tuple[tuple[float, float], tuple[float, float]] | None:
        v = obj.get(side) if isinstance(obj, dict) else None
        try:
            (x0, x1), (y0, y1) = ((float(a), float(b)) for a, b in v)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            self.bad(f"explore.views.{side} should be [[x0, x1], [y0, y1]], not {json.dumps(v)[:40]}")
            return None
        if not all(math.isfinite(t) for t in (x0, x1, y0, y1)) or not (x1 > x0 and y1 > y0):
            self.bad(f"explore.views.{side} should run from smaller to larger finite numbers, not {json.dumps(v)[:60]}")
            return None
        return (x0, x1), (y0, y1)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", dict: "an object", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


class Session(QObject):
    """Saves and opens the window's sessions. ``ask_path(save, title, start)`` picks a
    file (a file dialog by default; tests replace it)."""

    def __init__(self, window: SessionWindow, *, settings: QSettings | None = None,
                 ask_path: Callable[[bool, str, str], str] | None = None):
        super().__init__(window)  # type: ignore[arg-type]
        self._window = window
        self._settings = settings
        self.ask_path = ask_path or self._dialog

    # ------------------------------------------------------------ what is shown

    def state(self) -> dict[str, Any]:
        """Everything a session file holds, as plain JSON values."""
        w = self._window
        explore = w.explore
        models: dict[str, str | None] = {}
        for side in SIDES:
            ckpt = explore.checkpoint(side)
            path = ckpt.path if ckpt is not None else None
            models[side] = BUNDLED if _same_file(path, bundled_path(w.context.name, side)) else (
                str(path.resolve()) if path is not None else None)
        probe, interp, sampled = explore.overlays()
        n, seed = explore.sampling.values()
        a, b, steps = explore.interpolation.values()
        state: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "dataset": w.context.name,
            "models": models,
            "panel": w.current_panel_name(),
            "explore": {
                "views": {side: [list(r) for r in explore.plots[side].view_range()] for side in SIDES},
                "selected": explore.selected_image(),
                "interpolation": {"a": a, "b": b, "steps": steps, "shown": interp is not None},
                "samples": {"n": n, "seed": seed, "shown": sampled},
                "probe": None if probe is None else {"side": probe[0], "x": float(probe[1]), "y": float(probe[2])},
                "linked": explore.linked_action.isChecked(),
                "classes_shown": [explore.legend.button(k).isChecked() for k in range(len(explore.class_names))],
                "backgrounds": {name: a.isChecked() for name, a in explore.background_actions.items()},
            },
            "panels": {},
        }
        if interp is not None:  # the path shown, which the spin boxes may since have left
            state["explore"]["interpolation"].update(a=interp[0], b=interp[1], steps=interp[2])
        if w.panel_built("denoise"):
            d = w.panel("denoise")
            state["panels"]["denoise"] = {"kind": d.kind_name(), "level": float(d.level_value()),
                                          "seed": d.seed.value(), "passes": d.passes.value()}
        if w.panel_built("lab"):
            state["panels"]["lab"] = {"experiment": w.panel("lab").current_experiment()}
        return state

    # ------------------------------------------------------------ saving

    def save(self, path: str | Path) -> bool:
        """Write the session to ``path`` (atomically); on failure say why and write nothing."""
        path = Path(path)
        try:
            if path.is_dir():
                raise OSError(f"{path} is a folder; give a file name inside it")
            if not path.parent.is_dir():
                raise OSError(f"the folder {path.parent} does not exist")
            atomic_write_bytes(path, (json.dumps(self.state(), indent=2) + "\n").encode("utf-8"))
        except OSError as exc:
            self._window.show_error("Could not save the session", f"{path}: {exc.strerror or exc}")
            return False
        self._remember(path)
        self._window.statusBar().showMessage(f"Saved the session to {path}", STATUS_MS)
        return True

    def ask_save(self) -> None:
        path = self.ask_path(True, "Save session", "session.json")
        if path:
            self.save(Path(path) if Path(path).suffix else Path(path).with_suffix(".json"))

    # ------------------------------------------------------------ opening

    def open(self, path: str | Path) -> bool:
        """Show the session saved in ``path``; if anything in it is wrong, say what and
        change nothing."""
        path = Path(path)
        self._window.wait_for_models()
        try:
            plan = self._check(path, self._read(path))
        except SessionError as exc:
            self._window.show_error("Could not open the session", str(exc))
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            errors = self._apply(plan)
        finally:
            QApplication.restoreOverrideCursor()
        if errors is None:  # the dataset could not be shown: set_dataset said why, nothing changed
            return False
        if errors:
            self._window.show_error("The session opened, but not all of it", "\n\n".join(errors))
            return False
        self._remember(path)
        self._window.statusBar().showMessage(f"Opened the session {path.name}", STATUS_MS)
        return True

    def ask_open(self) -> None:
        path = self.ask_path(False, "Open session", "")
        if path:
            self.open(path)

    def _read(self, path: Path) -> Any:
        if not path.is_file():
            raise SessionError(path, ["is a folder, not a session file" if path.is_dir() else "no such file"])
        try:
            data = path.read_bytes()
            if len(data) > MAX_BYTES:
                raise SessionError(path, [f"is {len(data):,} bytes, too large for a session file"])
            return json.loads(data.decode("utf-8"))
        except OSError as exc:
            raise SessionError(path, [f"cannot be read ({exc.strerror or exc})"]) from exc
        except UnicodeDecodeError as exc:
            raise SessionError(path, ["is not a text file (a session is JSON)"]) from exc
        except json.JSONDecodeError as exc:
            raise SessionError(path, [f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]) from exc

    def _check(self, path: Path, data: Any) -> dict[str, Any]:
        """Everything the file says, checked and with its checkpoints loaded; SessionError
        listing every problem otherwise."""
        c = _Checker()
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SessionError(path, [f"is not a Latent Explorer session (it needs \"format\": \"{FORMAT}\")"])
        version = c.get(data, "version", int, "")
        if version is not None and version > VERSION:
            c.bad(f"was written by a newer Latent Explorer (session version {version}; this one reads {VERSION})")
        w = self._window
        dataset = c.get(data, "dataset", str, "")
        if dataset is not None and dataset not in (*DATASETS, "cifar10") and dataset != self._window.context.name:
            # A user's images are not known by name: the session applies once they are shown again.
            c.bad(f"dataset {dataset!r} is images you brought, not shown now: open them with File › Open images…, "
                  f"then this session" if dataset.startswith("images:") else
                  f"dataset {dataset!r} is unknown; the datasets are {', '.join((*DATASETS, 'cifar10'))}")
            dataset = None
        plan: dict[str, Any] = {"dataset": dataset, "checkpoints": {}}
        models = c.get(data, "models", dict, "")
        for side in SIDES:
            value = c.get(models, side, str, "models.", optional=True) if models is not None else None
            plan["checkpoints"][side] = self._checkpoint(c, side, value, dataset)
        panel = c.get(data, "panel", str, "")
        if panel is not None and panel not in w.panel_names():
            c.bad(f"panel {panel!r} is unknown; the panels are {', '.join(w.panel_names())}")
        plan["panel"] = panel
        plan["explore"] = self._check_explore(c, c.get(data, "explore", dict, ""))
        plan["panels"] = self._check_panels(c, c.get(data, "panels", dict, "", optional=True) or {})
        if c.problems:
            raise SessionError(path, c.problems)
        return plan

    def _checkpoint(self, c: _Checker, side: str, value: str | None, dataset: str | None) -> Checkpoint | None:
        current = self._window.explore.checkpoint(side)
        if value is None or dataset is None:
            # A model never saved to a file (the first quick models) stays while its images are shown.
            keep = value is None and current is not None and current.path is None and dataset == self._window.context.name
            return current if keep else None
        from models.checkpoint import CheckpointError, load_checkpoint

        path = bundled_path(dataset, side) if value == BUNDLED else Path(value)
        if current is not None and _same_file(current.path, path) and dataset == self._window.context.name:
            return current
        if not path.is_file():
            what = f"the bundled {DATASETS[dataset].title} model" if value == BUNDLED else "the checkpoint"
            c.bad(f"{what} for the {side} plot, {path}, {'is a folder' if path.is_dir() else 'does not exist'}")
            return None
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as exc:
            c.bad(f"the {side} plot's checkpoint cannot be used: {exc}")
            return None
        shape = tuple(self._window.context.image_shape)
        if dataset == self._window.context.name and tuple(ckpt.config.image_shape) != shape[:2]:
            c.bad(f"the {side} plot's checkpoint {path.name} takes {ckpt.config.image_shape} images, the dataset's are {shape}")
        return ckpt

    def _check_explore(self, c: _Checker, e: dict | None) -> dict[str, Any]:
        if e is None:
            return {}
        w = self._window
        out: dict[str, Any] = {}
        views = c.get(e, "views", dict, "explore.")
        out["views"] = {side: c.view(views, side) for side in SIDES} if views is not None else {}
        count = len(w.explore.images) if w.explore.images is not None else 0
        selected = c.get(e, "selected", int, "explore.", optional=True)
        if selected is not None and not 0 <= selected < max(count, 1):
            c.bad(f"explore.selected is test image {selected}, but there are {count} (0 to {count - 1})")
        out["selected"] = selected
        interp = c.get(e, "interpolation", dict, "explore.")
        if interp is not None:
            vals = {k: c.get(interp, k, int, "explore.interpolation.") for k in ("a", "b", "steps")}
            vals["shown"] = c.get(interp, "shown", bool, "explore.interpolation.")
            for k in ("a", "b"):
                if vals[k] is not None and not 0 <= vals[k] < max(count, 1):
                    c.bad(f"explore.interpolation.{k} is test image {vals[k]}, but there are {count}")
            if vals["steps"] is not None and not 2 <= vals["steps"] <= w.explore.interp_steps.maximum():
                c.bad(f"explore.interpolation.steps should be 2 to {w.explore.interp_steps.maximum()}, not {vals['steps']}")
            out["interpolation"] = vals
        samples = c.get(e, "samples", dict, "explore.")
        if samples is not None:
            vals = {k: c.get(samples, k, int, "explore.samples.") for k in ("n", "seed")}
            vals["shown"] = c.get(samples, "shown", bool, "explore.samples.")
            if vals["n"] is not None and not 1 <= vals["n"] <= w.explore.sample_n.maximum():
                c.bad(f"explore.samples.n should be 1 to {w.explore.sample_n.maximum()}, not {vals['n']}")
            if vals["seed"] is not None and not 0 <= vals["seed"] <= w.explore.sample_seed.maximum():
                c.bad(f"explore.samples.seed should be 0 to {w.explore.sample_seed.maximum()}, not {vals['seed']}")
            out["samples"] = vals
        probe = c.get(e, "probe", dict, "explore.", optional=True)
        if probe is not None:
            side = c.get(probe, "side", str, "explore.probe.")
            if side is not None and side not in SIDES:
                c.bad(f"explore.probe.side should be one of {', '.join(SIDES)}, not {side!r}")
            out["probe"] = (side, c.get(probe, "x", (int, float), "explore.probe."), c.get(probe, "y", (int, float), "explore.probe."))
        out["linked"] = c.get(e, "linked", bool, "explore.")
        shown = c.get(e, "classes_shown", list, "explore.")
        if shown is not None and (len(shown) != len(w.explore.class_names) or not all(isinstance(v, bool) for v in shown)):
            c.bad(f"explore.classes_shown should be {len(w.explore.class_names)} times true or false")
            shown = None
        out["classes_shown"] = shown
        backgrounds = c.get(e, "backgrounds", dict, "explore.")
        if backgrounds is not None:
            out["backgrounds"] = {name: c.get(backgrounds, name, bool, "explore.backgrounds.") for name in BACKGROUND_NAMES}
        return out

    def _check_panels(self, c: _Checker, panels: dict) -> dict[str, Any]:
        w = self._window
        out: dict[str, Any] = {}
        d = c.get(panels, "denoise", dict, "panels.", optional=True)
        if d is not None and "denoise" in w.panel_names():
            denoise = w.panel("denoise")
            kind = c.get(d, "kind", str, "panels.denoise.")
            if kind is not None and denoise.kind.findData(kind) < 0:
                kinds = [denoise.kind.itemData(i) for i in range(denoise.kind.count())]
                c.bad(f"panels.denoise.kind {kind!r} is unknown; the kinds are {', '.join(kinds)}")
            out["denoise"] = {"kind": kind, "level": c.get(d, "level", (int, float), "panels.denoise."),
                              "seed": c.get(d, "seed", int, "panels.denoise."), "passes": c.get(d, "passes", int, "panels.denoise.")}
        lab = c.get(panels, "lab", dict, "panels.", optional=True)
        if lab is not None and "lab" in w.panel_names():
            name = c.get(lab, "experiment", str, "panels.lab.")
            names = w.panel("lab").experiment_names()
            if name is not None and name not in names:
                c.bad(f"panels.lab.experiment {name!r} is unknown; the experiments are {', '.join(names)}")
            out["lab"] = name
        return out

    def _apply(self, plan: dict[str, Any]) -> list[str] | None:
        """Show what ``plan`` holds; the problems met (None if the dataset could not be shown)."""
        from models.checkpoint import CheckpointError

        w = self._window
        explore = w.explore
        if plan["dataset"] != w.context.name and not w.set_dataset(plan["dataset"]):
            return None
        errors = []
        explore.clear_overlays()
        for side, ckpt in plan["checkpoints"].items():
            if ckpt is not explore.checkpoint(side):
                try:
                    explore.set_checkpoint(side, ckpt, empty_message="No model in this session")
                except CheckpointError as exc:
                    errors.append(str(exc))
        e = plan["explore"]
        explore.linked_action.setChecked(e["linked"])
        for k, on in enumerate(e["classes_shown"]):
            explore.set_class_visible(k, on)
        for name, on in e.get("backgrounds", {}).items():
            explore.set_background(name, on)
        if "samples" in e:
            s = e["samples"]
            explore.sampling.set_values(s["n"], s["seed"])
            if s["shown"]:
                explore.sample()
        if "interpolation" in e:
            i = e["interpolation"]
            explore.interpolation.set_values(i["a"], i["b"], i["steps"])
            if i["shown"]:
                explore.interpolate()
        if e["selected"] is not None:
            explore.select_image(e["selected"])
        if e.get("probe") is not None:
            explore.probe(*e["probe"])
        if "denoise" in plan["panels"]:
            d, denoise = plan["panels"]["denoise"], w.panel("denoise")
            denoise.set_kind(d["kind"])
            denoise.set_level(float(d["level"]))
            denoise.seed.setValue(d["seed"])
            denoise.passes.setValue(d["passes"])
        if "lab" in plan["panels"]:
            w.panel("lab").show_experiment(plan["panels"]["lab"])
        w.show_panel(plan["panel"])
        # Last: the plots are laid out for the panel in front, and a model or the
        # overlays above may have refitted the view.
        for side, view in e["views"].items():
            explore.plots[side].set_view_range(view)
        explore.flush()
        return errors

    # ------------------------------------------------------------ files

    def _remember(self, path: Path) -> None:
        if self._settings is not None:
            self._settings.setValue(LAST_DIR_KEY, str(path.resolve().parent))

    def _dialog(self, save: bool, title: str, name: str) -> str:
        folder = self._settings.value(LAST_DIR_KEY, "", type=str) if self._settings is not None else ""
        start = str(Path(folder) / name) if folder else name
        parent = self._window  # type: ignore[assignment]
        if save:
            return QFileDialog.getSaveFileName(parent, title, start, SESSION_FILTER)[0]  # type: ignore[arg-type]
        return QFileDialog.getOpenFileName(parent, title, folder, SESSION_FILTER)[0]  # type: ignore[arg-type]
