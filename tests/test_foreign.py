"""The stand-in for other people's handwriting (models/foreign.py) and the kNN vote
that scores models on it (issue #19)."""
from __future__ import annotations

import numpy as np
import pytest

from models.data import load_bundled
from models.foreign import foreign_digits
from models.metrics import knn_votes


@pytest.fixture(scope="module")
def digits():
    data = load_bundled("mnist")
    return data.test_images, data.test_labels


def test_the_stand_in_is_fixed_by_its_seed_and_looks_like_mnist_input(digits):
    images, _ = digits
    a = foreign_digits(images[:40], seed=0)
    assert a.shape == (40, 28, 28) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, foreign_digits(images[:40], seed=0))
    assert not np.array_equal(a, foreign_digits(images[:40], seed=1))
    assert (a.reshape(40, -1).max(axis=1) == pytest.approx(1.0))  # to_mnist's full-intensity strokes
    # Softer and wider strokes than MNIST's, as other scanners and pens give.
    clean = images[:40] / 255.0
    assert (a > 0.1).mean() > (clean > 0.1).mean()
    assert a[a > 0.1].mean() < clean[clean > 0.1].mean()


def test_the_stand_in_stays_readable(digits):
    # A pixel-space 5-NN among the clean digits (which warps and shifts hurt more than they
    # hurt a reader) still names most of them: distorted, not destroyed (chance is 0.1).
    images, labels = digits
    ref = images[500:4500].reshape(4000, -1) / 255.0
    foreign = foreign_digits(images[:300]).reshape(300, -1)
    votes = knn_votes(ref, labels[500:4500], foreign)
    assert (votes == labels[:300]).mean() > 0.6


def test_knn_votes_count_the_k_nearest_and_leave_out_what_they_are_told():
    ref = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert knn_votes(ref, labels, np.array([[0.05], [5.05]]), k=3).tolist() == [0, 1]
    # Each reference point voted on by the others: the lone class-1 point is not its own neighbour.
    ref2 = np.array([[0.0], [0.1], [0.2], [0.5]])
    labels2 = np.array([0, 0, 0, 1])
    assert knn_votes(ref2, labels2, ref2, k=1).tolist() == [0, 0, 0, 1]
    assert knn_votes(ref2, labels2, ref2, k=1, exclude=np.arange(4)).tolist() == [0, 0, 0, 0]
