"""The MEG/EEG stage: a subject's epochs (or averaged responses) as one dataset.

For continuous recordings (raw files of any format MNE reads, or BIDS runs; :mod:`.meg_io`):

1. read every run's events and map them to stimuli (:mod:`.meg_events`), so that every
   unknown event of every run is reported before any data is loaded;
2. choose one sampling rate: ``resample_sfreq`` if set, else the runs' common rate; runs that
   differ are an error, or (``on_mixed_sfreq="resample"``) are all resampled to the lowest
   (polyphase FIR resampling of the continuous run, events moved with it);
3. per run: load, pick channels, filter, resample, cut epochs with baseline correction, reject,
   decimate (:mod:`.meg_preprocess`);
4. keep the channels present in every run (others are dropped, logged and listed);
5. optionally average the trials of each stimulus (:func:`average_trials`).

Evoked files (MNE ``-ave.fif``: one averaged response per condition) are read instead of
epochs: each condition's comment is its event name, mapped to a stimulus like an event, and
conditions of the same stimulus in several files are combined weighted by their trial counts
(``nave``). Picks, resampling, cropping to ``[tmin, tmax]``, baseline and decimation apply;
filters and epoch rejection, which need the continuous data or single trials, are refused.

Output: an :class:`xarray.Dataset` with ``data`` (trial, unit, time) float32, trial coordinates
``stimulus_id``, ``run``, ``onset`` (s from the start of the run's recording), or after averaging
(stimulus, unit, time) with ``stimulus_id`` and ``n_trials``; unit coordinates ``ch_name``,
``ch_type`` and ``ch_unit``; ``time`` in seconds relative to the event. Each channel type is
stored in MNE's display unit (``mag`` fT, ``grad`` fT/cm, ``eeg`` µV, ...: SI values times
``mne.defaults.DEFAULTS["scalings"]``) so that float32 keeps full precision; rejection
thresholds stay in SI units, as in MNE.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping

import mne
import numpy as np
import xarray as xr
from mne.defaults import DEFAULTS

from .meg_events import EventOptions, assign_stimuli, find_run_events
from .meg_io import as_recordings, is_evoked_file, read_evoked_file, read_recording
from .meg_preprocess import PreprocessOptions, check_decimation, epoch_run, prepare_raw

__all__ = ["average_trials", "meg_stage"]

log = logging.getLogger(__name__)

_AVERAGE_BLOCK = 256  # trials summed at once by average_trials
# Polyphase FIR resampling: MNE's default FFT method shifted a 250 -> 200 Hz sinusoid by ~2.7 ms
# (MNE 1.13; see tests/test_meg_stage.py::test_mixed_sampling_rates), polyphase keeps it in place.
RESAMPLE_METHOD = "polyphase"


def _as_options(value, cls):
    return value if isinstance(value, cls) else cls.from_dict(value)


def meg_stage(recordings, *, stimulus_table: Mapping | str | os.PathLike | None = None, known_stimuli: Iterable[str] | None = None,
              drop_unknown: bool = False, events: Mapping | EventOptions | None = None,
              preprocessing: Mapping | PreprocessOptions | None = None, average: bool = False) -> xr.Dataset:
    """Epochs of a subject's MEG/EEG recordings, one row per trial (or per stimulus).

    Parameters
    ----------
    recordings : sequence of path or :class:`~brainalign.brain.meg_io.Recording`
        Continuous runs (a path's label, the ``run`` coordinate, is its file name without the
        extension), or MNE evoked files (``*-ave.fif``), not both.
    stimulus_table : mapping, path or None
        Event name (trigger code or annotation description; for evoked files the condition's
        comment) -> stimulus id, or a TSV file of them
        (:func:`~brainalign.brain.meg_events.read_stimulus_table`); None maps each name to itself.
    known_stimuli : iterable of str or None
        The stimulus ids the study knows; None accepts every id the table gives.
    drop_unknown : bool
        Drop (log, count) events that match no known stimulus instead of raising.
    events : mapping or EventOptions
        :class:`~brainalign.brain.meg_events.EventOptions` keys.
    preprocessing : mapping or PreprocessOptions
        :class:`~brainalign.brain.meg_preprocess.PreprocessOptions` keys.
    average : bool
        Average the trials of each stimulus (:func:`average_trials`). Evoked files are already
        averaged and always give one row per stimulus.

    Returns
    -------
    xarray.Dataset
        See the module docstring; ``attrs`` record the options, sampling rates, filter edges,
        and the counts of ignored, unknown, out-of-recording and rejected events.
    """
    event_options = _as_options(events, EventOptions)
    options = _as_options(preprocessing, PreprocessOptions)
    recs = as_recordings(recordings)
    evoked = [is_evoked_file(r.path) for r in recs]
    if any(evoked) and not all(evoked):
        raise ValueError("recordings: mixes evoked files "
                         f"{[r.label for r, e in zip(recs, evoked) if e]} with continuous recordings "
                         f"{[r.label for r, e in zip(recs, evoked) if not e]}")
    if all(evoked):
        return _evoked_stage(recs, stimulus_table, known_stimuli, drop_unknown, event_options, options)
    ds = _raw_stage(recs, stimulus_table, known_stimuli, drop_unknown, event_options, options)
    return average_trials(ds) if average else ds


# --------------------------------------------------------------------------- raw recordings
def _target_sfreq(sfreqs: Mapping[str, float], options: PreprocessOptions) -> float | None:
    """The rate every run is resampled to, or None when they already share one."""
    if options.resample_sfreq is not None:
        return float(options.resample_sfreq)
    rates = sorted(set(sfreqs.values()))
    if len(rates) == 1:
        return None
    if options.on_mixed_sfreq == "error":
        listing = ", ".join(f"{label}: {rate:g} Hz" for label, rate in sfreqs.items())
        raise ValueError(f"recordings have different sampling rates ({listing}); set preprocessing "
                         "resample_sfreq, or on_mixed_sfreq='resample' to resample all to the lowest")
    log.warning("recordings have different sampling rates %s; resampling all to %g Hz", sorted(rates), rates[0])
    return float(rates[0])


def _raw_stage(recs, table, known, drop_unknown, event_options, options) -> xr.Dataset:
    raws, samples, names, sources = {}, {}, {}, {}
    for rec in recs:
        raw = read_recording(rec, preload=False)
        samples[rec.label], names[rec.label], sources[rec.label] = find_run_events(raw, event_options, rec.label)
        raws[rec.label] = raw
    assignment = assign_stimuli(names, table, known, drop_unknown, event_options.ignore)
    original_sfreq = {label: float(raw.info["sfreq"]) for label, raw in raws.items()}
    target = _target_sfreq(original_sfreq, options)

    epoched, trial_coords = {}, {"stimulus_id": [], "run": [], "onset": []}
    for label, raw in raws.items():
        keep = assignment.keep[label]
        if not keep.any():
            log.warning("recording %r: no event matches a stimulus; it gives no trial", label)
            continue
        raw.load_data(verbose="error")
        run_samples = samples[label][keep]
        onsets = (run_samples - raw.first_samp) / raw.info["sfreq"]
        prepare_raw(raw, options, label)
        if target is not None and raw.info["sfreq"] != target:
            trigger = np.column_stack([run_samples, np.zeros_like(run_samples), np.ones_like(run_samples)])
            raw, moved = raw.resample(target, events=trigger, method=RESAMPLE_METHOD, verbose="error")
            run_samples = moved[:, 0]
        run = epoch_run(raw, run_samples, options, label)
        run.data = _display_units(run.data, run.ch_types)
        if not run.selection.size:
            log.warning("recording %r: every epoch was dropped or rejected (%s)", label, run.counts)
        epoched[label] = run
        trial_coords["stimulus_id"] += [assignment.stimulus_ids[label][i] for i in run.selection]
        trial_coords["run"] += [label] * run.selection.size
        trial_coords["onset"].append(onsets[run.selection])
        raws[label] = None  # release the continuous data
    counts = {key: sum(r.counts[key] for r in epoched.values())
              for key in ("outside_recording", "annotation", "amplitude", "flat")}
    n_trial_events = int(sum(k.sum() for k in assignment.keep.values()))
    n_kept = len(trial_coords["run"])
    if n_kept == 0:
        raise ValueError(f"all {n_trial_events} epochs were dropped or rejected: {counts['outside_recording']} "
                         f"outside the recording, {counts['annotation']} on BAD annotations, "
                         f"{counts['amplitude']} above reject={options.reject}, {counts['flat']} below "
                         f"flat={options.flat}; relax the thresholds or check the units (SI: T, T/m, V)")
    runs = list(epoched.values())
    channels, dropped_channels = _common_channels({label: (r.ch_names, r.ch_types) for label, r in epoched.items()})
    times = _common_times({label: r.times for label, r in epoched.items()})
    data = np.concatenate([_select(r.data, r.ch_names, channels) for r in runs])
    attrs = {
        "input_kind": "raw", "runs": list(epoched), "recordings": [str(r.path) for r in recs],
        "event_sources": json.dumps(sources, sort_keys=True), "events": json.dumps(event_options.to_dict()),
        "preprocessing": options.to_json(), "sfreq": float(runs[0].sfreq),
        "original_sfreq": json.dumps(original_sfreq, sort_keys=True), "resampled": target is not None,
        "resample_method": RESAMPLE_METHOD,
        "highpass": float(runs[0].highpass), "lowpass": float(runs[0].lowpass),
        "projectors": sorted({p for r in runs for p in r.projectors}),
        "n_events": int(sum(len(n) for n in names.values())), "n_ignored_events": assignment.n_ignored,
        "n_dropped_unknown_events": assignment.n_dropped_unknown,
        "dropped_unknown_events": assignment.dropped_unknown_events,
        "n_dropped_outside_recording": counts["outside_recording"],
        "n_rejected": n_trial_events - counts["outside_recording"] - n_kept,
        "n_rejected_annotation": counts["annotation"], "n_rejected_amplitude": counts["amplitude"],
        "n_rejected_flat": counts["flat"], "dropped_channels": dropped_channels,
    }
    log.info("MEG stage: %d trials kept of %d; rejected %d (annotation %d, amplitude %d, flat %d), %d outside "
             "the recording", n_kept, n_trial_events, attrs["n_rejected"], counts["annotation"],
             counts["amplitude"], counts["flat"], counts["outside_recording"])
    coords = {"stimulus_id": ("trial", np.asarray(trial_coords["stimulus_id"], dtype=str)),
              "run": ("trial", np.asarray(trial_coords["run"], dtype=str)),
              "onset": ("trial", np.concatenate(trial_coords["onset"]).astype(np.float64))}
    return _dataset(data, "trial", coords, channels, times, attrs)


# --------------------------------------------------------------------------- shared steps
def _common_channels(per_input: Mapping[str, tuple[list[str], list[str]]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, type) of the channels in every input, in the first input's order, and the
    names of the channels dropped because some input lacks them."""
    sets = [dict(zip(names, types)) for names, types in per_input.values()]
    first_names, _ = next(iter(per_input.values()))
    common = [(n, sets[0][n]) for n in first_names if all(n in s for s in sets)]
    for label, (names, types) in per_input.items():
        clash = [n for n, t in zip(names, types) if n in sets[0] and sets[0][n] != t]
        if clash:
            raise ValueError(f"recording {label!r}: channel(s) {clash[:10]} have another type than in "
                             f"{next(iter(per_input))!r}")
    dropped = sorted(set().union(*sets) - {n for n, _ in common})
    if not common:
        raise ValueError(f"the recordings {list(per_input)} share no channel")
    if dropped:
        log.warning("dropping %d channels missing (or bad) in some recording: %s", len(dropped), dropped[:20])
    return common, dropped


