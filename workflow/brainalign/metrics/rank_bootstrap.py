r"""Spearman correlation of RDMs on bootstrap samples of stimuli: rank once, re-rank by counting.

A bootstrap sample draws the ``n`` conditions with replacement; condition ``i`` drawn ``c_i``
times makes pair ``(i, j)`` appear ``w_ij = c_i c_j`` times in the resampled RDM (self-pairs of
copies left out, as in :func:`.rsa_stats.pair_weights`). Spearman's rho on that multiset is the
weighted Pearson correlation of the entries' average ranks *within the multiset*.

Each RDM is sorted once (:class:`SortedPairs`: the conditions ``(i, j)`` of its entries in
ascending order, and where its tie groups start). For a sample, one walk along that order sums
the weights: with ``h_g`` the weight of tie group ``g`` and ``E_g = h_0 + ... + h_g``, every copy
of every entry of group ``g`` has the average rank

    R_g = (E_{g-1} + E_g + 1) / 2,

exactly what re-sorting the multiset would give (ties, copies of one entry included, share the
mean of their positions); the walk writes ``2 R_g`` (an exact integer) at each drawn pair's place
in pair order. No sample is sorted. With ``W = sum_p w_p = ((sum_i c_i)² - sum_i c_i²) / 2``
(known before any pass) and ``mu = (W + 1) / 2`` the mean rank,

    rho = sum_p w_p (R^x_p - mu)(R^y_p - mu) / sqrt(V_x V_y),   V = sum_g h_g (R_g - mu)²,

summed in float64 on centred ranks, so no large sums cancel.

Cost per sample: one pass over the ``P`` sorted entries per RDM (the drawn pairs' ranks written
at random, which bounds the speed: about 9 ns per pair on this machine) and one sequential pass
over the pairs per data RDM for the cross sums. Memory: 4 bytes and 1 bit per pair per RDM
(:class:`SortedPairs`) and a uint32 rank per pair for each model RDM and for as many data RDMs
as there are threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from queue import Queue

import numba
import numpy as np

from .rank_kernels import radix_order, sortable_keys
from .rdm import n_conditions_from_pairs
from .rsa_compare import n_workers

__all__ = ["MAX_CONDITIONS", "SortedPairs", "bootstrap_spearman"]

MAX_CONDITIONS = 65536  # conditions held as uint16; 2 R <= n (n - 1) + 1 fits uint32


@numba.njit(cache=True, nogil=True)
def _sorted_pairs(order, sorted_keys, n):
    """Conditions ``(i, j)`` (uint16) of the entries in ascending order, and a bit per sorted
    position set where a tie group starts (a key unlike the one before)."""
    size = order.size
    first = np.empty(size, dtype=np.uint16)
    second = np.empty(size, dtype=np.uint16)
    row_start = np.empty(n, dtype=np.int64)
    for i in range(n):
        row_start[i] = i * (2 * n - i - 1) // 2
    starts = np.zeros((size + 8) // 8, dtype=np.uint8)
    for k in range(size):
        p = order[k]
        i = n - 2 - int(np.floor(np.sqrt(-8.0 * p + 4.0 * n * (n - 1) - 7.0) / 2.0 - 0.5))
        while i > 0 and row_start[i] > p:  # guard the float estimate
            i -= 1
        while i + 1 < n and row_start[i + 1] <= p:
            i += 1
        first[k] = i
        second[k] = p - row_start[i] + i + 1
        if k == 0 or sorted_keys[k] != sorted_keys[k - 1]:
            starts[k >> 3] |= np.uint8(1 << (k & 7))
    return first, second, starts


class SortedPairs:
    """One condensed RDM over ``n <= 65536`` conditions, sorted once: the conditions ``(i, j)``
    of its entries in ascending order (uint16 each) and its tie groups (one bit per entry).

    ``values`` is the RDM or the path of a ``.npy`` file holding it (then read here and let go
    as soon as its sort keys exist, so that only one copy of a long RDM is ever held).
    """

    def __init__(self, values):
        if not isinstance(values, np.ndarray):
            values = np.load(values)
        if values.size >= 2**31:
            raise ValueError(f"values: {values.size} entries exceed the int32 sort order")
        self.n = n_conditions_from_pairs(values.size)
        if self.n > MAX_CONDITIONS:
            raise ValueError(f"rank bootstrap: {self.n} conditions exceed {MAX_CONDITIONS}")
        keys, n_bits = sortable_keys(values)
        del values
        order, sorted_keys = radix_order(keys, n_bits)
        del keys
        self.first, self.second, self.starts = _sorted_pairs(order, sorted_keys, self.n)


@numba.njit(cache=True, nogil=True)
def _pair_ranks(first, second, starts, counts, shift, out):
    """Write ``2 R_p`` (see the module docstring) at every drawn pair ``p`` of ``out`` (pair
    order; undrawn pairs are left as they are) for draw counts ``counts``; return
    ``sum_p w_p (2 R_p - shift)²`` (``shift = W + 1``: 4 V).

    Branch-free for entries not tied with the next one: an undrawn pair's write goes to the
    last slot of ``out`` (a spare slot, never a pair), so only drawn pairs touch memory at random.
    """
    n = counts.size
    size = first.size
    spare = out.size - 1
    row_start = np.empty(n, dtype=np.int64)
    for i in range(n):
        row_start[i] = i * (2 * n - i - 1) // 2 - i - 1  # pair (i, j) is row_start[i] + j
    total = out.dtype.type(0)
    sum_sq = 0.0
    k = 0
    while k < size:
        end = k + 1
        if end == size or (starts[end >> 3] >> (end & 7)) & 1:  # k is alone in its tie group
            i = first[k]
            h = counts[i] * counts[second[k]]
            twice_rank = 2 * total + h + 1
            out[row_start[i] + second[k] if h != 0 else spare] = twice_rank
            sum_sq += float(h) * (float(twice_rank) - shift) ** 2
            total += h
            k = end
            continue
        h = counts[first[k]] * counts[second[k]]
        while end < size and not (starts[end >> 3] >> (end & 7)) & 1:  # the tie group's weight
            h += counts[first[end]] * counts[second[end]]
            end += 1
        twice_rank = 2 * total + h + 1
        for q in range(k, end):
            i = first[q]
            if counts[i] != 0 and counts[second[q]] != 0:
                out[row_start[i] + second[q]] = twice_rank
        sum_sq += float(h) * (float(twice_rank) - shift) ** 2
        total += h
        k = end
    return sum_sq


@numba.njit(cache=True, nogil=True)
def _cross_sums(ranks_y, ranks_x, counts, shift, out):
    """``out[m] += sum_p w_p (2R^y_p - shift)(2R^x_mp - shift)`` over the drawn pairs (pair order)."""
    n = counts.size
    p = 0
    n_models = ranks_x.shape[0]
    for i in range(n):
        ci = counts[i]
        if ci == 0:
            p += n - 1 - i
            continue
        for j in range(i + 1, n):  # undrawn pairs weigh 0 (their stale ranks are finite)
            wy = float(ci * counts[j]) * (float(ranks_y[p]) - shift)
            for m in range(n_models):
                out[m] += wy * (float(ranks_x[m, p]) - shift)
            p += 1


def bootstrap_spearman(models: list[SortedPairs], data: list[SortedPairs], counts: np.ndarray, *,
                       n_jobs: int | None = None) -> np.ndarray:
    """Spearman rho of every model RDM with every data RDM on bootstrap samples.

    Parameters
    ----------
    models, data : :class:`SortedPairs` of condensed RDMs over the same ``n`` conditions.
    counts : (n_samples, n) int, how often each condition is drawn in each sample.
    n_jobs : threads (None: every CPU).

    Returns
    -------
    (n_samples, n_data, n_models) float64; NaN where fewer than 3 conditions are drawn or a
    resampled RDM is constant.
    """
    counts = np.atleast_2d(counts)
    n = counts.shape[1]
    size = n * (n - 1) // 2
    workers = n_workers(n_jobs)
    ranks_x = np.zeros((len(models), size + 1), dtype=np.uint32)  # 2 R <= n (n - 1) + 1 < 2**32
    free = Queue()  # rank buffers of the data RDMs: as many as threads; the last slot is a spare
    for _ in range(min(workers, len(data))):
        free.put(np.zeros(size + 1, dtype=np.uint32))
    out = np.full((counts.shape[0], len(data), len(models)), np.nan)

    def ranks(pairs: SortedPairs, c, shift, into) -> float:
        return _pair_ranks(pairs.first, pairs.second, pairs.starts, c, shift, into)

    def data_task(d, c, shift, ranked_models):
        """Rank data RDM ``d`` into a free buffer, then (every model ranked) its cross sums."""
        buffer = free.get()
        try:
            var_y = ranks(data[d], c, shift, buffer)
            var_x = np.array([f.result() for f in ranked_models])
            cross = np.zeros(len(models))
            _cross_sums(buffer, ranks_x, c, shift, cross)
        finally:
            free.put(buffer)
        with np.errstate(invalid="ignore", divide="ignore"):
            return cross / np.sqrt(var_x * var_y)

    # One queue of tasks per sample, models first: a thread that finishes its model ranks the next
    # data RDM while the others finish theirs (threads take tasks in order, so every model task has
    # started before a data task waits on it).
    with ThreadPoolExecutor(workers) as pool:
        for s, c in enumerate(counts.astype(np.uint32)):
            if np.count_nonzero(c) < 3:
                continue
            drawn = c.astype(np.float64)
            shift = (drawn.sum() ** 2 - (drawn**2).sum()) / 2 + 1  # W + 1, W = sum_{i<j} c_i c_j
            ranked = [pool.submit(ranks, models[m], c, shift, ranks_x[m]) for m in range(len(models))]
            scored = [pool.submit(data_task, d, c, shift, ranked) for d in range(len(data))]
            for d, f in enumerate(scored):
                out[s, d] = f.result()
    return out
