"""Triplet odd-one-out behaviour: how often a representation picks the odd one out that
humans picked (the THINGS odd-one-out task; Hebart et al. 2020, 2023).

Conventions
-----------
* ``representation``: array (n_items, p), one row per item (object concept or image).
* ``triplets``: int array (n_triplets, 3) of row indices into ``representation``; the three
  items of a row are distinct.
* Human choices: ``odd_one_out``, int array (n_triplets,), the item index (not the position)
  that the participant chose as the odd one out; it must be one of the row's three items. If
  it is omitted, the third column of ``triplets`` is taken as the human odd one out: the
  order of the THINGS/SPoSE triplet files, whose first two items are the pair judged most
  similar.

The model's choice for a triplet ``(a, b, c)``: compute the pair similarities ``s(a, b)``,
``s(a, c)``, ``s(b, c)`` (dot product ``<r_a, r_b>``, or cosine
``<r_a, r_b> / (||r_a|| ||r_b||)``); the most similar pair stays together and the third
item is the odd one out. Ties between pairs go to the first pair in the order
``(a, b), (a, c), (b, c)``, so the odd one out is then the later item: ``c`` before ``b``
before ``a``.
"""

from __future__ import annotations

import numpy as np

from ._paired_input import as_representation, check_int

__all__ = ["odd_one_out_choices", "odd_one_out_accuracy", "two_afc_choices"]

_PAIRS = ((0, 1), (0, 2), (1, 2))
_ODD_FOR_PAIR = (2, 1, 0)  # position of the item left out of each pair in _PAIRS


def odd_one_out_choices(representation, triplets, *, similarity: str = "dot",
                        block_size: int = 65536) -> np.ndarray:
    """The model's odd one out for every triplet (see the module conventions).

    Parameters
    ----------
    representation : array, shape (n_items, p)
    triplets : int array, shape (n_triplets, 3)
        Distinct item indices per row.
    similarity : {"dot", "cosine"}
    block_size : int
        Triplets scored at a time (memory ``3 * block_size * p`` floats).

    Returns
    -------
    int64 array, shape (n_triplets,)
        The item index (a value from the row of ``triplets``) the model calls odd.
    """
    if similarity not in ("dot", "cosine"):
        raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
    items = as_representation(representation, "representation", min_stimuli=3)
    triplets = _check_triplets(triplets, items.shape[0])
    block_size = check_int(block_size, "block_size", 1)
    if similarity == "cosine":
        norms = np.linalg.norm(items, axis=1)
        if np.any(norms == 0):
            raise ValueError(f"representation has all-zero rows (items "
                             f"{np.flatnonzero(norms == 0)[:5].tolist()}...): cosine undefined")
        items = items / norms[:, None].astype(items.dtype)
    chosen_pair = np.empty(triplets.shape[0], dtype=np.int64)
    for start in range(0, triplets.shape[0], block_size):
        block = triplets[start:start + block_size]
        pair_similarity = np.stack(
            [np.einsum("ij,ij->i", items[block[:, u]], items[block[:, v]], dtype=np.float64)
             for u, v in _PAIRS], axis=1)
        chosen_pair[start:start + block_size] = np.argmax(pair_similarity, axis=1)  # first max
    odd_position = np.asarray(_ODD_FOR_PAIR)[chosen_pair]
    return triplets[np.arange(triplets.shape[0]), odd_position]


def odd_one_out_accuracy(representation, triplets, odd_one_out=None, *,
                         similarity: str = "dot", block_size: int = 65536) -> float:
    """Fraction of triplets where the model's odd one out is the human's.

    ``accuracy = (1/T) sum_t 1[model_odd(t) == human_odd(t)]``, in [0, 1]; chance is 1/3.

    Parameters
    ----------
    representation : array, shape (n_items, p)
    triplets : int array, shape (n_triplets, 3)
    odd_one_out : int array, shape (n_triplets,), optional
        The human odd one out of each triplet, as an item index from that row. Default: the
        third column of ``triplets`` (THINGS/SPoSE file order).
    similarity : {"dot", "cosine"}
    block_size : int
        Triplets scored at a time.
    """
    triplets_array = np.asarray(triplets)
    model = odd_one_out_choices(representation, triplets_array, similarity=similarity,
                                block_size=block_size)
    human = triplets_array[:, 2] if odd_one_out is None else _check_choices(odd_one_out,
                                                                           triplets_array)
    return float(np.mean(model == human))


def _check_triplets(triplets, n_items: int) -> np.ndarray:
    triplets = np.asarray(triplets)
    if triplets.dtype.kind not in "iu":
        raise TypeError(f"triplets must be an integer array, got dtype {triplets.dtype}")
    if triplets.ndim != 2 or triplets.shape[1] != 3 or triplets.shape[0] == 0:
        raise ValueError(f"triplets must have shape (n_triplets, 3), got {triplets.shape}")
    if triplets.min() < 0 or triplets.max() >= n_items:
        raise ValueError(f"triplets hold item indices outside [0, {n_items}) "
                         f"(min {triplets.min()}, max {triplets.max()})")
    repeated = ((triplets[:, 0] == triplets[:, 1]) | (triplets[:, 0] == triplets[:, 2])
                | (triplets[:, 1] == triplets[:, 2]))
    if repeated.any():
        raise ValueError(f"triplets must hold three distinct items; rows "
                         f"{np.flatnonzero(repeated)[:5].tolist()} repeat one")
    return triplets.astype(np.int64, copy=False)


def _check_choices(odd_one_out, triplets: np.ndarray) -> np.ndarray:
    choices = np.asarray(odd_one_out)
    if choices.dtype.kind not in "iu":
        raise TypeError(f"odd_one_out must be an integer array, got dtype {choices.dtype}")
    if choices.shape != (triplets.shape[0],):
        raise ValueError(f"odd_one_out must have shape ({triplets.shape[0]},), one item per "
                         f"triplet, got {choices.shape}")
    outside = ~np.any(triplets == choices[:, None], axis=1)
    if outside.any():
        raise ValueError(f"odd_one_out must be one of its triplet's items; rows "
                         f"{np.flatnonzero(outside)[:5].tolist()} are not")
    return choices


def two_afc_choices(representation, judgements, *, similarity: str = "cosine") -> np.ndarray:
    """The model's choice in two-alternative forced-choice judgements (NIGHTS-style).

    ``judgements``: int array (n, 3) of rows ``(reference, option A, option B)``; the model picks
    the option more similar to the reference, ``argmax(s(ref, A), s(ref, B))`` (dot or cosine, as
    in :func:`odd_one_out_choices`); a tie goes to A. Returns the chosen item index (n,).
    """
    if similarity not in ("dot", "cosine"):
        raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
    items = as_representation(representation, "representation", min_stimuli=3)
    judgements = _check_triplets(judgements, items.shape[0])
    if similarity == "cosine":
        items = items / np.linalg.norm(items, axis=1, keepdims=True)
    ref = items[judgements[:, 0]]
    s_a = np.einsum("ij,ij->i", ref, items[judgements[:, 1]], dtype=np.float64)
    s_b = np.einsum("ij,ij->i", ref, items[judgements[:, 2]], dtype=np.float64)
    return np.where(s_b > s_a, judgements[:, 2], judgements[:, 1])
