"""Uncertainty and ceilings of agreement with human judgements (odd-one-out triplets, 2AFC,
similarity matrices).

Bootstrap over judgements: ``B`` draws of the ``T`` judgements with replacement; draw ``b``'s
accuracy is ``mean_t correct[idx_b[t]]``.

Bootstrap over items: ``B`` draws of the ``n`` items with replacement, item ``i`` drawn ``m_bi``
times; a judgement of items ``(a, b, c)`` then enters ``w_bt = m_ba m_bb m_bc`` times (the
judgements the resampled item set would contain), and draw ``b``'s accuracy is
``sum_t w_bt correct_t / sum_t w_bt`` (NaN when no judgement survives).

Human ceiling of repeated judgements (leave one response out): judgements are grouped by their
unordered item set; for every response ``r`` in a group of ``k >= 2`` responses, the majority
choice of the other ``k - 1`` responses is the prediction, ties shared,

    agree(r) = 1[r in M_r] / |M_r|,   M_r = argmax_c #{other responses choosing c},

and the ceiling is the mean of ``agree(r)`` over every response of a repeated judgement (NaN if
none repeats): how well the consensus of other people predicts a held-out person.

Split-half reliability of similarity matrices: the subjects split at random into two halves,
``r = spearman(mean RDM of half 1, mean RDM of half 2)`` over item pairs, corrected to the full
group by Spearman-Brown, ``2 r / (1 + r)``; the ceiling is its mean over ``n_splits`` splits
(NaN with one subject).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def judgement_draws(n_judgements: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """(B, T) indices of the judgement bootstrap."""
    return rng.integers(0, n_judgements, size=(n_bootstrap, n_judgements))


def item_weights(items: np.ndarray, n_items: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """(B, T) weights ``w_bt`` of the item bootstrap (module docstring); ``items`` (T, 3) rows."""
    counts = np.stack([np.bincount(rng.integers(0, n_items, n_items), minlength=n_items)
                       for _ in range(n_bootstrap)])
    return counts[:, items[:, 0]] * counts[:, items[:, 1]] * counts[:, items[:, 2]]


def bootstrap_accuracy(correct: np.ndarray, draws: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(over judgements (B,), over items (B,))`` accuracies of one 0/1 vector ``correct`` (T,)."""
    correct = correct.astype(np.float64)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_items = np.where(total > 0, weights @ correct / total, np.nan)
    return correct[draws].mean(axis=1), by_items


def repeated_ceiling(items: np.ndarray, choice: np.ndarray, *, reference_first: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per repeated judgement (group of identical item sets with ``k >= 2`` responses): the summed
    ``agree(r)`` of its responses and ``k`` (module docstring); the ceiling is
    ``agree.sum() / k.sum()``. ``items`` (T, 3): triplets (an unordered set) or, with
    ``reference_first``, 2AFC rows (reference, A, B), the same judgement whichever option is shown
    first; ``choice`` (T,) the chosen item."""
    key = np.sort(items, axis=1)
    if reference_first:
        key = np.column_stack([items[:, 0], np.sort(items[:, 1:], axis=1)])
    table = pd.DataFrame({"a": key[:, 0], "b": key[:, 1], "c": key[:, 2], "choice": choice})
    counts = table.groupby(["a", "b", "c", "choice"]).size().rename("n").reset_index()
    counts = counts[counts.groupby(["a", "b", "c"]).n.transform("sum") >= 2]
    agree, sizes = [], []
    for _, g in counts.groupby(["a", "b", "c"]):
        n = g.n.to_numpy()
        total = 0.0
        for c in range(len(n)):  # the n[c] responses choosing option c, each held out in turn
            others = n.copy()
            others[c] -= 1
            modes = others == others.max()
            total += n[c] * modes[c] / modes.sum()
        agree.append(total)
        sizes.append(n.sum())
    return np.asarray(agree, dtype=np.float64), np.asarray(sizes, dtype=np.int64)


def ceiling_interval(agree: np.ndarray, sizes: np.ndarray, n_bootstrap: int, ci: float,
                     rng: np.random.Generator) -> tuple[float, float, float]:
    """``(ceiling, low, high)`` of repeated judgements, the interval over ``n_bootstrap`` resamples
    of the repeated item sets (NaN when nothing repeats)."""
    if not len(sizes):
        return (float("nan"),) * 3
    draws = rng.integers(0, len(sizes), size=(n_bootstrap, len(sizes)))
    low, high = np.quantile(agree[draws].sum(axis=1) / sizes[draws].sum(axis=1), [(1 - ci) / 2, (1 + ci) / 2])
    return float(agree.sum() / sizes.sum()), float(low), float(high)


def split_half_ceiling(rdms: np.ndarray, n_splits: int, ci: float, rng: np.random.Generator
                       ) -> tuple[float, float, float]:
    """``(ceiling, low, high)``: the Spearman-Brown corrected split-half reliability of subject RDMs
    (S, n_pairs) (module docstring), mean and percentile range over the ``n_splits`` random splits
    (NaN with one subject)."""
    if len(rdms) < 2:
        return (float("nan"),) * 3
    values = []
    for _ in range(n_splits):
        order = rng.permutation(len(rdms))
        half = len(rdms) // 2
        r = spearmanr(rdms[order[:half]].mean(axis=0), rdms[order[half:]].mean(axis=0)).statistic
        values.append(2 * r / (1 + r))
    low, high = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2])
    return float(np.mean(values)), float(low), float(high)
