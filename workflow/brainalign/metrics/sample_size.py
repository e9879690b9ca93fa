"""Sample-size curves: a score recomputed on random subsets of the stimuli, at several subset sizes.

Subsets. Of ``N`` stimuli, subset ``s`` (0 .. S-1) of size ``n`` is the sorted indices
``rng.choice(N, n, replace=False)`` with ``rng = default_rng(SeedSequence([seed, n, s]))``: keyed
on the value ``n``, not on its position in the list of sizes, so adding a size leaves every other
size's subsets (and so their scores) unchanged. A metric's own resampling of subset ``s`` of size
``n`` (a bootstrap over its stimuli or voxels) is seeded by :func:`subset_seed`.

Band at each size (:func:`curve_band`). With ``S`` subset scores ``t_s`` and, where the metric has
a bootstrap of its own, ``B`` bootstrap samples ``t_sb`` of each subset, the curve is the mean
``mean_s t_s``, its spread the standard deviation over subsets ``sd_s t_s`` (ddof 1), and the band
the central ``ci`` percentile interval of the pooled samples: of the ``t_s`` without a bootstrap;
of all ``S * B`` samples ``t_sb`` with one (the mixture of the subsets' bootstrap distributions:
the score's variation over which ``n`` stimuli are drawn from the ``N``, widened by its own
resampling within each draw). NaN samples are ignored.
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_subsets", "subset_rows", "subset_seed", "sub_rdm", "curve_band"]


def draw_subsets(n_total: int, sizes, subsets: int, seed: int) -> np.ndarray:
    """The stimuli of every subset: int64 (len(sizes), subsets, max(sizes)), each row the sorted
    indices into ``range(n_total)`` of one subset, padded with -1 after its ``n`` entries.

    Raises ``ValueError`` naming a size that exceeds ``n_total`` or is below 1."""
    sizes = [int(n) for n in sizes]
    bad = [n for n in sizes if not 1 <= n <= n_total]
    if bad:
        raise ValueError(f"n_stimuli {bad} not in [1, {n_total}]: there are {n_total} stimuli to draw from")
    out = np.full((len(sizes), subsets, max(sizes)), -1, dtype=np.int64)
    for i, n in enumerate(sizes):
        for s in range(subsets):
            rng = np.random.default_rng(np.random.SeedSequence([seed, n, s]))
            out[i, s, :n] = np.sort(rng.choice(n_total, size=n, replace=False))
    return out


def subset_rows(drawn: np.ndarray) -> np.ndarray:
    """One row of :func:`draw_subsets` without its padding."""
    return drawn[drawn >= 0]


def subset_seed(seed: int, n: int, s: int) -> int:
    """Seed of the metric's own resampling of subset ``s`` of size ``n`` (independent of the draw)."""
    return int(np.random.SeedSequence([seed, n, s, 1]).generate_state(1)[0])


def sub_rdm(rdm, rows: np.ndarray, n_total: int) -> np.ndarray:
    """The condensed RDM of stimuli ``rows`` (ascending) from the condensed RDM of all ``n_total``
    (scipy's pair order): pair ``(i, j)``, ``i < j``, is entry ``i (2N - i - 1) / 2 + j - i - 1``.
    ``rdm`` may be a memory map: only the chosen pairs are read."""
    rows = np.asarray(rows, dtype=np.int64)
    a, b = np.triu_indices(len(rows), k=1)
    i, j = rows[a], rows[b]
    return np.asarray(rdm[i * (2 * n_total - i - 1) // 2 + j - i - 1], dtype=np.float64)


def curve_band(scores: np.ndarray, bootstrap: np.ndarray | None, ci: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, s.d. over subsets, and band (low, high) of a curve (module docstring).

    Parameters
    ----------
    scores : array (size, subset, entry)
    bootstrap : array (size, subset, bootstrap, entry) or None (no bootstrap of the metric's own)
    ci : float in (0, 1)

    Returns
    -------
    mean, sd, low, high : arrays (size, entry)
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN entries stay NaN
        mean = np.nanmean(scores, axis=1)
        sd = np.nanstd(scores, axis=1, ddof=1) if scores.shape[1] > 1 else np.full(mean.shape, np.nan)
        if bootstrap is None or bootstrap.shape[2] == 0:
            pooled = scores
        else:
            pooled = bootstrap.reshape(bootstrap.shape[0], -1, bootstrap.shape[-1])
        low, high = np.nanquantile(pooled, [(1 - ci) / 2, (1 + ci) / 2], axis=1)
    return mean, sd, low, high
