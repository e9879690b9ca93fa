"""Finding and reading MEG/EEG recordings: raw files, BIDS datasets and evoked files.

A :class:`Recording` is one continuous run. Plain files are read by :func:`mne.io.read_raw`,
which picks the reader from the file name's suffix (``.fif``/``.fif.gz`` FIF, ``.set`` EEGLAB,
``.vhdr`` BrainVision, ``.edf``/``.bdf`` EDF/BDF, and the other formats MNE knows). Runs of a
BIDS dataset (:func:`find_bids_recordings`) are read by ``mne_bids.read_raw_bids``, which turns
the run's ``events.tsv`` into annotations whose descriptions are its ``trial_type`` values and
applies ``channels.tsv`` (types, bad channels). Files of averaged responses (MNE's ``-ave.fif``
naming) are recognised by :func:`is_evoked_file` and read by :func:`mne.read_evokeds`.

mne-bids is imported only when a BIDS dataset is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mne

__all__ = ["BIDS_EXTENSIONS", "Recording", "as_recordings", "find_bids_recordings",
           "is_evoked_file", "read_evoked_file", "read_recording"]

BIDS_EXTENSIONS = (".fif", ".ds", ".con", ".sqd", ".pdf", ".vhdr", ".edf", ".bdf", ".set")
_EVOKED_ENDINGS = ("-ave.fif", "_ave.fif", "-ave.fif.gz", "_ave.fif.gz")
_LABEL_ENTITIES = ("session", "task", "acquisition", "run", "processing", "recording")
_ENTITY_KEYS = {"session": "ses", "task": "task", "acquisition": "acq", "run": "run",
                "processing": "proc", "recording": "rec"}


@dataclass(frozen=True)
class Recording:
    """One continuous MEG/EEG run.

    ``label`` identifies the run within the subject and becomes the ``run`` coordinate of its
    trials. ``bids_path`` is the ``mne_bids.BIDSPath`` of a run found in a BIDS dataset (read
    with ``mne_bids.read_raw_bids``), ``None`` for a plain file.
    """

    path: Path
    label: str
    bids_path: Any = None


def _file_stem(path: Path) -> str:
    return path.name[: -len(".fif.gz")] if path.name.endswith(".fif.gz") else path.stem


def as_recordings(recordings: Iterable) -> list[Recording]:
    """:class:`Recording` objects from recordings or paths; a path's label is its file name
    without the extension. Labels must be distinct (ValueError naming the repeated ones)."""
    if isinstance(recordings, (str, os.PathLike, Recording)):
        recordings = [recordings]
    out = []
    for item in recordings:
        if isinstance(item, Recording):
            out.append(item)
        elif isinstance(item, (str, os.PathLike)):
            path = Path(item)
            out.append(Recording(path=path, label=_file_stem(path)))
        else:
            raise TypeError(f"recordings: expected paths or Recording objects, got {type(item).__name__}")
    if not out:
        raise ValueError("recordings: no recording given")
    labels = [r.label for r in out]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise ValueError(f"recordings: labels must be distinct, repeated: {repeated} "
                         "(give Recording objects with distinct labels)")
    return out


def is_evoked_file(path) -> bool:
    """True for a file named as MNE names averaged (evoked) responses: ``*-ave.fif[.gz]``."""
    return str(path).endswith(_EVOKED_ENDINGS)


def read_recording(recording: Recording, preload: bool = True) -> mne.io.BaseRaw:
    """The run's continuous data, loaded into memory (``preload``) or read on demand.

    Raises FileNotFoundError naming a missing file, and ValueError naming a file whose suffix
    no MNE reader handles.
    """
    path = Path(recording.path)
    if not path.exists():
        raise FileNotFoundError(f"recording {recording.label!r}: {path} does not exist")
    if is_evoked_file(path):
        raise ValueError(f"recording {recording.label!r}: {path} holds averaged (evoked) responses, "
                         "not a continuous recording; give only evoked files or only raw files")
    if recording.bids_path is not None:
        from mne_bids import read_raw_bids

        raw = read_raw_bids(recording.bids_path, verbose="error")
        return raw.load_data(verbose="error") if preload else raw
    try:
        return mne.io.read_raw(path, preload=preload, verbose="error")
    except ValueError as err:
        if "Unsupported file type" in str(err):
            raise ValueError(f"recording {recording.label!r}: no MNE reader for {path.name} ({err})") from None
        raise


def read_evoked_file(path, apply_projectors: bool = True) -> list[mne.Evoked]:
    """Every evoked response (condition) in an MNE evoked file, without baseline correction,
    with its SSP projectors applied if ``apply_projectors``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"evoked file {path} does not exist")
    return mne.read_evokeds(path, baseline=None, proj=apply_projectors, verbose="error")


def find_bids_recordings(bids_root, subject: str, *, datatype: str = "meg", task: str | None = None,
                         session: str | None = None) -> list[Recording]:
    """A subject's MEG or EEG runs in a BIDS dataset (needs mne-bids).

    Runs split across files (``split-01``, ``split-02``) appear once, by their first part, which
    ``mne_bids.read_raw_bids`` reads whole. A run's label joins its session, task, acquisition,
    run, processing and recording entities (``"ses-1_task-faces_run-2"``).
    """
    from mne_bids import find_matching_paths

    if datatype not in ("meg", "eeg"):
        raise ValueError(f"datatype={datatype!r} must be 'meg' or 'eeg'")
    root = Path(bids_root)
    if not (root / "dataset_description.json").is_file():
        raise FileNotFoundError(f"bids_root {root} is not a BIDS dataset (no dataset_description.json)")
    paths = find_matching_paths(root, subjects=subject, tasks=task, sessions=session,
                                datatypes=datatype, suffixes=datatype, extensions=list(BIDS_EXTENSIONS))
    paths = sorted((p for p in paths if p.split in (None, "01")), key=lambda p: str(p.fpath))
    if not paths:
        raise ValueError(f"no {datatype} recording of subject {subject!r} (task={task!r}, session={session!r}) "
                         f"in the BIDS dataset {root}")
    out = []
    for bids_path in paths:
        parts = [f"{_ENTITY_KEYS[e]}-{getattr(bids_path, e)}" for e in _LABEL_ENTITIES if getattr(bids_path, e)]
        out.append(Recording(path=Path(bids_path.fpath), label="_".join(parts) or bids_path.basename,
                             bids_path=bids_path))
    return as_recordings(out)
