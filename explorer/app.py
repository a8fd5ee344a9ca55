"""Start the GUI: QApplication set-up, the bundled models and images, the main window,
and the offscreen screenshot mode used for the README's pictures."""
from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ORGANIZATION = "latent-explorer"
APPLICATION = "latent-explorer"
DEFAULT_MODELS = (("left", "ae"), ("right", "vae"))


def load_images(data_dir: Path | None, dataset: str):
    """A dataset's test images (bundled, or the full test set in data_dir or the cache):
    (images, labels, class_names, source, errors); images is None if they could not be
    loaded, and errors says why. No torch."""
    from models import data

    title = data.DATASETS[dataset].title if dataset in data.DATASETS else dataset
    try:
        if data_dir is None and dataset in data.BUNDLED_DATASETS:
            ds = data.load_bundled(dataset)
        elif dataset in data.BUNDLED_DATASETS:
            ds = data.load_dataset_or_bundled(dataset, data_dir=data_dir)
        else:
            ds = data.load_dataset(dataset, data_dir=data_dir)
    except data.DataError as exc:
        return None, None, tuple(str(k) for k in range(10)), "no images loaded", (
            f"The {title} test images could not be loaded: {exc}",)
    source = ds.source if ds.is_subset else f"{ds.title} test set, {len(ds.test_images):,} images ({ds.source})"
    return ds.test_images, ds.test_labels, tuple(ds.class_names), source, ()


def load_models(dataset: str = "mnist", *, have_images: bool = True):
    """A dataset's bundled models (this imports torch) as LoadedModels; whatever fails
    is reported in ``errors`` instead of raising.

    MNIST is the app's home: every bundled file is expected and a missing one is an
    error. Other datasets may have no bundled models (KMNIST): their absence is said
    once, as a hint to train some."""
    from explorer.window import LoadedModels
    from models.checkpoint import CheckpointError, load_checkpoint
    from models.data import DATASETS
    from models.files import bundled_models_dir

    title = DATASETS[dataset].title if dataset in DATASETS else dataset
    errors: list[str] = []
    folder = bundled_models_dir(dataset)
    if dataset != "mnist" and not folder.is_dir():
        if have_images:
            errors.append(f"No models of {title} ship with the app: train an AE and a VAE on it in the Train panel.")
        return LoadedModels(errors=tuple(errors))
    checkpoints = {}
    for side, kind in DEFAULT_MODELS:
        try:
            checkpoints[side] = load_checkpoint(folder / f"{kind}.pt", expect_kind=kind)
        except CheckpointError as exc:
            checkpoints[side] = None
            errors.append(f"The bundled {kind.upper()} could not be loaded ({exc}). Open a checkpoint with File › Open.")
    daes = {}
    for stem, what in (("dae", "denoising AE"), ("dae_masking", "masking-noise DAE")):
        path = folder / f"{stem}.pt"
        if dataset != "mnist" and not path.exists():
            daes[stem] = None  # not every dataset has every model
            continue
        try:
            daes[stem] = load_checkpoint(path, expect_kind="dae")
        except CheckpointError as exc:
            daes[stem] = None
            errors.append(f"The bundled {what} could not be loaded ({exc}); the Denoise and Inpaint panels work without it.")
    return LoadedModels(checkpoints=checkpoints, dae=daes["dae"], dae_masking=daes["dae_masking"], errors=tuple(errors))


def load_startup(data_dir: Path | None = None, dataset: str = "mnist", *, preview: bool = False):
    """A dataset's test images and its bundled models (see load_images and load_models);
    whatever fails is reported in ``errors`` instead of raising.

    With ``preview``, when the bundled AE's and VAE's codes of these images are cached
    (or shipped, see CodeCache), the models are not loaded: the window plots the codes
    and loads the models after its first paint (StartupData.load_models), so nothing
    here imports torch."""
    from functools import partial

    from explorer.explore_panel import code_cache
    from explorer.window import StartupData

    images, labels, class_names, source, errors = load_images(data_dir, dataset)
    common = dict(images=images, labels=labels, class_names=class_names, data_source=source, dataset=dataset)
    if images is None and dataset != "mnist":
        # Nothing to show its models on; the caller says why or falls back to MNIST.
        return StartupData(**common, errors=errors)
    cache = code_cache(images)
    previews = _cached_previews(cache, dataset) if preview and images is not None and not errors else None
    if previews is not None:
        return StartupData(**common, previews=previews, code_cache=cache, load_models=partial(load_models, dataset))
    models = load_models(dataset, have_images=images is not None)
    return StartupData(
        **common, checkpoints=models.checkpoints, errors=errors + models.errors, dae=models.dae,
        dae_masking=models.dae_masking, code_cache=cache,
    )


