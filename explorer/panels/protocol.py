"""The Panel protocol: what the window (and the Lab, for its experiments) needs of
every page it shows. Panels are plain QWidgets that implement these members; the
PanelRegistry builds them lazily and calls them, so the window never asks whether a
panel has a method.

    status_changed   Signal(str): a transient message for the window's status bar.
    set_active(on)   the panel's page is (or stops being) the one in front: switch its
                     single-key shortcuts (B, E, R, Z...) and timers on or off.
    apply_theme(t)   the window's theme changed: recolour plots and painted widgets.
    set_dataset(d)   the user switched datasets (a DatasetContext): show it and return
                     True, or return False to be built again from its factory.
    demo()           a state worth a screenshot (``--screenshot --panel NAME``).
    shutdown(t)      the window is closing: stop background work within ``t`` seconds
                     and leave no thread or process behind.

A panel is handed its DatasetContext and theme when it is built (keyword arguments of
its constructor), never bare arrays, so it knows which dataset it shows.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from explorer.startup import DatasetContext
    from explorer.widgets.theme import Theme


@runtime_checkable
class Panel(Protocol):
    """A page of the window or of the Lab (see the module's docstring)."""

    status_changed: SignalInstance

    def set_active(self, on: bool) -> None: ...

    def apply_theme(self, theme: Theme) -> None: ...

    def set_dataset(self, dataset: DatasetContext) -> bool: ...

    def demo(self) -> None: ...

    def shutdown(self, timeout: float = 1.0) -> None: ...


class PanelDefaults:
    """What a panel that has nothing to do for a member of the protocol inherits (put it
    after QWidget among the bases): no shortcuts or timers to switch, nothing themed
    beyond the Qt palette, nothing to stop, the state it opens in as its demo."""

    def set_active(self, on: bool) -> None:
        """Nothing switches with the panel's tab."""

    def apply_theme(self, theme: Theme) -> None:
        """Only palette colours, which Qt applies by itself."""

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """Built again from its factory on the new dataset."""
        return False

    def demo(self) -> None:
        """The state the panel opens in is its screenshot."""

    def shutdown(self, timeout: float = 1.0) -> None:
        """No background work to stop."""
