"""What a user names as training or test data, as one ``models.data.Dataset``: a
registered dataset (``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10``) or a path to
images they bring (an image folder, a ``label,pixel...`` CSV, ``.npz`` / ``.npy`` arrays,
read by ``models.user_images``), plus the description that travels in a checkpoint's
metadata so a model opened later knows what it was trained on.

``inspect_images`` is cheap (a folder's listing and a few image headers, an array file's
header, a CSV's first lines) so the command line can check a path and settle the size
and colour before any window opens or any work starts; ``read_images`` then reads it."""
from __future__ import annotations

import importlib
import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models import data, user_images
from models.user_images import FITS, UserImagesError

REGISTERED = ("mnist", "fashion-mnist", "kmnist", "cifar10")
# Working sizes an image folder is converted to (the MLP's 28, the conv nets' 32 and 64).
SIZES = (28, 32, 64)
FORMATS = {".csv": "csv", ".npz": "arrays", ".npy": "arrays"}
# A user's images are split with this seed and share (not the training seed), so that
# eval and codes find the same test images again.
SPLIT_SEED = 0
TEST_SHARE = 1 / 6
# The one class of images that come without labels.
UNLABELLED = ("unlabelled",)
# Image headers read to tell a colour folder from a grey one.
_PEEK = 16


class SourceError(ValueError):
    """The data cannot be used as asked; the message names the path or name and the problem."""


@dataclass(frozen=True)
class ImageSource:
    """A path to images with its options settled: ``format`` is folder, csv or arrays;
    ``size`` the square side in pixels; ``fit`` how a folder's images become square."""

    path: Path
    format: str
    size: int
    colour: bool
    fit: str = "pad"
    # Image files in a folder (0 for files): the count a progress bar runs to.
    files: int = 0


@dataclass(frozen=True)
class Opened:
    """A read dataset (its ``description`` set) and one line about skipped files (empty
    when nothing was skipped)."""

    dataset: data.Dataset
    summary: str = ""

    @property
    def description(self) -> dict[str, Any]:
        return describe(self.dataset)


# ---------------------------------------------------------------- cheap inspection


