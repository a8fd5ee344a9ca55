"""CIFAR-10 by name, from its binary version: downloaded like MNIST (mirrors, a local
mirror, checksum, resume, the dataset cache) through ``models.data``'s downloader, its
record files extracted from the archive by name only, and read into a
``models.data.Dataset`` of uint8 (N, 32, 32, 3) colour images.

The binary version is used because the "python version" of CIFAR-10 is a set of
pickles, and nothing here is ever unpickled. Each record is one label byte and
3,072 pixel bytes: the red, green and blue planes of a 32 x 32 image, row by row.
"""
from __future__ import annotations

import logging
import os
import shutil
import tarfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import data
from models.data import CancelCheck, DataError, DownloadProgress, FileSpec, ProgressCallback

log = logging.getLogger(__name__)

NAME = "cifar10"
TITLE = "CIFAR-10"
SIDE = 32
CHANNELS = 3
RECORD_BYTES = 1 + CHANNELS * SIDE * SIDE
TRAIN_FILES = tuple(f"data_batch_{k}.bin" for k in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
# The folder the archive holds its files in, and the one the cache keeps them in.
FOLDER = "cifar-10-batches-bin"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# No record file of the real archive is larger (10,000 records); a member that claims
# more is not CIFAR-10 and is not decompressed onto the disk.
_MAX_MEMBER_BYTES = 10_000 * RECORD_BYTES


@dataclass(frozen=True)
class CifarSpec:
    """Where the archive comes from and what it must hash to (tests pass their own)."""

    archive: FileSpec
    mirrors: tuple[str, ...]
    homepage: str
    class_names: tuple[str, ...] = CLASS_NAMES


CIFAR10 = CifarSpec(
    archive=FileSpec("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)


def cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data_dir or the dataset cache>/cifar10``: where the archive is downloaded and extracted."""
    return Path(data_dir if data_dir is not None else data.default_data_dir()) / NAME


def _record_files() -> tuple[str, ...]:
    return (*TRAIN_FILES, TEST_FILE)


def find_folder(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder holding the six record files (``cifar10/cifar-10-batches-bin`` in the
    cache, or ``cifar-10-batches-bin`` unpacked by hand beside it), or None."""
    root = Path(data_dir if data_dir is not None else data.default_data_dir())
    for folder in (root / NAME / FOLDER, root / FOLDER, root / NAME):
        if all((folder / name).is_file() for name in _record_files()):
            return folder
    return None


def _find_archive(root: Path, spec: CifarSpec) -> Path | None:
    for candidate in (root / NAME / spec.archive.filename, root / spec.archive.filename):
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------- the archive


def extract(archive: Path, target: Path) -> Path:
    """Extract the record files and the class names from ``archive`` into
    ``target/cifar-10-batches-bin``; only those members, by name, each written as a plain
    file (no links, no paths from the archive), through a temporary folder renamed into
    place so a failure leaves no half-extracted set."""
    wanted = {f"{FOLDER}/{name}": name for name in (*_record_files(), META_FILE)}
    final = target / FOLDER
    scratch = target / f".{FOLDER}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.mkdir(parents=True)
    except OSError as exc:
        raise DataError(f"cannot write {scratch}: {exc.strerror or exc}") from exc
    found: set[str] = set()
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    name = wanted.get(member.name.removeprefix("./"))
                    if name is None or not member.isfile():
                        continue
                    if member.size > _MAX_MEMBER_BYTES:
                        raise DataError(f"{archive}: {member.name} is {member.size:,} bytes, larger than any "
                                        f"CIFAR-10 file; this is not the CIFAR-10 binary archive")
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    with source, open(scratch / name, "wb") as out:
                        shutil.copyfileobj(source, out)
                    found.add(name)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise DataError(f"{archive}: the archive is truncated or corrupt ({exc}); delete it and download it again") from exc
        except OSError as exc:
            raise DataError(f"{archive}: cannot be extracted into {target}: {exc.strerror or exc}") from exc
        missing = [name for name in _record_files() if name not in found]
        if missing:
            raise DataError(f"{archive}: not the CIFAR-10 binary archive: it lacks {', '.join(f'{FOLDER}/{m}' for m in missing)}")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def download_cifar10(
    *,
    data_dir: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    mirrors: Sequence[str] | None = None,
    mirror: str | None = None,
    timeout: float = 30,
    spec: CifarSpec = CIFAR10,
) -> Path:
    """Download the archive into ``<data_dir>/cifar10/`` (the local mirror first, then
    ``mirrors`` or the public ones; resumed from a ``.part``, checked against its md5),
    extract it, delete it, and return the folder of record files."""
    target = cache_dir(data_dir)
    present = find_folder(data_dir)
    if present is not None:
        return present
    archive = _find_archive(target.parent, spec)
    if archive is not None:
        return extract(archive, target)
    local = data.local_mirror(mirror)
    mirror_list = ((f"{local}{NAME}/",) if local else ()) + tuple(mirrors if mirrors is not None else spec.mirrors)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write {target}: {exc.strerror or exc}") from exc
    fspec = spec.archive
    part, final = target / f"{fspec.filename}.part", target / fspec.filename

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(DownloadProgress(fspec.filename, done, total, 0, 1))

    failures: list[str] = []
    checksum_error: data.ChecksumError | None = None
    for base in mirror_list:
        url = base.rstrip("/") + "/" + fspec.filename
        log.info("downloading %s", url)
        try:
            data._download_file(url, part, fspec=fspec, timeout=timeout, report=report, should_cancel=should_cancel)
        except data._NetworkFailure as exc:
            failures.append(f"{url}: {exc}")
            continue
        except data.ChecksumError as exc:
            data._remove(part)
            checksum_error = exc
            continue
        except data._DiskFull as exc:
            data._remove(part)
            raise DataError(str(exc)) from None
        os.replace(part, final)
        folder = extract(final, target)
        # The extracted files are what is read from now on; the archive would only double the space.
        data._remove(final)
        return folder
    if checksum_error is not None:
        raise checksum_error
    raise data.DownloadError(
        f"Could not download {fspec.filename} for {TITLE} ({'; '.join(failures) or 'no mirrors given'})."
        + (data._part_hint(part, fspec.size) or " ")
        + f"To install it by hand, download the binary version from {spec.homepage} and put "
        f"{fspec.filename} (or its unpacked {FOLDER} folder) into {target}."
    )


# ---------------------------------------------------------------- records


def read_records(path: str | os.PathLike, *, num_classes: int = len(CLASS_NAMES)) -> tuple[np.ndarray, np.ndarray]:
    """One record file as uint8 images (N, 32, 32, 3), channels last, and int64 labels."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if not raw or len(raw) % RECORD_BYTES:
        raise DataError(f"{path}: {len(raw):,} bytes is not a whole number of CIFAR-10 records "
                        f"({RECORD_BYTES:,} bytes each: a label and 32 x 32 x 3 pixels); the file is truncated or not CIFAR-10")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(f"{path}: record {bad} has label {labels[bad]}; CIFAR-10 labels are 0 to {num_classes - 1}")
    # The planes are stored R, G, B one after another; the app keeps channels last.
    images = np.ascontiguousarray(records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1))
    return images, labels


def _class_names(folder: Path, default: tuple[str, ...]) -> tuple[str, ...]:
    try:
        names = tuple(line.strip() for line in (folder / META_FILE).read_text("utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError):
        return default
    return names if len(names) == len(default) else default


def load_folder(folder: str | os.PathLike, *, spec: CifarSpec = CIFAR10) -> data.Dataset:
    """The six record files in ``folder`` as one Dataset (50,000 train and 10,000 test images)."""
    folder = Path(folder)
    parts = [read_records(folder / name, num_classes=len(spec.class_names)) for name in TRAIN_FILES]
    test_images, test_labels = read_records(folder / TEST_FILE, num_classes=len(spec.class_names))
    return data.Dataset(
        name=NAME, title=TITLE, class_names=_class_names(folder, spec.class_names),
        train_images=np.concatenate([p[0] for p in parts]), train_labels=np.concatenate([p[1] for p in parts]),
        test_images=test_images, test_labels=test_labels, source=str(folder),
    )


def load_cifar10(
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: Callable[[DownloadProgress], None] | None = None,
    should_cancel: CancelCheck | None = None,
    mirror: str | None = None,
    mirrors: Sequence[str] | None = None,
    spec: CifarSpec = CIFAR10,
) -> data.Dataset:
    """CIFAR-10 from ``data_dir`` (else the dataset cache): its extracted files, else its
    archive (extracted now), else downloaded when ``download`` is set;
    ``DatasetNotFoundError`` saying where to put it otherwise."""
    root = Path(data_dir if data_dir is not None else data.default_data_dir())
    folder = find_folder(root)
    if folder is None:
        archive = _find_archive(root, spec)
        if archive is not None:
            folder = extract(archive, cache_dir(root))
        elif download:
            folder = download_cifar10(data_dir=root, progress=progress, should_cancel=should_cancel, mirror=mirror,
                                      mirrors=mirrors, spec=spec)
    if folder is None:
        raise data.DatasetNotFoundError(
            f"{TITLE} was not found in {root / NAME}: download it (--download, or from the app), or put "
            f"{spec.archive.filename} (the binary version, from {spec.homepage}) or its unpacked {FOLDER} folder "
            f"there, or point --data-dir DIR or {data.DATA_ENV} at a folder that holds them."
        )
    return load_folder(folder, spec=spec)
