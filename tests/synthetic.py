"""Small synthetic digit-like images for tests (no dataset needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def blob_images(n: int, seed: int) -> np.ndarray:
    """(n, 28, 28) float32 in [0, 1]: a soft blob at one of four places, slightly jittered."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    centres = np.array([(8, 8), (8, 20), (20, 8), (20, 20)], dtype=np.float64)
    which = rng.integers(0, len(centres), n)
    jitter = rng.uniform(-1.5, 1.5, (n, 2))
    width = rng.uniform(2.0, 3.5, n)
    cy = (centres[which, 0] + jitter[:, 0])[:, None, None]
    cx = (centres[which, 1] + jitter[:, 1])[:, None, None]
    img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width[:, None, None] ** 2))
    return img.astype(np.float32)


def labelled_blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (n, 28, 28), labels (n,)): blobs at ten positions, one per label,
    structure an autoencoder learns in a few hundred steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:28, 0:28]
    cy = 6 + 2 * (labels % 5) * 1.6
    cx = 8 + 12 * (labels // 5)
    img = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / 12.0)
    img = img + 0.05 * rng.random(img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), labels


def write_idx_dataset(folder, name: str, images: np.ndarray, labels: np.ndarray, *, test: int) -> None:
    """The four IDX files of dataset ``name`` (its own file names) in folder: the
    images and labels as the training split, their first ``test`` as the test split."""
    from models import data

    spec = data.DATASETS[name]
    labels = labels.astype(np.uint8)
    for role, array in (("train_images", images), ("train_labels", labels),
                        ("test_images", images[:test]), ("test_labels", labels[:test])):
        filename = spec.files[role].filename
        data.write_idx(Path(folder) / filename, array, gzip=filename.endswith(".gz"))


def run_job_here(job) -> list:
    """Run a training job in this process (no child) and return every message it sent,
    in order; torch's thread count is put back afterwards."""
    import queue
    import threading

    import torch

    from models.jobs import run_job

    q: queue.Queue = queue.Queue()
    before = torch.get_num_threads()
    try:
        run_job(job, q, threading.Event(), threading.Event())
    finally:
        torch.set_num_threads(before)
    messages = []
    while not q.empty():
        messages.append(q.get())
    return messages
