"""The lesson's set-up actions, done through the panels' own public methods (the
same ones a user's clicks end in), so a step sets up exactly what the learner could."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from PySide6.QtWidgets import QWidget

from explorer.lesson.steps import ACTIONS, BACKGROUND_NAMES, Action, LessonError


class LessonWindow(Protocol):
    """What the lesson needs of the window (MainWindow)."""

    def panel_names(self) -> tuple[str, ...]: ...

    def panel(self, name: str) -> QWidget: ...

    def show_panel(self, name: str) -> None: ...


def resolve_image(ref: int | Mapping[str, int], labels: np.ndarray | None, count: int) -> int:
    """A step's test image: its number, or ``{"label": k, "nth": n}``, the n-th (from 1)
    test image of class k in the dataset shown; LessonError if there is none."""
    if isinstance(ref, Mapping):
        k, nth = int(ref["label"]), int(ref.get("nth", 1))
        if labels is None:
            raise LessonError("no test images are loaded")
        found = np.flatnonzero(np.asarray(labels) == k)
        if len(found) < nth:
            raise LessonError(f"the test images hold {len(found)} of class {k}, so there is no number {nth}")
        return int(found[nth - 1])
    if not 0 <= int(ref) < count:
        raise LessonError(f"there is no test image {ref}: the test set has {count} (0 to {count - 1})")
    return int(ref)


class SetUp:
    """Does a step's set-up actions on the window's panels."""

    def __init__(self, window: LessonWindow):
        self.window = window
        self._do: dict[str, Callable[..., None]] = {
            "select_image": self._select_image, "sample": self._sample, "interpolate": self._interpolate,
            "probe": self._probe, "backgrounds": self._backgrounds, "reset_view": self._reset_view,
            "denoise": self._denoise, "inpaint": self._inpaint, "loss_vectors": self._loss_vectors,
            "loss_digit": self._loss_digit, "linear_latent": self._linear_latent, "elbo_image": self._elbo_image,
            "beta": self._beta, "resample": self._resample,
        }
        assert set(self._do) == set(ACTIONS), "every action of the lesson format is done here"

    def run(self, action: Action) -> None:
        """Do one action; LessonError (or the panel's ValueError) if it cannot be done."""
        self._do[action.do](**action.args)

    # ------------------------------------------------------------ helpers

    @property
    def explore(self) -> Any:
        return self.window.panel("explore")

    def _image(self, ref: Any) -> int:
        explore = self.explore
        images = explore.images
        return resolve_image(ref, explore.labels, 0 if images is None else len(images))

    def _experiment(self, name: str) -> Any:
        return self.window.panel("lab").experiment(name)

    # ------------------------------------------------------------ Explore

    def _select_image(self, image: Any) -> None:
        self.explore.select_image(self._image(image))

    def _sample(self, n: int, seed: int | None = None) -> None:
        self.explore.sample(n=n, seed=seed)

    def _interpolate(self, a: Any, b: Any, steps: int | None = None) -> None:
        self.explore.interpolate(self._image(a), self._image(b), steps)

    def _probe(self, side: str, x: float, y: float) -> None:
        self.explore.probe(side, float(x), float(y))

    def _backgrounds(self, on: list[str]) -> None:
        for name in BACKGROUND_NAMES:
            self.explore.set_background(name, name in on)

    def _reset_view(self) -> None:
        self.explore.reset_view()

    # ------------------------------------------------------------ Denoise and Inpaint

    def _use_test_image(self, panel: Any, image: Any) -> None:
        panel.source.set_source("test")
        panel.source.index.setValue(self._image(image))

    def _denoise(self, kind: str, level: float, image: Any = None, passes: int | None = None) -> None:
        panel = self.window.panel("denoise")
        if image is not None:
            self._use_test_image(panel, image)
        panel.set_kind(kind)
        panel.set_level(float(level))
        if passes is not None:
            panel.passes.setValue(passes)
        panel.refresh()

    def _inpaint(self, preset: str, image: Any = None) -> None:
        panel = self.window.panel("inpaint")
        if image is not None:
            self._use_test_image(panel, image)
        panel.set_preset(preset)
        panel.start()

    # ------------------------------------------------------------ Lab

    def _loss_vectors(self, x: list[float], xhat: list[float]) -> None:
        losses = self._experiment("losses")
        losses.x_edit.setText(" ".join(f"{v:g}" for v in x))
        losses.x_hat_edit.setText(" ".join(f"{v:g}" for v in xhat))

    def _loss_digit(self, image: Any) -> None:
        losses = self._experiment("losses")
        index = self._image(image)
        if losses.index_spin.value() == index:
            losses.show_digit(index)
        else:
            losses.index_spin.setValue(index)

    def _linear_latent(self, k: int) -> None:
        linear = self._experiment("linear")
        if linear.is_running():
            raise LessonError("the linear AE is training: its latent size can change once the run is done (or stopped)")
        linear.latent_spin.setValue(k)

    def _elbo_image(self, image: Any) -> None:
        elbo = self._experiment("elbo")
        if not elbo.ensure_loaded():
            raise LessonError(elbo.last_error or "the ELBO tab has no VAE for these images")
        elbo.show_image(self._image(image))

    def _beta(self, beta: float) -> None:
        self._experiment("elbo").beta_study.set_beta(float(beta))

    # ------------------------------------------------------------ Computation

    def _resample(self, seed: int | None = None) -> None:
        self.window.panel("computation").resample(seed)