def _common_times(per_input: Mapping[str, np.ndarray]) -> np.ndarray:
    (first_label, first), *rest = per_input.items()
    for label, times in rest:
        if times.shape != first.shape or not np.allclose(times, first, rtol=0, atol=1e-6):
            raise ValueError(f"recording {label!r}: its epoch time axis ({times.size} samples, {times[0]:.4f} to "
                             f"{times[-1]:.4f} s) differs from {first_label!r} ({first.size} samples, "
                             f"{first[0]:.4f} to {first[-1]:.4f} s)")
    return first


def _display_units(data: np.ndarray, ch_types: list[str]) -> np.ndarray:
    """(rows, channels, times) SI values as float32 in display units (module docstring)."""
    scale = np.array([DEFAULTS["scalings"].get(t, 1.0) for t in ch_types])
    return (data * scale[:, None]).astype(np.float32)


def _select(data: np.ndarray, names: list[str], channels) -> np.ndarray:
    """The columns of ``channels`` ((name, type) pairs) from (rows, channels, times) ``data``."""
    index = {n: i for i, n in enumerate(names)}
    return data[:, [index[n] for n, _ in channels]]


def _dataset(data, row_dim, row_coords, channels, times, attrs) -> xr.Dataset:
    ch_types = [t for _, t in channels]
    units = {t: DEFAULTS["units"].get(t, "SI") if t in DEFAULTS["scalings"] else "SI" for t in ch_types}
    coords = {**row_coords,
              "ch_name": ("unit", np.asarray([n for n, _ in channels], dtype=str)),
              "ch_type": ("unit", np.asarray(ch_types, dtype=str)),
              "ch_unit": ("unit", np.asarray([units[t] for t in ch_types], dtype=str)),
              "time": ("time", np.asarray(times, dtype=np.float64))}
    return xr.Dataset({"data": ((row_dim, "unit", "time"), data)}, coords=coords,
                      attrs={**attrs, "units": json.dumps(units, sort_keys=True, ensure_ascii=False)})


