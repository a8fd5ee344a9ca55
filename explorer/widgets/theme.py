"""Light and dark themes: the Qt palette, pyqtgraph's colours and the digit colours."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QGraphicsItem

# Ten qualitative colours (Tableau 10) that stay apart on white and on near-black.
CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)

THEME_CHOICES = ("system", "light", "dark")


@dataclass(frozen=True)
class Theme:
    """Colours shared by every plot and image widget."""

    name: str
    background: str
    foreground: str
    muted: str
    grid: str
    crosshair: str
    accent: str  # samples, interpolation path, selection
    prior: str

    @property
    def is_dark(self) -> bool:
        return self.name == "dark"


LIGHT = Theme(
    name="light",
    background="#ffffff",
    foreground="#1d1d1f",
    muted="#6e6e73",
    grid="#d9d9de",
    crosshair="#c2185b",
    accent="#111111",
    prior="#5e35b1",
)

DARK = Theme(
    name="dark",
    background="#1e1f22",
    foreground="#e6e6e6",
    muted="#9a9aa0",
    grid="#3a3b40",
    crosshair="#ff5c8a",
    accent="#ffffff",
    prior="#b39ddb",
)


def system_is_dark() -> bool:
    """Whether the desktop asks for a dark colour scheme (unknown counts as light)."""
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def resolve_theme(choice: str) -> Theme:
    """'system', 'light' or 'dark' -> the Theme to use now."""
    if choice == "dark" or (choice == "system" and system_is_dark()):
        return DARK
    return LIGHT


def qt_palette(theme: Theme) -> QPalette:
    """A Fusion palette for the theme (Fusion's own palette is light only on most platforms)."""
    pal = QPalette()
    if theme.is_dark:
        window, base, alt, text, button = "#2b2d30", "#1e1f22", "#26282b", "#e6e6e6", "#35373b"
        highlight, disabled = "#3d7bd9", "#7a7a80"
    else:
        window, base, alt, text, button = "#f3f3f5", "#ffffff", "#f7f7f9", "#1d1d1f", "#ececf0"
        highlight, disabled = "#2f6fd6", "#a0a0a6"
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.ToolTipBase: base,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: disabled,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: button,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: "#ff4d4d",
        QPalette.ColorRole.Highlight: highlight,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: highlight,
    }
    for role, color in roles.items():
        pal.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return pal


def style_plot(widget, theme: Theme) -> None:
    """Background and axis colours of a pyqtgraph PlotWidget for ``theme``, and the
    axes kept as cached pixmaps."""
    import pyqtgraph as pg

    widget.setBackground(theme.background)
    pi = widget.getPlotItem()
    # Any change in a plot repaints its whole view, axes included, and re-rendering
    # their tick labels was half the GUI's work while a run trains (the points move
    # every second). Cached, an axis is a pixmap blit until its range or style changes.
    for name in ("left", "bottom", "right", "top"):
        pi.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    for name in ("left", "bottom"):
        ax = pi.getAxis(name)
        ax.setPen(pg.mkPen(theme.muted))
        ax.setTextPen(pg.mkPen(theme.foreground))
    if pi.legend is not None:
        style_legend(pi.legend, theme, alpha=None)


def style_legend(legend, theme: Theme, *, alpha: int | None = 210) -> None:
    """A pyqtgraph legend's entries in ``theme``'s text colour, those already in it
    included (pyqtgraph bakes a label's colour into its HTML when the label is made,
    so a theme switch would leave them in the old colour), and its box in the plot's
    background at ``alpha`` (None: the box as it is)."""
    import pyqtgraph as pg

    if alpha is not None:
        box = pg.mkColor(theme.background)
        box.setAlpha(alpha)
        legend.setBrush(pg.mkBrush(box))
    legend.setLabelTextColor(theme.foreground)
    for _, label in legend.items:
        label.setText(label.text, color=theme.foreground)
