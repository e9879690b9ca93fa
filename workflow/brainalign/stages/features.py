"""Stage ``features``: activations of one model's layers on one stimulus set, streamed to a store.

A thin wrapper of :func:`brainalign.models.extract.extract_features`: batches are written as
they come, and a killed run started again resumes from its last complete batch.
"""

from __future__ import annotations

from .. import store
from ..models.extract import extract_features


def run(spec: dict, *, stimuli, out, seed: int) -> None:
    """Extract the layers that ``spec`` (a ``models.<name>`` config entry) names to ``out``."""
    extract_features(spec, store.open_dataset(stimuli), out, params=spec, inputs=[stimuli], seed=seed)
