"""Compiled (numba, GIL-free) kernels for rank statistics of long RDM vectors.

**Sorting and ranks.** Floats are mapped to unsigned integer keys of their width with the
same order (flip every bit of a negative number, set the sign bit of a non-negative one;
``-0.0`` is first made ``+0.0``) and sorted by a stable least-significant-digit radix sort,
11 bits per pass, passes where every key shares the digit skipped: ``O(N)`` per pass,
3 passes for float32 and at most 6 for float64. Average ranks give tied values the mean of their
1-based positions.

**Kendall's tau-a.**
Kendall's tau-a of ``x`` and ``y`` (length ``N``) counts the pairs ``k < l``:

    tau_a = (C - D) / (N (N - 1) / 2),   C - D = sum_{k<l} sign(x_k - x_l) sign(y_k - y_l)

Knight's ``O(N log N)`` algorithm: take the keys of ``x`` in ``(y, x)`` order (along the
fixed sort order of ``y``, each run of tied ``y`` sorted by ``x``) and sort those positions
stably by ``x`` (the radix sort). The discordant pairs ``D`` are then exactly the inversions
of that permutation of positions: a pair is inverted iff ``y`` rises and ``x`` falls. They
are counted one bit of the position at a time, most significant first: a branch-free stable
partition of each block sharing the higher bits, a pair counted at the first bit where the
two positions differ (an MSD binary radix sort that counts as it sorts, about twice as fast
here as a merge sort, whose every step waits on the last compare), the last 4 bits pair by
pair. Then

    C - D = T - T_x - T_y + T_xy - 2 D

with ``T`` all pairs, ``T_x`` (``T_y``) the pairs tied in ``x`` (``y``) and ``T_xy`` those
tied in both. Integer weights ``w_k`` stand for ``w_k`` copies of entry ``k`` (a bootstrap
sample of conditions repeats RDM entries): every count above is then a sum of weight
products, copies of one entry are tied in both ``x`` and ``y``, and ``N = sum_k w_k``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["sortable_keys", "radix_order", "rank_order", "average_ranks", "spearman_with",
           "tau_a_value"]

_RADIX_BITS = 11
_SHORT_RUN = 32  # runs of tied y up to this length are sorted by insertion
_PAIRWISE_BITS = 4  # inversions within blocks of 16 values are counted pair by pair
_U0, _U1 = np.uint64(0), np.uint64(1)


@numba.njit(cache=True, nogil=True)
def _keys_from_bits(bits, sign_bit):
    """Order-preserving keys (same width as ``bits``) from IEEE bit patterns; ``-0.0`` is
    mapped like ``+0.0``."""
    keys = np.empty_like(bits)
    sign = np.uint64(1) << np.uint64(sign_bit)
    all_bits = sign | (sign - np.uint64(1))
    for k in range(bits.size):
        b = np.uint64(bits[k])
        if b == sign:  # -0.0
            b = np.uint64(0)
        keys[k] = (b ^ all_bits) if b & sign else (b | sign)
    return keys


def sortable_keys(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Unsigned keys ordered like the float32 (uint32 keys) or float64 (uint64) ``values``,
    and their width in bits."""
    if values.dtype == np.float32:
        return _keys_from_bits(np.ascontiguousarray(values).view(np.uint32), 31), 32
    values = np.ascontiguousarray(values, dtype=np.float64)
    return _keys_from_bits(values.view(np.uint64), 63), 64