# --------------------------------------------------------------------------- averaging
def average_trials(ds: xr.Dataset) -> xr.Dataset:
    """Mean response of each stimulus over its trials (all runs pooled).

    ``data[s] = (1 / n_s) sum_{trials i of s} data[i]``, accumulated in float64, stored as
    float32; the result has dimensions (stimulus, unit, time), stimuli in sorted order, with
    coordinates ``stimulus_id`` and ``n_trials`` (``n_s``). Unit and time coordinates and the
    attributes are kept; ``attrs["averaged"]`` is set.
    """
    if "trial" not in ds.dims or "stimulus_id" not in ds.coords:
        raise ValueError(f"ds: expected a dataset with a 'trial' dimension and 'stimulus_id' coordinate, got dims "
                         f"{dict(ds.sizes)}")
    ids = np.asarray(ds["stimulus_id"].values, dtype=str)
    stimuli, inverse, n_trials = np.unique(ids, return_inverse=True, return_counts=True)
    values = ds["data"].transpose("trial", "unit", "time").values
    flat = values.reshape(values.shape[0], -1)
    sums = np.zeros((stimuli.size, flat.shape[1]))
    for start in range(0, flat.shape[0], _AVERAGE_BLOCK):
        block = slice(start, start + _AVERAGE_BLOCK)
        indicator = np.zeros((stimuli.size, flat[block].shape[0]))
        indicator[inverse[block], np.arange(indicator.shape[1])] = 1.0
        sums += indicator @ flat[block].astype(np.float64)
    means = (sums / n_trials[:, None]).astype(np.float32).reshape((stimuli.size,) + values.shape[1:])
    unit_coords = {k: ("unit", v.values) for k, v in ds.coords.items() if v.dims == ("unit",)}
    return xr.Dataset({"data": (("stimulus", "unit", "time"), means)},
                      coords={"stimulus_id": ("stimulus", stimuli), "n_trials": ("stimulus", n_trials.astype(np.int64)),
                              **unit_coords, "time": ds["time"].values},
                      attrs={**ds.attrs, "averaged": True})


