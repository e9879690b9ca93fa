"""The MEG/EEG stage (brainalign.brain.meg) on small FIF recordings written here: epochs against
MNE's own Epochs, rejection against MNE's reject/flat, averaging against pandas, and every bad
input (unknown events, windows outside the recording, all epochs rejected, mixed rates)."""

import json
import logging

import mne
import numpy as np
import pandas as pd
import pytest

from brainalign.brain.meg import average_trials, meg_stage
from brainalign.brain.meg_events import EventOptions, read_stimulus_table
from brainalign.brain.meg_preprocess import PreprocessOptions, prepare_raw, rejection_masks
from brainalign.store import open_dataset, write_dataset

SFREQ = 200.0
TYPES = ("eeg", "eeg", "mag")
SI = {"eeg": 1e-6, "mag": 1e-13}
TABLE = {1: "cat", 2: "dog", 3: "cow"}
WINDOW = {"tmin": -0.1, "tmax": 0.3}


def write_raw(path, *, events, n_samples=2400, sfreq=SFREQ, types=TYPES, seed=0, signal=None, bads=(),
              annotations=None):
    """A FIF recording: Gaussian noise (1 µV, 100 fT) plus ``signal(t)`` (n_channels, n_times) in SI
    units, a stim channel with 2-sample pulses at ``events`` [(sample, code)], optional annotations."""
    rng = np.random.default_rng(seed)
    names = [f"{t.upper()}{i:03d}" for i, t in enumerate(types)]
    data = rng.standard_normal((len(types), n_samples)) * np.array([SI[t] for t in types])[:, None]
    if signal is not None:
        data += signal(np.arange(n_samples) / sfreq)
    stim = np.zeros((1, n_samples))
    for sample, code in events:
        stim[0, sample:sample + 2] = code
    info = mne.create_info(names + ["STI 014"], sfreq, list(types) + ["stim"])
    info["bads"] = list(bads)
    raw = mne.io.RawArray(np.vstack([data, stim]), info, verbose="error")
    if annotations is not None:
        raw.set_annotations(annotations)
    raw.save(path, overwrite=True, verbose="error")
    return path


EVENTS = [(200, 1), (500, 2), (800, 3), (1100, 1), (1400, 2), (1700, 3), (2000, 1)]


@pytest.fixture
def raw_path(tmp_path):
    return write_raw(tmp_path / "run-1_raw.fif", events=EVENTS)


def test_epochs_match_mne_epochs(raw_path):
    ds = meg_stage([raw_path], stimulus_table=TABLE, preprocessing=WINDOW)
    raw = mne.io.read_raw_fif(raw_path, preload=True, verbose="error")
    events = mne.find_events(raw, verbose="error")
    reference = mne.Epochs(raw.copy().pick("data"), events, tmin=-0.1, tmax=0.3, baseline=(None, 0),
                           preload=True, verbose="error")
    scale = np.array([1e6, 1e6, 1e15])[None, :, None]  # µV, µV, fT
    assert ds["data"].dims == ("trial", "unit", "time") and ds["data"].dtype == np.float32
    np.testing.assert_allclose(ds["data"].values, reference.get_data() * scale, rtol=1e-5, atol=1e-5)
    assert list(ds["stimulus_id"].values) == [TABLE[c] for _, c in EVENTS]
    np.testing.assert_allclose(ds["onset"], [s / SFREQ for s, _ in EVENTS])
    assert set(ds["run"].values) == {"run-1_raw"}
    assert list(ds["ch_type"].values) == list(TYPES) and list(ds["ch_unit"].values) == ["µV", "µV", "fT"]
    np.testing.assert_allclose(ds["time"], np.arange(-20, 61) / SFREQ, atol=1e-12)
    baseline = ds["data"].sel(time=slice(None, 0)).mean("time")
    np.testing.assert_allclose(baseline, 0, atol=1e-4)  # baseline-corrected, in µV / fT (noise ~1, 100)
    assert ds.attrs["sfreq"] == SFREQ and ds.attrs["n_rejected"] == 0 and ds.attrs["n_events"] == 7
    assert json.loads(ds.attrs["event_sources"]) == {"run-1_raw": "stim"}


