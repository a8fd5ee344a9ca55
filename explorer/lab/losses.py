"""Lab experiment: MSE, L1 and cosine similarity, on two vectors and on a digit's altered copies."""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGridLayout,
        QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.protocol import PanelDefaults
from explorer.startup import DatasetContext, empty_context
from explorer.widgets.fitting import WrappingLabel
from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.widgets.theme import LIGHT, Theme, style_plot
from models import lab
from models.data import unit_floats

DEFAULT_X = "3, 4"
DEFAULT_X_HAT = "-4, -3"

INTRO = (
    "A loss compares a reconstruction <i>x̂</i> with its target <i>x</i>. <b>MSE</b> and <b>L1</b> measure distance "
    "(0 means equal, larger is worse); <b>cosine similarity</b> measures direction only (1 same direction, "
    "−1 opposite) and ignores length. Type two vectors; the lecture's example <i>x</i> = (3, 4), "
    "<i>x̂</i> = (−4, −3) "
    "points almost the opposite way."
)

DIGIT_NOTE = (
    "The same three numbers between a test digit (<i>x</i>) and altered copies of it (<i>x̂</i>), each image "
    "seen as one vector of 784 pixels. Each row ranks the copies from the most to the least similar by one loss."
)


class _LossCard(QFrame):
    """One loss: its name and value on a line, its range underneath."""

    def __init__(self, info: lab.LossInfo):
        super().__init__()
        self.info = info
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(f"{info.description}\nRange {info.range_text}; {info.better} means closer.")
        layout = QGridLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setVerticalSpacing(0)
        self.title = QLabel(f"<b>{info.title}</b>")
        self.value = QLabel("–")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.range = QLabel(f"range {info.range_text}, {info.better} is closer")
        layout.addWidget(self.title, 0, 0)
        layout.addWidget(self.value, 0, 1)
        layout.addWidget(self.range, 1, 0, 1, 2)

    def set_value(self, value: float | None) -> None:
        if value is None:
            self.value.setText("–")
        elif math.isnan(value):
            self.value.setText("undefined")
            self.value.setToolTip("A zero vector has no direction, so its cosine with anything is undefined.")
        else:
            self.value.setText(lab.format_loss(value))
            self.value.setToolTip("")

    def apply_theme(self, theme: Theme) -> None:
        self.range.setStyleSheet(f"color: {theme.muted};")


