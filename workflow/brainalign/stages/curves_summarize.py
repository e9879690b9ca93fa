"""Stage ``curves_summarize``: every sample-size curve as rows of ``curves.csv``.

One row per curve store (:mod:`.curves`) x entry x size ``n``: the labels (``method``,
``dataset``, ``subject``, ``stimuli``, ``roi``, ``model``, ``layer``, ``target_model``,
``target_layer``, ``metric``; empty where they do not apply), ``n_stimuli``, ``score`` (mean over
the subsets), ``sd`` (over the subsets), ``ci_low``/``ci_high`` (the band of
:func:`brainalign.metrics.sample_size.curve_band` at the store's ``ci``), ``full`` (the score on
all ``n_total`` stimuli), ``subsets`` and ``n_bootstrap`` (samples per subset; 0: the band is over
subsets only).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .. import store
from ..metrics.sample_size import curve_band

log = logging.getLogger(__name__)
LABELS = ["method", "dataset", "subject", "stimuli", "roi", "model", "layer", "target_model", "target_layer", "metric"]
COLUMNS = LABELS + ["n_stimuli", "score", "sd", "ci_low", "ci_high", "full", "n_total", "subsets", "n_bootstrap"]


def curve_rows(path) -> pd.DataFrame:
    """The rows of one curve store (module docstring)."""
    ds = store.open_dataset(path).load()
    boots = ds.score_bootstrap.values if "score_bootstrap" in ds else None
    mean, sd, low, high = curve_band(ds.score.values, boots, float(ds.attrs["ci"]))
    rows = []
    for e in range(ds.sizes["entry"]):
        labels = {k: str(ds[k].values[e]) if k in ds.coords else str(ds.attrs.get(k, "")) for k in LABELS}
        for i, n in enumerate(ds.n_stimuli.values):
            rows.append({**labels, "n_stimuli": int(n), "score": mean[i, e], "sd": sd[i, e], "ci_low": low[i, e],
                         "ci_high": high[i, e], "full": float(ds.full.values[e]), "n_total": ds.sizes["stimulus"],
                         "subsets": ds.sizes["subset"], "n_bootstrap": 0 if boots is None else boots.shape[2]})
    return pd.DataFrame(rows, columns=COLUMNS)


def run(spec: dict, *, curves, out, seed: int) -> None:
    """Write ``out`` (``curves.csv``) from the curve stores ``curves``."""
    table = pd.concat([curve_rows(p) for p in curves], ignore_index=True) if curves else pd.DataFrame(columns=COLUMNS)
    store.atomic_file(Path(out), lambda p: table.to_csv(p, index=False, float_format="%.6g"))
    log.info("%s: %d rows from %d curves", out, len(table), len(curves))
