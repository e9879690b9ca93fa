"""Agreement with human judgements: accuracies, bootstraps, ceilings, the gLocal probe."""

from __future__ import annotations

import numpy as np
import pytest
from brainalign.behaviour_simulate import luce_probabilities, simulate_triplets
from brainalign.metrics.behaviour import odd_one_out_choices, two_afc_choices
from brainalign.metrics.behaviour_stats import (bootstrap_accuracy, ceiling_interval, item_weights,
                                                repeated_ceiling, split_half_ceiling)
from brainalign.metrics.glocal import loss_and_gradient
from brainalign.metrics.glocal_probe import fit_probe


def _triplets(n_items, n, rng):
    return np.stack([rng.choice(n_items, 3, replace=False) for _ in range(n)])


def test_accuracies_equal_a_direct_numpy_computation():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5))
    t = _triplets(30, 400, rng)
    human = t[np.arange(400), rng.integers(0, 3, 400)]
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for sim, rep in (("dot", x), ("cosine", unit)):
        s = rep @ rep.T
        # the odd one out is the item outside the most similar pair, pairs (a,b), (a,c), (b,c)
        pair = np.argmax(np.stack([s[t[:, 0], t[:, 1]], s[t[:, 0], t[:, 2]], s[t[:, 1], t[:, 2]]], 1), 1)
        direct = t[np.arange(400), np.array([2, 1, 0])[pair]]
        assert np.mean(odd_one_out_choices(x, t, similarity=sim) == human) == np.mean(direct == human)
        ref = rep[t[:, 0]]
        closer_b = np.sum(ref * rep[t[:, 2]], 1) > np.sum(ref * rep[t[:, 1]], 1)
        np.testing.assert_array_equal(two_afc_choices(x, t, similarity=sim), np.where(closer_b, t[:, 2], t[:, 1]))


def test_item_bootstrap_weights_count_the_surviving_triplets():
    items = np.array([[0, 1, 2], [1, 2, 3], [0, 2, 3]])
    rng = np.random.default_rng(3)
    weights = item_weights(items, 4, 5, np.random.default_rng(3))
    for b in range(5):
        counts = np.bincount(rng.integers(0, 4, 4), minlength=4)
        np.testing.assert_array_equal(weights[b], [counts[0] * counts[1] * counts[2], counts[1] * counts[2] * counts[3],
                                                   counts[0] * counts[2] * counts[3]])
    correct = np.array([1, 0, 1])
    draws = np.array([[0, 0, 1], [2, 2, 2]])
    by_judgement, by_item = bootstrap_accuracy(correct, draws, np.array([[1, 1, 0], [0, 0, 0]]))
    np.testing.assert_allclose(by_judgement, [2 / 3, 1.0])
    assert by_item[0] == 0.5 and np.isnan(by_item[1])


