"""A simulated EEG study with known latencies, written as continuous MNE Raw FIF files.

Each model layer ``l`` drives the sensors with its own spatial pattern and latency. For the
features ``F_l`` (n_stimuli, n_units) of layer ``l``, the response to stimulus ``s`` at sensor
``c`` and time ``tau`` after the stimulus onset is

    x_s(c, tau) = A [ sum_l g_l(tau) P_l[s, c]  +  e (sum_l g_l(tau)) a_c ],
    g_l(tau) = exp(-(tau - mu_l)^2 / (2 w^2)),

with ``P_l`` a random linear mixture of the layer's centred features that keeps their Gram
matrix (:func:`brainalign.brain.simulate.roi_responses`, unit overall s.d.), so the sensor
patterns of layer ``l`` have the stimulus geometry of ``F_l``; ``mu_l`` the layer's peak latency
(s), ``w`` the width (s.d., s) of its Gaussian time course; ``a`` (unit s.d.) a response common
to every stimulus (the evoked potential) of relative size ``e``; ``A`` the amplitude in volts.

Every trial adds its stimulus's response at its onset to continuous noise:

    n(t) = A sigma [ sqrt(1 - f) L z(t) + sqrt(f) u(t) ]  +  A b sin(2 pi f_line t + phi_c),

where ``z`` is unit-variance AR(1) noise per channel with time constant ``noise_timescale``
(coefficient ``exp(-1 / (sfreq * noise_timescale))``), ``L`` a square root of the spatial
correlation ``C_ij = exp(-d_ij / noise_length)`` between sensors ``d_ij`` metres apart on the
montage, ``u`` white noise, ``f = white_fraction``, ``sigma = 1 / snr`` and ``b`` the line noise
size. So ``snr`` is the s.d. (over stimuli and channels) of a layer's stimulus-specific response
at its peak over the s.d. of the broadband noise of one sample.

Sensors are the electrodes of one of MNE's bundled montages (``biosemi32`` by default), with
their positions. Each run shows every stimulus ``n_repeats`` times in random order, one onset
every ``trial_interval`` + U(0, ``jitter``) s; the trigger channel ``STI 014`` holds the code of
the stimulus (its 1-based index in ``stimulus_ids``) for 10 ms at each onset. Written: one
``run-<k>_raw.fif`` per run, ``stimulus_table.tsv`` (``event`` code -> ``stimulus_id``), and
``truth.json`` (settings and peak latencies).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ..store import atomic_directory
from .simulate import roi_responses

__all__ = ["SimulatedMeg", "simulate_meg", "spatial_noise_factor", "stimulus_responses"]

STIM_CHANNEL = "STI 014"
LEAD_IN = 1.0  # s of recording before the first onset and after the last response


@dataclass(frozen=True)
class SimulatedMeg:
    """Paths of the written runs, the stimulus table (trigger code -> stimulus id) and the truth."""

    paths: list[Path]
    stimulus_table: dict[str, str]
    truth: dict


def stimulus_responses(patterns: Mapping[str, np.ndarray], peak_times: Mapping[str, float], width: float,
                       common: np.ndarray, common_amplitude: float, times: np.ndarray) -> np.ndarray:
    """Noise-free responses ``x_s(c, tau) / A`` (n_stimuli, n_channels, n_times) at ``times`` (s
    after onset) from each layer's sensor patterns (n_stimuli, n_channels) and the common pattern."""
    profiles = {name: np.exp(-((times - peak_times[name]) ** 2) / (2 * width**2)) for name in patterns}
    total = sum(profiles.values())
    out = common_amplitude * common[None, :, None] * total[None, None, :]
    for name, pattern in patterns.items():
        out = out + pattern[:, :, None] * profiles[name][None, None, :]
    return out


def spatial_noise_factor(positions: np.ndarray, length: float) -> np.ndarray:
    """``L`` (n_channels, n_channels) with ``L L^T = C``, ``C_ij = exp(-||p_i - p_j|| / length)``."""
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    values, vectors = np.linalg.eigh(np.exp(-distances / length))
    return vectors * np.sqrt(np.clip(values, 0, None))


