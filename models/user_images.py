"""Images a user brings: an image folder (ImageFolder convention or flat), a CSV in the
``label,pixel0,...`` layout, or ``.npz`` / ``.npy`` arrays, read into uint8 arrays of one
square working size and split into train and test with a fixed seed.

Pillow decodes the images (the standard, well-kept decoder); a folder's converted arrays
are cached as one ``.npz`` keyed by its file list, sizes and modification times, so a
second start decodes nothing. Nothing is ever unpickled (``allow_pickle=False``). No Qt,
no torch: the reading layer only."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.files import atomic_write_bytes, default_cache_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FITS = ("pad", "crop")
# Bump when the cache's contents or the conversion change, so old caches are not reused.
CACHE_VERSION = 1

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class UserImagesError(ValueError):
    """The images cannot be read; the message names the path and the problem."""


class Cancelled(Exception):
    """The user stopped the conversion; nothing was written to the cache."""


@dataclass
class UserImages:
    """Images as uint8 arrays, (N, S, S) grey or (N, S, S, 3) colour, with labels (indices
    into ``class_names``) or None for unlabelled images."""

    train_images: np.ndarray
    train_labels: np.ndarray | None
    test_images: np.ndarray
    test_labels: np.ndarray | None
    class_names: tuple[str, ...]
    colour: bool
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    from_cache: bool = False
    # How many files were looked at (for the summary); 0 for arrays and CSVs.
    file_count: int = 0

    @property
    def size(self) -> int:
        return int(self.train_images.shape[1] if len(self.train_images) else self.test_images.shape[1])

    @property
    def count(self) -> int:
        return len(self.train_images) + len(self.test_images)

    @property
    def labelled(self) -> bool:
        return self.train_labels is not None

    def summary(self) -> str:
        """One line for the status bar: what was read and what was skipped and why."""
        if not self.skipped:
            total = self.file_count or self.count
            return f"read {total} {'files' if self.file_count else 'images'}"
        kinds = Counter(_kind(reason) for _, reason in self.skipped)
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        first_file, first_reason = self.skipped[0]
        return f"skipped {len(self.skipped)} of {self.file_count} files: {parts} (first: {first_file}: {first_reason})"

    def description(self) -> dict[str, Any]:
        """What the images are, JSON-serialisable, for a checkpoint's metadata."""
        return {
            "name": Path(self.source).name or self.source,
            "size": self.size,
            "colour": self.colour,
            "classes": list(self.class_names),
            "count": self.count,
            "source": self.source,
        }


def _kind(reason: str) -> str:
    if "truncated" in reason:
        return "truncated"
    if "vanished" in reason:
        return "vanished"
    return "unreadable"


# ---------------------------------------------------------------- the seeded split


