"""models.knn: the vote of the nearest test codes and the 'unusual' bar."""
from __future__ import annotations

import numpy as np
import pytest

from models.knn import CodeVotes


def _clusters(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    labels = rng.integers(0, 3, size=n)
    return centres[labels] + rng.normal(0, 0.5, size=(n, 2)), labels, centres


def test_a_code_in_a_cluster_gets_its_label_and_is_not_unusual():
    codes, labels, centres = _clusters()
    votes = CodeVotes(codes, labels)
    for k, c in enumerate(centres):
        v = votes.judge(c + 0.1)
        assert v.label == k and v.votes == 5 and not v.unusual


def test_a_code_far_from_every_cluster_is_unusual():
    codes, labels, _ = _clusters()
    v = CodeVotes(codes, labels).judge(np.array([20.0, 20.0]))
    assert v.unusual and v.distance > v.limit


def test_hardly_any_test_code_is_over_the_bar():
    codes, labels, _ = _clusters(3000)
    votes = CodeVotes(codes[:2000], labels[:2000])
    share = np.mean([votes.judge(c).unusual for c in codes[2000:]])  # codes the bar was not set on
    assert 0.0 <= share <= 0.04


def test_too_few_codes_is_a_clear_error():
    with pytest.raises(ValueError, match="more than 5 codes"):
        CodeVotes(np.zeros((3, 2)), np.zeros(3))


def test_an_image_rebuilt_worse_than_almost_every_test_image_is_unusual():
    codes, labels, centres = _clusters()
    errors = np.random.default_rng(1).uniform(0.01, 0.05, size=len(codes))
    votes = CodeVotes(codes, labels, errors=errors)
    assert not votes.judge(centres[0], error=0.03).unusual
    v = votes.judge(centres[0], error=0.2)
    assert v.unusual and v.badly_rebuilt and not v.far and v.label == 0


def test_a_code_in_the_sparse_fringe_of_a_class_is_not_far():
    # Where test codes lie far apart too (the edge of a cluster), distance alone would
    # call a code there unusual; measured against its neighbours' own spacing it is not.
    codes, labels, centres = _clusters(3000)
    votes = CodeVotes(codes, labels)
    fringe = centres[1] + np.array([1.4, 0.0])  # 2.8 sigma out, among the cluster's last codes
    v = votes.judge(fringe)
    assert v.label == 1 and not v.far
