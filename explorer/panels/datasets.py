"""Datasets: what View › Dataset and File › Open images… do for the window. A dataset is
loaded (a registered name, CIFAR-10, or images a user brings, converted off the GUI
thread with a progress dialog and Cancel) and handed to every panel; images with no
models get a first AE and VAE trained in the background (QuickModels) so the Explore
panel shows their latent space; what was opened is remembered, most recent first."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressBar, QProgressDialog

from explorer.background.quick_models import QuickModels, QuickProgress
from explorer.background.runs import BackgroundRun
from explorer.startup import StartupData, dataset_title, empty_context, load_startup, startup_on
from models.data import DATASETS, DataError, DownloadCancelled

if TYPE_CHECKING:
    from explorer.window import MainWindow
    from models.data import Dataset

log = logging.getLogger(__name__)

# View › Dataset's entries: the registered grey sets, then CIFAR-10 (models/cifar.py).
DATASET_NAMES = (*DATASETS, "cifar10")
RECENT_KEY = "datasets/recent"
RECENT_MAX = 8
STATUS_MS = 8000


@dataclass(frozen=True)
class Recent:
    """A dataset opened before: a path to images and how it was read."""

    path: str
    size: int | None = None
    colour: bool | None = None
    fit: str | None = None

    @property
    def exists(self) -> bool:
        return Path(self.path).exists()

    @property
    def title(self) -> str:
        return Path(self.path).name or self.path

    def to_json(self) -> str:
        return json.dumps({"path": self.path, "size": self.size, "colour": self.colour, "fit": self.fit})

    @classmethod
    def from_json(cls, text: str) -> Recent | None:
        try:
            d = json.loads(text)
            return cls(str(d["path"]), d.get("size"), d.get("colour"), d.get("fit"))
        except (ValueError, TypeError, KeyError):
            return None


class DatasetSwitch(QObject):
    """The window's datasets: ``switch(name)`` for a registered one, ``open_images`` for
    a path, ``show(startup)`` to hand a loaded one to every panel."""

    recent_changed = Signal()
    quick_ready = Signal()  # the first models are in the plots

    def __init__(self, window: MainWindow, *, settings: QSettings | None):
        super().__init__(window)
        self._window = window
        self._settings = settings
        self.quick = QuickModels(self)
        self.quick.progress.connect(self._quick_progress)
        self.quick.ready.connect(self._quick_ready)
        self.quick.failed.connect(lambda error: window.show_error("The first models could not be trained", error))
        self.quick_bar = QProgressBar()
        self.quick_bar.setMinimumWidth(170)  # room for "First models 40%" on one line
        self.quick_bar.setMaximumWidth(220)
        self.quick_bar.setRange(0, 100)
        self.quick_bar.setVisible(False)
        window.statusBar().addPermanentWidget(self.quick_bar)
        self.converting = BackgroundRun(self, expected=(ValueError, OSError, DataError), threads=None,
                                        name="conversion or download")
        self.converting.item_ready.connect(self._converted_progress)
        self.converting.finished.connect(self._converted)
        self._dialog: QProgressDialog | None = None
        self._cifar_missing = False
        self._done_note = ""  # what the status bar says when a run ends without a dataset
        # CIFAR-10's download: asked before it starts (tests answer), and where from.
        self.ask_download: Callable[[str], bool] = self._ask_download
        self.cifar_mirrors: Sequence[str] | None = None
        self.cifar_spec: object | None = None
        self._opened: tuple[Dataset, str] | None = None
        self._asked: Recent | None = None

    # ------------------------------------------------------------ registered datasets

    def switch(self, name: str) -> bool:
        """Show registered dataset ``name`` (its test images and bundled models) in every
        panel; on failure (not on disk, unreadable) say why and keep the current one."""
        w = self._window
        if name not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
        if name == w.dataset:
            return True
        w.wait_for_models()  # else start-up's models would land on the new dataset
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            startup = self.load(name)
            if startup.dataset.images is None and name == "cifar10" and self._cifar_missing:
                self.after_change(quiet=True)
                return self.offer_cifar_download()
            if startup.dataset.images is None:
                self.after_change(quiet=True)
                w.show_error(f"Cannot show {dataset_title(name)}", "\n\n".join(startup.errors))
                return False
            errors = self.show(startup)
        finally:
            QApplication.restoreOverrideCursor()
        self.after_change()
        if errors:
            w.show_error(f"{w.context.title}: not everything could be loaded", "\n\n".join(errors))
        return True

    def after_change(self, *, quiet: bool = False) -> None:
        """The menu, status bar and settings follow the dataset every panel shows."""
        w = self._window
        for name, action in w.dataset_actions.items():
            action.setChecked(name == w.dataset)
        if quiet:
            return
        w._update_status()
        if self._settings is not None and w.dataset in DATASET_NAMES:
            self._settings.setValue("dataset", w.dataset)
        w.statusBar().showMessage(f"Now showing {w.context.title} in every panel", STATUS_MS)

    def ask_open(self) -> None:
        from explorer.widgets.open_images import ask_images

        choice = ask_images(self._window, self._settings)
        if choice is not None:
            self.open_images(choice.path, size=choice.size, colour=choice.colour, fit=choice.fit)

    def load(self, name: str) -> StartupData:
        """A registered dataset's startup data (CIFAR-10 from models.cifar, whole)."""
        if name != "cifar10":
            return load_startup(self._window.data_dir, name)
        from models import cifar
        from models.data import DatasetNotFoundError

        self._cifar_missing = False
        try:
            return startup_on(cifar.load_cifar10(data_dir=self._window.data_dir))
        except DataError as exc:
            self._cifar_missing = isinstance(exc, DatasetNotFoundError)
            return StartupData(dataset=empty_context("cifar10", str(exc)), errors=(str(exc),))

    def show(self, startup: StartupData) -> list[str]:
        """Hand ``startup``'s dataset and models to every panel; the messages of what
        could not be shown. Images without models get the first quick models."""
        w = self._window
        self.quick.stop()
        w.context = ctx = startup.dataset
        w.explore.set_dataset(ctx, code_cache=startup.code_cache)
        w.workbench.set_dataset(ctx, dae=startup.dae, dae_masking=startup.dae_masking)
        errors = list(startup.errors)
        empty = f"No {ctx.title} model yet\nTrain one in the Train panel"
        if self.wants_quick(startup):
            empty = f"No model trained on {ctx.title} yet\nTraining a first AE and VAE…"
        errors += w.checkpoints.show(startup.checkpoints, empty_message=empty)
        w.registry.set_dataset(ctx, skip=("explore",))
        if self.wants_quick(startup):
            self.start_quick()
        return errors

    def wants_quick(self, startup: StartupData) -> bool:
        return (startup.dataset.data is not None and startup.load_models is None
                and not any(startup.checkpoints.values()))

    # ------------------------------------------------------------ the first models

    def start_quick(self) -> None:
        ctx = self._window.context
        if ctx.data is None:
            return
        if self.quick.is_running:
            self.quick.shutdown(2.0)
        self.quick_bar.setValue(0)
        self.quick_bar.setFormat("First models %p%")
        self.quick_bar.setVisible(True)
        self.quick.start(ctx.data.train_images, name=ctx.name)

    def _quick_progress(self, p: QuickProgress) -> None:
        self.quick_bar.setValue(round(100 * p.done))
        self.quick_bar.setToolTip(f"{p.text} on {self._window.context.title}, so the Explore panel has a latent "
                                  f"space to show; train real models in the Train panel")

    def _quick_ready(self, checkpoints: dict) -> None:
        w = self._window
        self.quick_bar.setVisible(False)
        if any(ck.meta.get("dataset") != w.context.name for ck in checkpoints.values()):
            return  # the user switched datasets meanwhile
        errors = w.checkpoints.show(checkpoints)
        w.statusBar().showMessage(f"A first AE and VAE, trained for a few seconds on {w.context.title}: train better "
                                  f"ones in the Train panel", STATUS_MS)
        if errors:
            w.show_error("The first models could not be shown", "\n\n".join(errors))
        self.quick_ready.emit()

    # ------------------------------------------------------------ images a user brings

    def open_images(self, path: str | Path, *, size: int | None = None, colour: bool | None = None,
                    fit: str | None = None, wait: bool = False) -> bool:
        """Convert the images at ``path`` off the GUI thread (a progress dialog with the
        count and Cancel), then show them in every panel; False with a message, and the
        current dataset kept, when they cannot be read. ``wait``: block until done (tests)."""
        from models import sources
        from models.user_images import Cancelled

        w = self._window
        try:
            source = sources.inspect_images(path, size=size, colour=colour, fit=fit)
        except sources.SourceError as exc:
            w.show_error("Cannot open these images", str(exc))
            return False
        if self.converting.is_running:
            w.show_error("Cannot open these images", "Images are being converted already: wait or cancel first.")
            return False
        self._asked = Recent(str(Path(path).expanduser().resolve()), size, colour, fit)

        def work(report, should_stop) -> None:
            try:
                opened = sources.read_images(source, progress=lambda done, total: report(("image", done, total)),
                                             should_stop=should_stop)
            except Cancelled:
                self._done_note = "Opening the images was cancelled; nothing changed"
                return
            self._opened = (opened.dataset, opened.summary)

        self._start_long("Open images", f"Converting the images in {source.path.name}…", max(1, source.files), work)
        if wait:
            self.converting.wait()
            QApplication.processEvents()
        return True

    def _start_long(self, title: str, text: str, maximum: int, work) -> None:
        """Run ``work`` on the conversion thread behind a window-modal progress dialog with Cancel."""
        self._opened, self._done_note = None, ""
        self._dialog = dialog = QProgressDialog(text, "Cancel", 0, maximum, self._window)
        dialog.setWindowTitle(title)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoReset(False)  # closed when the dataset is shown, not at the last step
        dialog.canceled.connect(self.converting.stop)
        self.converting.start_task(work)

    def _ask_download(self, text: str) -> bool:
        answer = QMessageBox.question(self._window, "Download CIFAR-10?", text)
        return answer == QMessageBox.StandardButton.Yes

    def offer_cifar_download(self) -> bool:
        """CIFAR-10 is not on disk: offer to download it (progress, Cancel; a cut download
        resumes next time), then show it. False: nothing shown now."""
        from models import cifar

        w = self._window
        target = cifar.cache_dir(w.data_dir)
        if self.converting.is_running or not self.ask_download(
                f"CIFAR-10 is not on disk. Download its binary version (about 162 MB, from www.cs.toronto.edu) "
                f"into {target} now? Offline, put cifar-10-binary.tar.gz there by hand."):
            return False
        self._asked = None
        spec = self.cifar_spec or cifar.CIFAR10

        def work(report, should_stop) -> None:
            try:
                ds = cifar.load_cifar10(data_dir=w.data_dir, download=True, should_cancel=should_stop,
                                        progress=lambda p: report(("byte", p.done_bytes, p.total_bytes or 0)),
                                        mirrors=self.cifar_mirrors, spec=spec)  # type: ignore[arg-type]
            except DownloadCancelled as exc:
                self._done_note = str(exc)
                return
            self._opened = (ds, "")

        self._start_long("Download CIFAR-10", "Downloading CIFAR-10…", 0, work)
        return False

    def _converted_progress(self, item: object) -> None:
        unit, done, total = item  # type: ignore[misc]
        dialog = self._dialog
        if dialog is not None:
            if unit == "image":
                dialog.setLabelText(f"Converting image {done:,} of {total:,}…")
            else:
                of = f" of {total / 1e6:,.1f}" if total else ""
                dialog.setLabelText(f"Downloading CIFAR-10: {done / 1e6:,.1f}{of} MB…")
            # Bytes in kB keep the bar's int range; 0 leaves it busy until the size is known.
            scale = 1 if unit == "image" else 1000
            dialog.setMaximum(max(1, total // scale) if total else 0)
            dialog.setValue(done // scale)  # a modal dialog's setValue runs the event loop: the run may end inside it

    def _converted(self, error: str) -> None:
        w = self._window
        if self._dialog is not None:
            self._dialog.reset()
            self._dialog.deleteLater()
            self._dialog = None
        if error or self._opened is None:
            if error:
                w.show_error("Cannot open these images" if self._asked is not None else "Cannot download CIFAR-10", error)
            elif self._done_note:
                w.statusBar().showMessage(self._done_note, STATUS_MS)
            return
        ds, summary = self._opened
        self._opened = None
        self.open_dataset(ds)
        if self._asked is not None:
            self.remember(self._asked)
        if summary:
            w.statusBar().showMessage(summary, STATUS_MS)

    def open_dataset(self, ds: Dataset) -> None:
        """Show a Dataset read whole in every panel (its first models follow)."""
        w = self._window
        w.wait_for_models()
        errors = self.show(startup_on(ds))
        self.after_change()
        if errors:
            w.show_error(f"{ds.title}: not everything could be shown", "\n\n".join(errors))

    # ------------------------------------------------------------ what was opened before

    def recent(self) -> list[Recent]:
        if self._settings is None:
            return []
        raw = self._settings.value(RECENT_KEY, [])
        items = raw if isinstance(raw, list) else [raw] if raw else []
        return [r for r in (Recent.from_json(str(t)) for t in items) if r is not None]

    def remember(self, item: Recent) -> None:
        if self._settings is None:
            return
        rest = [r for r in self.recent() if r.path != item.path]
        self._settings.setValue(RECENT_KEY, [r.to_json() for r in [item, *rest][:RECENT_MAX]])
        self._settings.sync()
        self.recent_changed.emit()

    def open_recent(self, item: Recent) -> bool:
        if not item.exists:
            self._window.show_error("Cannot open these images", f"{item.path}: no such file or folder any more")
            return False
        return self.open_images(item.path, size=item.size, colour=item.colour, fit=item.fit)

    def shutdown(self, timeout: float = 1.0) -> None:
        # The first models stop at their next batch, but not inside torch's import, which
        # a loaded machine can take seconds over: wait for it rather than leave a thread
        # running when the application ends.
        self.quick.shutdown(max(timeout, 15.0))
        self.converting.shutdown(timeout)
