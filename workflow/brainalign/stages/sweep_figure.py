"""Stage ``sweep_figure``: the noise-curve figure of one sweep (``spec["sweep"]``, its base
dataset) from ``sweep.csv`` (:mod:`brainalign.figures.sweep`)."""

from __future__ import annotations

import pandas as pd


def run(spec: dict, *, table, out, seed: int) -> None:
    """Draw the curves of sweep ``spec["sweep"]`` from the CSV ``table`` to the PNG ``out``."""
    from ..figures.sweep import plot_sweep

    plot_sweep(pd.read_csv(table), out, sweep=spec["sweep"])
