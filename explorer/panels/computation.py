"""The Computation panel: the AE and the VAE drawn as strips with their real numbers,
following whatever image is current (a test image clicked in Explore, the drawing,
or a point dragged on an Explore plot, where the strips start at z)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, QSize, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QVBoxLayout, QWidget

from explorer.panels.protocol import PanelDefaults
from explorer.panels.workbench import Focus, ModelSlot, Workbench
from explorer.startup import DatasetContext
from explorer.widgets.actions import panel_action, set_actions_active, tool_button
from explorer.widgets.computation_strip import ComputationStrip
from explorer.widgets.computation_views import num
from explorer.widgets.fitting import WrappingLabel
from explorer.widgets.theme import LIGHT, Theme
from models.computation import TraceError, check_traceable, draw_eps, gradient_magnitudes, trace

ROLES = ("ae", "vae")
INTRO = ("The current image through each model: click a test image in Explore, draw in Draw, or drag on an Explore "
         "plot (then the strips start at z).")
DEMO_CLASS = 3  # the demo's test image is a clear digit of this class
DEMO_CANDIDATES = 20


def plane_span(codes: np.ndarray) -> float:
    """How wide the inset's view of a model's codes is: their central 98 %, with a margin."""
    if len(codes) == 0:
        return 1.0
    lo, hi = np.quantile(codes[:, :2], [0.01, 0.99], axis=0)
    return float(max((hi - lo).max() * 1.15, 1e-3))


def _traceable(model) -> bool:
    try:
        check_traceable(model)
    except TraceError:
        return False
    return True


class ComputationPanel(QWidget, PanelDefaults):
    """Two strips, the workbench's AE above its VAE, on the workbench's current focus."""

    status_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        workbench: Workbench,
        theme: Theme = LIGHT,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.workbench = workbench
        self._theme = theme
        self._settings = settings
        self.eps_seed = 0
        self._eps: np.ndarray | None = None
        self._spans: dict[str, float] = {r: 1.0 for r in ROLES}
        self._stale = True
        # A burst of drag events between two frames redraws once.
        self._pending = QTimer(self, singleShot=True, interval=0)
        self._pending.timeout.connect(self.refresh)

        self.resample_action = panel_action(self, "Resample ε", "Draw a new ε from N(0, I): z moves, μ and σ stay", "R")
        self.resample_action.triggered.connect(lambda: self.resample())
        self.gradients_action = panel_action(
            self, "Show gradients", "Show the gradients one training step on this image would apply, layer by layer "
            "(computed without changing any weight)", "G", checkable=True,
        )
        if settings is not None:
            self.gradients_action.setChecked(settings.value("computation/gradients", False, type=bool))
        self.gradients_action.toggled.connect(self._gradients_toggled)
        self.panel_actions = (self.resample_action, self.gradients_action)

        root = QVBoxLayout(self)
        top = QHBoxLayout()
        self.intro_label = WrappingLabel(INTRO)
        self.intro_label.setToolTip("Each layer's units are coloured from 0 to that layer's largest value "
                                    "(hover over a layer for its numbers)")
        top.addWidget(self.intro_label, 1)
        self.gradients_button = tool_button(self.gradients_action)
        top.addWidget(self.gradients_button)
        root.addLayout(top)
        self.strips = {
            "ae": ComputationStrip(theme=theme),
            "vae": ComputationStrip(theme=theme, resample=self.resample_action),
        }
        for role in ROLES:
            if role != ROLES[0]:
                line = QFrame()
                line.setFrameShape(QFrame.Shape.HLine)
                line.setFrameShadow(QFrame.Shadow.Sunken)
                root.addWidget(line)
            root.addWidget(self.strips[role])
            self.strips[role].set_gradients_visible(self.gradients_action.isChecked())
        root.addStretch(1)

        workbench.focus_changed.connect(self.request)
        workbench.models_changed.connect(self._models_changed)
        workbench.data_changed.connect(self.request)
        self._models_changed()

    # ------------------------------------------------------------ what to show

    def _slot(self, role: str) -> ModelSlot | None:
        return self.workbench.ae if role == "ae" else self.workbench.vae

    def _models_changed(self) -> None:
        for role in ROLES:
            slot, strip = self._slot(role), self.strips[role]
            if slot is None:
                strip.set_title(role.upper(), "no model loaded")
                strip.set_codes(None)
                continue
            strip.set_title(slot.name, f"{slot.model.config.title}, {slot.model.latent}-D code")
            strip.set_codes(slot.space.codes)
            self._spans[role] = plane_span(slot.space.codes)
        self._eps = None  # the VAE's latent size may be another
        self.request()

    def request(self) -> None:
        """Redraw at the next pass of the event loop (at once when shown again, if hidden now)."""
        self._stale = True
        if self.isVisible():
            self._pending.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def eps(self, latent: int) -> np.ndarray:
        """The ε in use (drawn from seed ``eps_seed``), kept while the image changes."""
        if self._eps is None or self._eps.size != latent:
            self._eps = draw_eps(latent, self.eps_seed)
        return self._eps

    def resample(self, seed: int | None = None) -> None:
        """Draw a new ε (from ``seed``, else the next seed): only z and what follows it change."""
        self.eps_seed = self.eps_seed + 1 if seed is None else int(seed)
        self._eps = None
        self.refresh()
        slot = self.workbench.vae
        if slot is not None:
            e = self.eps(slot.model.latent)
            self.status_changed.emit(f"ε redrawn (seed {self.eps_seed}): ε₁ = {num(float(e[0]), 2)}; μ and σ stay, z moves")

    def _focus_input(self, focus: Focus) -> tuple[np.ndarray | None, str]:
        """The current image and what the strips say it is (None: nothing to encode)."""
        wb = self.workbench
        if focus.kind == "drawing":
            image = wb.drawing
            return image, "the drawing (Draw panel)" if image is not None else "the Draw panel's canvas is empty"
        index = focus.index if focus.kind == "image" else 0
        if not 0 <= index < wb.count:
            return None, "no test images are loaded"
        label = wb.label_name(index)
        return wb.image(index), f"test image #{index}" + (f" · a {label}" if label else "")

    def refresh(self) -> None:
        """Trace the current focus through both models and fill the strips."""
        self._pending.stop()
        self._stale = False
        focus = self.workbench.focus
        want_gradients = self.gradients_action.isChecked()
        image, what = (None, "") if focus.kind == "code" else self._focus_input(focus)
        for role in ROLES:
            slot, strip = self._slot(role), self.strips[role]
            if slot is None:
                strip.clear(f"No {role.upper()} loaded: open one in the Explore panel")
                continue
            model = slot.model
            try:
                check_traceable(model)
            except TraceError as exc:  # a conv or colour model: say why instead of an empty strip
                strip.clear(str(exc)[0].upper() + str(exc)[1:])
                continue
            if focus.kind == "code":
                x, y = focus.xy
                z = slot.space.plane_to_codes(np.array([[x, y]]))[0]
                where = f"decoding the point ({num(x, 2)}, {num(y, 2)}) dragged on an Explore plot"
                strip.show_trace(trace(model, z=z), focus=where, span=self._spans[role])
                continue
            if image is None:
                strip.clear(what[0].upper() + what[1:] + ": nothing to encode")
                continue
            eps = self.eps(model.latent) if role == "vae" else None
            t = trace(model, image, eps=eps)
            grads = gradient_magnitudes(model, image, eps) if want_gradients else None
            span = self._spans[role] if role == "ae" else 0.0
            strip.show_trace(t, focus=what + (f" · ε seed {self.eps_seed}" if role == "vae" else ""), gradients=grads, span=span)

    def _gradients_toggled(self, on: bool) -> None:
        for strip in self.strips.values():
            strip.set_gradients_visible(on)
        if self._settings is not None:
            self._settings.setValue("computation/gradients", on)
        self.request()

    # ------------------------------------------------------------ Panel protocol

    def set_active(self, on: bool) -> None:
        """R and G belong to this panel only while it is in front."""
        set_actions_active(self.panel_actions, on)
        self.strips["vae"].sync_resample()

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for strip in self.strips.values():
            strip.apply_theme(theme)

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """The workbench brings the new images (its data_changed signal); on colour
        images the window shows why the panel does not work there."""
        return not dataset.colour

    def demo(self) -> None:
        """A clear test digit, ε from seed 0, one step's gradients shown."""
        labels, wb = self.workbench.labels, self.workbench
        index = 0
        if labels is not None and (np.asarray(labels) == DEMO_CLASS).any():
            # The first few of the class, and of those the one both models read best: a clear digit.
            candidates = np.flatnonzero(np.asarray(labels) == DEMO_CLASS)[:DEMO_CANDIDATES]
            ranks = np.zeros(len(candidates))
            for slot in (wb.ae, wb.vae):
                if slot is not None and _traceable(slot.model):
                    losses = [trace(slot.model, wb.image(int(i))).total or 0.0 for i in candidates]
                    ranks += np.argsort(np.argsort(losses))
            index = int(candidates[int(np.argmin(ranks))])
        self.eps_seed, self._eps = 0, None
        self.workbench.set_focus_image(index)
        self.gradients_action.setChecked(True)
        self.refresh()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(1380, 800)
