"""The status bar's labels: the transient message, each plot's model (name, file, latent
size, test figures) and where the test images came from. Each is one line that elides
(at a word, with '…') when the window is too narrow for it, its whole text then in its
tooltip."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QStatusBar, QWidget

ELLIPSIS = "…"
# Below this share of the room a whole-word cut wastes, the text is cut at the width instead.
WORD_CUT_SHARE = 0.6
MESSAGE_SHARE = 0.45


class ShownModels(Protocol):
    """What the labels read of the models shown (the Explore panel)."""

    def is_loading(self, side: str) -> bool: ...

    def checkpoint(self, side: str) -> Any: ...

    def space(self, side: str) -> Any: ...


def figures_text(meta: dict) -> str:
    """A checkpoint's test figures as the status bar shows them ('test −ELBO 137.5')."""
    test = meta.get("test") if isinstance(meta, dict) else None
    if not isinstance(test, dict):
        return ""
    parts = []
    for key, label in (("nelbo", "−ELBO"), ("mse", "MSE")):
        value = test.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.4g}")
    train = meta.get("train")
    # A model trained on binarised pixels was scored on the binarised test set.
    binarised = isinstance(train, dict) and train.get("binarize") is True
    return (("binarised test " if binarised else "test ") + ", ".join(parts)) if parts else ""


def elide(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` if it fits in ``width`` pixels, else its longest run of whole words that
    fits with '…' after it, or (when whole words would leave much of the room empty)
    the text cut at the width."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    for n in range(len(words) - 1, 0, -1):
        head = " ".join(words[:n]).rstrip(" ,;:·—-|(")
        if not head:
            break
        candidate = head + ELLIPSIS
        used = metrics.horizontalAdvance(candidate)
        if used <= width:
            if used >= WORD_CUT_SHARE * width:
                return candidate
            break
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(0, width))


class ElidedLabel(QLabel):
    """A one-line label that asks for room for its whole text but can be squeezed to
    ``minimum`` pixels: then it shows the text elided (see ``elide``) and the whole
    text as its tooltip, above ``detail`` (a tooltip of its own, such as a file's path)."""

    def __init__(self, parent: QWidget | None = None, *, minimum: int = 80):
        super().__init__(parent)
        self._full = ""
        self._detail = ""
        self._minimum = minimum
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def full_text(self) -> str:
        """The whole text, however much of it shows."""
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def set_full_text(self, text: str, *, detail: str = "") -> None:
        self._full = " ".join(text.split("\n"))
        self._detail = detail
        self.updateGeometry()
        self._elide()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        m = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 2 * self.margin()
        return QSize(width + 1 if self._full else 0, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(min(self._minimum, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = elide(self._full, self.fontMetrics(), self.contentsRect().width() - 2 * self.margin())
        if shown != super().text():
            super().setText(shown)
        tips = [self._full] if shown != self._full else []
        if self._detail:
            tips.append(self._detail)
        self.setToolTip("\n".join(tips))


class StatusMessage(ElidedLabel):
    """The status bar's transient message (what ``showMessage`` says), laid out beside the
    permanent labels instead of painted under them, so a long one is elided at a word
    rather than cut where the first permanent label starts."""

    def __init__(self, bar: QStatusBar):
        super().__init__(minimum=160)
        self._bar = bar
        bar.messageChanged.connect(self.set_full_text)
        self.set_full_text(bar.currentMessage())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        # The message is what the user just did: while it shows it keeps up to
        # MESSAGE_SHARE of the bar, and the model labels give up their room first.
        hint = super().minimumSizeHint()
        share = int(MESSAGE_SHARE * self._bar.width())
        return QSize(min(self.sizeHint().width(), max(hint.width(), share)), hint.height())


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class ModelStatus:
    """Permanent labels in ``bar``: one per side of the Explore panel, then the data source."""

    def __init__(self, bar: QStatusBar, *, sides: tuple[str, ...], model_name: Callable[[object, str], str]):
        self._bar = bar
        self._model_name = model_name
        # The message is the first permanent widget: Qt then has no room left of it to
        # paint the message itself, and never hides it as it hides normal widgets.
        self.message = StatusMessage(bar)
        bar.addPermanentWidget(self.message, 1)
        self.model_labels: dict[str, ElidedLabel] = {}
        for side in sides:
            label = ElidedLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            bar.addPermanentWidget(label)
            bar.addPermanentWidget(_separator())
            self.model_labels[side] = label
        self.data_label = ElidedLabel()
        bar.addPermanentWidget(self.data_label)

    def model_text(self, explore: ShownModels, side: str) -> str:
        name = self._model_name
        if explore.is_loading(side):
            return f"{name(None, side)}: loading…"
        ckpt = explore.checkpoint(side)
        if ckpt is None:
            return f"{name(None, side)}: no model"
        space = explore.space(side)
        parts = [f"{name(ckpt, side)}: {ckpt.name}", f"latent {ckpt.config.latent}"]
        if space is not None and space.is_projected:
            parts[-1] += " (PCA plane)"
        figs = figures_text(ckpt.meta)
        if figs:
            parts.append(figs)
        return " · ".join(parts)

    def update(self, explore: ShownModels, data_source: str) -> None:
        for side, label in self.model_labels.items():
            ckpt = explore.checkpoint(side)
            label.set_full_text(self.model_text(explore, side), detail=str(ckpt.path) if ckpt is not None and ckpt.path else "")
        self.data_label.set_full_text(f"Data: {data_source}")

    def text(self) -> str:
        """Everything the status bar says (whole, however much of it shows), for tests and logs."""
        labels = (*self.model_labels.values(), self.data_label)
        return " | ".join([self._bar.currentMessage(), *(label.full_text() for label in labels)])
