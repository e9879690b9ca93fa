"""Stage ``simulate``: write the simulated BIDS dataset of a study from its generating layers."""

from __future__ import annotations

import logging

import numpy as np

from .. import store
from ..brain.simulate import simulate_bids

log = logging.getLogger(__name__)


def run(spec: dict, *, stimuli, features: dict, out, seed: int) -> None:
    """Simulate the dataset ``spec`` (a ``datasets.<name>`` config entry with ``simulate``).

    ``features`` maps a model name to its features store; each ROI's generating layer is read
    from there, rows aligned to the stimulus set's order.
    """
    sim = spec["simulate"]
    stimulus_set = store.open_dataset(stimuli)
    ids = stimulus_set.stimulus_id.values.astype(str)
    generators = {}
    for roi, gen in sim["rois"].items():
        layer = store.open_dataset(features[gen["model"]], group=gen["layer"])
        if not np.array_equal(layer.stimulus_id.values.astype(str), ids):
            raise ValueError(f"{features[gen['model']]}: stimulus order differs from {stimuli}")
        generators[roi] = layer.features.values
        log.info("ROI %s driven by %s/%s (%d units)", roi, gen["model"], gen["layer"], layer.sizes["unit"])
    simulate_bids(out, stimulus_ids=ids, generators=generators, subjects=spec["subjects"],
                  task=spec["task"], n_runs=sim["runs"], n_repeats=sim["repeats"], tr=sim["tr"],
                  trial_interval=sim["trial_interval"], stimulus_duration=sim["stimulus_duration"],
                  jitter=sim["jitter"], snr=sim["snr"], grid=sim["grid"], roi_size=sim["roi_size"],
                  voxel_size=sim["voxel_size"], seed=seed, truth=sim["rois"])
