"""What the window starts with, and what a dataset switch loads: a dataset's test
images (as a DatasetContext) and its bundled models. No Qt here, and torch only where
models are loaded, so the window can paint before torch is imported."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.data import BUNDLED_DATASETS, DATASETS, Dataset
from models.files import bundled_codes_dir, bundled_models_dir, default_cache_dir
from models.kinds import KIND_TITLES
from models.plane import CodeCache, CodePlane

if TYPE_CHECKING:  # torch-backed: imported where the models are loaded
    from models.checkpoint import Checkpoint

log = logging.getLogger(__name__)

SIDES = ("left", "right")
DEFAULT_MODELS = (("left", "ae"), ("right", "vae"))
DIGIT_NAMES = tuple(str(k) for k in range(10))

# The window's own torch work is one image at a time (decoding under the mouse,
# drawing, denoising, inpainting); training runs in a child process with its own
# threads. Tiny ops gain nothing from a second thread, and on a busy 2-core machine
# each parallel op can wait for it (docs/benchmarks.md).
GUI_TORCH_THREADS = 1


@dataclass(frozen=True, eq=False)
class DatasetContext:
    """The dataset every panel shows: handed to each panel when it is built and again
    when the user switches datasets, so no panel has to guess what it is looking at."""

    name: str
    title: str
    class_names: tuple[str, ...] = DIGIT_NAMES
    images: np.ndarray | None = field(default=None, repr=False)  # uint8 (N, H, W) test images
    labels: np.ndarray | None = field(default=None, repr=False)  # int64 (N,)
    source: str = "no images loaded"  # for the status bar: where the images came from
    is_subset: bool = False  # the bundled test set rather than the whole dataset on disk
    # Images a user brought (or CIFAR-10): the whole Dataset, which the Train panel and
    # the first quick models train on; None for the registered grey sets, read by name.
    data: Dataset | None = field(default=None, repr=False)
    labelled: bool = True  # False: a flat folder's images, one class; class features are hidden

    @property
    def models_folder(self) -> Path:
        """Where this dataset's bundled models are."""
        return bundled_models_dir(self.name)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:]) if self.images is not None else (28, 28)

    @property
    def colour(self) -> bool:
        return len(self.image_shape) == 3

    @property
    def has_images(self) -> bool:
        return self.images is not None

    @property
    def drawable(self) -> bool:
        """Whether the Draw panel works here: it turns a drawing into a grey 28 x 28 digit."""
        return self.image_shape == (28, 28)

    @property
    def shape_text(self) -> str:
        """'32 x 32 colour' or '28 x 28 grey': what the status bar and messages say."""
        h, w = self.image_shape[:2]
        return f"{h} x {w} {'colour' if self.colour else 'grey'}"


def dataset_title(name: str) -> str:
    return DATASETS[name].title if name in DATASETS else {"cifar10": "CIFAR-10"}.get(name, name)


def empty_context(name: str = "mnist", source: str = "no images loaded") -> DatasetContext:
    """A dataset with no images (they could not be loaded): panels show that they are empty."""
    return DatasetContext(name=name, title=dataset_title(name), source=source)


def images_context(
    images: np.ndarray | None, labels: np.ndarray | None = None, *, name: str = "mnist",
    class_names: tuple[str, ...] | None = None, source: str = "test images",
) -> DatasetContext:
    """A context around arrays at hand (a notebook, a test): labels default to zeros."""
    if images is not None and labels is None:
        labels = np.zeros(len(images), dtype=np.int64)
    return DatasetContext(
        name=name, title=dataset_title(name), class_names=class_names or DIGIT_NAMES, images=images, labels=labels,
        source=source,
    )


@dataclass(frozen=True)
class LoadedModels:
    """A dataset's bundled models, loaded (load_models)."""

    checkpoints: dict[str, Checkpoint | None] = field(default_factory=lambda: {s: None for s in SIDES})
    dae: Checkpoint | None = None  # the bundled denoising AE, for the Denoise and Inpaint panels
    dae_masking: Checkpoint | None = None  # the bundled DAE trained with masking noise, for the Inpaint panel
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartupData:
    """What the window starts with: the dataset and up to two checkpoints."""

    dataset: DatasetContext
    checkpoints: dict[str, Checkpoint | None] = field(default_factory=lambda: {s: None for s in SIDES})
    errors: tuple[str, ...] = ()
    dae: Checkpoint | None = None
    dae_masking: Checkpoint | None = None
    # Start-up before torch: each side's cached codes and plot title, and what loads
    # the models (in a thread once the window has painted; see MainWindow.wait_for_models).
    previews: dict[str, tuple[CodePlane, str]] = field(default_factory=dict)
    load_models: Callable[[], LoadedModels] | None = None
    code_cache: CodeCache | None = None


def code_cache(images: np.ndarray | None) -> CodeCache | None:
    """The test images' codes under each model shown, kept between runs (see CodeCache)."""
    if images is None:
        return None
    return CodeCache(default_cache_dir() / "codes", images, shipped=bundled_codes_dir())


