"""One model drawn as a strip with its real numbers: input -> encoder layers -> the
code (a VAE's mu, log sigma^2, eps and z = mu + sigma * eps) -> decoder layers ->
output and loss, with an optional row of one training step's gradients under it.

The views are made once (again only when the model's layer count changes) and
refilled on every ``show``, so following a drag costs a repaint, not a rebuild."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFontMetrics
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from explorer.widgets.actions import tool_button
from explorer.widgets.computation_views import (
    GRADIENT_MAP,
    HeatMapView,
    LatentInset,
    num,
    paren,
    short,
    vector,
)
from explorer.widgets.fitting import FittingImageView, WrappingLabel
from explorer.widgets.theme import LIGHT, Theme
from models.computation import Gradients, Trace

REPARAMETERISATION = (
    "Gradients flow through μ and σ because ε is drawn outside the network; "
    "sampling z ~ N(μ, σ²) directly would block them."
)
SUBSCRIPTS = "₁₂₃₄₅₆₇₈₉"
SHOWN_DIMS = 2  # the arithmetic is written out for this many dimensions of z
# The longest line of the code column: its width is the same in both strips, so their columns line up.
WIDEST_LINE = "z₂ = −0.000 + 0.000 × (−0.000) = −0.000"
INSET_SIZE = 100
STAGE_MINIMUM = 56


def code_width(metrics: QFontMetrics) -> int:
    """The code column's width: its widest line of numbers, the inset and the gaps between."""
    return int(metrics.horizontalAdvance(WIDEST_LINE) * 1.08) + INSET_SIZE + 16


def layer_caption(name: str, a: np.ndarray) -> str:
    """'enc 1 · 512' over 'max 2.39': short enough for a narrow column."""
    short_name = name.replace("encoder", "enc").replace("decoder", "dec")
    return f"{short_name} · {a.size}\nmax {num(float(a.max()), 2)}"


def layer_tip(name: str, a: np.ndarray) -> str:
    return (f"{name}: {a.size} units after ReLU, {int((a > 0).sum())} of them on (> 0), the largest {float(a.max()):.3f}; "
            "colours run from 0 to the largest")


def _sub(i: int) -> str:
    return SUBSCRIPTS[i] if i < len(SUBSCRIPTS) else f"_{i + 1}"


