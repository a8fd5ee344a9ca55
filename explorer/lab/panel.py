"""The concept lab: the lecture's ideas as small experiments, one tab each.

Each experiment is a QWidget that implements the Panel protocol
(explorer/panels/protocol.py) and is registered in ``LabPanel._register`` with a
factory; the panel's PanelRegistry builds it the first time its tab is shown, with the
dataset and theme of that moment. Adding an experiment is one module in explorer/lab/
and one line there.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from explorer.panels.registry import PanelRegistry
from explorer.startup import DatasetContext, empty_context
from explorer.widgets.tabs import SteadyTabWidget
from explorer.widgets.theme import LIGHT, Theme


class LabPanel(QWidget):
    """A tab per experiment, each built when first shown, on the dataset shown then."""

    status_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext | None = None,
        theme: Theme = LIGHT,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.dataset = dataset if dataset is not None else empty_context()
        self.theme = theme
        self.settings = settings
        self._active = False
        self.tabs = SteadyTabWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tabs)
        self.registry = PanelRegistry(self.tabs, kind="experiment")
        self.registry.built.connect(lambda _name, widget: widget.status_changed.connect(self.status_changed))
        self._register()
        if settings is not None:
            name = settings.value("lab/experiment", "", type=str)
            if name in self.registry.names():
                self.tabs.setCurrentWidget(self.registry.page(name))
        self.registry.current_changed.connect(self._remember)

    def _register(self) -> None:
        """Every experiment, in tab order (each module adds one line here)."""
        from explorer.lab.capacity import CapacityExperiment
        from explorer.lab.elbo import ElboExperiment
        from explorer.lab.latent import LargerLatentExperiment
        from explorer.lab.linear import LinearPcaExperiment
        from explorer.lab.losses import LossesExperiment

        self.add_experiment("losses", "Losses", self._maker(LossesExperiment),
                            tooltip="MSE, L1 and cosine similarity: on two vectors, and on a digit against altered copies")
        self.add_experiment("linear", "Linear AE = PCA", self._maker(LinearPcaExperiment),
                            tooltip="A linear autoencoder trained with MSE finds PCA's subspace (not its basis)")
        self.add_experiment("capacity", "Under/overcomplete", self._maker(CapacityExperiment),
                            tooltip="Small codes summarise, large codes copy, noise included; a denoising AE does not")
        self.add_experiment("elbo", "ELBO and β", self._maker(ElboExperiment),
                            tooltip="A VAE's loss term by term for one image, the posterior over the prior, and what β changes")
        self.add_experiment("latent8", "Larger latents", self._maker(LargerLatentExperiment),
                            tooltip="An 8-D latent space seen through the PCA plane of its codes")

    def _maker(self, cls: type[QWidget]) -> Callable[[], QWidget]:
        # Read when the experiment is built, so a rebuilt one gets the dataset shown then.
        return lambda: cls(dataset=self.dataset, theme=self.theme)

    # ------------------------------------------------------------ experiments

    def add_experiment(self, name: str, title: str, factory: Callable[[], QWidget], *, tooltip: str = "") -> None:
        """Register an experiment whose ``factory()`` makes it the first time its tab is
        shown (so the lab costs nothing at start-up until it is used)."""
        self.registry.add(name, title, factory, tooltip=tooltip)

    def experiment_names(self) -> tuple[str, ...]:
        return self.registry.names()

    def experiment(self, name: str) -> QWidget:
        """The experiment's widget (made now if its tab has not been shown yet)."""
        return self.registry.panel(name)

    def is_built(self, name: str) -> bool:
        return self.registry.is_built(name)

    def show_experiment(self, name: str) -> None:
        self.registry.show(name)

    def current_experiment(self) -> str:
        return self.registry.current_name()

    def _remember(self, name: str) -> None:
        if self.settings is not None:
            self.settings.setValue("lab/experiment", name)

    # ------------------------------------------------------------ the Panel protocol

    def set_active(self, on: bool) -> None:
        self._active = on
        if on:
            self.registry.refresh_active()
        else:
            for _, widget in list(self.registry.panels()):
                widget.set_active(False)

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """Experiments that can take another dataset get it; the others are made again
        from their factories (now, if shown; else when shown)."""
        if not dataset.drawable:
            return False  # the window shows why the Lab does not work on these images
        self.dataset = dataset
        self.registry.set_dataset(dataset)
        return True

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.registry.apply_theme(theme)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        name = self.current_experiment()
        if name:
            self.registry.panel(name)
        super().showEvent(event)

    def demo(self) -> None:
        """The screenshot state: the current experiment's demo."""
        name = self.current_experiment()
        if name:
            self.registry.panel(name).demo()

    def shutdown(self, timeout: float = 1.0) -> None:
        self.registry.shutdown(timeout)
