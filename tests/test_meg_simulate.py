"""The EEG simulation (brainalign.brain.simulate_meg): seeding, the trigger schedule, the stimulus
geometry of noise-free patterns (closed form: pattern cosines equal feature correlations), the
noise level and the spatial noise model."""

import json

import mne
import numpy as np
import pandas as pd
import pytest

from brainalign.brain.meg import meg_stage
from brainalign.brain.simulate_meg import simulate_meg, spatial_noise_factor

IDS = [f"s{i:02d}" for i in range(12)]  # sorted order = index order


def low_rank_layers(seed=0):
    """Two layers of rank 6 (< 32 sensors, so the sensor mixture keeps their geometry exactly)."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((12, 6)) @ rng.standard_normal((6, 30)) for name in ("early", "late")}


def simulate(path, **overrides):
    options = {"stimulus_ids": IDS, "generators": low_rank_layers(), "peak_times": {"early": 0.1, "late": 0.3},
               "n_repeats": 2, "seed": 3, **overrides}
    return simulate_meg(path, **options)


def test_seeded_and_triggers_follow_the_table(tmp_path):
    first = simulate(tmp_path / "a", n_runs=2)
    again = simulate(tmp_path / "b", n_runs=2)
    other = simulate(tmp_path / "c", n_runs=2, seed=4)
    paths = (*first.paths, again.paths[0], other.paths[0])
    read = [mne.io.read_raw_fif(p, preload=True, verbose="error") for p in paths]
    np.testing.assert_array_equal(read[0].get_data(), read[2].get_data())
    assert read[0].n_times != read[3].n_times or not np.array_equal(read[0].get_data(), read[3].get_data())
    assert [p.name for p in first.paths] == ["run-1_raw.fif", "run-2_raw.fif"]
    table = pd.read_csv(tmp_path / "a" / "stimulus_table.tsv", sep="\t", dtype=str)
    expected = {str(i + 1): s for i, s in enumerate(IDS)}
    assert dict(zip(table["event"], table["stimulus_id"])) == first.stimulus_table == expected
    for raw in read[:2]:
        codes = mne.find_events(raw, verbose="error")[:, 2]
        assert sorted(codes) == sorted(list(range(1, 13)) * 2)  # every stimulus twice per run
        assert raw.get_channel_types().count("eeg") == 32 and raw.info["sfreq"] == 200.0
        assert raw.get_montage() is not None
    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert truth["peak_times"] == {"early": 0.1, "late": 0.3} and truth["seed"] == 3


def test_noise_free_patterns_keep_feature_geometry(tmp_path):
    sim = simulate(tmp_path / "sim", snr=1e6, line_amplitude=0.0, common_amplitude=0.0, n_repeats=1)
    ds = meg_stage(sim.paths, stimulus_table=sim.stimulus_table, average=True,
                   preprocessing={"tmin": 0.0, "tmax": 0.4, "baseline": None})
    layers = low_rank_layers()
    for name, peak in (("early", 0.1), ("late", 0.3)):
        patterns = ds["data"].sel(time=peak).values.astype(np.float64)
        unit = patterns / np.linalg.norm(patterns, axis=1, keepdims=True)
        np.testing.assert_allclose(unit @ unit.T, np.corrcoef(layers[name]), atol=1e-4)
    # the time course of a layer is a Gaussian of s.d. 30 ms around its peak
    early = ds["data"].sel(stimulus=0).values.astype(np.float64)
    ratio = np.linalg.norm(early[:, ds["time"].values == 0.13]) / np.linalg.norm(early[:, ds["time"].values == 0.1])
    assert abs(ratio - np.exp(-0.5)) < 1e-3


def test_noise_level_matches_snr(tmp_path):
    sim = simulate(tmp_path / "sim", snr=0.5, line_amplitude=0.0, n_repeats=4)
    raw = mne.io.read_raw_fif(sim.paths[0], preload=True, verbose="error")
    lead_in = raw.get_data("eeg")[:, : int(0.9 * 200)]  # before the first onset: noise only
    assert abs(lead_in.std() / (5e-6 / 0.5) - 1) < 0.15


def test_spatial_noise_factor_closed_form():
    positions = np.random.default_rng(0).standard_normal((6, 3)) * 0.05
    factor = spatial_noise_factor(positions, 0.05)
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    np.testing.assert_allclose(factor @ factor.T, np.exp(-distances / 0.05), atol=1e-12)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="peak_times"):
        simulate(tmp_path / "x", peak_times={"early": 0.1})
    with pytest.raises(ValueError, match=r"generators\['early'\]: 11 rows for 12 stimuli"):
        simulate(tmp_path / "x", generators={"early": np.ones((11, 3)), "late": np.ones((12, 3))})
    with pytest.raises(ValueError, match="line_freq"):
        simulate(tmp_path / "x", sfreq=90.0)
    with pytest.raises(ValueError, match="snr"):
        simulate(tmp_path / "x", snr=0)
    assert not (tmp_path / "x").exists()
