"""Cross-validation splits for the encoding models, grouped by run when runs are given.

A split is a pair ``(train, test)`` of integer index arrays into the samples. ``cv`` may be

* an int ``K >= 2``: without groups, ``K`` contiguous folds (``sklearn.model_selection.KFold``,
  no shuffling: neighbouring fMRI volumes stay together, which limits leakage through
  temporal autocorrelation); with groups, ``GroupKFold(K)`` (each group in exactly one test
  fold; needs at least ``K`` distinct groups);
* ``"logo"``: leave one group out (needs groups, at least two of them);
* an object with a ``split(X, y, groups)`` method (a scikit-learn splitter);
* an iterable of ``(train, test)`` index pairs, used as given.

Whatever the source, every split is checked: indices in range, train and test non-empty
and disjoint, and, when groups are given, no group on both sides of a split.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, LeaveOneGroupOut

Split = tuple[np.ndarray, np.ndarray]


def check_groups(groups, n_samples: int) -> np.ndarray | None:
    """``groups`` as a 1-D array of length ``n_samples`` (or None)."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(f"groups must be 1-D with one entry per sample ({n_samples}), "
                         f"got shape {groups.shape}")
    return groups


def make_splits(cv, n_samples: int, groups=None) -> list[Split]:
    """Resolve ``cv`` (see the module docstring) into a checked list of ``(train, test)`` pairs."""
    groups = check_groups(groups, n_samples)
    placeholder = np.zeros((n_samples, 1))
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds, got cv={cv}")
        if groups is None:
            if cv > n_samples:
                raise ValueError(f"cv={cv} folds is more than the {n_samples} samples")
            splits = KFold(n_splits=int(cv)).split(placeholder)
        else:
            n_groups = len(np.unique(groups))
            if n_groups < cv:
                raise ValueError(f"cv={cv} folds needs at least {cv} distinct groups, "
                                 f"got {n_groups}")
            splits = GroupKFold(n_splits=int(cv)).split(placeholder, groups=groups)
    elif isinstance(cv, str):
        if cv != "logo":
            raise ValueError(f"cv must be an int, 'logo', a splitter or a list of "
                             f"(train, test) pairs, got {cv!r}")
        if groups is None or len(np.unique(groups)) < 2:
            raise ValueError("cv='logo' (leave one group out) needs groups with at least "
                             "two distinct values")
        splits = LeaveOneGroupOut().split(placeholder, groups=groups)
    elif hasattr(cv, "split"):
        splits = cv.split(placeholder, None, groups)
    else:
        try:
            splits = list(cv)
        except TypeError:
            raise TypeError(f"cv must be an int, 'logo', a splitter or a list of "
                            f"(train, test) pairs, got {type(cv).__name__}") from None
    checked = [_check_split(split, n_samples, groups, i) for i, split in enumerate(splits)]
    if not checked:
        raise ValueError("cv produced no splits")
    return checked


def _check_split(split, n_samples: int, groups, index: int) -> Split:
    try:
        train, test = split
    except (TypeError, ValueError):
        raise ValueError(f"cv split {index} is not a (train, test) pair") from None
    train, test = np.asarray(train), np.asarray(test)
    for name, idx in (("train", train), ("test", test)):
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"cv split {index}: {name} indices must be a non-empty 1-D "
                             f"integer array, got shape {idx.shape} dtype {idx.dtype}")
        if idx.min() < 0 or idx.max() >= n_samples:
            raise ValueError(f"cv split {index}: {name} indices out of range "
                             f"[0, {n_samples})")
    if np.intersect1d(train, test).size:
        raise ValueError(f"cv split {index}: train and test share samples")
    if groups is not None:
        shared = np.intersect1d(groups[train], groups[test])
        if shared.size:
            raise ValueError(f"cv split {index}: groups {shared.tolist()[:5]} are in both "
                             f"train and test")
    return train.astype(np.intp), test.astype(np.intp)


def fold_assignment(splits: list[Split], n_samples: int) -> np.ndarray:
    """For each sample, the index of the split whose test set holds it (``-1``: never tested).

    Raises ValueError when test sets overlap, since one sample would then have two folds.
    """
    fold = np.full(n_samples, -1, dtype=np.int64)
    for i, (_, test) in enumerate(splits):
        if np.any(fold[test] >= 0):
            raise ValueError(f"outer cv split {i}: test set overlaps an earlier test set")
        fold[test] = i
    return fold


OUTER_SPLITS = ("leave_one_group_out", "group_kfold", "held_out")


def outer_splits(kind: str, groups: np.ndarray, *, folds: int | None = None,
                 test: np.ndarray | None = None) -> list[Split]:
    """Outer (train, test) splits of the encoding models.

    * ``"leave_one_group_out"``: one split per group (run or session) left out;
    * ``"group_kfold"``: ``GroupKFold(folds)``, each group in exactly one test fold;
    * ``"held_out"``: one split, the samples where ``test`` is True against all the others
      (e.g. NSD's shared images; groups may then hold samples on both sides, since they only
      group the inner folds).
    """
    groups = np.asarray(groups)
    if kind == "leave_one_group_out":
        return make_splits("logo", len(groups), groups)
    if kind == "group_kfold":
        return make_splits(folds, len(groups), groups)
    if kind == "held_out":
        test = np.asarray(test, dtype=bool)
        if test.all() or not test.any():
            raise ValueError(f"held-out test set: {int(test.sum())} of {test.size} samples are "
                             "test samples; both sides need some")
        return [(np.flatnonzero(~test), np.flatnonzero(test))]
    raise ValueError(f"outer split: expected one of {OUTER_SPLITS}, got {kind!r}")