def test_annotations_give_the_same_epochs(tmp_path, raw_path):
    onsets = np.array([s for s, _ in EVENTS]) / SFREQ
    labels = [TABLE[c] for _, c in EVENTS]
    annotated = write_raw(tmp_path / "annot_raw.fif", events=[], annotations=mne.Annotations(
        list(onsets) + [0.2], [0.0] * 7 + [0.5], labels + ["BAD_blink"]))
    by_stim = meg_stage([raw_path], stimulus_table=TABLE, preprocessing={**WINDOW, "reject_by_annotation": False})
    by_annotation = meg_stage([annotated], preprocessing={**WINDOW, "reject_by_annotation": False})
    assert json.loads(by_annotation.attrs["event_sources"]) == {"annot_raw": "annotations"}
    assert list(by_annotation["stimulus_id"].values) == list(by_stim["stimulus_id"].values)
    np.testing.assert_array_equal(by_annotation["data"], by_stim["data"])  # same noise seed
    # the first epoch [0.9, 1.3] s misses the BAD span [0.2, 0.7] s; a BAD span over it drops it
    covered = write_raw(tmp_path / "bad_raw.fif", events=EVENTS, annotations=mne.Annotations([0.95], [0.1], ["BAD_"]))
    ds = meg_stage([covered], stimulus_table=TABLE, preprocessing=WINDOW)
    assert ds.attrs["n_rejected_annotation"] == 1 and ds.sizes["trial"] == 6 and ds.attrs["n_rejected"] == 1


def test_unknown_events_are_named_or_dropped(tmp_path):
    path = write_raw(tmp_path / "run-1_raw.fif", events=EVENTS + [(2200, 9)])
    with pytest.raises(ValueError, match=r"run-1_raw: '9' x1"):
        meg_stage([path], stimulus_table=TABLE, preprocessing=WINDOW)
    dropped = meg_stage([path], stimulus_table=TABLE, preprocessing=WINDOW, drop_unknown=True)
    assert dropped.attrs["n_dropped_unknown_events"] == 1 and dropped.attrs["dropped_unknown_events"] == ["9"]
    assert dropped.sizes["trial"] == 7
    ignored = meg_stage([path], stimulus_table=TABLE, preprocessing=WINDOW, events={"ignore": [9]})
    assert ignored.attrs["n_ignored_events"] == 1 and ignored.attrs["n_dropped_unknown_events"] == 0
    with pytest.raises(ValueError, match="'3' x2"):  # "cow" is not a known stimulus
        meg_stage([path], stimulus_table=TABLE, known_stimuli=["cat", "dog"], preprocessing=WINDOW,
                  events={"ignore": ["9"]})
    with pytest.raises(ValueError, match="no event of any recording"):
        meg_stage([path], stimulus_table={7: "x"}, preprocessing=WINDOW, drop_unknown=True)


def test_stimulus_table_file(tmp_path, raw_path):
    table = tmp_path / "table.tsv"
    pd.DataFrame({"event": ["1", "2", "3"], "stimulus_id": ["cat", "dog", "cow"]}).to_csv(table, sep="\t", index=False)
    assert read_stimulus_table(table) == {"1": "cat", "2": "dog", "3": "cow"}
    from_file = meg_stage([raw_path], stimulus_table=table, preprocessing=WINDOW)
    assert list(from_file["stimulus_id"].values) == [TABLE[c] for _, c in EVENTS]
    pd.DataFrame({"event": ["1", "1"], "stimulus_id": ["a", "b"]}).to_csv(table, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"\['1'\] appear more than once"):
        read_stimulus_table(table)