# --------------------------------------------------------------------------- evoked files
def _check_evoked_options(options: PreprocessOptions) -> None:
    refused = {k: getattr(options, k) for k in ("l_freq", "h_freq", "reject", "flat")
               if getattr(options, k) is not None}
    if options.notch_freqs:
        refused["notch_freqs"] = list(options.notch_freqs)
    if refused:
        raise ValueError(f"preprocessing {refused} cannot apply to evoked files (already averaged, epoch-length "
                         "data): filter and reject the continuous recordings instead")


def _process_evoked(evoked: mne.Evoked, options: PreprocessOptions, target: float | None, label: str) -> mne.Evoked:
    evoked = evoked.copy().pick(list(options.picks), exclude="bads" if options.exclude_bads else [])
    if target is not None and evoked.info["sfreq"] != target:
        evoked.resample(target, method=RESAMPLE_METHOD, verbose="error")
    half = 0.5 / evoked.info["sfreq"]
    if (options.tmin is not None and options.tmin < evoked.times[0] - half) or \
            (options.tmax is not None and options.tmax > evoked.times[-1] + half):
        raise ValueError(f"evoked file {label!r} ({evoked.comment!r}): window [tmin, tmax] = [{options.tmin}, "
                         f"{options.tmax}] s lies outside its time axis [{evoked.times[0]:.4f}, "
                         f"{evoked.times[-1]:.4f}] s")
    evoked.crop(options.tmin, options.tmax, include_tmax=True)
    if options.baseline is not None:
        evoked.apply_baseline(options.baseline, verbose="error")
    if options.decim > 1:
        check_decimation(evoked.info, options.decim, label)
        evoked.decimate(options.decim, verbose="error")
    return evoked