@numba.njit(cache=True, nogil=True)
def radix_order(keys, n_bits):
    """Stable ascending order (int32) of unsigned ``keys`` by an LSD radix sort, and the
    sorted keys."""
    n = keys.size
    n_passes = (n_bits + _RADIX_BITS - 1) // _RADIX_BITS
    n_buckets = 1 << _RADIX_BITS
    mask = np.uint64(n_buckets - 1)
    counts = np.zeros((n_passes, n_buckets), dtype=np.int64)
    for k in range(n):
        key = np.uint64(keys[k])
        for d in range(n_passes):
            counts[d, (key >> np.uint64(d * _RADIX_BITS)) & mask] += 1
    order = np.arange(n).astype(np.int32)
    sorted_keys = keys.copy()
    spare_order = np.empty_like(order)
    spare_keys = np.empty_like(keys)
    starts = np.empty(n_buckets, dtype=np.uint64)  # unsigned: no wraparound on positions
    for d in range(n_passes):
        if counts[d].max() == n:  # every key has the same digit here
            continue
        total = _U0
        for b in range(n_buckets):
            starts[b] = total
            total += np.uint64(counts[d, b])
        shift = np.uint64(d * _RADIX_BITS)
        for k in range(np.uint64(n)):
            key = sorted_keys[k]
            b = (np.uint64(key) >> shift) & mask
            pos = starts[b]
            starts[b] = pos + _U1
            spare_keys[pos] = key
            spare_order[pos] = order[k]
        sorted_keys, spare_keys = spare_keys, sorted_keys
        order, spare_order = spare_order, order
    return order, sorted_keys


@numba.njit(cache=True, nogil=True)
def _tie_runs(sorted_keys):
    """Start of each run of equal keys, then ``n``."""
    n = sorted_keys.size
    bounds = np.empty(n + 1, dtype=np.int64)
    n_runs = 0
    for k in range(n):
        if k == 0 or sorted_keys[k] != sorted_keys[k - 1]:
            bounds[n_runs] = k
            n_runs += 1
    bounds[n_runs] = n
    return bounds[:n_runs + 1]


@numba.njit(cache=True, nogil=True)
def _ranks_from_order(order, bounds):
    ranks = np.empty(order.size, dtype=np.float64)
    for g in range(bounds.size - 1):
        rank = (bounds[g] + bounds[g + 1] + 1) / 2.0  # mean of positions start+1 .. stop
        for k in range(bounds[g], bounds[g + 1]):
            ranks[order[k]] = rank
    return ranks


@numba.njit(cache=True, nogil=True)
def _centred_rank_products(order, bounds, target):
    """``(sum_k (r_k - m) target_k, sum_k (r_k - m)^2)`` for average ranks ``r``, mean ``m``."""
    mean = (order.size + 1) / 2.0
    dot = 0.0
    sum_sq = 0.0
    for g in range(bounds.size - 1):
        centred = (bounds[g] + bounds[g + 1] + 1) / 2.0 - mean
        partial = 0.0
        for k in range(bounds[g], bounds[g + 1]):
            partial += target[order[k]]
        dot += centred * partial
        sum_sq += centred * centred * (bounds[g + 1] - bounds[g])
    return dot, sum_sq


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D float array, tied values given the mean of their ranks."""
    order, sorted_keys = radix_order(*sortable_keys(values))
    return _ranks_from_order(order, _tie_runs(sorted_keys))


def rank_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending order (int32) of ``values`` and the bounds of its runs of ties (start..., n)."""
    if values.size >= 2**31:
        raise ValueError(f"values: {values.size} entries exceed the int32 sort order")
    order, sorted_keys = radix_order(*sortable_keys(values))
    return order, _tie_runs(sorted_keys)


def spearman_with(values: np.ndarray, target_unit: np.ndarray) -> float:
    """Spearman correlation of ``values`` with a target given as its centred, unit-norm ranks.

    ``rho = sum_k (r_k - m) t_k / ||r - m||``, summed over the sort order of ``values``
    without forming ``r``.
    """
    order, bounds = rank_order(values)
    dot, sum_sq = _centred_rank_products(order, bounds, target_unit)
    return dot / np.sqrt(sum_sq) if sum_sq > 0 else np.nan


@numba.njit(cache=True, nogil=True)
def _tied_pairs(w_total):
    return w_total * (w_total - 1) // 2


