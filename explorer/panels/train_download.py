"""DownloadRow: the Train panel's Download button, progress bar and Cancel, driving a
dataset download on a BackgroundRun (explorer/background/download.py)."""
from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from explorer.background.download import DOWNLOAD_TIMEOUT_S, download_run, download_work
from models import data

CANCELLED = "Download cancelled."
COMPLETE = "Download complete."


class DownloadRow(QWidget):
    """Download (when idle) or a progress bar and Cancel (while a download runs)."""

    # outcome ("complete", "cancelled" or "failed") and the sentence to show
    finished = Signal(str, str)

    def __init__(self, parent: QWidget | None = None, *, mirrors: tuple[str, ...] | None = None):
        super().__init__(parent)
        self._mirrors = mirrors
        self._run = download_run(self)
        self._run.item_ready.connect(self._progress)
        self._run.finished.connect(self._finished)

        self.button = QPushButton("Download")
        self.button.setToolTip("Download the dataset from its public mirrors into the cache folder")
        self.progress = QProgressBar()
        self.progress.setToolTip("Download progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download (what is downloaded so far is kept and resumed later)")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self._show_busy(False)

    @property
    def is_busy(self) -> bool:
        return self._run.is_running

    def start(self, name: str, data_dir: str) -> None:
        """Download dataset ``name`` into ``data_dir``; nothing if a download is going."""
        if self._run.is_running:
            return
        self.progress.setRange(0, 0)
        self.progress.setFormat("connecting…")
        self._run.start_task(download_work(name, data_dir, mirrors=self._mirrors))
        self._show_busy(True)

    def cancel(self) -> None:
        if self._run.is_running:
            self._run.stop()
            self.progress.setFormat("cancelling…")

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop and join the download. It sees the stop flag between blocks, so this is
        short; only a stalled mirror takes longer, up to the socket timeout."""
        self._run.shutdown(timeout + DOWNLOAD_TIMEOUT_S + 1)

    def _show_busy(self, busy: bool) -> None:
        self.button.setVisible(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    @Slot(object)
    def _progress(self, p: data.DownloadProgress) -> None:
        text = f"{p.filename} ({p.file_index + 1}/{p.file_count})"
        done, total = int(p.done_bytes), int(p.total_bytes or 0)
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{text}: {done / 1e6:.1f}/{total / 1e6:.1f} MB")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{text}: {done / 1e6:.1f} MB")

    @Slot(str)
    def _finished(self, error: str) -> None:
        self._show_busy(False)
        if error:
            self.finished.emit("failed", error)
        elif self._run.stop_requested:
            self.finished.emit("cancelled", CANCELLED)
        else:
            self.finished.emit("complete", COMPLETE)
