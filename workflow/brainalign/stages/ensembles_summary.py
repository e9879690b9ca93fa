"""Stage ``ensembles_summary``: the table ``ensembles.csv`` and the figure ``figures/ensembles.png``.

Reads every ensemble store (:mod:`brainalign.stages.ensembles`), each verified first, and
writes under ``out`` (the results folder) the rows of
:func:`~brainalign.stages.ensembles.summary_table` of all of them, and the figure of
:func:`brainalign.figures.ensembles.plot_ensembles`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import store
from ..figures.ensembles import plot_ensembles
from .ensembles import summary_table


def run(spec: dict, *, ensembles: dict, out, seed: int) -> None:
    """Table and figure of ``ensembles`` (name -> store) under the folder ``out``."""
    table = pd.concat([summary_table(path) for path in ensembles.values()], ignore_index=True)
    store.atomic_file(Path(out) / "ensembles.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    plot_ensembles({name: store.open_dataset(path) for name, path in ensembles.items()},
                   Path(out) / "figures" / "ensembles.png")
