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

Knight's ``O(N log N)`` algorithm: order the entries by ``(y, x)``; the discordant pairs
``D`` are then exactly the strict inversions of ``x`` in that order, counted by a merge sort
(on the dense int32 ranks of ``x``, from the radix sort: a quarter of the memory traffic
of float64 values with weights), and

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

_INSERTION_RUN = 16
_RADIX_BITS = 11


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
    starts = np.empty(n_buckets, dtype=np.int64)
    for d in range(n_passes):
        if counts[d].max() == n:  # every key has the same digit here
            continue
        total = 0
        for b in range(n_buckets):
            starts[b] = total
            total += counts[d, b]
        shift = np.uint64(d * _RADIX_BITS)
        for k in range(n):
            key = sorted_keys[k]
            b = (np.uint64(key) >> shift) & mask
            pos = starts[b]
            starts[b] = pos + 1
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
def _tau_a_from_orders(order_x, bounds_x, order_y, bounds_y, weights, weighted):
    """tau-a from both sort orders; ``weights`` (original entry order) used if ``weighted``."""
    n = order_x.size
    dense = np.empty(n, dtype=np.int32)  # dense rank of x: index of its tie run
    ties_x = 0
    total = 0
    for g in range(bounds_x.size - 1):
        w_run = 0
        for k in range(bounds_x[g], bounds_x[g + 1]):
            dense[order_x[k]] = g
            w_run += weights[order_x[k]] if weighted else 1
        ties_x += _tied_pairs(w_run)
        total += w_run
    seq = np.empty(n, dtype=np.int32)  # x ranks in (y, x) order
    seq_w = np.empty(n if weighted else 0, dtype=np.int64)
    ties_y = 0
    ties_xy = 0
    for g in range(bounds_y.size - 1):
        lo, hi = bounds_y[g], bounds_y[g + 1]
        for k in range(lo, hi):
            seq[k] = dense[order_y[k]]
            if weighted:
                seq_w[k] = weights[order_y[k]]
        if hi - lo > 1:  # sort x within the run of tied y
            by_x = np.argsort(seq[lo:hi], kind="mergesort")
            seq[lo:hi] = seq[lo:hi][by_x]
            if weighted:
                seq_w[lo:hi] = seq_w[lo:hi][by_x]
        w_group = 0
        w_run = 0
        for k in range(lo, hi):
            if k > lo and seq[k] != seq[k - 1]:
                ties_xy += _tied_pairs(w_run)
                w_run = 0
            w_run += seq_w[k] if weighted else 1
            w_group += seq_w[k] if weighted else 1
        ties_xy += _tied_pairs(w_run)
        ties_y += _tied_pairs(w_group)
    if weighted:
        discordant = _weighted_inversions(seq, seq_w)
    else:
        discordant = _inversions(seq)
    pairs = _tied_pairs(total)
    if pairs == 0:
        return np.nan
    return (pairs - ties_x - ties_y + ties_xy - 2 * discordant) / pairs


@numba.njit(cache=True, nogil=True)
def _inversions(seq):
    """Sort int ``seq`` in place; return the number of pairs k < l with seq_k > seq_l."""
    n = seq.size
    count = 0
    for lo in range(0, n, _INSERTION_RUN):  # insertion sort of short runs
        hi = min(lo + _INSERTION_RUN, n)
        for k in range(lo + 1, hi):
            v = seq[k]
            j = k - 1
            while j >= lo and seq[j] > v:
                seq[j + 1] = seq[j]
                j -= 1
            count += k - 1 - j
            seq[j + 1] = v
    src, dst = seq, np.empty_like(seq)
    width = _INSERTION_RUN
    while width < n:  # bottom-up merges; a right element passing left ones is discordant
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                v_left = src[i]
                v_right = src[j]
                right = v_right < v_left
                dst[k] = v_right if right else v_left
                count += (mid - i) if right else 0
                j += right
                i += 1 - right
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        width *= 2
    if src is not seq:
        seq[:] = src
    return count


@numba.njit(cache=True, nogil=True)
def _weighted_inversions(seq, wts):
    """As :func:`_inversions`, each pair counted ``w_k w_l`` times; ``wts`` moves along."""
    n = seq.size
    count = 0
    for lo in range(0, n, _INSERTION_RUN):
        hi = min(lo + _INSERTION_RUN, n)
        for k in range(lo + 1, hi):
            v = seq[k]
            w = wts[k]
            j = k - 1
            while j >= lo and seq[j] > v:
                count += wts[j] * w
                seq[j + 1] = seq[j]
                wts[j + 1] = wts[j]
                j -= 1
            seq[j + 1] = v
            wts[j + 1] = w
    src_v, src_w = seq, wts
    dst_v, dst_w = np.empty_like(seq), np.empty_like(wts)
    width = _INSERTION_RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            w_left = 0  # weight of the left run not yet merged
            for k in range(lo, mid):
                w_left += src_w[k]
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if src_v[j] < src_v[i]:
                    dst_v[k] = src_v[j]
                    dst_w[k] = src_w[j]
                    count += src_w[j] * w_left
                    j += 1
                else:
                    dst_v[k] = src_v[i]
                    dst_w[k] = src_w[i]
                    w_left -= src_w[i]
                    i += 1
                k += 1
            while i < mid:
                dst_v[k] = src_v[i]
                dst_w[k] = src_w[i]
                i += 1
                k += 1
            while j < hi:
                dst_v[k] = src_v[j]
                dst_w[k] = src_w[j]
                j += 1
                k += 1
        src_v, dst_v = dst_v, src_v
        src_w, dst_w = dst_w, src_w
        width *= 2
    return count


_NO_WEIGHTS = np.empty(0, dtype=np.int64)


def tau_a_value(x: np.ndarray, order_y: np.ndarray, bounds_y: np.ndarray,
                weights: np.ndarray | None = None) -> float:
    """Kendall tau-a of ``x`` against a fixed ``y`` given by its :func:`rank_order`.

    Parameters
    ----------
    x : float array, shape (N,)
    order_y, bounds_y : int64 arrays
        ``rank_order(y)``: ascending order of ``y`` and the bounds of its runs of ties.
    weights : int64 array, shape (N,), optional
        Multiplicity of each entry (original order); None means one copy of each.

    Returns
    -------
    float
        tau-a, or NaN when fewer than two (weighted) entries remain.
    """
    order_x, bounds_x = rank_order(x)
    if weights is None:
        return _tau_a_from_orders(order_x, bounds_x, order_y, bounds_y, _NO_WEIGHTS, False)
    return _tau_a_from_orders(order_x, bounds_x, order_y, bounds_y, weights, True)