@numba.njit(cache=True, nogil=True)
def _keys_by_y_then_x(keys, order_y, bounds_y, weights, weighted):
    """The keys of ``x`` (and its weights, if ``weighted``) in ``(y, x)`` order: along
    ``order_y``, each run of tied ``y`` sorted by ``x``."""
    n = keys.size
    keys_yx = np.empty_like(keys)
    w_yx = np.empty(n if weighted else 0, dtype=np.int64)
    for k in range(np.uint64(n)):
        entry = np.uint64(order_y[k])
        keys_yx[k] = keys[entry]
        if weighted:
            w_yx[k] = weights[entry]
    for g in range(bounds_y.size - 1):
        lo, hi = bounds_y[g], bounds_y[g + 1]
        if hi - lo > _SHORT_RUN:
            by_x = lo + np.argsort(keys_yx[lo:hi], kind="mergesort")
            if weighted:
                w_yx[lo:hi] = w_yx[by_x]
            keys_yx[lo:hi] = keys_yx[by_x]
            continue
        for k in range(lo + 1, hi):  # insertion sort of a short run
            v = keys_yx[k]
            w = w_yx[k] if weighted else 0
            j = k - 1
            while j >= lo and keys_yx[j] > v:
                keys_yx[j + 1] = keys_yx[j]
                if weighted:
                    w_yx[j + 1] = w_yx[j]
                j -= 1
            keys_yx[j + 1] = v
            if weighted:
                w_yx[j + 1] = w
    return keys_yx, w_yx


@numba.njit(cache=True, nogil=True)
def _tau_a_kernel(order, sorted_keys, keys_yx, w_yx, bounds_y, weighted):
    """tau-a from ``order``, the positions in the ``(y, x)`` sequence ``keys_yx`` sorted
    stably by ``x`` (``sorted_keys``), and the runs of tied ``y`` (``bounds_y``)."""
    n = order.size
    w_x = np.empty(n if weighted else 0, dtype=np.int64)  # weights in x order
    ties_x = 0
    total = 0
    w_run = 0
    for j in range(n):
        w = w_yx[order[j]] if weighted else 1
        if weighted:
            w_x[j] = w
        if j > 0 and sorted_keys[j] != sorted_keys[j - 1]:
            ties_x += _tied_pairs(w_run)
            w_run = 0
        w_run += w
        total += w
    ties_x += _tied_pairs(w_run)
    ties_y = 0
    ties_xy = 0
    for g in range(bounds_y.size - 1):
        lo, hi = bounds_y[g], bounds_y[g + 1]
        w_group = 0
        w_run = 0
        for k in range(lo, hi):
            w = w_yx[k] if weighted else 1
            if k > lo and keys_yx[k] != keys_yx[k - 1]:
                ties_xy += _tied_pairs(w_run)
                w_run = 0
            w_run += w
            w_group += w
        ties_xy += _tied_pairs(w_run)
        ties_y += _tied_pairs(w_group)
    discordant = _weighted_inversions(order, w_x) if weighted else _inversions(order)
    pairs = _tied_pairs(total)
    if pairs == 0:
        return np.nan
    return (pairs - ties_x - ties_y + ties_xy - 2 * discordant) / pairs


@numba.njit(cache=True, nogil=True)
def _n_bits(n):
    """Bits of the largest index ``n - 1`` (0 for ``n <= 1``)."""
    bits = 0
    while (1 << bits) < n:
        bits += 1
    return bits


