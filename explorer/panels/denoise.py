"""The Denoise panel: damage a digit (noise, blur, low resolution) and see the
denoising AE, the AE and the VAE restore it, live, with PSNR for each."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.digit_source import SourcePicker
from explorer.panels.protocol import PanelDefaults
from explorer.panels.workbench import Workbench
from explorer.startup import DatasetContext
from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.widgets.theme import LIGHT, Theme
from models.corrupt import CORRUPTIONS, corrupt, corruptions_for
from models.metrics import feed_back, psnr_db

OUTPUTS = ("dae", "ae", "vae")
OUTPUT_TITLES = {"dae": "Denoising AE", "ae": "AE", "vae": "VAE"}
MAX_PASSES = 8
IDENTICAL = "identical"  # shown instead of a PSNR when an image equals the clean digit


def _identical(image: np.ndarray, clean: np.ndarray) -> bool:
    """The image is the clean digit, pixel for pixel: its PSNR is infinite, and
    psnr_db's cap (a number it cannot show) would read as a real figure."""
    return bool(np.array_equal(np.asarray(image, np.float32), np.asarray(clean, np.float32)))


def _db(value: float, identical: bool) -> str:
    return IDENTICAL if identical else f"{value:.1f} dB"


def _steps(spec) -> int:
    return max(1, round((spec.level_max - spec.level_min) / spec.step))