def _evoked_stage(recs, table, known, drop_unknown, event_options, options) -> xr.Dataset:
    _check_evoked_options(options)
    per_file = {rec.label: read_evoked_file(rec.path, options.apply_projectors) for rec in recs}
    names = {label: [e.comment for e in evokeds] for label, evokeds in per_file.items()}
    assignment = assign_stimuli(names, table, known, drop_unknown, event_options.ignore)
    original_sfreq = {f"{label}/{e.comment}": float(e.info["sfreq"]) for label, evs in per_file.items() for e in evs}
    target = _target_sfreq(original_sfreq, options)
    by_stimulus: dict[str, list[mne.Evoked]] = {}
    for label, evokeds in per_file.items():
        kept = [e for e, keep in zip(evokeds, assignment.keep[label]) if keep]
        for evoked, stimulus in zip(kept, assignment.stimulus_ids[label]):
            by_stimulus.setdefault(stimulus, []).append(_process_evoked(evoked, options, target, label))
    stimuli = sorted(by_stimulus)
    combined = [mne.combine_evoked(by_stimulus[s], weights="nave") if len(by_stimulus[s]) > 1 else by_stimulus[s][0]
                for s in stimuli]
    channels, dropped = _common_channels({s: (e.ch_names, e.get_channel_types()) for s, e in zip(stimuli, combined)})
    times = _common_times({s: e.times for s, e in zip(stimuli, combined)})
    data = np.concatenate([_select(_display_units(e.data[None], e.get_channel_types()), e.ch_names, channels)
                           for e in combined])
    attrs = {
        "input_kind": "evoked", "runs": list(per_file), "recordings": [str(r.path) for r in recs],
        "events": json.dumps(event_options.to_dict()), "preprocessing": options.to_json(),
        "sfreq": float(combined[0].info["sfreq"]), "original_sfreq": json.dumps(original_sfreq, sort_keys=True),
        "resampled": target is not None, "resample_method": RESAMPLE_METHOD,
        "highpass": float(combined[0].info["highpass"]), "lowpass": float(combined[0].info["lowpass"]),
        "n_events": int(sum(len(n) for n in names.values())),
        "n_ignored_events": assignment.n_ignored, "n_dropped_unknown_events": assignment.n_dropped_unknown,
        "dropped_unknown_events": assignment.dropped_unknown_events, "dropped_channels": dropped, "averaged": True,
        "projectors": sorted({p["desc"] for e in combined for p in e.info["projs"] if p["active"]}),
    }
    coords = {"stimulus_id": ("stimulus", np.asarray(stimuli, dtype=str)),
              "n_trials": ("stimulus", np.array([e.nave for e in combined], dtype=np.int64))}
    return _dataset(data, "stimulus", coords, channels, times, attrs)
