"""Stage ``simulate_behaviour``: write simulated odd-one-out triplets of a ``modality: behaviour``
dataset as a real triplet file (:func:`brainalign.behaviour_io.write_triplets`), drawn from the
generating layer by :func:`brainalign.behaviour_simulate.simulate_triplets`; the ``behaviour``
stage reads it back like real data."""

from __future__ import annotations

import logging

from ..behaviour_io import write_triplets
from ..behaviour_simulate import simulate_triplets
from ._align import layer_rows
from .. import store

log = logging.getLogger(__name__)


def run(spec: dict, *, stimuli, features, out, seed: int) -> None:
    """Simulate the dataset ``spec`` (its ``simulate_behaviour``) from ``features`` (the generating
    model's store) over the stimuli of ``stimuli``; write the TSV ``out``."""
    sim = spec["simulate_behaviour"]
    ids = store.open_dataset(stimuli).stimulus_id.values.astype(str)
    x = layer_rows(features, sim["layer"], ids)
    items, odd, subject = simulate_triplets(x, n_triplets=sim["n_triplets"], repeats=sim["repeats"],
                                            temperature=sim["temperature"], dims=sim["dims"],
                                            seed=[seed, sim["seed"]])
    write_triplets(out, items, odd, subject)
    log.info("%d triplets x %d simulated people from %s/%s (temperature %g)", sim["n_triplets"], sim["repeats"],
             sim["model"], sim["layer"], sim["temperature"])
