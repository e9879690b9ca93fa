"""Stage ``curves_figure``: the figure of one sample-size curve store (:mod:`brainalign.figures.curves`)."""

from __future__ import annotations

import logging

from .. import store

log = logging.getLogger(__name__)


def run(spec: dict, *, curve, out, seed: int) -> None:
    """Draw the curve store ``curve`` to the PNG ``out``."""
    from ..figures.curves import plot_curve

    plot_curve(store.open_dataset(curve).load(), out)
    log.info("wrote %s", out)
