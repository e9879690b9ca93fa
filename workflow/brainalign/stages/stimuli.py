"""Stage ``stimuli``: render a stimulus set into a store."""

from __future__ import annotations

import logging

from .. import store
from ..stimuli import build_stimulus_set

log = logging.getLogger(__name__)


def run(spec: dict, *, out, seed: int) -> None:
    """Render the stimulus set described by ``spec`` (a ``stimuli.<name>`` config entry) to ``out``."""
    ds = build_stimulus_set(spec, seed=seed)
    log.info("rendered %d stimuli (%s)", ds.sizes["stimulus"], ", ".join(ds.data_vars))
    store.write_dataset(out, ds, stage="stimuli", params=spec, seed=seed)
