"""Stage ``simulate_meg``: one subject's simulated EEG runs (raw FIF, trigger channel, stimulus table).

The runs are written as a real recording would be (:func:`brainalign.brain.simulate_meg.simulate_meg`),
so the ``meg`` stage reads them through the same path as real data. Each layer of
``simulate_meg.layers`` drives the sensors at its ``latency``. Subjects differ in sensor patterns
and noise: subject ``i`` (its position in ``subjects``) is simulated with the seed
``SeedSequence([seed, i]).generate_state(1)[0]``.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import store
from ..brain.simulate_meg import simulate_meg
from ._align import layer_rows

log = logging.getLogger(__name__)


def subject_seed(seed: int, subjects: list[str], subject: str) -> int:
    """The simulation seed of one subject (module docstring)."""
    if subject not in subjects:
        raise ValueError(f"subject {subject!r} is not one of the dataset's subjects {subjects}")
    return int(np.random.SeedSequence([seed, subjects.index(subject)]).generate_state(1)[0])


def run(spec: dict, *, stimuli, features: dict, subject: str, out, seed: int) -> None:
    """Simulate ``subject`` of the dataset ``spec`` (a ``datasets.<name>`` entry with ``simulate_meg``).

    ``features`` maps a model name to its features store; each driving layer's rows are taken in
    the stimulus set's order.
    """
    sim = spec["simulate_meg"]
    ids = store.open_dataset(stimuli).stimulus_id.values.astype(str)
    generators, peaks = {}, {}
    for label, gen in sim["layers"].items():
        generators[label] = layer_rows(features[gen["model"]], gen["layer"], ids)
        peaks[label] = gen["latency"]
        log.info("%s: %s/%s (%d units) peaks at %g s", label, gen["model"], gen["layer"],
                 generators[label].shape[1], gen["latency"])
    # every other key of the section (config.MEG_SIMULATION_DEFAULTS) is a simulate_meg option
    options = {k: v for k, v in sim.items() if k not in ("layers", "runs", "repeats")}
    simulate_meg(out, stimulus_ids=ids, generators=generators, peak_times=peaks, n_runs=sim["runs"],
                 n_repeats=sim["repeats"], seed=subject_seed(seed, list(spec["subjects"]), subject), **options)