def _check(stimulus_ids, generators, peak_times, width, snr, white_fraction, sfreq, line_freq, n_repeats, n_runs):
    if not generators:
        raise ValueError("generators: give at least one layer's features")
    missing = sorted(set(generators) ^ set(peak_times))
    if missing:
        raise ValueError(f"peak_times: layers {missing} are not in both generators and peak_times")
    for name, features in generators.items():
        if np.shape(features)[0] != len(stimulus_ids):
            raise ValueError(f"generators[{name!r}]: {np.shape(features)[0]} rows for {len(stimulus_ids)} stimuli")
    if len(set(stimulus_ids)) != len(stimulus_ids):
        raise ValueError("stimulus_ids: must be distinct")
    for name, value in (("width", width), ("snr", snr), ("sfreq", sfreq)):
        if not value > 0:
            raise ValueError(f"{name}={value!r} must be positive")
    if not 0 <= white_fraction <= 1:
        raise ValueError(f"white_fraction={white_fraction!r} must lie in [0, 1]")
    if line_freq is not None and not 0 < line_freq < sfreq / 2:
        raise ValueError(f"line_freq={line_freq!r} must lie below the Nyquist frequency {sfreq / 2:g} Hz")
    for name, value in (("n_repeats", n_repeats), ("n_runs", n_runs)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")


def _noise(n_samples, factor, sfreq, timescale, white_fraction, rng) -> np.ndarray:
    """(n_channels, n_samples) unit-variance noise: spatially correlated AR(1) plus white."""
    n_channels = factor.shape[0]
    phi = np.exp(-1.0 / (sfreq * timescale))
    coloured = lfilter([np.sqrt(1 - phi**2)], [1, -phi], rng.standard_normal((n_channels, n_samples)), axis=1)
    correlated = factor @ coloured
    return np.sqrt(1 - white_fraction) * correlated + np.sqrt(white_fraction) * rng.standard_normal(correlated.shape)


def simulate_meg(out_dir, *, stimulus_ids: Sequence[str], generators: Mapping[str, np.ndarray],
                 peak_times: Mapping[str, float], width: float = 0.03, montage: str = "biosemi32",
                 sfreq: float = 200.0, n_runs: int = 1, n_repeats: int = 2, snr: float = 1.0,
                 white_fraction: float = 0.5, noise_length: float = 0.05, noise_timescale: float = 0.05,
                 common_amplitude: float = 1.0, line_freq: float | None = 50.0, line_amplitude: float = 0.5,
                 amplitude: float = 5e-6, trial_interval: float = 0.8, jitter: float = 0.2,
                 seed: int = 0) -> SimulatedMeg:
    """Write a simulated EEG study at ``out_dir`` (atomically; see the module docstring).

    Parameters
    ----------
    stimulus_ids : sequence of str
    generators : mapping layer name -> features (n_stimuli, n_units), rows in stimulus order
    peak_times : mapping layer name -> peak latency of its response (s)
    width : s.d. of each layer's Gaussian time course (s)
    montage : name of a bundled montage (:func:`mne.channels.make_standard_montage`)
    sfreq : sampling rate (Hz)
    n_runs, n_repeats : runs, and presentations of every stimulus per run
    snr, white_fraction, noise_length, noise_timescale, line_freq, line_amplitude : noise model
    common_amplitude : size of the response shared by all stimuli, relative to a layer's
    amplitude : ``A``, volts
    trial_interval, jitter : onset spacing (s)
    seed : int
    """
    stimulus_ids = [str(s) for s in stimulus_ids]
    _check(stimulus_ids, generators, peak_times, width, snr, white_fraction, sfreq, line_freq, n_repeats, n_runs)
    layout = mne.channels.make_standard_montage(montage)
    ch_names = list(layout.ch_names)
    positions = np.array([layout.get_positions()["ch_pos"][n] for n in ch_names])
    rng = np.random.default_rng(seed)
    patterns = {name: roi_responses(generators[name], len(ch_names), rng) for name in generators}
    common = rng.standard_normal(len(ch_names))
    response_times = np.arange(int(np.ceil((max(peak_times.values()) + 5 * width) * sfreq))) / sfreq
    responses = amplitude * stimulus_responses(patterns, peak_times, width, common / common.std(),
                                               common_amplitude, response_times)
    factor = spatial_noise_factor(positions, noise_length)
    pulse = max(2, int(round(0.01 * sfreq)))
    table = {str(i + 1): s for i, s in enumerate(stimulus_ids)}
    info = mne.create_info(ch_names + [STIM_CHANNEL], sfreq, ["eeg"] * len(ch_names) + ["stim"])
    info.set_montage(layout)
    if line_freq is not None:
        info["line_freq"] = float(line_freq)
    paths = []
    with atomic_directory(out_dir) as tmp:
        tmp.mkdir()
        for run in range(1, n_runs + 1):
            order = rng.permutation(np.repeat(np.arange(len(stimulus_ids)), n_repeats))
            gaps = trial_interval + rng.uniform(0, jitter, order.size)
            onsets = np.round((LEAD_IN + np.r_[0.0, np.cumsum(gaps[:-1])]) * sfreq).astype(int)
            n_samples = onsets[-1] + response_times.size + int(LEAD_IN * sfreq)
            eeg = amplitude / snr * _noise(n_samples, factor, sfreq, noise_timescale, white_fraction, rng)
            if line_freq is not None:
                phases = rng.uniform(0, 2 * np.pi, (len(ch_names), 1))
                clock = np.arange(n_samples) / sfreq
                eeg += amplitude * line_amplitude * np.sin(2 * np.pi * line_freq * clock + phases)
            stim = np.zeros((1, n_samples))
            for stimulus, onset in zip(order, onsets):
                eeg[:, onset:onset + response_times.size] += responses[stimulus]
                stim[0, onset:onset + pulse] = stimulus + 1
            raw = mne.io.RawArray(np.vstack([eeg, stim]), info, verbose="error")
            path = tmp / f"run-{run}_raw.fif"
            raw.save(path, verbose="error")
            paths.append(Path(out_dir) / path.name)
        pd.DataFrame({"event": list(table), "stimulus_id": list(table.values())}).to_csv(
            tmp / "stimulus_table.tsv", sep="\t", index=False)
        truth = {"peak_times": {k: float(v) for k, v in peak_times.items()}, "width": width, "snr": snr,
                 "white_fraction": white_fraction, "montage": montage, "sfreq": sfreq, "n_runs": n_runs,
                 "n_repeats": n_repeats, "line_freq": line_freq, "amplitude": amplitude, "seed": seed}
        (tmp / "truth.json").write_text(json.dumps(truth, indent=2))
    return SimulatedMeg(paths, table, truth)
