"""Events of MEG/EEG runs and the stimuli they show.

Events come from a stim (trigger) channel (:func:`mne.find_events`) or from the recording's
annotations (:func:`mne.events_from_annotations`; annotations whose description starts with
``BAD`` or ``EDGE`` mark artefacts, not events, and are left out). Each event gets a *name*:
its trigger code as a string (``"5"``) or its annotation description (``"face/17"``). A
stimulus table maps names to stimulus ids; every name is looked up as a string, so
``{5: "img05"}`` and ``{"5": "img05"}`` are the same table.

An event is

* *ignored* when its name is in ``EventOptions.ignore`` (responses, run starts): counted only;
* *unknown* when its name is not in the table, or its stimulus id is not among the study's
  known stimuli: an error naming every unknown event and its run, unless ``drop_unknown``,
  in which case it is dropped, logged and counted;
* a *trial* of its stimulus otherwise.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from ._options import options_from_dict

__all__ = ["EVENT_SOURCES", "EventOptions", "StimulusAssignment", "assign_stimuli", "find_run_events",
           "read_stimulus_table"]

log = logging.getLogger(__name__)

EVENT_SOURCES = ("auto", "stim", "annotations")
_NOT_ARTEFACT = r"^(?![Bb][Aa][Dd]|[Ee][Dd][Gg][Ee]).*$"


@dataclass(frozen=True)
class EventOptions:
    """Where events come from (the config keys of ``events``).

    source : {"auto", "stim", "annotations"}
        ``"auto"``: the annotations when the run has any besides artefact marks (BIDS
        ``events.tsv``, BrainVision/EEGLAB markers), else the stim channel.
    stim_channel : str or None
        Trigger channel for ``"stim"``; None lets MNE choose (``STI 014``, or the ``stim``
        channels of the recording).
    min_duration : float
        Shortest trigger pulse counted as an event, in seconds (:func:`mne.find_events`).
    ignore : sequence of str
        Event names (trigger codes or descriptions) that are not stimuli; skipped and counted.
    """

    source: str = "auto"
    stim_channel: str | None = None
    min_duration: float = 0.0
    ignore: tuple[str, ...] = ()

    def __post_init__(self):
        if self.source not in EVENT_SOURCES:
            raise ValueError(f"events source={self.source!r} must be one of {EVENT_SOURCES}")
        if self.stim_channel is not None and not isinstance(self.stim_channel, str):
            raise TypeError(f"events stim_channel={self.stim_channel!r} must be a channel name or None")
        if not isinstance(self.min_duration, (int, float)) or self.min_duration < 0:
            raise ValueError(f"events min_duration={self.min_duration!r} must be a non-negative number of seconds")
        if isinstance(self.ignore, str):
            raise TypeError(f"events ignore={self.ignore!r} must be a list of event names, not one string")
        object.__setattr__(self, "ignore", tuple(str(x) for x in self.ignore))

    @classmethod
    def from_dict(cls, options: Mapping | None) -> EventOptions:
        """Options from a config mapping; an unknown key is an error that names it."""
        return options_from_dict(cls, options, "events")

    def to_dict(self) -> dict:
        return {**asdict(self), "ignore": list(self.ignore)}


def _has_event_annotations(raw: mne.io.BaseRaw) -> bool:
    return any(not d.upper().startswith(("BAD", "EDGE")) for d in raw.annotations.description)


def find_run_events(raw: mne.io.BaseRaw, options: EventOptions, label: str) -> tuple[np.ndarray, list[str], str]:
    """Events of one run.

    Returns
    -------
    samples : int array (n_events,)
        Sample of each event on the recording's own sample axis (including ``raw.first_samp``),
        as :func:`mne.find_events` gives it.
    names : list of str
        Trigger code or annotation description of each event.
    source : {"stim", "annotations"}
        Where the events came from.
    """
    source = options.source
    if source == "auto":
        source = "annotations" if _has_event_annotations(raw) else "stim"
    if source == "annotations":
        if not _has_event_annotations(raw):
            raise ValueError(f"recording {label!r}: events source 'annotations', but the recording has no "
                             "annotations other than BAD/EDGE marks")
        events, event_id = mne.events_from_annotations(raw, regexp=_NOT_ARTEFACT, verbose="error")
        description = {code: desc for desc, code in event_id.items()}
        return events[:, 0].astype(np.int64), [description[c] for c in events[:, 2]], source
    try:
        events = mne.find_events(raw, stim_channel=options.stim_channel, min_duration=options.min_duration,
                                 verbose="error")
    except ValueError as err:
        raise ValueError(f"recording {label!r}: cannot read events from the stim channel "
                         f"({options.stim_channel or 'MNE default'}): {err}") from None
    return events[:, 0].astype(np.int64), [str(int(c)) for c in events[:, 2]], source


def read_stimulus_table(path) -> dict[str, str]:
    """A stimulus table from a TSV file with columns ``event`` (trigger code or annotation
    description) and ``stimulus_id``; ValueError for missing columns or a repeated event."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("event", "stimulus_id") if c not in table.columns]
    if missing:
        raise ValueError(f"stimulus table {path} has no column(s) {missing} (columns: {list(table.columns)})")
    repeated = sorted(set(table["event"][table["event"].duplicated()]))
    if repeated:
        raise ValueError(f"stimulus table {path}: event(s) {repeated[:20]} appear more than once")
    return dict(zip(table["event"], table["stimulus_id"]))


