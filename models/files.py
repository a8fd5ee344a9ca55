"""Atomic file writes shared by datasets, checkpoints and caches, file digests, the
cache folder and where the bundled models are: no torch, so start-up can use it
before torch is imported."""
from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

CACHE_ENV = "LATENT_EXPLORER_CACHE"
log = logging.getLogger(__name__)


def user_folder(*, xdg_env: str, linux_default: str, mac_folder: str) -> Path:
    """The platform's per-user folder that the app's own folder goes in: $``xdg_env``
    (if absolute) or ~/``linux_default`` on Linux, ~/Library/``mac_folder`` on macOS,
    %LOCALAPPDATA% on Windows."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / mac_folder
    xdg = os.environ.get(xdg_env, "")
    # The XDG spec says to ignore relative paths.
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / linux_default


def default_cache_dir() -> Path:
    """Where derived files that can be made again are kept (e.g. the test images'
    codes): $LATENT_EXPLORER_CACHE, else the platform's user cache folder."""
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    folder = user_folder(xdg_env="XDG_CACHE_HOME", linux_default=".cache", mac_folder="Caches") / "latent-explorer"
    # Windows has no separate cache folder: keep it apart from the datasets.
    return folder / "cache" if sys.platform == "win32" else folder


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place, so a
    failure (full disk, crash) leaves any previous file untouched and no half
    file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes files private (0600); ours are ordinary readable files.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_cached_array(path: Path, key: str):
    """The array ``key`` of a cache file (.npz) written by write_cached_array, or None
    when there is none or it cannot be read (logged: the caller makes it again)."""
    import zipfile

    import numpy as np

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z[key]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("ignoring the cache file %s: %s", path, exc)
        return None


def write_cached_array(path: Path, key: str, array) -> None:
    """Save ``array`` as ``key`` of the .npz cache file ``path``, atomically; a failure
    is only logged, since without the cache only the next start is slower."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **{key: array})
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        log.warning("could not write the cache file %s: %s", path, exc)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_key(data: bytes) -> str:
    """A file's content as a cache key ("sha256:<hex>"), e.g. a checkpoint's in a CodeCache."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_key(path: str | os.PathLike) -> str:
    """``content_key`` of a file on disk, read in chunks."""
    return "sha256:" + file_digest(path)


# File stems of the bundled models; dae_masking is a DAE trained with masking noise.
BUNDLED_KINDS = ("ae", "vae", "linear", "dae", "dae_masking")


def bundled_models_dir(dataset: str = "mnist") -> Path:
    """Folder of the pretrained checkpoints shipped with the app."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / dataset


def bundled_codes_dir() -> Path:
    """Folder of the bundled AEs' and VAEs' codes of the bundled test images, shipped so
    that even the first start can plot them before torch is loaded (see CodeCache;
    scripts/make_bundled_codes.py writes them)."""
    return Path(__file__).resolve().parent.parent / "resources" / "codes"


class ExportError(ValueError):
    """A picture or table cannot be written; the message names the file and why."""


def check_folder(path: str | os.PathLike, *, suffixes: tuple[str, ...]) -> Path:
    """``path`` as a Path if a file with one of ``suffixes`` can be written there, else
    ExportError saying why (before any work is done)."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; give a file name inside it")
    if path.suffix.lower() not in suffixes:
        raise ExportError(f"{path}: give a file name ending in {' or '.join(suffixes)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ExportError(f"{path}: the folder {folder} is not writable")
    return path


class NotWritableError(Exception):
    """A checkpoint or run folder cannot be saved where it was asked to be."""


def check_writable_folder(folder: str | os.PathLike, *, what: str = "checkpoints") -> Path:
    """Make sure ``what`` can be saved in ``folder`` (or, while it does not exist, in its
    nearest existing parent, where saving makes it) before a run starts, so that an
    unwritable output is reported before training, not after it."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise NotWritableError(f"cannot save {what} in {folder}: {existing} is a file, not a folder")
    # A real write, not os.access: access() says yes to root on a read-only folder and
    # knows nothing of a full disk or a read-only mount.
    try:
        fd, probe = tempfile.mkstemp(prefix=".latent-explorer-write-test.", dir=existing)
        try:
            os.write(fd, bytes(4096))
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise NotWritableError(
            f"cannot save {what} in {existing}: {exc.strerror or exc}; choose another folder or free some space"
        ) from exc
    return folder


def check_writable_file(path: str | os.PathLike, *, what: str = "the checkpoint") -> Path:
    """``check_writable_folder`` for one file: also refuses a folder in its place."""
    path = Path(path)
    if path.is_dir():
        raise NotWritableError(f"cannot save {what} as {path}: that is a folder; give a file name inside it")
    check_writable_folder(path.parent, what=what)
    return path
