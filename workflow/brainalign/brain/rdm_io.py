"""Precomputed brain RDMs from ``.npy``, ``.npz`` and ``.mat`` files, checked, as condensed RDMs.

A file holds either one subject's RDM (its path has ``{subject}`` in the dataset config) or one
RDM per subject along the first axis, in the order of the dataset's ``subjects``. An RDM is
square (``n x n``, symmetric, zero diagonal) or condensed (``n (n - 1) / 2`` entries, upper
triangle row by row, scipy's ``squareform`` order); see :mod:`brainalign.metrics.rdm_forms`.

Its stimulus ids (one per row of the square form, in that order) come from a text file (one id
per line) or from an array ``stimulus_ids`` stored beside the RDM in the ``.npz`` / ``.mat``
file. Every problem is a ValueError naming the file: no RDM or several candidate arrays, a
length that is no ``n (n - 1) / 2``, a square matrix that is not symmetric, a number of
conditions that matches no count of stimulus ids, duplicated ids, ids the stimulus set lacks,
NaN or infinite entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..metrics.rdm import n_conditions_from_pairs
from ..metrics.rdm_forms import square_to_condensed

IDS_KEY = "stimulus_ids"
SUFFIXES = (".npy", ".npz", ".mat")


def _mat_variables(path: Path) -> dict[str, np.ndarray]:
    """Variables of a MATLAB file: v4-v7 through scipy, v7.3 (HDF5) through h5py (transposed
    back to MATLAB's row/column order; cell arrays of strings decoded)."""
    import h5py
    import scipy.io

    if not h5py.is_hdf5(path):
        return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    out = {}  # v7.3: an HDF5 file
    with h5py.File(path, "r") as f:
        for name, item in f.items():
            if not isinstance(item, h5py.Dataset) or name.startswith("#"):
                continue
            if item.dtype == h5py.ref_dtype:  # a cell array, e.g. of strings
                out[name] = np.array([_h5_string(f[ref]) for ref in item[()].ravel()])
            elif item.attrs.get("MATLAB_class", b"") == b"char":
                out[name] = np.array(_h5_string(item))
            else:
                out[name] = item[()].T
    return out


def _h5_string(item) -> str:
    return "".join(map(chr, np.asarray(item[()]).ravel()))


def _variables(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npy":
        return {"": np.load(path, allow_pickle=False)}
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".mat":
        return _mat_variables(path)
    raise ValueError(f"{path}: an RDM file must end in one of {SUFFIXES}")


def _as_ids(values) -> np.ndarray:
    """Stimulus ids as a 1-D str array (MATLAB cell arrays of strings included)."""
    x = np.asarray(values)
    if x.dtype == object:
        x = np.array([str(np.asarray(v).ravel()[0]) if np.size(v) else "" for v in x.ravel()])
    return x.ravel().astype(str)


def read_ids_file(path) -> np.ndarray:
    """Stimulus ids from a text file: one per line, blank lines and surrounding spaces ignored."""
    lines = [line.strip() for line in Path(path).read_text().splitlines()]
    return np.array([line for line in lines if line], dtype=str)


def read_rdm_file(path, *, key: str | None = None, n_subjects: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """The RDM(s) in ``path`` as condensed float64 ``(k, n_pairs)``, and the ids stored in it.

    ``n_subjects`` None: the file holds one RDM (``k = 1``): ``(n_pairs,)``, ``(1, n_pairs)``
    or ``(n, n)``. Otherwise it holds one per subject: ``(n_subjects, n_pairs)`` or
    ``(n_subjects, n, n)``. ``key`` names the array in an ``.npz`` / ``.mat`` file (default: the
    only array other than ``stimulus_ids``). The ids are None when the file stores none.
    """
    path = Path(path)
    variables = _variables(path)
    ids = _as_ids(variables.pop(IDS_KEY)) if IDS_KEY in variables else None
    if key is not None:
        if key not in variables:
            raise ValueError(f"{path}: no array {key!r} (arrays: {sorted(variables)})")
        x = variables[key]
    elif len(variables) == 1:
        x = next(iter(variables.values()))
    else:
        raise ValueError(f"{path}: holds {len(variables)} arrays {sorted(variables)}; name the RDM's "
                         "with the dataset's 'rdms.<roi>.key'")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{path}: the RDM is not a real numeric array (dtype {x.dtype})")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: the RDM holds {np.count_nonzero(~np.isfinite(x))} NaN or infinite value(s)")
    return _condensed(x, path, n_subjects), ids


def _condensed(x: np.ndarray, path: Path, n_subjects: int | None) -> np.ndarray:
    name = str(path)
    if n_subjects is None:
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.ndim == 2 and x.shape[0] == x.shape[1]:
            return square_to_condensed(x, name)[None]
        if x.ndim != 1:
            raise ValueError(f"{name}: expected one RDM, square (n, n) or condensed (n_pairs,), got shape "
                             f"{x.shape} (a file holding every subject's RDMs is named without {{subject}})")
        n_conditions_from_pairs(x.size, name)
        return x[None]
    if x.ndim not in (2, 3) or x.shape[0] != n_subjects:
        raise ValueError(f"{name}: expected one RDM per subject, ({n_subjects}, n_pairs) or ({n_subjects}, n, n) "
                         f"for the dataset's {n_subjects} subject(s), got shape {x.shape}")
    if x.ndim == 3:
        return square_to_condensed(x, name)
    n_conditions_from_pairs(x.shape[1], name)
    return x


def check_ids(ids: np.ndarray | None, n_pairs: int, known, path, ids_file=None) -> np.ndarray:
    """The RDM's stimulus ids, checked against its size and the stimulus set (``known`` ids)."""
    n = n_conditions_from_pairs(n_pairs, str(path))
    if ids is None:
        raise ValueError(f"{path}: no stimulus ids: store an array '{IDS_KEY}' in the file or give the "
                         "dataset's 'stimulus_ids' (a text file, one id per line in the RDM's row order)")
    source = ids_file or path
    if ids.size != n:
        raise ValueError(f"{path}: an RDM over {n} conditions, but {ids.size} stimulus ids in {source}")
    if n < 3:
        raise ValueError(f"{path}: an RDM over {n} conditions; RSA needs at least 3")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{source}: duplicated stimulus ids {unique[counts > 1][:5].tolist()}")
    missing = sorted(set(ids.tolist()) - set(np.asarray(known).astype(str).tolist()))
    if missing:
        raise ValueError(f"{path}: stimulus ids {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                         f"({len(missing)} in all, from {source}) are not in the dataset's stimulus set")
    return ids
