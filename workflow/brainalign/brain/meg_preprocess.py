"""Preprocessing one MEG/EEG run: channel picks, filters, resampling, epochs, rejection.

The steps, in order, for a run loaded into memory (:func:`prepare_raw`, then :func:`epoch_run`):

1. keep the channels of the requested types (``picks``), without the run's bad channels;
2. notch filter at ``notch_freqs`` (Hz), then band-pass ``[l_freq, h_freq]`` (Hz; either side
   may be None), both MNE's default zero-phase FIR filters;
3. resample the continuous run, moving its events with it (when a common rate is needed);
4. cut epochs ``[tmin, tmax]`` s around each event and subtract the mean over the ``baseline``
   interval from every channel; events whose window is not inside the recording are dropped
   and counted, as are epochs overlapping ``BAD`` annotations (``reject_by_annotation``);
5. reject epochs by peak-to-peak amplitude (:func:`rejection_masks`);
6. decimate by ``decim`` (keeping the sample at t = 0), after checking the low-pass edge lies
   below the new Nyquist frequency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import mne
import numpy as np

from ._options import options_from_dict

__all__ = ["CHANNEL_TYPES", "EpochedRun", "MIXED_SFREQ_ACTIONS", "PreprocessOptions", "check_decimation",
           "epoch_run", "prepare_raw", "rejection_masks"]

MIXED_SFREQ_ACTIONS = ("error", "resample")
CHANNEL_TYPES = tuple(sorted(mne.io.get_channel_type_constants(include_defaults=True)))
_PICK_GROUPS = ("data", "meg")


def _optional_positive(value, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        raise ValueError(f"preprocessing {name}={value!r} must be a positive number (Hz) or None")


def _threshold_dict(value, name: str) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"preprocessing {name}={value!r} must map channel type -> peak-to-peak threshold")
    out = {}
    for ch_type, threshold in value.items():
        if ch_type not in CHANNEL_TYPES:
            raise ValueError(f"preprocessing {name}: unknown channel type {ch_type!r}; known: {CHANNEL_TYPES}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
            raise ValueError(f"preprocessing {name}[{ch_type!r}]={threshold!r} must be a positive peak-to-peak "
                             "amplitude in SI units (T, T/m, V)")
        out[ch_type] = float(threshold)
    return out


@dataclass(frozen=True)
class PreprocessOptions:
    """Preprocessing settings (the config keys of ``preprocessing``).

    picks : sequence of str
        Channel types to keep (``"mag"``, ``"grad"``, ``"eeg"``, ...), ``"meg"`` (both MEG types)
        or ``"data"`` (every data channel).
    exclude_bads : bool
        Leave out the channels a run marks bad (``info["bads"]``, BIDS ``channels.tsv``).
    l_freq, h_freq : float or None
        Band-pass edges in Hz (high-pass only, low-pass only, or none with None).
    notch_freqs : sequence of float
        Line-noise frequencies (Hz) to notch out, e.g. ``[50, 100, 150]``.
    tmin, tmax : float or None
        Epoch window around each event, in seconds: required for continuous recordings; for
        evoked files None keeps their whole time axis, numbers crop it.
    baseline : (float or None, float or None) or None
        Baseline interval in seconds (None at an end: the epoch's edge); None: no correction.
    reject, flat : mapping channel type -> float, or None
        An epoch is rejected if a channel of that type has a peak-to-peak amplitude above
        ``reject[type]`` (or below ``flat[type]``), in SI units (T for mag, T/m for grad, V for EEG).
    reject_by_annotation : bool
        Drop epochs overlapping annotations whose description starts with ``BAD``.
    apply_projectors : bool
        Apply the recording's SSP projectors (e.g. empty-room PCA, average EEG reference) to the
        epochs, as :class:`mne.Epochs` does by default.
    decim : int
        Keep every ``decim``-th sample of the epochs.
    resample_sfreq : float or None
        Resample every run to this rate (Hz) before epoching.
    on_mixed_sfreq : {"error", "resample"}
        When runs differ in sampling rate (and ``resample_sfreq`` is None): raise, or resample
        all to the lowest rate.
    """

    picks: tuple[str, ...] = ("data",)
    exclude_bads: bool = True
    l_freq: float | None = None
    h_freq: float | None = None
    notch_freqs: tuple[float, ...] = ()
    tmin: float | None = None
    tmax: float | None = None
    baseline: tuple | None = (None, 0.0)
    reject: dict | None = None
    flat: dict | None = None
    reject_by_annotation: bool = True
    apply_projectors: bool = True
    decim: int = 1
    resample_sfreq: float | None = None
    on_mixed_sfreq: str = "error"

    def __post_init__(self):
        picks = (self.picks,) if isinstance(self.picks, str) else tuple(self.picks)
        bad = [p for p in picks if p not in CHANNEL_TYPES + _PICK_GROUPS]
        if not picks or bad:
            raise ValueError(f"preprocessing picks={list(picks)}: {bad or 'empty'}; expected channel types "
                             f"from {_PICK_GROUPS + CHANNEL_TYPES}")
        object.__setattr__(self, "picks", picks)
        _optional_positive(self.l_freq, "l_freq")
        _optional_positive(self.h_freq, "h_freq")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(f"preprocessing l_freq={self.l_freq} must be below h_freq={self.h_freq}")
        notch = tuple(float(f) for f in self.notch_freqs)
        if any(f <= 0 for f in notch):
            raise ValueError(f"preprocessing notch_freqs={list(notch)} must be positive frequencies in Hz")
        object.__setattr__(self, "notch_freqs", notch)
        window = [t for t in (self.tmin, self.tmax) if t is not None]
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and np.isfinite(t) for t in window) \
                or (len(window) == 2 and self.tmin >= self.tmax):
            raise ValueError(f"preprocessing tmin={self.tmin!r}, tmax={self.tmax!r}: need finite times in s "
                             "with tmin < tmax (or None)")
        if self.baseline is not None:
            self._check_baseline()
        object.__setattr__(self, "reject", _threshold_dict(self.reject, "reject"))
        object.__setattr__(self, "flat", _threshold_dict(self.flat, "flat"))
        if isinstance(self.decim, bool) or not isinstance(self.decim, (int, np.integer)) or self.decim < 1:
            raise ValueError(f"preprocessing decim={self.decim!r} must be an integer >= 1")
        _optional_positive(self.resample_sfreq, "resample_sfreq")
        if self.resample_sfreq is not None and self.decim > 1:
            raise ValueError("preprocessing: give decim or resample_sfreq, not both "
                             f"(decim={self.decim}, resample_sfreq={self.resample_sfreq})")
        for flag in ("exclude_bads", "reject_by_annotation", "apply_projectors"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"preprocessing {flag}={getattr(self, flag)!r} must be true or false")
        if self.on_mixed_sfreq not in MIXED_SFREQ_ACTIONS:
            raise ValueError(f"preprocessing on_mixed_sfreq={self.on_mixed_sfreq!r} must be one of "
                             f"{MIXED_SFREQ_ACTIONS}")

    def _check_baseline(self) -> None:
        if not isinstance(self.baseline, (tuple, list)) or len(self.baseline) != 2:
            raise ValueError(f"preprocessing baseline={self.baseline!r} must be (start, end) in s, or None")
        low = -np.inf if self.tmin is None else self.tmin
        high = np.inf if self.tmax is None else self.tmax
        start = low if self.baseline[0] is None else self.baseline[0]
        end = high if self.baseline[1] is None else self.baseline[1]
        if not low <= start <= end <= high:
            raise ValueError(f"preprocessing baseline={list(self.baseline)} must lie inside the epoch "
                             f"[tmin, tmax] = [{self.tmin}, {self.tmax}] s with start <= end")
        object.__setattr__(self, "baseline", tuple(self.baseline))

    @classmethod
    def from_dict(cls, options: Mapping | None) -> PreprocessOptions:
        """Options from a config mapping; an unknown key is an error that names it."""
        return options_from_dict(cls, options, "preprocessing")

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(picks=list(self.picks), notch_freqs=list(self.notch_freqs),
                   baseline=None if self.baseline is None else list(self.baseline))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def prepare_raw(raw: mne.io.BaseRaw, options: PreprocessOptions, label: str) -> mne.io.BaseRaw:
    """Steps 1-2 of the module docstring, in place on a loaded run; returns ``raw``."""
    raw.pick(list(options.picks), exclude="bads" if options.exclude_bads else [], verbose="error")
    if not len(raw.ch_names):
        raise ValueError(f"recording {label!r}: no channel of type {list(options.picks)} is left "
                         f"(exclude_bads={options.exclude_bads})")
    nyquist = raw.info["sfreq"] / 2
    too_high = [f for f in (*options.notch_freqs, options.l_freq, options.h_freq) if f is not None and f >= nyquist]
    if too_high:
        raise ValueError(f"recording {label!r}: filter frequencies {too_high} Hz are not below the Nyquist "
                         f"frequency {nyquist:g} Hz of its {raw.info['sfreq']:g} Hz sampling")
    if options.notch_freqs:
        raw.notch_filter(list(options.notch_freqs), picks="all", verbose="error")
    if options.l_freq is not None or options.h_freq is not None:
        raw.filter(options.l_freq, options.h_freq, picks="all", verbose="error")
    return raw


def rejection_masks(data: np.ndarray, ch_types, reject: Mapping | None,
                    flat: Mapping | None) -> tuple[np.ndarray, np.ndarray]:
    """Epochs to reject by peak-to-peak amplitude.

    With ``ptp[e, c] = max_t x[e, c, t] - min_t x[e, c, t]`` over the whole epoch, epoch ``e`` is

    * too large if ``ptp[e, c] > reject[type(c)]`` for some channel ``c``,
    * flat if ``ptp[e, c] < flat[type(c)]`` for some channel ``c``,

    the rule of :class:`mne.Epochs` (``reject=``, ``flat=``). Channel types absent from the data
    are ignored.

    Parameters
    ----------
    data : array (n_epochs, n_channels, n_times), in the units of the thresholds
    ch_types : sequence of str (n_channels,)

    Returns
    -------
    too_large, too_flat : bool arrays (n_epochs,)
    """
    ptp = np.ptp(data, axis=-1)
    ch_types = np.asarray(ch_types)
    masks = []
    for thresholds, compare in ((reject, np.greater), (flat, np.less)):
        bad = np.zeros(data.shape[0], dtype=bool)
        for ch_type, threshold in (thresholds or {}).items():
            columns = ch_types == ch_type
            if columns.any():
                bad |= compare(ptp[:, columns], threshold).any(axis=1)
        masks.append(bad)
    return masks[0], masks[1]


@dataclass
class EpochedRun:
    """The kept epochs of one run.

    ``data`` (n_epochs, n_channels, n_times) in SI units; ``selection`` indexes the events given
    to :func:`epoch_run` that were kept; ``counts`` holds the numbers dropped by each reason;
    ``highpass``/``lowpass`` (Hz) are the data's filter edges and ``projectors`` the SSP
    projectors applied.
    """

    data: np.ndarray
    times: np.ndarray
    sfreq: float
    ch_names: list[str]
    ch_types: list[str]
    selection: np.ndarray
    counts: dict[str, int]
    highpass: float
    lowpass: float
    projectors: list[str]


def epoch_run(raw: mne.io.BaseRaw, samples: np.ndarray, options: PreprocessOptions, label: str) -> EpochedRun:
    """Steps 4-6 of the module docstring for the events at ``samples`` (on the raw's own sample
    axis, first sample included)."""
    if options.tmin is None or options.tmax is None:
        raise ValueError(f"recording {label!r}: preprocessing tmin and tmax (the epoch window, s) are required "
                         "for continuous recordings")
    samples = np.asarray(samples, dtype=np.int64)
    values, multiplicity = np.unique(samples, return_counts=True)
    repeated = values[multiplicity > 1]
    if repeated.size:
        raise ValueError(f"recording {label!r}: several trials start at the same sample(s) {repeated[:10].tolist()}")
    sfreq = raw.info["sfreq"]
    start, stop = int(round(options.tmin * sfreq)), int(round(options.tmax * sfreq))
    inside = (samples + start >= raw.first_samp) & (samples + stop <= raw.last_samp)
    counts = {"outside_recording": int((~inside).sum()), "annotation": 0, "amplitude": 0, "flat": 0}
    candidates = np.flatnonzero(inside)
    if not candidates.size:
        raise ValueError(f"recording {label!r}: no epoch window [{options.tmin}, {options.tmax}] s around its "
                         f"{samples.size} events fits inside the {raw.n_times / sfreq:g} s recording")
    events = np.column_stack([samples[candidates], np.zeros_like(candidates), np.ones_like(candidates)])
    epochs = mne.Epochs(raw, events, event_id={"trial": 1}, tmin=options.tmin, tmax=options.tmax,
                        baseline=options.baseline, reject_by_annotation=options.reject_by_annotation,
                        proj=options.apply_projectors, preload=True, verbose="error")
    counts["annotation"] = len(candidates) - len(epochs)
    selection = candidates[epochs.selection]
    if len(epochs):
        too_large, too_flat = rejection_masks(epochs.get_data(copy=False), epochs.get_channel_types(),
                                              options.reject, options.flat)
        counts["amplitude"], counts["flat"] = int(too_large.sum()), int(too_flat.sum())
        bad = too_large | too_flat
        epochs.drop(np.flatnonzero(bad), reason="PEAK_TO_PEAK", verbose="error")
        selection = selection[~bad]
    if options.decim > 1:
        check_decimation(epochs.info, options.decim, label)
        epochs.decimate(options.decim, verbose="error")
    info = epochs.info
    data = epochs.get_data(copy=False) if len(epochs) else np.empty((0, len(epochs.ch_names), epochs.times.size))
    return EpochedRun(data, epochs.times.copy(), info["sfreq"], list(epochs.ch_names),
                      list(epochs.get_channel_types()), selection, counts, float(info["highpass"]),
                      float(info["lowpass"]), [p["desc"] for p in info["projs"] if p["active"]])


def check_decimation(info, decim: int, label: str) -> None:
    """ValueError when the data's low-pass edge lies above the Nyquist frequency after decimation."""
    new_nyquist = info["sfreq"] / decim / 2
    if info["lowpass"] > new_nyquist:
        raise ValueError(f"recording {label!r}: decim={decim} gives {2 * new_nyquist:g} Hz sampling, but the data "
                         f"are low-passed at {info['lowpass']:g} Hz, above the new Nyquist frequency "
                         f"{new_nyquist:g} Hz (aliasing); set h_freq <= {new_nyquist:g}")
