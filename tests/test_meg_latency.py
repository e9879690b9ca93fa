"""End to end: simulate EEG driven by an early and a late layer of a small random network, read it
through the MEG stage, and recover each layer's latency by time-resolved RSA and encoding."""

import numpy as np
import pytest

from brainalign.brain.meg import meg_stage
from brainalign.brain.simulate_meg import simulate_meg
from brainalign.metrics.rdm import compute_rdm
from brainalign.metrics.time_resolved import peak_latency, time_resolved_encoding, time_resolved_rsa

PEAKS = {"early": 0.100, "late": 0.300}
TOLERANCE = 0.020  # s


def random_network(n_stimuli=40, seed=0):
    """Layer 1 and layer 3 of a random ReLU network on Gaussian inputs (their RDMs correlate ~0.5)."""
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((n_stimuli, 16))
    early = np.maximum(inputs @ rng.standard_normal((16, 48)), 0)
    hidden = np.maximum(early @ rng.standard_normal((48, 48)), 0)
    late = np.maximum(hidden @ rng.standard_normal((48, 48)), 0)
    return early, late


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    early, late = random_network()
    sim = simulate_meg(tmp_path_factory.mktemp("meg") / "sim", stimulus_ids=[f"img{i:02d}" for i in range(40)],
                       generators={"early": early, "late": late}, peak_times=PEAKS, width=0.03, montage="biosemi32",
                       sfreq=200.0, n_repeats=2, snr=1.0, seed=0)
    ds = meg_stage(sim.paths, stimulus_table=sim.stimulus_table, known_stimuli=sim.stimulus_table.values(),
                   preprocessing={"tmin": -0.1, "tmax": 0.5, "baseline": [None, 0.0], "notch_freqs": [50.0],
                                  "h_freq": 40.0},
                   average=True)
    return early, late, ds


def test_stage_output_of_the_simulation(study):
    _, _, ds = study
    assert ds.sizes == {"stimulus": 40, "unit": 32, "time": 121}
    assert (ds["n_trials"] == 2).all() and ds.attrs["n_rejected"] == 0
    assert list(ds["stimulus_id"].values) == [f"img{i:02d}" for i in range(40)]


def test_rsa_recovers_both_latencies_and_their_order(study):
    early, late, ds = study
    models = compute_rdm(np.stack([early, late]), "correlation")
    result = time_resolved_rsa(ds["data"].values, ds["time"].values, models, layers=["early", "late"],
                               rdm_method="correlation", compare_method="spearman", n_bootstrap=100,
                               latency_window=(0.0, 0.5), seed=0)
    latency = result["peak_latency"].to_series()
    for layer, truth in PEAKS.items():
        assert abs(latency[layer] - truth) <= TOLERANCE, (layer, latency[layer])
        low, high = result["peak_latency_ci_low"].sel(layer=layer), result["peak_latency_ci_high"].sel(layer=layer)
        assert low <= truth <= high
    assert latency["early"] < latency["late"]
    boot = result["peak_latency_bootstrap"]
    assert (boot.sel(layer="early") < boot.sel(layer="late")).mean() >= 0.9
    # at each layer's peak, that layer explains the brain RDM better than the other layer
    score = result["score"]
    assert score.sel(layer="early", time=0.1) > score.sel(layer="late", time=0.1)
    assert score.sel(layer="late", time=0.3) > score.sel(layer="early", time=0.3)
    # before the stimulus, nothing is explained: every baseline score is within the noise of 0
    assert abs(score.sel(time=slice(None, -0.02))).max() < 0.15


def test_encoding_recovers_both_latencies(study):
    early, late, ds = study
    times = ds["time"].values
    for layer, features in (("early", early), ("late", late)):
        result = time_resolved_encoding(features, ds["data"].values, times=times, outer_cv=5, inner_cv=5,
                                        alphas=np.logspace(-1, 5, 7))
        course = result["r"].mean(("fold", "unit")).values
        assert abs(peak_latency(course, times, latency_window=(0.0, 0.5)) - PEAKS[layer]) <= TOLERANCE
