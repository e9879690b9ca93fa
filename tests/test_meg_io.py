"""Reading MEG/EEG inputs (brainalign.brain.meg_io through meg_stage): the real MNE sample evoked
file in shared/data, raw formats dispatched by suffix (FIF, BrainVision, EDF), and BIDS datasets
read with mne-bids."""

import gzip
from collections import Counter

import mne
import numpy as np
import pytest

from brainalign.brain.meg import meg_stage
from brainalign.brain.meg_io import Recording, as_recordings, find_bids_recordings, is_evoked_file

SFREQ = 200.0
CONDITIONS = {"Left Auditory": "aud_l", "Right Auditory": "aud_r", "Left visual": "vis_l", "Right visual": "vis_r"}


@pytest.fixture(scope="module")
def evoked_gz(shared_data):
    return shared_data / "mne_evoked" / "test-ave.fif.gz"


@pytest.fixture(scope="module")
def evoked_path(evoked_gz, tmp_path_factory):
    """The same file decompressed: MNE seeks back and forth in a FIF, which costs seconds in gzip."""
    path = tmp_path_factory.mktemp("evoked") / "test-ave.fif"
    path.write_bytes(gzip.decompress(evoked_gz.read_bytes()))
    return path


def test_sample_evoked_channels_and_time_axis(evoked_gz, evoked_path):
    """README: 376 channels (204 grad, 102 mag, 60 EEG, 9 stim, 1 EOG), 421 samples at 600.615 Hz,
    -0.2 to 0.5 s, four conditions."""
    assert is_evoked_file(evoked_gz) and is_evoked_file(evoked_path)
    ds = meg_stage([evoked_gz], stimulus_table=CONDITIONS,
                   preprocessing={"picks": ["grad", "mag", "eeg", "stim", "eog"], "baseline": None})
    assert Counter(ds["ch_type"].values.tolist()) == {"grad": 204, "mag": 102, "eeg": 60, "stim": 9, "eog": 1}
    assert ds.sizes == {"stimulus": 4, "unit": 376, "time": 421}
    assert abs(ds.attrs["sfreq"] - 600.615) < 1e-3
    step = 1 / ds.attrs["sfreq"]
    assert abs(ds["time"].values[0] + 0.2) < step and abs(ds["time"].values[-1] - 0.5) < step
    np.testing.assert_allclose(np.diff(ds["time"].values), step, rtol=1e-6)
    assert list(ds["stimulus_id"].values) == sorted(CONDITIONS.values())
    reference = {e.comment: e for e in mne.read_evokeds(evoked_path, baseline=None, verbose="error")}
    assert list(ds["n_trials"].values) == [reference[c].nave for c in sorted(CONDITIONS, key=CONDITIONS.get)]
    left_auditory = reference["Left Auditory"]
    mag = [i for i, t in enumerate(left_auditory.get_channel_types()) if t == "mag"]
    got = ds["data"].sel(stimulus=0).values[ds["ch_type"].values == "mag"]
    np.testing.assert_allclose(got, left_auditory.data[mag] * 1e15, rtol=1e-5, atol=1e-3)  # fT
    assert list(ds["ch_name"].values[:3]) == ["MEG 0113", "MEG 0112", "MEG 0111"]
    assert ds.attrs["input_kind"] == "evoked" and "Average EEG reference" in ds.attrs["projectors"]


def test_sample_evoked_crop_baseline_and_bad_options(evoked_path):
    ds = meg_stage([evoked_path], stimulus_table=CONDITIONS,
                   preprocessing={"picks": ["meg"], "tmin": -0.1, "tmax": 0.3, "baseline": [None, 0.0]})
    assert ds.sizes["unit"] == 306 and ds["time"].values[0] >= -0.1 - 1e-9 and ds["time"].values[-1] <= 0.3 + 1e-9
    np.testing.assert_allclose(ds["data"].sel(time=slice(None, 0)).mean("time"), 0, atol=1e-2)
    with pytest.raises(ValueError, match="lies outside its time axis"):
        meg_stage([evoked_path], stimulus_table=CONDITIONS, preprocessing={"tmin": -0.5, "tmax": 0.3})
    with pytest.raises(ValueError, match="cannot apply to evoked files"):
        meg_stage([evoked_path], stimulus_table=CONDITIONS, preprocessing={"reject": {"mag": 4e-12}})
    with pytest.raises(ValueError, match="'Right visual' x1"):
        meg_stage([evoked_path], stimulus_table={k: v for k, v in CONDITIONS.items() if k != "Right visual"})


