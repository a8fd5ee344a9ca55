"""The codes of a set of images as CSV, for a notebook or a spreadsheet: a header
``index,label,z1,z2,...`` and one row per image, the model's deterministic codes (its
encoder's means for the VAE, as the plots show). Shared by the app (File › Export
codes as CSV…) and ``python main.py codes``."""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.files import ExportError, atomic_write_bytes, check_folder

if TYPE_CHECKING:
    from models.nets import Model

CODE_FORMAT = ".9g"  # nine significant digits: float32 codes read back exactly


def model_codes(model: Model, images: np.ndarray) -> np.ndarray:
    """The model's codes (N, latent) of uint8 or [0, 1] float images (N, H, W)."""
    from models import metrics
    from models.data import as_float_images

    return metrics.embed(model, as_float_images(images)).numpy().astype(np.float32)


def codes_csv(codes: np.ndarray, labels: np.ndarray | None = None, *, indices: Sequence[int] | None = None,
              class_names: Sequence[str] | None = None) -> str:
    """The CSV text: ``index,label,z1..zL`` then one row per code. ``labels`` are class
    numbers (written as they are, or as ``class_names[label]`` when those are given);
    without labels the column is empty."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 1:
        raise ValueError(f"codes must be (N, latent), got shape {codes.shape}")
    n, latent = codes.shape
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} codes")
    index = np.arange(n) if indices is None else np.asarray(indices)
    if len(index) != n:
        raise ValueError(f"{len(index)} indices for {n} codes")
    out = io.StringIO()
    out.write(",".join(["index", "label", *(f"z{k + 1}" for k in range(latent))]) + "\n")
    for i in range(n):
        if labels is None:
            label = ""
        elif class_names is not None:
            label = _csv_field(class_names[int(labels[i])])
        else:
            label = str(int(labels[i]))
        values = ",".join(format(float(v), CODE_FORMAT) for v in codes[i])
        out.write(f"{int(index[i])},{label},{values}\n")
    return out.getvalue()


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def check_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a CSV file can be written there, else ExportError."""
    return check_folder(path, suffixes=(".csv",))


def write_codes_csv(path: str | os.PathLike, codes: np.ndarray, labels: np.ndarray | None = None, **kwargs) -> int:
    """Write ``codes_csv(codes, labels, ...)`` to ``path`` atomically; the number of rows."""
    path = check_target(path)
    text = codes_csv(codes, labels, **kwargs)
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise ExportError(f"{path}: could not write the CSV ({exc.strerror or exc})") from exc
    return len(codes)


def read_codes_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, labels, codes) of a file written by ``write_codes_csv`` with numeric
    labels (for tests and notebooks)."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if header[:2] != ["index", "label"]:
        raise ValueError(f"{path}: not a codes file (its header is {','.join(header)})")
    indices = np.array([int(r[0]) for r in body], dtype=np.int64)
    labels = np.array([int(r[1]) for r in body], dtype=np.int64)
    codes = np.array([[float(v) for v in r[2:]] for r in body], dtype=np.float64).reshape(len(body), len(header) - 2)
    return indices, labels, codes
