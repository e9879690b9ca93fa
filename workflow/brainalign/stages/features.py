"""Stage ``features``: activations of one model's layers on one stimulus set, streamed to a store.

A thin wrapper of :func:`brainalign.models.extract.extract_features`: batches are written as
they come, and a killed run started again resumes from its last complete batch. Models without
a network (sources ``table`` and ``random``, :mod:`brainalign.models.table`) are written at once.
Every layer group carries the stimulus set's coordinates on ``stimulus`` (category, ...).
"""

from __future__ import annotations

import xarray as xr

from .. import store
from ..models import table
from ..models.extract import extract_features
from ..models.spec import validate_spec
from ..stimuli import stimulus_coords


def run(spec: dict, *, stimuli, out, seed: int) -> None:
    """Extract the layers that ``spec`` (a ``models.<name>`` config entry) names to ``out``."""
    if spec["source"] in table.SOURCES:
        stimulus_set = store.open_dataset(stimuli)
        groups, attrs = table.fixed_features(validate_spec(spec), stimulus_set.stimulus_id.values)
        groups = {layer: ds.assign_coords(stimulus_coords(stimulus_set)) for layer, ds in groups.items()}
        store.write_tree(out, groups, stage="features", params=spec, inputs=[stimuli], seed=seed,
                         root=xr.Dataset(attrs=attrs))
        return
    extract_features(spec, store.open_dataset(stimuli), out, params=spec, inputs=[stimuli], seed=seed)
