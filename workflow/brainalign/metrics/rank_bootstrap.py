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
mean of their positions). No sample is sorted. With ``W = sum_p w_p = ((sum_i c_i)² - sum_i c_i²) / 2``
(known before any pass) and ``mu = (W + 1) / 2`` the mean rank,

    rho = sum_p w_p (R^x_p - mu)(R^y_p - mu) / sqrt(V_x V_y),   V = sum_g h_g (R_g - mu)²,

summed in float64 on centred ranks (``2 R - 2 mu``, exact integers), so no large sums cancel.

The cross sums pair each entry's rank in one RDM's order with its rank in another's, and the
orders are unrelated: written straight to a pair-ordered array (the previous design), every
drawn pair's rank is a write at a random place of ``4 P`` bytes (``P`` pairs), about 30 ns a
pair here. Instead the pair order is cut into regions of ``2**region_bits`` pairs, and the walk
appends ``2 R_p << region_bits | p mod 2**region_bits`` (one uint64) to its region's stream, the
regions' streams laid end to end (each region's length, its drawn pairs, known from the counts
before any walk): one of ~800 append points per pair instead of one of ``P`` places. Then, region
by region, every RDM's stream is written into a small matrix of the region's drawn pairs (in the
core's cache) and the cross sums run along it. At 10,000 conditions (50 M pairs, 20 M drawn) a
walk takes about 0.25 s and the cross sums of 7 RDMs about 0.5 s of one core here, against
0.6 s per RDM and 0.5 s before.

Memory: 4 bytes and 1 bit per pair per RDM (:class:`SortedPairs`) and 8 bytes per drawn pair per
RDM for the streams, at most ``stream_bytes`` (a sample that needs more takes its regions in
groups, one more walk of every RDM per group: the full scores, every pair drawn, take three
groups for 7 RDMs at 10,000 conditions).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .rank_kernels import sortable_keys
from .rdm import n_conditions_from_pairs
from .rsa_large import row_starts
from .rsa_compare import n_workers

__all__ = ["CROSS_PARTS", "MAX_CONDITIONS", "REGION_BITS", "STREAM_BYTES", "SortedPairs", "bootstrap_spearman"]

MAX_CONDITIONS = 65536  # conditions held as uint16; 2 R <= n (n - 1) + 1 fits uint32
REGION_BITS = 16  # pairs per region: 2**16, whose drawn pairs' ranks (8 bytes each per RDM) stay in cache
_SHORT_RUN = 32  # runs sharing a sort key's leading bits up to this length are sorted by insertion
STREAM_BYTES = 5 * 2**28  # 1.25 GiB of streams: every RDM of a 10,000-condition sample in one group
CROSS_PARTS = 16  # the cross sums of a group of regions in this many parts, summed in order, whatever the threads


@numba.njit(cache=True, nogil=True)
def _packed_keys(keys, index_bits):
    """Unsigned ``keys`` less their minimum, left-aligned in uint64, their lowest ``index_bits``
    replaced by each entry's index: sorting these sorts by the keys' leading bits."""
    low, high = keys.min(), keys.max()
    span_bits = 0
    span = np.uint64(high - low)
    while span:
        span >>= np.uint64(1)
        span_bits += 1
    packed = np.empty(keys.size, dtype=np.uint64)
    cut = np.uint64(index_bits)
    for k in range(keys.size):
        lead = np.uint64(0)
        if span_bits:
            lead = (np.uint64(keys[k] - low) << np.uint64(64 - span_bits)) >> cut << cut
        packed[k] = lead | np.uint64(k)
    return packed


@numba.njit(cache=True, nogil=True)
def _order_and_ties(packed, keys, index_bits):
    """From :func:`_packed_keys` sorted: the entries' order (int32), each run sharing the leading
    bits sorted by the whole key, and the tie groups' starts (bit ``k % 64`` of word ``k // 64``
    set where position ``k`` holds a key unlike the one before, and at position ``size``)."""
    size = packed.size
    cut = np.uint64(index_bits)
    mask = (np.uint64(1) << cut) - np.uint64(1)
    order = np.empty(size, dtype=np.int32)
    starts = np.zeros(size // 64 + 1, dtype=np.uint64)
    starts[size >> 6] |= np.uint64(1) << np.uint64(size & 63)
    k = 0
    while k < size:
        lead = packed[k] >> cut
        end = k + 1
        while end < size and packed[end] >> cut == lead:
            end += 1
        if end == k + 1:
            order[k] = packed[k] & mask
            starts[k >> 6] |= np.uint64(1) << np.uint64(k & 63)
            k = end
            continue
        # the whole keys decide (stably: equal keys stay in index order), by insertion if short
        if end - k <= _SHORT_RUN:
            for q in range(k, end):
                index = packed[q] & mask
                at = q
                while at > k and keys[order[at - 1]] > keys[index]:
                    order[at] = order[at - 1]
                    at -= 1
                order[at] = index
        else:
            run = (packed[k:end] & mask).astype(np.int64)
            order[k:end] = run[np.argsort(keys[run], kind="mergesort")]
        for q in range(k, end):
            if q == k or keys[order[q]] != keys[order[q - 1]]:
                starts[q >> 6] |= np.uint64(1) << np.uint64(q & 63)
        k = end
    return order, starts


@numba.njit(cache=True, nogil=True)
def _pairs_in_order(order, n):
    """Conditions ``(i, j)`` (uint16) of the condensed entries ``order``."""
    size = order.size
    first = np.empty(size, dtype=np.uint16)
    second = np.empty(size, dtype=np.uint16)
    row_start = np.empty(n, dtype=np.int64)
    for i in range(n):
        row_start[i] = i * (2 * n - i - 1) // 2
    for k in range(size):
        p = order[k]
        i = n - 2 - int(np.floor(np.sqrt(-8.0 * p + 4.0 * n * (n - 1) - 7.0) / 2.0 - 0.5))
        while i > 0 and row_start[i] > p:  # guard the float estimate
            i -= 1
        while i + 1 < n and row_start[i + 1] <= p:
            i += 1
        first[k] = i
        second[k] = p - row_start[i] + i + 1
    return first, second


class SortedPairs:
    """One condensed RDM over ``n <= 65536`` conditions, sorted once: the conditions ``(i, j)``
    of its entries in ascending order (uint16 each) and where its tie groups start (one bit per
    entry, in uint64 words).

    ``values`` is the RDM or a function returning it (called here, and the RDM let go as soon as
    its sort keys exist, so that only one copy of a long RDM is ever held). The sort:
    each order-preserving integer key (:func:`.rank_kernels.sortable_keys`) less the smallest
    keeps its leading ``64 - b`` significant bits and carries its index in the last ``b``
    (``2**b >=`` entries), numpy sorts those uint64 (a vectorised sort where the CPU has one), and
    the few runs sharing the leading bits are sorted by the whole key.
    """

    def __init__(self, values):
        if callable(values):
            values = values()
        if values.size >= 2**31:
            raise ValueError(f"values: {values.size} entries exceed the int32 sort order")
        self.n = n_conditions_from_pairs(values.size)
        if self.n > MAX_CONDITIONS:
            raise ValueError(f"rank bootstrap: {self.n} conditions exceed {MAX_CONDITIONS}")
        keys, _ = sortable_keys(values)
        del values
        index_bits = max(1, (keys.size - 1).bit_length())
        packed = _packed_keys(keys, index_bits)
        packed.sort()
        order, self.starts = _order_and_ties(packed, keys, index_bits)
        del packed, keys
        self.first, self.second = _pairs_in_order(order, self.n)


@numba.njit(cache=True, nogil=True)
def _region_sizes(counts, row_start, region_bits, n_regions):
    """Drawn pairs (``c_i c_j > 0``) in each region of ``2**region_bits`` consecutive pairs."""
    n = counts.size
    drawn_before = np.zeros(n + 1, dtype=np.int64)  # drawn conditions among 0 .. j - 1
    for j in range(n):
        drawn_before[j + 1] = drawn_before[j] + (counts[j] != 0)
    sizes = np.zeros(n_regions, dtype=np.int64)
    for i in range(n - 1):
        if counts[i] == 0:
            continue
        p, end = row_start[i], row_start[i] + n - 1 - i  # pair (i, j) is row_start[i] + j - i - 1
        while p < end:
            r = p >> region_bits
            stop = min(end, (r + 1) << region_bits)
            sizes[r] += drawn_before[stop - row_start[i] + i + 1] - drawn_before[p - row_start[i] + i + 1]
            p = stop
    return sizes


@numba.njit(cache=True, nogil=True)
def _walk(first, second, starts, counts, shift, region_bits, lo, hi, cursor, stream):
    """Walk one RDM's sorted entries for draw counts ``counts``; append ``(2 R_p) << region_bits |
    p mod 2**region_bits`` for every drawn pair ``p`` of the regions ``lo .. hi - 1`` at
    ``stream[cursor[region - lo]]`` (advancing the cursor); return ``4 V = sum_p w_p (2 R_p - shift)²``
    (``shift = W + 1``).

    Branch-free but for tie groups: a pair not appended is written to the last slot of ``stream``
    (a spare slot, never read). ``counts`` as small an integer type as holds them keeps the
    lookups in the core's first cache.
    """
    n = counts.size
    spare = stream.size - 1
    mask = (1 << region_bits) - 1
    one = np.uint64(1)
    total = 0
    sum_sq = 0.0
    packed = np.uint64(0)
    for k in range(first.size):
        i, j = np.int64(first[k]), np.int64(second[k])
        h = np.int64(counts[i]) * np.int64(counts[j])
        drawn = h != 0
        if (starts[k >> 6] >> np.uint64(k & 63)) & one:  # a tie group starts: its weight and rank
            end = k + 1
            while not (starts[end >> 6] >> np.uint64(end & 63)) & one:
                h += np.int64(counts[first[end]]) * np.int64(counts[second[end]])
                end += 1
            twice_rank = 2 * total + h + 1
            packed = np.uint64(twice_rank) << np.uint64(region_bits)
            sum_sq += float(h) * (float(twice_rank) - shift) ** 2
            total += h
        p = i * (2 * n - i - 3) // 2 + j - 1  # scipy's index of pair (i, j)
        r = p >> region_bits
        keep = drawn & (r >= lo) & (r < hi)
        slot = r - lo if keep else 0
        c = cursor[slot]
        stream[c if keep else spare] = packed | np.uint64(p & mask)
        cursor[slot] = c + keep
    return sum_sq


@numba.njit(cache=True, nogil=True, fastmath=True)
def _region_cross(streams, bounds, lo, r_from, r_to, counts, shift, row_start, region_bits, n_models, out):
    """``out[d, m] += sum_p w_p (2R^{data d}_p - shift)(2R^{model m}_p - shift)`` over the drawn pairs
    of regions ``r_from .. r_to - 1``; the streams' rows are the models, then the data RDMs, and
    region ``r``'s pairs lie at ``bounds[r - lo] .. bounds[r - lo + 1] - 1`` of every row.

    Per region: the drawn pairs numbered in pair order (``row[p mod 2**region_bits]``), every
    stream written into a ``(rdm, drawn pair)`` matrix of centred ranks ``Z``, then
    ``out[d, m] += sum_t w_t Z[data d, t] Z[model m, t]`` (``fastmath``: summed in vector lanes,
    an order that moves the float64 sums by about 1e-15 of their size, the same on every run).
    """
    n = counts.size
    n_rdms = streams.shape[0]
    total_pairs = n * (n - 1) // 2
    mask = np.uint64((1 << region_bits) - 1)
    drawn = np.flatnonzero(counts)  # the drawn conditions, ascending
    drawn_before = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        drawn_before[j + 1] = drawn_before[j] + (counts[j] != 0)
    row = np.empty(1 << region_bits, dtype=np.int64)
    for r in range(r_from, r_to):
        size = bounds[r - lo + 1] - bounds[r - lo]
        if size == 0:
            continue
        weights = np.empty(size)
        p0 = r << region_bits
        p_end = min(p0 + (1 << region_bits), total_pairs)
        i = np.searchsorted(row_start, p0, side="right") - 1
        p, t = p0, 0
        while p < p_end:  # the region's part of row i: pairs p .. row_end - 1
            row_end = min(row_start[i] + n - 1 - i, p_end)
            if counts[i] != 0:
                offset = row_start[i] - i - 1 - p0  # pair (i, j) at local index j + offset
                for u in range(drawn_before[p - offset - p0], drawn_before[row_end - offset - p0]):
                    j = drawn[u]
                    row[j + offset] = t
                    weights[t] = float(counts[i] * counts[j])
                    t += 1
            p = row_end
            i += 1
        z = np.empty((n_rdms, size))
        for m in range(n_rdms):
            for c in range(bounds[r - lo], bounds[r - lo + 1]):
                v = streams[m, c]
                z[m, row[v & mask]] = float(v >> np.uint64(region_bits)) - shift
        for d in range(n_rdms - n_models):
            for m in range(n_models):
                total = 0.0
                for t in range(size):
                    total += weights[t] * z[n_models + d, t] * z[m, t]
                out[d, m] += total


def _small_counts(counts: np.ndarray) -> np.ndarray:
    """``counts`` as uint8 when every count fits, else uint32."""
    return counts.astype(np.uint8 if counts.max() < 256 else np.uint32)


def _groups(sizes: np.ndarray, capacity: int):
    """Consecutive runs of regions whose drawn pairs fit ``capacity``: ``(lo, hi, bounds)``, with
    ``bounds`` the regions' starts in the stream (relative to ``lo``) and the total."""
    lo = 0
    while lo < sizes.size:
        bounds = np.concatenate([[0], np.cumsum(sizes[lo:])])
        hi = lo + max(1, int(np.searchsorted(bounds, capacity, side="right")) - 1)
        yield lo, hi, bounds[:hi - lo + 1]
        lo = hi


def bootstrap_spearman(models: list[SortedPairs], data: list[SortedPairs], counts: np.ndarray, *,
                       n_jobs: int | None = None, stream_bytes: int = STREAM_BYTES,
                       region_bits: int = REGION_BITS) -> np.ndarray:
    """Spearman rho of every model RDM with every data RDM on bootstrap samples.

    Parameters
    ----------
    models, data : :class:`SortedPairs` of condensed RDMs over the same ``n`` conditions.
    counts : (n_samples, n) int, how often each condition is drawn in each sample.
    n_jobs : CPUs (None: every CPU). The walks run on twice as many threads, so that the OS
        shares the cores among a sample's ``R`` walks and they end together (7 walks on 2 threads
        would leave one idle while the last runs); the numbers do not depend on it.
    stream_bytes : memory for the drawn pairs' ranks (8 bytes per pair and RDM); a sample
        that needs more takes its regions in groups, one more walk of every RDM per group.
    region_bits : regions of ``2**region_bits`` pairs (an index of that many int64 per thread).

    Returns
    -------
    (n_samples, n_data, n_models) float64; NaN where fewer than 3 conditions are drawn or a
    resampled RDM is constant.
    """
    counts = np.atleast_2d(counts)
    n = counts.shape[1]
    n_pairs = n * (n - 1) // 2
    rdms = list(models) + list(data)
    n_regions = (n_pairs + (1 << region_bits) - 1) >> region_bits
    capacity = max(stream_bytes // (8 * len(rdms)), 1 << region_bits)
    streams = np.empty((len(rdms), min(capacity, n_pairs) + 1), dtype=np.uint64)  # last: spare
    row_start = row_starts(n)
    workers = n_workers(n_jobs)
    out = np.full((counts.shape[0], len(data), len(models)), np.nan)

    def walk(k, c, shift, lo, hi, bounds):
        pairs = rdms[k]
        return _walk(pairs.first, pairs.second, pairs.starts, c, shift, region_bits, lo, hi,
                     bounds[:-1].copy(), streams[k])

    def cross(c, shift, lo, r_from, r_to, bounds):
        sums = np.zeros((len(data), len(models)))
        _region_cross(streams, bounds, lo, r_from, r_to, c, shift, row_start, region_bits, len(models), sums)
        return sums

    with ThreadPoolExecutor(2 * workers) as pool:
        for s, c in enumerate(counts.astype(np.int64)):
            if np.count_nonzero(c) < 3:
                continue
            drawn = c.astype(np.float64)
            shift = (drawn.sum() ** 2 - (drawn**2).sum()) / 2 + 1  # W + 1, W = sum_{i<j} c_i c_j
            sums, var, compact = np.zeros((len(data), len(models))), None, _small_counts(c)
            for lo, hi, bounds in _groups(_region_sizes(c, row_start, region_bits, n_regions), capacity):
                walked = [pool.submit(walk, k, compact, shift, lo, hi, bounds) for k in range(len(rdms))]
                sum_sq = np.array([f.result() for f in walked])  # the same for every group
                var = sum_sq if var is None else var
                cuts = np.linspace(lo, hi, min(hi - lo, CROSS_PARTS) + 1).astype(int)
                parts = [pool.submit(cross, c, shift, lo, a, b, bounds) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
                sums += sum(f.result() for f in parts)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[s] = sums / np.sqrt(np.outer(var[len(models):], var[:len(models)]))
    return out
