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

import numpy as np
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from explorer.theme import LIGHT, Theme


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
        self.tabs = QTabWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tabs)
        self._experiments: dict[str, QWidget] = {}
        self._build_experiments()
        if settings is not None:
            name = settings.value("lab/experiment", "", type=str)
            if name in self._experiments:
                self.show_experiment(name)
        self.tabs.currentChanged.connect(self._remember)

    def _build_experiments(self) -> None:
        """Create and register every experiment (each module adds one line here)."""
        from explorer.lab_capacity import CapacityExperiment
        from explorer.lab_elbo import ElboExperiment
        from explorer.lab_latent import LargerLatentExperiment
        from explorer.lab_linear import LinearPcaExperiment
        from explorer.lab_losses import LossesExperiment

        data = dict(images=self.images, labels=self.labels, theme=self.theme)
        self.add_experiment("losses", "Losses", LossesExperiment(**data),
                            tooltip="MSE, L1 and cosine similarity: on two vectors, and on a digit against altered copies")
        self.add_experiment("linear", "Linear AE = PCA", LinearPcaExperiment(**data),
                            tooltip="A linear autoencoder trained with MSE finds PCA's subspace (not its basis)")
        self.add_experiment("capacity", "Under/overcomplete", CapacityExperiment(**data),
                            tooltip="Small codes summarise, large codes copy, noise included; a denoising AE does not")
        self.add_experiment("elbo", "ELBO and β", ElboExperiment(**data),
                            tooltip="A VAE's loss term by term for one image, the posterior over the prior, and what β changes")
        self.add_experiment("latent8", "Larger latents", LargerLatentExperiment(**data),
                            tooltip="An 8-D latent space seen through the PCA plane of its codes")

    # ------------------------------------------------------------ registry

    def add_experiment(self, name: str, title: str, widget: QWidget, *, tooltip: str = "") -> None:
        if name in self._experiments:
            raise ValueError(f"an experiment named {name!r} already exists")
        self._experiments[name] = widget
        index = self.tabs.addTab(widget, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        signal = getattr(widget, "status_changed", None)
        if signal is not None:
            signal.connect(self.status_changed)

    def experiment_names(self) -> tuple[str, ...]:
        return tuple(self._experiments)

    def experiment(self, name: str) -> QWidget:
        return self._experiments[name]

    def show_experiment(self, name: str) -> None:
        if name not in self._experiments:
            raise KeyError(f"unknown experiment {name!r}; choose one of: {', '.join(self._experiments)}")
        self.tabs.setCurrentWidget(self._experiments[name])

    def current_experiment(self) -> str:
        current = self.tabs.currentWidget()
        return next((n for n, w in self._experiments.items() if w is current), "")

    def _remember(self, *args) -> None:
        if self.settings is not None:
            self.settings.setValue("lab/experiment", self.current_experiment())

    # ------------------------------------------------------------ window hooks

    def set_data(self, images: np.ndarray | None, labels: np.ndarray | None) -> None:
        """Another dataset's test images, for the experiments that can use them."""
        self.images, self.labels = images, labels
        for widget in self._experiments.values():
            if hasattr(widget, "set_data"):
                widget.set_data(images, labels)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for widget in self._experiments.values():
            if hasattr(widget, "apply_theme"):
                widget.apply_theme(theme)

    def demo(self) -> None:
        """The screenshot state: the current experiment's demo."""
        widget = self.tabs.currentWidget()
        if widget is not None and hasattr(widget, "demo"):
            widget.demo()

    def shutdown(self, timeout: float = 1.0) -> None:
        for widget in self._experiments.values():
            if hasattr(widget, "shutdown"):
                widget.shutdown(timeout)
