"""The concept lab: the lecture's ideas as small experiments, one tab each.

Each experiment is a QWidget registered with ``LabPanel.add_experiment``. An
experiment may define any of these optional methods, which the panel calls:

- ``apply_theme(theme)``: the window's theme changed;
- ``demo()``: put the experiment in a state worth a screenshot (used by
  ``--screenshot --panel lab``);
- ``shutdown(timeout)``: stop any background work (the window is closing).

It may also have a ``status_changed`` Signal(str); its messages go to the
window's status bar.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from explorer.widgets.tabs import SteadyTabWidget
from explorer.widgets.theme import LIGHT, Theme


class LabPanel(QWidget):
    """A tab per experiment, with the test images every experiment may use."""

    status_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        theme: Theme = LIGHT,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.images = images
        self.labels = labels
        self.theme = theme
        self.settings = settings
        self.tabs = SteadyTabWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tabs)
        self._experiments: dict[str, QWidget] = {}  # the ones made so far
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._pages: dict[str, QWidget] = {}  # the tab pages that hold them
        self._build_experiments()
        if settings is not None:
            name = settings.value("lab/experiment", "", type=str)
            if name in self._pages:
                self.tabs.setCurrentWidget(self._pages[name])
        self.tabs.currentChanged.connect(self._tab_changed)

    def _build_experiments(self) -> None:
        """Create and register every experiment (each module adds one line here)."""
        from explorer.lab.capacity import CapacityExperiment
        from explorer.lab.elbo import ElboExperiment
        from explorer.lab.latent import LargerLatentExperiment
        from explorer.lab.linear import LinearPcaExperiment
        from explorer.lab.losses import LossesExperiment

        def make(cls):
            # Made when first shown, with the images of the dataset shown then.
            return lambda: cls(images=self.images, labels=self.labels, theme=self.theme)

        self.add_experiment("losses", "Losses", make(LossesExperiment),
                            tooltip="MSE, L1 and cosine similarity: on two vectors, and on a digit against altered copies")
        self.add_experiment("linear", "Linear AE = PCA", make(LinearPcaExperiment),
                            tooltip="A linear autoencoder trained with MSE finds PCA's subspace (not its basis)")
        self.add_experiment("capacity", "Under/overcomplete", make(CapacityExperiment),
                            tooltip="Small codes summarise, large codes copy, noise included; a denoising AE does not")
        self.add_experiment("elbo", "ELBO and β", make(ElboExperiment),
                            tooltip="A VAE's loss term by term for one image, the posterior over the prior, and what β changes")
        self.add_experiment("latent8", "Larger latents", make(LargerLatentExperiment),
                            tooltip="An 8-D latent space seen through the PCA plane of its codes")

    # ------------------------------------------------------------ registry

    def add_experiment(self, name: str, title: str, widget: QWidget | Callable[[], QWidget], *, tooltip: str = "") -> None:
        """Register an experiment: a widget, or a factory that makes it the first time its
        tab is shown (so the lab costs nothing at start-up until it is used)."""
        if name in self._experiments or name in self._factories:
            raise ValueError(f"an experiment named {name!r} already exists")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self._pages[name] = page
        self._factories[name] = widget if not isinstance(widget, QWidget) else (lambda: widget)
        index = self.tabs.addTab(page, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        if isinstance(widget, QWidget):
            self._build(name)

    def _build(self, name: str) -> QWidget:
        widget = self._experiments.get(name)
        if widget is None:
            widget = self._factories[name]()
            self._pages[name].layout().addWidget(widget)
            self._experiments[name] = widget
            signal = getattr(widget, "status_changed", None)
            if signal is not None:
                signal.connect(self.status_changed)
        return widget

    def _tab_changed(self, _index: int) -> None:
        name = self.current_experiment()
        if name:
            self._build(name)
        self._remember()

    def experiment_names(self) -> tuple[str, ...]:
        return tuple(self._pages)

    def experiment(self, name: str) -> QWidget:
        """The experiment's widget (made now if its tab has not been shown yet)."""
        if name not in self._pages:
            raise KeyError(f"unknown experiment {name!r}; choose one of: {', '.join(self._pages)}")
        return self._build(name)

    def is_built(self, name: str) -> bool:
        return name in self._experiments

    def show_experiment(self, name: str) -> None:
        if name not in self._pages:
            raise KeyError(f"unknown experiment {name!r}; choose one of: {', '.join(self._pages)}")
        self.tabs.setCurrentWidget(self._pages[name])
        self._build(name)

    def current_experiment(self) -> str:
        current = self.tabs.currentWidget()
        return next((n for n, w in self._pages.items() if w is current), "")

    def _remember(self, *args) -> None:
        if self.settings is not None:
            self.settings.setValue("lab/experiment", self.current_experiment())

    # ------------------------------------------------------------ window hooks

    def set_data(self, images: np.ndarray | None, labels: np.ndarray | None) -> None:
        """Another dataset's test images: experiments that can take them get them; the
        others are made again from their factories (now, if shown; else when shown)."""
        self.images, self.labels = images, labels
        for name, widget in list(self._experiments.items()):
            if hasattr(widget, "set_data"):
                widget.set_data(images, labels)
                continue
            if hasattr(widget, "shutdown"):
                widget.shutdown(1.0)
            del self._experiments[name]
            widget.setParent(None)
            widget.deleteLater()
            if name == self.current_experiment():
                self._build(name)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for widget in self._experiments.values():
            if hasattr(widget, "apply_theme"):
                widget.apply_theme(theme)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        name = self.current_experiment()
        if name:
            self._build(name)
        super().showEvent(event)

    def demo(self) -> None:
        """The screenshot state: the current experiment's demo."""
        name = self.current_experiment()
        widget = self._build(name) if name else None
        if widget is not None and hasattr(widget, "demo"):
            widget.demo()

    def shutdown(self, timeout: float = 1.0) -> None:
        for widget in self._experiments.values():
            if hasattr(widget, "shutdown"):
                widget.shutdown(timeout)