def plot_title(model_title: str, plane: CodePlane) -> str:
    """A latent plot's title: the model and what the plane is."""
    return f"{model_title} · {plane.description}"


def load_dataset_context(data_dir: Path | None, dataset: str) -> tuple[DatasetContext, tuple[str, ...]]:
    """A dataset's test images (bundled, or the full test set in data_dir or the cache)
    and what went wrong; the context has no images if they could not be loaded. No torch."""
    from models import data

    try:
        if data_dir is None and dataset in BUNDLED_DATASETS:
            ds = data.load_bundled(dataset)
        elif dataset in BUNDLED_DATASETS:
            ds = data.load_dataset_or_bundled(dataset, data_dir=data_dir)
        else:
            ds = data.load_dataset(dataset, data_dir=data_dir)
    except data.DataError as exc:
        return empty_context(dataset), (f"The {dataset_title(dataset)} test images could not be loaded: {exc}",)
    source = ds.source if ds.is_subset else f"{ds.title} test set, {len(ds.test_images):,} images ({ds.source})"
    context = DatasetContext(
        name=dataset, title=ds.title, class_names=tuple(ds.class_names), images=ds.test_images, labels=ds.test_labels,
        source=source, is_subset=ds.is_subset,
    )
    return context, ()


def dataset_context(ds: Dataset) -> DatasetContext:
    """The context of a Dataset read whole (a user's images, CIFAR-10): its test images
    are what the plots show, and the whole set travels along for training."""
    source = f"{ds.title}: {len(ds.train_images):,} training and {len(ds.test_images):,} test images ({ds.source})"
    return DatasetContext(name=ds.name, title=ds.title, class_names=tuple(ds.class_names), images=ds.test_images,
                          labels=ds.test_labels, source=source, is_subset=ds.is_subset, data=ds, labelled=ds.labelled)


def startup_on(ds: Dataset) -> StartupData:
    """What the window starts with on images that have no bundled models: their codes
    come from the quick models the window trains first (see background/quick_models.py)."""
    context = dataset_context(ds)
    return StartupData(dataset=context, code_cache=code_cache(context.images))


def load_models(dataset: str = "mnist", *, have_images: bool = True) -> LoadedModels:
    """A dataset's bundled models (this imports torch); whatever fails is reported in
    ``errors`` instead of raising.

    MNIST is the app's home: every bundled file is expected and a missing one is an
    error. Other datasets may have no bundled models (KMNIST): their absence is said
    once, as a hint to train some."""
    from models.checkpoint import CheckpointError, load_checkpoint

    title = dataset_title(dataset)
    errors: list[str] = []
    folder = bundled_models_dir(dataset)
    if dataset != "mnist" and not folder.is_dir():
        if have_images:
            errors.append(f"No models of {title} ship with the app: train an AE and a VAE on it in the Train panel.")
        return LoadedModels(errors=tuple(errors))
    checkpoints: dict[str, Checkpoint | None] = {}
    for side, kind in DEFAULT_MODELS:
        try:
            checkpoints[side] = load_checkpoint(folder / f"{kind}.pt", expect_kind=kind)
        except CheckpointError as exc:
            checkpoints[side] = None
            errors.append(f"The bundled {kind.upper()} could not be loaded ({exc}). Open a checkpoint with File › Open.")
    daes: dict[str, Checkpoint | None] = {}
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


def load_startup(data_dir: Path | None = None, dataset: str = "mnist", *, preview: bool = False) -> StartupData:
    """A dataset's test images and its bundled models (see load_dataset_context and
    load_models); whatever fails is reported in ``errors`` instead of raising.

    With ``preview``, when the bundled AE's and VAE's codes of these images are cached
    (or shipped, see CodeCache), the models are not loaded: the window plots the codes
    and loads the models after its first paint (StartupData.load_models), so nothing
    here imports torch."""
    context, errors = load_dataset_context(data_dir, dataset)
    if context.images is None and dataset != "mnist":
        # Nothing to show its models on; the caller says why or falls back to MNIST.
        return StartupData(dataset=context, errors=errors)
    cache = code_cache(context.images)
    previews = _cached_previews(cache, dataset) if preview and cache is not None and not errors else None
    if previews is not None:
        return StartupData(dataset=context, previews=previews, code_cache=cache, load_models=partial(load_models, dataset))
    models = load_models(dataset, have_images=context.images is not None)
    return StartupData(
        dataset=context, checkpoints=models.checkpoints, errors=errors + models.errors, dae=models.dae,
        dae_masking=models.dae_masking, code_cache=cache,
    )


def _cached_previews(cache: CodeCache, dataset: str) -> dict[str, tuple[CodePlane, str]] | None:
    """Each side's cached codes of the bundled models and its plot title; None if any is missing."""
    from models.files import file_key

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


def configure_torch(*, threads: int | None = GUI_TORCH_THREADS) -> None:
    """Torch settings for the GUI thread (both are per thread): denormals flushed (see
    models.train.flush_denormals) and ``threads`` threads for its own operations
    (None: leave torch's default)."""
    import torch

    from models.train import flush_denormals

    flush_denormals()
    if threads is not None:
        torch.set_num_threads(threads)
