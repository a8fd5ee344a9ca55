"""Animated GIF and MP4 files from a sequence of RGB frames (a training run's latent
space forming, an interpolation, a prior-sample sweep).

imageio writes them: it is the standard, well-kept writer for both formats (GIF through
Pillow, MP4 through its ffmpeg plugin, ``imageio-ffmpeg``, when that is installed), so
we write no encoder of our own. Writes are atomic: a file is written next to the
target and renamed over it only when complete.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from models.files import ExportError, check_folder

FORMATS = (".gif", ".mp4")


class AnimationError(ExportError):
    """The animation cannot be written; the message says why and what to do."""


def mp4_available() -> bool:
    """True when imageio's ffmpeg plugin is installed (MP4 needs it; GIF does not)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def check_target(path: str | Path) -> Path:
    """``path`` as a Path if an animation can be written there, else AnimationError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AnimationError(f"{path}: an animation is written as .gif or .mp4, not {suffix or 'a file without a suffix'}")
    if suffix == ".mp4" and not mp4_available():
        raise AnimationError(f"{path}: MP4 needs imageio's ffmpeg plugin (pip install imageio-ffmpeg); GIF works without it")
    try:
        check_folder(path, suffixes=FORMATS)
    except ExportError as exc:
        raise AnimationError(str(exc)) from None
    return path


def _as_frame(frame: np.ndarray, shape: tuple[int, ...] | None, *, even: bool = False) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise AnimationError(f"a frame must be H x W (grey) or H x W x 3 (RGB), not {a.shape}")
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if even and (a.shape[0] % 2 or a.shape[1] % 2):
        # MP4's yuv420p needs even sides: pad by one row/column of the edge colour.
        a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="edge")
    if shape is not None and a.shape != shape:
        raise AnimationError(f"every frame must have the first frame's size {shape[1]} x {shape[0]}, not {a.shape[1]} x {a.shape[0]}")
    return a


def write_animation(path: str | Path, frames: Iterable[np.ndarray], *, fps: float = 5.0, loop: bool = True) -> int:
    """Write ``frames`` (uint8 RGB, or floats in [0, 1]; all one size) to ``path``
    (.gif or .mp4) at ``fps`` frames a second; returns the number of frames written.
    AnimationError for a bad target, no frames or frames of different sizes; the
    target is then left as it was."""
    path = check_target(path)
    if not fps > 0:
        raise AnimationError(f"the frame rate must be positive, not {fps}")
    import imageio.v2 as imageio

    suffix = path.suffix.lower()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); an exported animation is an ordinary file.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    count = 0
    try:
        if suffix == ".gif":
            # Pillow's GIF writer takes a frame duration in milliseconds; loop=0 repeats forever.
            writer = imageio.get_writer(tmp, mode="I", format="GIF", duration=1000.0 / fps, loop=0 if loop else 1)
        else:
            # macro_block_size=1 keeps odd frame sizes as they are instead of resizing them.
            writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, macro_block_size=1, codec="libx264",
                                        pixelformat="yuv420p")
        shape: tuple[int, ...] | None = None
        with writer:
            for frame in frames:
                a = _as_frame(frame, shape, even=suffix == ".mp4")
                shape = shape or a.shape
                writer.append_data(a)
                count += 1
        if count == 0:
            raise AnimationError(f"{path}: there are no frames to write")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def read_frames(path: str | Path) -> list[np.ndarray]:
    """The frames of a GIF or MP4 as uint8 RGB arrays (for tests and checks)."""
    path = Path(path)
    if path.suffix.lower() == ".mp4":
        return _read_mp4(path)
    import imageio.v2 as imageio

    with imageio.get_reader(path) as reader:
        return [np.asarray(f)[:, :, :3].copy() for f in reader]  # type: ignore[attr-defined]


def _read_mp4(path: Path) -> list[np.ndarray]:
    # ffmpeg decodes to raw RGB on a pipe; imageio's own reader leaves its pipes open.
    import subprocess

    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    probe = imageio_ffmpeg.count_frames_and_secs(str(path))[0]
    out = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    if probe == 0:
        return []
    frame_bytes = len(out) // probe
    size = _mp4_size(exe, path)
    frames = np.frombuffer(out, dtype=np.uint8)[: probe * frame_bytes].reshape(probe, size[1], size[0], 3)
    return [f.copy() for f in frames]


def _mp4_size(exe: str, path: Path) -> tuple[int, int]:
    import re
    import subprocess

    info = subprocess.run([exe, "-i", str(path)], capture_output=True, text=True).stderr
    m = re.search(r"Video:.*?(\d{2,5})x(\d{2,5})", info)
    if m is None:
        raise AnimationError(f"{path}: not a video ffmpeg can read")
    return int(m.group(1)), int(m.group(2))
