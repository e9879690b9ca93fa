"""Find a subject's BOLD runs in a BIDS raw dataset or in fMRIPrep derivatives.

A run is described by a :class:`Run`: its BOLD image, its events table, its repetition time
and where that came from, and the confound files that go with it. Discovery reads only file
names (BIDS entities ``key-value`` joined by ``_``, then a suffix) and JSON sidecars; no image
is loaded here.

Sidecar metadata follows the BIDS inheritance principle: every ``*_bold.json`` from the dataset
root down to the ``func`` folder whose entities are a subset of the BOLD file's entities
applies, and a deeper file overrides a shallower one (so ``task-x_bold.json`` at the root
holds the ``RepetitionTime`` of every run of task ``x`` unless a run's own sidecar says
otherwise). Events tables are inherited the same way; the deepest applicable one is used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "find_bids_runs", "find_fmriprep_runs", "parse_entities"]

_ENTITY = re.compile(r"^([a-zA-Z0-9]+)-([a-zA-Z0-9.+]+)$")
# Entities that name a run of a subject; the space/resolution/description entities of a
# derivative do not.
_RUN_ENTITIES = ("ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part")
_DERIVATIVE_ENTITIES = ("space", "res", "den", "desc")


@dataclass(frozen=True)
class Run:
    """One BOLD run and the files that go with it.

    ``label`` identifies the run within the subject (for example ``"ses-1_task-faces_run-2"``)
    and becomes the ``run`` coordinate of the trials. ``tr`` is the repetition time in seconds
    and ``tr_source`` the file it was read from. ``confounds`` and ``mask`` are fMRIPrep's
    confounds table and brain mask (``None`` for raw data); ``motion`` is a table of motion
    estimates for raw data (one row per volume, whitespace separated), or ``None``.
    """

    bold: Path
    events: Path
    tr: float
    tr_source: Path
    label: str
    subject: str
    confounds: Path | None = None
    mask: Path | None = None
    motion: Path | None = None


def parse_entities(path: str | Path) -> tuple[dict[str, str], str]:
    """BIDS entities and suffix of a file name.

    ``sub-01_task-faces_run-1_bold.nii.gz`` gives
    ``({"sub": "01", "task": "faces", "run": "1"}, "bold")``. Raises ``ValueError`` for a name
    whose parts are not ``key-value`` pairs.
    """
    name = Path(path).name
    stem = name.split(".", 1)[0]
    *pairs, suffix = stem.split("_")
    entities = {}
    for pair in pairs:
        match = _ENTITY.match(pair)
        if match is None:
            raise ValueError(f"{name!r} is not a BIDS file name: {pair!r} is not a key-value entity")
        entities[match.group(1)] = match.group(2)
    return entities, suffix


def _subject_label(subject: str) -> str:
    label = str(subject).removeprefix("sub-")
    if not label or not label.isalnum():
        raise ValueError(f"subject {subject!r} is not a BIDS label (letters and digits)")
    return label


def _as_set(value, name: str) -> set[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, (str, int)) else list(value)
    if not values:
        raise ValueError(f"{name} must be a label, a list of labels or None, got an empty list")
    return {str(v).removeprefix(f"{name}-") for v in values}


def _same_label(a: str, b: str) -> bool:
    """Run indices compare as numbers (``run-01`` is ``run-1``); other labels as strings."""
    return int(a) == int(b) if a.isdigit() and b.isdigit() else a == b


def _selected(entities: dict[str, str], filters: dict[str, set[str] | None]) -> bool:
    for key, wanted in filters.items():
        if wanted is None:
            continue
        if key not in entities or not any(_same_label(entities[key], w) for w in wanted):
            return False
    return True


def _run_label(entities: dict[str, str]) -> str:
    return "_".join(f"{k}-{entities[k]}" for k in _RUN_ENTITIES if k in entities)


def _sort_key(entities: dict[str, str]) -> tuple:
    """Order by session, task, ..., run; numeric labels by value (``run-2`` before ``run-10``)."""
    return tuple((int(v), "") if v.isdigit() else (-1, v) for v in (entities.get(k, "") for k in _RUN_ENTITIES))


def _inherited(root: Path, bold: Path, suffix: str, extension: str) -> list[Path]:
    """Files ``*_<suffix><extension>`` that apply to ``bold`` by BIDS inheritance, shallow first."""
    entities, _ = parse_entities(bold)
    folders = [root]
    for part in bold.parent.relative_to(root).parts:
        folders.append(folders[-1] / part)
    found = []
    for folder in folders:
        candidates = []
        for path in sorted(folder.glob(f"*_{suffix}{extension}")):
            try:
                ents, _ = parse_entities(path)
            except ValueError:
                continue
            if all(entities.get(k) == v for k, v in ents.items()):
                candidates.append(path)
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates)
            raise ValueError(f"{bold.name}: more than one {suffix}{extension} applies in {folder}: {names}")
        found.extend(candidates)
    return found


def _repetition_time(sidecars: list[Path], bold: Path) -> tuple[float, Path]:
    """RepetitionTime (s) from the deepest sidecar that sets it."""
    for sidecar in reversed(sidecars):
        meta = json.loads(sidecar.read_text())
        if "RepetitionTime" in meta:
            tr = meta["RepetitionTime"]
            if not isinstance(tr, (int, float)) or tr <= 0:
                raise ValueError(f"{sidecar}: RepetitionTime must be a positive number, got {tr!r}")
            return float(tr), sidecar
    looked = ", ".join(str(s) for s in sidecars) or "none found"
    raise ValueError(f"no RepetitionTime for {bold} in its JSON sidecars ({looked})")


def _bold_files(folder: Path, subject: str, pattern: str, filters: dict) -> list[tuple[Path, dict]]:
    subject_dir = folder / f"sub-{subject}"
    if not subject_dir.is_dir():
        present = sorted(p.name for p in folder.glob("sub-*"))
        raise ValueError(f"no folder sub-{subject} in {folder} (subjects there: {present})")
    files = []
    for path in sorted(subject_dir.glob(f"**/func/{pattern}")):
        entities, _ = parse_entities(path)
        if entities.get("sub") == subject and _selected(entities, filters):
            files.append((path, entities))
    if not files:
        chosen = {k: sorted(v) for k, v in filters.items() if v is not None}
        raise ValueError(f"no BOLD runs matching {pattern} for sub-{subject} with {chosen} under {subject_dir}")
    return sorted(files, key=lambda f: _sort_key(f[1]))


def _events_for(raw_root: Path, raw_bold: Path, bold: Path) -> Path:
    """The events table that applies to ``raw_bold`` (its raw-dataset path); errors name ``bold``."""
    events = _inherited(raw_root, raw_bold, "events", ".tsv")
    if not events:
        raise ValueError(f"no events file (*_events.tsv) for {bold} under {raw_root}")
    return events[-1]


def find_bids_runs(root, subject: str, *, session=None, task=None, run=None,
                   motion_suffix: str | None = None) -> list[Run]:
    """BOLD runs of one subject in a BIDS raw dataset, in (session, task, run) order.

    Parameters
    ----------
    root : path
        The dataset folder (the one holding ``dataset_description.json`` and ``sub-*``).
    subject : str
        Subject label, with or without ``sub-``.
    session, task, run : str, int, list of those, or None
        Keep only runs with these labels (``None``: all). Run indices match numerically.
    motion_suffix : str or None
        When given, every run must have motion estimates beside its BOLD file named like it
        with ``_bold.nii[.gz]`` replaced by ``_<motion_suffix>.tsv`` or ``.txt``.

    Returns
    -------
    list of Run
    """
    root = Path(root)
    subject = _subject_label(subject)
    filters = {"ses": _as_set(session, "ses"), "task": _as_set(task, "task"), "run": _as_set(run, "run")}
    runs = []
    for bold, entities in _bold_files(root, subject, "*_bold.nii*", filters):
        events = _events_for(root, bold, bold)
        tr, tr_source = _repetition_time(_inherited(root, bold, "bold", ".json"), bold)
        motion = None
        if motion_suffix is not None:
            stem = bold.name.split("_bold.nii")[0]
            options = [bold.with_name(f"{stem}_{motion_suffix}{ext}") for ext in (".tsv", ".txt")]
            motion = next((p for p in options if p.is_file()), None)
            if motion is None:
                raise ValueError(f"no motion estimates for {bold}: expected {options[0].name} or {options[1].name}")
        runs.append(Run(bold=bold, events=events, tr=tr, tr_source=tr_source, label=_run_label(entities),
                        subject=subject, motion=motion))
    return runs


def find_fmriprep_runs(derivatives, raw_root, subject: str, *, space: str, res: str | None = None,
                       session=None, task=None, run=None) -> list[Run]:
    """Preprocessed BOLD runs of one subject in fMRIPrep derivatives, in (session, task, run) order.

    Each run needs, beside ``*_space-<space>[_res-<res>]_desc-preproc_bold.nii.gz``, its
    ``*_desc-confounds_timeseries.tsv`` (or the older ``_regressors.tsv``) and
    ``*_space-<space>[_res-<res>]_desc-brain_mask.nii.gz``; its events come from the raw
    dataset ``raw_root`` (fMRIPrep does not copy them). The repetition time is read from the
    derivative's own sidecar when it has one, else from the raw dataset's sidecars.

    Parameters
    ----------
    derivatives : path
        The fMRIPrep output folder (holding ``sub-*``).
    raw_root : path
        The BIDS raw dataset the derivatives were made from.
    subject, session, task, run
        As in :func:`find_bids_runs`.
    space : str
        Output space, e.g. ``"MNI152NLin2009cAsym"`` or ``"T1w"``.
    res : str or None
        Resolution label, needed when a space was written at several resolutions.
    """
    derivatives, raw_root = Path(derivatives), Path(raw_root)
    subject = _subject_label(subject)
    filters = {"ses": _as_set(session, "ses"), "task": _as_set(task, "task"), "run": _as_set(run, "run"),
               "space": {space}, "res": _as_set(res, "res")}
    found = _bold_files(derivatives, subject, "*_desc-preproc_bold.nii*", filters)
    labels = [_run_label(entities) for _, entities in found]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        names = [b.name for b, e in found if _run_label(e) in repeated]
        raise ValueError(f"several preprocessed images per run for sub-{subject} in space {space} "
                         f"(give res=...): {names}")
    runs = []
    for bold, entities in found:
        prefix = "_".join([f"sub-{subject}"] + [f"{k}-{entities[k]}" for k in _RUN_ENTITIES if k in entities])
        confounds = next((p for p in (bold.with_name(f"{prefix}_desc-confounds_{s}.tsv")
                                      for s in ("timeseries", "regressors")) if p.is_file()), None)
        if confounds is None:
            raise ValueError(f"no confounds table for {bold}: expected {prefix}_desc-confounds_timeseries.tsv")
        space_part = "_".join(f"{k}-{entities[k]}" for k in ("space", "res") if k in entities)
        mask = bold.with_name(f"{prefix}_{space_part}_desc-brain_mask.nii.gz")
        if not mask.is_file():
            raise ValueError(f"no brain mask for {bold}: expected {mask.name}")
        raw_rel = bold.parent.relative_to(derivatives) / f"{prefix}_bold.nii.gz"
        raw_bold = raw_root / raw_rel
        events = _events_for(raw_root, raw_bold, bold)
        sidecars = _inherited(raw_root, raw_bold, "bold", ".json")
        own = bold.with_name(bold.name.split(".nii")[0] + ".json")
        tr, tr_source = _repetition_time(sidecars + ([own] if own.is_file() else []), bold)
        runs.append(Run(bold=bold, events=events, tr=tr, tr_source=tr_source, label=_run_label(entities),
                        subject=subject, confounds=confounds, mask=mask))
    return runs

