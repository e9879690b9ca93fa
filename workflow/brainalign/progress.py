"""Progress bars (tqdm) for the long loops of a stage run by hand: feature extraction's batches,
encoding's layers and ROIs. Written to stderr, and only where stderr is a terminal and the
``brainalign`` loggers show INFO messages: under Snakemake a stage's stderr is its log file, so no
bar is drawn there.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm


def progress(iterable, *, total: int | None = None, desc: str, unit: str):
    """``iterable`` with a progress bar on a terminal (see the module docstring), else as it is."""
    quiet = not logging.getLogger("brainalign").isEnabledFor(logging.INFO)
    if quiet or not sys.stderr.isatty():
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