def test_sample_evoked_files_combine_by_trial_count(evoked_path, tmp_path):
    evokeds = mne.read_evokeds(evoked_path, baseline=None, verbose="error")
    split = tmp_path / "second-ave.fif"
    mne.write_evokeds(split, [evokeds[0]], verbose="error")
    table = {"Left Auditory": "aud_l", "Right Auditory": "aud_r"}
    ds = meg_stage([evoked_path, split], stimulus_table=table, preprocessing={"picks": ["mag"], "baseline": None},
                   events={"ignore": ["Left visual", "Right visual"]})
    assert list(ds["n_trials"].values) == [2 * evokeds[0].nave, evokeds[1].nave]
    np.testing.assert_allclose(ds["data"].values[0], evokeds[0].copy().apply_proj().pick("mag").data * 1e15,
                               rtol=1e-5, atol=1e-3)  # the mean of two copies is the copy


def _raw_with_annotations():
    rng = np.random.default_rng(0)
    names = ["Fz", "Cz", "Pz"]
    info = mne.create_info(names, SFREQ, "eeg")
    raw = mne.io.RawArray(rng.standard_normal((3, 2000)) * 1e-6, info, verbose="error")
    onsets = np.array([1.0, 2.5, 4.0, 5.5, 7.0])
    raw.set_annotations(mne.Annotations(onsets, 0.0, ["cat", "dog", "cat", "cow", "dog"]))
    return raw


@pytest.mark.parametrize("extension,prefix,atol", [("vhdr", "Comment/", 1e-6), ("edf", "", 1e-3)])
def test_formats_dispatch_on_suffix(tmp_path, extension, prefix, atol):
    pytest.importorskip({"vhdr": "pybv", "edf": "edfio"}[extension])
    raw = _raw_with_annotations()
    fif = tmp_path / "rec_raw.fif"
    raw.save(fif, verbose="error")
    other = tmp_path / f"rec.{extension}"
    mne.export.export_raw(other, raw, verbose="error")
    options = {"tmin": -0.1, "tmax": 0.4}
    reference = meg_stage([fif], preprocessing=options)
    table = {f"{prefix}{s}": s for s in ("cat", "dog", "cow")}
    ds = meg_stage([other], stimulus_table=table, preprocessing=options)
    assert list(ds["stimulus_id"].values) == ["cat", "dog", "cat", "cow", "dog"]
    assert list(ds["ch_name"].values) == ["Fz", "Cz", "Pz"] and ds.attrs["runs"] == ["rec"]
    np.testing.assert_allclose(ds["data"], reference["data"], atol=atol)  # µV; EDF stores 16-bit samples


def test_bids_dataset(tmp_path):
    mne_bids = pytest.importorskip("mne_bids")
    pytest.importorskip("pybv")  # BIDS EEG from FIF is written as BrainVision
    raw = _raw_with_annotations()
    raw.info["line_freq"] = 50.0
    fif = tmp_path / "source_raw.fif"
    raw.save(fif, verbose="error")
    root = tmp_path / "bids"
    for run in (1, 2):
        path = mne_bids.BIDSPath(subject="01", task="pics", run=run, datatype="eeg", root=root)
        mne_bids.write_raw_bids(mne.io.read_raw_fif(fif, verbose="error"), path, allow_preload=False,
                                format="BrainVision", verbose="error")
    recordings = find_bids_recordings(root, "01", datatype="eeg")
    assert [r.label for r in recordings] == ["task-pics_run-1", "task-pics_run-2"]
    ds = meg_stage(recordings, preprocessing={"tmin": -0.1, "tmax": 0.4})
    reference = meg_stage([fif], preprocessing={"tmin": -0.1, "tmax": 0.4})
    assert list(ds["run"].values) == ["task-pics_run-1"] * 5 + ["task-pics_run-2"] * 5
    assert list(ds["stimulus_id"].values[:5]) == list(reference["stimulus_id"].values)
    np.testing.assert_allclose(ds["data"].values[5:], reference["data"].values, atol=1e-5)
    with pytest.raises(ValueError, match="no eeg recording of subject '02'"):
        find_bids_recordings(root, "02", datatype="eeg")
    with pytest.raises(FileNotFoundError, match="not a BIDS dataset"):
        find_bids_recordings(tmp_path, "01")


def test_bad_recordings(tmp_path, evoked_path):
    with pytest.raises(FileNotFoundError, match="missing_raw.fif does not exist"):
        meg_stage([tmp_path / "missing_raw.fif"], preprocessing={"tmin": 0, "tmax": 1})
    odd = tmp_path / "data.xyz"
    odd.write_text("")
    with pytest.raises(ValueError, match="no MNE reader for data.xyz"):
        meg_stage([odd], preprocessing={"tmin": 0, "tmax": 1})
    raw = tmp_path / "a_raw.fif"
    _raw_with_annotations().save(raw, verbose="error")
    with pytest.raises(ValueError, match="mixes evoked files"):
        meg_stage([evoked_path, raw])
    with pytest.raises(ValueError, match=r"repeated: \['a_raw'\]"):
        as_recordings([raw, Recording(raw, "a_raw")])
    with pytest.raises(TypeError, match="paths or Recording"):
        as_recordings([3])