class ComputationStrip(QWidget):
    """The strip of one model (see the module's docstring). ``resample`` (a VAE's):
    the action whose button sits next to eps."""

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = LIGHT, resample: QAction | None = None):
        super().__init__(parent)
        self._theme = theme
        self.trace: Trace | None = None
        self.gradients: Gradients | None = None
        self._gradients_on = False
        self._focus, self._span = "", 1.0
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(2)
        top = QHBoxLayout()
        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.focus_label = QLabel()
        self.focus_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.focus_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.title_label)
        top.addWidget(self.focus_label, 1)
        root.addLayout(top)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(2)
        self.grid.setVerticalSpacing(2)
        root.addLayout(self.grid, 1)
        bottom = QHBoxLayout()
        self.sentence_label = WrappingLabel()
        self.sentence_label.setToolTip("The reparameterisation trick: z = μ + σ·ε is a differentiable function of μ and σ")
        self.loss_label = QLabel()
        self.loss_label.setTextFormat(Qt.TextFormat.RichText)
        self.loss_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.loss_label.setToolTip("The loss the model is trained on, for this image (and this ε), as models.losses computes it")
        bottom.addWidget(self.sentence_label, 1)
        bottom.addWidget(self.loss_label)
        root.addLayout(bottom)

        self.input_view = FittingImageView(caption="input x", placeholder="no input", minimum=STAGE_MINIMUM)
        self.output_view = FittingImageView(caption="output g(z)", placeholder="—", minimum=STAGE_MINIMUM)
        self.output_gradient = HeatMapView(minimum=STAGE_MINIMUM - 16)
        self.input_view.setToolTip("The image the encoder reads (28 x 28, values in [0, 1])")
        self.output_view.setToolTip("What the decoder makes of z: the sigmoid of its last layer")
        self.code_box = QWidget()
        self.code_box.setFixedWidth(code_width(self.fontMetrics()))
        box = QGridLayout(self.code_box)
        box.setContentsMargins(4, 0, 4, 0)
        box.setSpacing(2)
        self.numbers_label = QLabel()
        self.numbers_label.setTextFormat(Qt.TextFormat.RichText)
        self.numbers_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.numbers_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.inset = LatentInset(theme=theme)
        self.inset.setFixedSize(INSET_SIZE, INSET_SIZE)
        self.inset.setToolTip("The code's first two dimensions among the test codes (grey); for the VAE, zoomed "
                              "on the posterior q(z|x): μ (dot), its 1σ and 2σ ellipses, and z = μ + σ·ε (cross)")
        box.addWidget(self.numbers_label, 0, 0, 2, 1)
        box.addWidget(self.inset, 0, 1)
        self.resample_button = None
        if resample is not None:
            self.resample_button = tool_button(resample)
            box.addWidget(self.resample_button, 1, 1, Qt.AlignmentFlag.AlignHCenter)
        box.setColumnStretch(0, 1)
        self.code_gradient_label = QLabel()
        self.code_gradient_label.setTextFormat(Qt.TextFormat.RichText)
        self.code_gradient_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.code_gradient_label.setFixedWidth(self.code_box.width())
        self.code_gradient_label.setWordWrap(True)
        self.gradient_note = QLabel("one step:\n∂a = ‖∂L/∂a‖\n∂W = mean\n|∂L/∂W|")
        self.gradient_note.setToolTip("The gradients one training step on this image would apply, computed without "
                                      "changing any weight: |∂L/∂a| for each unit of each layer, its norm (∂a) and "
                                      "the mean |∂L/∂W| of the weights into the layer (∂W)")
        self.gradient_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.gradient_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.encoder_views: list[HeatMapView] = []
        self.decoder_views: list[HeatMapView] = []
        self.gradient_views: dict[str, HeatMapView] = {}
        self.arrows: list[QLabel] = []
        self._layout_for(2, 2)
        self.apply_theme(theme)

    # ------------------------------------------------------------ layout

    def _arrow(self) -> QLabel:
        a = QLabel("→")
        a.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = a.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        a.setFont(font)
        a.setFixedWidth(a.fontMetrics().horizontalAdvance("→") + 4)
        return a

    def _layout_for(self, n_enc: int, n_dec: int) -> None:
        """(Re)build the grid for a model with these many hidden layers each side."""
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None and w not in (self.input_view, self.output_view, self.code_box, self.code_gradient_label,
                                           self.gradient_note, self.output_gradient):
                w.deleteLater()
        self.encoder_views = [HeatMapView(placeholder="not run", minimum=STAGE_MINIMUM) for _ in range(n_enc)]
        self.decoder_views = [HeatMapView(placeholder="—", minimum=STAGE_MINIMUM) for _ in range(n_dec)]
        self.gradient_views = {}
        self.arrows = []
        col = 0

        def stage(w: QWidget, gradient: QWidget | None, stretch: int = 2) -> None:
            nonlocal col
            if col:
                arrow = self._arrow()
                self.arrows.append(arrow)
                self.grid.addWidget(arrow, 0, col)
                self.grid.setColumnStretch(col, 0)
                col += 1
            self.grid.addWidget(w, 0, col)
            if gradient is not None:
                self.grid.addWidget(gradient, 1, col)
            self.grid.setColumnStretch(col, stretch)
            col += 1

        stage(self.input_view, self.gradient_note)
        for i, v in enumerate(self.encoder_views):
            g = self.gradient_views[f"encoder {i + 1}"] = HeatMapView(minimum=STAGE_MINIMUM - 16)
            stage(v, g)
        stage(self.code_box, self.code_gradient_label, 0)
        for i, v in enumerate(self.decoder_views):
            g = self.gradient_views[f"decoder {i + 1}"] = HeatMapView(minimum=STAGE_MINIMUM - 16)
            stage(v, g)
        self.gradient_views["output"] = self.output_gradient
        stage(self.output_view, self.output_gradient)
        for v in (*self.encoder_views, *self.decoder_views, *self.gradient_views.values()):
            v.apply_theme(self._theme)
        # As tall as they are wide at most: a taller window's spare room goes below the strips.
        small = self.font()
        small.setPointSizeF(self.font().pointSizeF() * 0.9)
        for v in (self.input_view, self.output_view, *self.encoder_views, *self.decoder_views, *self.gradient_views.values()):
            v.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            v.setFont(small)
        self.gradient_note.setFont(small)
        self._fit_heights()
        for a in self.arrows:
            a.setStyleSheet(f"color: {self._theme.muted}")
        self._show_gradient_row()

    def set_gradients_visible(self, on: bool) -> None:
        self._gradients_on = on
        self._show_gradient_row()

    def _show_gradient_row(self) -> None:
        # Without gradients (the toggle is off, or the strip starts at z) only the reason shows.
        views = self._gradients_on and self.gradients is not None
        for w in (*self.gradient_views.values(), self.gradient_note):
            w.setVisible(views)
        self.code_gradient_label.setVisible(self._gradients_on)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit_heights()

    def _fit_heights(self) -> None:
        """No view taller than its column is wide (plus its caption): the images are
        square, so more height would only be blank inside the strip."""
        stages = 2 + len(self.encoder_views) + len(self.decoder_views)
        gaps = self.grid.horizontalSpacing() * (2 * stages)
        free = self.width() - self.code_box.width() - sum(a.width() for a in self.arrows) - gaps
        side = max(STAGE_MINIMUM, free // max(1, stages))
        caption = self.fontMetrics().lineSpacing() * 2 + 8
        for v in (self.input_view, self.output_view, *self.encoder_views, *self.decoder_views):
            v.setMaximumHeight(side + caption)
        for v in self.gradient_views.values():
            v.setMaximumHeight(int(side * 0.8) + caption)

    # ------------------------------------------------------------ contents

    def set_title(self, name: str, title: str) -> None:
        self.title_label.setText(f"<b>{name}</b> · {title}")

    def set_codes(self, codes: np.ndarray | None) -> None:
        """The model's test codes, drawn faintly in the inset."""
        self.inset.set_codes(codes)

    def clear(self, message: str) -> None:
        """Nothing to show (no model, an empty canvas): say why."""
        self.trace = self.gradients = None
        self.input_view.set_image(None)
        self.input_view.set_placeholder(message)
        for v in (*self.encoder_views, *self.decoder_views, *self.gradient_views.values()):
            v.set_values(None, "")
        self.output_view.set_image(None)
        self.numbers_label.setText(f"<span style='color:{self._theme.muted}'>{message}</span>")
        self.inset.show_code(None)
        self.loss_label.setText("")
        self.code_gradient_label.setText("")
        self.sentence_label.setText("")
        self.focus_label.setText("")
        self.sync_resample()

    def show_trace(self, trace: Trace, *, focus: str, gradients: Gradients | None = None, span: float = 1.0) -> None:
        """Fill the strip with ``trace``'s numbers (and ``gradients``' row)."""
        # A trace from z has no encoder layers to count: the strip keeps the ones it has.
        n_enc = len(self.encoder_views) if trace.starts_at_z else len(trace.encoder)
        if n_enc != len(self.encoder_views) or len(trace.decoder) != len(self.decoder_views):
            self._layout_for(n_enc, len(trace.decoder))
        self.trace, self.gradients, self._focus, self._span = trace, gradients, focus, span
        self.focus_label.setText(f"<span style='color:{self._theme.muted}'>{focus}</span>")
        at_z = trace.starts_at_z
        self.input_view.set_placeholder("—")
        self.input_view.set_image(None if at_z else trace.input, "no input" if at_z else "input x")
        for i, v in enumerate(self.encoder_views):
            if at_z or i >= len(trace.encoder):
                v.set_placeholder("—")
                v.set_values(None, f"enc {i + 1}\nnot run")
                continue
            name, a = trace.encoder[i]
            v.set_values(a, layer_caption(name, a))
            v.setToolTip(layer_tip(name, a))
        for v, (name, a) in zip(self.decoder_views, trace.decoder, strict=True):
            v.set_values(a, layer_caption(name, a))
            v.setToolTip(layer_tip(name, a))
        self.output_view.set_image(np.clip(trace.output, 0.0, 1.0))
        self.numbers_label.setText(self._numbers(trace))
        if trace.is_vae and not at_z:
            self.inset.show_code(trace.z, mu=trace.mu, sigma=trace.sigma, span=span)
        else:
            self.inset.show_code(trace.z, span=span)
        self.loss_label.setText(self._loss(trace))
        self.sentence_label.setText(
            f"<span style='color:{self._theme.muted}'>{REPARAMETERISATION}</span>" if trace.is_vae else ""
        )
        self.sentence_label.setVisible(trace.is_vae)
        self.sync_resample()
        self._fill_gradients(trace, gradients)
        self._show_gradient_row()

    def sync_resample(self) -> None:
        """Resample works while its action does (the panel is in front) and there is an ε."""
        b = self.resample_button
        if b is not None:
            t = self.trace
            b.setEnabled(b.defaultAction().isEnabled() and t is not None and t.is_vae and not t.starts_at_z)

    def _numbers(self, t: Trace) -> str:
        muted = self._theme.muted
        dims = min(SHOWN_DIMS, t.z.size)
        head = "".join(f"<td align='right'>&nbsp;dim {i + 1}</td>" for i in range(dims))
        if t.z.size > dims:
            head += f"<td>&nbsp;<span style='color:{muted}'>of {t.z.size}</span></td>"

        def row(label: str, v: np.ndarray, digits: int = 3) -> str:
            cells = "".join(f"<td align='right'>&nbsp;{num(float(x), digits)}</td>" for x in v[:dims])
            return f"<tr><td>{label}</td>{cells}</tr>"

        if t.starts_at_z:
            return (f"<table cellspacing='0' cellpadding='0'><tr><td></td>{head}</tr>{row('z', t.z)}</table>"
                    f"<span style='color:{muted}'>Input, encoder and sampling are not run:<br>"
                    "the decoder reads this point alone.</span>")
        if not t.is_vae:
            return (f"<table cellspacing='0' cellpadding='0'><tr><td></td>{head}</tr>{row('z = f(x)', t.z)}</table>"
                    f"<span style='color:{muted}'>Deterministic: the code is z itself (μ = z),<br>"
                    "nothing is sampled and there is no KL term.</span>")
        assert t.mu is not None and t.logvar is not None and t.sigma is not None and t.eps is not None
        table = (f"<table cellspacing='0' cellpadding='0'><tr><td></td>{head}</tr>{row('μ', t.mu)}"
                 f"{row('log σ²', t.logvar, 2)}{row('σ = exp(½ log σ²)', t.sigma)}{row('ε ~ N(0, I)', t.eps)}</table>")
        sums = "<br>".join(
            f"z{_sub(i)} = {num(float(t.mu[i]))} + {num(float(t.sigma[i]))} × {paren(float(t.eps[i]))} "
            f"= <b>{num(float(t.z[i]))}</b>"
            for i in range(dims)
        )
        return f"{table}{sums}"

    def _loss(self, t: Trace) -> str:
        if t.recon is None or t.total is None:
            return f"<span style='color:{self._theme.muted}'>no image, so no loss: the output is what the decoder makes of z</span>"
        if not t.is_vae:
            return (f"loss: {t.recon_name} <b>{num(t.total, 4)}</b> per pixel "
                    f"<span style='color:{self._theme.muted}'>(no KL term)</span>")
        assert t.kl is not None
        kl = f"KL {num(t.kl, 2)}" if t.beta == 1.0 else f"β·KL {num(t.beta, 2)} × {num(t.kl, 2)}"
        what = "−ELBO" if t.beta == 1.0 else "the β-VAE's loss"
        return (f"recon ({t.recon_name}) {num(t.recon, 2)} + {kl} = <b>{num(t.total, 2)}</b> nats "
                f"<span style='color:{self._theme.muted}'>({what})</span>")

    def _fill_gradients(self, t: Trace, g: Gradients | None) -> None:
        if g is None:
            for v in self.gradient_views.values():
                v.set_values(None, "")
            why = "no image, no loss: nothing to differentiate" if t.starts_at_z else ""
            self.code_gradient_label.setText(f"<span style='color:{self._theme.muted}'>{why}</span>")
            return
        for name, v in self.gradient_views.items():
            layer = g.layer(name)
            v.set_values(np.abs(layer.activation), f"∂a {short(layer.norm)}\n∂W {short(layer.weight)}", colour_map=GRADIENT_MAP)
            v.setToolTip(f"{name}: one step's gradient. Colours: |∂L/∂a| for each unit (0 to its largest).\n"
                         f"∂a: ‖∂L/∂a‖ = {layer.norm:.4g}; ∂W: mean |∂L/∂W| of the weights into it = {layer.weight:.4g}")
        muted = self._theme.muted
        lines = [f"∂L/∂z = {vector(g.dz, fmt=short)}"]
        if g.dmu is not None and g.dsigma is not None:
            lines.append(f"∂L/∂μ = {vector(g.dmu, fmt=short)}")
            lines.append(f"∂L/∂σ = {vector(g.dsigma, fmt=short)}")
            lines.append(f"<span style='color:{muted}'>ε gets none: a constant drawn outside the network</span>")
        self.code_gradient_label.setText("<br>".join(lines))

    # ------------------------------------------------------------ theme

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.inset.apply_theme(theme)
        for v in (*self.encoder_views, *self.decoder_views, *self.gradient_views.values()):
            v.apply_theme(theme)
        for a in self.arrows:
            a.setStyleSheet(f"color: {theme.muted}")
        self.gradient_note.setStyleSheet(f"color: {theme.muted}")
        if self.trace is not None:
            self.show_trace(self.trace, focus=self._focus, gradients=self.gradients, span=self._span)