class LossesExperiment(QWidget, PanelDefaults):
    """Two editable vectors and their losses; a digit against its altered copies, ranked by each loss."""

    status_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext | None = None,
        theme: Theme = LIGHT,
    ):
        super().__init__(parent)
        self.dataset = dataset if dataset is not None else empty_context()
        self.images = self.dataset.images
        self.labels = self.dataset.labels
        self.theme = theme
        self.values: lab.LossValues | None = None
        self._error = ""
        self.table: lab.AlterationTable | None = None
        self._rng = np.random.default_rng()
        self._build_ui()
        self.apply_theme(theme)
        self.recompute_vectors()
        self.show_digit(0)

    # ------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(4)
        root.addWidget(self._build_vector_box(), 0)
        root.addWidget(self._build_digit_box(), 1)

    def _build_vector_box(self) -> QGroupBox:
        box = QGroupBox("Two vectors")
        row = QHBoxLayout(box)
        left = QVBoxLayout()
        # Wrapping labels keep the lines their text takes: plain ones are given fewer in a
        # small window and run over the widgets below them.
        left.addWidget(WrappingLabel(INTRO, lines=3))
        form = QFormLayout()
        self.x_edit = QLineEdit(DEFAULT_X)
        self.x_edit.setToolTip("The target x: numbers separated by spaces or commas, any length")
        self.x_hat_edit = QLineEdit(DEFAULT_X_HAT)
        self.x_hat_edit.setToolTip("The reconstruction x̂: as many numbers as x")
        for edit in (self.x_edit, self.x_hat_edit):
            edit.textChanged.connect(self.recompute_vectors)
        form.addRow(QLabel("<i>x</i>"), self.x_edit)
        form.addRow(QLabel("<i>x̂</i>"), self.x_hat_edit)
        left.addLayout(form)
        self.reset_button = QPushButton("Lecture example")
        self.reset_button.setToolTip("Restore x = (3, 4), x̂ = (−4, −3)")
        self.reset_button.clicked.connect(self.reset_vectors)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        left.addLayout(buttons)
        self.error_label = WrappingLabel()
        self.error_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label.setVisible(False)
        left.addWidget(self.error_label)
        left.addStretch(1)
        row.addLayout(left, 3)

        cards = QVBoxLayout()
        cards.setSpacing(4)
        self.cards = {info.name: _LossCard(info) for info in lab.LOSSES}
        for card in self.cards.values():
            cards.addWidget(card)
        row.addLayout(cards, 2)

        self.vector_plot = pg.PlotWidget()
        # Square at most 230 px, down to what a 1000 x 650 window leaves it.
        self.vector_plot.setMinimumSize(170, 150)
        self.vector_plot.setMaximumHeight(230)
        pi = self.vector_plot.getPlotItem()
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.showGrid(x=True, y=True, alpha=0.25)
        self.vector_plot.setAspectLocked(True)
        self.vector_plot.setMouseEnabled(False, False)
        self.vector_plot.setToolTip("x and x̂ drawn from the origin when both have two entries: "
                                    "the cosine is the cosine of the angle between the arrows")
        self.x_curve = self.vector_plot.plot([], [], name="x")
        self.x_hat_curve = self.vector_plot.plot([], [], name="x̂")
        self.diff_curve = self.vector_plot.plot([], [])
        self.plot_note = pg.TextItem("", anchor=(0.5, 0.5))
        self.x_tip = pg.TextItem(html="<i>x</i>", anchor=(0.5, 0.5))
        self.x_hat_tip = pg.TextItem(html="<i>x̂</i>", anchor=(0.5, 0.5))
        for item in (self.plot_note, self.x_tip, self.x_hat_tip):
            self.vector_plot.addItem(item)
        row.addWidget(self.vector_plot, 2)
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        return box

    def _build_digit_box(self) -> QGroupBox:
        box = QGroupBox("A digit and altered copies")
        outer = QVBoxLayout(box)
        outer.addWidget(WrappingLabel(DIGIT_NOTE, lines=2))
        body = QHBoxLayout()
        outer.addLayout(body, 1)

        # Left: the original and which one it is.
        left = QVBoxLayout()
        self.original_view = ImageView(caption="original x", placeholder="no images", minimum=100)
        self.original_view.setToolTip("The test image every copy is compared with")
        left.addWidget(self.original_view)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Test image"))
        self.index_spin = QSpinBox()
        count = 0 if self.images is None else len(self.images)
        self.index_spin.setRange(0, max(0, count - 1))
        self.index_spin.setToolTip(f"Which of the {count:,} test images to alter")
        self.index_spin.valueChanged.connect(self.show_digit)
        controls.addWidget(self.index_spin, 1)
        left.addLayout(controls)
        self.random_button = QPushButton("Random digit")
        self.random_button.setToolTip("Pick a test image at random")
        self.random_button.clicked.connect(self.random_digit)
        left.addWidget(self.random_button)
        left.addStretch(1)
        left_host = QWidget()
        left_host.setLayout(left)
        left_host.setFixedWidth(176)
        body.addWidget(left_host)

        # Middle: one row of copies per loss, most similar first.
        strips = QVBoxLayout()
        strips.setSpacing(6)
        self.strips: dict[str, ImageStrip] = {}
        width = 0
        for info in lab.LOSSES:
            strip = ImageStrip(label=f"{info.title}")
            strip.setToolTip(f"The copies ranked by {info.title}, most similar first ({info.better} is closer)")
            self.strips[info.name] = strip
            strips.addWidget(strip, 1)
            width = max(width, strip.natural_label_width())
        for strip in self.strips.values():
            strip.set_min_label_width(width + 8)
        heading = QLabel("most similar  →  least similar")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        strips.insertWidget(0, heading)
        body.addLayout(strips, 3)

        # Right: the numbers and what they say.
        right = QVBoxLayout()
        self.loss_table = QTableWidget(len(lab.ALTERATIONS), len(lab.LOSSES))
        self.loss_table.setHorizontalHeaderLabels([i.title for i in lab.LOSSES])
        self.loss_table.setVerticalHeaderLabels([a.title for a in lab.ALTERATIONS])
        for row, alt in enumerate(lab.ALTERATIONS):
            self.loss_table.verticalHeaderItem(row).setToolTip(alt.description)
        self.loss_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.loss_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.loss_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.loss_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.loss_table.setToolTip("Each loss between the original (x) and the copy (x̂); "
                                   "the number in brackets is the copy's rank by that loss (1 = most similar)")
        self.loss_table.resizeRowsToContents()
        height = self.loss_table.horizontalHeader().height() + sum(
            self.loss_table.rowHeight(r) for r in range(self.loss_table.rowCount())) + 2 * self.loss_table.frameWidth()
        self.loss_table.setFixedHeight(height + 2)
        right.addWidget(self.loss_table)
        self.findings = WrappingLabel(lines=3)
        self.findings.setTextFormat(Qt.TextFormat.RichText)
        right.addWidget(self.findings)
        right.addStretch(1)
        right_host = QWidget()
        right_host.setLayout(right)
        right_host.setFixedWidth(480)
        body.addWidget(right_host)
        return box

    # ------------------------------------------------------------ vectors

    def reset_vectors(self) -> None:
        self.x_edit.setText(DEFAULT_X)
        self.x_hat_edit.setText(DEFAULT_X_HAT)

    def recompute_vectors(self, *args) -> None:
        """Parse both boxes and show the three losses, or say what is wrong with the input."""
        try:
            x = lab.parse_vector(self.x_edit.text())
        except lab.VectorError as exc:
            return self._vector_error(f"x: {exc}")
        try:
            x_hat = lab.parse_vector(self.x_hat_edit.text())
        except lab.VectorError as exc:
            return self._vector_error(f"x̂: {exc}")
        try:
            values = lab.vector_losses(x, x_hat)
        except lab.VectorError as exc:
            return self._vector_error(str(exc))
        self.values = values
        self.error_label.setVisible(False)
        for name, card in self.cards.items():
            card.set_value(values.as_dict()[name])
        self._draw_vectors(x, x_hat)

    def _vector_error(self, message: str) -> None:
        self.values = None
        self._error = message
        text = html.escape(message, quote=False).replace("x̂", "<i>x̂</i>")
        self.error_label.setText(text if message.startswith("x") else text[0].upper() + text[1:])
        self.error_label.setVisible(True)
        for card in self.cards.values():
            card.set_value(None)
        self._draw_vectors(None, None)

    def error_text(self) -> str:
        """The inline message about bad input, as plain text ('' when the input is fine)."""
        return self._error if not self.error_label.isHidden() else ""

    def _draw_vectors(self, x: np.ndarray | None, x_hat: np.ndarray | None) -> None:
        two_d = x is not None and x_hat is not None and len(x) == 2
        if not two_d:
            for curve in (self.x_curve, self.x_hat_curve, self.diff_curve):
                curve.setData([], [])
            self.plot_note.setText("drawn for 2-D vectors" if x is not None else "")
            self.x_tip.setVisible(False)
            self.x_hat_tip.setVisible(False)
            self.plot_note.setPos(0, 0)
            self.vector_plot.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0.1)
            return
        self.plot_note.setText("")
        r = max(1.0, float(np.abs(np.concatenate([x, x_hat])).max()))
        for tip, v in ((self.x_tip, x), (self.x_hat_tip, x_hat)):
            norm = float(np.hypot(*v))
            # Labels sit just beyond the arrow tips.
            offset = v / norm * 0.12 * r if norm > 0 else np.zeros(2)
            tip.setPos(float(v[0] + offset[0]), float(v[1] + offset[1]))
            tip.setVisible(True)
        self.x_curve.setData([0, x[0]], [0, x[1]])
        self.x_hat_curve.setData([0, x_hat[0]], [0, x_hat[1]])
        self.diff_curve.setData([x[0], x_hat[0]], [x[1], x_hat[1]])
        self.vector_plot.setRange(xRange=(-r, r), yRange=(-r, r), padding=0.1)

    # ------------------------------------------------------------ digits

    def random_digit(self) -> None:
        if self.images is not None and len(self.images):
            self.index_spin.setValue(int(self._rng.integers(len(self.images))))

    def show_digit(self, index: int) -> None:
        """Alter test image ``index`` and rank the copies by each loss."""
        if self.images is None or len(self.images) == 0:
            self.findings.setText("No test images are loaded, so there is no digit to alter.")
            return
        image = unit_floats(self.images[index])
        self.table = table = lab.alteration_table(image, seed=int(index))
        label = f" (a {int(self.labels[index])})" if self.labels is not None else ""
        self.original_view.set_image(image, f"original x{label}")
        titles = {a.name: a.title for a in lab.ALTERATIONS}
        for col, info in enumerate(lab.LOSSES):
            ranking = table.ranking(info.name)
            for row, name in enumerate(table.names):
                value = table.value(name, info.name)
                item = QTableWidgetItem(f"{lab.format_loss(value)}  ({ranking.index(name) + 1})")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.loss_table.setItem(row, col, item)
            images = [table.images[table.names.index(n)] for n in ranking]
            captions = [f"{titles[n]} {table.value(n, info.name):.3g}" for n in ranking]
            self.strips[info.name].set_images(images, captions)
        self.findings.setText(self._findings(table))
        self.status_changed.emit(f"Losses: test image {index}{label} against {len(table.names)} altered copies")

    def _findings(self, table: lab.AlterationTable) -> str:
        """What the numbers say, in sentences built from the numbers themselves."""
        def rank(name: str, loss: str) -> int:
            return table.ranking(loss).index(name) + 1

        n = len(table.names)
        titles = {a.name: a.title.lower() for a in lab.ALTERATIONS}
        dim_cos = table.value("dimmer", "cosine")
        parts = [
            f"Cosine similarity of the dimmer copy is {lab.format_loss(dim_cos)}: halving every pixel keeps the "
            f"direction, so cosine does not notice, while MSE is {lab.format_loss(table.value('dimmer', 'mse'))}.",
            f"Shifting by one pixel costs MSE {lab.format_loss(table.value('shifted', 'mse'))} (rank "
            f"{rank('shifted', 'mse')} of {n}): the digit looks the same, but pixel by pixel much of its ink moved.",
        ]
        last = {info.title: titles[table.ranking(info.name)[-1]] for info in lab.LOSSES}
        if len(set(last.values())) == 1:
            parts.append(f"The {next(iter(last.values()))} copy is the least similar by all three.")
        else:
            parts.append("Least similar: " + ", ".join(f"the {t} copy by {loss}" for loss, t in last.items()) + ".")
        if rank("noisy", "l1") != rank("noisy", "mse"):
            parts.append(
                f"L1 ranks the noisy copy {rank('noisy', 'l1')} and MSE ranks it {rank('noisy', 'mse')}: "
                "squaring makes many small errors count less in MSE than in L1.")
        return " ".join(parts)

    # ------------------------------------------------------------ lab hooks

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        style_plot(self.vector_plot, theme)
        self.x_curve.setPen(pg.mkPen(theme.foreground, width=3))
        self.x_hat_curve.setPen(pg.mkPen(theme.crosshair, width=3))
        self.diff_curve.setPen(pg.mkPen(theme.muted, width=1, style=Qt.PenStyle.DashLine))
        self.plot_note.setColor(theme.muted)
        for card in self.cards.values():
            card.apply_theme(theme)
        for tip, text, color in ((self.x_tip, "x", theme.foreground), (self.x_hat_tip, "x̂", theme.crosshair)):
            tip.setHtml(f"<span style='color:{color}; font-size:12pt'><i>{text}</i></span>")
        self.error_label.setStyleSheet(f"color: {'#ff6b6b' if theme.is_dark else '#c62828'};")
        self.vector_plot.setTitle(
            f"<span style='color:{theme.foreground}'><i>x</i></span> and "
            f"<span style='color:{theme.crosshair}'><i>x̂</i></span>", color=theme.foreground, size="10pt")

    def demo(self) -> None:
        self.reset_vectors()
        self.index_spin.setValue(0)
        self.show_digit(0)

    def shutdown(self, timeout: float = 1.0) -> None:
        """Nothing runs in the background here."""