def _cached_previews(cache, dataset: str):
    """Each side's cached codes of the bundled models and its plot title; None if any is missing."""
    from explorer.explore_panel import plot_title
    from models.files import bundled_models_dir, file_key
    from models.kinds import KIND_TITLES
    from models.plane import CodePlane

    folder = bundled_models_dir(dataset)
    previews = {}
    for side, kind in DEFAULT_MODELS:
        path = folder / f"{kind}.pt"
        try:
            codes = cache.load(file_key(path), latent=2) if path.is_file() else None
        except OSError:
            codes = None
        if codes is None:
            return None
        plane = CodePlane(codes)
        previews[side] = (plane, plot_title(KIND_TITLES[kind], plane))
    return previews


def _demo_state(window) -> None:
    """What a user sees after a few clicks: a probed point, a selected test image,
    prior samples and an interpolation; used for screenshots."""
    panel = window.explore
    panel.set_background("prior", True)
    labels = panel.labels
    if labels is None or panel.space("right") is None:
        return
    a = int(next(i for i, y in enumerate(labels) if y == 1))
    b = int(next(i for i, y in enumerate(labels) if y == 7))
    panel.select_image(int(next(i for i, y in enumerate(labels) if y == 4)))
    panel.sample(n=12, seed=0)
    panel.interpolate(a, b, 10)
    panel.probe("right", 0.6, -0.8)


STARTUP_PROBE_ENV = "LATENT_EXPLORER_STARTUP_PROBE"


def configure_pyqtgraph() -> None:
    """Plot options the whole app relies on."""
    import pyqtgraph as pg

    # Decoding a point costs about 0.1 ms, so every mouse move is worth handling:
    # pyqtgraph's default 100 Hz limit drops moves outright, which can leave the
    # crosshair and the decoded image short of where the mouse stopped.
    pg.setConfigOptions(antialias=False, mouseRateLimit=-1)


# The window's own torch work is one image at a time (decoding under the mouse,
# drawing, denoising, inpainting); training runs in a child process with its own
# threads. Tiny ops gain nothing from a second thread, and on a busy 2-core machine
# each parallel op can wait milliseconds for it: BCE on 784 pixels measured 8 ms
# with 2 threads against 7 us with 1 while a training process ran.
GUI_TORCH_THREADS = 1


def configure_torch(*, threads: int | None = GUI_TORCH_THREADS) -> None:
    """Torch settings for the GUI thread (both are per thread): denormals flushed (see
    models.train.flush_denormals) and ``threads`` threads for its own operations
    (None: leave torch's default)."""
    import torch

    from models.train import flush_denormals

    flush_denormals()
    if threads is not None:
        torch.set_num_threads(threads)


def _report_first_paint(app, window) -> None:
    """For the benchmark: print the wall-clock times of the window's first paint and of
    the models being ready to decode (the same moment when they loaded before the
    window was built), then quit."""
    import time

    from PySide6.QtCore import QEvent, QObject

    def report(what: str) -> None:
        sys.stdout.write(f"{what}-wallclock {time.time():.6f}\n")
        sys.stdout.flush()

    def ready() -> None:
        report("models-ready")
        app.quit()

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Paint:
                obj.removeEventFilter(self)
                report("first-paint")
                if window.models_pending():
                    window.models_ready.connect(ready)
                else:
                    ready()
            return False

    window._first_paint_probe = FirstPaint(window)
    window.installEventFilter(window._first_paint_probe)