class DenoisePanel(QWidget, PanelDefaults):
    """Source digit -> damage -> three models' restorations, each with its PSNR."""

    status_changed = Signal(str)
    updated = Signal()  # every output shows the current settings

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
        self._settings = settings
        self.clean: np.ndarray | None = None
        self.noisy: np.ndarray | None = None
        self.outputs: dict[str, np.ndarray | None] = {k: None for k in OUTPUTS}  # (passes, H, W)
        self.psnr: dict[str, float | None] = {}
        self.identical: set[str] = set()  # "noisy" and the outputs that equal the clean digit
        self._build_ui()
        self.apply_theme(theme)
        self._restore(settings)
        self.source.changed.connect(self.refresh)
        workbench.models_changed.connect(self.refresh)
        self.refresh()

    # ------------------------------------------------------------ construction

    def _build_ui(self) -> None:
        self.source = SourcePicker(workbench=self.workbench, settings=self._settings, key="denoise")

        self.kind = QComboBox()
        # Colour images also get the colorization and old-photo damages (A grey one has no colour to lose).
        self._colour = self.workbench.dataset.colour
        for name in corruptions_for(3 if self._colour else 1):
            spec = CORRUPTIONS[name]
            self.kind.addItem(spec.title, name)
            self.kind.setItemData(self.kind.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self.kind.setToolTip("What happens to the image: noise to remove, blur to sharpen, low resolution to restore")
        self.level = QSlider(Qt.Orientation.Horizontal)
        self.level.setMinimumWidth(120)
        self.level.setToolTip("How much damage (drag; arrow keys step)")
        self.level_label = QLabel()
        self.level_label.setMinimumWidth(110)
        self.seed = QSpinBox()
        self.seed.setRange(0, 99_999)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("Seed of the random noise: the same seed gives the same noise")
        self.passes = QSpinBox()
        self.passes.setRange(1, MAX_PASSES)
        self.passes.setSuffix(" pass")
        self.passes.setToolTip(
            "Feed each model's output back in as its next input this many times, and watch it settle "
            "(the rows below show every pass)"
        )

        # Two rows: in one, the controls alone were wider than a 1000-pixel window.
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addSpacing(12)
        source_row.addWidget(QLabel("Feed back"))
        source_row.addWidget(self.passes)
        damage_row = QHBoxLayout()
        damage_row.addWidget(QLabel("Damage"))
        damage_row.addWidget(self.kind)
        damage_row.addWidget(self.level, 1)
        damage_row.addWidget(self.level_label)
        damage_row.addWidget(self.seed)
        controls = QVBoxLayout()
        controls.addLayout(source_row)
        controls.addLayout(damage_row)

        # Captions on two lines (the model, then its figures): on one they were cut at narrow widths.
        self.clean_view = ImageView(caption="Clean", placeholder="No image", caption_lines=2)
        self.noisy_view = ImageView(caption="Damaged", placeholder="", caption_lines=2)
        self.output_views = {k: ImageView(caption=OUTPUT_TITLES[k], placeholder="Model not loaded", caption_lines=2)
                             for k in OUTPUTS}
        views = QGridLayout()
        for col, view in enumerate((self.clean_view, self.noisy_view, *self.output_views.values())):
            views.addWidget(view, 0, col)
        self.message = QLabel()
        self.message.setWordWrap(True)

        passes_box = QGroupBox("Each output fed back in, pass by pass (PSNR in dB under each)")
        lay = QVBoxLayout(passes_box)
        self.pass_strips = {k: ImageStrip(label=OUTPUT_TITLES[k], placeholder="") for k in OUTPUTS}
        width = max(s.natural_label_width() for s in self.pass_strips.values())
        for strip in self.pass_strips.values():
            strip.set_min_label_width(width)
            strip.setMinimumHeight(52)  # three rows fit under the images in a 650-pixel window
            lay.addWidget(strip)

        explain = QLabel(
            "PSNR (peak signal-to-noise ratio) compares each image with the clean one: 10·log10(1 / MSE), "
            "higher is closer. The denoising AE was trained to map x + noise back to x (Gaussian noise, σ = 0.5); "
            "the plain AE and the VAE were only trained to copy clean images, yet squeezing through a small code "
            "removes much of the noise too. Fed back in, a model's output drifts towards the images it knows best."
        )
        explain.setWordWrap(True)
        explain.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.explain = explain
        # The explanation beside the passes, not under them: stacked, the panel was
        # taller than a 650-pixel window and the texts ran over the strips.
        bottom = QHBoxLayout()
        bottom.addWidget(passes_box, 3)
        bottom.addWidget(explain, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(views, 3)
        layout.addWidget(self.message)
        layout.addLayout(bottom, 2)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.level.valueChanged.connect(self._level_changed)
        self.seed.valueChanged.connect(lambda _v: self.refresh())
        self.passes.valueChanged.connect(self._passes_changed)

    def _restore(self, settings: QSettings | None) -> None:
        kind = settings.value("denoise/kind", "gaussian", type=str) if settings is not None else "gaussian"
        index = self.kind.findData(kind)
        self.kind.setCurrentIndex(max(0, index))
        self._configure_level()
        if settings is not None:
            saved = settings.value(f"denoise/level/{self.kind_name()}", None)
            if saved is not None:
                self.set_level(float(saved))
            self.passes.setValue(int(settings.value("denoise/passes", 1, type=int)))

    # ------------------------------------------------------------ controls

    def kind_name(self) -> str:
        return self.kind.currentData()

    def level_value(self) -> float:
        spec = CORRUPTIONS[self.kind_name()]
        return spec.level_min + self.level.value() * spec.step

    def set_level(self, value: float) -> None:
        spec = CORRUPTIONS[self.kind_name()]
        self.level.setValue(round((min(max(value, spec.level_min), spec.level_max) - spec.level_min) / spec.step))

    def set_kind(self, name: str) -> None:
        index = self.kind.findData(name)
        if index < 0:
            offered = [self.kind.itemData(i) for i in range(self.kind.count())]
            why = " (it takes colour away, and these images are grey)" if name in CORRUPTIONS else ""
            raise ValueError(f"damage {name!r} is not offered here{why}; choose one of {', '.join(offered)}")
        self.kind.setCurrentIndex(index)

    def _configure_level(self) -> None:
        spec = CORRUPTIONS[self.kind_name()]
        self.level.blockSignals(True)
        self.level.setRange(0, _steps(spec))
        self.level.setSingleStep(1)
        self.level.setPageStep(max(1, _steps(spec) // 10))
        self.level.setValue(round((spec.default_level - spec.level_min) / spec.step))
        self.level.blockSignals(False)
        self.seed.setEnabled(spec.seeded)
        self._update_level_label()

    def _update_level_label(self) -> None:
        spec = CORRUPTIONS[self.kind_name()]
        value = self.level_value()
        text = f"×{int(value)}" if spec.name == "downsample" else f"{value:.2f}"
        self.level_label.setText(f"{spec.level_name} {text}")

    def _kind_changed(self, _index: int) -> None:
        self._configure_level()
        if self._settings is not None:
            self._settings.setValue("denoise/kind", self.kind_name())
        self.refresh()

    def _level_changed(self, _value: int) -> None:
        self._update_level_label()
        if self._settings is not None:
            self._settings.setValue(f"denoise/level/{self.kind_name()}", self.level_value())
        self.refresh()

    def _passes_changed(self, value: int) -> None:
        self.passes.setSuffix(" pass" if value == 1 else " passes")
        if self._settings is not None:
            self._settings.setValue("denoise/passes", value)
        self.refresh()

    # ------------------------------------------------------------ the live update

    def _models(self) -> dict[str, object]:
        wb = self.workbench
        return {
            "dae": wb.dae.model if wb.dae is not None else None,
            "ae": wb.ae.model if wb.ae is not None else None,
            "vae": wb.vae.model if wb.vae is not None else None,
        }

    def titles(self) -> dict[str, str]:
        """Each output's name; a DAE trained on the grey damage is a colorizing AE."""
        dae = self.workbench.dae
        noise = dae.config.noise if dae is not None else ""
        name = {"grey": "Colorizing AE", "old_photo": "Restoring AE"}.get(noise, OUTPUT_TITLES["dae"])
        return {**OUTPUT_TITLES, "dae": name}

    def refresh(self) -> None:
        """Damage the source digit with the current settings and update every output."""
        clean = self.source.image()
        self.clean = clean
        if clean is None:
            self.noisy = None
            self.outputs = {k: None for k in OUTPUTS}
            self.psnr = {}
            self.identical = set()
            for view in (self.clean_view, self.noisy_view, *self.output_views.values()):
                view.set_image(None)
            for strip in self.pass_strips.values():
                strip.clear()
            self.message.setText(self.source.why_none())
            self.updated.emit()
            return
        spec = CORRUPTIONS[self.kind_name()]
        level = self.level_value()
        noisy = corrupt(clean[None].astype(np.float32), spec.name, level, seed=self.seed.value() if spec.seeded else None)[0]
        self.noisy = noisy
        self.psnr = {"noisy": psnr_db(noisy, clean)}
        self.identical = {"noisy"} if _identical(noisy, clean) else set()
        self.clean_view.set_image(clean, f"Clean\n{self.source.description()}")
        self.noisy_view.set_image(noisy, f"Damaged\n{_db(self.psnr['noisy'], 'noisy' in self.identical)}")
        passes = self.passes.value()
        missing: list[str] = []  # keys of the outputs whose model is not loaded
        titles = self.titles()
        for key, model in self._models().items():
            if model is None:
                self.outputs[key] = None
                self.output_views[key].set_image(None, titles[key])
                self.pass_strips[key].clear()
                missing.append(key)
                continue
            out = feed_back(model, noisy, passes)
            self.outputs[key] = out
            scores = [psnr_db(im, clean) for im in out]
            same = [_identical(im, clean) for im in out]
            self.psnr[key] = scores[-1]
            if same[-1]:
                self.identical.add(key)
            figure = _db(scores[-1], same[-1])
            # A gain over an undamaged digit (or to one) would be measured from psnr_db's cap.
            if not same[-1] and "noisy" not in self.identical:
                figure += f" ({scores[-1] - self.psnr['noisy']:+.1f})"
            after = "" if passes == 1 else f" after {passes} passes"
            self.output_views[key].set_image(out[-1], f"{titles[key]}\n{figure}{after}")
            self.pass_strips[key].set_images(out, ["∞" if eq else f"{s:.1f}" for s, eq in zip(scores, same, strict=True)])
        best = max((k for k in OUTPUTS if k in self.psnr), key=lambda k: self.psnr[k], default=None)
        if "noisy" in self.identical:
            text = f"{spec.title}, {spec.level_name} {level:g}: nothing is damaged, the image is identical to the clean one."
        else:
            text = f"{spec.title}, {spec.level_name} {level:g}: the damaged image is {self.psnr['noisy']:.1f} dB from the clean one."
        if best is not None:
            text += f" Closest restoration: {titles[best]} ({_db(self.psnr[best], best in self.identical)})."
        if missing:
            text += f" Not loaded: {', '.join(titles[k] for k in missing)}."
            if "dae" in missing:
                text += " The Train panel trains a denoising AE on any of these damages (Train: DAE)."
        self.message.setText(text)
        self.updated.emit()

    # ------------------------------------------------------------ window hooks

    def apply_theme(self, theme: Theme) -> None:
        # The muted colour set here, not in a style sheet: a style sheet's palette()
        # colour is fixed when the widget is polished and would outlive a theme switch.
        pal = self.explain.palette()
        pal.setColor(QPalette.ColorRole.WindowText, QColor(theme.muted))
        self.explain.setPalette(pal)

    def demo(self) -> None:
        """A test digit under Gaussian noise, fed back three times (for screenshots)."""
        self.source.set_source("test")
        self.source.index.setValue(1)
        self.set_kind("gaussian")
        self.set_level(0.5)
        self.passes.setValue(3)
        self.refresh()

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """The workbench brings the new dataset (its data_changed signal); from grey to
        colour or back, the panel is built again with the damages that fit."""
        return dataset.colour == self._colour
