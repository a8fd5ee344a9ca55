"""Datasets: a validating IDX reader, a registry of MNIST-like datasets, a
download cache with mirrors, resume and checksums, and the bundled subset.

Pure Python + numpy; no Qt. Long work (downloads) reports progress through a
plain callback and stops when ``should_cancel()`` turns true.
"""
from __future__ import annotations

import errno
import gzip as gzip_module
import hashlib
import logging
import math
import os
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from models.files import atomic_write_bytes, file_digest, user_folder

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DATA_ENV = "LATENT_EXPLORER_DATA"
# A local mirror (a classroom's or a company's server) tried before the public ones.
MIRROR_ENV = "LATENT_EXPLORER_MIRROR"
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SHAPE = (28, 28)

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_SIZE = 64 * 1024
_USER_AGENT = "latent-explorer/0.1 (+urllib)"


# ---------------------------------------------------------------- errors


class DataError(Exception):
    """A dataset problem the user can act on; the message says what and where."""


class IdxFormatError(DataError):
    """A file that is not a valid IDX file (or not the expected one)."""


class ChecksumError(DataError):
    """A downloaded file whose digest differs from the registry's."""


class DownloadError(DataError):
    """No mirror could deliver a file."""


class DownloadCancelled(DataError):
    """``should_cancel()`` asked to stop; the partial ``.part`` file is kept for resuming."""


class DatasetNotFoundError(DataError):
    """The dataset's files are not on disk (and were not downloaded)."""


# ---------------------------------------------------------------- IDX files

# IDX type code -> big-endian numpy dtype (the format stores every number big-endian).
_IDX_DTYPES: Mapping[int, np.dtype] = MappingProxyType({
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
})
_IDX_TYPE_NAMES = MappingProxyType({0x08: "ubyte", 0x09: "sbyte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"})

# Headers of files people mistake for datasets, so the error can say what the file is.
_FOREIGN_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"<!DOCTYPE", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"\x93NUMPY", "a NumPy .npy file"),
)


def _describe_foreign(head: bytes) -> str:
    for signature, what in _FOREIGN_SIGNATURES:
        if head[: len(signature)].lower() == signature.lower():
            return f" (it looks like {what})"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:16]):
        return " (it looks like a text file)"
    return ""


