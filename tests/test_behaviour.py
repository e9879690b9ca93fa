"""Triplet odd-one-out accuracy (brainalign.metrics.behaviour)."""

from __future__ import annotations

import numpy as np
import pytest
from brainalign.metrics.behaviour import odd_one_out_accuracy, odd_one_out_choices


def test_closed_form_tiny_case():
    # items: 0 and 1 point the same way, 2 is orthogonal, 3 is long and diagonal
    items = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [3.0, 3.0]])
    triplets = np.array([[0, 1, 2], [2, 0, 1], [0, 2, 3], [1, 2, 3]])
    # dot products: (0,1)=.9 (0,2)=0 (1,2)=.1 (0,3)=3 (2,3)=3 (1,3)=3
    # [0,1,2]: best pair (0,1) -> 2;  [2,0,1]: best (0,1) -> 2
    # [0,2,3]: pairs (0,2)=0, (0,3)=3, (2,3)=3 -> tie, first of (a,c),(b,c) is (0,3) -> 2
    # [1,2,3]: (1,2)=.1, (1,3)=3 (up to rounding), (2,3)=3 -> (1,3) wins or ties first -> 2
    assert odd_one_out_choices(items, triplets).tolist() == [2, 2, 2, 2]
    # cosine: (0,3)=.707, (2,3)=.707 tie again -> 2; (1,3)=.78 > (2,3)=.707 -> odd is 2
    assert odd_one_out_choices(items, triplets, similarity="cosine").tolist() == [2, 2, 2, 2]
    human = np.array([2, 0, 2, 3])
    assert odd_one_out_accuracy(items, triplets, human) == pytest.approx(0.5, abs=1e-12)


def test_ties_follow_the_documented_pair_order():
    items = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # all three pairs tie
    assert odd_one_out_choices(items, np.array([[0, 1, 2]])).tolist() == [2]  # pair (a, b)
    items = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    # triplet (3, 1, 2): every pair with item 3 is 0, (1, 2) = 1 -> odd is 3, no tie
    assert odd_one_out_choices(items, np.array([[3, 1, 2]])).tolist() == [3]
    # triplet (3, 0, 1): all pairs 0 -> tie -> pair (a, b) = (3, 0) -> odd is 1
    assert odd_one_out_choices(items, np.array([[3, 0, 1]])).tolist() == [1]
    # triplet (1, 0, 3): s(1,0)=0, s(1,3)=0, s(0,3)=0 -> (a, b) -> odd is 3
    assert odd_one_out_choices(items, np.array([[1, 0, 3]])).tolist() == [3]


def test_perfect_accuracy_when_humans_use_the_same_representation():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((50, 8))
    triplets = np.array([rng.choice(50, size=3, replace=False) for _ in range(2000)])
    gram = items @ items.T
    a, b, c = triplets.T
    pair_sims = np.stack([gram[a, b], gram[a, c], gram[b, c]], axis=1)
    human = np.choose(np.argmax(pair_sims, axis=1), [c, b, a])  # item left out of best pair
    assert odd_one_out_accuracy(items, triplets, human) == 1.0
    # the THINGS/SPoSE file order: the most similar pair first, odd one out third
    reordered = np.column_stack([np.where(human == a, b, a), np.where(human == c, b, c), human])
    assert odd_one_out_accuracy(items, reordered) == 1.0


def test_chance_accuracy_for_random_choices():
    rng = np.random.default_rng(1)
    items = rng.standard_normal((100, 16))
    triplets = np.array([rng.choice(100, size=3, replace=False) for _ in range(30000)])
    human = triplets[np.arange(30000), rng.integers(0, 3, size=30000)]
    # binomial sd sqrt(2/9 / 30000) = 0.0027; 0.015 is 5.5 sd
    assert odd_one_out_accuracy(items, triplets, human) == pytest.approx(1 / 3, abs=0.015)
    assert odd_one_out_accuracy(items, triplets, human, block_size=7000) == \
        odd_one_out_accuracy(items, triplets, human)


def test_errors_name_the_argument():
    items = np.eye(4)
    with pytest.raises(ValueError, match=r"triplets must have shape \(n_triplets, 3\)"):
        odd_one_out_accuracy(items, np.array([[0, 1]]))
    with pytest.raises(TypeError, match="triplets must be an integer array"):
        odd_one_out_accuracy(items, np.array([[0.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        odd_one_out_accuracy(items, np.array([[0, 1, 4]]))
    with pytest.raises(ValueError, match="three distinct items"):
        odd_one_out_accuracy(items, np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="odd_one_out must be one of its triplet's items"):
        odd_one_out_accuracy(items, np.array([[0, 1, 2]]), np.array([3]))
    with pytest.raises(ValueError, match=r"odd_one_out must have shape \(1,\)"):
        odd_one_out_accuracy(items, np.array([[0, 1, 2]]), np.array([2, 1]))
    with pytest.raises(ValueError, match="similarity must be"):
        odd_one_out_accuracy(items, np.array([[0, 1, 2]]), similarity="euclidean")
    with pytest.raises(ValueError, match="all-zero rows"):
        odd_one_out_choices(np.zeros((3, 2)), np.array([[0, 1, 2]]), similarity="cosine")
