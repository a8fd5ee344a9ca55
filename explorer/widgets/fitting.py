"""Widgets that lay out safely where a layout does not ask for height-for-width (tab
pages, splitters): a word-wrapped label that keeps the height its text needs, and an
image view that takes the height it is given."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from explorer.widgets.image_view import ImageView


class WrappingLabel(QLabel):
    """A word-wrapped QLabel whose minimum height follows its text at its width.

    Tab pages and splitters do not ask their children for height-for-width, so a
    plain wrapped label there can be given fewer lines than its text takes and run
    over the widgets below it. ``lines`` is the room kept before the label knows its
    width (what the window's minimum size counts on)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, lines: int = 1):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Exactly the height its text takes: spare room goes to the widgets around it.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._floor = lines * QFontMetrics(self.font()).lineSpacing() + 2
        self.setMinimumHeight(self._floor)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt API)
        # Its minimum height already follows its width; reporting height-for-width too
        # would make box layouts mix the two and hand a neighbour less than its minimum.
        return False

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(super().sizeHint().width(), self.needed_height())

    def needed_height(self) -> int:
        """The height the text takes at the label's current width."""
        return max(self._floor, self.heightForWidth(self.width()))

    def _fit(self) -> None:
        if self.minimumHeight() != self.needed_height():
            self.setMinimumHeight(self.needed_height())

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()


class FittingImageView(ImageView):
    """An ImageView that takes the height its layout gives it: one that asks for a
    square (height-for-width) overflows its box where a splitter or a tab page
    does not ask, and lies under the widgets below it; the image is fitted into
    whatever box it gets anyway."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt API)
        return False