def _normalise_table(table) -> dict[str, str] | None:
    if table is None:
        return None
    if isinstance(table, (str, os.PathLike)):
        table = read_stimulus_table(table)
    if not isinstance(table, Mapping):
        raise TypeError(f"stimulus_table: expected a mapping event -> stimulus_id, got {type(table).__name__}")
    normalised: dict[str, str] = {}
    for event, stimulus in table.items():
        key = str(event)
        if key in normalised:
            raise ValueError(f"stimulus_table: event {key!r} appears twice (as {event!r} and another key)")
        normalised[key] = str(stimulus)
    return normalised


@dataclass(frozen=True)
class StimulusAssignment:
    """The trials of each run and what was left out.

    ``keep[label]`` marks the run's events that are trials, ``stimulus_ids[label]`` the stimulus of
    each kept event; ``unknown`` counts dropped events by (run, event name); ``n_ignored`` counts
    events named in ``EventOptions.ignore``.
    """

    keep: dict[str, np.ndarray]
    stimulus_ids: dict[str, list[str]]
    unknown: dict[tuple[str, str], int]
    n_ignored: int

    @property
    def n_dropped_unknown(self) -> int:
        return int(sum(self.unknown.values()))

    @property
    def dropped_unknown_events(self) -> list[str]:
        return sorted({name for _, name in self.unknown})


def assign_stimuli(names_by_run: Mapping[str, Sequence[str]], table,
                   known_stimuli: Iterable[str] | None, drop_unknown: bool,
                   ignore: Sequence[str] = ()) -> StimulusAssignment:
    """Map every run's event names to stimulus ids (see the module docstring).

    ``table`` (a mapping, or the path of a TSV file for :func:`read_stimulus_table`) None maps
    each name to itself. Raises ValueError naming the unknown events of
    every run (unless ``drop_unknown``), and when no event of any run is a trial.
    """
    table = _normalise_table(table)
    known = None if known_stimuli is None else {str(s) for s in known_stimuli}
    ignore = set(ignore)
    keep, stimulus_ids, unknown, n_ignored = {}, {}, Counter(), 0
    for label, names in names_by_run.items():
        mask = np.zeros(len(names), dtype=bool)
        ids = []
        for i, name in enumerate(names):
            if name in ignore:
                n_ignored += 1
                continue
            stimulus = name if table is None else table.get(name)
            if stimulus is None or (known is not None and stimulus not in known):
                unknown[(label, name)] += 1
                continue
            mask[i] = True
            ids.append(stimulus)
        keep[label], stimulus_ids[label] = mask, ids
    if unknown and not drop_unknown:
        by_run: dict[str, list[str]] = {}
        for (label, name), count in sorted(unknown.items()):
            by_run.setdefault(label, []).append(f"{name!r} x{count}")
        listing = "; ".join(f"{label}: {', '.join(items[:20])}" for label, items in by_run.items())
        raise ValueError("events that match no known stimulus (not in stimulus_table, or their stimulus_id "
                         f"not in known_stimuli); pass drop_unknown=True to drop them or list them in events "
                         f"ignore: {listing}")
    if unknown:
        log.warning("dropping %d events that match no known stimulus: %s", sum(unknown.values()),
                    sorted({name for _, name in unknown})[:20])
    if not any(m.any() for m in keep.values()):
        raise ValueError(f"no event of any recording matches a known stimulus (runs: {list(names_by_run)}; "
                         f"{n_ignored} ignored, {sum(unknown.values())} unknown)")
    return StimulusAssignment(keep, stimulus_ids, dict(unknown), n_ignored)
