"""PanelRegistry: the tabs of a QTabWidget, each a Panel built the first time it is
needed. The window uses one for its panels and the Lab one for its experiments."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from explorer.panels.protocol import Panel

if TYPE_CHECKING:
    from explorer.startup import DatasetContext
    from explorer.widgets.theme import Theme

log = logging.getLogger(__name__)

Factory = Callable[[], QWidget]


class PanelRegistry(QObject):
    """Named tabs whose panels are made by factories when first shown or asked for.

    Every built panel is told when its tab comes to the front or leaves it
    (``set_active``), and receives ``apply_theme``, ``set_dataset`` and ``shutdown``
    through the registry. ``before_build`` runs before any factory (the window waits
    for its models there); ``built(name, panel)`` is emitted after each build.
    """

    built = Signal(str, object)
    current_changed = Signal(str)

    def __init__(self, tabs: QTabWidget, *, before_build: Callable[[], None] | None = None, kind: str = "panel"):
        super().__init__(tabs)
        self.tabs = tabs
        self._before_build = before_build
        self._kind = kind
        self._makers: dict[str, Factory] = {}  # every panel's factory
        self._factories: dict[str, Factory] = {}  # those of the panels not built (again) yet
        self._panels: dict[str, QWidget] = {}
        self._pages: dict[str, QWidget] = {}
        tabs.currentChanged.connect(self._tab_changed)

    # ------------------------------------------------------------ registering

    def add(self, name: str, title: str, factory: Factory, *, tooltip: str = "") -> None:
        """Register a tab whose panel ``factory()`` builds when it is first needed."""
        page = self._add_page(name, title, tooltip)
        self._makers[name] = self._factories[name] = factory
        if self.tabs.currentWidget() is page:
            self._tab_changed()  # the first tab: Qt made it current before it had a factory

    def _check_new(self, name: str) -> None:
        if name in self._pages:
            raise ValueError(f"a {self._kind} named {name!r} already exists")

    def _add_page(self, name: str, title: str, tooltip: str) -> QWidget:
        self._check_new(name)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self._pages[name] = page
        index = self.tabs.addTab(page, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        return page

    def add_built(self, name: str, title: str, panel: QWidget, *, tooltip: str = "") -> None:
        """Register a panel that is already made (the first one, shown at start-up)."""
        self._check_new(name)
        self._panels[name] = panel  # before its tab exists, so a first tab is not built again
        page = self._add_page(name, title, tooltip)
        self._makers[name] = lambda: panel
        page.layout().addWidget(panel)
        panel.set_active(self.tabs.currentWidget() is page)
        self.built.emit(name, panel)

    # ------------------------------------------------------------ asking

    def names(self) -> tuple[str, ...]:
        return tuple(self._pages)

    def is_built(self, name: str) -> bool:
        return name in self._panels

    def unbuilt(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def panels(self) -> Iterator[tuple[str, QWidget]]:
        """The panels built so far, in tab order."""
        return ((n, self._panels[n]) for n in self._pages if n in self._panels)

    def page(self, name: str) -> QWidget:
        self._check(name)
        return self._pages[name]

    def panel(self, name: str) -> QWidget:
        """Panel ``name``, built now if it was not yet; KeyError naming the valid ones."""
        self._check(name)
        if name not in self._panels:
            if self._before_build is not None:
                self._before_build()
            self._build(name)
        return self._panels[name]

    def _build(self, name: str) -> None:
        if name not in self._panels:
            widget = self._factories.pop(name)()
            if not isinstance(widget, Panel):
                raise TypeError(f"{type(widget).__name__} does not implement the Panel protocol")
            self._pages[name].layout().addWidget(widget)
            self._panels[name] = widget
            widget.set_active(self.tabs.currentWidget() is self._pages[name])
            self.built.emit(name, widget)

    def current_name(self) -> str:
        current = self.tabs.currentWidget()
        return next((n for n, w in self._pages.items() if w is current), "")

    def show(self, name: str) -> QWidget:
        """Bring ``name`` to the front (building it) and return its panel."""
        panel = self.panel(name)
        self.tabs.setCurrentWidget(self._pages[name])
        return panel

    def _check(self, name: str) -> None:
        if name not in self._pages:
            raise KeyError(f"unknown {self._kind} {name!r}; choose one of: {', '.join(self._pages)}")

    # ------------------------------------------------------------ telling every panel

    def _tab_changed(self, _index: int = -1) -> None:
        name = self.current_name()
        if name and name not in self._panels and name in self._factories:
            self.panel(name)  # a tab clicked before its panel was built
        self.refresh_active()
        self.current_changed.emit(name)

    def refresh_active(self) -> None:
        """Only the panel in front is active (its single-key shortcuts switched on)."""
        current = self.tabs.currentWidget()
        for name, panel in list(self.panels()):
            panel.set_active(self._pages[name] is current)

    def apply_theme(self, theme: Theme) -> None:
        for _, panel in list(self.panels()):
            panel.apply_theme(theme)

    def set_dataset(self, dataset: DatasetContext, *, skip: tuple[str, ...] = ()) -> None:
        """Hand every built panel another dataset (but those in ``skip``, which the
        caller has told); one that cannot take it is built again from its factory
        (which must read the dataset when it runs), now if it is in front, else when
        it is next needed."""
        for name, panel in list(self.panels()):
            if name in skip or panel.set_dataset(dataset):
                continue
            panel.shutdown(1.0)
            del self._panels[name]
            panel.setParent(None)
            panel.deleteLater()
            self._factories[name] = self._makers[name]
            if name == self.current_name():
                self.panel(name)

    def shutdown(self, timeout: float = 1.0, *, first: str | None = None) -> None:
        """Stop every built panel's background work (``first`` before the others)."""
        order = [n for n, _ in self.panels()]
        if first in order:
            order.remove(first)
            order.insert(0, first)
        for name in order:
            self._panels[name].shutdown(timeout)
