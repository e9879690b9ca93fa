"""Stage ``meg``: one subject's MEG/EEG epochs (or per-stimulus averages) as one store.

The recordings are found under the dataset's folder: the glob patterns of ``files`` (``{subject}``
replaced; raw files of any format MNE reads, or evoked ``-ave.fif`` files), the runs of a simulated
dataset (``run-*_raw.fif``), or else the subject's runs of a BIDS dataset (mne-bids). They are read,
mapped to stimuli, filtered, epoched, rejected, resampled and averaged by
:func:`brainalign.brain.meg.meg_stage`. The store holds ``data`` (trial or stimulus, unit, time)
with coordinates ``stimulus_id``, ``ch_name``, ``ch_type``, ``ch_unit``, ``time`` (s) and, in its
attributes, the rejection counts and every decision taken (dropped events and channels, rates).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import store
from ..brain.meg import meg_stage
from ..brain.meg_io import find_bids_recordings
from ..stimuli import stimulus_coords

log = logging.getLogger(__name__)
SIMULATED_RUNS = "run-*_raw.fif"
SIMULATED_TABLE = "stimulus_table.tsv"


def find_recordings(spec: dict, root: Path, subject: str) -> list:
    """Recording paths (or BIDS recordings) of ``subject`` under ``root`` (module docstring)."""
    if "simulate_meg" in spec:
        patterns = [SIMULATED_RUNS]
    elif "files" in spec:
        patterns = [p.replace("{subject}", subject) for p in spec["files"]]
    else:
        return find_bids_recordings(root, subject, datatype=spec["datatype"], task=spec["task"],
                                    session=spec.get("session"))
    paths = []
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if not found:
            raise FileNotFoundError(f"files pattern {pattern!r} matches no recording of subject {subject!r} "
                                    f"under {root}")
        paths += [p for p in found if p not in paths]
    return paths


def run(spec: dict, *, recordings, subject: str, out, seed: int, stimuli=None) -> None:
    """Epochs of ``subject`` of the dataset ``spec`` (a ``datasets.<name>`` entry) under ``recordings``.

    ``stimuli``, a stimulus store, gives the known stimulus ids (None: every id the table gives).
    """
    root = Path(recordings)
    recs = find_recordings(spec, root, subject)
    table = spec.get("stimulus_table")
    if table is None and "simulate_meg" in spec:
        table = root / SIMULATED_TABLE
    known = None if stimuli is None else store.open_dataset(stimuli).stimulus_id.values.astype(str)
    ds = meg_stage(recs, stimulus_table=table, known_stimuli=known, drop_unknown=spec["drop_unknown"],
                   events=spec["events"], preprocessing=spec["preprocessing"], average=spec["average"])
    rows = "trial" if "trial" in ds.dims else "stimulus"
    if rows == "stimulus" and stimuli is not None:  # per-stimulus averages: the set's metadata too
        ds = ds.assign_coords(stimulus_coords(store.open_dataset(stimuli), ds.stimulus_id.values))
    log.info("sub-%s: %d %ss x %d channels x %d times (%g Hz)", subject, ds.sizes[rows], rows, ds.sizes["unit"],
             ds.sizes["time"], ds.attrs["sfreq"])
    paths = [getattr(r, "path", r) for r in recs]
    inputs = paths + ([table] if isinstance(table, (str, Path)) else []) + ([stimuli] if stimuli else [])
    store.write_dataset(out, ds.assign_attrs(subject=subject, modality="meg"), stage="meg", params=spec,
                        inputs=inputs, seed=seed)
