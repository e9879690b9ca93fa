"""The trials of precomputed betas: which files, and which stimulus each volume shows.

A subject's betas are files named by a pattern with ``{subject}``, ``{session}`` and
optionally ``{run}`` (one file per session, or per run), in session-then-run order. The trial
table lists one row per trial **in file order**:

* a TSV (``.tsv``) or CSV (``.csv``) table with a stimulus column (default ``stimulus_id``) and
  optionally ``session`` and ``run`` columns; every other column is kept as a trial coordinate
  of the brain store (NSD's ``shared``, THINGS' ``trial_type``, ``concept``);
* or a plain list (``.txt``), one stimulus name per line (BOLD5000's ``CSI1_imgnames.txt``).

With a session column, the rows of each configured session are matched to that session's
files (rows of other sessions are left out, counted in the log), so a subject with fewer
sessions downloaded uses the same table; without one, the table has exactly one row per volume
of the configured files. A count that does not match is an error naming the table and the file.

:func:`nsd_trials` turns NSD's ``nsd_expdesign.mat`` into such a table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._options import options_from_dict
from .betas_io import BetasFormat, trial_count

__all__ = ["BetasFile", "TrialOptions", "betas_files", "nsd_trials", "read_trials", "run_labels", "session_labels"]

log = logging.getLogger(__name__)
NSD_TRIALS_PER_SESSION = 750
# names of the store's dimensions and of the coordinates read_trials makes: a table column so
# named is kept as "table_<name>"
RESERVED = ("trial", "unit", "file", "stimulus_id", "run", "session", "session_run", "onset")


@dataclass(frozen=True)
class TrialOptions:
    """The ``trials`` section of a betas dataset (module docstring).

    ``folds``: the trial coordinate ``run``, the cross-validation group of every later stage,
    is the session (``"session"``, NSD's practice: betas z-scored per session) or the run
    within its session (``"run"``).
    """

    table: str
    stimulus_column: str = "stimulus_id"
    session_column: str = "session"
    run_column: str = "run"
    strip_extension: bool = False
    drop_unknown: bool = False
    folds: str = "session"

    def __post_init__(self):
        if self.folds not in ("session", "run"):
            raise ValueError(f"trials folds {self.folds!r} must be 'session' or 'run'")

    @classmethod
    def from_dict(cls, options: Mapping) -> TrialOptions:
        return options_from_dict(cls, options, "trials")


@dataclass(frozen=True)
class BetasFile:
    """One betas file: its path, session and run labels (``None``: a file per session), trials."""

    path: Path
    session: str
    run: str | None
    n_trials: int


def _labels(value, what: str) -> list[str]:
    """``n`` -> ``["01", ..., "n"]`` (two digits at least); a list -> its entries as strings."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"betas {what} must be a count or a list of labels, got {value!r}")
    if isinstance(value, int):
        return [f"{i:02d}" for i in range(1, value + 1)]
    return [str(v) for v in value]


def run_labels(runs) -> list[str | None]:
    """Run labels of every session: ``[None]`` (one file per session) when ``runs`` is None."""
    return [None] if runs is None else _labels(runs, "runs")


def session_labels(sessions, subject: str) -> list[str]:
    """Session labels of ``subject``: ``sessions`` is a count, a list, or a mapping subject -> either."""
    if isinstance(sessions, Mapping):
        if subject not in sessions:
            raise ValueError(f"betas sessions has no entry for subject {subject!r} (has {sorted(sessions)})")
        sessions = sessions[subject]
    return _labels(sessions, "sessions")


def betas_files(pattern: str, root, subject: str, fmt: BetasFormat, *, sessions, runs=None) -> list[BetasFile]:
    """A subject's betas files in session-then-run order, each with its trial count.

    ``pattern`` (relative to ``root`` unless absolute) holds ``{subject}``, ``{session}`` and,
    when ``runs`` is given, ``{run}``. A missing file is a ``FileNotFoundError`` naming it.
    """
    if runs is not None and "{run}" not in pattern:
        raise ValueError(f"betas files pattern {pattern!r} has no '{{run}}' but betas runs are given")
    files = []
    for session in session_labels(sessions, subject):
        for run in run_labels(runs):
            path = Path(root, pattern.format(subject=subject, session=session, run=run))
            if not path.exists():
                raise FileNotFoundError(f"betas file {path} (session {session}{'' if run is None else f', run {run}'}"
                                        f" of subject {subject}) does not exist")
            files.append(BetasFile(path, session, run, trial_count(path, fmt)))
    return files


def _same(a, b) -> bool:
    """Labels equal as integers when both are integers ("01" == 1), else as strings."""
    try:
        return int(a) == int(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _read_table(path: Path, stimulus_column: str) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"trial table {path} does not exist")
    try:
        if path.suffix.lower() == ".txt":
            names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
            return pd.DataFrame({stimulus_column: names})
        sep = "," if path.suffix.lower() == ".csv" else "\t"
        table = pd.read_csv(path, sep=sep, dtype={stimulus_column: str}, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(f"trial table {path} cannot be read: {err}") from None
    if stimulus_column not in table.columns:
        raise ValueError(f"trial table {path} has no stimulus column {stimulus_column!r} "
                         f"(columns: {list(table.columns)})")
    return table


def _rows_by_file(table: pd.DataFrame, path: Path, files: Sequence[BetasFile], opts: TrialOptions) -> list:
    """Row indices of the table for each file, in file order (module docstring)."""
    counts = [f.n_trials for f in files]
    if opts.session_column not in table.columns:
        if len(table) != sum(counts):
            raise ValueError(f"trial table {path} has {len(table)} rows but the {len(files)} betas files hold "
                             f"{sum(counts)} volumes ({files[0].path.name}: {counts[0]}, ...); one row per volume")
        return np.split(np.arange(len(table)), np.cumsum(counts)[:-1])
    sessions = table[opts.session_column].to_numpy()
    by_file, used = [], np.zeros(len(table), bool)
    for session in dict.fromkeys(f.session for f in files):
        mine = [f for f in files if f.session == session]
        rows = np.flatnonzero([_same(s, session) for s in sessions])
        used[rows] = True
        per_run = mine[0].run is not None and opts.run_column in table.columns
        for f in mine:
            got = rows[[_same(r, f.run) for r in table[opts.run_column].to_numpy()[rows]]] if per_run else None
            if per_run and len(got) != f.n_trials:
                raise ValueError(f"trial table {path} has {len(got)} rows for session {session} run {f.run}, "
                                 f"but betas file {f.path} holds {f.n_trials} volumes")
            by_file.append(got)
        if not per_run:
            total = sum(f.n_trials for f in mine)
            if len(rows) != total:
                raise ValueError(f"trial table {path} has {len(rows)} rows for session {session}, but its betas "
                                 f"file(s) {', '.join(str(f.path) for f in mine)} hold {total} volumes")
            by_file[-len(mine):] = np.split(rows, np.cumsum([f.n_trials for f in mine])[:-1])
    if (~used).any():
        log.info("trial table %s: %d rows of sessions not configured are left out", path, int((~used).sum()))
    return by_file


def _stimulus_ids(values, strip_extension: bool) -> np.ndarray:
    ids = pd.Series(values).astype(str).str.strip()
    if strip_extension:
        ids = ids.map(lambda s: os.path.splitext(s)[0])
    return ids.to_numpy(dtype=str)


def read_trials(path, files: Sequence[BetasFile], opts: TrialOptions) -> pd.DataFrame:
    """One row per volume of ``files``, in file order: ``stimulus_id``, ``session``, ``session_run``
    (the run within its session, ``""`` when unknown), ``run`` (the fold label, see
    :class:`TrialOptions`), ``onset`` (s; NaN without an ``onset`` column), ``file`` (index into
    ``files``), and the table's other columns (one named as in :data:`RESERVED` gets a ``table_`` prefix)."""
    path = Path(path)
    table = _read_table(path, opts.stimulus_column)
    pieces = []
    for index, (f, rows) in enumerate(zip(files, _rows_by_file(table, path, files, opts))):
        part = table.iloc[rows]
        runs = ([f.run] * len(part) if f.run is not None else
                part[opts.run_column].astype(str).tolist() if opts.run_column in part.columns else [""] * len(part))
        extra = part.drop(columns=[c for c in (opts.stimulus_column, opts.session_column, opts.run_column, "onset")
                                   if c in part.columns])
        extra.columns = [f"table_{c}" if c in RESERVED else c for c in extra.columns]
        pieces.append(pd.DataFrame({
            "stimulus_id": _stimulus_ids(part[opts.stimulus_column], opts.strip_extension),
            "session": f.session, "session_run": runs,
            "onset": part["onset"].to_numpy(float) if "onset" in part.columns else np.nan,
            "file": index, **{c: extra[c].to_numpy() for c in extra.columns}}))
    trials = pd.concat(pieces, ignore_index=True)
    if opts.folds == "run" and (trials["session_run"] == "").any():
        raise ValueError(f"trials folds 'run' needs the run of every trial: trial table {path} has no "
                         f"{opts.run_column!r} column and the betas files are one per session")
    trials["run"] = ("ses-" + trials["session"] if opts.folds == "session"
                     else "ses-" + trials["session"] + "_run-" + trials["session_run"])
    return trials


def _mat_variable(mat: dict, name: str, path: Path) -> np.ndarray:
    if name not in mat:
        raise ValueError(f"{path} has no variable {name!r} (has {sorted(k for k in mat if not k.startswith('__'))})")
    return np.asarray(mat[name])


def _nsd_runs(mat: dict, n_trials: int, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Session (1-based) of each trial, and its run when ``stimpattern`` gives the runs."""
    if "stimpattern" not in mat:
        if n_trials % NSD_TRIALS_PER_SESSION:
            raise ValueError(f"{path}: masterordering has {n_trials} trials, not a multiple of "
                             f"{NSD_TRIALS_PER_SESSION} per session (and there is no stimpattern)")
        return np.arange(n_trials) // NSD_TRIALS_PER_SESSION + 1, None
    per_run = np.asarray(mat["stimpattern"]).sum(axis=2).astype(np.int64)  # (sessions, runs)
    ends = np.cumsum(per_run.sum(1))
    if per_run.ndim != 2 or n_trials not in ends:
        raise ValueError(f"{path}: masterordering has {n_trials} trials, which do not fill whole sessions of "
                         f"stimpattern (trials per session: {per_run.sum(1)[:3].tolist()} ...)")
    n_sessions = int(np.flatnonzero(ends == n_trials)[0]) + 1
    sessions = np.repeat(np.arange(1, n_sessions + 1), per_run[:n_sessions].sum(1))
    runs = np.concatenate([np.repeat(np.arange(1, per_run.shape[1] + 1), per_run[s]) for s in range(n_sessions)])
    return sessions, runs


def nsd_trials(expdesign, subject: int, *, id_format: str = "nsd{nsd_id:05d}") -> pd.DataFrame:
    """NSD's trial table of one subject (1-8) from ``nsd_expdesign.mat``.

    ``masterordering`` (30,000) maps each trial to one of the subject's 10,000 images,
    ``subjectim`` (8 x 10,000) those to the 73k image ids, both 1-based; ``sharedix`` lists the
    1,000 images every subject saw. ``stimpattern`` (40 sessions x 12 runs x 75 slots, 1 = a
    stimulus trial) gives each trial's session and run: 750 trials per session, 62 or 63 per run;
    without it, trials are 750 per session in order and runs are left out.

    Columns: ``stimulus_id`` (``id_format`` of the 1-based 73k id ``nsd_id``), ``session``,
    ``run`` (when known), ``trial_in_session`` (1-based), ``nsd_id``, ``subject_image`` (1-based
    index of the subject's 10,000), ``shared`` (bool).
    """
    from scipy.io import loadmat

    path = Path(expdesign)
    if not path.is_file():
        raise FileNotFoundError(f"NSD design {path} does not exist")
    try:
        mat = loadmat(path)
    except (ValueError, OSError, NotImplementedError) as err:
        raise ValueError(f"NSD design {path} cannot be read as a MATLAB file: {err}") from None
    order = _mat_variable(mat, "masterordering", path).ravel().astype(np.int64)
    subjectim = _mat_variable(mat, "subjectim", path).astype(np.int64)
    shared = _mat_variable(mat, "sharedix", path).ravel().astype(np.int64)
    if not 1 <= subject <= subjectim.shape[0]:
        raise ValueError(f"NSD subject {subject} is not in 1..{subjectim.shape[0]} ({path}: subjectim)")
    if order.min() < 1 or order.max() > subjectim.shape[1]:
        raise ValueError(f"{path}: masterordering holds values outside 1..{subjectim.shape[1]} (1-based)")
    nsd_id = subjectim[subject - 1, order - 1]
    sessions, runs = _nsd_runs(mat, len(order), path)
    first = np.r_[0, np.flatnonzero(np.diff(sessions)) + 1]  # each session's first trial
    in_session = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)])) + 1
    table = pd.DataFrame({"stimulus_id": [id_format.format(nsd_id=i) for i in nsd_id], "session": sessions,
                          "trial_in_session": in_session, "nsd_id": nsd_id, "subject_image": order,
                          "shared": np.isin(nsd_id, shared)})
    if runs is not None:
        table.insert(2, "run", runs)
    return table
