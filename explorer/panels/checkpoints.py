"""Which checkpoints the Explore panel (and with it Draw, Denoise and Inpaint) shows:
start-up's, one the user opens, the ones a training run just saved."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from explorer.panels.explore import ExplorePanel, model_name
from explorer.startup import SIDES
from models.kinds import KIND_SIDES

if TYPE_CHECKING:  # torch-backed: imported where a checkpoint is loaded
    from explorer.panels.train import RunResult
    from models.checkpoint import Checkpoint


class ExploreCheckpoints:
    """Puts checkpoints into the Explore panel's plots and says what happened:
    ``show_error(title, message)`` for failures, ``show_status(text, ms)`` for the rest."""

    def __init__(self, explore: ExplorePanel, *, parent: QWidget, settings: QSettings | None,
                 show_error: Callable[[str, str], None], show_status: Callable[[str, int], None]):
        self.explore = explore
        self._parent = parent
        self._settings = settings
        self._show_error = show_error
        self._show_status = show_status

    def show(self, checkpoints: dict[str, Checkpoint | None], *, empty_message: str | None = None) -> list[str]:
        """Put a dataset's models in the plots; what could not be shown, as messages."""
        from models.checkpoint import CheckpointError

        errors = []
        empty = empty_message or (
            "No model loaded\nFile › Open checkpoint…" if self.explore.images is not None else "No test images loaded")
        for side in SIDES:
            try:
                self.explore.set_checkpoint(side, checkpoints.get(side), empty_message=empty)
            except CheckpointError as exc:
                self.explore.set_checkpoint(side, None, empty_message=empty)
                errors.append(str(exc))
        return errors

    def open(self, side: str, path: str | Path) -> bool:
        """Load a checkpoint into one plot; on failure show why and keep the old model."""
        from models.checkpoint import CheckpointError, load_checkpoint

        path = Path(path)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.explore.set_checkpoint(side, load_checkpoint(path))
        except CheckpointError as exc:
            self._show_error("Could not open the checkpoint", str(exc))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        if self._settings is not None:
            self._settings.setValue("last_dir", str(path.parent))
        self._show_status(f"Loaded {path.name} into the {side} plot", 8000)
        return True

    def ask_path(self, side: str, start: Path) -> str:
        """The file the user picks for ``side`` ('' if none), starting in the last folder used."""
        last = self._settings.value("last_dir", "", type=str) if self._settings is not None else ""
        path, _ = QFileDialog.getOpenFileName(
            self._parent, f"Open a checkpoint for the {side} plot", last or str(start),
            "Checkpoints (*.pt *.pth);;All files (*)",
        )
        return path

    def load_trained(self, result: RunResult, *, dataset: str, title: str) -> None:
        """Make a finished run's models the Explore panel's (AE left, VAE right)."""
        from models.checkpoint import CheckpointError, load_checkpoint

        loaded = []
        errors = []
        for path in result.checkpoints:
            try:
                ckpt = load_checkpoint(path)
                side = KIND_SIDES[ckpt.config.kind]
                self.explore.set_checkpoint(side, ckpt)
                loaded.append(f"{model_name(ckpt, side)} ({side})")
            except CheckpointError as exc:
                errors.append(str(exc))
        if errors:
            self._show_error("Could not load the trained models", "\n\n".join(errors))
        if loaded:
            how = "stopped early" if result.stopped else "finished"
            shown = [self.explore.checkpoint(s) for s in SIDES]
            datasets = {ckpt.meta.get("dataset") for ckpt in shown if ckpt is not None}
            # The explorer's points are the current dataset's test images; say so rather
            # than let a model of another dataset look broken.
            note = "" if datasets <= {dataset, "synthetic", None} else f" (on the {title} test images: View › Dataset)"
            # Short: the permanent model labels share the status bar; the Train panel names the folder.
            text = f"Training {how}: the new {' and '.join(loaded)} replace the bundled models in every panel{note}"
        else:
            text = f"Training {'stopped early' if result.stopped else 'finished'}"
        if result.warnings:
            text += " · Warning: " + "; ".join(result.warnings)
        if loaded or result.warnings:
            self._show_status(text, 15000)

    def restore_bundled(self, dataset: str) -> list[str]:
        """Put a dataset's bundled models back in the plots (after a run replaced them);
        what could not be shown, as messages."""
        from explorer.startup import load_models

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            loaded = load_models(dataset, have_images=self.explore.images is not None)
            errors = list(loaded.errors) + self.show(loaded.checkpoints)
        finally:
            QApplication.restoreOverrideCursor()
        if errors:
            self._show_error("Could not load the bundled models", "\n\n".join(errors))
        else:
            self._show_status("The bundled models are back in every panel", 8000)
        return errors