def test_windows_outside_the_recording(tmp_path, caplog):
    path = write_raw(tmp_path / "run-1_raw.fif", events=EVENTS + [(2350, 2)])  # 0.25 s before the end
    with caplog.at_level(logging.INFO, logger="brainalign.brain.meg"):
        ds = meg_stage([path], stimulus_table=TABLE, preprocessing=WINDOW)
    assert ds.attrs["n_dropped_outside_recording"] == 1 and ds.sizes["trial"] == 7
    assert "1 outside the recording" in caplog.text
    with pytest.raises(ValueError, match=r"no epoch window \[-0.1, 20.0\] s .* fits inside the 12 s recording"):
        meg_stage([path], stimulus_table=TABLE, preprocessing={"tmin": -0.1, "tmax": 20.0})
    with pytest.raises(ValueError, match="tmin and tmax .* are required"):
        meg_stage([path], stimulus_table=TABLE)


def test_rejection_matches_mne(tmp_path):
    def artefacts(t):
        out = np.zeros((3, t.size))
        out[0, (t > 2.6) & (t < 2.62)] = 80e-6      # EEG spike in the 2nd epoch (onset 2.5 s)
        out[2, (t > 5.6) & (t < 5.62)] = -5e-12     # MAG jump in the 4th (onset 5.5 s)
        return out
    path = write_raw(tmp_path / "run-1_raw.fif", events=[(s, c) for s, c in EVENTS], signal=artefacts)
    flat_at = (1400 - 20, 1400 + 61)  # make the 5th epoch (onset 7.0 s) flat on EEG001
    raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
    raw._data[1, flat_at[0]:flat_at[1]] = 0.0
    raw.save(path, overwrite=True, verbose="error")
    reject, flat = {"eeg": 40e-6, "mag": 3e-12}, {"eeg": 1e-7}
    ds = meg_stage([path], stimulus_table=TABLE, preprocessing={**WINDOW, "reject": reject, "flat": flat})
    reference = mne.Epochs(raw.copy().pick("data"), mne.find_events(raw, verbose="error"), tmin=-0.1, tmax=0.3,
                           baseline=(None, 0), reject=reject, flat=flat, preload=True, verbose="error")
    np.testing.assert_allclose(ds["onset"], reference.events[:, 0] / SFREQ)
    assert ds.sizes["trial"] == 4
    assert (ds.attrs["n_rejected"], ds.attrs["n_rejected_amplitude"], ds.attrs["n_rejected_flat"]) == (3, 2, 1)


def test_rejection_masks_rule():
    data = np.zeros((3, 2, 5))
    data[0, 0, 2] = 5.0          # ptp 5 on channel 0 (eeg)
    data[1, 1] = np.arange(5)    # ptp 4 on channel 1 (mag)
    data[2] += np.arange(5)      # ptp 4 everywhere
    too_large, too_flat = rejection_masks(data, ["eeg", "mag"], {"eeg": 4.5, "grad": 1.0}, {"mag": 0.5})
    np.testing.assert_array_equal(too_large, [True, False, False])
    np.testing.assert_array_equal(too_flat, [True, False, False])  # epoch 0 has a flat mag channel


def test_all_epochs_rejected_is_an_error(raw_path):
    with pytest.raises(ValueError, match=r"all 7 epochs were dropped or rejected: .* 7 above reject="):
        meg_stage([raw_path], stimulus_table=TABLE, preprocessing={**WINDOW, "reject": {"eeg": 1e-9}})


def _slow_signal(t):
    return 3e-6 * np.vstack([np.sin(2 * np.pi * 3 * t), np.cos(2 * np.pi * 7 * t), 1e-7 * np.sin(2 * np.pi * 5 * t)])