def run_app(args) -> int:
    """Open the window (or, with args.screenshot, save a PNG of it and exit)."""
    screenshot: Path | None = getattr(args, "screenshot", None)
    if screenshot is not None:
        # Must be set before the QApplication exists.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    panel = getattr(args, "panel", None)
    # The window paints before torch is imported when it opens on the Explore panel
    # and the bundled models' codes are cached or shipped (see load_startup): torch and the
    # models (~1.5-3 s here, two thirds of a cold start) load in a thread meanwhile.
    preview = screenshot is None and panel in (None, "explore")
    if not preview:
        # torch before PySide6: once PySide6 is imported, its import hook reads the
        # source of every module imported after it (to look for ``from __feature__``),
        # which added 0.2 to 0.6 s to start-up for torch's thousand modules.
        importlib.import_module("torch")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Latent Explorer")
    app.setStyle("Fusion")
    configure_pyqtgraph()

    from explorer.window import MainWindow

    # Screenshots use the defaults, not whatever the user last left in their settings.
    settings = None if screenshot is not None else QSettings()
    from models.data import DATASETS

    dataset = getattr(args, "dataset", None) or (settings.value("dataset", "mnist", type=str) if settings is not None else "mnist")
    if dataset not in DATASETS:
        dataset = "mnist"
    data_dir = getattr(args, "data_dir", None)
    last_panel = settings.value("window/panel", "", type=str) if settings is not None else ""
    preview = preview and last_panel in ("", "explore")
    startup = load_startup(data_dir, dataset, preview=preview)
    if startup.images is None and dataset != "mnist":
        # The dataset last shown is gone (a cache cleared): start on MNIST rather than empty.
        startup = load_startup(data_dir, "mnist", preview=preview)
    # Building the window with models encodes the test images with each one shown
    # unless their codes are cached (about 0.3 s of matrix products): nothing else
    # runs yet, so with all cores; one thread after (see MainWindow._models_arrived).
    if startup.load_models is None:
        configure_torch(threads=None)  # denormals flushed before the window encodes with torch's threads
    window = MainWindow(startup=startup, settings=settings)
    if not window.models_pending():
        configure_torch()
    window.set_data_dir(data_dir)
    if panel is not None and panel not in window.panel_names():
        sys.stderr.write(f"error: unknown panel {panel!r}; valid panels: {', '.join(window.panel_names())}\n")
        window.deleteLater()
        return 2
    if panel is not None:
        window.show_panel(panel)
    train_for = getattr(args, "train_for", None) if screenshot is not None else None
    if train_for is not None and panel is None:
        window.show_panel("train")
    if train_for is not None and train_for < 0:
        sys.stderr.write("error: --train-for needs a number of seconds >= 0\n")
        window.deleteLater()
        return 2

    if screenshot is None:
        window.show()
        if os.environ.get(STARTUP_PROBE_ENV):
            _report_first_paint(app, window)
        return app.exec()

    window.resize(1400, 900)
    if panel in (None, "explore"):
        _demo_state(window)
    elif hasattr(window.panel(panel), "demo"):
        window.panel(panel).demo()
    window.show()
    result = {"code": 1}

    def grab() -> None:
        app.processEvents()
        window.explore.flush()
        app.processEvents()
        path = Path(screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        if window.grab().save(str(path), "PNG"):
            result["code"] = 0
        else:
            sys.stderr.write(f"error: could not write {path}\n")
        app.quit()

    if train_for is not None:
        # The run goes on in its child process while the event loop draws it; the
        # picture is taken at the deadline, before the run is stopped.
        if not window.train_panel.start():
            sys.stderr.write(f"error: could not start training: {window.train_panel.last_error}\n")
            window.close()
            return 1
        # Freeze the live view a moment before the grab so the plots have been laid out
        # and painted at their final ranges.
        QTimer.singleShot(max(0, int(train_for * 1000) - 300), window.train_panel.demo_probe)
        QTimer.singleShot(int(train_for * 1000), grab)
    else:
        # One pass of the event loop lays the window out and paints it before the grab.
        QTimer.singleShot(0, grab)
    app.exec()
    window.close()
    return result["code"]