def _npy_header(f, where: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except ValueError as e:
        raise SourceError(f"{where}: not a NumPy array file ({e})") from e
    if dtype.hasobject:
        raise SourceError(f"{where}: contains Python objects, which are never unpickled; save plain arrays (np.savez)")
    return tuple(shape), dtype


def _array_shape(path: Path) -> tuple[int, ...]:
    """The shape of ``x`` in an .npz (or of the .npy's array), read from its header only."""
    try:
        if path.suffix.lower() == ".npy":
            with open(path, "rb") as f:
                return _npy_header(f, str(path))[0]
        with zipfile.ZipFile(path) as z:
            if "x.npy" not in z.namelist():
                found = ", ".join(n.removesuffix(".npy") for n in z.namelist()) or "none"
                raise SourceError(f"{path}: has no array named 'x' (found: {found})")
            with z.open("x.npy") as f:
                return _npy_header(f, f"{path}: 'x'")[0]
    except (OSError, zipfile.BadZipFile) as e:
        raise SourceError(f"{path}: not a NumPy array file ({getattr(e, 'strerror', None) or e})") from e


def _csv_side(path: Path) -> int:
    """The square side of a ``label,pixel...`` CSV's images, from its first line."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            line = next((raw for raw in f if raw.strip()), "")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: cannot be read ({getattr(e, 'strerror', None) or e})") from e
    if not line:
        raise SourceError(f"{path}: no rows of images in it")
    width = line.count(",") + 1
    side = math.isqrt(max(width - 1, 0))
    if width < 2 or side * side != width - 1:
        raise SourceError(f"{path}, line 1: {width - 1} pixel columns are not a square grey image (784 would be 28 x 28)")
    return side


def _folder_colour(root: Path, rels: list[str]) -> bool:
    """Whether a folder holds colour images: any of the first few readable headers not grey."""
    from PIL import Image, UnidentifiedImageError

    for rel in rels[:_PEEK]:
        try:
            with Image.open(root / rel) as im:  # reads the header only
                if im.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                    return True
        except (OSError, UnidentifiedImageError, ValueError):
            continue  # the reader skips and counts it
    return False


def inspect_images(path: str | os.PathLike, *, size: int | None = None, colour: bool | None = None,
                   fit: str | None = None) -> ImageSource:
    """Check ``path`` cheaply and settle its options. A folder is converted to ``size``
    (default 28; one of SIZES), in colour when ``colour`` is True or, when None, when its
    images are; CSVs and arrays keep their own size (``size``, when given, must match),
    CSVs are grey, and colour arrays become grey with ``colour=False``. ``fit`` (pad or
    crop; default pad) is for folders only."""
    path = Path(path).expanduser()
    if fit is not None and fit not in FITS:
        raise SourceError(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        if size is not None and size not in SIZES:
            raise SourceError(f"{path}: an image folder is converted to {', '.join(map(str, SIZES))} pixels square, not {size}")
        try:
            # The reader's own listing, so the count and layout are the ones it will read.
            entries = user_images._list_folder(path)
        except OSError as e:
            raise SourceError(f"{path}: cannot be listed ({e.strerror or e})") from e
        except UserImagesError as e:
            raise SourceError(str(e)) from e
        if not entries:
            raise SourceError(f"{path}: no {'/'.join(user_images.IMAGE_SUFFIXES)} files in it")
        if colour is None:
            colour = _folder_colour(path, [e.rel for e in entries])
        return ImageSource(path, "folder", size or SIZES[0], colour, fit or "pad", files=len(entries))
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(f"{path}: give an image folder, a .csv file or a .npz / .npy file")
    if fit is not None:
        raise SourceError(f"{path}: --fit is for image folders; a {path.suffix} file's images keep their size")
    if kind == "csv":
        if colour:
            raise SourceError(f"{path}: CSV images are grey; leave out --colour")
        side, file_colour = _csv_side(path), False
    else:
        shape = _array_shape(path)
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)) or shape[1] != shape[2]:
            raise SourceError(f"{path}: 'x' has shape {shape}; expected (N, H, W) grey or (N, H, W, 3) colour square images")
        side, file_colour = shape[1], len(shape) == 4 and shape[-1] == 3
        if colour and not file_colour:
            raise SourceError(f"{path}: the images are grey; leave out --colour")
    if size is not None and size != side:
        raise SourceError(f"{path}: the images are {side} x {side}, not {size} x {size}; leave out --size")
    return ImageSource(path, kind, side, file_colour if colour is None else colour)


# ---------------------------------------------------------------- reading


def _grey(images: np.ndarray) -> np.ndarray:
    """Colour to luminance with Pillow's weights (ITU-R 601: L = 0.299 R + 0.587 G + 0.114 B)."""
    weights = np.array([299, 587, 114], np.uint32)
    return ((images.astype(np.uint32) @ weights + 500) // 1000).astype(np.uint8)


def _as_dataset(images: user_images.UserImages, source: ImageSource) -> data.Dataset:
    train_x, test_x = images.train_images, images.test_images
    if images.colour and not source.colour:
        train_x, test_x = _grey(train_x), _grey(test_x)
    labelled = images.labelled
    return data.Dataset(
        name=f"images:{source.path.stem or source.path.name}",
        title=source.path.name or str(source.path),
        class_names=images.class_names if labelled else UNLABELLED,
        train_images=train_x,
        train_labels=images.train_labels if images.train_labels is not None else np.zeros(len(train_x), np.int64),
        test_images=test_x,
        test_labels=images.test_labels if images.test_labels is not None else np.zeros(len(test_x), np.int64),
        source=str(source.path),
        labelled=labelled,
    )


def read_images(source: ImageSource, *, cache_dir: str | os.PathLike | None = None,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> Opened:
    """Read the images ``source`` names (a folder through the cache) into a Dataset split
    with SPLIT_SEED; UserImagesError (and Cancelled) pass through with their messages."""
    if source.format == "folder":
        images = user_images.read_image_folder(
            source.path, size=source.size, colour=source.colour, fit=source.fit, test_share=TEST_SHARE,
            seed=SPLIT_SEED, cache_dir=cache_dir, progress=progress, should_stop=should_stop)
    elif source.format == "csv":
        images = user_images.read_csv(source.path, size=source.size, test_share=TEST_SHARE, seed=SPLIT_SEED)
    else:
        images = user_images.read_arrays(source.path, test_share=TEST_SHARE, seed=SPLIT_SEED)
    if len(images.train_images) == 0:
        raise UserImagesError(f"{source.path}: {images.count} image(s) leave none to train on")
    ds = _as_dataset(images, source)
    description = {
        **images.description(),
        "format": source.format,
        "colour": source.colour,
        "labelled": images.labelled,
        "classes": list(ds.class_names) if images.labelled else [],
        "train": len(ds.train_images),
        "test": len(ds.test_images),
        "source": str(source.path.resolve()),
        "split_seed": SPLIT_SEED,
        "test_share": TEST_SHARE,
    }
    if source.format == "folder":
        description["fit"] = source.fit
    return Opened(replace(ds, description=description), images.summary() if images.skipped else "")


def load_registered(name: str, *, data_dir: str | os.PathLike | None = None, download: bool = False,
                    bundled: bool = False, mirror: str | None = None,
                    progress: Callable[[data.DownloadProgress], None] | None = None) -> data.Dataset:
    """A registered dataset by name; ``data.DataError`` passes through. CIFAR-10 comes from
    ``models.cifar`` (its ``load_cifar10``), imported only when asked for."""
    if name not in REGISTERED:
        raise SourceError(f"unknown dataset {name!r}; choose one of {', '.join(REGISTERED)}, or give a path to images")
    if name == "cifar10":
        try:
            # By name: the module may not exist in this version, and mypy must not mind either way.
            cifar = importlib.import_module("models.cifar")
        except ModuleNotFoundError as e:
            if e.name != "models.cifar":
                raise
            raise SourceError("CIFAR-10 is not available in this version of Latent Explorer (models/cifar.py is missing)") from e
        if bundled:
            raise SourceError("no CIFAR-10 images ship with the app; use --download or --data-dir")
        return cifar.load_cifar10(data_dir=data_dir, download=download, progress=progress, mirror=mirror)
    if bundled:
        return data.load_bundled(name)
    return data.load_dataset(name, data_dir=data_dir, download=download, progress=progress, mirror=mirror)


def load_source(what: str | os.PathLike, *, size: int | None = None, colour: bool | None = None,
                fit: str | None = None, **options: Any) -> Opened:
    """The one entry: a registered name (``options`` go to ``load_registered``) or a path to
    images (``options`` go to ``read_images``), at ``size`` pixels (a registered grey
    dataset is padded to it) and in ``colour`` where the data allows."""
    if isinstance(what, str) and what in REGISTERED:
        ds = load_registered(what, **options)
        if fit == "crop":
            raise SourceError(f"{what}: its images are padded to a larger size, never cropped; leave out --fit")
        if colour and ds.train_images.ndim == 3:
            raise SourceError(f"{what}: its images are grey")
        return Opened(resized(greyed(ds) if colour is False else ds, size))
    return read_images(inspect_images(what, size=size, colour=colour, fit=fit), **options)


def resized(ds: data.Dataset, size: int | None) -> data.Dataset:
    """A registered dataset padded with black to ``size`` pixels square (28 -> 32 for
    convolutional models); the same dataset when ``size`` is None or its own."""
    side = ds.train_images.shape[1]
    if size is None or size == side:
        return ds
    if size < side or size not in SIZES:
        raise SourceError(f"{ds.title}'s {side} x {side} images can be padded to {', '.join(str(s) for s in SIZES if s > side)} "
                          f"pixels, not {size}")
    before = (size - side) // 2
    pad = [(0, 0), (before, size - side - before), (before, size - side - before)] + [(0, 0)] * (ds.train_images.ndim - 3)
    return replace(ds, train_images=np.pad(ds.train_images, pad), test_images=np.pad(ds.test_images, pad),
                   source=f"{ds.source}, padded to {size} x {size}")


def greyed(ds: data.Dataset) -> data.Dataset:
    """A registered colour dataset (CIFAR-10) in grey; a grey one as it is."""
    if ds.train_images.ndim != 4:
        return ds
    return replace(ds, train_images=_grey(ds.train_images), test_images=_grey(ds.test_images), source=f"{ds.source}, in grey")


def describe(ds: data.Dataset) -> dict[str, Any]:
    """What ``ds`` is, for a checkpoint's metadata: the description ``read_images`` gave
    it, else one of the same shape (format "registered" for a registered dataset,
    "in memory" for arrays a caller made)."""
    if ds.description is not None:
        return dict(ds.description)
    return {
        "name": ds.name,
        "title": ds.title,
        "format": "registered" if ds.name in REGISTERED else "in memory",
        "size": int(ds.train_images.shape[1]),
        "colour": ds.train_images.ndim == 4,
        "classes": list(ds.class_names),
        "labelled": ds.labelled,
        "count": len(ds.train_images) + (0 if ds.is_subset else len(ds.test_images)),
        "train": len(ds.train_images),
        "test": len(ds.test_images),
        "source": ds.source,
        "subset": ds.is_subset,
    }


def source_for(description: dict[str, Any], path: str | os.PathLike) -> ImageSource:
    """``path`` read the way a checkpoint's images were (its description's size, colour
    and fit), checked cheaply like ``inspect_images``."""
    fit = description.get("fit")
    return inspect_images(path, size=description.get("size"), colour=description.get("colour"),
                          fit=fit if Path(path).is_dir() else None)


def needs_images(description: dict[str, Any] | None) -> bool:
    """Whether a checkpoint with this description was trained on images a user brought."""
    return description is not None and description.get("format", "registered") != "registered"
