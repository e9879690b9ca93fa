"""Group-level tests of scores over subjects, corrected over a family (layers x ROIs).

For each score with per-subject values ``x_s`` (``S`` subjects), the null is ``E[x] = 0``:

* one-sample t: ``t = mean(x) / (sd(x) / sqrt(S))`` (``sd`` with ``ddof = 1``), two-sided
  ``p_t = 2 P(T_{S-1} >= |t|)`` (``scipy.stats.ttest_1samp``);
* sign flip: ``p_flip = #{f : |t(f x)| >= |t(x)|} / #f`` over the sign flips of
  :func:`brainalign.metrics.paired.sign_flips` (exact when ``2^S <= n_permutations``);
* FDR: Benjamini-Hochberg adjusted ``p_t`` over the family (:func:`benjamini_hochberg`, as
  ``scipy.stats.false_discovery_control(method="bh")``);
* max statistic: ``p_max = #{f : max_family |t(f x)| >= |t(x)|} / #f``, every score of the
  family flipped by the same ``f`` (the same subjects), which controls the family-wise error.

With ``S`` subjects a sign-flip p-value is at least ``2^-S`` (0.25 for 2 subjects): such a
study cannot reject at 0.05 whatever its scores, and its p-values say so.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from .paired import sign_flips

__all__ = ["t_statistic", "benjamini_hochberg", "group_tests"]


def t_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """One-sample t of ``x`` against 0 along ``axis`` (NaN with fewer than 2 values or no spread)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = x.std(axis=axis, ddof=1)
        return x.mean(axis=axis) / (sd / np.sqrt(n))


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of the finite entries of ``p`` (NaN kept):
    ``q_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the ``m`` finite p-values in ascending order."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    if m:
        scaled = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def group_tests(per_subject, *, n_permutations: int = 10000, seed=0) -> dict[str, np.ndarray]:
    """Tests of every score of one family: ``per_subject`` (n_scores, S) -> dict of (n_scores,)
    arrays ``mean``, ``t``, ``p_t``, ``p_sign_flip``, ``p_fdr``, ``p_max`` (module docstring)."""
    x = np.asarray(per_subject, dtype=np.float64)
    n_scores, n_subjects = x.shape
    if n_subjects < 2:
        nan = np.full(n_scores, np.nan)
        return {"mean": x.mean(axis=1), "t": nan, "p_t": nan, "p_sign_flip": nan, "p_fdr": nan, "p_max": nan}
    t = t_statistic(x)
    p_t = 2 * stats.t.sf(np.abs(t), df=n_subjects - 1)
    flips = sign_flips(n_subjects, n_permutations, seed)
    null = np.abs(t_statistic(x[None] * flips[:, None, :]))  # (F, n_scores)
    observed = np.abs(t)
    tol = 1e-12 * np.maximum(observed, 1)
    with np.errstate(invalid="ignore"):
        p_flip = np.mean(null >= observed - tol, axis=0)
        p_max = np.mean(np.nanmax(null, axis=1)[:, None] >= observed - tol, axis=0)
    p_fdr = benjamini_hochberg(p_t)
    undefined = ~np.isfinite(t)
    p_flip[undefined] = p_max[undefined] = np.nan
    return {"mean": x.mean(axis=1), "t": t, "p_t": p_t, "p_sign_flip": p_flip, "p_fdr": p_fdr, "p_max": p_max}
