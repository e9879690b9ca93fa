"""Simulated human odd-one-out choices from a known embedding (``simulate_behaviour``).

The embedding of the ``n`` stimuli is a layer's features ``X`` (n, p) under a random linear map,
``E = X G`` with ``G`` (p, dims) of independent N(0, 1/dims) entries (seeded), so that
``<e_a, e_b> ~ <x_a, x_b>`` (Johnson-Lindenstrauss). A simulated person sees a triplet
``(a, b, c)`` and picks the odd one out by Luce's choice rule over the three pair similarities:

    P(odd = c) = exp(s_ab / T) / (exp(s_ab / T) + exp(s_ac / T) + exp(s_bc / T)),

with ``s`` the dot product of the embedding divided by its standard deviation over all pairs of
distinct stimuli (the similarity of SPoSE and of the gLocal probe), so the temperature ``T`` is in units of the spread of the similarities
(small T: nearly deterministic; large T: chance, 1/3). ``n_triplets`` distinct random triplets
are each answered by ``repeats`` simulated people (subjects ``s01``, ``s02``, ...), so that the
stage can estimate the human ceiling from the repeats.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from .metrics.glocal import triplet_logits


def luce_probabilities(features: np.ndarray, triplets: np.ndarray, *, temperature: float, dims: int,
                       rng: np.random.Generator) -> np.ndarray:
    """(T, 3) probability that each position is chosen as the odd one out (module docstring)."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    e = x @ rng.standard_normal((x.shape[1], dims)) / np.sqrt(dims)
    dot = e @ e.T
    off = ~np.eye(len(e), dtype=bool)
    return softmax(triplet_logits(e, triplets) / (dot[off].std() * temperature), axis=1)


def simulate_triplets(features: np.ndarray, *, n_triplets: int, repeats: int, temperature: float, dims: int,
                      seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(items (n_triplets * repeats, 3), odd one out (same rows), subject)``: rows of ``features``."""
    rng = np.random.default_rng(seed)
    n = len(features)
    triplets = np.stack([rng.choice(n, size=3, replace=False) for _ in range(n_triplets)])
    p = luce_probabilities(features, triplets, temperature=temperature, dims=dims, rng=rng)
    items = np.repeat(triplets, repeats, axis=0)
    p = np.repeat(p, repeats, axis=0)
    position = (rng.random(len(p))[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(max=2)
    subject = np.tile([f"s{r + 1:02d}" for r in range(repeats)], n_triplets)
    return items, items[np.arange(len(items)), position], subject