def test_repeated_ceiling_closed_form():
    # triplet {0,1,2} answered 2, 2, 2, 1 (order shuffled): held-out 2 -> others (2, 2, 1): majority 2, agree;
    # held-out 1 -> others (2, 2, 2): disagree. 3/4. Triplet {3,4,5} answered 3, 4: each held out against one
    # other response that differs: 0. Triplet {0,3,5} answered once: not used.
    items = np.array([[0, 1, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [3, 4, 5], [5, 4, 3], [0, 3, 5]])
    choice = np.array([2, 2, 2, 1, 3, 4, 0])
    agree, sizes = repeated_ceiling(items, choice)
    assert sorted(zip(agree.tolist(), sizes.tolist())) == [(0.0, 2), (3.0, 4)]
    ceiling, low, high = ceiling_interval(agree, sizes, 50, 0.95, np.random.default_rng(0))
    assert ceiling == 0.5 and 0 <= low <= high <= 0.75
    # ties are shared: answers 1, 2, 3 -> each held out faces a tie of the other two, never itself: 0;
    # answers 1, 1, 2, 2 -> held-out 1 faces (1, 2, 2): wrong, ... = 0; answers 1, 1, 2 -> 1 faces (1, 2): 1/2
    agree, sizes = repeated_ceiling(np.array([[0, 1, 2]] * 3), np.array([0, 0, 1]))
    assert agree.tolist() == [1.0] and sizes.tolist() == [3]
    # 2AFC: (reference, A, B) and (reference, B, A) are the same judgement
    agree, sizes = repeated_ceiling(np.array([[0, 1, 2], [0, 2, 1]]), np.array([1, 1]), reference_first=True)
    assert agree.tolist() == [2.0] and sizes.tolist() == [2]


def test_split_half_ceiling_spearman_brown():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal(45)
    rdms = truth + 0.5 * rng.standard_normal((2, 45))
    from scipy.stats import spearmanr
    r = spearmanr(rdms[0], rdms[1]).statistic
    ceiling, low, high = split_half_ceiling(rdms, 4, 0.95, np.random.default_rng(1))
    assert ceiling == pytest.approx(2 * r / (1 + r), rel=1e-12) and low == pytest.approx(high, rel=1e-12)
    assert np.isnan(split_half_ceiling(rdms[:1], 4, 0.95, rng)[0])


def test_glocal_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    k = 4
    x = rng.standard_normal((15, k))
    t = _triplets(15, 60, rng)
    odd = rng.integers(0, 3, 60)
    local = np.arange(10)
    params = np.concatenate([(np.eye(k) + 0.2 * rng.standard_normal((k, k))).ravel(), 0.2 * rng.standard_normal(k)])
    args = (x, t, odd, local, 0.7, 0.3, 0.5)
    _, grad = loss_and_gradient(params, *args)
    h = 1e-6
    numeric = np.array([(loss_and_gradient(params + e, *args)[0] - loss_and_gradient(params - e, *args)[0]) / (2 * h)
                        for e in np.eye(len(params)) * h])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6 * np.abs(grad).max())
    # without the local term and at W = I, b = 0, the loss is the mean cross-entropy of the dot products
    identity = np.concatenate([np.eye(k).ravel(), np.zeros(k)])
    s = x @ x.T
    logits = np.stack([s[t[:, 1], t[:, 2]], s[t[:, 0], t[:, 2]], s[t[:, 0], t[:, 1]]], 1)
    ce = -np.mean(logits[np.arange(60), odd] - np.log(np.exp(logits).sum(1)))
    assert loss_and_gradient(identity, x, t, odd, local, 0.0, 0.3, 0.5)[0] == pytest.approx(ce, rel=1e-12)


def _layers(rng, n=60):
    generating = rng.standard_normal((n, 6))
    return {"generating": generating, "distorted": generating @ np.diag([3.0, 2.0, 1.0, 0.5, 0.3, 0.2]),
            "unrelated": rng.standard_normal((n, 6)), "partial": np.c_[generating[:, :2], rng.standard_normal((n, 4))]}


def test_generating_layer_ranks_first_on_simulated_choices():
    rng = np.random.default_rng(1)
    layers = _layers(rng)
    items, odd, _ = simulate_triplets(layers["generating"], n_triplets=1500, repeats=1, temperature=0.3, dims=256,
                                      seed=2)
    accuracy = {name: np.mean(odd_one_out_choices(x, items, similarity="cosine") == odd) for name, x in layers.items()}
    assert max(accuracy, key=accuracy.get) == "generating"
    assert accuracy["generating"] > accuracy["partial"] + 0.05 and abs(accuracy["unrelated"] - 1 / 3) < 0.05


def test_glocal_probe_recovers_held_out_accuracy_on_unseen_items():
    rng = np.random.default_rng(4)
    layers = _layers(rng, n=80)
    items, odd, _ = simulate_triplets(layers["generating"], n_triplets=3000, repeats=1, temperature=0.2, dims=512,
                                      seed=5)
    position = np.argmax(items == odd[:, None], axis=1)
    probe = fit_probe(layers["distorted"], items, position, lambdas=[0.0, 1e-2], alpha=0.01, tau=0.5,
                      n_components=6, test_fraction=0.5, folds=2, local_batch=256, max_iter=200, seed=0)
    train_items = ~probe.test_items
    test = items[probe.test_rows]
    assert probe.test_items[test].all()  # every test triplet's items are held out ...
    trained = np.setdiff1d(np.arange(len(items)), probe.test_rows)
    used = trained[train_items[items[trained]].all(axis=1)]
    assert not probe.test_items[items[used]].any()  # ... and no training triplet holds one
    # the simulated ceiling: the expected accuracy of the best guess from the true choice probabilities
    p = luce_probabilities(layers["generating"], test, temperature=0.2, dims=512,
                           rng=np.random.default_rng(5))
    best_possible = np.mean(np.argmax(p, axis=1) == position[probe.test_rows])
    assert probe.before < best_possible - 0.2  # the distortion costs the zero-shot layer ...
    assert probe.after > best_possible - 0.03  # ... and the probe, trained on other items, wins it back