def test_mixed_sampling_rates(tmp_path):
    quiet = {"eeg": 1e-12, "mag": 1e-19}
    SI.update(quiet)  # near noise-free, so both runs sample the same slow signal
    try:
        first = write_raw(tmp_path / "a_raw.fif", events=EVENTS, signal=_slow_signal)
        second = write_raw(tmp_path / "b_raw.fif", events=[(s * 5 // 4, c) for s, c in EVENTS], sfreq=250.0,
                           n_samples=3000, signal=_slow_signal)
    finally:
        SI.update({"eeg": 1e-6, "mag": 1e-13})
    with pytest.raises(ValueError, match=r"a_raw: 200 Hz, b_raw: 250 Hz"):
        meg_stage([first, second], stimulus_table=TABLE, preprocessing=WINDOW)
    ds = meg_stage([first, second], stimulus_table=TABLE, preprocessing={**WINDOW, "on_mixed_sfreq": "resample"})
    assert ds.attrs["sfreq"] == 200.0 and ds.attrs["resampled"]
    assert json.loads(ds.attrs["original_sfreq"]) == {"a_raw": 200.0, "b_raw": 250.0}
    a, b = ds["data"].values[:7], ds["data"].values[7:]
    np.testing.assert_allclose(b, a, atol=0.01 * np.abs(a).max())  # same signal, same event times
    np.testing.assert_allclose(ds["onset"].values[7:], ds["onset"].values[:7])
    resampled = meg_stage([first], stimulus_table=TABLE, preprocessing={**WINDOW, "resample_sfreq": 100.0})
    assert resampled.attrs["sfreq"] == 100.0 and resampled.sizes["time"] == 41


def test_decimation_keeps_time_zero_and_refuses_aliasing(raw_path):
    full = meg_stage([raw_path], stimulus_table=TABLE, preprocessing={**WINDOW, "h_freq": 20.0})
    decimated = meg_stage([raw_path], stimulus_table=TABLE, preprocessing={**WINDOW, "h_freq": 20.0, "decim": 4})
    assert decimated.attrs["sfreq"] == 50.0 and 0.0 in decimated["time"].values
    np.testing.assert_array_equal(decimated["data"], full["data"].sel(time=decimated["time"]))
    with pytest.raises(ValueError, match="aliasing"):
        meg_stage([raw_path], stimulus_table=TABLE, preprocessing={**WINDOW, "decim": 4})


def test_filters_remove_line_noise(tmp_path):
    def line(t):
        return np.vstack([20e-6 * np.sin(2 * np.pi * 50 * t)] * 2 + [2e-12 * np.sin(2 * np.pi * 50 * t)])
    path = write_raw(tmp_path / "run-1_raw.fif", events=EVENTS, signal=line)
    raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
    before = np.abs(np.fft.rfft(raw.get_data("data"), axis=1))
    options = PreprocessOptions(notch_freqs=[50.0], l_freq=0.5, h_freq=40.0)
    after = np.abs(np.fft.rfft(prepare_raw(raw, options, "run").get_data(), axis=1))
    bin50 = int(50 * raw.n_times / SFREQ)
    assert (after[:, bin50] < before[:, bin50] / 100).all()
    assert raw.info["highpass"] == 0.5 and raw.info["lowpass"] == 40.0
    with pytest.raises(ValueError, match="not below the Nyquist"):
        prepare_raw(mne.io.read_raw_fif(path, preload=True, verbose="error"), PreprocessOptions(h_freq=120.0), "run")


def test_channels_missing_in_a_run_are_dropped(tmp_path):
    first = write_raw(tmp_path / "a_raw.fif", events=EVENTS)
    second = write_raw(tmp_path / "b_raw.fif", events=EVENTS, seed=1, bads=["EEG001"])
    ds = meg_stage([first, second], stimulus_table=TABLE, preprocessing=WINDOW)
    assert list(ds["ch_name"].values) == ["EEG000", "MAG002"] and ds.attrs["dropped_channels"] == ["EEG001"]
    assert list(ds["run"].values) == ["a_raw"] * 7 + ["b_raw"] * 7
    only_eeg = meg_stage([first], stimulus_table=TABLE, preprocessing={**WINDOW, "picks": ["eeg"]})
    assert list(only_eeg["ch_type"].values) == ["eeg", "eeg"]


def test_average_trials_matches_pandas(tmp_path, raw_path):
    second = write_raw(tmp_path / "b_raw.fif", events=EVENTS, seed=3)
    trials = meg_stage([raw_path, second], stimulus_table=TABLE, preprocessing=WINDOW)
    averaged = meg_stage([raw_path, second], stimulus_table=TABLE, preprocessing=WINDOW, average=True)
    assert averaged["data"].dims == ("stimulus", "unit", "time") and averaged.attrs["averaged"]
    flat = pd.DataFrame(trials["data"].values.reshape(14, -1)).groupby(trials["stimulus_id"].values).mean()
    assert list(averaged["stimulus_id"].values) == list(flat.index) == ["cat", "cow", "dog"]
    np.testing.assert_allclose(averaged["data"].values.reshape(3, -1), flat.to_numpy(), rtol=1e-5, atol=1e-6)
    assert list(averaged["n_trials"].values) == [6, 4, 4]
    np.testing.assert_array_equal(average_trials(trials)["data"], averaged["data"])
    assert list(averaged["ch_name"].values) == list(trials["ch_name"].values)
    with pytest.raises(ValueError, match="'trial' dimension"):
        average_trials(averaged)


def test_store_round_trip(tmp_path, raw_path):
    ds = meg_stage([raw_path], stimulus_table=TABLE, preprocessing=WINDOW)
    out = write_dataset(tmp_path / "sub-01_meg.zarr", ds, stage="meg", params={"preprocessing": WINDOW})
    back = open_dataset(out)
    np.testing.assert_array_equal(back["data"], ds["data"])
    for coord in ("stimulus_id", "run", "ch_name", "ch_type", "ch_unit"):
        assert list(back[coord].values) == list(ds[coord].values)
    np.testing.assert_array_equal(back["time"], ds["time"])
    assert back.attrs["n_rejected"] == 0 and back.attrs["dropped_channels"] == []


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"unknown preprocessing option\(s\) \['lowpass'\]"):
        PreprocessOptions.from_dict({"lowpass": 40})
    with pytest.raises(ValueError, match="tmin < tmax"):
        PreprocessOptions(tmin=0.5, tmax=0.1)
    with pytest.raises(ValueError, match="baseline"):
        PreprocessOptions(tmin=0.0, tmax=0.5, baseline=(-0.2, 0.0))
    with pytest.raises(ValueError, match="unknown channel type 'megs'"):
        PreprocessOptions(reject={"megs": 1e-12})
    with pytest.raises(ValueError, match="decim or resample_sfreq"):
        PreprocessOptions(decim=2, resample_sfreq=100.0)
    with pytest.raises(ValueError, match="picks"):
        PreprocessOptions(picks=["brain"])
    with pytest.raises(ValueError, match="l_freq=40 must be below h_freq=1"):
        PreprocessOptions(l_freq=40, h_freq=1)
    with pytest.raises(ValueError, match=r"unknown events option\(s\) \['channel'\]"):
        EventOptions.from_dict({"channel": "STI 014"})
    with pytest.raises(ValueError, match="source"):
        EventOptions(source="tsv")
    assert PreprocessOptions.from_dict(PreprocessOptions(tmin=-0.1, tmax=0.2).to_dict()) == \
        PreprocessOptions(tmin=-0.1, tmax=0.2)


def test_missing_stim_channel_and_annotations(tmp_path):
    info = mne.create_info(["EEG000"], SFREQ, ["eeg"])
    path = tmp_path / "nostim_raw.fif"
    mne.io.RawArray(np.zeros((1, 400)), info, verbose="error").save(path, verbose="error")
    with pytest.raises(ValueError, match="nostim_raw.*stim channel"):
        meg_stage([path], preprocessing=WINDOW)
    with pytest.raises(ValueError, match="nostim_raw.*no annotations"):
        meg_stage([path], preprocessing=WINDOW, events={"source": "annotations"})