def _decompress(raw: bytes, path: Path) -> bytes:
    try:
        return gzip_module.decompress(raw)
    except EOFError as exc:
        raise IdxFormatError(f"{path}: compressed file is truncated (the download was probably cut short): {exc}") from exc
    except (gzip_module.BadGzipFile, zlib.error) as exc:
        raise IdxFormatError(f"{path}: corrupt gzip data: {exc}") from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or raw, detected by content) into a native-endian array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if not raw:
        raise IdxFormatError(f"{path}: file is empty")
    data = _decompress(raw, path) if raw[:2] == _GZIP_MAGIC else raw
    if len(data) < 4:
        raise IdxFormatError(f"{path}: file is too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise IdxFormatError(
            f"{path}: not an IDX file: it starts with bytes {data[:4].hex(' ')}, "
            f"expected 00 00 <type> <dimensions>{_describe_foreign(data[:16])}"
        )
    code, ndim = data[2], data[3]
    if ndim == 0:
        raise IdxFormatError(f"{path}: IDX header declares zero dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(
            f"{path}: file is truncated: the header declares {ndim} dimensions "
            f"but the file ends after {len(data)} bytes"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    found = len(data) - header_size
    shape_text = " x ".join(str(d) for d in dims)
    if found < expected:
        raise IdxFormatError(
            f"{path}: file is truncated: expected {expected} bytes of data "
            f"({shape_text} {_IDX_TYPE_NAMES[code]}), found {found}"
        )
    if found > expected:
        raise IdxFormatError(
            f"{path}: {found - expected} unexpected bytes after the data "
            f"({shape_text} {_IDX_TYPE_NAMES[code]} needs {expected} bytes): not a clean IDX file"
        )
    # astype copies: frombuffer over bytes is read-only, and torch.from_numpy warns on those.
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_code(dtype: np.dtype) -> int:
    for code, idx_dtype in _IDX_DTYPES.items():
        if idx_dtype.kind == dtype.kind and idx_dtype.itemsize == dtype.itemsize:
            return code
    raise ValueError(f"IDX cannot store dtype {dtype}; use uint8, int8, int16, int32, float32 or float64")


def write_idx(path: str | os.PathLike, array: np.ndarray, *, gzip: bool = False) -> Path:
    """Write ``array`` as an IDX file (optionally gzipped), atomically."""
    path = Path(path)
    array = np.asarray(array)
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got an array of shape {array.shape}")
    code = _idx_code(array.dtype)
    header = bytes((0, 0, code, array.ndim)) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if gzip:
        # mtime=0 makes the bytes reproducible, so checksums of generated files are stable.
        payload = gzip_module.compress(payload, compresslevel=9, mtime=0)
    try:
        atomic_write_bytes(path, payload)
    except OSError as exc:
        raise DataError(_disk_error_text(path, exc)) from exc
    return path


def _disk_error_text(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"not enough disk space to write {path}; free some space or choose another folder (--data-dir or {DATA_ENV})"
    return f"cannot write {path}: {exc.strerror or exc}"


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class FileSpec:
    """One published file. ``md5``/``sha256``/``size`` describe the file the mirrors serve;
    ``content_md5`` is the md5 of the decompressed IDX bytes, the same however it was gzipped."""

    filename: str
    md5: str
    sha256: str | None = None
    size: int | None = None
    content_md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    class_names: tuple[str, ...]
    files: Mapping[str, FileSpec]
    mirrors: tuple[str, ...]
    homepage: str
    licence: str
    torchvision_dir: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _files(**specs: FileSpec) -> Mapping[str, FileSpec]:
    assert tuple(specs) == ROLES
    return MappingProxyType(specs)


# md5s as torchvision lists them; sha256 and sizes are the mirror files' (also in
# tensorflow-datasets). content_md5 was checked against development copies whose
# gzip wrappers differ from the mirrors' (so their .gz digests do not match) but
# whose decompressed bytes are the official release.
DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        class_names=tuple(str(d) for d in range(10)),
        files=_files(
            train_images=FileSpec(
                "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422,
                "6bbc9ace898e44ae57da46a324031adb"),
            train_labels=FileSpec(
                "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881,
                "a25bea736e30d166cdddb491f175f624"),
            test_images=FileSpec(
                "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877,
                "2646ac647ad5339dbf082846283269ea"),
            test_labels=FileSpec(
                "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542,
                "27ae3e4e09519cfbb04c329615203637"),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
        licence="CC BY-SA 3.0",
        torchvision_dir="MNIST",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        files=_files(
            train_images=FileSpec(
                "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880,
                "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            train_labels=FileSpec(
                "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515,
                "9018921c3c673c538a1fc5bad174d6f9"),
            test_images=FileSpec(
                "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102,
                "8181f5470baa50b63fa0f6fddb340f0a"),
            test_labels=FileSpec(
                "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148,
                "15d484375f8d13e6eb1aabb0c3f46965"),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        licence="MIT",
        torchvision_dir="FashionMNIST",
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        files=_files(
            train_images=FileSpec("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
            train_labels=FileSpec("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
            test_images=FileSpec("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
            test_labels=FileSpec("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
        ),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        homepage="http://codh.rois.ac.jp/kmnist/",
        licence="CC BY-SA 4.0",
        torchvision_dir="KMNIST",
    ),
})


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; DataError naming the known datasets otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def _file_list(spec: DatasetSpec) -> str:
    return ", ".join(spec.files[role].filename for role in ROLES)


# ---------------------------------------------------------------- where files live


def default_data_dir() -> Path:
    """The dataset cache root: $LATENT_EXPLORER_DATA, else the platform's user data folder."""
    override = os.environ.get(DATA_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    base = user_folder(xdg_env="XDG_DATA_HOME", linux_default=".local/share", mac_folder="Application Support")
    return base / "latent-explorer" / "datasets"


def dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder downloads of ``name`` go to: ``<data_dir or default_data_dir()>/<name>``."""
    get_spec(name)
    return Path(data_dir if data_dir is not None else default_data_dir()) / name


def _name_variants(filename: str) -> tuple[str, ...]:
    base = filename[:-3] if filename.endswith(".gz") else filename
    # "train-images.idx3-ubyte" is how some unpackers (and Windows downloads) name them.
    dotted = re.sub(r"-(idx\d)", r".\1", base, count=1)
    return (f"{base}.gz", base, f"{dotted}.gz", dotted)


def _find_in(spec: DatasetSpec, folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for role in ROLES:
        for candidate in _name_variants(spec.files[role].filename):
            path = folder / candidate
            if path.is_file():
                found[role] = path
                break
    return found


def _candidate_dirs(spec: DatasetSpec, data_dir: Path) -> list[Path]:
    # The dataset's own subfolder first: a flat folder does not say which dataset it holds.
    dirs = [data_dir / spec.name]
    if spec.torchvision_dir:
        dirs.append(data_dir / spec.torchvision_dir / "raw")
    dirs.append(data_dir)
    return dirs


def find_dataset_files(name: str, data_dir: str | os.PathLike) -> dict[str, Path] | None:
    """The four files of ``name`` under ``data_dir`` (flat, ``<name>/`` or torchvision's
    ``<Name>/raw/``; gzipped or not), or None when no folder holds all four."""
    spec = get_spec(name)
    for folder in _candidate_dirs(spec, Path(data_dir)):
        found = _find_in(spec, folder)
        if len(found) == len(ROLES):
            return found
    return None


# ---------------------------------------------------------------- download


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done_bytes: int
    total_bytes: int | None
    file_index: int
    file_count: int


ProgressCallback = Callable[[DownloadProgress], None]
CancelCheck = Callable[[], bool]


class _NetworkFailure(Exception):
    """One mirror failed for one file; the next mirror is tried. ``partial``: the mirror
    answered and sent some of the file (kept in the .part file) before it failed."""

    def __init__(self, message: str, *, partial: bool = False):
        super().__init__(message)
        self.partial = partial


def _content_matches(path: Path, content_md5: str) -> bool:
    raw = path.read_bytes()
    try:
        data = gzip_module.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except (EOFError, gzip_module.BadGzipFile, zlib.error):
        return False
    return hashlib.md5(data).hexdigest() == content_md5


def _verify(part: Path, fspec: FileSpec, url: str) -> None:
    algorithm, expected = ("sha256", fspec.sha256) if fspec.sha256 else ("md5", fspec.md5)
    actual = file_digest(part, algorithm)
    if actual == expected:
        return
    # A mirror that re-gzipped the same images is still a good mirror.
    if fspec.content_md5 and _content_matches(part, fspec.content_md5):
        log.info("%s from %s is packaged differently but holds the official data", fspec.filename, url)
        return
    raise ChecksumError(
        f"{fspec.filename} downloaded from {url} is not the expected file: "
        f"{algorithm} expected {expected}, got {actual}. The partial download was deleted; "
        f"try again later or copy the file by hand."
    )


def _content_range_total(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) from 'bytes 100-199/200'; None where absent or '*'."""
    match = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    if not match:
        return None, None
    total = None if match.group(2) == "*" else int(match.group(2))
    return int(match.group(1)), total


def _fetch(
    url: str,
    part: Path,
    *,
    fspec: FileSpec,
    timeout: float,
    report: Callable[[int, int | None], None],
    should_cancel: CancelCheck | None,
) -> None:
    """Download ``url`` into ``part``, resuming from its current size. Network trouble
    raises _NetworkFailure; local file trouble raises DataError."""
    # Imported here: only downloads need them, and the window's first paint loads this module.
    import http.client
    import urllib.error
    import urllib.request

    offset = part.stat().st_size if part.exists() else 0
    if fspec.size is not None and offset > fspec.size:
        # Longer than the published file: it cannot be a prefix of it.
        _remove(part)
        offset = 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # an unclosed HTTPError leaks its socket
        if exc.code == 416 and offset:
            # Nothing left to send: the .part already holds the whole file (verified next).
            log.info("%s: server says the partial file is complete (HTTP 416)", url)
            return
        raise _NetworkFailure(f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _NetworkFailure(str(reason) or type(exc).__name__) from exc

    with response:
        status = response.status
        mode = "ab"
        if status == 206:
            start, total = _content_range_total(response.headers.get("Content-Range"))
            if start != offset:
                raise _NetworkFailure(f"server resumed at byte {start}, asked for {offset}")
        else:
            if offset:
                log.info("%s ignores range requests; downloading %s from the start", url, fspec.filename)
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if total is None:
            total = fspec.size
        done = offset
        report(done, total)
        try:
            f = open(part, mode)
        except OSError as exc:
            raise DataError(_disk_error_text(part, exc)) from exc
        with f:
            while True:
                if should_cancel is not None and should_cancel():
                    raise DownloadCancelled(
                        f"download of {fspec.filename} cancelled after {done} bytes; "
                        f"the partial file {part} is kept and the next download resumes from it"
                    )
                try:
                    chunk = response.read(_CHUNK_SIZE)
                except (OSError, http.client.HTTPException) as exc:
                    raise _NetworkFailure(f"connection lost after {done} bytes: {exc or type(exc).__name__}",
                                          partial=done > 0) from exc
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as exc:
                    raise _DiskFull(part, exc) from exc
                done += len(chunk)
                report(done, total)
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise _DiskFull(part, exc) from exc
        if total is not None and done < total:
            raise _NetworkFailure(f"connection closed after {done} of {total} bytes", partial=done > 0)


class _DiskFull(Exception):
    def __init__(self, path: Path, exc: OSError):
        super().__init__(_disk_error_text(path, exc))
        self.path = path


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _download_file(url: str, part: Path, *, fspec: FileSpec, **fetch_args) -> None:
    resumed = part.exists() and part.stat().st_size > 0
    _fetch(url, part, fspec=fspec, **fetch_args)
    try:
        _verify(part, fspec, url)
    except ChecksumError:
        if not resumed:
            raise
        # The old .part may come from another mirror or a bad disk: start over once.
        log.warning("resumed download of %s is corrupt; downloading it again from the start", fspec.filename)
        _remove(part)
        _fetch(url, part, fspec=fspec, **fetch_args)
        _verify(part, fspec, url)


def local_mirror(url: str | None = None) -> str | None:
    """The local mirror's base URL: ``url``, else $LATENT_EXPLORER_MIRROR, else None.
    It serves ``<base>/<dataset name>/<file name>``, the cache folder's own layout, so a
    teacher can serve their cache as it is."""
    where = "--mirror" if url is not None else f"${MIRROR_ENV}"
    base = (url if url is not None else os.environ.get(MIRROR_ENV, "")).strip()
    if not base:
        return None
    if not re.match(r"https?://[^/\s]+", base):
        raise DataError(f"{where} must be an http:// or https:// address such as http://192.168.1.10:8000/, got {base!r}")
    return base.rstrip("/") + "/"


def _part_hint(part: Path, total: int | None) -> str:
    if not part.is_file() or part.stat().st_size == 0:
        return ""
    kept = part.stat().st_size
    of = f" of {total:,}" if total else ""
    return (f" The partial file {part} ({kept:,}{of} bytes) is kept: run the download again "
            f"and it resumes from there. ")


def _manual_hint(spec: DatasetSpec, target: Path) -> str:
    return (
        f"To install {spec.title} by hand, copy its four files ({_file_list(spec)}; gzipped or not) "
        f"from {spec.homepage} into {target}, or point --data-dir DIR or {DATA_ENV} "
        f"at a folder that already holds them."
    )


def download_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    mirrors: tuple[str, ...] | list[str] | None = None,
    mirror: str | None = None,
    timeout: float = 30,
) -> dict[str, Path]:
    """Download the files of ``name`` missing from ``<data_dir>/<name>/``; return all four paths.

    ``mirrors`` replaces the registry's public mirrors; the local mirror (``mirror``, else
    $LATENT_EXPLORER_MIRROR; see ``local_mirror``) is tried before them, with the same
    checksum checks."""
    spec = get_spec(name)
    target = dataset_dir(name, data_dir)
    local = local_mirror(mirror)
    public = tuple(mirrors) if mirrors is not None else spec.mirrors
    mirror_list = ((f"{local}{spec.name}/",) if local else ()) + public
    present = _find_in(spec, target)
    missing = [role for role in ROLES if role not in present]
    if not missing:
        return present
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(_disk_error_text(target, exc)) from exc

    for index, role in enumerate(missing):
        fspec = spec.files[role]
        final = target / fspec.filename
        part = target / f"{fspec.filename}.part"

        def report(done: int, total: int | None, _name: str = fspec.filename, _index: int = index) -> None:
            if progress is not None:
                progress(DownloadProgress(_name, done, total, _index, len(missing)))

        failures: list[str] = []
        checksum_error: ChecksumError | None = None
        reached = False  # some mirror sent part of the file before the transfer broke
        for mirror in mirror_list:
            url = mirror.rstrip("/") + "/" + fspec.filename
            log.info("downloading %s", url)
            try:
                _download_file(url, part, fspec=fspec, timeout=timeout, report=report, should_cancel=should_cancel)
            except _NetworkFailure as exc:
                log.warning("%s: %s", url, exc)
                failures.append(f"{url}: {exc}")
                reached = reached or exc.partial
                continue
            except ChecksumError as exc:
                log.warning("%s", exc)
                _remove(part)
                checksum_error = exc
                continue
            except _DiskFull as exc:
                # A partial file on a full disk only takes the space the user needs to free.
                _remove(part)
                raise DataError(str(exc)) from None
            try:
                os.replace(part, final)
            except OSError as exc:
                raise DataError(_disk_error_text(final, exc)) from exc
            present[role] = final
            break
        else:
            if checksum_error is not None:
                raise checksum_error
            why = "the transfer broke off" if reached else "none of the mirrors could be reached"
            raise DownloadError(
                f"Could not download {fspec.filename} for {spec.title}: {why} "
                f"({'; '.join(failures) or 'no mirrors given'})."
                + (_part_hint(part, fspec.size) or " ") + _manual_hint(spec, target)
            )
    return present


# ---------------------------------------------------------------- loading


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images are uint8, (N, H, W) grey or (N, H, W, 3) colour (the registered IDX
    datasets are (N, 28, 28)); labels int64 (N,)."""

    name: str
    title: str
    class_names: tuple[str, ...]
    train_images: np.ndarray = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    test_images: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    source: str
    is_subset: bool = False
    # False for images a user brings without classes (a flat folder, an .npy): every
    # label is 0 and class_names has one entry, so class features can be hidden.
    labelled: bool = True
    # What the images are (name, size, colour, classes, source, ...), JSON-serialisable,
    # for a checkpoint's metadata: set by models.sources; None for the registered sets.
    description: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# ---------------------------------------------------------------- pixel values
# The one place that knows how stored pixels (uint8 0-255) become the [0, 1] floats
# the models take; floats are taken to be in [0, 1] already and only cast. Stored
# colour images are channels-last (N, H, W, 3), as decoders and the GUI hold them;
# model rows are channels-first (all of R, then G, then B), as convolutions read them.

_UINT8_SCALE = 255.0


def unit_floats(a: np.ndarray) -> np.ndarray:
    """Any-shaped pixels as a new float32 array: uint8 divided by 255, other dtypes cast."""
    a = np.asarray(a)
    # astype copies, so read-only (memory-mapped or frombuffer) arrays are fine.
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(_UINT8_SCALE)
    return a.astype(np.float32)


def _pixels(shape: tuple[int, ...]) -> int:
    # An explicit pixel count (not -1) so an empty set reshapes too and the
    # Trainer can say "the training set is empty".
    return math.prod(shape[1:])


def is_colour_batch(shape: tuple[int, ...]) -> bool:
    """Whether a batch of this shape holds channels-last colour images (N, H, W, 3)."""
    return len(shape) == 4 and shape[-1] == 3


def image_channels(shape: tuple[int, ...]) -> int:
    """Colour planes of stored images of this shape: (N, H, W) grey 1, (N, H, W, 3) 3."""
    return 3 if is_colour_batch(tuple(shape)) else 1


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 or float images, (N, H, W) grey or (N, H, W, 3) colour, -> float32 rows
    (N, C*H*W) in [0, 1], channels-first: the NumPy twin of ``as_float_images`` for
    callers that want no tensor."""
    images = np.asarray(images)
    if is_colour_batch(images.shape):
        images = images.transpose(0, 3, 1, 2)
    return unit_floats(images.reshape(images.shape[0], _pixels(images.shape)))


def as_float_images(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or float arrays or tensors -> float32 tensor (N, pixels) in [0, 1];
    colour (N, H, W, 3) becomes channels-first rows, (N, 3*H*W)."""
    # Imported here: the window imports this module before torch is loaded.
    import torch

    if isinstance(x, np.ndarray):
        return torch.from_numpy(to_float(x))
    if is_colour_batch(tuple(x.shape)):
        x = x.permute(0, 3, 1, 2)
    t = x.reshape(x.shape[0], _pixels(tuple(x.shape)))
    if t.dtype == torch.uint8:
        return t.to(torch.float32).div_(_UINT8_SCALE)
    return t.to(torch.float32)


def to_display(rows: np.ndarray | torch.Tensor, image_shape: tuple[int, int], channels: int = 1) -> np.ndarray:
    """Model rows back to pictures: (N, C*H*W) channels-first -> float32 (N, H, W) grey
    or (N, H, W, 3) colour; one row (C*H*W,) gives one picture. Values are kept as they
    are (clip them for a linear AE's unbounded outputs)."""
    a = rows if isinstance(rows, np.ndarray) else rows.detach().cpu().numpy()
    h, w = (int(v) for v in image_shape)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    single = a.ndim == 1
    per = channels * h * w
    if a.size % per != 0 or (single and a.size != per):
        raise ValueError(f"rows of shape {a.shape} do not hold {channels} x {h} x {w} images")
    a = a.reshape(-1, channels, h, w).astype(np.float32, copy=False)
    out = a[:, 0] if channels == 1 else a.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out[0] if single else out)


def binarized(x: torch.Tensor, *, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastically binarised pixels: each pixel is 1 with its grey level as the
    probability (one Bernoulli draw), the standard protocol for likelihoods on MNIST
    (dynamically binarised for training: a new draw every batch; the test set drawn
    once with seed 0)."""
    import torch

    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0 if seed is None else seed)
    return torch.bernoulli(x.clamp(0.0, 1.0), generator=generator)


def _read_images(path: Path) -> np.ndarray:
    images = read_idx(path)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise IdxFormatError(
            f"{path}: expected images of shape (N, 28, 28), found an array of shape {images.shape}"
        )
    if images.dtype != np.uint8:
        raise IdxFormatError(f"{path}: expected unsigned byte pixels, found {images.dtype}")
    if images.shape[0] == 0:
        raise IdxFormatError(f"{path}: holds no images")
    return images


def _read_labels(path: Path, *, count: int, num_classes: int, images_path: Path) -> np.ndarray:
    labels = read_idx(path)
    if labels.ndim != 1:
        raise IdxFormatError(f"{path}: expected a 1-D list of labels, found an array of shape {labels.shape}")
    if labels.shape[0] != count:
        raise IdxFormatError(
            f"{path}: has {labels.shape[0]} labels but {images_path.name} has {count} images; "
            f"the two files do not belong together"
        )
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise IdxFormatError(
            f"{path}: labels must be between 0 and {num_classes - 1}, found {labels.min()} to {labels.max()}"
        )
    return labels


def _check_identity(spec: DatasetSpec, files: Mapping[str, Path]) -> None:
    """Refuse another registered dataset's files (a flat folder does not say which it holds)."""
    path = files["test_labels"]
    try:
        raw = path.read_bytes()
        data = gzip_module.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except (OSError, EOFError, gzip_module.BadGzipFile, zlib.error):
        return  # read_idx reports these with a better message
    digest = hashlib.md5(data).hexdigest()
    for other in DATASETS.values():
        if other.name != spec.name and other.files["test_labels"].content_md5 == digest:
            raise DataError(
                f"{path.parent} holds {other.title}, not {spec.title}; "
                f"put each dataset in its own folder (<data dir>/{spec.name}/)"
            )


def load_files(name: str, files: Mapping[str, str | os.PathLike], *, source: str | None = None) -> Dataset:
    """Load and validate the four IDX files of ``name`` (a dict role -> path)."""
    spec = get_spec(name)
    paths = {role: Path(files[role]) for role in ROLES}
    _check_identity(spec, paths)
    train_images = _read_images(paths["train_images"])
    test_images = _read_images(paths["test_images"])
    train_labels = _read_labels(paths["train_labels"], count=len(train_images),
                                num_classes=spec.num_classes, images_path=paths["train_images"])
    test_labels = _read_labels(paths["test_labels"], count=len(test_images),
                               num_classes=spec.num_classes, images_path=paths["test_images"])
    return Dataset(
        name=spec.name,
        title=spec.title,
        class_names=spec.class_names,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        source=source if source is not None else str(paths["train_images"].parent),
        is_subset=False,
    )


def unreadable_summary(name: str, data_dir: str | os.PathLike, error: DataError) -> str:
    """One line for a dataset under ``data_dir`` that ``load_dataset`` refused with
    ``error``: which of its files cannot be read and why (each file is tried, so all
    broken ones are named), or the error itself when the files read but do not fit."""
    spec = get_spec(name)
    files = find_dataset_files(name, data_dir) or {}
    broken = []
    for role in ROLES:
        if role in files:
            try:
                read_idx(files[role])
            except DataError as exc:
                broken.append(str(exc))
    if not broken:
        return f"the {spec.title} files under {data_dir} could not be used: {error}"
    return (f"{len(broken)} of the {len(ROLES)} {spec.title} files under {data_dir} could not be read: "
            + "; ".join(broken))


def _not_found(spec: DatasetSpec, root: Path) -> DatasetNotFoundError:
    looked = ", ".join(str(d) for d in _candidate_dirs(spec, root))
    partial = max((_find_in(spec, d) for d in _candidate_dirs(spec, root)), key=len)
    detail = ""
    if partial:
        missing = [spec.files[r].filename for r in ROLES if r not in partial]
        detail = f" Found only {len(partial)} of the 4 files in {next(iter(partial.values())).parent}; missing: {', '.join(missing)}."
    return DatasetNotFoundError(
        f"{spec.title} was not found: looked for {_file_list(spec)} (gzipped or not) in {looked}.{detail} "
        f"Download it (--download, or from the app), or copy the four files into {root / spec.name}, "
        f"or point --data-dir DIR or {DATA_ENV} at a folder that holds them."
    )


def load_dataset(
    name: str = "mnist",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    mirror: str | None = None,
) -> Dataset:
    """Load ``name`` from ``data_dir`` (else the cache), downloading it first if asked
    (``mirror``: a local mirror tried first, see ``download_dataset``)."""
    spec = get_spec(name)
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    files = find_dataset_files(name, root)
    if files is None and download:
        files = download_dataset(name, data_dir=root, progress=progress, should_cancel=should_cancel, mirror=mirror)
    if files is None:
        raise _not_found(spec, root)
    return load_files(name, files)


# ---------------------------------------------------------------- bundled subset

BUNDLED_NAME = "mnist"
# Datasets whose test set ships with the app (KMNIST is downloaded on request).
BUNDLED_DATASETS = ("mnist", "fashion-mnist")


def bundled_data_dir(name: str = BUNDLED_NAME) -> Path:
    """The folder of a bundled test set (inside the ``resources`` package)."""
    fallback = Path(__file__).resolve().parent.parent / "resources" / "data" / name
    try:
        from importlib.resources import files

        candidate = Path(str(files("resources") / "data" / name))
    except (ImportError, TypeError, ValueError):
        # An unrelated top-level "resources" package, or none installed: use the checkout's.
        return fallback
    return candidate if candidate.is_dir() else fallback


def load_bundled(name: str = "mnist") -> Dataset:
    """A bundled 10,000-image test set (MNIST, Fashion-MNIST), used as both the train and the test split."""
    spec = get_spec(name)
    if name not in BUNDLED_DATASETS:
        raise DatasetNotFoundError(
            f"only MNIST and Fashion-MNIST ship with the app; {spec.title} must be downloaded (--download) "
            f"or found with --data-dir DIR or {DATA_ENV}"
        )
    folder = bundled_data_dir(name)
    images_path = folder / spec.files["test_images"].filename
    labels_path = folder / spec.files["test_labels"].filename
    if not images_path.is_file() or not labels_path.is_file():
        raise DatasetNotFoundError(f"the bundled {spec.title} subset is missing from {folder}; reinstall the app")
    images = _read_images(images_path)
    labels = _read_labels(labels_path, count=len(images), num_classes=spec.num_classes, images_path=images_path)
    return Dataset(
        name=spec.name,
        title=spec.title,
        class_names=spec.class_names,
        train_images=images,
        train_labels=labels,
        test_images=images,
        test_labels=labels,
        source=f"bundled {spec.title} test subset ({len(images):,} images)",
        is_subset=True,
    )


def load_dataset_or_bundled(name: str = "mnist", *, data_dir: str | os.PathLike | None = None) -> Dataset:
    """The full dataset if it is on disk, else (MNIST, Fashion-MNIST) the bundled test
    set; ``source`` says which and why."""
    try:
        return load_dataset(name, data_dir=data_dir)
    except DatasetNotFoundError:
        if name not in BUNDLED_DATASETS:
            raise
        reason = "no full dataset found"
    except DataError as exc:
        if name not in BUNDLED_DATASETS:
            raise
        # The app must still start; the reason travels in `source` for the status bar.
        log.warning("falling back to the bundled subset: %s", exc)
        reason = f"the full dataset could not be read: {exc}"
    bundled = load_bundled(name)
    return replace(bundled, source=f"{bundled.source}; {reason}")