def split_indices(labels: np.ndarray | None, n: int, *, test_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices (each sorted): ``test_share`` of each class (of all images
    when unlabelled) goes to test, chosen by ``numpy.random.default_rng(seed)``; a group
    of two or more keeps at least one image on each side."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    test: list[np.ndarray] = []
    for group in groups:
        k = int(round(len(group) * test_share))
        if len(group) >= 2 and test_share > 0:
            k = min(max(k, 1), len(group) - 1)
        test.append(rng.permutation(group)[:k])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    return train_idx, test_idx


def _check_share(test_share: float) -> None:
    if not 0 <= test_share < 1:
        raise UserImagesError(f"test_share must be at least 0 and below 1, not {test_share}")


def _split(images: np.ndarray, labels: np.ndarray | None, class_names: tuple[str, ...], *, colour: bool, source: str,
           test_share: float, seed: int) -> UserImages:
    train_idx, test_idx = split_indices(labels, len(images), test_share=test_share, seed=seed)
    return UserImages(
        train_images=images[train_idx], train_labels=None if labels is None else labels[train_idx],
        test_images=images[test_idx], test_labels=None if labels is None else labels[test_idx],
        class_names=class_names, colour=colour, source=source)


def _label_indices(raw: Sequence[str], where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as indices into sorted class names; integer labels sort as numbers."""
    try:
        as_int = [int(v) for v in raw]
    except ValueError:
        names = tuple(sorted(set(raw)))
        lookup = {name: i for i, name in enumerate(names)}
        return np.array([lookup[v] for v in raw], np.int64), names
    values = sorted(set(as_int))
    lookup_int = {v: i for i, v in enumerate(values)}
    return np.array([lookup_int[v] for v in as_int], np.int64), tuple(str(v) for v in values)


# ---------------------------------------------------------------- image folders


@dataclass(frozen=True)
class _Entry:
    rel: str  # path relative to the folder, with forward slashes
    label: str | None  # class folder name, None when flat
    part: str  # "train", "test" or "" (split by seed)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                  and not p.is_dir())


def _list_part(root: Path, folder: Path, part: str) -> list[_Entry]:
    """A folder's images: in class sub-folders (ImageFolder) or directly in it (flat).
    Sub-folders without any image file (``.git``, ``__MACOSX``) are not classes."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
    classes = [(sub, files) for sub in subfolders if (files := _image_files(sub))]
    if classes:
        return [_Entry(f.relative_to(root).as_posix(), sub.name, part) for sub, files in classes for f in files]
    return [_Entry(f.relative_to(root).as_posix(), None, part) for f in _image_files(folder)]


def _list_folder(root: Path) -> list[_Entry]:
    train, test = root / "train", root / "test"
    if train.is_dir() and test.is_dir():
        entries = _list_part(root, train, "train") + _list_part(root, test, "test")
        labelled = {e.label is not None for e in entries}
        if len(labelled) > 1:
            raise UserImagesError(f"{root}: train/ and test/ must both have class folders or both be flat")
        return entries
    return _list_part(root, root, "")


def _signature(root: Path, entries: Sequence[_Entry]) -> list[tuple[str, int, int]]:
    """Each file's relative path, size and mtime_ns (-1 when it is gone)."""
    out = []
    for e in entries:
        try:
            st = (root / e.rel).stat()
            out.append((e.rel, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((e.rel, -1, -1))
    return sorted(out)


def _cache_key(root: Path, signature: list[tuple[str, int, int]], params: dict[str, Any]) -> str:
    text = json.dumps({"version": CACHE_VERSION, "folder": str(root.resolve()), "files": signature, **params},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _fill_colour(im: Image.Image) -> int | tuple[int, ...]:
    """The colour that covers most of the image's outer ring if it covers at least half
    of it (a photo's plain background), else black."""
    a = np.asarray(im)
    ring = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).reshape(-1, *a.shape[2:])
    keys = [tuple(np.atleast_1d(v).tolist()) for v in ring]
    colour, n = Counter(keys).most_common(1)[0]
    if n * 2 < len(keys):
        colour = (0,) * len(colour)
    return colour[0] if len(colour) == 1 else colour


def convert_image(im: Image.Image, *, size: int, colour: bool, fit: str) -> np.ndarray:
    """One decoded image as a (size, size) or (size, size, 3) uint8 array: transparent
    parts over black, made square by padding with the border colour ("pad", keeps the
    whole image) or by a centre crop ("crop", fills the frame), then resized (BOX when
    shrinking, which averages every source pixel; LANCZOS when enlarging)."""
    if im.mode == "P" and "transparency" in im.info or im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(base, rgba)
    im = im.convert("RGB" if colour else "L")
    w, h = im.size
    if w != h:
        if fit == "crop":
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
        else:
            side = max(w, h)
            square = Image.new(im.mode, (side, side), _fill_colour(im))
            square.paste(im, ((side - w) // 2, (side - h) // 2))
            im = square
    if im.size != (size, size):
        resample = Image.Resampling.BOX if im.size[0] > size else Image.Resampling.LANCZOS
        im = im.resize((size, size), resample)
    return np.asarray(im, dtype=np.uint8)


def _decode(path: Path, *, size: int, colour: bool, fit: str) -> np.ndarray | str:
    """The converted image, or the reason it cannot be read."""
    try:
        with warnings.catch_warnings():
            # Odd but readable files (palette quirks, huge sizes) must not stop a folder.
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.draft("RGB" if colour else "L", (size, size))
                im = ImageOps.exif_transpose(im) or im
                im.load()
                return convert_image(im, size=size, colour=colour, fit=fit)
    except FileNotFoundError:
        return "vanished while it was read"
    except UnidentifiedImageError:
        return "cannot identify image file"
    except Image.DecompressionBombError as e:
        return f"unreadable: {e}"
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        text = str(e)
        if "truncat" in text.lower() or isinstance(e, EOFError):
            return f"truncated image file ({text})" if text else "truncated image file"
        return f"unreadable: {text or type(e).__name__}"


def _load_cache(path: Path, root: Path) -> UserImages | None:
    """The cached arrays, or None when there is no usable cache (damaged ones are rebuilt).
    The key is the resolved folder, so paths are given back the way this caller named it."""
    if not path.is_file():
        return None
    try:
        # Our own handle: np.load leaves its own open when the zip is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            labelled = bool(z["labelled"])
            result = UserImages(
                train_images=np.asarray(z["train_images"], np.uint8),
                train_labels=np.asarray(z["train_labels"], np.int64) if labelled else None,
                test_images=np.asarray(z["test_images"], np.uint8),
                test_labels=np.asarray(z["test_labels"], np.int64) if labelled else None,
                class_names=tuple(str(c) for c in z["class_names"]),
                colour=bool(z["colour"]), source=str(root),
                skipped=[(str(root / str(f)), str(r)) for f, r in zip(z["skipped_files"], z["skipped_reasons"], strict=True)],
                from_cache=True, file_count=int(z["file_count"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if result.train_labels is not None and result.test_labels is not None and (
            len(result.train_labels) != len(result.train_images) or len(result.test_labels) != len(result.test_images)):
        return None
    return result


def _save_cache(path: Path, result: UserImages, root: Path) -> None:
    empty = np.zeros(0, np.int64)
    buffer = io.BytesIO()
    np.savez(
        buffer, train_images=result.train_images, test_images=result.test_images,
        train_labels=empty if result.train_labels is None else result.train_labels,
        test_labels=empty if result.test_labels is None else result.test_labels,
        labelled=np.array(result.labelled), class_names=np.array(result.class_names, dtype=str),
        colour=np.array(result.colour),
        skipped_files=np.array([Path(f).relative_to(root).as_posix() for f, _ in result.skipped], dtype=str),
        skipped_reasons=np.array([r for _, r in result.skipped], dtype=str),
        file_count=np.array(result.file_count))
    atomic_write_bytes(path, buffer.getvalue())


def read_image_folder(path: str | os.PathLike, *, size: int = 28, colour: bool = False, fit: str = "pad",
                      test_share: float = 1 / 6, seed: int = 0, cache_dir: str | os.PathLike | None = None,
                      progress: Progress | None = None, should_stop: ShouldStop | None = None) -> UserImages:
    """A folder of images, ``DIR/<class>/*.png|jpg|jpeg|bmp|webp`` (class names are the
    sorted sub-folder names; images beside the class folders are not read) or flat
    (labels None), converted to ``size`` pixels square.
    ``DIR/train`` and ``DIR/test`` (each in either layout) are used as the split when both
    exist; else ``test_share`` of each class goes to test, chosen with ``seed``.
    Unreadable or truncated files are skipped and listed in ``skipped``. ``progress(done,
    total)`` is called as files are converted; ``should_stop()`` returning True raises
    Cancelled. The result is cached in ``cache_dir`` (default: the app's cache folder)."""
    root = Path(path)
    if fit not in FITS:
        raise UserImagesError(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
    if not isinstance(size, int) or size < 1:
        raise UserImagesError(f"size must be a positive whole number of pixels, not {size!r}")
    _check_share(test_share)
    if not root.is_dir():
        raise UserImagesError(f"{root}: {'does not exist' if not root.exists() else 'is not a folder'}")
    try:
        entries = _list_folder(root)
    except OSError as e:
        raise UserImagesError(f"{root}: cannot be listed ({e.strerror or e})") from e
    if not entries:
        raise UserImagesError(f"{root}: no {'/'.join(IMAGE_SUFFIXES)} files in it")

    before = _signature(root, entries)
    params = {"size": size, "colour": colour, "fit": fit, "test_share": test_share, "seed": seed}
    cache_file = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "user-images"
    cache_file = cache_file / f"{_cache_key(root, before, params)[:40]}.npz"
    cached = _load_cache(cache_file, root)
    if cached is not None:
        return cached

    images: list[np.ndarray] = []
    kept: list[_Entry] = []
    skipped: list[tuple[str, str]] = []
    for done, entry in enumerate(entries):
        if should_stop is not None and should_stop():
            raise Cancelled(f"{root}: reading stopped after {done} of {len(entries)} files")
        result = _decode(root / entry.rel, size=size, colour=colour, fit=fit)
        if isinstance(result, str):
            skipped.append((str(root / entry.rel), result))
        else:
            images.append(result)
            kept.append(entry)
        if progress is not None:
            progress(done + 1, len(entries))

    try:
        changed = _signature(root, entries) != before or {e.rel for e in _list_folder(root)} != {e.rel for e in entries}
    except OSError:
        changed = True
    if changed:
        raise UserImagesError(f"{root}: changed while it was read; try again")
    if not images:
        first_file, first_reason = skipped[0]
        raise UserImagesError(f"{root}: none of its {len(entries)} image files can be read (first: {first_file}: "
                              f"{first_reason})")
    labelled = entries[0].label is not None
    class_names = tuple(sorted({e.label for e in entries if e.label is not None}))
    for name in class_names:
        if not any(e.label == name for e in kept):
            raise UserImagesError(f"{root}: the class folder {name!r} has no readable images")

    array = np.stack(images)
    labels = np.array([class_names.index(e.label) for e in kept if e.label is not None], np.int64) if labelled else None
    if entries[0].part or entries[-1].part:
        train = np.array([e.part == "train" for e in kept])
        out = UserImages(
            train_images=array[train], train_labels=None if labels is None else labels[train],
            test_images=array[~train], test_labels=None if labels is None else labels[~train],
            class_names=class_names, colour=colour, source=str(root))
    else:
        out = _split(array, labels, class_names, colour=colour, source=str(root), test_share=test_share, seed=seed)
    out.skipped = skipped
    out.file_count = len(entries)
    _save_cache(cache_file, out, root)
    return out


# ---------------------------------------------------------------- CSV


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv(path: str | os.PathLike, *, size: int | None = None, test_share: float = 1 / 6, seed: int = 0) -> UserImages:
    """A CSV in the common ``label,pixel0,...,pixelN`` layout (the shared MNIST and
    Fashion-MNIST CSVs), with or without a header line (a first row whose pixel cells are
    not numbers). Images are grey and square: N must be a perfect square (784 -> 28 x 28;
    ``size`` checks it), pixel values whole numbers from 0 to 255. Grey only: a 3072-column
    CIFAR CSV (32 x 32 x 3) is refused as not square, since colour CSVs have no agreed
    channel order. Split into train and test like an image folder."""
    path = Path(path)
    _check_share(test_share)
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise UserImagesError(f"{path}: cannot be opened ({e.strerror or e})") from e
    rows: list[np.ndarray] = []
    raw_labels: list[str] = []
    width: int | None = None
    with handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if width is None:
                    width = len(row)
                    if width < 2:
                        raise UserImagesError(f"{path}, line {line}: expected a label and pixel columns, found {width} column")
                    side = math.isqrt(width - 1)
                    if side * side != width - 1:
                        raise UserImagesError(f"{path}, line {line}: {width - 1} pixel columns are not a square grey image "
                                              "(784 would be 28 x 28)")
                    if size is not None and side != size:
                        raise UserImagesError(f"{path}, line {line}: the images are {side} x {side}, not {size} x {size}")
                    if not any(_number(c) for c in row[1:]):
                        continue  # the header line (a data row with one bad cell is reported below)
                if len(row) != width:
                    raise UserImagesError(f"{path}, line {line}: {len(row)} columns, expected {width}")
                try:
                    pixels = np.array(row[1:], dtype=np.float64)
                except ValueError:
                    column = next(i for i, c in enumerate(row[1:], start=2) if not _number(c))
                    raise UserImagesError(f"{path}, line {line}, column {column}: {row[column - 1]!r} is not a number") from None
                bad = np.flatnonzero(~np.isfinite(pixels) | (pixels < 0) | (pixels > 255) | (pixels != np.round(pixels)))
                if len(bad):
                    column = int(bad[0]) + 2
                    raise UserImagesError(f"{path}, line {line}, column {column}: {row[column - 1]!r} is not a whole number "
                                          "from 0 to 255")
                label = row[0].strip()
                if not label:
                    raise UserImagesError(f"{path}, line {line}: the label (first column) is empty")
                raw_labels.append(label)
                rows.append(pixels.astype(np.uint8))
        except (csv.Error, UnicodeDecodeError) as e:
            raise UserImagesError(f"{path}, line {reader.line_num}: not a readable CSV ({e})") from e
    if not rows:
        raise UserImagesError(f"{path}: no rows of images in it")
    side = math.isqrt(len(rows[0]))
    images = np.stack(rows).reshape(-1, side, side)
    labels, names = _label_indices(raw_labels, str(path))
    return _split(images, labels, names, colour=False, source=str(path), test_share=test_share, seed=seed)


# ---------------------------------------------------------------- NumPy arrays


def _as_uint8(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
            raise UserImagesError(f"{where}: float images must lie in [0, 1] (found {np.nanmin(x):.3g} to {np.nanmax(x):.3g})")
        return np.round(x * 255).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise UserImagesError(f"{where}: integer images must lie in 0..255 (found {x.min()} to {x.max()})")
        return x.astype(np.uint8)
    raise UserImagesError(f"{where}: images of type {x.dtype} cannot be read; give uint8, or floats in [0, 1]")


def _load_arrays(path: Path, f: Any, is_npz: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` and ``y`` (or None) from an open .npz / .npy file, never unpickling."""
    if not is_npz:
        return np.load(f, allow_pickle=False), None
    with np.load(f, allow_pickle=False) as z:
        if "x" not in z.files:
            raise UserImagesError(f"{path}: has no array named 'x' (found: {', '.join(z.files) or 'none'})")
        return z["x"], (z["y"] if "y" in z.files else None)


def read_arrays(path: str | os.PathLike, *, test_share: float = 1 / 6, seed: int = 0) -> UserImages:
    """``.npz`` with ``x`` (images: uint8, or floats in [0, 1]; (N, H, W) grey or
    (N, H, W, 3) colour, H == W) and an optional ``y`` (one label per image), or ``.npy``
    with images only. Loaded with ``allow_pickle=False``: files holding Python objects
    are refused. Split into train and test like an image folder."""
    path = Path(path)
    _check_share(test_share)
    if not path.is_file():
        raise UserImagesError(f"{path}: {'is a folder' if path.is_dir() else 'does not exist'}")
    pickled = f"{path}: contains Python objects, which are never unpickled; save plain arrays (np.savez)"
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise UserImagesError(f"{path}: give a .npz or .npy file")
    # np.load takes any other file for a pickle; say plainly that it is not an array file.
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
            if magic[:4] != b"PK\x03\x04" and magic != b"\x93NUMPY":
                raise UserImagesError(f"{path}: not a NumPy array file (np.savez / np.save write them)")
            f.seek(0)
            x, y = _load_arrays(path, f, suffix == ".npz")
    except UserImagesError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise UserImagesError(pickled) from e
        raise UserImagesError(f"{path}: not a NumPy array file ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserImagesError(f"{path}: not a NumPy array file ({e})") from e
    if not isinstance(x, np.ndarray) or x.dtype == object:
        raise UserImagesError(pickled)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise UserImagesError(f"{path}: 'x' has shape {x.shape}; expected (N, H, W) grey or (N, H, W, 3) colour images")
    if x.shape[1] != x.shape[2]:
        raise UserImagesError(f"{path}: 'x' holds {x.shape[1]} x {x.shape[2]} images; they must be square")
    if len(x) == 0:
        raise UserImagesError(f"{path}: 'x' holds no images")
    images = _as_uint8(x, f"{path}: 'x'")
    labels: np.ndarray | None = None
    names: tuple[str, ...] = ()
    if y is not None:
        if y.dtype == object:
            raise UserImagesError(pickled)
        y = np.ravel(y) if y.ndim == 2 and 1 in y.shape else y
        if y.ndim != 1 or len(y) != len(images):
            raise UserImagesError(f"{path}: 'y' has shape {y.shape}; expected one label per image ({len(images)})")
        if np.issubdtype(y.dtype, np.floating):
            if not np.all(np.isfinite(y) & (y == np.round(y))):
                raise UserImagesError(f"{path}: 'y' must hold whole numbers or names, not fractions")
            y = y.astype(np.int64)
        labels, names = _label_indices([str(v) for v in y.tolist()], str(path))
    return _split(images, labels, names, colour=images.ndim == 4, source=str(path), test_share=test_share, seed=seed)