@numba.njit(cache=True, nogil=True)
def _inversions(perm):
    """Number of pairs k < l with perm_k > perm_l, for a permutation of ``0 .. n-1``.

    Bit by bit from the most significant down to bit ``_PAIRWISE_BITS``: the entries whose
    values share the higher bits (a contiguous block, values ``start .. start + 2 half``) are
    stably partitioned into their 0s then their 1s, and each 0 adds the 1s of its block
    already passed, the pairs first differing at this bit that are inverted. The blocks of
    ``2**_PAIRWISE_BITS`` values left are then counted pair by pair. ``perm`` is scrambled.
    Positions are unsigned, so that numba adds no negative-index wraparound (a third faster).
    """
    n = perm.size
    src, dst = perm, np.empty_like(perm)
    count = _U0
    for bit_pos in range(_n_bits(n) - 1, _PAIRWISE_BITS - 1, -1):
        half = 1 << bit_pos
        shift = np.uint64(bit_pos)
        for start in range(0, n, 2 * half):
            ones_start = np.uint64(min(start + half, n))
            zero_at, one_at = np.uint64(start), ones_start
            for k in range(np.uint64(start), np.uint64(min(start + 2 * half, n))):
                v = src[k]
                bit = (np.uint64(v) >> shift) & _U1
                dst[one_at if bit else zero_at] = v  # a conditional move, no branch
                one_at += bit
                zero_at += _U1 - bit
                count += (_U1 - bit) * (one_at - ones_start)
        src, dst = dst, src
    span = 1 << _PAIRWISE_BITS
    for start in range(0, n, span):
        stop = min(start + span, n)
        for k in range(start, stop - 1):
            v = src[k]
            for j in range(k + 1, stop):
                count += np.uint64(v > src[j])
    return np.int64(count)


@numba.njit(cache=True, nogil=True)
def _weighted_inversions(perm, wts):
    """As :func:`_inversions`, each pair counted ``w_k w_l`` times; ``wts`` moves along."""
    n = perm.size
    src_v, dst_v = perm, np.empty_like(perm)
    src_w, dst_w = wts, np.empty_like(wts)
    count = 0
    for bit_pos in range(_n_bits(n) - 1, _PAIRWISE_BITS - 1, -1):
        half = 1 << bit_pos
        shift = np.uint64(bit_pos)
        for start in range(0, n, 2 * half):
            zero_at, one_at = np.uint64(start), np.uint64(min(start + half, n))
            ones_weight = 0  # weight of the block's 1s passed so far
            for k in range(np.uint64(start), np.uint64(min(start + 2 * half, n))):
                v = src_v[k]
                w = src_w[k]
                bit = (np.uint64(v) >> shift) & _U1
                at = one_at if bit else zero_at
                dst_v[at] = v
                dst_w[at] = w
                one_at += bit
                zero_at += _U1 - bit
                ones_weight += w if bit else 0
                count += 0 if bit else w * ones_weight
        src_v, dst_v = dst_v, src_v
        src_w, dst_w = dst_w, src_w
    span = 1 << _PAIRWISE_BITS
    for start in range(0, n, span):
        stop = min(start + span, n)
        for k in range(start, stop - 1):
            v = src_v[k]
            w = src_w[k]
            for j in range(k + 1, stop):
                count += w * src_w[j] * (v > src_v[j])
    return count


_NO_WEIGHTS = np.empty(0, dtype=np.int64)


def tau_a_value(x: np.ndarray, order_y: np.ndarray, bounds_y: np.ndarray,
                weights: np.ndarray | None = None) -> float:
    """Kendall tau-a of ``x`` against a fixed ``y`` given by its :func:`rank_order`.

    Parameters
    ----------
    x : float array, shape (N,)
    order_y, bounds_y : int32 and int64 arrays
        ``rank_order(y)``: ascending order of ``y`` and the bounds of its runs of ties.
    weights : int64 array, shape (N,), optional
        Multiplicity of each entry (original order); None means one copy of each.

    Returns
    -------
    float
        tau-a, or NaN when fewer than two (weighted) entries remain.
    """
    weighted = weights is not None
    keys, n_bits = sortable_keys(x)
    keys_yx, w_yx = _keys_by_y_then_x(keys, order_y, bounds_y,
                                      weights if weighted else _NO_WEIGHTS, weighted)
    order, sorted_keys = radix_order(keys_yx, n_bits)
    return _tau_a_kernel(order, sorted_keys, keys_yx, w_yx, bounds_y, weighted)
