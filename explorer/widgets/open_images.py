"""File › Open images…: a small dialog for a folder or a CSV / NPZ / NPY file and how to
read it (size, colour, fit), remembering the last choices."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

SIZES = (28, 32, 64)
COLOURS = (("As the images are", None), ("Colour", True), ("Grey", False))
FITS = (("Pad to a square (keeps the whole image)", "pad"), ("Crop the centre square", "crop"))


@dataclass(frozen=True)
class ImagesChoice:
    path: str
    size: int | None
    colour: bool | None
    fit: str | None


class OpenImagesDialog(QDialog):
    """Path (Folder… or File…), then a folder's size, colour and fit; files keep their own size."""

    def __init__(self, parent: QWidget | None = None, *, settings: QSettings | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open images")
        self._settings = settings
        self.path = QLineEdit()
        self.path.setPlaceholderText("A folder of images, or a .csv / .npz / .npy file")
        self.path.setMinimumWidth(340)
        folder, file = QPushButton("Folder…"), QPushButton("File…")
        folder.clicked.connect(self._pick_folder)
        file.clicked.connect(self._pick_file)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(folder)
        row.addWidget(file)
        self.size = QComboBox()
        for s in SIZES:
            self.size.addItem(f"{s} x {s}", s)
        self.size.setToolTip("A folder's images are converted to this size; 32 and 64 can train convolutional models")
        self.colour = QComboBox()
        for title, value in COLOURS:
            self.colour.addItem(title, value)
        self.fit = QComboBox()
        for title, value in FITS:
            self.fit.addItem(title, value)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Images", row)
        form.addRow("Size (folders)", self.size)
        form.addRow("Colour", self.colour)
        form.addRow("Fit (folders)", self.fit)
        form.addRow(buttons)
        if settings is not None:
            self.path.setText(settings.value("open_images/path", "", type=str))
            self.size.setCurrentIndex(max(0, self.size.findData(settings.value("open_images/size", 32, type=int))))
            self.colour.setCurrentIndex(settings.value("open_images/colour", 0, type=int))
            self.fit.setCurrentIndex(settings.value("open_images/fit", 0, type=int))

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A folder of images", self.path.text())
        if path:
            self.path.setText(path)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A file of images", self.path.text(), "Images (*.csv *.npz *.npy)")
        if path:
            self.path.setText(path)

    def choice(self) -> ImagesChoice:
        path = self.path.text().strip()
        is_file = path.lower().endswith((".csv", ".npz", ".npy"))
        return ImagesChoice(path, None if is_file else self.size.currentData(), self.colour.currentData(),
                            None if is_file else self.fit.currentData())

    def remember(self) -> None:
        if self._settings is not None:
            s = self._settings
            s.setValue("open_images/path", self.path.text())
            s.setValue("open_images/size", self.size.currentData())
            s.setValue("open_images/colour", self.colour.currentIndex())
            s.setValue("open_images/fit", self.fit.currentIndex())


def ask_images(parent: QWidget, settings: QSettings | None) -> ImagesChoice | None:
    dialog = OpenImagesDialog(parent, settings=settings)
    if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.path.text().strip():
        return None
    dialog.remember()
    return dialog.choice()
